"""The seam between a render's chain and whatever paints a frame.

A chain (single pass, multi-pass, a farm worker) builds one :class:`FrameJob` per frame,
hands it to a :class:`Stylizer` and stores the :class:`FrameResult`. The stylizer sees
nothing of run folders, flow or frame order: everything a frame needs is in its job.
:class:`OptimizingStylizer` is Gatys/Ruder's optimisation, the package's stylizer; a
feed-forward network would be another implementation of the same protocol.

Tensors are ``(1, C, H, W)`` on the stylizer's device; images leave as numpy
``(H, W, 3)`` float32 RGB in ``[0, 1]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from .config import CompileMode, EngineSettings
from .errors import Interrupted
from .networks import LossNetwork
from .optimize import (
    Objective,
    OptimizeResult,
    ProgressCallback,
    StyleTarget,
    TemporalTerm,
    optimize,
    resize_to,
)
from .stylize import to_image


@dataclass(frozen=True)
class FrameJob:
    """Everything one frame's stylisation needs.

    ``content``: the source frame at the render size ``(1, 3, H, W)``; ``init``: the
    start image; ``styles``: the style targets with this frame's masks; ``temporal``:
    earlier stylised frames warped into this one with their consistency weights, and
    ``temporal_weight`` their weight (0 without terms); ``iterations``: the optimiser's
    budget at the frame's size (0: the content passes through unchanged); ``coarse``: the
    smaller scales of a coarse-to-fine start, coarsest first, each with its own style
    targets and iterations (empty: one scale; see :mod:`videostyle.scales`);
    ``compile_coarse``: False runs the smaller scales eager whatever ``--compile`` says (a
    render's first frame and a still run them once: their graphs would cost more to
    compile than they save); ``label``: names the frame in messages (``frame 12``,
    ``pass 3, frame 12``).
    """

    frame: int
    content: torch.Tensor
    init: torch.Tensor
    styles: Sequence[StyleTarget]
    iterations: int
    temporal: Sequence[TemporalTerm] = ()
    temporal_weight: float = 0.0
    coarse: Sequence[CoarseScale] = ()
    compile_coarse: bool = True
    label: str = ""


@dataclass(frozen=True)
class CoarseScale:
    """One smaller scale of a coarse-to-fine start: ``(width, height)``, the style targets
    at that size (with the frame's masks) and its iterations."""

    size: tuple[int, int]
    styles: Sequence[StyleTarget]
    iterations: int


@dataclass
class FrameResult:
    """A stylised frame ``(H, W, 3)`` float32 RGB in ``[0, 1]`` and how it was made.

    ``iterations``: at the frame's size; ``scales``: ``(width, height, iterations)`` of
    every scale run, coarsest first, the frame's size last; ``initial_losses``: at the
    first scale's start; ``evaluations``: loss evaluations x pixels over all scales, in
    evaluations at the frame's size (the work done).
    """

    image: np.ndarray
    iterations: int
    losses: dict[str, float] = field(default_factory=dict)
    stop_reason: str = "iterations"
    scales: list[tuple[int, int, int]] = field(default_factory=list)
    #: the losses at the start image (of the last scale); empty when not optimised
    initial_losses: dict[str, float] = field(default_factory=dict)
    evaluations: float = 0.0


class Stylizer(Protocol):
    """Paints one frame from its job."""

    def stylize(self, job: FrameJob) -> FrameResult:
        """The stylised frame; raises :class:`~videostyle.errors.Interrupted` when asked
        to stop in the middle."""
        ...


class OptimizingStylizer:
    """Neural style by optimisation: content, style, total variation and temporal terms.

    Args:
        network: the loss network, on the device the jobs' tensors are on.
        engine: loss weights, layers and optimiser settings (iterations come from each job,
            the temporal weight from each job).
        on_iteration: called after every optimiser iteration.
        should_stop: polled between iterations; True abandons the frame.
    """

    def __init__(
        self,
        network: LossNetwork,
        engine: EngineSettings,
        *,
        on_iteration: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.network = network
        self.engine = engine
        self.on_iteration = on_iteration
        self.should_stop = should_stop

    def stylize(self, job: FrameJob) -> FrameResult:
        full = (job.content.shape[-1], job.content.shape[-2])
        if job.iterations == 0:  # a pass-through: the I/O without optimisation
            return FrameResult(image=to_image(job.content), iterations=0,
                               scales=[(*full, 0)])
        init = job.init
        scales: list[tuple[int, int, int]] = []
        work = 0.0
        coarse_compile: CompileMode = self.engine.compile if job.compile_coarse else "off"
        for scale in job.coarse:  # coarse-to-fine: each scale starts the next
            result = self._optimize(job, scale.iterations, resize_to(job.content, scale.size),
                                    scale.styles, resize_to(init, scale.size),
                                    compile_mode=coarse_compile)
            init = _with_detail(resize_to(result.image, full), job.content, scale.size)
            scales.append((*scale.size, result.iterations))
            work += result.evaluations * scale.size[0] * scale.size[1] / (full[0] * full[1])
        result = self._optimize(job, job.iterations, job.content, job.styles, init,
                                job.temporal)
        scales.append((*full, result.iterations))
        return FrameResult(
            image=to_image(result.image), iterations=result.iterations, losses=result.losses,
            stop_reason=result.stop_reason, scales=scales,
            initial_losses=result.initial_losses, evaluations=work + result.evaluations,
        )

    def _optimize(
        self,
        job: FrameJob,
        iterations: int,
        content: torch.Tensor,
        styles: Sequence[StyleTarget],
        init: torch.Tensor,
        temporal: Sequence[TemporalTerm] = (),
        compile_mode: CompileMode | None = None,
    ) -> OptimizeResult:
        engine = dataclasses.replace(
            self.engine,
            compile=self.engine.compile if compile_mode is None else compile_mode,
            weights=dataclasses.replace(
                self.engine.weights, temporal=job.temporal_weight if temporal else 0.0
            ),
            optimizer=dataclasses.replace(self.engine.optimizer, iterations=iterations),
        )
        objective = Objective(self.network, content=content, styles=styles, settings=engine,
                              temporal=temporal)
        result = optimize(objective, init, settings=engine.optimizer,
                          callback=self.on_iteration, should_stop=self.should_stop)
        if result.stop_reason == "interrupted":
            raise Interrupted(f"stopped while rendering {job.label or f'frame {job.frame}'}")
        return result


def _with_detail(upsampled: torch.Tensor, content: torch.Tensor,
                 size: tuple[int, int]) -> torch.Tensor:
    """A coarse scale's result upsampled to the content's size, with the content's detail
    finer than ``size`` added back (the top level of its Laplacian pyramid): the next scale
    starts sharp instead of blurred. At equal work this lowers the final loss (docs/look.md).
    """
    full = (content.shape[-1], content.shape[-2])
    detail = content - resize_to(resize_to(content, size), full)
    return (upsampled + detail).clamp(0.0, 1.0)
