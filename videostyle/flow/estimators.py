"""Optical flow estimators and the registry that names them.

Every estimator is a :class:`FlowEstimator`: a callable ``(frame_a, frame_b) -> flow``
with a ``name`` that identifies the method and its settings. :data:`REGISTRY` maps each
name a user may give (``--flow dis``) to a factory that builds the estimator from keyword
parameters; :func:`make_estimator` and :data:`ESTIMATOR_NAMES` are derived from it, so a
new estimator is one class plus one registry line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from videostyle.errors import FlowError, InputError

from .flo import describe_shape


@runtime_checkable
class FlowEstimator(Protocol):
    """Computes the flow from ``frame_a`` to ``frame_b``.

    Frames are ``(H, W, 3)`` RGB (float in [0, 1] or uint8) or ``(H, W)`` grey of
    the same size; the result is the ``(H, W, 2)`` float32 flow a -> b. ``name``
    identifies the method and its settings (flows cached with one name are not
    reused for another).
    """

    name: str

    def __call__(self, frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray: ...


def _to_gray_u8(frame: np.ndarray, what: str) -> np.ndarray:
    """``(H, W[, 3])`` RGB float [0, 1] or uint8 -> ``(H, W)`` uint8 grey."""
    if not isinstance(frame, np.ndarray) or frame.ndim not in (2, 3):
        raise FlowError(
            f"{what} must be an (H, W, 3) or (H, W) array, got {describe_shape(frame)}."
        )
    if frame.ndim == 3 and frame.shape[2] not in (1, 3):
        raise FlowError(f"{what} must have 1 or 3 channels (RGB), got shape {frame.shape}.")
    if frame.dtype != np.uint8:
        frame = np.clip(frame.astype(np.float32) * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)
    if frame.ndim == 3:
        frame = frame[..., 0] if frame.shape[2] == 1 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(frame)


def _gray_pair(frame_a: np.ndarray, frame_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gray_a, gray_b = _to_gray_u8(frame_a, "frame_a"), _to_gray_u8(frame_b, "frame_b")
    if gray_a.shape != gray_b.shape:
        raise FlowError(
            f"Both frames of a flow pair must have the same size, got {gray_a.shape} and "
            f"{gray_b.shape}."
        )
    return gray_a, gray_b


_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_DIS_SETTERS = {
    "finest_scale": "setFinestScale",
    "patch_size": "setPatchSize",
    "patch_stride": "setPatchStride",
    "gradient_descent_iterations": "setGradientDescentIterations",
    "variational_refinement_iterations": "setVariationalRefinementIterations",
    "variational_refinement_alpha": "setVariationalRefinementAlpha",
    "variational_refinement_delta": "setVariationalRefinementDelta",
    "variational_refinement_gamma": "setVariationalRefinementGamma",
    "use_mean_normalization": "setUseMeanNormalization",
    "use_spatial_propagation": "setUseSpatialPropagation",
}
# The default of make_estimator("dis"), chosen with scripts/bench_flow.py (docs/flow.md).
DEFAULT_DIS_PRESET = "medium"
DEFAULT_DIS_PARAMS: dict[str, Any] = {"finest_scale": 0}  # patches at full resolution


def _describe(base: str, params: dict[str, Any]) -> str:
    if not params:
        return base
    return base + "(" + ",".join(f"{k}={params[k]}" for k in sorted(params)) + ")"


class DISFlow:
    """Dense Inverse Search (Kroeger et al. 2016) via ``cv2.DISOpticalFlow``.

    Args:
        preset: ``"ultrafast"``, ``"fast"`` or ``"medium"``, OpenCV's presets.
        **params: overrides of the preset, any of ``finest_scale``, ``patch_size``,
            ``patch_stride``, ``gradient_descent_iterations``,
            ``variational_refinement_iterations``, ``variational_refinement_alpha``,
            ``variational_refinement_delta``, ``variational_refinement_gamma``,
            ``use_mean_normalization``, ``use_spatial_propagation``.
    """

    def __init__(self, *, preset: str = DEFAULT_DIS_PRESET, **params: Any) -> None:
        if preset not in _DIS_PRESETS:
            raise InputError(
                f"Unknown DIS preset {preset!r}; choose one of {', '.join(_DIS_PRESETS)}."
            )
        unknown = sorted(set(params) - set(_DIS_SETTERS))
        if unknown:
            raise InputError(
                f"Unknown DIS parameter(s) {', '.join(unknown)}; accepted: "
                f"{', '.join(_DIS_SETTERS)}."
            )
        self.preset = preset
        self.params = dict(params)
        self.name = _describe(f"dis-{preset}", self.params)
        self._create()  # fail early on values OpenCV rejects

    def _create(self) -> Any:
        dis = cv2.DISOpticalFlow.create(_DIS_PRESETS[self.preset])
        for key, value in self.params.items():
            try:
                getattr(dis, _DIS_SETTERS[key])(value)
            except (cv2.error, TypeError) as exc:
                raise InputError(f"Invalid DIS parameter {key}={value!r}: {exc}") from exc
        return dis

    def __call__(self, frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
        gray_a, gray_b = _gray_pair(frame_a, frame_b)
        # A fresh object per call: cheap, and safe when several threads share the estimator.
        try:
            flow = self._create().calc(gray_a, gray_b, None)
        except cv2.error as exc:
            raise FlowError(
                f"DIS flow ({self.name}) failed on {gray_a.shape[1]}x{gray_a.shape[0]} frames "
                f"(it needs at least 12 pixels on one side): {exc}"
            ) from exc
        return np.asarray(flow, dtype=np.float32)

    def __repr__(self) -> str:
        return f"DISFlow({self.name})"


_FARNEBACK_DEFAULTS: dict[str, Any] = {
    "pyr_scale": 0.5,
    "levels": 5,
    "winsize": 15,
    "iterations": 3,
    "poly_n": 5,
    "poly_sigma": 1.1,
    "gaussian": False,
}


class FarnebackFlow:
    """Farneback's polynomial-expansion flow via ``cv2.calcOpticalFlowFarneback``.

    Args:
        **params: overrides of ``pyr_scale`` (0.5), ``levels`` (5), ``winsize`` (15),
            ``iterations`` (3), ``poly_n`` (5), ``poly_sigma`` (1.1) and ``gaussian``
            (False: box window).
    """

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(_FARNEBACK_DEFAULTS))
        if unknown:
            raise InputError(
                f"Unknown Farneback parameter(s) {', '.join(unknown)}; accepted: "
                f"{', '.join(_FARNEBACK_DEFAULTS)}."
            )
        self.params = {**_FARNEBACK_DEFAULTS, **params}
        self.name = _describe("farneback", params)

    def __call__(self, frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
        gray_a, gray_b = _gray_pair(frame_a, frame_b)
        p = self.params
        flags = cv2.OPTFLOW_FARNEBACK_GAUSSIAN if p["gaussian"] else 0
        try:
            flow = cv2.calcOpticalFlowFarneback(
                gray_a, gray_b, np.empty((*gray_a.shape, 2), np.float32),
                float(p["pyr_scale"]), int(p["levels"]),
                int(p["winsize"]), int(p["iterations"]), int(p["poly_n"]),
                float(p["poly_sigma"]), flags,
            )
        except cv2.error as exc:
            raise FlowError(f"Farneback flow failed with {self.params}: {exc}") from exc
        return np.asarray(flow, dtype=np.float32)

    def __repr__(self) -> str:
        return f"FarnebackFlow({self.name})"


_CONTRIB_HINT = (
    "pip uninstall opencv-python && pip install opencv-contrib-python "
    "(the contrib build includes the plain one)"
)


class ContribFlow:
    """DeepFlow (Weinzaepfel et al. 2013) or TV-L1 (Zach et al. 2007) from ``cv2.optflow``.

    Needs ``opencv-contrib-python`` instead of ``opencv-python``; without it the
    constructor raises :class:`FlowError` saying how to switch.

    Args:
        method: ``"deepflow"`` or ``"tvl1"``.
    """

    _FACTORIES = {
        "deepflow": "createOptFlow_DeepFlow",
        "tvl1": "DualTVL1OpticalFlow_create",
    }
    # OpenCV's TV-L1 pyramid (5 levels, scale step 0.8) reaches only 0.41 of the frame
    # size, too fine for motions of 10 px and more: on the affine benchmark of docs/flow.md
    # at 512 px (12.5 px mean motion) its end-point error was 4.3 px; halving per level
    # brings it to about 1 px.
    _PARAMETERS: dict[str, dict[str, float]] = {"deepflow": {}, "tvl1": {"scaleStep": 0.5}}

    def __init__(self, method: str) -> None:
        if method not in self._FACTORIES:
            raise InputError(f"Unknown method {method!r}; choose deepflow or tvl1.")
        optflow = getattr(cv2, "optflow", None)
        if optflow is None or not hasattr(optflow, self._FACTORIES[method]):
            raise FlowError(
                f"The {method} estimator needs OpenCV's contrib modules (cv2.optflow), which "
                f"this OpenCV {cv2.__version__} lacks. Install them with: {_CONTRIB_HINT}; "
                "or use the 'dis' estimator, which needs no extra package."
            )
        self._factory = getattr(optflow, self._FACTORIES[method])
        self.name = method

    def __call__(self, frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
        gray_a, gray_b = _gray_pair(frame_a, frame_b)
        try:
            flow = self._factory(**self._PARAMETERS[self.name]).calc(gray_a, gray_b, None)
        except cv2.error as exc:
            raise FlowError(f"{self.name} flow failed: {exc}") from exc
        return np.asarray(flow, dtype=np.float32)

# --------------------------------------------------------------------------- the registry

EstimatorFactory = Callable[..., FlowEstimator]
"""Builds an estimator from keyword parameters; raises InputError for an unknown one."""


def _dis(preset: str, defaults: dict[str, Any] | None = None) -> EstimatorFactory:
    """A factory of :class:`DISFlow` with ``preset``; ``defaults`` yield to the caller's."""

    def build(**params: Any) -> FlowEstimator:
        return DISFlow(preset=preset, **{**(defaults or {}), **params})

    return build


