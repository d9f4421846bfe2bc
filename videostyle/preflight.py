"""Every check a render makes before its first frame is decoded.

Each stage owns its checks (:func:`videostyle.video.check_output` for the encoder,
:meth:`videostyle.flow.FileFlow.first_missing` for a flow folder, :func:`probe` for the
source, ...); this module only calls them all, in one place, before any work. A preset's
value that the inputs cannot serve is adapted here (returned as a note); a value the user
gave is refused.

Frame sizes are checked against the loss network's smallest side
(:func:`videostyle.networks.min_frame_side`, 16 px) and :data:`MAX_FRAME_SIDE`; an existing
output must be this run folder's own (:mod:`videostyle.ownership`) unless ``overwrite``;
what reading an input changes (alpha dropped, gray made RGB, a variable rate made even, a
mask stretched) comes back as one note each. ``videostyle image`` has its own entry,
:func:`check_still`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import flow as flowmod
from .atomic import free_bytes, megabytes
from .config import INIT_LATER, MAX_FRAME_SIDE
from .errors import DiskFull, InputError, opt
from .jobs import style_mask
from .networks import min_frame_side
from .ownership import check_output_owned, check_still_output
from .settings import ImageJob, RenderSettings, check_start_size
from .stylize import INIT_CHOICES, ImageSettings
from .video import (
    SourceInfo,
    check_output,
    check_output_is_not_input,
    fit_size,
    is_sequence_pattern,
    read_image,
)
from .video.images import channel_layout, conversion_notes, same_shape
from .video.plates import check_sequence
from .workdir import RunFolder


def check_settings(s: RenderSettings) -> None:
    """Values in range and inputs present: what needs no file opened."""
    if not s.styles:
        raise InputError(f"at least one {opt('style')} image is needed")
    for path in (s.source, *s.styles):
        if not is_sequence_pattern(str(path)) and not Path(path).exists():
            raise InputError(f"input {path} does not exist")
    if s.warp not in flowmod.WARP_INTERPOLATIONS:
        raise InputError(
            f"{opt('warp')} must be one of {', '.join(flowmod.WARP_INTERPOLATIONS)}, got {s.warp!r}"
        )
    if s.init not in INIT_LATER:
        raise InputError(f"{opt('init')} must be one of {', '.join(INIT_LATER)}, got {s.init!r}")
    if s.image.init not in INIT_CHOICES and not Path(s.image.init).is_file():
        raise InputError(
            f"{opt('first_frame_init')} must be one of {', '.join(INIT_CHOICES)} or an image file; "
            f"{s.image.init!r} is neither"
        )
    if any(j < 1 for j in s.long_term) or not s.long_term:
        raise InputError(f"{opt('long_term')} offsets must be >= 1, got {s.long_term}")
    if min(s.iterations) < 0:
        raise InputError(f"{opt('iterations')} must be >= 0, got {s.iterations}")
    if s.bit_depth not in (8, 16):
        raise InputError(f"{opt('bit_depth')} must be 8 or 16, got {s.bit_depth}")
    if s.passes < 1:
        raise InputError(f"{opt('passes')} must be >= 1, got {s.passes}")
    if s.passes > 1 and s.independent:
        raise InputError(f"{opt('passes')} and {opt('independent')} exclude each other")
    if s.style_masks and len(s.style_masks) != len(s.styles):
        raise InputError(
            f"{len(s.styles)} {opt('style')} but {len(s.style_masks)} {opt('style_mask')}; "
            f"give one each"
        )
    check_output(s.output, None if s.is_sequence_output() else (s.codec or "h264"))
    check_values(s.image, temporal_weight=s.temporal_weight, blend_weight=s.blend_weight)

    from .postprod import check as check_colours

    check_colours(s)


def inputs(s: RenderSettings) -> list[Path]:
    """Every file or folder the render reads besides its source."""
    paths = [Path(p) for p in s.styles] + [Path(m) for m in s.style_masks]
    if s.image.init not in INIT_CHOICES:
        paths.append(Path(s.image.init))
    if is_flow_folder(s.flow):
        paths.append(Path(s.flow))
    if s.engine.network != "vgg16" and os.environ.get("VIDEOSTYLE_WEIGHTS"):
        paths.append(Path(os.environ["VIDEOSTYLE_WEIGHTS"]))
    return paths


def is_flow_folder(flow: str) -> bool:
    return flow not in flowmod.ESTIMATOR_NAMES


def _same_or_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (resolved)."""
    try:
        resolved, root = Path(path).resolve(), Path(folder).resolve()
    except OSError:
        return False
    return resolved == root or root in resolved.parents


