"""The reference's forward-backward consistency check: which pixels a flow can be trusted at.

A port of ``consistencyChecker.cpp`` of Ruder et al. (the disocclusion and motion-boundary
tests follow Sundaram, Brox & Keutzer 2010), float32 sums in the reference's order, so the
weights match its ``reliable_j_i.pgm`` maps. :func:`warp_weights` gives the weights of the
previous frame warped into the current one, :func:`closest_first` orders long-term ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from videostyle.errors import FlowError

from .flo import check_flow

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
    flow = check_flow(flow, "flow")
    reverse_flow = check_flow(reverse_flow, "reverse_flow")
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
