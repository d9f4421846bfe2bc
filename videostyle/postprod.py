"""The plate stages of a colour-managed render: plates into the run folder, and the
finished frames out, with the source's colour space, alpha, numbering and pixel type.

A render takes this path when its colours are managed (an EXR source or output, a colour
space given, see :mod:`videostyle.colormanage`) or its source has alpha; an sRGB render
without alpha stays on the plain path, byte for byte as before.

In: each source frame becomes ``content/N.png``, the plate converted to the working space
and clipped to [0, 1] (what the stylizer sees, 16 bits). Out: the plates are read from
the source again (the same reading, so the same values; the manifest's fingerprint of the
source guards a resume), converted to the working space unclipped, and finished as
the plate plus the stylisation's change in the output colour space (see
:func:`videostyle.colormanage.finished`), with the alpha: unchanged when the render keeps
the source's size, else resized (``INTER_AREA``). An EXR output keeps the source's pixel
type, compression and layer prefix (half, :data:`~videostyle.video.exr.DEFAULT_COMPRESSION`
and no prefix for other sources), names its colour space in ``oiio:ColorSpace`` (and
``colorInteropID`` when the config gives one) and its rate in ``framesPerSecond``. Alpha is
carried as stored. An EXR's RGB is premultiplied by its alpha (OpenEXR's convention):
the stylizer sees it unpremultiplied where alpha is above 0, and the stylisation's change
is premultiplied by alpha before it is added to the plate; where alpha is 0 the source's
RGB is kept (nothing is added to what is behind). PNG/TIFF/video alpha is straight and
the RGB is used as it is. A video output names the output colour space in its colour tags
where they can (:func:`videostyle.colormanage.video_tags`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import colormanage
from .colormanage import ColourPlan
from .errors import opt
from .settings import RenderSettings
from .video import SourceInfo, VideoTags, is_sequence_pattern, read_image, write_image
from .video.exr import COMPRESSIONS, DEFAULT_COMPRESSION, timecode_attribute, write_exr
from .video.outputs import ALPHA_CODECS
from .video.plates import Plate, read_plates
from .video.timecode import advance
from .workdir import RunFolder


def plan_for(s: RenderSettings, info: SourceInfo) -> ColourPlan | None:
    """The colour plan of a render that takes the plate path, else None (plain path)."""
    exr_out = Path(str(s.output)).suffix.lower() == ".exr"
    managed = (s.input_colorspace or s.output_colorspace or info.exr is not None or exr_out
               or info.alpha)
    if not managed:
        return None
    return colormanage.plan(info, s.input_colorspace, s.output_colorspace)


def check(s: RenderSettings) -> None:
    """The colour spaces given exist in the config (before any work)."""
    if s.input_colorspace:
        colormanage.colorspace(s.input_colorspace, "input_colorspace")
    if s.output_colorspace:
        colormanage.colorspace(s.output_colorspace, "output_colorspace")


def decode(info: SourceInfo, run: RunFolder, frames: list[int], size: tuple[int, int],
           plan: ColourPlan) -> None:
    """Store the content frames (the plates in the working space, clipped, 16 bits) of
    ``frames`` not stored yet."""
    missing = [f for f in frames if not run.content_path(f).is_file()]
    if not missing:
        return
    wanted = set(missing)
    for plate in read_plates(info, start=missing[0], end=missing[-1], size=size):
        if plate.number in wanted:
            coverage = _coverage(info, plate, size)
            working = colormanage.to_working(plan, _straight(plate, coverage))
            write_image(run.content_path(plate.number), working, bit_depth=16)


def _coverage(info: SourceInfo, plate: Plate, size: tuple[int, int]) -> np.ndarray | None:
    """An EXR plate's alpha at the render size (float32), by which its RGB is
    premultiplied; None for other plates (their alpha is straight)."""
    if info.exr is None or plate.alpha is None:
        return None
    return _unit(_alpha(plate.alpha, size))[..., None]  # (h, w, 1)


def _straight(plate: Plate, a: np.ndarray | None) -> np.ndarray:
    """The plate's colour, unpremultiplied where its coverage ``a`` (an EXR's alpha:
    :func:`_coverage`) is above 0."""
    if a is None:
        return plate.rgb
    return np.where(a > 0, plate.rgb / np.where(a > 0, a, 1.0), plate.rgb).astype(np.float32)


def _alpha(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The alpha as stored at the source's size, else resized (float32; half stays half)."""
    if (alpha.shape[1], alpha.shape[0]) == size:
        return alpha
    resized = cv2.resize(_unit(alpha), size, interpolation=cv2.INTER_AREA)
    return resized.astype(np.float16) if alpha.dtype == np.float16 else resized


