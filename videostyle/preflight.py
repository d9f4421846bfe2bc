"""Every check a render makes before its first frame is decoded.

Each stage owns its checks (:func:`videostyle.video.check_output` for the encoder,
:meth:`videostyle.flow.FileFlow.first_missing` for a flow folder, :func:`probe` for the
source, ...); this module only calls them all, in one place, before any work. A preset's
value that the inputs cannot serve is adapted here (returned as a note); a value the user
gave is refused.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from . import flow as flowmod
from .config import INIT_LATER
from .errors import InputError, opt
from .jobs import style_mask
from .settings import RenderSettings
from .stylize import INIT_CHOICES
from .video import check_output, check_output_is_not_input, is_sequence_pattern, read_image
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
    if s.image.init not in INIT_CHOICES:
        read_image(s.image.init)
    for index in range(len(s.style_masks)):
        style_mask(s, index, frames[0])
        style_mask(s, index, frames[-1])
    if s.uses_flow() and is_flow_folder(s.flow):
        return check_flow_folder(s, frames)
    return s, []


def check_flow_folder(s: RenderSettings, frames: list[int]) -> tuple[RenderSettings, list[str]]:
    """The .flo files every frame needs exist; a preset's offsets adapt to the folder."""
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
