"""A render's settings, and the one place where what a user gave becomes them.

:func:`resolve_render` takes only the values the user gave (the command line's typed
options, later a shot file's keys), named as ``render``'s long options with underscores,
and fills in the rest from the quality preset and the defaults. One rule throughout: a
value the user gave that cannot apply to this render is refused before any work; a
preset's or default's value that cannot apply is dropped, with one note.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from . import flow as flowmod
from .config import (
    DEFAULT_PRESET,
    DEFAULT_SIZE,
    DEFAULT_TEMPORAL_WEIGHT,
    INIT_LATER,
    MULTIPASS_TEMPORAL_WEIGHT,
    PRESETS,
    EngineSettings,
    LossWeights,
    OptimizerSettings,
)
from .errors import InputError, opt
from .scales import MIN_SIDE, SCALE_RATIO, scale_sizes
from .stylize import ImageSettings
from .video import IMAGE_SUFFIXES, is_sequence_pattern, parse_fps

#: The first frame's start image of a multi-pass render when none is given: the shared
#: noise image of the reference's multi-pass script.
MULTIPASS_INIT = "random"


@dataclass(frozen=True)
class RenderSettings:
    """Everything a render needs. Options are documented on ``videostyle render --help``.

    ``frames``: inclusive ``(start, end)`` frame numbers of the source (a video's frames
    are numbered from 1, a sequence's by its file names), either end None.
    ``iterations``: ``(first frame, later frames)``.
    ``image.init`` is the first frame's init (every frame's with ``independent``, pass 1's
    with ``passes > 1``); ``init`` the later frames'.
    ``long_term``: the offsets J of the temporal loss (``(1,)`` = short-term only).
    ``flow``: an estimator name of :func:`videostyle.flow.make_estimator`, or a folder of
    ``.flo`` files named as the reference implementation names them.
    ``warp``: the resampling kernel that brings earlier stylised frames into the current
    one (a key of :data:`videostyle.flow.WARP_INTERPOLATIONS`).
    ``codec``: None for an image-sequence output.
    ``given``: the names of the settings the user gave (not from a preset or default):
    a stage that finds one of them inapplicable refuses it, others it adapts.
    ``input_colorspace``/``output_colorspace``: OpenColorIO colour space names, None for
    the defaults of :mod:`videostyle.colormanage`. ``crf``: libx264's quality (h264 only).
    """

    source: Path
    styles: tuple[Path, ...]
    output: Path
    image: ImageSettings = field(default_factory=ImageSettings)
    style_masks: tuple[str, ...] = ()
    fps: Fraction | None = None
    frames: tuple[int | None, int | None] = (None, None)
    iterations: tuple[int, int] = PRESETS[DEFAULT_PRESET].iterations
    init: str = "prev-warped"
    independent: bool = False
    flow: str = flowmod.DEFAULT_ESTIMATOR
    warp: str = flowmod.DEFAULT_WARP
    long_term: tuple[int, ...] = (1,)
    temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT
    codec: str | None = "h264"
    bit_depth: int = 8
    workdir: Path | None = None
    restart: bool = False
    max_size: int | None = None  # with image.size None: longest side, never upscaling
    passes: int = 1
    temporal_after_pass: int = 8
    blend_weight: float = 1.0
    blend_weight_other: float = 0.0
    given: frozenset[str] = frozenset()
    overwrite: bool = False  # replace an output this render's run folder did not write
    deterministic: bool = False  # see videostyle.determinism
    input_colorspace: str | None = None
    output_colorspace: str | None = None
    crf: int = 16
    chunks: int = 1  # > 1: overlapping chunks blended across the seam (videostyle.chunked)
    chunk_overlap: int = 0  # frames two neighbouring chunks both render
    encode: bool = True  # False: a chunk of a chunked render (its frames feed the stitch)

    @property
    def engine(self) -> EngineSettings:
        return self.image.engine

    def uses_flow(self) -> bool:
        """Whether optical flow reaches the pixels (warped init or temporal terms)."""
        if self.passes > 1:
            return True
        return (
            not self.independent
            and self.iterations[1] > 0
            and (self.init == "prev-warped" or self.temporal_weight > 0)
        )

    def is_sequence_output(self) -> bool:
        return is_sequence_pattern(str(self.output))


@dataclass(frozen=True)
class Resolved:
    """Resolved settings and the notes on preset or default values that were dropped."""

    settings: RenderSettings
    notes: tuple[str, ...] = ()


# ---- parsing the text forms (the command line's and a shot file's) --------------------


def parse_floats(text: str | None, what: str) -> tuple[float, ...] | None:
    """``"0.7,0.3"`` -> ``(0.7, 0.3)``; None stays None."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise InputError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise InputError(f"{what} is empty")
    return values