def _unit(alpha: np.ndarray) -> np.ndarray:
    """Alpha of any stored type as float32 in [0, 1] (integers scaled by their maximum)."""
    if np.issubdtype(alpha.dtype, np.integer):
        return alpha.astype(np.float32) / float(np.iinfo(alpha.dtype).max)
    return alpha.astype(np.float32)


def _finished(info: SourceInfo, run: RunFolder, frames: list[int], plan: ColourPlan,
              keep_alpha: bool, exr: bool) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """Each frame's output RGB and alpha; the plates are read from the source again (as
    the decode stage read them: the same values, so nothing but the 16-bit content frames
    needs to be kept in the run folder).

    The RGB is associated with the alpha as the output stores it: premultiplied in an EXR
    (``exr``), straight in a PNG, TIFF or ProRes 4444. An EXR plate's premultiplied colour
    going to a straight format is finished from its straight colour; a straight plate's
    going to an EXR is premultiplied. Without an alpha in the output, the colour is an EXR
    plate's premultiplied one (over black) and another plate's own."""
    first = read_image(run.frame_path(frames[0]))
    size = (first.shape[1], first.shape[0])
    for plate in read_plates(info, start=frames[0], end=frames[-1], size=size):
        stylised = read_image(run.frame_path(plate.number))
        content = read_image(run.content_path(plate.number))
        coverage = _coverage(info, plate, size)  # once: the colour and the finish use it
        straight = _straight(plate, coverage)
        working = colormanage.to_working(plan, straight)
        alpha = _alpha(plate.alpha, size) if keep_alpha and plate.alpha is not None else None
        if coverage is not None and alpha is not None and not exr:  # premultiplied -> straight
            out = colormanage.finished(plan, straight, working, content, stylised)
        else:
            out = colormanage.finished(plan, plate.rgb, working, content, stylised,
                                       coverage=coverage)
        if coverage is None and alpha is not None and exr:  # straight -> premultiplied
            out = out * _unit(alpha)[..., None]
        yield plate.number, out, alpha


def _exr_attributes(plan: ColourPlan) -> dict[str, Any]:
    attributes: dict[str, Any] = {"oiio:ColorSpace": plan.output}
    space = colormanage.config().getColorSpace(plan.output)
    interop = getattr(space, "getInteropID", lambda: "")()
    if interop:
        attributes["colorInteropID"] = str(interop)
    if str(interop) in colormanage.PRIMARIES:  # a linear space: its primaries too
        attributes["chromaticities"] = colormanage.PRIMARIES[str(interop)]
    return attributes


def write_output(
    s: RenderSettings, info: SourceInfo, run: RunFolder, frames: list[int], plan: ColourPlan,
    *, encode: Callable[[list[Path], bool, VideoTags], None],
    warn: Callable[[str], None],
) -> None:
    """Write the finished frames to ``s.output``: an EXR/PNG/TIFF sequence numbered as the
    frames, or a video through ``encode(frame_files, alpha, tags)``, ``tags`` naming the
    output colour space's primaries and transfer (:func:`colormanage.video_tags`) and the
    source's pixel aspect."""
    sequence = is_sequence_pattern(str(s.output))
    suffix = Path(str(s.output)).suffix.lower()
    keep_alpha = info.alpha and (sequence or s.codec in ALPHA_CODECS)
    if info.alpha and not keep_alpha:
        warn(f"{opt('codec')} {s.codec} cannot hold an alpha channel: the source's alpha is "
             f"not written; use {opt('codec')} prores4444 or an .exr/.png sequence to keep it")
    if suffix != ".exr" and not s.output_colorspace and plan.output != plan.working:
        warn(f"{s.output.name} holds integers in {plan.output} (the input's colour space); "
             f"for a picture to look at pass {opt('output_colorspace')} "
             f"'{plan.working}'")
    finished = _finished(info, run, frames, plan, keep_alpha, exr=suffix == ".exr")
    if suffix == ".exr":
        exr = info.exr
        attributes = {**_exr_attributes(plan), "framesPerSecond": Fraction(info.fps),
                      "pixelAspectRatio": float(info.pixel_aspect)}
        for frame, rgb, alpha in finished:
            if exr is not None:  # the plate's windows, for the pixels at their render size
                attributes = {**attributes, **exr.geometry_at(rgb.shape[1], rgb.shape[0])}
            if info.timecode:
                start = advance(info.timecode, info.fps, frame - info.first)
                attributes = {**attributes, "timeCode": timecode_attribute(start)}
            if alpha is not None and not np.issubdtype(alpha.dtype, np.floating):
                alpha = _unit(alpha)
            write_exr(str(s.output) % frame, rgb, alpha,
                      pixel_type=exr.pixel_type if exr else "half",
                      alpha_type=None if exr is None or alpha is None  # an EXR's A as stored
                      else "float" if alpha.dtype == np.float32 else "half",
                      compression=exr.compression if exr and exr.compression in COMPRESSIONS
                      else DEFAULT_COMPRESSION,
                      prefix=exr.prefix if exr else "", attributes=attributes)
        return
    if sequence:
        for frame, rgb, alpha in finished:
            write_image(str(s.output) % frame, rgb, bit_depth=s.bit_depth,
                        alpha=None if alpha is None else _unit(alpha))
        return
    tags = _video_tags(s, info, plan, warn)
    with tempfile.TemporaryDirectory(prefix="finished-", dir=run.root) as folder:
        paths = []
        for frame, rgb, alpha in finished:
            path = Path(folder) / f"{frame:06d}.png"
            write_image(path, rgb, bit_depth=16, alpha=None if alpha is None else _unit(alpha))
            paths.append(path)
        encode(paths, keep_alpha, tags)


