"""The render stage chain: decode -> flow -> init -> optimise -> store -> encode.

:class:`Renderer` is the only place that knows the order of the stages. Each stage is a
short call into its own module (:mod:`video`, :mod:`flow`, :mod:`optimize`,
:mod:`workdir`); data between them are numpy images ``(H, W, 3)`` RGB in ``[0, 1]`` on
disk in the run folder, addressed by the source's 1-based frame numbers.

Determinism and resume: every input of a frame's optimisation is read back from the run
folder (content frames, stored stylised neighbours, cached flows), never taken from
memory, so a resumed render computes exactly what an uninterrupted one computes
(byte-identical on the same CPU, thread count and torch build).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from . import __version__
from . import flow as flowmod
from .config import INIT_LATER
from .errors import InputError, Interrupted
from .networks import LossNetwork, sha256_file
from .optimize import (
    Objective,
    OptimizeResult,
    ProgressCallback,
    StyleTarget,
    TemporalTerm,
    optimize,
    random_init,
)
from .settings import RenderSettings
from .stylize import (
    INIT_CHOICES,
    make_init,
    mask_tensor,
    prepare_styles,
    to_image,
    to_tensor,
)
from .video import (
    SourceInfo,
    check_output,
    check_output_is_not_input,
    check_range,
    encode_video,
    fit_size,
    is_sequence_pattern,
    probe,
    read_frames,
    read_image,
    sequence_frames,
    write_image,
    write_sequence,
)
from .workdir import FrameRecord, RunFolder, default_workdir, sha256_bytes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameProgress:
    """One finished (or skipped) frame, as handed to the frame callback."""

    frame: int
    position: int  # 1-based position in the rendered range
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


def _is_flow_folder(flow: str) -> bool:
    return flow not in flowmod.ESTIMATOR_NAMES


def _check_settings(s: RenderSettings) -> None:
    """Values in range and inputs present: what needs no file opened."""
    if not s.styles:
        raise InputError("at least one --style image is needed")
    for path in (s.source, *s.styles):
        if not is_sequence_pattern(str(path)) and not Path(path).exists():
            raise InputError(f"input {path} does not exist")
    if s.warp not in flowmod.WARP_INTERPOLATIONS:
        raise InputError(
            f"--warp must be one of {', '.join(flowmod.WARP_INTERPOLATIONS)}, got {s.warp!r}"
        )
    if s.init not in INIT_LATER:
        raise InputError(f"--init must be one of {', '.join(INIT_LATER)}, got {s.init!r}")
    if s.image.init not in INIT_CHOICES and not Path(s.image.init).is_file():
        raise InputError(
            f"--first-frame-init must be one of {', '.join(INIT_CHOICES)} or an image file; "
            f"{s.image.init!r} is neither"
        )
    if any(j < 1 for j in s.long_term) or not s.long_term:
        raise InputError(f"--long-term offsets must be >= 1, got {s.long_term}")
    if min(s.iterations) < 0:
        raise InputError(f"--iterations must be >= 0, got {s.iterations}")
    if s.bit_depth not in (8, 16):
        raise InputError(f"--bit-depth must be 8 or 16, got {s.bit_depth}")
    if s.passes < 1:
        raise InputError(f"--passes must be >= 1, got {s.passes}")
    if s.passes > 1 and s.independent:
        raise InputError("--passes and --independent exclude each other")
    if s.style_masks and len(s.style_masks) != len(s.styles):
        raise InputError(
            f"{len(s.styles)} --style but {len(s.style_masks)} --style-mask; give one each"
        )
    check_output(s.output, None if s.is_sequence_output() else (s.codec or "h264"))


def _inputs(s: RenderSettings) -> list[Path]:
    """Every file or folder the render reads besides its source."""
    paths = [Path(p) for p in s.styles] + [Path(m) for m in s.style_masks]
    if s.image.init not in INIT_CHOICES:
        paths.append(Path(s.image.init))
    if _is_flow_folder(s.flow):
        paths.append(Path(s.flow))
    if s.engine.network != "vgg16" and os.environ.get("VIDEOSTYLE_WEIGHTS"):
        paths.append(Path(os.environ["VIDEOSTYLE_WEIGHTS"]))
    return paths


def _same_or_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (resolved)."""
    try:
        resolved, root = Path(path).resolve(), Path(folder).resolve()
    except OSError:
        return False
    return resolved == root or root in resolved.parents


