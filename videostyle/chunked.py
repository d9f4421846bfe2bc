"""A chunked render (``--chunks K``): one shot in overlapping chunks, blended across the seams.

The scheme is :mod:`videostyle.chunks` (measured against the single chain in docs/farm.md).
Here it is a render:

- the shot's run folder (``out.videostyle/``) is opened as a plain render's is, with the
  chunking (``[chunks, overlap]``) among its pixel settings: a plain render never resumes
  a stitched folder nor the other way round (``--restart`` clears it, chunks included);
- the shot's run-folder lock is held by the driver (this process) from the opening to the
  end, across the chunks and the stitch;
- each chunk is a render of its own through :class:`~videostyle.pipeline.Renderer`, in
  ``out.videostyle/chunks/START-END/`` (so each chunk resumes, and locks its own folder),
  on the farm's workers (``--workers``/``--ray-address``) or here one after another;
- then the driver stitches every frame of the shot not yet stored from the chunks' stored
  frames (:func:`videostyle.chunks.blend`), each written atomically with its sha256
  record (:meth:`~videostyle.workdir.RunFolder.commit_frame`), and encodes the output
  once, as a plain render does.

Killed at any point, the same command resumes: the chunks skip their stored frames and the
stitch its stored frames; the frames come out the same (on the same CPU build and thread
count, as a plain render's).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch

from . import ownership
from .batch import EventCallback, ShotEvent, ShotOutcome, failed, render_shot, succeeded
from .chunks import blend, chunk_ranges, weights
from .errors import EXIT_CODES, InputError, Interrupted, ResumeError, VideostyleError, opt
from .pipeline import Checked, Renderer, RenderResult, check_render, frame_numbers
from .settings import RenderSettings
from .shots import Planned
from .video import probe, read_image
from .workdir import CHUNKS, FrameRecord, RunFolder, chunk_folder, png16, sha256_bytes

#: Renders the chunks it is given (on the farm or here); raises when one fails.
RunChunks = Callable[[list[Planned]], None]


def chunk_plans(planned: Planned, root: Path, ranges: list[tuple[int, int]]) -> list[Planned]:
    """One plain chained render per chunk: the shot's settings on the chunk's frames, in
    the chunk's run folder, writing no output of its own (its frames feed the stitch)."""
    plans = []
    for start, end in ranges:
        folder = chunk_folder(root, start, end)
        settings = dataclasses.replace(
            planned.settings, frames=(start, end), workdir=folder, restart=False,
            output=Path(root) / CHUNKS / f"{start}-{end}_%06d.png", codec=None,
            chunks=1, chunk_overlap=0, encode=False, overwrite=False)
        shot = dataclasses.replace(planned.shot, label=f"{planned.shot.label} chunk "
                                   f"{start}-{end}", given={**planned.shot.given,
                                                            "workdir": folder})
        plans.append(Planned(shot, settings))
    return plans


def shot_ranges(s: RenderSettings, frames: list[int] | None = None) -> list[tuple[int, int]]:
    """The chunks of a chunked render (its source probed when ``frames`` is None); refuses
    a shot with too few frames for them (before any work: also called when planning)."""
    if frames is None:
        frames = frame_numbers(s, probe(s.source, fps=s.fps))
    try:
        return chunk_ranges(frames[0], frames[-1], s.chunks, s.chunk_overlap)
    except InputError as exc:
        raise InputError(f"{exc.args[0]}; give fewer {opt('chunks')} or a smaller "
                         f"{opt('chunk_overlap')}") from None


@dataclasses.dataclass(frozen=True)
class CheckedChunks(Checked):
    """A chunked render as its checks found it: a plain render's checks, and the chunks'
    frame ranges ``(start, end)``, in order."""

    ranges: list[tuple[int, int]]


def check_chunked(s: RenderSettings) -> CheckedChunks:
    """A chunked render's checks before any work (:func:`~videostyle.pipeline.check_render`
    and its chunks): the driver computes no frame, so the memory and the compiler are
    checked by the chunks' own renders."""
    checked = check_render(s, torch.device("cpu"), computes=False)
    fields = {f.name: getattr(checked, f.name) for f in dataclasses.fields(checked)}
    return CheckedChunks(**fields, ranges=shot_ranges(checked.settings, checked.frames))