def _video_tags(s: RenderSettings, info: SourceInfo, plan: ColourPlan,
                warn: Callable[[str], None]) -> VideoTags:
    """The video's colour tags for the output space; a warning names what they cannot say."""
    primaries, transfer = colormanage.video_tags(plan.output)
    missing = [what for what, tag in (("primaries", primaries), ("transfer", transfer))
               if tag is None]
    if missing:
        warn(f"{s.output.name} cannot name the {' and '.join(missing)} of {plan.output} in "
             "a video's colour tags: they are left unspecified; write an .exr sequence to "
             "keep the colour space with the frames")
    return VideoTags(primaries, transfer, info.pixel_aspect)


#: Video colour tags (matrix, primaries, transfer) taken as sRGB / Rec.709 without a word.
SDR_TAGS = {"bt709", "smpte170m", "bt470bg", "bt470m", "iec61966-2-1", "unknown", "gbr",
            "bt601", "smpte240m"}


def source_warnings(s: RenderSettings, info: SourceInfo) -> list[str]:
    """What of the source a render leaves out or assumes: an EXR's other channels, the
    colour space of an EXR that names none, interlacing, audio streams past the first,
    anamorphic pixels, a video's colour tags that are not Rec.709's (one line each)."""
    out = []
    if info.exr is not None and info.exr.extra:
        out.append(f"{info.path}: only {info.exr.prefix}R, G, B (and A) are rendered; the "
                   f"channels {', '.join(info.exr.extra)} are not written to the output")
    if info.exr is not None and info.exr.other_parts:
        out.append(f"{info.path}: only the first part of each multi-part EXR is rendered; the "
                   f"parts {', '.join(info.exr.other_parts)} are not written to the output")
    if (info.exr is not None and not s.input_colorspace and not info.exr.colorspaces
            and colormanage.implied_space(info.exr.chromaticities,
                                          info.exr.aces_container) is None):
        out.append(f"{info.path} names no colour space (no colorInteropID, oiio:ColorSpace "
                   f"or chromaticities); its RGB is taken as {colormanage.default_input(info)} "
                   f"(the config's scene_linear role); pass {opt('input_colorspace')} to say "
                   "otherwise")
    if info.field_order:
        out.append(f"{info.path} is interlaced ({info.field_order}); its frames are painted "
                   "whole and written progressive: deinterlace it first (e.g. ffmpeg's bwdif "
                   "filter) for motion without combing")
    if info.audio_streams > 1 and not is_sequence_pattern(str(s.output)):
        out.append(f"{info.path} has {info.audio_streams} audio streams; only the first is "
                   "carried to the output")
    if info.pixel_aspect != 1:
        squeeze = float(info.pixel_aspect)
        out.append(f"{info.path} has pixels {squeeze:.4g} times as wide as high "
                   f"(anamorphic); the strokes are painted on the stored pixels, so they look "
                   f"{squeeze:.4g} times as wide where it is shown unsqueezed")
    tags = set((info.color_tags or "").split("/")) - {""}
    if not s.input_colorspace and tags - SDR_TAGS:
        out.append(f"{info.path} is tagged {info.color_tags}; its RGB is taken as Rec.709 / "
                   f"sRGB (the config's {colormanage.WORKING_ROLE} role); pass "
                   f"{opt('input_colorspace')} to say otherwise")
    return out
