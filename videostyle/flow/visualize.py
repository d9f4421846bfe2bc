"""Looking at a flow: the Middlebury colour coding, and its end-point error against a truth."""

from __future__ import annotations

import numpy as np

from videostyle.errors import FlowError

from .flo import check_flow


def endpoint_error(flow: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean end-point error ``|flow - gt|`` in pixels over ``mask`` (``(H, W)`` bool).

    Raises:
        FlowError: shapes differ or the mask selects no pixel.
    """
    flow = check_flow(flow, "flow")
    gt = check_flow(gt, "gt")
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
    flow = check_flow(flow, "flow")
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
