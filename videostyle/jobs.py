"""One frame's job: the inputs of a frame's stylisation, gathered from the run folder.

:class:`RenderContext` is what a render knows once its stages 1-5 ran (settings, source,
run folder, frame numbers, size, style targets, flow source). :func:`single_pass_job`
builds the :class:`~videostyle.stylizer.FrameJob` of one frame of a chained render:
its start image and its temporal terms, with every earlier frame read, warped and
weighted once. Multi-pass builds its jobs in :mod:`videostyle.multipass` from the same
pieces.

Every input is read back from the run folder (content frames, stored stylised frames,
cached flows), never taken from memory, so a resumed render computes exactly what an
uninterrupted one computes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import flow as flowmod
from . import scales
from .networks import LossNetwork
from .optimize import StyleTarget, TemporalTerm, random_init
from .settings import RenderSettings
from .stylize import (
    INIT_CHOICES,
    make_init,
    mask_tensor,
    prepare_styles,
    to_tensor,
)
from .stylizer import CoarseScale, FrameJob
from .video import SourceInfo, is_sequence_pattern, read_image, sequence_frames
from .workdir import RunFolder


@dataclass
class RenderContext:
    """What every frame of a render shares.

    ``size`` is ``(width, height)`` of the render, as everywhere in the package outside
    tensors (whose shapes are ``(..., height, width)``).
    """

    settings: RenderSettings
    info: SourceInfo
    run: RunFolder
    frames: list[int]
    size: tuple[int, int]
    device: torch.device
    styles: list[np.ndarray]
    targets: list[StyleTarget]
    flows: flowmod.FlowSource
    network: LossNetwork | None = None  # for style targets at other sizes (coarse-to-fine)
    #: style targets (without masks) at each smaller size, computed once per render
    coarse_targets: dict[tuple[int, int], list[StyleTarget]] = field(default_factory=dict)

    @property
    def start(self) -> int:
        return self.frames[0]

    def content(self, frame: int) -> tuple[np.ndarray, torch.Tensor]:
        """The stored content frame, as numpy ``(H, W, 3)`` and as ``(1, 3, H, W)``."""
        image = read_image(self.run.content_path(frame))
        return image, to_tensor(image, self.device)

    def frame_targets(self, frame: int) -> list[StyleTarget]:
        """The style targets with this frame's masks (the same targets without masks)."""
        if not self.settings.style_masks:
            return self.targets
        return [
            dataclasses.replace(
                t, mask=mask_tensor(style_mask(self.settings, k, frame), self.size,
                                    self.device),
            )
            for k, t in enumerate(self.targets)
        ]

    def scales(self, frame: int, iterations: int) -> tuple[int, list[CoarseScale]]:
        """The iterations at the render size and the smaller scales of a coarse-to-fine
        start for ``frame`` with a budget of ``iterations`` (no smaller scales: one)."""
        s = self.settings
        plan = scales.plan(self.size, s.image.start_size if self.network else None,
                           iterations, s.image.scale_ratio)
        out = []
        for scale in plan[:-1]:
            assert self.network is not None
            if scale.size not in self.coarse_targets:  # every independent frame asks again
                self.coarse_targets[scale.size] = prepare_styles(
                    self.network, self.styles, content_size=scale.size, settings=s.image,
                    masks=[None] * len(self.styles) if s.style_masks else None,
                    device=self.device,
                )
            targets = self.coarse_targets[scale.size]
            if s.style_masks:
                targets = [
                    dataclasses.replace(t, mask=mask_tensor(style_mask(s, k, frame), scale.size,
                                                            self.device))
                    for k, t in enumerate(targets)
                ]
            out.append(CoarseScale(scale.size, targets, scale.iterations))
        return plan[-1].iterations, out

    def term(self, warped: np.ndarray, weights: np.ndarray) -> TemporalTerm:
        """A temporal term from a warped frame ``(H, W, 3)`` and its weights ``(H, W)``."""
        return TemporalTerm(
            warped=to_tensor(warped, self.device),
            weights=torch.from_numpy(np.ascontiguousarray(weights))[None, None].to(self.device),
        )