def parse_iterations(text: str | int | None) -> tuple[int, int] | None:
    """``"N"`` or ``"FIRST,REST"`` -> ``(first, rest)``."""
    if text is None:
        return None
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise InputError(f"{opt('iterations')} takes N or FIRST,REST (integers), got "
                         f"{text!r}") from None
    if len(values) not in (1, 2) or min(values) < 0:
        raise InputError(f"{opt('iterations')} takes N or FIRST,REST (>= 0), got {text!r}")
    return (values[0], values[-1])


def parse_range(text: str | None) -> tuple[int | None, int | None]:
    """``"START:END"`` (frame numbers, inclusive, either end optional) -> a pair."""
    if not text:
        return (None, None)
    if ":" not in text:
        raise InputError(f"{opt('frames')} takes START:END (frame numbers, inclusive), got "
                         f"{text!r}")
    a, b = text.split(":", 1)
    try:
        start = int(a) if a.strip() else None
        end = int(b) if b.strip() else None
    except ValueError:
        raise InputError(f"{opt('frames')} takes START:END with integers, got {text!r}") from None
    if (start is not None and start < 0) or (end is not None and end < 0):
        raise InputError(f"{opt('frames')} takes frame numbers >= 0, got {text!r}")
    if start is not None and end is not None and start > end:
        raise InputError(f"{opt('frames')} {text} selects no frames (start > end)")
    return (start, end)


def parse_offsets(text: str | None) -> tuple[int, ...] | None:
    """``"1,10,20"`` -> ``(1, 10, 20)`` (sorted, unique, each >= 1)."""
    if text is None:
        return None
    try:
        values = tuple(sorted({int(v) for v in str(text).split(",") if v.strip()}))
    except ValueError:
        raise InputError(f"{opt('long_term')} takes offsets like 1,10,20,40, got "
                         f"{text!r}") from None
    if not values or min(values) < 1:
        raise InputError(f"{opt('long_term')} offsets must be >= 1, got {text!r}")
    return values


# ---- resolution -----------------------------------------------------------------------


def _option(name: str) -> str:
    return opt(name)


def _refuse(given: Mapping[str, Any], names: tuple[str, ...], why: str) -> None:
    """Refuse the first of ``names`` that the user gave: it has no effect because ``why``."""
    for name in names:
        if name in given:
            raise InputError(f"{_option(name)} has no effect {why}; leave it out")


def _is_video_file(source: Path) -> bool:
    return source.is_file() and source.suffix.lower() not in IMAGE_SUFFIXES


def resolve_render(
    source: Path,
    styles: tuple[Path, ...],
    output: Path,
    *,
    quality: str = DEFAULT_PRESET,
    given: Mapping[str, Any] | None = None,
) -> Resolved:
    """Settings of a render from the values the user gave, the preset and the defaults.

    ``given`` maps ``render``'s long option names (with underscores) to the values the
    user typed: text forms (``iterations="400,150"``, ``frames="1001:1048"``,
    ``fps="24000/1001"``, ``long_term``, ``style_weights``) or typed values, paths for
    ``style_mask`` entries. Options absent from it take the preset's or the default value.
    """
    given = dict(given or {})
    if quality not in PRESETS:
        raise InputError(f"unknown {opt('quality')} {quality!r}; expected one of "
                         f"{', '.join(PRESETS)}")
    preset = PRESETS[quality]
    passes = int(given.get("passes", 1))
    independent = bool(given.get("independent", False))
    if passes < 1:
        raise InputError(f"{opt('passes')} must be >= 1, got {passes}")
    if passes > 1 and independent:
        raise InputError(f"{opt('passes')} and {opt('independent')} exclude each other; drop "
                         f"one of them")
    iterations = parse_iterations(given.get("iterations")) or preset.iterations
    long_term = parse_offsets(given.get("long_term")) or preset.long_term
    init = str(given.get("init", RenderSettings.init))
    first_init = str(given.get(
        "first_frame_init", MULTIPASS_INIT if passes > 1 else ImageSettings.init
    ))
    temporal_weight = float(given.get(
        "temporal_weight", MULTIPASS_TEMPORAL_WEIGHT if passes > 1 else DEFAULT_TEMPORAL_WEIGHT
    ))
    init, long_term, dropped = _applicable(
        given, quality, passes=passes, independent=independent, iterations=iterations,
        init=init, long_term=long_term, temporal_weight=temporal_weight,
    )
    if "random" not in (first_init, init):
        _refuse(given, ("seed",), f"unless a frame starts from noise ({opt('first_frame_init')} "
                f"random or {opt('init')} random)")
    notes = [f"not used in this render: {', '.join(dropped)}"] if dropped else []
    return Resolved(
        settings=_build(source, styles, output, given, preset, passes=passes,
                        independent=independent, iterations=iterations, long_term=long_term,
                        init=init, first_init=first_init, temporal_weight=temporal_weight),
        notes=tuple(notes),
    )


