"""The still-image stage: prepare content, styles, masks and init, then optimise.

Used as is by ``videostyle image`` and frame by frame by the video pipeline. Images enter
and leave as numpy float32 ``(H, W, 3)`` RGB in ``[0, 1]``; masks as float32 ``(H, W)``
in ``[0, 1]`` (white = the style applies there).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from .color import original_colors
from .config import DEFAULT_SIZE, DEFAULT_START_SIZE, EngineSettings
from .errors import InputError, opt
from .networks import LossNetwork, WeightsInfo
from .optimize import (
    Objective,
    Outcome,
    ProgressCallback,
    StyleTarget,
    TemporalTerm,
    build_style_targets,
    optimize,
    random_init,
)
from .scales import SCALE_RATIO, plan
from .video import fit_size

INIT_CHOICES: tuple[str, ...] = ("content", "random", "style")


@dataclass(frozen=True)
class ImageSettings:
    """Settings of one stylised still image (the engine's on top of them).

    ``init``: ``content``, ``random`` (seeded), ``style``, or a path to an image file.
    ``style_blend``: one weight per style image, normalised to sum 1 (None: equal).
    ``style_scale``: linear size of the style relative to the content's area (Ruder's
    ``getStyleImages``: area matched to the content's, then times ``style_scale ** 2``).
    ``start_size``: coarse-to-fine: the longest side of the first scale (``None``: one
    scale, at the output size). Each later scale is ``scale_ratio`` times larger, the last
    one the output size; each starts from the previous result, upsampled. The engine's
    iterations are the work of that many iterations at the output size, spread over the
    scales (:func:`videostyle.scales.plan`).
    """

    size: int | None = DEFAULT_SIZE
    style_scale: float = 1.0
    style_blend: tuple[float, ...] | None = None
    init: str = "content"
    original_colors: str | None = None
    start_size: int | None = DEFAULT_START_SIZE
    scale_ratio: float = SCALE_RATIO
    engine: EngineSettings = field(default_factory=EngineSettings)


@dataclass
class ImageResult(Outcome):
    """A stylised image ``(H, W, 3)`` and what produced it (``scales`` as in
    :class:`videostyle.stylizer.FrameResult`)."""

    image: np.ndarray
    weights: WeightsInfo
    scales: list[tuple[int, int, int]] = field(default_factory=list)
    evaluations: float = 0.0


def to_tensor(image: np.ndarray, device: torch.device | None = None) -> torch.Tensor:
    """``(H, W, 3)`` numpy -> ``(1, 3, H, W)`` float32 tensor (on ``device``)."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)
    tensor = tensor[None].contiguous()  # (1, 3, H, W)
    return tensor.to(device) if device is not None else tensor


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` tensor -> ``(H, W, 3)`` float32 numpy on the CPU."""
    return tensor.detach()[0].permute(1, 2, 0).float().cpu().numpy().copy()


def mask_tensor(
    mask: np.ndarray, size: tuple[int, int], device: torch.device | None
) -> torch.Tensor:
    """``(H, W)`` or ``(H, W, C)`` mask -> ``(1, 1, h, w)`` at ``size = (w, h)``."""
    if mask.ndim == 3:
        mask = mask.mean(axis=2)
    resized = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    tensor = torch.from_numpy(np.clip(resized, 0.0, 1.0))[None, None]
    return tensor.to(device) if device is not None else tensor


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``(H, W, 3)`` to ``size = (w, h)``: area when shrinking, cubic otherwise."""
    h, w = image.shape[:2]
    if (w, h) == size:
        return image
    shrink = size[0] <= w and size[1] <= h
    out = cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0)


def scale_style(style: np.ndarray, content_size: tuple[int, int], scale: float) -> np.ndarray:
    """Resize a style image to the content's area times ``scale ** 2``, keeping its aspect.

    ``content_size`` is ``(w, h)``. This is what Ruder et al.'s ``getStyleImages`` does.
    """
    if scale <= 0:
        raise InputError(f"{opt('style_scale')} must be > 0, got {scale}")
    h, w = style.shape[:2]
    factor = math.sqrt(content_size[0] * content_size[1] / (w * h)) * scale
    size = (max(16, round(w * factor)), max(16, round(h * factor)))
    return resize_image(style, size)


def make_init(
    kind: str,
    *,
    content: torch.Tensor,
    style: np.ndarray,
    seed: int,
    image: np.ndarray | None = None,
) -> torch.Tensor:
    """The starting image ``(1, 3, H, W)`` for ``kind`` in ``content|random|style|file``.

    ``image`` is the already-loaded file for a file init.
    """
    h, w = content.shape[-2:]
    if kind == "content":
        return content.clone()
    if kind == "random":
        return random_init((1, 3, h, w), seed=seed, device=content.device)
    if kind == "style":
        return to_tensor(resize_image(style, (w, h)), content.device)
    if image is not None:
        return to_tensor(resize_image(image, (w, h)), content.device)
    raise InputError(
        f"unknown init {kind!r}; expected one of {', '.join(INIT_CHOICES)} or an image file"
    )


def prepare_styles(
    network: LossNetwork,
    styles: Sequence[np.ndarray],
    *,
    content_size: tuple[int, int],
    settings: ImageSettings,
    masks: Sequence[np.ndarray | None] | None = None,
    device: torch.device | None = None,
) -> list[StyleTarget]:
    """Style targets for content of ``content_size = (w, h)``; masks at that size."""
    scaled = [to_tensor(scale_style(s, content_size, settings.style_scale), device) for s in styles]
    mask_tensors = None
    if masks is not None:
        mask_tensors = [None if m is None else mask_tensor(m, content_size, device) for m in masks]
    return build_style_targets(
        network,
        scaled,
        layers=settings.engine.style_layers,
        blend=settings.style_blend,
        masks=mask_tensors,
    )


def stylize_image(
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    *,
    network: LossNetwork,
    settings: ImageSettings,
    masks: Sequence[np.ndarray | None] | None = None,
    init_image: np.ndarray | None = None,
    device: torch.device | None = None,
    callback: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    temporal: Sequence[TemporalTerm] = (),
) -> ImageResult:
    """Stylise one image with neural style.

    Args:
        content: ``(H, W, 3)`` RGB ``[0, 1]``; resized to ``settings.size`` (longest side).
        styles: one or more style images ``(H_s, W_s, 3)``.
        masks: one per style (``None`` entries apply everywhere), any size.
        init_image: the image for a file init (``settings.init`` not in INIT_CHOICES).
    """
    h, w = content.shape[:2]
    if settings.size is not None and settings.size < 16:
        raise InputError(f"{opt('size')} must be at least 16 pixels, got {settings.size}")
    size = fit_size(w, h, settings.size)
    content = resize_image(content, size)
    content_t = to_tensor(content, device)

    def targets_at(scale: tuple[int, int]) -> list[StyleTarget]:
        return prepare_styles(
            network, styles, content_size=scale, settings=settings, masks=masks, device=device
        )

    from .stylizer import CoarseScale, FrameJob, FrameResult, OptimizingStylizer

    init = make_init(
        settings.init,
        content=content_t,
        style=styles[0],
        seed=settings.engine.seed,
        image=init_image,
    )
    scales = plan(size, settings.start_size, settings.engine.optimizer.iterations,
                  settings.scale_ratio)
    job = FrameJob(
        frame=0, content=content_t, init=init, styles=targets_at(size),
        iterations=scales[-1].iterations, temporal=temporal,
        temporal_weight=settings.engine.weights.temporal,
        coarse=[CoarseScale(s.size, targets_at(s.size), s.iterations) for s in scales[:-1]],
        compile_coarse=False,  # each smaller scale runs once: a graph would not pay for itself
        label="the image",
    )
    stylizer = OptimizingStylizer(network, settings.engine, on_iteration=callback,
                                  should_stop=should_stop)
    if job.iterations == 0:  # nothing to optimise: the start image and its losses
        start = optimize(Objective(network, content=content_t, styles=job.styles,
                                   settings=settings.engine, temporal=temporal),
                         init, settings=settings.engine.optimizer)
        result = FrameResult(image=to_image(start.image), iterations=0, losses=start.losses,
                             scales=[(*size, 0)], initial_losses=start.initial_losses)
    else:
        result = stylizer.stylize(job)
    image = result.image
    if settings.original_colors:
        image = original_colors(image, content, settings.original_colors)
    return ImageResult(
        image=image,
        losses=result.losses,
        initial_losses=result.initial_losses,
        iterations=result.iterations,
        stop_reason=result.stop_reason,
        weights=network.weights,
        scales=result.scales,
        evaluations=result.evaluations,
    )