def _contrib(method: str) -> EstimatorFactory:
    """A factory of :class:`ContribFlow` ``method``, which takes no parameters."""

    def build(**params: Any) -> FlowEstimator:
        if params:
            raise InputError(f"The {method} estimator takes no parameters, got {sorted(params)}.")
        return ContribFlow(method)

    return build


REGISTRY: dict[str, EstimatorFactory] = {
    "dis": _dis(DEFAULT_DIS_PRESET, DEFAULT_DIS_PARAMS),
    "dis-ultrafast": _dis("ultrafast"),
    "dis-fast": _dis("fast"),
    "dis-medium": _dis("medium"),
    "farneback": FarnebackFlow,
    "deepflow": _contrib("deepflow"),
    "tvl1": _contrib("tvl1"),
}
"""Every estimator by the name a user gives, in the order they are listed to the user."""

ESTIMATOR_NAMES = tuple(REGISTRY)
DEFAULT_ESTIMATOR = "dis"


def make_estimator(name: str = DEFAULT_ESTIMATOR, **params: Any) -> FlowEstimator:
    """Build a flow estimator by name.

    Args:
        name: one of :data:`ESTIMATOR_NAMES`. ``"dis"`` is the default, DIS with
            :data:`DEFAULT_DIS_PRESET` and :data:`DEFAULT_DIS_PARAMS`, chosen by the
            accuracy/time benchmark in ``docs/flow.md``; ``"deepflow"`` and ``"tvl1"``
            need ``opencv-contrib-python``.
        **params: estimator-specific overrides (see :class:`DISFlow`,
            :class:`FarnebackFlow`).

    Raises:
        InputError: unknown name or parameter.
        FlowError: the method needs OpenCV contrib modules that are not installed.
    """
    factory = REGISTRY.get(name)
    if factory is None:
        raise InputError(
            f"Unknown flow estimator {name!r}; choose one of {', '.join(ESTIMATOR_NAMES)}."
        )
    return factory(**params)