def _applicable(
    given: Mapping[str, Any],
    quality: str,
    *,
    passes: int,
    independent: bool,
    iterations: tuple[int, int],
    init: str,
    long_term: tuple[int, ...],
    temporal_weight: float,
) -> tuple[str, tuple[int, ...], list[str]]:
    """Refuse given options that cannot apply; drop preset or default values that cannot.

    Returns the later frames' init and the long-term offsets as they apply, and what was
    dropped (for one note).
    """
    dropped: list[str] = []
    if passes == 1:
        _refuse(given, ("temporal_after_pass", "blend_weight"),
                f"in a single-pass render (they shape multi-pass renders: {opt('passes')} 2 or "
                f"more)")
    if independent:
        why = (
            f"with {opt('independent')} (every frame starts as {opt('first_frame_init')} "
            f"says, no flow)"
        )
        _refuse(given, ("init", "long_term", "temporal_weight", "flow", "warp"), why)
        dropped.append(f"the default {opt('init')} {init}")
        init = "content"
    elif passes > 1:
        _multipass_applicable(given, quality, passes, iterations, dropped)
    elif iterations[1] == 0:
        typed = ",".join(str(n) for n in dict.fromkeys(iterations))  # 3,0 or 0
        why = (f"with {opt('iterations')} {typed} (the later frames are passed through, not "
               f"optimised)")
        _refuse(given, ("init", "long_term", "temporal_weight", "flow", "warp"), why)
        # a later frame is its content frame (0 iterations pass it through): its start
        # image and offsets are dropped, as with --independent; as there, the estimator,
        # the kernel and the temporal weight go unnamed (RenderSettings.uses_flow: no flow)
        dropped.append(f"the default {opt('init')} {init}")
        init = "content"
    elif temporal_weight == 0 and init != "prev-warped":
        _refuse(given, ("flow", "warp", "long_term"),
                f"with {opt('temporal_weight')} 0 and {opt('init')} {init} (no optical flow is "
                f"used)")
    elif temporal_weight == 0 and long_term != (1,):
        _refuse(given, ("long_term",), f"with {opt('temporal_weight')} 0 (only the previous "
                f"frame is warped, as the start; no temporal term looks further back)")
    if long_term != (1,) and (independent or passes > 1 or iterations[1] == 0
                              or temporal_weight == 0):
        dropped.append(f"the {quality} preset's {opt('long_term')} {_offsets_text(long_term)}")
        long_term = (1,)
    return init, long_term, dropped