def check_inputs(
    s: RenderSettings, run: RunFolder, frames: list[int]
) -> tuple[RenderSettings, list[str]]:
    """Refuse what cannot work; returns the settings adapted to the inputs, and notes."""
    paths = inputs(s)
    check_output_is_not_input(s.output, source=s.source, inputs=paths)
    for path in (s.source, *paths):
        if Path(path).resolve() == run.root.resolve() or any(
            _same_or_inside(path, owned) for owned in run.owned()[1:]
        ):
            raise InputError(
                f"the run folder {run.root} holds the input {path}; a render writes and "
                f"clears its run folder: give {opt('workdir')} another folder"
            )
    check_output_owned(s.output, run.root, frames, overwrite=s.overwrite)
    if s.image.init not in INIT_CHOICES:
        read_image(s.image.init)
    if s.uses_flow() and is_flow_folder(s.flow):
        return check_flow_folder(s, frames)
    return s, []


def flow_pairs(frames: list[int], j: int) -> list[tuple[int, int]]:
    """The flows (both ways) that offset ``j`` needs between ``frames``."""
    return [p for f in frames if f - j >= frames[0] for p in ((f, f - j), (f - j, f))]


def check_flow_folder(s: RenderSettings, frames: list[int]) -> tuple[RenderSettings, list[str]]:
    """The .flo files every frame needs exist; a preset's offsets adapt to the folder."""
    files = flowmod.FileFlow(s.flow)
    offsets = (1,) if s.passes > 1 else tuple(sorted(set(s.long_term)))
    lacking: list[tuple[int, Path]] = []
    for j in offsets:
        missing = files.first_missing(flow_pairs(frames, j))
        if missing is None:
            continue
        if j == 1 or "long_term" in s.given:
            raise InputError(
                f"the flow folder {s.flow} lacks {missing.name} (long-term offset {j}); "
                "compute it, or "
                + (f"pass {opt('long_term')} with the offsets the folder has" if j > 1 else
                   f"let an estimator compute the flow ({opt('flow')} dis)")
            )
        lacking.append((j, missing))
    if not lacking:
        return s, []
    dropped = {j for j, _ in lacking}
    note = (
        f"the flow folder {s.flow} has no flow files for long-term offsets "
        f"{','.join(str(j) for j, _ in lacking)} (first missing: {lacking[0][1].name}); "
        "rendering without them"
    )
    adapted = dataclasses.replace(s, long_term=tuple(j for j in s.long_term if j not in dropped))
    return adapted, [note]


# ---- values, frame sizes, the source's format, style images, flow files, outputs -------


def check_values(image: ImageSettings, **more: float) -> None:
    """Every weight and scale a finite number >= 0 (NaN and inf would poison the loss)."""
    w = image.engine.weights
    values = {"content_weight": w.content, "style_weight": w.style, "tv_weight": w.tv,
              "chroma_weight": w.chroma, "style_balance": image.engine.style_balance,
              "style_scale": image.style_scale,
              "tolerance": image.engine.optimizer.tolerance, **more}
    for name, value in values.items():
        if not math.isfinite(value) or value < 0:
            raise InputError(f"{opt(name)} must be a finite number >= 0, got {value}")
    if image.style_scale <= 0:
        raise InputError(f"{opt('style_scale')} must be > 0, got {image.style_scale}")


def check_frame_size(what: str, size: tuple[int, int], *, painted: bool) -> None:
    """Refuse a frame the loss network cannot see (a side below :func:`min_frame_side`) or,
    when it is ``painted`` at that size, one larger than :data:`MAX_FRAME_SIDE`."""
    smallest, (w, h) = min_frame_side(), size
    if min(w, h) < smallest:
        raise InputError(
            f"{what} is {w}x{h}; the loss network needs at least {smallest}x{smallest} pixels "
            "(it halves an image four times before its deepest layer)"
            + (f"; give a larger {opt('size')}" if painted else "")
        )
    if painted and max(w, h) > MAX_FRAME_SIDE:
        raise InputError(
            f"{what} would be painted at {w}x{h}; frames are painted at most {MAX_FRAME_SIDE} "
            f"pixels on their longer side: give {opt('size')} {MAX_FRAME_SIDE} or less"
        )