class ChunkedRenderer(Renderer):
    """A render whose frames come from overlapping chunks (``settings.chunks`` > 1).

    ``run_chunks`` renders the chunks (see :func:`render_chunked`); ``planned`` is the
    shot, whose label and given values the chunks inherit.
    """

    def __init__(self, planned: Planned, *, network: object, device: torch.device,
                 run_chunks: RunChunks, should_stop: Callable[[], bool] | None = None,
                 checked: CheckedChunks | None = None) -> None:
        super().__init__(planned.settings, network=network,  # type: ignore[arg-type]
                         device=device, should_stop=should_stop, checked=checked)
        self.planned, self.run_chunks = planned, run_chunks
        self.checked: CheckedChunks | None = checked

    def _run(self) -> RenderResult:
        checked = self.checked or check_chunked(self.s)  # every check, before any work
        self.s, self.plan = checked.settings, checked.plan  # colour-managed as a plain one
        info, frames, size, run = checked.info, checked.frames, checked.size, checked.run
        ranges = checked.ranges
        self.warnings += checked.warnings
        self._open(run, info, frames, size)  # the lock, and a mismatched resume refused
        todo = [f for f in frames if not run.is_done(f)]
        needed = sorted({k for f in todo for k in weights(f, ranges, self.s.chunk_overlap)})
        if needed:
            (run.root / CHUNKS).mkdir(exist_ok=True)
            plans = chunk_plans(Planned(self.planned.shot, self.s), run.root, ranges)
            self.run_chunks([plans[k] for k in needed])
        computed = self._stitch(run, ranges, todo)
        if self.plan is not None:  # the colour-managed output stage reads the content frames
            self._decode(info, run, frames, size)
        self._encode(info, run, frames)
        ownership.record_output(run.root, self.s.output, frames)
        return RenderResult(output=self.s.output, workdir=run.root, frames=len(frames),
                            computed=computed, fps=info.fps, warnings=self.warnings)

    def _stitch(self, run: RunFolder, ranges: list[tuple[int, int]], todo: list[int]) -> int:
        """Store the blend of the chunks' frames for every frame in ``todo``."""
        chunks = [RunFolder(chunk_folder(run.root, a, b)) for a, b in ranges]
        for frame in todo:
            if self.should_stop is not None and self.should_stop():
                raise Interrupted(f"stopped before stitching frame {frame}")
            mix = weights(frame, ranges, self.s.chunk_overlap)
            for k in mix:
                if not chunks[k].is_done(frame):
                    raise ResumeError(f"frame {frame} of the chunk {chunks[k].root} is missing "
                                      f"or damaged; run the same command to render it again")
            image = blend(mix, partial(_read, chunks, frame))
            records = [r for r in (chunks[k].frame_record(frame) for k in mix) if r is not None]
            png = png16(image)
            run.commit_frame(frame, png, FrameRecord(
                frame=frame, sha256=sha256_bytes(png),
                seconds=round(sum(r.seconds for r in records), 3),
                iterations=max((r.iterations for r in records), default=0), losses={}))
        return len(todo)


def _read(chunks: list[RunFolder], frame: int, chunk: int) -> np.ndarray:
    return read_image(chunks[chunk].frame_path(frame))


def _length(planned: Planned) -> int:
    start, end = planned.settings.frames
    return (end or 0) - (start or 0) + 1


class _Progress:
    """The chunks' frame events as events of the shot (frames of all its chunks)."""

    def __init__(self, index: int, total: int, on_event: EventCallback | None) -> None:
        self.index, self.total, self.on_event = index, total, on_event
        self.done: dict[int, int] = {}

    def __call__(self, event: ShotEvent) -> None:
        self.done[event.shot] = max(self.done.get(event.shot, 0), event.position)
        if self.on_event is not None:
            self.on_event(dataclasses.replace(event, shot=self.index, total=self.total,
                                              position=sum(self.done.values())))


def render_chunked(
    planned: Planned,
    index: int,
    *,
    farm: object | None = None,
    on_event: EventCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ShotOutcome:
    """Render (or resume) a chunked shot: its chunks on ``farm`` (a
    :class:`~videostyle.farm.FarmSettings`) or here one after another, then the stitch."""
    from .networks import network_for

    s = planned.settings
    checked = check_chunked(s)  # every check, before the network loads
    cpu = torch.device("cpu")  # the driver computes no frame: the network only names weights
    net = network_for(s.engine, weights=planned.shot.given.get("weights"), device=cpu)

    def run_chunks(plans: list[Planned]) -> None:
        progress = _Progress(index, sum(_length(p) for p in plans), on_event)
        if farm is None:
            for k, chunk in enumerate(plans):  # the shot's notes are its plan's (given)
                render_shot(chunk, k, on_event=progress, should_stop=should_stop)
            return
        from .farm import run_farm

        for outcome in run_farm(plans, farm, on_event=progress,  # type: ignore[arg-type]
                                should_stop=should_stop):
            if outcome.error is not None:
                kind = next((c for c, code in EXIT_CODES.items() if code == outcome.exit_code),
                            VideostyleError)
                raise kind(f"{outcome.label}: {outcome.error}")

    result = ChunkedRenderer(planned, network=net, device=cpu, run_chunks=run_chunks,
                             should_stop=should_stop, checked=checked).run()
    return ShotOutcome.of(index, planned.shot.label, result)


def run_on_farm(
    plans: list[Planned],
    farm: object,
    *,
    on_event: EventCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[ShotOutcome]:
    """The shots of a batch on the farm: plain shots each on a worker, then each chunked
    shot with its chunks spread over the workers (this process stitches)."""
    from .farm import run_farm

    plain = [i for i, p in enumerate(plans) if p.settings.chunks == 1]
    outcomes: dict[int, ShotOutcome] = {}
    if plain:
        def relay(event: ShotEvent) -> None:
            if on_event is not None:
                on_event(dataclasses.replace(event, shot=plain[event.shot]))

        done = run_farm([plans[i] for i in plain], farm,  # type: ignore[arg-type]
                        on_event=relay, should_stop=should_stop)
        outcomes.update({i: dataclasses.replace(o, index=i) for i, o in zip(plain, done,
                                                                            strict=True)})
    for i, planned in enumerate(plans):
        if i in outcomes:
            continue
        try:
            outcomes[i] = render_chunked(planned, i, farm=farm, on_event=on_event,
                                         should_stop=should_stop)
        except Interrupted:
            raise
        except VideostyleError as exc:
            outcomes[i] = failed(planned, i, exc.marked(), exc.exit_code)
        else:
            succeeded(planned)
    return [outcomes[i] for i in range(len(plans))]