def _multipass_applicable(
    given: Mapping[str, Any], quality: str, passes: int, iterations: tuple[int, int],
    dropped: list[str],
) -> None:
    """The refusals and dropped values of a multi-pass render (see :func:`_applicable`)."""
    why = (
        f"with {opt('passes')} (each pass starts from the last one; the temporal loss uses the "
        "neighbour just rendered)"
    )
    _refuse(given, ("init", "long_term"), why)
    _refuse(given, ("start_size",), f"with {opt('passes')} (every pass optimises each frame at "
            f"the output size; coarse-to-fine starts a single-pass render's first frame)")
    if ImageSettings.start_size:
        dropped.append(f"the default {opt('start_size')} {ImageSettings.start_size}")
    if "iterations" in given and iterations[0] != iterations[1]:
        raise InputError(
            f"with {opt('passes')}, {opt('iterations')} counts the iterations of every "
            f"pass and frame; "
            f"give one number, not {given['iterations']}"
        )
    if iterations[0] != iterations[1]:
        dropped.append(f"the {quality} preset's later-frame {opt('iterations')} "
                       f"{iterations[1]} (every pass and frame runs {iterations[0]})")
    after = int(given.get("temporal_after_pass", RenderSettings.temporal_after_pass))
    if after > passes:
        _refuse(given, ("temporal_after_pass", "temporal_weight"),
                f"with {opt('passes')} {passes}: the temporal loss switches on at pass {after}")
        dropped.append(f"the temporal loss (the default {opt('temporal_after_pass')} {after} "
                       f"comes after the last pass, {passes})")


def _offsets_text(offsets: tuple[int, ...]) -> str:
    return ",".join(str(j) for j in offsets)


def _check_styles(given: Mapping[str, Any], styles: tuple[Path, ...]) -> None:
    if not styles:
        raise InputError(f"at least one {opt('style')} image is needed")
    masks = given.get("style_mask") or ()
    if masks and len(masks) != len(styles):
        raise InputError(
            f"{len(styles)} {opt('style')} but {len(masks)} {opt('style_mask')}; give one mask "
            f"per style"
        )
    blend = parse_floats(given.get("style_weights"), f"{opt('style_weights')}")
    if blend is None:
        return
    if len(styles) == 1:
        raise InputError(f"{opt('style_weights')} has no effect with one {opt('style')}; leave "
                         f"it out")
    if len(blend) != len(styles):
        raise InputError(
            f"{len(styles)} {opt('style')} but {len(blend)} style weights "
            f"({opt('style_weights')}); give "
            "one weight per style"
        )
    if any(not w >= 0 for w in blend) or sum(blend) <= 0:
        raise InputError(f"{opt('style_weights')} must be >= 0 with a positive sum, got {blend}")


def _check_output_options(given: Mapping[str, Any], source: Path, output: Path) -> None:
    if is_sequence_pattern(str(output)):
        _refuse(given, ("codec", "crf"), f"with an image-sequence output ({output.name})")
    else:
        _refuse(given, ("bit_depth",), f"with a video output ({output.name}): it sets the "
                "bits per channel of a PNG/TIFF sequence output")
    if "fps" in given and _is_video_file(source):
        raise InputError(
            f"{opt('fps')} has no effect on a video source ({source.name} plays at its own rate); "
            "it sets the rate of an image sequence; leave it out"
        )
    if output.suffix.lower() == ".exr":
        _refuse(given, ("bit_depth",), f"with an EXR output ({output.name}): it is written as "
                "half or float, as the source (half for other sources)")
    if "crf" in given and str(given.get("codec", "h264")) != "h264":
        raise InputError(f"{opt('crf')} sets the quality of h264 only, not of {opt('codec')} "
                         f"{given['codec']}; leave it out")


def _image_settings(
    given: Mapping[str, Any], *, size: int | None, iterations: int, init: str,
    longest: int | None = None,
) -> ImageSettings:
    """The still-image and engine settings both commands share. ``longest``: the most
    iterations any frame runs (``iterations`` when None)."""
    window = OptimizerSettings.tolerance_window
    if max(iterations, longest or 0) <= window:
        _refuse(given, ("tolerance",), f"when no frame runs more than {window} iterations "
                f"(it compares the loss with the one {window} iterations before)")
    if given.get("optimizer") == "adam":
        _refuse(given, ("lbfgs_history", "lbfgs_precision"),
                f"with {opt('optimizer')} adam (it sets the pairs L-BFGS stores)")
    optimizer = OptimizerSettings(
        optimizer=given.get("optimizer", OptimizerSettings.optimizer),
        iterations=iterations,
        tolerance=float(given.get("tolerance", OptimizerSettings.tolerance)),
        lbfgs_history=int(given.get("lbfgs_history", OptimizerSettings.lbfgs_history)),
        lbfgs_precision=given.get("lbfgs_precision", OptimizerSettings.lbfgs_precision),
    )
    engine = EngineSettings(
        network=str(given.get("network", EngineSettings.network)),
        pooling=given.get("pooling", EngineSettings.pooling),
        padding=given.get("padding", EngineSettings.padding),
        precision=given.get("precision", EngineSettings.precision),
        compile=given.get("compile", EngineSettings.compile),
        style_balance=float(given.get("style_balance", EngineSettings.style_balance)),
        weights=LossWeights(
            content=float(given.get("content_weight", LossWeights.content)),
            style=float(given.get("style_weight", LossWeights.style)),
            tv=float(given.get("tv_weight", LossWeights.tv)),
            chroma=float(given.get("chroma_weight", LossWeights.chroma)),
        ),
        optimizer=optimizer,
        seed=int(given.get("seed", EngineSettings.seed)),
    )
    start_size = int(given.get("start_size", ImageSettings.start_size or 0))
    return ImageSettings(
        size=size,
        start_size=start_size or None,
        style_scale=float(given.get("style_scale", ImageSettings.style_scale)),
        style_blend=parse_floats(given.get("style_weights"), f"{opt('style_weights')}"),
        init=init,
        original_colors=given.get("original_colors"),
        engine=engine,
    )