def style_mask(s: RenderSettings, index: int, frame: int) -> np.ndarray:
    """Style ``index``'s mask ``(H, W)`` for ``frame``: an image, or a sequence's file
    carrying that frame number."""
    from .errors import InputError

    spec = s.style_masks[index]
    path = Path(spec)
    if path.is_dir() or is_sequence_pattern(spec):
        numbered = dict(sequence_frames(spec))
        if frame not in numbered:
            raise InputError(
                f"the mask sequence {spec} holds frames {min(numbered)}..{max(numbered)}; "
                f"frame {frame} has no mask (mask files carry the frame numbers)"
            )
        path = numbered[frame]
    return read_image(path).mean(axis=2)


def offsets(s: RenderSettings, frame: int, start: int) -> list[int]:
    """The temporal offsets J that reach back no further than ``start``."""
    return [j for j in sorted(set(s.long_term)) if frame - j >= start]


def flow_pairs(s: RenderSettings, frame: int, start: int) -> list[tuple[int, int]]:
    """The flows ``frame``'s job reads: to and from each earlier frame it looks at."""
    pairs: list[tuple[int, int]] = []
    for j in offsets(s, frame, start):
        pairs += [(frame, frame - j), (frame - j, frame)]
    return pairs


def first_init(ctx: RenderContext, frame: int, content: torch.Tensor, seed: int) -> torch.Tensor:
    """The start image the settings' ``image.init`` names (content, random, style, file)."""
    init = ctx.settings.image.init
    image = read_image(init) if init not in INIT_CHOICES else None
    return make_init(init, content=content, style=ctx.styles[0], seed=seed, image=image)


def single_pass_job(ctx: RenderContext, frame: int) -> FrameJob:
    """Frame ``frame``'s job in a chained (or independent) single-pass render."""
    s = ctx.settings
    _, content = ctx.content(frame)
    iterations = s.iterations[0] if frame == ctx.start else s.iterations[1]
    job = FrameJob(frame=frame, content=content, init=content, styles=(),
                   iterations=iterations, label=f"frame {frame}")
    if iterations == 0:
        return job
    styles = ctx.frame_targets(frame)
    seed = s.engine.seed * 1_000_003 + frame  # the same noise when a run resumes
    if frame == ctx.start or s.independent:
        init = first_init(ctx, frame, content, seed)
        last, coarse = ctx.scales(frame, iterations)
        return dataclasses.replace(job, init=init, styles=styles, iterations=last,
                                   coarse=coarse, compile_coarse=s.independent)
    temporal_on = s.temporal_weight > 0
    warped = _warped_earlier(ctx, frame, weights=temporal_on,
                             extra=(1,) if s.init == "prev-warped" else ())
    if s.init == "content":
        init = content.clone()
    elif s.init == "random":
        init = random_init(tuple(content.shape), seed=seed, device=content.device)
    elif s.init == "prev":
        init = to_tensor(read_image(ctx.run.frame_path(frame - 1)), ctx.device)
    else:
        init = to_tensor(warped[1][0], ctx.device)
    terms: list[TemporalTerm] = []
    if temporal_on:
        js = offsets(s, frame, ctx.start)
        weights = flowmod.closest_first([warped[j][1] for j in js])
        terms = [ctx.term(warped[j][0], c) for j, c in zip(js, weights, strict=True)]
    return dataclasses.replace(job, init=init, styles=styles, temporal=terms,
                               temporal_weight=s.temporal_weight if terms else 0.0)


def _warped_earlier(
    ctx: RenderContext, frame: int, *, weights: bool, extra: tuple[int, ...] = ()
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each earlier frame the job looks at, warped into ``frame`` once, with its raw
    consistency weights (computed only when ``weights``; else an empty array)."""
    s = ctx.settings
    wanted = sorted(set(offsets(s, frame, ctx.start) if weights else ()) | set(extra))
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for j in wanted:
        back = ctx.flows.get(frame, frame - j)
        image = flowmod.warp(read_image(ctx.run.frame_path(frame - j)), back,
                             interpolation=s.warp)
        c = flowmod.warp_weights(back, ctx.flows.get(frame - j, frame)) if weights else \
            np.empty(0, np.float32)
        out[j] = (image, c)
    return out
