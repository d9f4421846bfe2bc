"""A frame's result is checked before it is stored; a failed frame is retried once.

Detection, after each frame's optimisation: the image and the losses must be finite and
the total loss must not have exploded (end above ``EXPLODED`` times its value at the
start image). Inside the optimisation, :func:`videostyle.optimize.optimize` already
restarts from the best iterate with half the step when the loss turns NaN or blows up;
what gets out of that (it gives up after ``max_recoveries`` restarts, the start image is
itself not finite, or a stylizer returns NaN) is caught here.

Fallback (:data:`FALLBACK`): the frame is computed again with Adam, at half the Adam step
of the render's settings, from the frame's content image, at one scale, with the same
loss terms and iteration budget. Adam with a fixed small step and the image clamped to
``[0, 1]`` after every step cannot take L-BFGS's long line-search steps, and the content
image is a finite start that does not depend on the earlier frames. The fallback is
deterministic, so a resumed render recomputes a recovered frame exactly as before.

A frame whose fallback fails too stops the render with
:class:`~videostyle.errors.OptimizationError` naming it; nothing of it is written.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import faults
from .config import EngineSettings
from .errors import OptimizationError, opt
from .stylizer import FrameJob, FrameResult, OptimizingStylizer, Stylizer

#: A frame whose total loss ends above this many times its value at the start image
#: has diverged.
EXPLODED = 10.0

#: The fallback, as the log and ``status`` name it.
FALLBACK = "Adam at half the step from the content image"


@dataclass(frozen=True)
class Recovery:
    """A frame that failed and was recovered with the fallback."""

    frame: int
    label: str
    problem: str
    fallback: str = FALLBACK


def problem(result: FrameResult) -> str | None:
    """What is wrong with a frame's result (None: it may be stored)."""
    if not np.isfinite(result.image).all():
        bad = int((~np.isfinite(result.image)).sum())
        return f"{bad} values of the image are not finite"
    total = result.losses.get("total")
    if total is not None and not math.isfinite(total):
        return f"the loss is {total}"
    start = result.initial_losses.get("total")
    if total is not None and start is not None and start > 0 and total > EXPLODED * start:
        return f"the loss exploded from {start:.4g} to {total:.4g}"
    return None


def fallback_engine(engine: EngineSettings) -> EngineSettings:
    """The engine settings of :data:`FALLBACK`."""
    optimizer = dataclasses.replace(engine.optimizer, optimizer="adam",
                                    adam_lr=engine.optimizer.adam_lr / 2)
    return dataclasses.replace(engine, optimizer=optimizer)


class GuardedStylizer:
    """Checks every frame ``primary`` paints; a failed frame goes to ``fallback`` once.

    ``on_recovery`` is called for each frame recovered. Without a ``fallback`` (a
    stylizer given from outside), a failed frame stops the render.
    """

    def __init__(self, primary: Stylizer, fallback: OptimizingStylizer | None, *,
                 on_recovery: Callable[[Recovery], None] | None = None) -> None:
        self.primary = primary
        self.fallback = fallback
        self.on_recovery = on_recovery

    def stylize(self, job: FrameJob) -> FrameResult:
        label = job.label or f"frame {job.frame}"
        result, first = _attempt(self.primary, job, 0)
        if first is None and result is not None:
            return result
        if self.fallback is None:
            raise OptimizationError(
                f"{label} failed ({first}); nothing was written for it; fix: lower "
                f"{opt('style_weight')} or {opt('temporal_weight')}"
            )
        retry = dataclasses.replace(job, init=job.content, coarse=())
        result, second = _attempt(self.fallback, retry, 1)
        if second is not None or result is None:
            raise OptimizationError(
                f"{label} failed ({first}) and so did its retry with {FALLBACK} ({second}); "
                f"nothing was written for it; fix: lower {opt('style_weight')} or "
                f"{opt('temporal_weight')}, or check the frame's source image"
            )
        if self.on_recovery is not None:
            self.on_recovery(Recovery(frame=job.frame, label=label, problem=str(first)))
        return result


def _attempt(stylizer: Stylizer, job: FrameJob, attempt: int) -> tuple[
    FrameResult | None, str | None
]:
    """``(result, None)`` when the frame is sound, else ``(result or None, the problem)``."""
    try:
        result = stylizer.stylize(job)
    except OptimizationError as exc:
        return None, str(exc)
    if faults.poisoned(job.frame, attempt):  # an injected NaN (tests)
        result.image = np.full_like(result.image, np.nan)
        result.losses = {**result.losses, "total": math.nan}
    return result, problem(result)
