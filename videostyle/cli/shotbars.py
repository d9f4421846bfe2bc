"""Progress of many shots: one bar per shot and one for all, or plain lines off a terminal.

Fed with :class:`~videostyle.batch.ShotEvent` values, from this process or from the farm's
workers (relayed by the driver).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from .progress import duration


class Tally:
    """Frames done and in all, per shot and together (a shot's total is known once it
    reported its first frame)."""

    def __init__(self, n_shots: int) -> None:
        self.n_shots = n_shots
        self.done: dict[int, int] = {}
        self.total: dict[int, int] = {}

    def add(self, event: Any) -> None:
        self.done[event.shot] = max(self.done.get(event.shot, 0), event.position)
        self.total[event.shot] = event.total

    def overall(self) -> str:
        more = "+" if len(self.total) < self.n_shots else ""
        return f"{sum(self.done.values())}/{sum(self.total.values())}{more}"


@contextmanager
def shot_bars(labels: list[str], quiet: bool) -> Iterator[Any]:
    """A callback for shot events: rich bars on a terminal, plain lines otherwise."""
    if quiet:
        yield None
        return
    tally = Tally(len(labels))
    if not sys.stdout.isatty():

        def plain(e: Any) -> None:
            tally.add(e)
            if e.skipped:
                return
            eta = f", ETA {duration(e.eta_seconds)}" if e.eta_seconds is not None else ""
            typer.echo(f"{labels[e.shot]}: frame {e.frame} ({e.position}/{e.total}) "
                       f"{e.seconds:.1f}s{eta}; all shots {tally.overall()} frames")

        yield plain
        return
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    with Bar(TextColumn("{task.description}"), BarColumn(),
             TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
             TextColumn("ETA {task.fields[eta]}")) as bar:
        tasks = [bar.add_task(label, total=None, eta="?") for label in labels]
        everything = bar.add_task("all shots", total=None, eta="")

        def update(e: Any) -> None:
            tally.add(e)
            eta = duration(e.eta_seconds) if e.eta_seconds is not None else "?"
            bar.update(tasks[e.shot], total=e.total, completed=e.position, eta=eta)
            bar.update(everything, total=sum(tally.total.values()),
                       completed=sum(tally.done.values()))

        yield update
