"""Many shots: rendering one planned shot, one after another, and what each one has done.

:func:`render_shot` is the one way a shot is rendered, in this process or on a farm
worker (:mod:`videostyle.farm`): it loads the loss network and runs a
:class:`~videostyle.pipeline.Renderer`, which resumes from the shot's run folder. Progress
leaves it as :class:`ShotEvent` values handed to a callback.

A shot that fails leaves ``failure.json`` (its error) in its run folder, written by the
process that runs the batch and removed when the shot completes; ``videostyle status``
on the shot file reads it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import write_json
from .errors import Interrupted, VideostyleError, as_names
from .shots import Planned

if TYPE_CHECKING:
    from .pipeline import RenderResult

FAILURE = "failure.json"


@dataclass(frozen=True)
class ShotEvent:
    """A frame of shot ``shot`` (its index in the batch) finished or found done."""

    shot: int
    frame: int
    position: int
    total: int
    seconds: float
    skipped: bool
    eta_seconds: float | None
    pid: int  # the process that rendered it


@dataclass
class ShotOutcome:
    """What became of one shot: its frames, or the error that stopped it."""

    index: int
    label: str
    output: Path
    frames: int = 0
    computed: int = 0
    workdir: Path | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # its settings marked (errors.opt): named by who shows it
    exit_code: int = 0  # the error's exit status

    @classmethod
    def of(cls, index: int, label: str, result: RenderResult) -> ShotOutcome:
        """A shot that finished, from its render's result."""
        return cls(index, label, result.output, frames=result.frames,
                   computed=result.computed, workdir=result.workdir,
                   warnings=list(result.warnings))


EventCallback = Callable[[ShotEvent], None]


def render_shot(
    planned: Planned,
    index: int,
    *,
    on_event: EventCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ShotOutcome:
    """Render (or resume) one shot here; raises the package's errors. A chunked shot
    (``chunks`` > 1) renders its chunks here one after another (:mod:`videostyle.chunked`).
    Its notes are its plan's (:func:`~videostyle.shots.plan`): the render gives none.

    The render checks its inputs again when it starts, although planning checked them: a
    shot may start hours after the batch was planned, or on another machine of a farm.
    Planning refuses a bad batch before any shot starts; this check finds what changed
    since (a source replaced, a style deleted, an output folder removed)."""
    from .networks import network_for, resolve_device
    from .pipeline import FrameProgress, Renderer, check_render

    s = planned.settings
    if s.chunks > 1:
        from .chunked import render_chunked

        return render_chunked(planned, index, on_event=on_event, should_stop=should_stop)
    device = resolve_device(planned.shot.device)
    checked = check_render(s, device)  # every check, before the network loads
    net = network_for(s.engine, weights=planned.shot.given.get("weights"), device=device)
    pid = os.getpid()

    def on_frame(p: FrameProgress) -> None:
        if on_event is not None:
            on_event(ShotEvent(index, p.frame, p.position, p.total, p.seconds, p.skipped,
                               p.eta_seconds, pid))

    result = Renderer(s, network=net, device=device, on_frame=on_frame,
                      should_stop=should_stop, checked=checked).run()
    return ShotOutcome.of(index, planned.shot.label, result)


def run_in_order(
    plans: list[Planned],
    *,
    on_event: EventCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[ShotOutcome]:
    """Every shot here, one after another; a failed shot is recorded and the next one runs.

    An interruption (``should_stop``) stops the batch: it raises
    :class:`~videostyle.errors.Interrupted`.
    """
    outcomes = []
    for index, planned in enumerate(plans):
        try:
            outcome = render_shot(planned, index, on_event=on_event, should_stop=should_stop)
        except Interrupted:
            raise
        except VideostyleError as exc:
            outcome = failed(planned, index, exc.marked(), exc.exit_code)
        else:
            succeeded(planned)
        outcomes.append(outcome)
    return outcomes


def failed(planned: Planned, index: int, error: str, code: int) -> ShotOutcome:
    """Record a shot's error in its run folder (when it has one) and return its outcome."""
    root = planned.shot.workdir
    if root.is_dir():
        write_json(root / FAILURE, {"error": as_names(error), "time": time.time()},
                   what="failure record")
    return ShotOutcome(index, planned.shot.label, planned.settings.output, error=error,
                       exit_code=code)


def succeeded(planned: Planned) -> None:
    """A shot completed: its earlier failure, if any, is no longer true."""
    (planned.shot.workdir / FAILURE).unlink(missing_ok=True)


def shot_status(planned: Planned) -> dict[str, Any]:
    """Frames done and in all, the ETA and the last failure of one shot (nothing computed)."""
    from .pipeline import status

    root = planned.shot.workdir
    info: dict[str, Any] = {"label": planned.shot.label, "done": 0, "total": None,
                            "eta_seconds": None, "seconds_per_frame": None, "failure": None}
    if (root / "manifest.json").is_file():
        run = status(root)
        info.update(done=run["done"], total=run["frames"], eta_seconds=run["eta_seconds"],
                    seconds_per_frame=run["seconds_per_frame"])
        planned_total = _frame_count(planned)
        if planned_total is not None and planned_total != run["frames"]:  # its range
            # changed in the shot file since the run folder was written: the shot as planned
            per_frame, left = run["seconds_per_frame"], max(planned_total - run["done"], 0)
            info.update(total=planned_total,
                        eta_seconds=per_frame * left if per_frame is not None else None)
    else:
        info["total"] = _frame_count(planned)
    try:
        info["failure"] = json.loads((root / FAILURE).read_text())["error"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return info


def _frame_count(planned: Planned) -> int | None:
    """How many frames a shot not yet started will render (None when the source is unreadable)."""
    from .video import check_range, probe

    s = planned.settings
    try:
        info = probe(s.source, fps=s.fps)
        first, last = check_range(info, *s.frames)
    except VideostyleError:
        return None
    return last - first + 1