def check_start_size(
    given: Collection[str], start_size: int | None, size: tuple[int, int],
    ratio: float = SCALE_RATIO, *, iterations: int | None = None,
) -> list[str]:
    """Refuse a given ``start_size`` that plans no coarser scale at the output's
    ``size`` ``(w, h)``, known once a render's source is probed or a still is read, before
    any work; or one given with no ``iterations`` to spread. Where the default's value
    plans no coarser scale it is kept (one scale runs, as with 0) and returned as a note."""
    typed = "start_size" in given
    if not start_size:
        return []
    if iterations == 0:
        if typed:
            raise InputError(f"{opt('start_size')} has no effect with {opt('iterations')} 0 "
                             f"(nothing is optimised); leave it out")
        return []
    if len(scale_sizes(size, start_size, ratio)) > 1:
        return []
    if not typed:
        return [f"not used at {_size_text(size)}: the default {opt('start_size')} {start_size} "
                f"(no coarser scale fits; one scale)"]
    largest = math.floor(max(size) / ratio / 0.999)  # as scale_sizes rounds
    if len(scale_sizes(size, largest, ratio)) > 1:
        why = (f"coarse-to-fine needs a start size of at most the output's longer side "
               f"÷ {ratio:.3g}; give {largest} or less, or 0 for one scale")
    else:
        why = f"no smaller scale has both sides of {MIN_SIDE} px or more; give 0 for one scale"
    raise InputError(f"{opt('start_size')} {start_size} has no effect at an output size of "
                     f"{_size_text(size)}: {why}")


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _build(
    source: Path,
    styles: tuple[Path, ...],
    output: Path,
    given: Mapping[str, Any],
    preset: Any,
    *,
    passes: int,
    independent: bool,
    iterations: tuple[int, int],
    long_term: tuple[int, ...],
    init: str,
    first_init: str,
    temporal_weight: float,
) -> RenderSettings:
    _check_styles(given, styles)
    _check_output_options(given, source, output)
    defaults = RenderSettings(source=source, styles=styles, output=output)
    image = _image_settings(given, size=given.get("size"), iterations=iterations[0],
                            init=first_init, longest=max(iterations))
    fps = given.get("fps")
    sequence_out = is_sequence_pattern(str(output))
    return dataclasses.replace(
        defaults,
        image=image,
        style_masks=tuple(str(m) for m in given.get("style_mask") or ()),
        fps=Fraction(parse_fps(fps)) if fps is not None else None,
        frames=parse_range(given.get("frames")),
        iterations=iterations,
        init=init,
        independent=independent,
        flow=str(given.get("flow", preset.flow)),
        warp=str(given.get("warp", defaults.warp)),
        long_term=long_term,
        temporal_weight=temporal_weight,
        codec=None if sequence_out else str(given.get("codec", "h264")),
        bit_depth=int(given.get("bit_depth", defaults.bit_depth)),
        workdir=Path(given["workdir"]) if given.get("workdir") is not None else None,
        restart=bool(given.get("restart", False)),
        max_size=preset.size,
        passes=passes,
        temporal_after_pass=int(given.get("temporal_after_pass", defaults.temporal_after_pass)),
        blend_weight=float(given.get("blend_weight", defaults.blend_weight)),
        given=frozenset(given),
        overwrite=bool(given.get("overwrite", False)),
        deterministic=bool(given.get("deterministic", False)),
        input_colorspace=given.get("input_colorspace"),
        output_colorspace=given.get("output_colorspace"),
        crf=int(given.get("crf", defaults.crf)),
        chunks=_chunking(given)[0],
        chunk_overlap=_chunking(given)[1],
    )


