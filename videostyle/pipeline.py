"""The render stage chain: decode -> flow -> one job per frame -> stylize -> store -> encode.

:class:`Renderer` is the only place that knows the order of the stages. Each stage is a
short call into its own module: :mod:`video` (probe, decode, encode), :mod:`preflight`
(every check before any work), :mod:`workdir` (the run folder), :mod:`flow` (optical
flow), :mod:`jobs` and :mod:`multipass` (one frame's inputs), a
:class:`~videostyle.stylizer.Stylizer` (painting it). Frames are addressed by their
numbers (a video's from 1, a sequence's by its file names).

Determinism and resume: every input of a frame's job is read back from the run folder
(content frames, stored stylised frames, cached flows), never taken from memory, so a
resumed render computes exactly what an uninterrupted one computes (byte-identical on the
same CPU, thread count and torch build).
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import (
    __version__,
    determinism,
    jobs,
    memory,
    multipass,
    ownership,
    postprod,
    preflight,
    recovery,
    runlog,
)
from . import flow as flowmod
from .atomic import free_bytes, megabytes
from .colormanage import ColourPlan
from .config import OptimizerSettings
from .errors import DiskFull, InputError, Interrupted, VideostyleError, opt
from .networks import LossNetwork, resolve_precision, sha256_file
from .optimize import ProgressCallback, check_compile
from .runlock import RunLock, running_holder
from .settings import RenderSettings
from .stylize import prepare_styles, to_image
from .stylizer import FrameJob, FrameResult, OptimizingStylizer, Stylizer
from .video import (
    SourceInfo,
    VideoTags,
    check_range,
    encode_video,
    fit_size,
    is_sequence_pattern,
    probe,
    read_frames,
    read_image,
    write_image,
    write_sequence,
)
from .video.encode import remove_partials
from .video.timecode import advance
from .workdir import FrameRecord, RunFolder, chunk_folder, default_workdir, png16, sha256_bytes

__all__ = [
    "ADDED_LATER", "Checked", "FrameProgress", "RenderResult", "RenderSettings", "Renderer",
    "check_render", "pixel_settings", "png16", "status",
]


@dataclass(frozen=True)
class FrameProgress:
    """One finished (or skipped) frame, as handed to the frame callback."""

    frame: int
    position: int  # 1-based position among the render's steps
    total: int
    seconds: float
    iterations: int
    losses: dict[str, float]
    skipped: bool
    eta_seconds: float | None


@dataclass
class RenderResult:
    """What a render produced."""

    output: Path
    workdir: Path
    frames: int
    computed: int
    fps: Fraction
    warnings: list[str]


FrameCallback = Callable[[FrameProgress], None]


@dataclass(frozen=True)
class _Step:
    """One stored result of the chain: a frame (of a pass) and where it goes."""

    frame: int
    png: Path
    record: Path
    build: Callable[[], FrameJob]
    done: bool  # already stored (checked once, when the chain starts)


def _step(frame: int, png: Path, record: Path, build: Callable[[], FrameJob]) -> _Step:
    return _Step(frame, png, record, build, RunFolder.is_committed(png, record))


def _environment(device: torch.device, network: LossNetwork | None = None) -> dict[str, Any]:
    env = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }
    if network is not None and network.autocast is not None:  # float32 leaves it out
        env["autocast"] = str(network.autocast).removeprefix("torch.")
    return env


def _as_recorded(run: RunFolder, pixels: dict[str, Any], *,
                 same_content: bool = False) -> dict[str, Any]:
    """``pixels`` with the values its run folder recorded for the settings that reach the
    pixels neither now nor in the recorded render (:func:`_inert`): a value that never
    reached the frames does not stop them resuming. (Such values are dropped, or refused
    when typed, when settings are resolved; older versions recorded them as given.)
    ``same_content``: the plain and the colour-managed path store the same content frames
    (see :func:`_inert`)."""
    inert = _inert(pixels, same_content)
    if not inert or not run.exists():
        return pixels
    old = run.read_manifest().get("pixels", {})
    out = json.loads(json.dumps(pixels))  # nested values replaced below: a copy
    for path in inert & _inert(old, same_content):
        holder, recorded = out, old
        for key in path[:-1]:
            holder, recorded = holder[key], recorded[key]
        if path[-1] in recorded:
            holder[path[-1]] = recorded[path[-1]]
        else:  # a plain render's folder has no colour plan
            holder.pop(path[-1], None)
    return out


def _inert(pixels: dict[str, Any], same_content: bool = False) -> set[tuple[str, ...]]:
    """The settings (paths of keys) of ``pixels`` (a manifest's) whose values cannot reach
    the frames:

    - the long-term offsets of a render without a temporal term;
    - the later frames' init, offsets and warp of a chained single-pass render that passes
      its later frames through (0 iterations), and the warp of an independent render;
    - the seed where no frame starts from noise;
    - the early-stop tolerance where no frame runs more than its window;
    - the colour plan (none on the plain path) where the plates need no conversion into the
      working space and both paths store the same content frames (``same_content``: at
      the source's size, or from a source of more than 8 bits; the plain path stores an
      8-bit source's resized frames at 8 bits, the colour-managed one at 16), so a plain
      render resumes into a colour-managed finish (an EXR output, another
      ``--output-colorspace``) and back.
    """
    inert: set[tuple[str, ...]] = set()
    if pixels.get("independent") is True and "warp" in pixels:
        inert.add(("warp",))
    colour = pixels.get("colour")
    if same_content and (colour is None or (isinstance(colour, dict) and colour.get(
            "input") == colour.get("working"))):
        inert.add(("colour",))
    iterations = pixels.get("iterations")
    if isinstance(pixels.get("long_term"), list):
        if (isinstance(iterations, list) and iterations[1:] == [0] and "init" in pixels
                and pixels.get("independent") is False and pixels.get("multipass") is None):
            inert |= {("init",), ("long_term",), ("warp",)}
        elif pixels.get("temporal_weight") == 0:
            inert.add(("long_term",))
    engine, image = pixels.get("engine"), pixels.get("image")
    if not isinstance(engine, dict) or not isinstance(image, dict):
        return inert
    if "random" not in (image.get("init"), pixels.get("init")) and "seed" in engine:
        inert.add(("engine", "seed"))
    optimizer = engine.get("optimizer")
    window = OptimizerSettings.tolerance_window
    if (isinstance(optimizer, dict) and "tolerance" in optimizer and isinstance(iterations, list)
            and iterations and max(iterations) <= window):
        inert.add(("engine", "optimizer", "tolerance"))
    return inert


#: Settings added after run folders were first written, each with the value that paints what
#: the folders made before it painted. While a setting holds that value the manifest leaves it
#: out, so those folders still resume; a setting added later goes here, not into a special case.
ADDED_LATER: dict[tuple[str, ...], Any] = {
    ("deterministic",): False,
    ("chunks",): None,
    ("engine", "optimizer", "lbfgs_precision"): "float32",
    ("engine", "compile"): "off",
}


def _drop_former_defaults(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` less every :data:`ADDED_LATER` entry that holds its former value."""
    for *parents, key in ADDED_LATER:
        holder = settings
        for parent in parents:
            holder = holder[parent]
        if holder[key] == ADDED_LATER[(*parents, key)]:
            del holder[key]
    return settings


def pixel_settings(s: RenderSettings, info: SourceInfo, start: int, end: int,
                   size: tuple[int, int], weights_id: str) -> dict[str, Any]:
    """Every setting that changes pixels, in JSON form (what resume compares)."""
    image = dataclasses.asdict(s.image)
    image.pop("engine")
    return _drop_former_defaults({
        "source": info.fingerprint,
        "frames": [start, end],
        "size": list(size),
        "styles": [sha256_file(Path(p)) for p in s.styles],
        "style_masks": list(s.style_masks),
        "image": image,
        "engine": dataclasses.asdict(s.engine),
        "iterations": list(s.iterations),
        "init": s.init,
        "independent": s.independent,
        "flow": s.flow,
        "warp": s.warp,
        "long_term": list(s.long_term),
        "temporal_weight": s.temporal_weight,
        "weights": weights_id,
        "multipass": [s.passes, s.temporal_after_pass, s.blend_weight, s.blend_weight_other]
        if s.passes > 1 else None,
        "deterministic": s.deterministic,
        "chunks": [s.chunks, s.chunk_overlap] if s.chunks > 1 else None,
    })


@dataclass(frozen=True)
class Checked:
    """A render as its checks found it, before any work (see :func:`check_render`).

    ``settings``: the render's, adapted to its inputs (a preset's long-term offsets to a
    flow folder); ``of``: the settings that were checked. ``size``: ``(width, height)`` of
    the render. ``notes``: what reading the inputs changed; ``warnings``: what the source's
    format costs the output (:func:`videostyle.postprod.source_warnings`).
    """

    of: RenderSettings
    settings: RenderSettings
    info: SourceInfo
    frames: list[int]
    size: tuple[int, int]
    run: RunFolder
    styles: list[np.ndarray]
    plan: ColourPlan | None
    notes: list[str]
    warnings: list[str]


def check_render(
    settings: RenderSettings, device: torch.device, *, half: bool | None = None,
    computes: bool = True,
) -> Checked:
    """Every check of a render before any work: nothing is written and no loss network is
    needed, so a caller that runs them first refuses a render before loading one. The
    source is probed and the style images are read here, once.

    ``half``: whether the loss network runs in a 16-bit type (the memory check); None: as
    :func:`videostyle.networks.network_for` loads it for these settings on ``device``.
    ``computes``: False for a process that computes no frame (a chunked render's driver):
    the memory and compiler checks are left to the renders that do.
    """
    s = settings
    preflight.check_settings(s)
    info = probe(s.source, fps=s.fps)  # what the source is
    plan = postprod.plan_for(s, info)
    warnings = postprod.source_warnings(s, info)
    frames = frame_numbers(s, info)
    size = render_size(s, info)
    source_notes = preflight.check_source(s, info, size, frames)
    run = RunFolder(s.workdir or default_workdir(s.output))
    s, notes = preflight.check_inputs(s, run, frames)
    styles, style_notes = preflight.read_styles(s)  # a bad style refused before work
    if computes:
        if half is None:
            half = resolve_precision(s.engine.precision, device) is not None
        memory.check_fits(size, s.engine, device, half=half)  # it fits
        check_compile(s.engine.compile, str(device))  # the toolchain is there
    return Checked(of=settings, settings=s, info=info, frames=frames, size=size, run=run,
                   styles=styles, plan=plan, notes=source_notes + notes + style_notes,
                   warnings=warnings)


class Renderer:
    """Runs one render, resuming from its run folder.

    Args:
        settings: the render (see :func:`videostyle.settings.resolve_render`).
        network: the loss network (already on ``device``): style targets, and the default
            stylizer's objective.
        device: where to compute.
        stylizer: paints each frame's job; default :class:`OptimizingStylizer`.
        on_frame: called after every frame (also for frames already done).
        on_iteration: called after every optimiser iteration (default stylizer).
        should_stop: polled between iterations and frames; True abandons the current
            frame and raises :class:`~videostyle.errors.Interrupted`.
        on_note: called with a note when a preset's value is adapted to the inputs.
        checked: :func:`check_render`'s result for ``settings`` and ``device`` when the
            caller ran the checks before loading ``network``; None: they run first.
    """

    def __init__(
        self,
        settings: RenderSettings,
        *,
        network: LossNetwork,
        device: torch.device,
        stylizer: Stylizer | None = None,
        on_frame: FrameCallback | None = None,
        on_iteration: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_note: Callable[[str], None] | None = None,
        checked: Checked | None = None,
    ) -> None:
        if checked is not None and checked.of != settings:
            raise ValueError("checked: the checks of other settings than this render's")
        self.s = settings
        self.checked = checked
        self.network = network
        self.device = device
        self.stylizer = stylizer or OptimizingStylizer(
            network, settings.engine, on_iteration=on_iteration, should_stop=should_stop
        )
        self.on_frame = on_frame
        self.should_stop = should_stop
        self.on_note = on_note
        self.warnings: list[str] = []
        fallback = None if stylizer is not None else OptimizingStylizer(
            network, recovery.fallback_engine(settings.engine), on_iteration=on_iteration,
            should_stop=should_stop)
        self.guard = recovery.GuardedStylizer(self.stylizer, fallback,
                                              on_recovery=partial(_recovered, self))
        self.lock: RunLock | None = None
        self.run_folder: RunFolder | None = None
        self.plan: ColourPlan | None = None  # a colour-managed render's (postprod)

    # ---- the chain ---------------------------------------------------------------------
    def run(self) -> RenderResult:
        """The render; the run folder is locked from its opening to the end."""
        try:
            with determinism.applied(self.s.deterministic, self.device):
                return self._run()
        except DiskFull as exc:
            raise _with_space_needed(self.run_folder, exc) from exc
        finally:
            if self.lock is not None:
                self.lock.release()

    def _run(self) -> RenderResult:
        checked = self.checked or check_render(  # 1. what the source is; every check
            self.s, self.device, half=_half(self.network))
        self.s, self.plan = checked.settings, checked.plan
        info, frames, size, run, styles = (checked.info, checked.frames, checked.size,
                                           checked.run, checked.styles)
        self.warnings += checked.warnings
        self._open(run, info, frames, size)  # 2. the run folder (refuses a mismatched resume)
        for note in checked.notes:  # a refused render says only why
            if self.on_note is not None:
                self.on_note(note)
        self._decode(info, run, frames, size)  # 3. source frames at the render size
        targets = prepare_styles(  # 4. style Gram matrices, once (per style with masks)
            self.network, styles, content_size=size, settings=self.s.image,
            masks=[None] * len(styles) if self.s.style_masks else None, device=self.device,
        )
        with self._flows(run, size) as flows:  # 5. optical flow, ahead of the stylizer
            ctx = jobs.RenderContext(self.s, info, run, frames, size, self.device, styles,
                                     targets, flows, self.network)
            computed = _within_memory(self._chain, ctx, self.network)  # 6. each frame
        if self.s.encode:  # (not a chunk of a chunked render: videostyle.chunked)
            self._encode(info, run, frames)  # 7. the output, at the source's exact rate
            ownership.record_output(run.root, self.s.output, frames)  # it is this render's now
        return RenderResult(
            output=self.s.output, workdir=run.root, frames=len(frames), computed=computed,
            fps=info.fps, warnings=self.warnings,
        )

    # ---- stages ------------------------------------------------------------------------
    def _open(self, run: RunFolder, info: SourceInfo, frames: list[int],
              size: tuple[int, int]) -> None:
        s, weights = self.s, self.network.weights
        self.lock, self.run_folder = _take_lock(run, self.warnings), run
        environment = _environment(self.device, self.network)
        if s.deterministic:
            determinism.check_resume(run, environment, restart=s.restart)
        pixels = pixel_settings(s, info, frames[0], frames[-1], size,
                                f"{weights.network}:{weights.sha256}")
        if self.plan is not None:
            pixels["colour"] = self.plan.stored()
        if not s.restart:
            pixels = _as_recorded(run, pixels, same_content=size == (info.width, info.height)
                                  or info.bit_depth > 8)
        self.warnings += run.open(
            {
                "package_version": __version__,
                "source_info": {
                    "path": str(info.path), "fps": str(info.fps), "frames": info.n_frames,
                    "first": info.first, "width": info.width, "height": info.height,
                    "audio": info.has_audio,
                },
                "weights": dataclasses.asdict(weights),
                "pixels": pixels,
                "environment": environment,
            },
            restart=s.restart,
            range_may_change=s.passes == 1 and s.chunks == 1,
        )

    def _decode(
        self, info: SourceInfo, run: RunFolder, frames: list[int], size: tuple[int, int]
    ) -> None:
        if self.plan is not None:
            return postprod.decode(info, run, frames, size, self.plan)
        missing = [f for f in frames if not run.content_path(f).is_file()]
        if not missing:
            return
        depth = 16 if info.bit_depth > 8 else 8
        for number, frame in read_frames(info, start=missing[0], end=missing[-1], size=size):
            if number in missing:
                write_image(run.content_path(number), frame, bit_depth=depth)

    def _flows(self, run: RunFolder, size: tuple[int, int]) -> Any:
        if not self.s.uses_flow():
            return _NoFlow()
        return flowmod.open_flow_source(
            self.s.flow, size=size, cache_dir=run.flow_dir,
            frame_loader=lambda i: read_image(run.content_path(i)),
        )

    def _chain(self, ctx: jobs.RenderContext) -> int:
        """Every frame's job, stylised and stored in order; returns how many were computed."""
        run, s = ctx.run, ctx.settings
        schedule = getattr(ctx.flows, "schedule", None)
        if s.passes > 1:
            if schedule is not None:
                schedule(multipass.flow_pairs(ctx))
            steps = [
                _step(f, run.pass_path(p, f), run.pass_path(p, f).with_suffix(".json"),
                      partial(multipass.job, ctx, p, f))
                for p, f in multipass.steps(ctx)
            ]
            computed = self._store_all(steps, finish=None, report_skipped=False)
            multipass.finish(ctx)
            return computed
        steps = [_step(f, run.frame_path(f), run.record_path(f),
                       partial(jobs.single_pass_job, ctx, f)) for f in ctx.frames]
        if schedule is not None:
            todo = [st.frame for st in steps if not st.done]
            schedule(p for f in todo for p in jobs.flow_pairs(s, f, ctx.start))
        return self._store_all(steps, finish=self._colours, report_skipped=True)

    def _colours(self, job: FrameJob, image: np.ndarray) -> np.ndarray:
        """Original colours, when asked for, from the frame's content."""
        mode = self.s.image.original_colors
        if not mode:
            return image
        from .color import original_colors

        return original_colors(image, to_image(job.content), mode)

    def _store_all(
        self,
        steps: list[_Step],
        *,
        finish: Callable[[FrameJob, np.ndarray], np.ndarray] | None,
        report_skipped: bool,
    ) -> int:
        """Stylise and store each step not already stored, reporting progress and ETA."""
        timings = _recorded_seconds(st.record for st in steps if st.done)
        left = sum(not st.done for st in steps)
        computed = 0
        for position, step in enumerate(steps, start=1):
            if step.done:
                if report_skipped:
                    self._report(step.frame, position, len(steps), None, timings, left)
                continue
            if self.should_stop is not None and self.should_stop():
                raise Interrupted(f"stopped before frame {step.frame}")
            began = time.monotonic()
            job = step.build()
            result = self.guard.stylize(job)  # checked; a failed frame retried once
            image = finish(job, result.image) if finish else result.image
            seconds = time.monotonic() - began
            _store(step, image, result, seconds)
            computed += 1
            left -= 1
            timings.append(seconds)
            self._report(step.frame, position, len(steps), result, timings, left, seconds)
        return computed

    def _report(self, frame: int, position: int, total: int, result: FrameResult | None,
                timings: list[float], remaining: int, seconds: float = 0.0) -> None:
        if self.on_frame is None:
            return
        eta = eta_seconds(timings, remaining)
        self.on_frame(
            FrameProgress(
                frame=frame, position=position, total=total, seconds=seconds,
                iterations=result.iterations if result else 0,
                losses=result.losses if result else {}, skipped=result is None,
                eta_seconds=eta,
            )
        )

    def _encode(self, info: SourceInfo, run: RunFolder, frames: list[int]) -> None:
        remove_partials(self.s.output)  # left by a killed render of this run folder
        if self.plan is not None:
            return postprod.write_output(
                self.s, info, run, frames, self.plan, warn=self.warnings.append,
                encode=partial(self._encode_video, info, frames),
            )
        paths = [run.frame_path(f) for f in frames]
        if is_sequence_pattern(str(self.s.output)):
            write_sequence(paths, str(self.s.output), bit_depth=self.s.bit_depth,
                           start=frames[0])
            return
        self._encode_video(info, frames, paths, False)

    def _encode_video(self, info: SourceInfo, frames: list[int], paths: list[Path],
                      alpha: bool, tags: VideoTags | None = None) -> None:
        encode_video(
            paths,
            self.s.output,
            fps=info.fps,
            codec=self.s.codec or "h264",
            audio_source=info.path if info.has_audio else None,
            audio_start=info.video_start + float((frames[0] - info.first) / info.fps),
            audio_duration=float(len(frames) / info.fps),
            crf=self.s.crf,
            timecode=advance(info.timecode, info.fps, frames[0] - info.first)
            if info.timecode else None,
            alpha=alpha,
            tags=tags or VideoTags(pixel_aspect=info.pixel_aspect),
        )

def _within_memory(chain: Callable[[jobs.RenderContext], int], ctx: jobs.RenderContext,
                   network: LossNetwork) -> int:
    """``chain(ctx)``; running out of memory stops it with the options that help (the
    frames finished so far are stored already)."""
    try:
        return chain(ctx)
    except (torch.OutOfMemoryError, RuntimeError) as exc:
        if not memory.is_out_of_memory(exc):
            raise
        failed = next((f for f in ctx.frames if not ctx.run.is_done(f)), ctx.frames[-1])
        raise memory.out_of_memory(ctx.size, ctx.settings.engine, ctx.device, failed,
                                   half=_half(network)) from None


def _recovered(renderer: Renderer, event: recovery.Recovery) -> None:
    """A frame that failed and was recovered: in the run's log and the warnings."""
    renderer.warnings.append(f"{event.label}: {event.problem}; recovered with "
                             f"{event.fallback}")
    if renderer.run_folder is not None:
        runlog.append(renderer.run_folder.root, "frame-recovered", frame=event.frame,
                      label=event.label, problem=event.problem, fallback=event.fallback)


def _take_lock(run: RunFolder, warnings: list[str]) -> RunLock:
    """The run folder's lock (refused when another render holds it); a takeover warns."""
    lock = RunLock(run.root)
    took_over = lock.acquire()
    if took_over is not None:
        warnings.append(took_over)
        runlog.append(run.root, "lock-taken-over", message=took_over)
    return lock


def _with_space_needed(run: RunFolder | None, exc: DiskFull) -> DiskFull:
    """``exc`` with the space the rest of the render needs (frames left x frame size)."""
    if run is None or not run.exists():
        return exc
    need = space_needed(run, exc.needed)
    if need <= exc.needed:
        return exc
    free = free_bytes(Path(exc.folder))
    return DiskFull(
        f"no space left in {exc.folder}: the rest of the render needs about "
        f"{megabytes(need)} there" + (f" ({megabytes(free)} free)" if free is not None else "")
        + "; free space there and run the same command to resume",
        folder=exc.folder, needed=need,
    )


def space_needed(run: RunFolder, at_least: int) -> int:
    """Bytes the frames not yet stored will take (the stored frames' mean size each), with
    room for their records and the output."""
    try:
        start, end = run.read_manifest()["pixels"]["frames"]
    except (VideostyleError, KeyError, TypeError, ValueError):  # no readable manifest
        return at_least
    frames = range(start, end + 1)
    done = run.done_frames(frames)
    sizes = [run.frame_path(f).stat().st_size for f in done[-10:]]
    each = sum(sizes) / len(sizes) if sizes else at_least
    left = len(frames) - len(done)
    return max(at_least, int(left * (each + 4096) * 2))  # frames, records, the output



def frame_numbers(s: RenderSettings, info: SourceInfo) -> list[int]:
    """The source's frame numbers the render covers (``--frames``, checked)."""
    start, end = s.frames
    try:
        first, last = check_range(info, start, end)
    except InputError:
        raise InputError(
            f"{opt('frames')} {start if start is not None else ''}:"
            f"{end if end is not None else ''} is outside the source's frames "
            f"{info.first}..{info.last}"
        ) from None
    return list(range(first, last + 1))


def render_size(s: RenderSettings, info: SourceInfo) -> tuple[int, int]:
    """``(width, height)`` of the render."""
    longest = s.image.size
    if longest is None and s.max_size is not None:
        longest = min(s.max_size, max(info.width, info.height))
    return fit_size(info.width, info.height, longest)


def _half(network: LossNetwork) -> bool:
    """Whether the loss network runs in a 16-bit type (half the activation memory)."""
    return getattr(network, "autocast", None) is not None


def _store(step: _Step, image: np.ndarray, result: FrameResult, seconds: float) -> None:
    png = png16(image)
    RunFolder.commit(
        step.png, step.record, png,
        FrameRecord(frame=step.frame, sha256=sha256_bytes(png), seconds=round(seconds, 3),
                    iterations=result.iterations, losses=result.losses,
                    scales=[list(scale) for scale in result.scales]),
    )


def eta_seconds(seconds: list[float], remaining: int) -> float | None:
    """The time ``remaining`` frames take: the mean of the last ten of ``seconds`` (frames
    in order), leaving out the first when there are others (a chain's first frame costs
    several later ones); None before any frame."""
    recent = (seconds[1:] or seconds)[-10:]
    return sum(recent) / len(recent) * remaining if recent else None


def _recorded_seconds(records: Iterable[Path]) -> list[float]:
    """The seconds stored in the records of steps already done (they seed the ETA)."""
    import json

    seconds = []
    for path in records:
        try:
            seconds.append(float(json.loads(path.read_text())["seconds"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return seconds


class _NoFlow:
    """Stands in for a flow source when a render uses no flow."""

    def __enter__(self) -> _NoFlow:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def get(self, a: int, b: int) -> np.ndarray:  # pragma: no cover - never called
        raise InputError("this render uses no optical flow")


def status(target: Path) -> dict[str, Any]:
    """What a run folder (or the output it belongs to) holds: done, left, settings, ETA."""
    target = Path(target)
    run = RunFolder(target if (target / "manifest.json").is_file() else default_workdir(target))
    manifest = run.read_manifest()
    start, end = manifest["pixels"]["frames"]
    frames = list(range(start, end + 1))
    done = run.done_frames(frames)
    seconds = [r.seconds for r in run.records(done)]
    left = len(frames) - len(done)
    eta = eta_seconds(seconds, left)
    mean = eta / left if eta is not None and left else (
        sum(seconds) / len(seconds) if seconds else None)
    steps = (_pass_steps(run, manifest, frames) or _chunk_steps(run, manifest, frames)
             if left else None)
    if steps is not None:  # frames that come at the end (after the last pass, or stitched
        # from the chunks): count the steps before them
        steps_done, steps_all, step_mean = steps
        mean = None
        eta = step_mean * (steps_all - steps_done) if step_mean is not None else None
    return {
        "workdir": str(run.root),
        "frames": len(frames),
        "done": len(done),
        "left": left,
        "first_frame": start,
        "last_frame": end,
        "seconds_per_frame": mean,
        "eta_seconds": eta,
        "steps": None if steps is None else steps[:2],  # passes or chunk frames
        "chunked": bool(manifest["pixels"].get("chunks")),
        "manifest": manifest,
        "running": running_holder(run.root),
        "recovered": [e for e in runlog.read(run.root) if e.get("event") == "frame-recovered"],
    }


def _pass_steps(run: RunFolder, manifest: dict[str, Any],
                frames: list[int]) -> tuple[int, int, float | None] | None:
    """A multi-pass render's progress: (frame passes stored, in all, mean seconds of one);
    None for a single-pass render. Counted from the passes' records (no image is read)."""
    multipass = manifest["pixels"].get("multipass")
    if not multipass:
        return None
    seconds = []
    for p in range(1, int(multipass[0]) + 1):
        for frame in frames:
            try:
                seconds.append(float(json.loads(
                    run.pass_path(p, frame).with_suffix(".json").read_text())["seconds"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
    mean = sum(seconds) / len(seconds) if seconds else None
    return len(seconds), int(multipass[0]) * len(frames), mean


def _chunk_steps(run: RunFolder, manifest: dict[str, Any],
                 frames: list[int]) -> tuple[int, int, float | None] | None:
    """A chunked render's progress: (frames its chunks have stored, frames of all its
    chunks, mean seconds of one); None for a render that is not chunked."""
    from .chunks import chunk_ranges

    chunking = manifest["pixels"].get("chunks")
    if not chunking:
        return None
    stored = total = 0
    seconds: list[float] = []
    for a, b in chunk_ranges(frames[0], frames[-1], int(chunking[0]), int(chunking[1])):
        chunk = RunFolder(chunk_folder(run.root, a, b))
        done = chunk.done_frames(range(a, b + 1)) if chunk.exists() else []
        seconds += [r.seconds for r in chunk.records(done)]
        stored, total = stored + len(done), total + b - a + 1
    return stored, total, sum(seconds) / len(seconds) if seconds else None
