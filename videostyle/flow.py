"""Optical flow: estimators, ``.flo`` files, warping and consistency weights.

Conventions (used by every function in this module)
---------------------------------------------------
* A **flow field** is a displacement field: a numpy ``float32`` array of shape
  ``(H, W, 2)`` in pixels, channel 0 = ``u`` (x, to the right), channel 1 = ``v``
  (y, downwards). For ``flow_a_to_b[y, x] == (u, v)``, pixel ``(x, y)`` of frame
  *a* lands at ``(x + u, y + v)`` in frame *b*. Pixel centres sit at integer
  coordinates; ``(0, 0)`` is the centre of the top-left pixel.
* **Images** are numpy ``float32`` arrays ``(H, W, 3)``, RGB in ``[0, 1]``, or
  torch tensors ``(N, C, H, W)``.
* **Frame numbers** are the 1-based numbers of the *source* video's frames, as in
  the reference implementation's file names: ``forward_i_j.flo`` is the flow
  from frame ``i`` to frame ``j = i + k`` and ``backward_j_i.flo`` the flow from
  frame ``j`` back to frame ``i``.

How the pieces fit for stylising frame ``i`` with the help of frame ``i - 1``
(Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos", 2016):

* ``warp(stylised[i - 1], flow(i -> i-1))`` moves the previous stylised frame into
  frame ``i`` (a *backward* warp: every output pixel looks up where it came from).
* Its per-pixel weights are ``warp_weights(flow(i -> i-1), flow(i-1 -> i))``,
  i.e. the *backward* flow checked against the forward flow; this is the
  reference's ``reliable_j_i.pgm`` produced by ``consistencyChecker backward_j_i.flo
  forward_i_j.flo``.
* With several previous frames (long-term consistency), order the weight maps
  nearest frame first and pass them through :func:`closest_first`.

Flow sources are frame-number aware: :class:`FileFlow` reads the reference's
precomputed files, :class:`FlowCache` computes flows with a :class:`FlowEstimator`
and keeps them as ``.flo`` files in the run folder, and :class:`FlowPrefetcher`
computes scheduled pairs on a background thread so the optimiser does not wait.
"""

from __future__ import annotations

import logging
import math
import operator
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from videostyle.errors import FlowError, InputError, ResumeError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_DIS_PARAMS",
    "DEFAULT_DIS_PRESET",
    "DEFAULT_ESTIMATOR",
    "DISFlow",
    "ESTIMATOR_NAMES",
    "ContribFlow",
    "FarnebackFlow",
    "FileFlow",
    "FlowCache",
    "FlowEstimator",
    "FlowPrefetcher",
    "FlowSource",
    "closest_first",
    "consistency_labels",
    "consistency_weights",
    "endpoint_error",
    "flow_filename",
    "flow_to_color",
    "make_estimator",
    "read_flo",
    "resize_flow",
    "warp",
    "warp_torch",
    "WARP_INTERPOLATIONS",
    "DEFAULT_WARP",
    "warp_weights",
    "write_flo",
]

# --------------------------------------------------------------------------- .flo files

_FLO_MAGIC = b"PIEH"  # the float32 202021.25, little endian
_FLO_HEADER_BYTES = 12
_FLO_MAX_SIDE = 1 << 16