#: Overlap of a chunked render's chunks when not given (measured: docs/farm.md).
DEFAULT_CHUNK_OVERLAP = 5


def _chunking(given: Mapping[str, Any]) -> tuple[int, int]:
    """``(chunks, chunk_overlap)`` (refused where they cannot apply)."""
    if "chunks" not in given:
        _refuse(given, ("chunk_overlap",), f"without {opt('chunks')} (it is the overlap of "
                f"neighbouring chunks)")
        return 1, 0
    chunks = int(given["chunks"])
    overlap = int(given.get("chunk_overlap", DEFAULT_CHUNK_OVERLAP))
    if chunks < 2:
        raise InputError(f"{opt('chunks')} must be >= 2 (a render is one chunk without it), "
                         f"got {chunks}")
    if overlap < 0:
        raise InputError(f"{opt('chunk_overlap')} must be >= 0, got {overlap}")
    return chunks, overlap


# ---- still images -----------------------------------------------------------------------

IMAGE_SUFFIXES_OUT = (".png", ".tif", ".tiff", ".jpg", ".jpeg")


@dataclass(frozen=True)
class ImageJob:
    """One still image to stylise: its files and its settings."""

    content: Path
    styles: tuple[Path, ...]
    output: Path
    settings: ImageSettings
    masks: tuple[Path, ...] = ()
    init_file: Path | None = None
    bit_depth: int = 8
    overwrite: bool = False  # replace an existing output file
    given: frozenset[str] = frozenset()  # the options the user typed


def resolve_image(
    content: Path, styles: tuple[Path, ...], output: Path, *, given: Mapping[str, Any]
) -> ImageJob:
    """An ``image`` command's job from the values the user gave (as :func:`resolve_render`)."""
    from .stylize import INIT_CHOICES
    from .video import check_output_is_not_input

    masks = tuple(Path(m) for m in given.get("style_mask") or ())
    bit_depth = int(given.get("bit_depth", 8))
    _check_styles(given, styles)
    if bit_depth not in (8, 16):
        raise InputError(f"{opt('bit_depth')} must be 8 or 16, got {bit_depth}")
    suffix = output.suffix.lower()
    if suffix not in IMAGE_SUFFIXES_OUT:
        raise InputError(f"output {output} must end in .png, .tif or .jpg")
    if bit_depth == 16 and suffix in (".jpg", ".jpeg"):
        raise InputError(f"JPEG stores 8 bits per channel; for {opt('bit_depth')} 16 write a "
                         f".png or .tif")
    if output.parent.exists() and not output.parent.is_dir():
        raise InputError(f"cannot write {output}: {output.parent} is not a folder")
    for path in (content, *styles, *masks):
        if not path.is_file():
            raise InputError(f"input file {path} does not exist (or is not a file)")
    init = str(given.get("init", "content"))
    init_file = None
    if init not in INIT_CHOICES:
        init_file = Path(init)
        if not init_file.is_file():
            later = (f" ({init} starts a render's later frames: {opt('init')} of "
                     f"videostyle render)" if init in INIT_LATER else "")
            raise InputError(
                f"{opt('init')} must be one of {', '.join(INIT_CHOICES)} or an image file; "
                f"{init!r} is neither{later}"
            )
    check_output_is_not_input(output, source=content,
                              inputs=[*styles, *masks, *([init_file] if init_file else [])])
    if init != "random":
        _refuse(given, ("seed",), f"unless the image starts from noise ({opt('init')} random)")
    settings = _image_settings(
        given, size=int(given.get("size", DEFAULT_SIZE)),
        iterations=int(given.get("iterations", OptimizerSettings.iterations)), init=init,
    )
    return ImageJob(content=content, styles=styles, output=output, settings=settings,
                    masks=masks, init_file=init_file, bit_depth=bit_depth,
                    overwrite=bool(given.get("overwrite", False)), given=frozenset(given))
