"""Backward warping of an image by a flow: numpy (``cv2.remap``) and differentiable torch."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from videostyle.errors import FlowError

from .flo import check_flow, describe_shape

WARP_INTERPOLATIONS: dict[str, int] = {
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
}
"""Resampling kernels of :func:`warp`. Bilinear is the reference implementation's (and the
paper's temporal error's, in ``evaluate``); the sharper ones keep more of a stylised
frame's finest texture through the warp, which compounds along a shot (see
``docs/temporal.md``, "Sharpness along a shot")."""

DEFAULT_WARP = "bicubic"
"""A render's default: most of Lanczos's sharpness along a shot, for about 1.5 % more
temporal error than bilinear and a third more time per warp."""


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
    flow = check_flow(flow, "flow")
    if interpolation not in WARP_INTERPOLATIONS:
        raise FlowError(
            f"unknown warp interpolation {interpolation!r}; expected one of "
            f"{', '.join(WARP_INTERPOLATIONS)}"
        )
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise FlowError(
            f"image must be a (H, W) or (H, W, C) numpy array, got {describe_shape(image)}."
        )
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
        raise FlowError(
            f"image must be a floating (N, C, H, W) tensor, got {describe_shape(image)}."
        )
    n, c, height, width = image.shape
    if isinstance(flow, np.ndarray):
        flow = torch.from_numpy(check_flow(flow, "flow"))
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
