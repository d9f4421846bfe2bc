"""``videostyle status``, ``flow`` and ``evaluate``: looking at renders and sources."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import InputError, opt
from ..settings import parse_range
from .app import app, echo, errors, note
from .options import Warp, plain
from .progress import duration

_BILINEAR = Warp("bilinear")


@app.command()
def status(
    target: Annotated[Path, typer.Argument(help="A render's output path or its run folder, "
                                                "or a shot file (.toml).")],
) -> None:
    """What a render has done, what is left, its settings, and an ETA."""
    import json

    if target.suffix == ".toml":
        from .batch import shots_status

        shots_status(target)
        return

    from ..pipeline import status as run_status

    with errors():
        info = run_status(target)
    pixels = info["manifest"]["pixels"]
    echo(f"run folder: {info['workdir']}")
    echo(
        f"frames {info['first_frame']}..{info['last_frame']}: {info['done']} done, "
        f"{info['left']} left"
    )
    if info.get("steps") is not None:
        stored, steps = info["steps"]
        eta = f"; ETA {duration(info['eta_seconds'])}" if info["eta_seconds"] is not None \
            else ""
        if info.get("chunked"):
            echo(f"chunks: {stored}/{steps} chunk frames done (the frames are stitched from "
                 f"them at the end){eta} on one worker")
        else:
            echo(f"multi-pass: {stored}/{steps} frame passes done (the frames come after the "
                 f"last pass){eta}")
    elif info["seconds_per_frame"] is not None:
        echo(
            f"{info['seconds_per_frame']:.1f}s per frame; ETA {duration(info['eta_seconds'])}"
        )
    echo("settings: " + json.dumps(pixels, sort_keys=True))
    for line in status_lines(info):
        echo(line)


def status_lines(info: dict[str, Any]) -> list[str]:
    """What ``status`` adds on a render running now and on frames it had to recover."""
    lines = []
    if info.get("running") is not None:
        holder, alive = info["running"]
        who = f"pid {holder.get('pid')} on {holder.get('host')}"
        state = {True: "rendering now", False: "not running (its lock is stale)",
                 None: "locked by a render on another host"}[alive]
        lines.append(f"{state}: {who}")
    for event in info.get("recovered", []):
        lines.append(f"recovered: {event.get('label')}: {event.get('problem')}; retried with "
                     f"{event.get('fallback')}")
    return lines


@app.command("flow")
def flow_command(
    source: Annotated[Path, typer.Argument(help="Video or image sequence.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Visualisation video (.mp4).")],
    flow: Annotated[
        str, typer.Option(help="Flow estimator, or a folder of .flo files.")
    ] = "dis",
    size: Annotated[int | None, typer.Option(help="Longest side in pixels.", min=16)] = None,
    frames: Annotated[
        str | None, typer.Option(help="START:END frame numbers, inclusive (see render --help).")
    ] = None,
    fps: Annotated[str | None, typer.Option(help="Frame rate of an image sequence.")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output file (an input is "
                           "never replaced).")
    ] = False,
) -> None:
    """Side by side: each frame, its flow to the previous frame, and the consistency weights."""
    import tempfile

    from ..evaluate import flow_frames, write_panels
    from ..ownership import check_still_output
    from ..video import (
        check_output,
        check_output_is_not_input,
        encode_video,
        fit_size,
        is_sequence_pattern,
        parse_fps,
        probe,
    )
    from ..video.outputs import VIDEO_SUFFIXES

    with errors():
        if is_sequence_pattern(str(output)) or output.suffix.lower() not in VIDEO_SUFFIXES:
            raise InputError(f"the flow visualisation is a video ({', '.join(VIDEO_SUFFIXES)});"
                             f" give {opt('output')} a name such as "
                             f"{output.stem.split('%')[0].rstrip('._-') or 'flow'}.mp4")
        check_output(output)  # its container and folder, before any flow is computed
        check_output_is_not_input(output, source=source)
        check_still_output(output, overwrite=overwrite)
        info = probe(source, fps=parse_fps(fps) if fps else None)
        if fps and info.kind == "video":
            raise InputError(f"{opt('fps')} has no effect on a video source ({source.name} "
                             f"plays at its own rate); leave it out")
        for message in info.notes:
            note(message)
        start, end = parse_range(frames)
        dims = fit_size(info.width, info.height, size)
        with tempfile.TemporaryDirectory(prefix="videostyle-flow-") as tmp:
            paths = write_panels(
                flow_frames(info, flow=flow, size=dims, start=start, end=end), Path(tmp)
            )
            if not paths:
                raise InputError("the flow visualisation needs at least two frames")
            encode_video(paths, output, fps=info.fps, codec="h264")
    echo(f"wrote {output} ({len(paths)} frames: frame | flow | consistency weights)")


@app.command()
def evaluate(
    stylized: Annotated[Path, typer.Argument(help="The stylised video or sequence.")],
    source: Annotated[Path, typer.Option(help="The source it was rendered from.")],
    flow: Annotated[
        str, typer.Option(help="Flow estimator run on the source, or a folder of .flo files "
                          "(e.g. ground truth).")
    ] = "dis",
    start: Annotated[
        int | None,
        typer.Option(help="Number of the source frame that the stylised video's first frame "
                     "shows [default: a stylised sequence's own first number where the "
                     "source has that frame (a render numbers its frames so), else the "
                     "source's first].", min=0),
    ] = None,
    warp: Annotated[
        Warp,  # type: ignore[valid-type]
        typer.Option(help="Resampling of the previous frame (bilinear: the paper's measure)."),
    ] = _BILINEAR,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Temporal error of a stylised video, with optical flow computed on the source."""
    import json

    from ..evaluate import temporal_error
    from ..video import probe

    with errors():  # frames are compared in pairs: a sequence's rate changes nothing here
        report = temporal_error(probe(stylized), probe(source), flow=flow, start=start,
                                warp=plain(warp))
    for message in report.notes:
        note(message)
    if as_json:
        echo(json.dumps(report.as_dict(), indent=2))
        return
    echo(f"flow: {report.flow}")
    echo("frame  paper        masked       reliable")
    for f in report.frames:
        echo(f"{f.frame:5d}  {f.paper:.6f}  {f.masked:.6f}  {f.reliable:.3f}")
    echo(f"mean   {report.mean_paper:.6f}  {report.mean_masked:.6f}")
