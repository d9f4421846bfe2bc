"""Progress on the terminal (rich bars, or plain lines when not a terminal), signals, ETA."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer


@contextmanager
def iteration_bar(total: int, quiet: bool, label: str) -> Iterator[object]:
    """A rich progress bar over optimiser iterations (plain lines when not a terminal)."""
    from ..optimize import Progress

    if quiet:
        yield None
        return
    if not sys.stderr.isatty():
        start = time.monotonic()

        def plain(p: Progress) -> None:
            if p.iteration % 25 == 0 or p.iteration == p.total_iterations:
                losses = " ".join(f"{k}={v:.4g}" for k, v in p.losses.items())
                typer.echo(
                    f"{label}: iteration {p.iteration}/{p.total_iterations} "
                    f"({time.monotonic() - start:.0f}s) {losses}",
                    err=True,
                )

        yield plain
        return
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[losses]}"),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total, losses="")

        def update(p: Progress) -> None:
            bar.update(
                task,
                completed=p.iteration,
                losses=f"loss {p.losses['total']:.4g} (style {p.losses['style']:.3g}, "
                f"content {p.losses['content']:.3g})",
            )

        yield update


@contextmanager
def frame_bar(quiet: bool) -> Iterator[tuple[Any, Any]]:
    """Progress over frames: a rich bar on a terminal, plain lines otherwise."""
    from ..pipeline import FrameProgress

    if quiet:
        yield (None, None)
        return
    if not sys.stdout.isatty():

        def plain(p: FrameProgress) -> None:
            if p.skipped:
                return
            eta = f", ETA {duration(p.eta_seconds)}" if p.eta_seconds is not None else ""
            losses = " ".join(f"{k}={v:.4g}" for k, v in p.losses.items())
            typer.echo(
                f"frame {p.frame} ({p.position}/{p.total}) {p.seconds:.1f}s, "
                f"{p.iterations} it{eta}; {losses}"
            )

        yield (plain, None)
        return
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("frames"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TextColumn("ETA {task.fields[eta]}"),
        TextColumn("{task.fields[info]}"),
    ) as bar:
        task = bar.add_task("frames", total=None, eta="?", info="")

        def update(p: FrameProgress) -> None:
            info = "" if p.skipped else (
                f"frame {p.frame}: {p.seconds:.1f}s, {p.iterations} it, "
                f"loss {p.losses.get('total', 0):.4g}"
            )
            bar.update(
                task, total=p.total, completed=p.position,
                eta=duration(p.eta_seconds) if p.eta_seconds is not None else "?",
                info=info or bar.tasks[0].fields["info"],
            )

        yield (update, None)


def duration(seconds: float | None) -> str:
    """``75`` -> ``1:15``; ``3725`` -> ``1:02:05``; None -> ``?``."""
    if seconds is None:
        return "?"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class StopFlag:
    """Set by SIGINT/SIGTERM; a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self) -> bool:
        return self.signal is not None

    def install(self) -> None:
        import signal

        def handler(signum: int, _frame: object) -> None:
            if self.signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.signal = signum

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def interrupted(stop: StopFlag, output: Path, workdir: Path | None) -> NoReturn:
    import signal

    code = 143 if stop.signal == signal.SIGTERM else 130
    typer.echo(
        "videostyle: interrupted; finished frames are kept. Run the same command again to "
        f"resume (see: videostyle status {workdir or output}).",
        err=True,
    )
    raise typer.Exit(code)
