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

from .config import EngineSettings
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
    budget (0: the content passes through unchanged) at each scale; ``coarse``: the
    smaller scales of a coarse-to-fine start, coarsest first, as ``((width, height),
    style targets at that size)`` (empty: one scale); ``label``: names the frame in
    messages (``frame 12``, ``pass 3, frame 12``).
    """

    frame: int
    content: torch.Tensor
    init: torch.Tensor
    styles: Sequence[StyleTarget]
    iterations: int
    temporal: Sequence[TemporalTerm] = ()
    temporal_weight: float = 0.0
    coarse: Sequence[tuple[tuple[int, int], Sequence[StyleTarget]]] = ()
    label: str = ""


@dataclass
class FrameResult:
    """A stylised frame ``(H, W, 3)`` float32 RGB in ``[0, 1]`` and how it was made."""

    image: np.ndarray
    iterations: int
    losses: dict[str, float] = field(default_factory=dict)
    stop_reason: str = "iterations"
    #: the losses at the start image (of the last scale); empty when not optimised
    initial_losses: dict[str, float] = field(default_factory=dict)


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
        if job.iterations == 0:  # a pass-through: the I/O without optimisation
            return FrameResult(image=to_image(job.content), iterations=0)
        engine = dataclasses.replace(
            self.engine,
            weights=dataclasses.replace(
                self.engine.weights, temporal=job.temporal_weight if job.temporal else 0.0
            ),
            optimizer=dataclasses.replace(self.engine.optimizer, iterations=job.iterations),
        )
        init = job.init
        for size, styles in job.coarse:  # coarse-to-fine: each scale starts the next
            start = resize_to(init, size)
            result = self._optimize(job, engine, resize_to(job.content, size), styles, start)
            init = resize_to(result.image, (job.content.shape[-1], job.content.shape[-2]))
        result = self._optimize(job, engine, job.content, job.styles, init, job.temporal)
        return FrameResult(
            image=to_image(result.image), iterations=result.iterations, losses=result.losses,
            stop_reason=result.stop_reason, initial_losses=result.initial_losses,
        )

    def _optimize(
        self,
        job: FrameJob,
        engine: EngineSettings,
        content: torch.Tensor,
        styles: Sequence[StyleTarget],
        init: torch.Tensor,
        temporal: Sequence[TemporalTerm] = (),
    ) -> OptimizeResult:
        objective = Objective(self.network, content=content, styles=styles, settings=engine,
                              temporal=temporal)
        result = optimize(objective, init, settings=engine.optimizer,
                          callback=self.on_iteration, should_stop=self.should_stop)
        if result.stop_reason == "interrupted":
            raise Interrupted(f"stopped while rendering {job.label or f'frame {job.frame}'}")
        return result