def _environment(device: torch.device) -> dict[str, Any]:
    return {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }


def pixel_settings(s: RenderSettings, info: SourceInfo, start: int, end: int,
                   size: tuple[int, int], weights_id: str) -> dict[str, Any]:
    """Every setting that changes pixels, in JSON form (what resume compares)."""
    engine = dataclasses.asdict(s.engine)
    image = dataclasses.asdict(s.image)
    image.pop("engine")
    return {
        "source": info.fingerprint,
        "frames": [start, end],
        "size": list(size),
        "styles": [sha256_file(Path(p)) for p in s.styles],
        "style_masks": list(s.style_masks),
        "image": image,
        "engine": engine,
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
    }


def png16(image: np.ndarray) -> bytes:
    """Encode ``(H, W, 3)`` float RGB ``[0, 1]`` as a 16-bit PNG (what frames are stored as)."""
    q = np.rint(np.clip(image, 0.0, 1.0) * 65535.0).astype(np.uint16)
    ok, data = cv2.imencode(".png", np.ascontiguousarray(q[..., ::-1]))
    if not ok:
        raise InputError("could not encode a frame as PNG")
    return data.tobytes()


class Renderer:
    """Runs one render, resuming from its run folder.

    Args:
        settings: the render.
        network: the loss network (already on ``device``).
        device: where to optimise.
        on_frame: called after every frame (also for frames already done).
        on_iteration: called after every optimiser iteration.
        on_note: called with a note when a preset's value is adapted to the inputs.
        should_stop: polled between iterations; True abandons the current frame and
            raises :class:`~videostyle.errors.Interrupted`.
    """

    def __init__(
        self,
        settings: RenderSettings,
        *,
        network: LossNetwork,
        device: torch.device,
        on_frame: FrameCallback | None = None,
        on_iteration: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        self.s = settings
        self.network = network
        self.device = device
        self.on_frame = on_frame
        self.on_iteration = on_iteration
        self.should_stop = should_stop
        self.on_note = on_note
        self.warnings: list[str] = []

    # ---- the chain ---------------------------------------------------------------------
    def run(self) -> RenderResult:
        s = self.s
        _check_settings(s)
        info = probe(s.source, fps=s.fps)  # 1. what the source is
        start, end = self._range(info)
        frames = list(range(start, end + 1))
        longest = s.image.size
        if longest is None and s.max_size is not None:
            longest = min(s.max_size, max(info.width, info.height))
        size = fit_size(info.width, info.height, longest)
        self._size = size
        run = RunFolder(s.workdir or default_workdir(s.output))
        self._preflight(run, frames)  # every check that can refuse, before any work
        s = self.s
        self.warnings += run.open(  # 2. the run folder (refuses a mismatched resume)
            {
                "package_version": __version__,
                "source_info": {
                    "path": str(info.path), "fps": str(info.fps), "frames": info.n_frames,
                    "first": info.first, "width": info.width, "height": info.height,
                    "audio": info.has_audio,
                },
                "weights": dataclasses.asdict(self.network.weights),
                "pixels": pixel_settings(
                    s, info, start, end, size,
                    f"{self.network.weights.network}:{self.network.weights.sha256}",
                ),
                "environment": _environment(self.device),
            },
            restart=s.restart,
            range_may_change=s.passes == 1,
        )
        self._decode(info, run, frames, size)  # 3. source frames at the render size
        targets = self._style_targets(size)  # 4. style Gram matrices, once
        computed = 0
        with self._flows(run) as flows:  # 5. optical flow, ahead of the optimiser
            if s.passes > 1:  # 6. optimise (and store) every frame
                computed = self._multipass(run, frames, targets, flows)
            else:
                computed = self._stylize_all(run, frames, targets, flows)
        self._encode(info, run, frames)  # 7. the output, at the source's exact rate
        return RenderResult(
            output=s.output, workdir=run.root, frames=len(frames), computed=computed,
            fps=info.fps, warnings=self.warnings,
        )

    # ---- checks before any work ----------------------------------------------------------
    def _preflight(self, run: RunFolder, frames: list[int]) -> None:
        """Refuse what cannot work before a frame is decoded; adapt preset values."""
        s = self.s
        inputs = _inputs(s)
        check_output_is_not_input(s.output, source=s.source, inputs=inputs)
        for path in (s.source, *inputs):
            if Path(path).resolve() == run.root.resolve() or any(
                _same_or_inside(path, owned) for owned in run.owned()[1:]
            ):
                raise InputError(
                    f"the run folder {run.root} holds the input {path}; a render writes and "
                    "clears its run folder: give --workdir another folder"
                )
        self._styles = [read_image(p) for p in s.styles]
        if s.image.init not in INIT_CHOICES:
            read_image(s.image.init)
        for index in range(len(s.style_masks)):
            self._mask_for(index, frames[0])
            self._mask_for(index, frames[-1])
        if s.uses_flow() and _is_flow_folder(s.flow):
            self._check_flow_folder(frames)

    def _check_flow_folder(self, frames: list[int]) -> None:
        """The .flo files every frame needs exist; preset offsets adapt to the folder."""
        s = self.s
        files = flowmod.FileFlow(s.flow)
        start = frames[0]
        offsets = (1,) if s.passes > 1 else tuple(sorted(set(s.long_term)))
        lacking: list[tuple[int, Path]] = []
        for j in offsets:
            pairs = [p for f in frames if f - j >= start for p in ((f, f - j), (f - j, f))]
            missing = files.first_missing(pairs)
            if missing is None:
                continue
            if j == 1 or "long_term" in s.given:
                raise InputError(
                    f"the flow folder {s.flow} lacks {missing.name} (long-term offset {j}); "
                    "compute it, or "
                    + ("pass --long-term with the offsets the folder has" if j > 1 else
                       "let an estimator compute the flow (--flow dis)")
                )
            lacking.append((j, missing))
        if lacking:
            self._note(
                f"the flow folder {s.flow} has no flow files for long-term offsets "
                f"{','.join(str(j) for j, _ in lacking)} (first missing: "
                f"{lacking[0][1].name}); rendering without them"
            )
            dropped = {j for j, _ in lacking}
            self.s = dataclasses.replace(
                s, long_term=tuple(j for j in s.long_term if j not in dropped)
            )

    def _note(self, message: str) -> None:
        if self.on_note is not None:
            self.on_note(message)

    # ---- stages ------------------------------------------------------------------------
    def _range(self, info: SourceInfo) -> tuple[int, int]:
        start, end = self.s.frames
        try:
            return check_range(info, start, end)
        except InputError:
            raise InputError(
                f"--frames {start if start is not None else ''}:"
                f"{end if end is not None else ''} is outside the source's frames "
                f"{info.first}..{info.last}"
            ) from None

    def _decode(
        self, info: SourceInfo, run: RunFolder, frames: list[int], size: tuple[int, int]
    ) -> None:
        missing = [f for f in frames if not run.content_path(f).is_file()]
        if not missing:
            return
        depth = 16 if info.bit_depth > 8 else 8
        for number, frame in read_frames(info, start=missing[0], end=missing[-1], size=size):
            if number in missing:
                write_image(run.content_path(number), frame, bit_depth=depth)

    def _style_targets(self, size: tuple[int, int]) -> list[StyleTarget]:
        """One target per style when masks place them, one blended target otherwise."""
        styles = self._styles
        self._style0 = styles[0]
        masks: list[np.ndarray | None] | None = None
        if self.s.style_masks:
            masks = [None] * len(styles)  # each frame's masks come in _frame_targets
        return prepare_styles(
            self.network, styles, content_size=size, settings=self.s.image, masks=masks,
            device=self.device,
        )

    def _mask_for(self, index: int, frame: int) -> np.ndarray:
        """Style ``index``'s mask for ``frame``: an image, or a sequence's file ``frame``."""
        spec = self.s.style_masks[index]
        path = Path(spec)
        if path.is_dir() or is_sequence_pattern(spec):
            numbered = dict(sequence_frames(spec))
            if frame not in numbered:
                raise InputError(
                    f"the mask sequence {spec} holds frames {min(numbered)}..{max(numbered)}; "
                    f"frame {frame} has no mask (mask files carry the frame numbers)"
                )
            path = numbered[frame]
        return read_image(path).mean(axis=2)

    def _frame_targets(
        self, targets: list[StyleTarget], frame: int, size: tuple[int, int]
    ) -> list[StyleTarget]:
        if not self.s.style_masks:
            return targets
        return [
            dataclasses.replace(
                t, mask=mask_tensor(self._mask_for(k, frame), size, self.device)
            )
            for k, t in enumerate(targets)
        ]

    def _flows(self, run: RunFolder) -> flowmod.FlowPrefetcher | _NoFlow | _FolderFlow:
        if not self._temporal():
            return _NoFlow()
        if _is_flow_folder(self.s.flow):
            return _FolderFlow(flowmod.FileFlow(self.s.flow), self._size)
        cache = flowmod.FlowCache(
            run.flow_dir,
            flowmod.make_estimator(self.s.flow),
            lambda i: read_image(run.content_path(i)),
        )
        return flowmod.FlowPrefetcher(cache)

    def _temporal(self) -> bool:
        return self.s.uses_flow()

    def _pairs(self, frame: int, start: int) -> list[tuple[int, int]]:
        pairs = []
        for j in self._offsets(frame, start):
            pairs += [(frame, frame - j), (frame - j, frame)]
        return pairs

    def _offsets(self, frame: int, start: int) -> list[int]:
        return [j for j in sorted(set(self.s.long_term)) if frame - j >= start]

    def _stylize_all(
        self,
        run: RunFolder,
        frames: list[int],
        targets: list[StyleTarget],
        flows: Any,
    ) -> int:
        start = frames[0]
        todo = [f for f in frames if not run.is_done(f)]
        if hasattr(flows, "schedule"):
            flows.schedule(p for f in todo for p in self._pairs(f, start))
        timings = [r.seconds for r in run.records(frames) if r.frame not in todo]
        computed = 0
        for position, frame in enumerate(frames, start=1):
            if frame not in todo:
                self._report(frame, position, len(frames), None, timings, len(todo) - computed)
                continue
            if self.should_stop is not None and self.should_stop():
                raise Interrupted(f"stopped before frame {frame}")
            began = time.monotonic()
            result = self._stylize_frame(run, frame, start, targets, flows)
            seconds = time.monotonic() - began
            image = to_image(result.image)
            if self.s.image.original_colors:
                from .color import original_colors

                image = original_colors(
                    image, read_image(run.content_path(frame)), self.s.image.original_colors
                )
            self._store(run.frame_path(frame), run.record_path(frame), frame, image,
                        result, seconds, run)
            computed += 1
            timings.append(seconds)
            self._report(frame, position, len(frames), result, timings, len(todo) - computed,
                         seconds=seconds)
        return computed

    # ---- multi-pass (Ruder et al., artistic_video_multiPass.lua) ------------------------
    def _store(
        self,
        png_path: Path,
        record_path: Path,
        frame: int,
        image: np.ndarray,
        result: OptimizeResult,
        seconds: float,
        run: RunFolder,
    ) -> None:
        png = png16(image)
        run.commit(
            png_path,
            record_path,
            png,
            FrameRecord(
                frame=frame, sha256=sha256_bytes(png), seconds=round(seconds, 3),
                iterations=result.iterations, losses=result.losses,
            ),
        )

    def _multipass(
        self,
        run: RunFolder,
        frames: list[int],
        targets: list[StyleTarget],
        flows: Any,
    ) -> int:
        """All frames from one shared noise image, passes alternating direction.

        Pass ``p`` (1-based) runs forward when odd and backward when even. A frame of pass
        ``p > 1`` starts from its pass ``p - 1`` result blended with the neighbour just
        processed in this pass (warped into it):
        ``x' = (x + b c w(x_nb) + b' c' w(x_other)) / (1 + b c + b' c')``, with
        ``b = blend_weight`` for that neighbour and ``b' = blend_weight_other`` (the
        reference's ``blendWeight_lastPass``, 0) for the neighbour from the previous pass.
        The temporal loss (against that neighbour) is on from ``temporal_after_pass``.
        Each pass/frame result is stored, so a render resumes inside a pass.
        """
        s = self.s
        start, end = frames[0], frames[-1]
        if hasattr(flows, "schedule"):
            flows.schedule(p for f in frames[1:] for p in ((f, f - 1), (f - 1, f)))
        computed = 0
        total = s.passes * len(frames)
        timings: list[float] = []
        for p in range(1, s.passes + 1):
            order = frames if p % 2 == 1 else frames[::-1]
            for k, frame in enumerate(order):
                position = (p - 1) * len(frames) + k + 1
                path = run.pass_path(p, frame)
                record = path.with_suffix(".json")
                if run.is_committed(path, record):
                    continue
                if self.should_stop is not None and self.should_stop():
                    raise Interrupted(f"stopped before pass {p}, frame {frame}")
                began = time.monotonic()
                result = self._multipass_frame(run, p, frame, start, end, targets, flows)
                seconds = time.monotonic() - began
                self._store(path, record, frame, to_image(result.image), result, seconds, run)
                computed += 1
                timings.append(seconds)
                self._report(frame, position, total, result, timings,
                             total - position, seconds=seconds)
        for frame in frames:  # the last pass is the result
            if run.is_done(frame):
                continue
            last = run.pass_path(s.passes, frame)
            data = last.read_bytes()
            if s.image.original_colors:
                from .color import original_colors

                image = original_colors(
                    read_image(last), read_image(run.content_path(frame)),
                    s.image.original_colors,
                )
                data = png16(image)
            rec = json.loads(last.with_suffix(".json").read_text())
            rec["sha256"] = sha256_bytes(data)
            run.commit(run.frame_path(frame), run.record_path(frame), data, FrameRecord(**rec))
        return computed

    def _content(self, run: RunFolder, frame: int) -> tuple[torch.Tensor, tuple[int, int]]:
        """The stored content frame as ``(1, 3, H, W)`` on the device, and its ``(w, h)``."""
        image = read_image(run.content_path(frame))
        return to_tensor(image, self.device), (image.shape[1], image.shape[0])

    def _multipass_frame(
        self,
        run: RunFolder,
        p: int,
        frame: int,
        start: int,
        end: int,
        targets: list[StyleTarget],
        flows: Any,
    ) -> OptimizeResult:
        s = self.s
        content, size = self._content(run, frame)
        forward = p % 2 == 1
        # The neighbour this pass has just produced, and the one from the previous pass.
        nb = frame - 1 if forward else frame + 1
        other = frame + 1 if forward else frame - 1
        near = self._warped_neighbour(run, p, frame, nb, start, end, flows)
        far = self._warped_neighbour(run, p - 1, frame, other, start, end, flows)
        if p == 1:  # every frame from the same start: by default the shared noise image
            image = read_image(s.image.init) if s.image.init not in INIT_CHOICES else None
            init = make_init(
                s.image.init, content=content, style=self._style0, seed=s.engine.seed,
                image=image,
            )
        else:
            x_np = read_image(run.pass_path(p - 1, frame))
            num = x_np.astype(np.float64)
            den = np.ones(x_np.shape[:2] + (1,))
            for warped, b in ((near, s.blend_weight), (far, s.blend_weight_other)):
                if warped is None or b == 0:
                    continue
                image, c = warped
                num += b * c[..., None] * image
                den += b * c[..., None]
            init = to_tensor((num / den).astype(np.float32), self.device)
        temporal: list[TemporalTerm] = []
        if p >= s.temporal_after_pass and near is not None and s.temporal_weight > 0:
            image, c = near
            temporal = [self._term(image, c)]
        return self._optimise(
            content, init, self._frame_targets(targets, frame, size), temporal,
            s.iterations[0], where=f"pass {p}, frame {frame}",
        )

    def _warped_neighbour(
        self, run: RunFolder, p: int, frame: int, nb: int, start: int, end: int, flows: Any
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Pass ``p``'s result for frame ``nb`` warped into ``frame``, and its weights."""
        if p < 1 or not start <= nb <= end:
            return None
        image = read_image(run.pass_path(p, nb))
        to_nb, from_nb = flows.get(frame, nb), flows.get(nb, frame)
        warped = flowmod.warp(image, to_nb, interpolation=self.s.warp)
        return warped, flowmod.warp_weights(to_nb, from_nb)

    def _report(
        self,
        frame: int,
        position: int,
        total: int,
        result: OptimizeResult | None,
        timings: list[float],
        remaining: int,
        seconds: float = 0.0,
    ) -> None:
        if self.on_frame is None:
            return
        recent = timings[-10:]
        eta = sum(recent) / len(recent) * remaining if recent else None
        self.on_frame(
            FrameProgress(
                frame=frame, position=position, total=total, seconds=seconds,
                iterations=result.iterations if result else 0,
                losses=result.losses if result else {}, skipped=result is None,
                eta_seconds=eta,
            )
        )

    def _stylize_frame(
        self,
        run: RunFolder,
        frame: int,
        start: int,
        targets: list[StyleTarget],
        flows: Any,
    ) -> OptimizeResult:
        s = self.s
        content, size = self._content(run, frame)
        iterations = s.iterations[0] if frame == start else s.iterations[1]
        if iterations == 0:  # a pass-through: the I/O without optimisation
            return OptimizeResult(image=content, losses={}, initial_losses={}, iterations=0,
                                  stop_reason="iterations")
        first = frame == start or s.independent
        init = self._init(run, frame, content, flows, first)
        temporal: list[TemporalTerm] = []
        if not first and s.temporal_weight > 0:
            temporal = self._temporal_terms(run, frame, start, flows)
        return self._optimise(
            content, init, self._frame_targets(targets, frame, size), temporal, iterations,
            where=f"frame {frame}",
        )

    def _optimise(
        self,
        content: torch.Tensor,
        init: torch.Tensor,
        targets: list[StyleTarget],
        temporal: list[TemporalTerm],
        iterations: int,
        *,
        where: str,
    ) -> OptimizeResult:
        """One frame's optimisation; the temporal weight applies only with temporal terms."""
        s = self.s
        engine = dataclasses.replace(
            s.engine,
            weights=dataclasses.replace(
                s.engine.weights, temporal=s.temporal_weight if temporal else 0.0
            ),
            optimizer=dataclasses.replace(s.engine.optimizer, iterations=iterations),
        )
        objective = Objective(
            self.network, content=content, styles=targets, settings=engine, temporal=temporal
        )
        result = optimize(
            objective,
            init,
            settings=engine.optimizer,
            callback=self.on_iteration,
            should_stop=self.should_stop,
        )
        if result.stop_reason == "interrupted":
            raise Interrupted(f"stopped while rendering {where}")
        return result

    def _init(
        self, run: RunFolder, frame: int, content: torch.Tensor, flows: Any, first: bool
    ) -> torch.Tensor:
        s = self.s
        seed = s.engine.seed * 1_000_003 + frame  # the same noise when a run resumes
        if first:
            image = None
            if s.image.init not in INIT_CHOICES:
                image = read_image(s.image.init)
            return make_init(
                s.image.init, content=content, style=self._style0, seed=seed, image=image
            )
        if s.init == "content":
            return content.clone()
        if s.init == "random":
            return random_init(tuple(content.shape), seed=seed, device=content.device)
        previous = read_image(run.frame_path(frame - 1))
        if s.init == "prev":
            return to_tensor(previous, self.device)
        warped = flowmod.warp(previous, flows.get(frame, frame - 1), interpolation=s.warp)
        return to_tensor(warped, self.device)

    def _term(self, warped: np.ndarray, weights: np.ndarray) -> TemporalTerm:
        """A temporal term from a warped frame ``(H, W, 3)`` and its weights ``(H, W)``."""
        return TemporalTerm(
            warped=to_tensor(warped, self.device),
            weights=torch.from_numpy(np.ascontiguousarray(weights))[None, None].to(self.device),
        )

    def _temporal_terms(
        self, run: RunFolder, frame: int, start: int, flows: Any
    ) -> list[TemporalTerm]:
        offsets = self._offsets(frame, start)
        weights = [
            flowmod.warp_weights(flows.get(frame, frame - j), flows.get(frame - j, frame))
            for j in offsets
        ]
        weights = flowmod.closest_first(weights)
        terms = []
        for j, c in zip(offsets, weights, strict=True):
            earlier = read_image(run.frame_path(frame - j))
            warped = flowmod.warp(earlier, flows.get(frame, frame - j), interpolation=self.s.warp)
            terms.append(self._term(warped, c))
        return terms

    def _encode(self, info: SourceInfo, run: RunFolder, frames: list[int]) -> None:
        paths = [run.frame_path(f) for f in frames]
        if is_sequence_pattern(str(self.s.output)):
            write_sequence(paths, str(self.s.output), bit_depth=self.s.bit_depth,
                           start=frames[0])
            return
        start = frames[0]
        encode_video(
            paths,
            self.s.output,
            fps=info.fps,
            codec=self.s.codec or "h264",
            audio_source=info.path if info.has_audio else None,
            audio_start=float((start - info.first) / info.fps),
            audio_duration=float(len(frames) / info.fps),
        )


class _NoFlow:
    """Stands in for a flow source when a render uses no flow."""

    def __enter__(self) -> _NoFlow:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def get(self, a: int, b: int) -> np.ndarray:  # pragma: no cover - never called
        raise InputError("this render uses no optical flow")


class _FolderFlow:
    """A :class:`videostyle.flow.FileFlow` usable as a context manager.

    Flows stored at another resolution (usually the source's) are rescaled to the render
    size, vectors included.
    """

    def __init__(self, files: flowmod.FileFlow, size: tuple[int, int]) -> None:
        self.files = files
        self.size = size

    def __enter__(self) -> _FolderFlow:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def get(self, a: int, b: int) -> np.ndarray:
        flow = self.files.get(a, b)
        if (flow.shape[1], flow.shape[0]) != self.size:
            flow = flowmod.resize_flow(flow, width=self.size[0], height=self.size[1])
        return flow


def status(target: Path) -> dict[str, Any]:
    """What a run folder (or the output it belongs to) holds: done, left, settings, ETA."""
    target = Path(target)
    run = RunFolder(target if (target / "manifest.json").is_file() else default_workdir(target))
    manifest = run.read_manifest()
    start, end = manifest["pixels"]["frames"]
    frames = list(range(start, end + 1))
    done = run.done_frames(frames)
    records = run.records(done)
    mean = sum(r.seconds for r in records) / len(records) if records else None
    left = len(frames) - len(done)
    return {
        "workdir": str(run.root),
        "frames": len(frames),
        "done": len(done),
        "left": left,
        "first_frame": start,
        "last_frame": end,
        "seconds_per_frame": mean,
        "eta_seconds": mean * left if mean is not None else None,
        "manifest": manifest,
    }
