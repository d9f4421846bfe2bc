"""``videostyle batch``, ``render --config`` and ``render --workers``: shots from a shot file
or the command line, rendered here one after another or on a Ray farm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..errors import InputError, Interrupted, as_flags, opt
from . import options as o
from .app import app, echo, errors, note, warn
from .progress import StopFlag, interrupted
from .render import RENDER_OPTIONS
from .shotbars import shot_bars

#: Options that say how shots run, not what they are (never shot-file keys).
RUN_NAMES = ("config", "quiet", *o.FARM_NAMES)

BATCH_OPTIONS = (
    o.Opt("shots", Path, ..., "Shot file (TOML): [defaults] and [[shot]] entries whose keys "
          "are render's options (see docs/farm.md).", argument=True,
          extra={"metavar": "SHOTS.toml"}),
    *(opt_ for opt_ in RENDER_OPTIONS if opt_.name not in ("source", "config")),
)


def shot_types() -> dict[str, Any]:
    """The keys a shot file accepts, with the types the command line gives them."""
    return {opt_.name: opt_.type for opt_ in RENDER_OPTIONS if opt_.name not in RUN_NAMES}


@o.command(app, "batch", BATCH_OPTIONS)
def batch(ctx: typer.Context, **values: Any) -> None:
    """Render every shot of a shot file: videostyle batch shots.toml --workers auto

    Options typed here override the file's. Runs resume like render's.
    """
    render_shots(ctx, values, shot_file=values["shots"], single=False)


def _shots(ctx: typer.Context, values: dict[str, Any], shot_file: Path | None,
           single: bool) -> list[Any]:
    from ..shots import load_shots, make_shot, plan

    typed = o.given(ctx, values, exclude=(*RUN_NAMES, "shots"))
    if shot_file is None:
        if None in (values["source"], values["style"], values["output"]):
            raise InputError(f"give SOURCE, {opt('style')} and {opt('output')}, or "
                             f"{opt('config')} with a shot file")
        shots = [make_shot(typed, label="render")]
    else:
        shots = load_shots(shot_file, types=shot_types(), overrides=typed)
        if single and len(shots) != 1:
            raise InputError(f"{opt('config')} takes a shot file with exactly one [[shot]]; "
                             f"{shot_file} holds {len(shots)}: render it with videostyle batch")
    return plan(shots)


def _farm(values: dict[str, Any]) -> Any:
    from ..farm import FarmSettings, check

    if values["workers"] is None and values["ray_address"] is None:
        if values["threads_per_worker"] is not None:
            raise InputError(f"{opt('threads_per_worker')} has no effect without "
                             f"{opt('workers')} or {opt('ray_address')}; leave it out")
        return None
    farm = FarmSettings(workers=values["workers"], address=values["ray_address"],
                        threads=values["threads_per_worker"])
    check(farm)
    return farm


def _check_devices(plans: list[Any], single: bool) -> None:
    from ..networks import resolve_device

    for planned in plans:
        try:
            resolve_device(planned.shot.device)
        except InputError as exc:
            raise InputError(exc.args[0] if single else f"{planned.shot.label}: {exc.args[0]}"
                             ) from None


def render_shots(ctx: typer.Context, values: dict[str, Any], *, shot_file: Path | None,
                 single: bool) -> None:
    """Plan every shot (refusing what cannot work), then render them here or on the farm."""
    from ..batch import run_in_order

    stop = StopFlag()
    with errors():
        farm = _farm(values)
        plans = _shots(ctx, values, shot_file, single)
        if farm is None:  # rendered here: every shot's device is checked before any starts
            _check_devices(plans, single)
        for planned in plans:
            for message in planned.notes:
                note(message if single else f"{planned.shot.label}: {message}")
        stop.install()
        with shot_bars([p.shot.label for p in plans], values["quiet"]) as on_event:
            try:
                if farm is None:
                    outcomes = run_in_order(plans, on_event=on_event, should_stop=stop)
                else:
                    from ..chunked import run_on_farm

                    outcomes = run_on_farm(plans, farm, on_event=on_event, should_stop=stop)
            except KeyboardInterrupt:
                interrupted(stop, plans[0].settings.output, None)
            except Interrupted:
                interrupted(stop, shot_file or plans[0].settings.output, None)
    _report(outcomes, values["quiet"])


def _report(outcomes: list[Any], quiet: bool) -> None:
    failures = [out for out in outcomes if out.error is not None]
    for out in outcomes:
        for warning in out.warnings:
            warn(f"{out.label}: {warning}")
        if out.error is not None:
            echo(f"videostyle: error: {out.label}: {' '.join(as_flags(out.error).split())}",
                 err=True)
        elif not quiet:
            echo(f"wrote {out.output} ({out.frames} frames, {out.computed} computed now; "
                 f"run folder {out.workdir})")
    if failures:
        if len(outcomes) > 1:
            echo(f"videostyle: {len(failures)} of {len(outcomes)} shots failed", err=True)
        raise typer.Exit(failures[0].exit_code)


def shots_status(shot_file: Path) -> None:
    """``videostyle status shots.toml``: one line per shot and a summary."""
    from ..batch import shot_status
    from ..shots import load_shots, plan
    from .progress import duration

    with errors():
        infos = [shot_status(p) for p in plan(load_shots(shot_file, types=shot_types()),
                                                  check=False)]
    done_shots = failed = 0
    for info in infos:
        total = "?" if info["total"] is None else str(info["total"])
        complete = info["done"] == info["total"] and info["failure"] is None
        done_shots += complete
        failed += info["failure"] is not None
        eta = "" if info["done"] == info["total"] or info["eta_seconds"] is None else \
            f", ETA {duration(info['eta_seconds'])}"
        fail = f", failed: {info['failure']}" if info["failure"] else ""
        echo(f"{info['label']}: {info['done']}/{total} frames{eta}{fail}")
    frames = sum(i["done"] for i in infos)
    total_frames = sum(i["total"] or 0 for i in infos)
    left = sum(i["eta_seconds"] or 0 for i in infos)
    unknown = sum(i["eta_seconds"] is None and i["done"] != i["total"] for i in infos)
    known = any(i["eta_seconds"] is not None and i["done"] != i["total"] for i in infos)
    if not unknown:
        eta = f"ETA {duration(left)} on one worker"
    elif not known:
        eta = "ETA not known until a shot has rendered a frame"
    else:
        eta = (f"ETA at least {duration(left)} on one worker (not counting {unknown} "
               f"shot{'s' if unknown > 1 else ''} with no frame rendered yet)")
    echo(f"{len(infos)} shots: {done_shots} done, {failed} failed; {frames}/{total_frames} "
         f"frames; {eta}")