def read_flo(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a Middlebury ``.flo`` file.

    Layout: the bytes ``PIEH`` (float32 202021.25), int32 width, int32 height,
    then ``height * width`` interleaved ``(u, v)`` float32 pairs, row-major, all
    little endian.

    Returns:
        ``(H, W, 2)`` float32 flow (see the module conventions).

    Raises:
        FlowError: the file is missing, unreadable, or malformed (bad magic,
            impossible size, truncated or with trailing bytes).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FlowError(
            f"Cannot read flow file {path}: {exc.strerror or exc}. "
            "Expected an existing, readable Middlebury .flo file."
        ) from exc
    if len(data) < _FLO_HEADER_BYTES:
        raise FlowError(
            f"Flow file {path} is {len(data)} bytes long; a .flo file has a "
            f"{_FLO_HEADER_BYTES}-byte header. The file is truncated: recompute or re-copy it."
        )
    magic = data[:4]
    if magic != _FLO_MAGIC:
        raise FlowError(
            f"Flow file {path} starts with {magic!r}, expected {_FLO_MAGIC!r} "
            "(float 202021.25): it is not a Middlebury .flo file or was written big-endian."
        )
    width, height = (int(s) for s in np.frombuffer(data, dtype="<i4", count=2, offset=4))
    if not (0 < width <= _FLO_MAX_SIDE and 0 < height <= _FLO_MAX_SIDE):
        raise FlowError(
            f"Flow file {path} declares a {width}x{height} field; expected width and height "
            f"in 1..{_FLO_MAX_SIDE}. The header is corrupt: recompute the file."
        )
    expected = _FLO_HEADER_BYTES + width * height * 8
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "followed by extra bytes"
        raise FlowError(
            f"Flow file {path} is {len(data)} bytes, expected {expected} for its declared "
            f"{width}x{height} field: it is {what}. Recompute or re-copy it."
        )
    flow = np.frombuffer(data, dtype="<f4", offset=_FLO_HEADER_BYTES)
    return flow.reshape(height, width, 2).astype(np.float32)  # (H, W, 2), a writable copy


def write_flo(path: str | os.PathLike[str], flow: np.ndarray) -> None:
    """Write ``flow`` ``(H, W, 2)`` to ``path`` as a Middlebury ``.flo`` file, atomically.

    The data go to a temporary file in the same folder which then replaces
    ``path``, so a reader sees either the old file or the complete new one.

    Raises:
        FlowError: ``flow`` is not an ``(H, W, 2)`` array, or the file cannot be written.
    """
    path = Path(path)
    flow = _check_flow(flow, "flow")
    header = _FLO_MAGIC + np.array(flow.shape[1::-1], dtype="<i4").tobytes()  # width, height
    payload = np.ascontiguousarray(flow, dtype="<f4").tobytes()
    _atomic_write(path, header + payload)


def _atomic_write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise FlowError(f"Cannot create a file next to {path}: {exc.strerror or exc}.") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise FlowError(
            f"Cannot write flow file {path}: {exc.strerror or exc}. "
            "Check that the folder is writable and the disk is not full."
        ) from exc


def _check_flow(flow: Any, what: str) -> np.ndarray:
    """Return ``flow`` as a float32 ``(H, W, 2)`` array or raise FlowError."""
    if not isinstance(flow, np.ndarray):
        raise FlowError(f"{what} must be a numpy array of shape (H, W, 2), got {type(flow)}.")
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.shape[0] < 1 or flow.shape[1] < 1:
        raise FlowError(f"{what} must have shape (H, W, 2), got {flow.shape}.")
    return flow.astype(np.float32, copy=False)


def resize_flow(flow: np.ndarray, *, width: int, height: int) -> np.ndarray:
    """Resample ``flow`` ``(H, W, 2)`` to ``(height, width, 2)``, scaling the vectors.

    ``u`` is multiplied by ``width / W`` and ``v`` by ``height / H`` so the result
    is a valid flow between the frames resized to ``width x height``.
    """
    flow = _check_flow(flow, "flow")
    if width < 1 or height < 1:
        raise InputError(f"Flow size must be positive, got {width}x{height}.")
    h, w = flow.shape[:2]
    if (h, w) == (height, width):
        return flow.copy()
    out = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= width / w
    out[..., 1] *= height / h
    return out


# --------------------------------------------------------------------------- consistency

# Constants of the reference checker (consistencyChecker.cpp of Ruder et al.; the
# disocclusion and motion-boundary tests follow Sundaram, Brox & Keutzer 2010).
_F32 = np.float32
_DISOCC_REL = 0.01  # double literal in the reference
_DISOCC_ABS = 0.5  # 0.5f, exact in float and double
_EDGE_REL = 0.01
_EDGE_ABS = float(np.float32(0.002))  # 0.002f promoted to double
_SMOOTH_SIGMA = np.float32(0.8)  # SMOOTH_STRENGH
_SMOOTH_PRECISION = np.float32(2.0)  # CSmooth(sigma, 2.0f)
_RELIABLE, _UNRELIABLE, _ZERO = _F32(255.0), _F32(-255.0), _F32(0.0)


def _reference_kernel() -> np.ndarray:
    """The reference's Gaussian stencil ``CSmooth(0.8f, 2.0f)`` in float32: 5 taps."""
    radius = math.ceil(float(_SMOOTH_PRECISION * _SMOOTH_SIGMA))  # ceil(1.6f) = 2
    sqr_sigma = float(_SMOOTH_SIGMA * _SMOOTH_SIGMA)
    norm = float(_SMOOTH_SIGMA) * math.sqrt(2.0 * math.pi)
    half = [_F32(math.exp(i * i / (-2.0 * sqr_sigma)) / norm) for i in range(radius + 1)]
    taps = np.array(half[:0:-1] + half, dtype=np.float32)  # (2r+1,) indices -r..r
    total = _F32(0.0)
    for tap in taps:  # float accumulation, as the reference
        total = _F32(total + tap)
    return taps * _F32(1.0 / float(total))


_SMOOTH_KERNEL = _reference_kernel()


def _filter_axis(image: np.ndarray, taps: np.ndarray, axis: int) -> np.ndarray:
    """Correlate ``image`` (H, W) float32 with ``taps`` along ``axis``, mirrored borders.

    Mirroring repeats the edge pixel (index -1 reads 0, index W reads W-1), and
    the products are summed in float32 from the first tap to the last, exactly as
    the reference's ``NFilter::filter``.
    """
    radius = len(taps) // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius, radius)
    padded = np.pad(image, pad, mode="symmetric")
    n = image.shape[axis]
    out: np.ndarray | None = None
    for k, tap in enumerate(taps):
        window = padded[:, k : k + n] if axis == 1 else padded[k : k + n, :]
        term = tap * window
        out = term if out is None else out + term
    assert out is not None
    return out.astype(np.float32, copy=False)


_DERIVATIVE = np.array([-0.5, 0.0, 0.5], dtype=np.float32)  # CDerivative<float>(3)


def _motion_edge(flow: np.ndarray) -> np.ndarray:
    """``|grad u|^2 + |grad v|^2`` with central differences, float32 ``(H, W)``."""
    du_dx = _filter_axis(flow[..., 0], _DERIVATIVE, axis=1)
    dv_dx = _filter_axis(flow[..., 1], _DERIVATIVE, axis=1)
    du_dy = _filter_axis(flow[..., 0], _DERIVATIVE, axis=0)
    dv_dy = _filter_axis(flow[..., 1], _DERIVATIVE, axis=0)
    return du_dx * du_dx + dv_dx * dv_dx + du_dy * du_dy + dv_dy * dv_dy


def _lerp_f32(alpha: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``float((1.0 - alpha) * left + alpha * right)`` with C's float/double promotion."""
    weighted_left = (1.0 - alpha.astype(np.float64)) * left.astype(np.float64)
    return (weighted_left + (alpha * right).astype(np.float64)).astype(np.float32)


def _consistency_255(flow: np.ndarray, reverse_flow: np.ndarray) -> np.ndarray:
    """The reference checker's map before smoothing: 255 / 0 / -255, float32 ``(H, W)``."""
    flow = _check_flow(flow, "flow")
    reverse_flow = _check_flow(reverse_flow, "reverse_flow")
    if flow.shape != reverse_flow.shape:
        raise FlowError(
            f"flow and reverse_flow must have the same shape, got {flow.shape} and "
            f"{reverse_flow.shape}. Pass the two directions of the same frame pair."
        )
    height, width = flow.shape[:2]
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = flow[..., 0], flow[..., 1]
    bx = grid_x + u  # float32 arithmetic throughout, as the reference
    by = grid_y + v
    x1 = np.floor(bx)
    y1 = np.floor(by)
    inside = (x1 >= 0) & (x1.astype(np.float64) + 1 < width)
    inside &= (y1 >= 0) & (y1.astype(np.float64) + 1 < height)  # NaN/inf count as outside

    result = np.zeros((height, width), dtype=np.float32)
    iy, ix = np.nonzero(inside)
    bxi, byi = bx[iy, ix], by[iy, ix]
    x1i, y1i = x1[iy, ix], y1[iy, ix]
    alpha_x = bxi - x1i
    alpha_y = byi - y1i
    c0, r0 = x1i.astype(np.intp), y1i.astype(np.intp)
    c1, r1 = c0 + 1, r0 + 1

    def sample(channel: int) -> np.ndarray:
        plane = reverse_flow[..., channel]
        top = _lerp_f32(alpha_x, plane[r0, c0], plane[r0, c1])
        bottom = _lerp_f32(alpha_x, plane[r1, c0], plane[r1, c1])
        return _lerp_f32(alpha_y, top, bottom)

    ru, rv = sample(0), sample(1)  # reverse flow at the target position
    fu, fv = u[iy, ix], v[iy, ix]
    dx = (bxi + ru) - grid_x[iy, ix]  # forward + backward displacement, float32
    dy = (byi + rv) - grid_y[iy, ix]
    round_trip = (dx * dx + dy * dy).astype(np.float64)
    magnitudes = fu * fu + fv * fv + ru * ru + rv * rv
    disoccluded = round_trip >= _DISOCC_REL * magnitudes.astype(np.float64) + _DISOCC_ABS
    edge = _motion_edge(flow)[iy, ix].astype(np.float64)
    boundary = edge > _EDGE_REL * (fu * fu + fv * fv).astype(np.float64) + _EDGE_ABS
    values = np.where(disoccluded, _UNRELIABLE, np.where(boundary, _ZERO, _RELIABLE))
    result[iy, ix] = values
    return result


def consistency_labels(flow: np.ndarray, reverse_flow: np.ndarray) -> np.ndarray:
    """Per-pixel classes of the forward-backward check, before any smoothing.

    Args:
        flow: ``(H, W, 2)`` the flow being checked (a -> b).
        reverse_flow: ``(H, W, 2)`` the opposite direction (b -> a).

    Returns:
        ``(H, W)`` float32 with values in ``{-1, 0, 1}``, by precedence:
        ``0`` where ``flow`` leads outside frame b (``floor(x + u) < 0`` or
        ``floor(x + u) + 1 >= W``, likewise in y; so with zero flow the last
        column and row are 0, as in the reference); ``-1`` where the round trip
        fails (disocclusion: with ``w = flow(x)`` and ``w^ = reverse_flow``
        bilinearly sampled at ``x + w``, ``|w + w^|^2 >= 0.01 (|w|^2 + |w^|^2) + 0.5``);
        ``0`` on motion boundaries (``|grad u|^2 + |grad v|^2 > 0.01 |w|^2 + 0.002``,
        central differences with mirrored borders); ``1`` elsewhere.
    """
    return _consistency_255(flow, reverse_flow) / _RELIABLE


def consistency_weights(flow: np.ndarray, reverse_flow: np.ndarray) -> np.ndarray:
    """Reliability of ``flow`` (a -> b) judged with ``reverse_flow`` (b -> a).

    A port of the reference ``consistencyChecker``: the classes of
    :func:`consistency_labels` scaled to 255 / 0 / -255, smoothed with its
    5-tap Gaussian (sigma 0.8, mirrored borders, float32 sums in the same order)
    and clipped. Disoccluded pixels are -1 before smoothing so that the blur
    widens them instead of fading them. The reference writes ``floor`` of this map
    (times 255) to an 8-bit PGM; this function returns the unquantised value.

    Args:
        flow: ``(H, W, 2)`` the flow being checked.
        reverse_flow: ``(H, W, 2)`` the flow in the opposite direction.

    Returns:
        ``(H, W)`` float32 weights in ``[0, 1]``; 1 = reliable.

    For the temporal loss of frame ``i`` use :func:`warp_weights`, which checks
    the backward flow ``i -> i-1`` (the one used to warp) against the forward one.
    """
    raw = _consistency_255(flow, reverse_flow)
    smooth = _filter_axis(_filter_axis(raw, _SMOOTH_KERNEL, axis=1), _SMOOTH_KERNEL, axis=0)
    return np.clip(smooth, 0.0, 255.0) / _RELIABLE


def warp_weights(flow_cur_to_prev: np.ndarray, flow_prev_to_cur: np.ndarray) -> np.ndarray:
    """Weights ``(H, W)`` for the previous frame warped into the current one.

    ``flow_cur_to_prev`` (the *backward* flow, current -> previous, the one that
    :func:`warp` uses) is checked against ``flow_prev_to_cur`` (the forward flow).
    This is the reference's ``reliable_j_i`` map for ``j`` = current, ``i`` = previous.
    """
    return consistency_weights(flow_cur_to_prev, flow_prev_to_cur)


def closest_first(weights: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Long-term weights, as the reference's ``closestFirst``.

    Args:
        weights: ``J`` maps ``(H, W)`` in ``[0, 1]``, one per previous frame,
            ordered **nearest previous frame first**.

    Returns:
        ``J`` float32 maps: each input minus the already reduced maps of all closer
        frames, clipped at 0, so that a pixel is constrained by the closest frame
        whose flow is reliable there and further frames only fill the rest.
    """
    reduced: list[np.ndarray] = []
    for index, weight in enumerate(weights):
        current = np.array(weight, dtype=np.float32)  # a copy
        if reduced and current.shape != reduced[0].shape:
            raise FlowError(
                f"closest_first needs maps of one shape; map {index} is {current.shape}, "
                f"map 0 is {reduced[0].shape}."
            )
        for closer in reduced:
            current -= closer
        np.maximum(current, 0.0, out=current)
        reduced.append(current)
    return reduced


# --------------------------------------------------------------------------- warping


WARP_INTERPOLATIONS: dict[str, int] = {
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
}
"""Resampling kernels of :func:`warp`. Bilinear is the reference implementation's and the
default; the sharper ones keep more of a stylised frame's finest texture through the warp
(see ``docs/temporal.md``, "Warping")."""

DEFAULT_WARP = "bilinear"


def warp(
    image: np.ndarray,
    flow: np.ndarray,
    *,
    fill: float | Sequence[float] | None = None,
    interpolation: str = "bilinear",
) -> np.ndarray:
    """Backward-warp ``image`` with ``flow`` (``cv2.remap``).

    ``output[y, x] = image`` sampled at ``(x + u, y + v)`` where ``(u, v) = flow[y, x]``
    maps the *output* frame to the image's frame: warping the previous stylised
    frame with the current -> previous flow brings it into the current frame.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array (any dtype ``cv2.remap`` takes;
            float32 RGB for frames).
        flow: ``(H, W, 2)`` output -> image flow.
        fill: what a sample outside the image reads. ``None`` (default) repeats the
            nearest edge pixel (``BORDER_REPLICATE``); a number, or one number per
            channel, is a constant (the reference fills with the VGG mean pixel).
            Either way those pixels carry no information: their consistency weight
            is 0.
        interpolation: a key of :data:`WARP_INTERPOLATIONS`. The bicubic and Lanczos
            kernels overshoot at edges; their result is clipped to the image's own range.

    Returns:
        The warped image, same shape and dtype as ``image``.
    """
    flow = _check_flow(flow, "flow")
    if interpolation not in WARP_INTERPOLATIONS:
        raise FlowError(
            f"unknown warp interpolation {interpolation!r}; expected one of "
            f"{', '.join(WARP_INTERPOLATIONS)}"
        )
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise FlowError(f"image must be a (H, W) or (H, W, C) numpy array, got {_shape(image)}.")
    if image.shape[:2] != flow.shape[:2]:
        raise FlowError(
            f"image {image.shape[:2]} and flow {flow.shape[:2]} must have the same height and "
            "width; resize the flow with resize_flow() or compute it at the image's size."
        )
    height, width = flow.shape[:2]
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    map_x = grid_x + flow[..., 0]
    map_y = grid_y + flow[..., 1]
    channels = 1 if image.ndim == 2 else image.shape[2]
    fills = _fill_values(fill, channels)
    out = np.empty_like(image)
    planes = image if image.ndim == 3 else image[..., None]
    out_planes = out if out.ndim == 3 else out[..., None]
    value: tuple[float, ...]
    for start in range(0, channels, 4):  # cv2 handles at most 4 channels per call
        stop = min(start + 4, channels)
        if fills is None:
            border, value = cv2.BORDER_REPLICATE, (0.0,) * 4
        else:
            border = cv2.BORDER_CONSTANT
            value = tuple(fills[start:stop]) + (0.0,) * (4 - (stop - start))
        chunk = cv2.remap(
            np.ascontiguousarray(planes[..., start:stop]),
            map_x,
            map_y,
            interpolation=WARP_INTERPOLATIONS[interpolation],
            borderMode=border,
            borderValue=value,
        )
        out_planes[..., start:stop] = chunk.reshape(height, width, stop - start)
    if interpolation != "bilinear" and image.size:
        np.clip(out, image.min(), image.max(), out=out)
    return out


def _fill_values(fill: float | Sequence[float] | None, channels: int) -> list[float] | None:
    if fill is None:
        return None
    values = [float(fill)] * channels if np.isscalar(fill) else [float(f) for f in fill]  # type: ignore[arg-type,union-attr]
    if len(values) != channels:
        raise FlowError(f"fill needs 1 or {channels} values (one per channel), got {len(values)}.")
    return values


def _shape(obj: Any) -> str:
    return str(tuple(obj.shape)) if hasattr(obj, "shape") else type(obj).__name__


def warp_torch(
    image: torch.Tensor,
    flow: torch.Tensor | np.ndarray,
    *,
    fill: float | Sequence[float] | None = None,
) -> torch.Tensor:
    """Differentiable backward warp with ``grid_sample`` (bilinear, ``align_corners=True``).

    Same convention and result as :func:`warp`: ``output[n, :, y, x]`` is ``image[n]``
    sampled at ``(x + u, y + v)``. Pixel ``x`` maps to the normalised coordinate
    ``2 x / (W - 1) - 1``, so -1 and 1 are the centres of the edge pixels.

    Args:
        image: ``(N, C, H, W)`` floating-point tensor.
        flow: ``(N, 2, H, W)`` or ``(1, 2, H, W)`` tensor (channel 0 = u), or a single
            ``(H, W, 2)`` field (tensor or numpy) shared by the batch.
        fill: ``None`` repeats edge pixels (``padding_mode="border"``); a number or one
            number per channel is a constant, as in :func:`warp`.

    Returns:
        ``(N, C, H, W)`` tensor, differentiable with respect to ``image`` and ``flow``.
    """
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or not image.is_floating_point():
        raise FlowError(f"image must be a floating (N, C, H, W) tensor, got {_shape(image)}.")
    n, c, height, width = image.shape
    if isinstance(flow, np.ndarray):
        flow = torch.from_numpy(_check_flow(flow, "flow"))
    flow = flow.to(device=image.device, dtype=image.dtype)
    if flow.ndim == 3 and flow.shape[2] == 2:
        flow = flow.permute(2, 0, 1).unsqueeze(0)  # (H, W, 2) -> (1, 2, H, W)
    if flow.ndim != 4 or flow.shape[1] != 2 or flow.shape[0] not in (1, n):
        raise FlowError(
            f"flow must be (N, 2, H, W), (1, 2, H, W) or (H, W, 2) for an image batch of "
            f"{n}, got {tuple(flow.shape)}."
        )
    if tuple(flow.shape[2:]) != (height, width):
        raise FlowError(
            f"image {(height, width)} and flow {tuple(flow.shape[2:])} must have the same "
            "height and width."
        )
    xs = torch.arange(width, device=image.device, dtype=image.dtype)
    ys = torch.arange(height, device=image.device, dtype=image.dtype)
    scale_x = 2.0 / max(width - 1, 1)
    scale_y = 2.0 / max(height - 1, 1)
    grid_x = (xs.view(1, 1, width) + flow[:, 0]) * scale_x - 1.0  # (N', H, W)
    grid_y = (ys.view(1, height, 1) + flow[:, 1]) * scale_y - 1.0
    grid = torch.stack((grid_x, grid_y), dim=-1).expand(n, height, width, 2)
    fills = _fill_values(fill, c)
    if fills is None:
        return F.grid_sample(
            image, grid, mode="bilinear", padding_mode="border", align_corners=True
        )
    offset = torch.tensor(fills, device=image.device, dtype=image.dtype).view(1, c, 1, 1)
    shifted = F.grid_sample(
        image - offset, grid, mode="bilinear", padding_mode="zeros", align_corners=True
    )
    return shifted + offset


# --------------------------------------------------------------------------- evaluation


def endpoint_error(flow: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean end-point error ``|flow - gt|`` in pixels over ``mask`` (``(H, W)`` bool).

    Raises:
        FlowError: shapes differ or the mask selects no pixel.
    """
    flow = _check_flow(flow, "flow")
    gt = _check_flow(gt, "gt")
    if flow.shape != gt.shape:
        raise FlowError(f"flow {flow.shape} and gt {gt.shape} must have the same shape.")
    error = np.sqrt(np.sum((flow.astype(np.float64) - gt) ** 2, axis=2))
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != error.shape:
            raise FlowError(f"mask must have shape {error.shape}, got {mask.shape}.")
        if not mask.any():
            raise FlowError("mask selects no pixel; the end-point error is undefined.")
        error = error[mask]
    return float(error.mean())


def _color_wheel() -> np.ndarray:
    """The Middlebury colour wheel (Baker et al. 2011): ``(55, 3)`` float RGB in [0, 1]."""
    segments = ((15, (1, 0, 0), (1, 1, 0)),  # red -> yellow
                (6, (1, 1, 0), (0, 1, 0)),  # yellow -> green
                (4, (0, 1, 0), (0, 1, 1)),  # green -> cyan
                (11, (0, 1, 1), (0, 0, 1)),  # cyan -> blue
                (13, (0, 0, 1), (1, 0, 1)),  # blue -> magenta
                (6, (1, 0, 1), (1, 0, 0)))  # magenta -> red
    rows = []
    for steps, start, end in segments:
        ramp = np.floor(255.0 * np.arange(steps) / steps) / 255.0  # (steps,)
        begin, finish = np.array(start, float), np.array(end, float)
        rows.append(begin + ramp[:, None] * (finish - begin))
    return np.concatenate(rows)


_WHEEL = _color_wheel()


def flow_to_color(flow: np.ndarray, *, max_magnitude: float | None = None) -> np.ndarray:
    """Visualise ``flow`` ``(H, W, 2)`` as an RGB ``uint8`` image ``(H, W, 3)``.

    Hue is the direction on the Middlebury colour wheel (right = red, down = yellow-
    green, left = cyan, up = blue-violet), saturation the magnitude relative to
    ``max_magnitude`` (default: the largest finite magnitude in ``flow``); longer
    vectors are drawn darker. Non-finite vectors are black.
    """
    flow = _check_flow(flow, "flow")
    u = flow[..., 0].astype(np.float64)
    v = flow[..., 1].astype(np.float64)
    valid = np.isfinite(u) & np.isfinite(v)
    u = np.where(valid, u, 0.0)
    v = np.where(valid, v, 0.0)
    radius = np.hypot(u, v)
    scale = float(radius.max()) if max_magnitude is None else float(max_magnitude)
    radius = radius / max(scale, 1e-12)
    position = (np.arctan2(-v, -u) / np.pi + 1.0) / 2.0 * (len(_WHEEL) - 1)  # [0, 54]
    k0 = np.floor(position).astype(np.intp)
    k1 = (k0 + 1) % len(_WHEEL)
    frac = (position - k0)[..., None]
    color = (1.0 - frac) * _WHEEL[k0] + frac * _WHEEL[k1]  # (H, W, 3)
    inner = (radius <= 1.0)[..., None]
    color = np.where(inner, 1.0 - radius[..., None] * (1.0 - color), color * 0.75)
    color = np.where(valid[..., None], color, 0.0)
    return np.floor(255.0 * np.clip(color, 0.0, 1.0)).astype(np.uint8)


# --------------------------------------------------------------------------- estimators


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
        raise FlowError(f"{what} must be an (H, W, 3) or (H, W) array, got {_shape(frame)}.")
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


ESTIMATOR_NAMES = (
    "dis",
    "dis-ultrafast",
    "dis-fast",
    "dis-medium",
    "farneback",
    "deepflow",
    "tvl1",
)
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
    if name == "dis":
        return DISFlow(preset=DEFAULT_DIS_PRESET, **{**DEFAULT_DIS_PARAMS, **params})
    if name.startswith("dis-") and name in ESTIMATOR_NAMES:
        return DISFlow(preset=name[len("dis-") :], **params)
    if name == "farneback":
        return FarnebackFlow(**params)
    if name in ("deepflow", "tvl1"):
        if params:
            raise InputError(f"The {name} estimator takes no parameters, got {sorted(params)}.")
        return ContribFlow(name)
    raise InputError(
        f"Unknown flow estimator {name!r}; choose one of {', '.join(ESTIMATOR_NAMES)}."
    )


# --------------------------------------------------------------------------- flow sources


class FlowSource(Protocol):
    """Flow between two frames of the source video, addressed by 1-based frame numbers."""

    def get(self, a: int, b: int) -> np.ndarray:
        """The ``(H, W, 2)`` flow from frame ``a`` to frame ``b``."""
        ...


def flow_filename(a: int, b: int) -> str:
    """The reference's file name for the flow from frame ``a`` to frame ``b``.

    ``forward_a_b.flo`` when ``a < b``, ``backward_a_b.flo`` when ``a > b``.
    """
    try:
        a, b = operator.index(a), operator.index(b)
    except TypeError:
        raise FlowError(f"Frame numbers must be integers, got {a!r} and {b!r}.") from None
    if a < 0 or b < 0 or a == b:
        raise FlowError(f"A flow needs two different frame numbers >= 0, got {a} -> {b}.")
    return f"{'forward' if a < b else 'backward'}_{a}_{b}.flo"


class FileFlow:
    """Precomputed flows read from ``directory``, named as by the reference's
    ``makeOptFlow.sh``: ``forward_i_j.flo`` (i -> j) and ``backward_j_i.flo`` (j -> i),
    with the source's frame numbers (a video's from 1; a sequence's from its file names,
    as ``makeOptFlow.sh`` names them when given the sequence's first number as its start
    frame).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise InputError(
                f"Flow folder {self.directory} does not exist. Expected a folder of "
                "forward_i_j.flo / backward_j_i.flo files (as makeOptFlow.sh writes them)."
            )

    def path(self, a: int, b: int) -> Path:
        return self.directory / flow_filename(a, b)

    def first_missing(self, pairs: Iterable[tuple[int, int]]) -> Path | None:
        """The file of the first pair that the folder lacks, or None when it has them all."""
        for a, b in pairs:
            path = self.path(a, b)
            if not path.is_file():
                return path
        return None

    def get(self, a: int, b: int) -> np.ndarray:
        path = self.path(a, b)
        if not path.is_file():
            raise FlowError(
                f"Flow file {path} for frames {a} -> {b} is missing. Compute it (e.g. with "
                "makeOptFlow.sh) or let an estimator compute flows instead of reading files."
            )
        return read_flo(path)


_IDENTITY_FILE = "estimator.txt"


class FlowCache:
    """Flows computed by ``estimator`` and kept as ``.flo`` files in ``directory``.

    Files are named as :func:`flow_filename`, so the folder is also readable by
    :class:`FileFlow`. A file already on disk is read instead of recomputed (a
    resumed run reuses them); an unreadable one is recomputed. ``directory`` records
    the estimator's name, and a cache made by another estimator is refused.

    Args:
        directory: the folder for the ``.flo`` files (created if needed).
        estimator: computes the flow between two frames.
        frame_loader: ``frame_loader(i)`` returns source frame ``i`` (1-based) as an
            ``(H, W, 3)`` RGB image; the last few frames are kept in memory. With a
            :class:`FlowPrefetcher` it is also called from the background thread.
        frames_kept: how many loaded frames to keep for reuse.

    Thread-safe: several threads may call :meth:`get` at once.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        estimator: FlowEstimator,
        frame_loader: Callable[[int], np.ndarray],
        *,
        frames_kept: int = 4,
    ) -> None:
        self.directory = Path(directory)
        self.estimator = estimator
        self.frame_loader = frame_loader
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._frames_kept = max(frames_kept, 2)
        self._lock = threading.Lock()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FlowError(f"Cannot create flow folder {self.directory}: {exc}") from exc
        self._check_identity()

    def _check_identity(self) -> None:
        marker = self.directory / _IDENTITY_FILE
        name = str(self.estimator.name)
        if marker.is_file():
            stored = marker.read_text(encoding="utf-8").strip()
            if stored != name:
                raise ResumeError(
                    f"Flow folder {self.directory} holds flows computed with {stored!r}, but "
                    f"{name!r} was requested. Use the same estimator to resume, or delete "
                    "the folder to recompute."
                )
        else:
            _atomic_write(marker, (name + "\n").encode("utf-8"))

    def path(self, a: int, b: int) -> Path:
        """Where the flow ``a -> b`` is stored."""
        return self.directory / flow_filename(a, b)

    def has(self, a: int, b: int) -> bool:
        """Whether the flow ``a -> b`` is on disk."""
        return self.path(a, b).is_file()

    def get(self, a: int, b: int) -> np.ndarray:
        """The ``(H, W, 2)`` flow from frame ``a`` to frame ``b``: from disk, else computed."""
        path = self.path(a, b)
        if path.is_file():
            try:
                return read_flo(path)
            except FlowError as exc:
                logger.warning("Recomputing unreadable cached flow: %s", exc)
        return self.compute(a, b)

    def compute(self, a: int, b: int) -> np.ndarray:
        """Compute the flow ``a -> b`` with the estimator and store it (atomically)."""
        path = self.path(a, b)
        frame_a, frame_b = self._frame(a), self._frame(b)
        start = time.perf_counter()
        flow = self.estimator(frame_a, frame_b)
        expected = (*frame_a.shape[:2], 2)
        if not isinstance(flow, np.ndarray) or flow.shape != expected:
            raise FlowError(
                f"Estimator {self.estimator.name} returned {_shape(flow)} for frames {a} -> {b}; "
                f"expected a {expected} array."
            )
        flow = flow.astype(np.float32, copy=False)
        write_flo(path, flow)
        logger.debug("flow %d -> %d (%s) in %.3f s", a, b, self.estimator.name,
                     time.perf_counter() - start)
        return flow

    def _frame(self, index: int) -> np.ndarray:
        with self._lock:
            frame = self._frames.get(index)
            if frame is not None:
                self._frames.move_to_end(index)
                return frame
        frame = self.frame_loader(index)
        if not isinstance(frame, np.ndarray):
            raise FlowError(f"frame_loader({index}) returned {type(frame)}, expected an array.")
        with self._lock:
            self._frames[index] = frame
            while len(self._frames) > self._frames_kept:
                self._frames.popitem(last=False)
        return frame


class FlowPrefetcher:
    """Computes scheduled flows of a :class:`FlowCache` on background threads.

    It is itself a :class:`FlowSource`.

    ``schedule`` queues frame pairs (in order); pairs already on disk are skipped.
    ``get`` returns a pair's flow: it waits for the background computation if it is
    running, re-raising its exception, computes the pair itself if it is still
    queued, and otherwise reads the file. Results live on disk, not in memory, so
    scheduling a whole video ahead is fine. Use as a context manager, or call
    :meth:`close`, which drops queued pairs and waits for the running one.

    Args:
        cache: where flows are computed and stored.
        workers: background threads (1 keeps the CPU free for the optimiser).
    """

    def __init__(self, cache: FlowCache, *, workers: int = 1) -> None:
        if workers < 1:
            raise InputError(f"workers must be at least 1, got {workers}.")
        self.cache = cache
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flow")
        self._futures: dict[tuple[int, int], Future[None]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def schedule(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Queue ``(a, b)`` pairs (flow a -> b) for background computation."""
        with self._lock:
            if self._closed:
                raise FlowError("Cannot schedule flows on a closed FlowPrefetcher.")
            for a, b in pairs:
                pair = (int(a), int(b))
                if pair in self._futures or self.cache.has(*pair):
                    continue
                self._futures[pair] = self._pool.submit(self._work, pair)

    def _work(self, pair: tuple[int, int]) -> None:
        if not self.cache.has(*pair):
            self.cache.compute(*pair)

    def pending(self) -> int:
        """How many scheduled pairs are not finished yet."""
        with self._lock:
            return sum(not f.done() for f in self._futures.values())

    def get(self, a: int, b: int) -> np.ndarray:
        """The ``(H, W, 2)`` flow from frame ``a`` to frame ``b``."""
        with self._lock:
            future = self._futures.pop((a, b), None)
        if future is not None and not future.cancel():
            future.result()  # waits for the worker; re-raises its exception
        return self.cache.get(a, b)

    def close(self) -> None:
        """Drop queued pairs, wait for the running ones, stop the threads. Idempotent."""
        with self._lock:
            self._closed = True
            futures = list(self._futures.values())
            for future in futures:
                future.cancel()  # only queued ones can be cancelled
        self._pool.shutdown(wait=True)
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                logger.warning("A scheduled flow that was never read failed: %s",
                               future.exception())
        with self._lock:
            self._futures.clear()

    def __enter__(self) -> FlowPrefetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