def check_source(
    s: RenderSettings, info: SourceInfo, size: tuple[int, int], frames: list[int]
) -> list[str]:
    """The source's frames and the render size within limits (a given start size plans a
    coarser scale at the render's size, wherever that size came from); masks and flow files
    of the source's shape. Returns the notes on what reading the source changes (alpha
    dropped, gray made RGB, a variable rate made even) and on a default start size that
    plans no coarser scale there."""
    check_frame_size(f"the source {Path(info.path).name}", (info.width, info.height),
                     painted=False)
    check_frame_size("the render", size, painted=True)
    source = (info.width, info.height)
    later = check_sequence(info, frames[0], frames[-1])  # EXR frames line up; late alpha
    alpha = ([f"frame {later} of {Path(info.path).name} has an alpha channel, its first frame "
              "none: no alpha is carried; give the first frame one to keep it"]
             if later is not None else [])
    start = s.image.start_size if s.passes == 1 else None  # multi-pass: dropped, noted
    coarse = max(s.iterations) if s.independent else s.iterations[0]  # frames that run it
    notes = list(info.notes) + alpha + check_start_size(s.given, start, size,
                                                        s.image.scale_ratio, iterations=coarse)
    for index, spec in enumerate(s.style_masks):
        shapes = [style_mask(s, index, f).shape[1::-1] for f in (frames[0], frames[-1])]
        notes += mask_notes(spec, shapes, source)
    if s.uses_flow() and is_flow_folder(s.flow):
        offsets = (1,) if s.passes > 1 else tuple(sorted(set(s.long_term)))
        files = flowmod.FileFlow(s.flow)  # missing files: check_flow_folder's
        pairs = [p for j in offsets for p in flow_pairs(frames, j) if files.path(*p).is_file()]
        files.check(pairs, source)
    return notes


def mask_notes(
    spec: str | Path, shapes: list[tuple[int, ...]], frame: tuple[int, int]
) -> list[str]:
    """One note when a mask (of ``shapes`` ``(w, h)``) has another shape than the frames:
    it is stretched to them (masks are resized to the frame size; a scaled one is fine)."""
    for w, h in shapes:
        if not same_shape((w, h), frame):
            return [f"the mask {spec} is {w}x{h}, another shape than the frames "
                    f"({frame[0]}x{frame[1]}); it is stretched to them"]
    return []


def read_styles(s: RenderSettings | ImageJob) -> tuple[list[np.ndarray], list[str]]:
    """Each style image, read once, and notes on what reading it changed; a style smaller
    than the loss network's minimum is refused (it holds no texture to paint with)."""
    styles, notes = [], []
    for path in s.styles:
        image = read_image(path)
        check_frame_size(f"the style image {Path(path).name}", image.shape[1::-1],
                         painted=False)
        notes += conversion_notes(f"the style image {Path(path).name}",
                                  *channel_layout(Path(path)))
        styles.append(image)
    return styles, notes


@dataclass(frozen=True)
class StillInputs:
    """What ``videostyle image`` reads, read once, and the notes on what reading changed."""

    content: np.ndarray
    styles: list[np.ndarray]
    masks: list[np.ndarray]
    init: np.ndarray | None
    notes: list[str]
    size: tuple[int, int]  # (width, height) of the output


def _check_space(folder: Path, output: Path, pixels_bytes: int) -> None:
    """Refuse a still whose output would not fit in the space left in ``folder``: its
    pixels uncompressed (what a PNG or TIFF needs at most) and 64 kB for the rest."""
    needed = pixels_bytes + 65536
    free = free_bytes(folder)
    if free is not None and free < needed:
        raise DiskFull(f"{output} needs up to {megabytes(needed)} but {folder} has "
                       f"{megabytes(free)} free; free space there or write it elsewhere",
                       folder=str(folder), needed=needed)


def check_still(job: ImageJob) -> StillInputs:
    """Every check of ``videostyle image`` before any work; returns its inputs, read."""
    check_values(job.settings)
    check_still_output(job.output, overwrite=job.overwrite)
    folder = job.output.absolute().parent  # created when missing: its nearest existing one
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"the output folder {folder} is not writable; choose another one")
    content = read_image(job.content)
    shape = (content.shape[1], content.shape[0])
    check_frame_size(f"the content image {job.content.name}", shape, painted=False)
    size = fit_size(*shape, job.settings.size)
    check_frame_size("the output", size, painted=True)
    _check_space(folder, job.output, size[0] * size[1] * 3 * job.bit_depth // 8)
    start_notes = check_start_size(job.given, job.settings.start_size, size,
                                   job.settings.scale_ratio,
                                   iterations=job.settings.engine.optimizer.iterations)
    styles, notes = read_styles(job)
    notes = conversion_notes(f"the content image {job.content.name}",
                             *channel_layout(job.content)) + notes + start_notes
    masks = []
    for path in job.masks:
        mask = read_image(path)
        notes += mask_notes(path, [mask.shape[1::-1]], shape)
        masks.append(mask.mean(axis=2))
    init = read_image(job.init_file) if job.init_file else None
    return StillInputs(content, styles, masks, init, notes, size)
