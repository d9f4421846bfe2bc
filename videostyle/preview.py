"""Look development: one frame rendered for every combination of a few settings, and a
labelled contact sheet of them.

``--vary style_weight=0.5,1,2 --vary style_scale=0.5,1`` gives six variants. Each is a
one-frame render (``--frames N:N``, the draft preset unless ``--size``/``--iterations``
say otherwise) through the same :class:`~videostyle.pipeline.Renderer` as a render, into
``SHEET.preview/`` beside the sheet: ``KEY.N.png`` (the variant) and ``KEY.videostyle/``
(its run folder), where KEY names the values (``style_weight-1_style_scale-0.5``). So a
preview never touches a render's run folder, and running it again with one more value
renders only the new variants.

The sheet: variants in a grid, one row per combination of all but the last ``--vary``,
one column per value of the last; under each tile one line per varied setting
(``style_weight=1``).
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .colormanage import WORKING_ROLE
from .errors import InputError, opt
from .settings import RenderSettings, resolve_render
from .video import check_output_is_not_input, probe, read_image, write_image

#: The preset a preview renders with (its size and iterations), unless told otherwise.
PREVIEW_PRESET = "draft"
#: Preview settings that shape only the preview, not the look: left out of the printed
#: render command.
PREVIEW_ONLY = ("size", "iterations")
LABEL_LINE = 12  # pixels per label line
GAP = 2  # pixels between tiles
FONT, FONT_SCALE = cv2.FONT_HERSHEY_SIMPLEX, 0.3


@dataclass(frozen=True)
class Variant:
    """One combination: ``(setting, value as typed)`` for each ``--vary``; ``given``: the
    same values as the command line hands them over (typed, checked), for the settings."""

    values: tuple[tuple[str, str], ...]
    given: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> str:
        """A file-name-safe name of the values (``style_weight-1_style_scale-0.5``)."""
        parts = (f"{name}-{value}" for name, value in self.values)
        return re.sub(r"[^A-Za-z0-9._=-]", "_", "_".join(parts))

    @property
    def labels(self) -> list[str]:
        return [f"{name}={value}" for name, value in self.values]


#: A value of a setting varied, as typed and as the command line hands it over.
Axis = list[tuple[str, str, Any]]


def parse_vary(texts: Sequence[str], allowed: Sequence[str],
               convert: Callable[[str, str], Any] = lambda name, text: text) -> list[Axis]:
    """``["style_weight=1,3", ...]`` -> ``[[("style_weight", "1", 1.0), ("style_weight",
    "3", 3.0)], ...]``: each value as typed and as ``convert(setting, text)`` makes it (the
    option's type, choices and range checked; InputError otherwise). A setting may be written
    with dashes; values are separated by commas, or by semicolons when a value holds commas
    (``style_weights=0.7,0.3;0.5,0.5``). InputError for an unknown or repeated setting, or
    no values."""
    out: list[Axis] = []
    seen: set[str] = set()
    for text in texts:
        name, sep, values = text.partition("=")
        name = name.strip().lstrip("-").replace("-", "_")
        items = [v.strip() for v in values.split(";" if ";" in values else ",") if v.strip()]
        if not sep or not items:
            raise InputError(f"{opt('vary')} takes SETTING=V1,V2,..., got {text!r}")
        if name not in allowed:
            raise InputError(f"{opt('vary')} {name!r} is not a setting a preview can vary; use "
                             f"one of: {', '.join(allowed)}")
        if name in seen:
            raise InputError(f"{opt('vary')} {name} is given twice; list all its values once")
        seen.add(name)
        out.append([(name, v, convert(name, v)) for v in items])
    if not out:
        raise InputError(f"at least one {opt('vary')} SETTING=V1,V2 is needed")
    return out


def check_vary(axes: list[Axis], given: Mapping[str, Any]) -> None:
    """Refuse a setting both varied and given on its own (one of them would not apply)."""
    for axis in axes:
        name = axis[0][0]
        if name in given:
            raise InputError(f"{opt(name)} is given and varied ({opt('vary')} {name}=...); "
                             "give its values in one place")


def variants(axes: list[Axis]) -> list[Variant]:
    """Every combination, the last axis varying fastest."""
    return [Variant(tuple((name, text) for name, text, _ in combo),
                    tuple((name, value) for name, _, value in combo))
            for combo in itertools.product(*axes)]


def contact_sheet(tiles: Sequence[np.ndarray], labels: Sequence[Sequence[str]],
                  columns: int) -> np.ndarray:
    """Tiles ``(H, W, 3)`` float RGB in a grid of ``columns``, each with its label lines
    underneath (white background, black text; a cell as large as the largest tile, and as
    wide as the widest label; a smaller tile in its top left corner); returns the sheet as
    ``uint8`` RGB."""
    h, w = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    lines = max(len(label) for label in labels)
    text_w = max(cv2.getTextSize(line, FONT, FONT_SCALE, 1)[0][0]
                 for label in labels for line in label)
    cell_h, cell_w = h + lines * LABEL_LINE, max(w, text_w + 2)
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * cell_h + (rows + 1) * GAP, columns * cell_w + (columns + 1) * GAP,
                     3), 255, np.uint8)
    for index, (tile, label) in enumerate(zip(tiles, labels, strict=True)):
        row, col = divmod(index, columns)
        y, x = GAP + row * (cell_h + GAP), GAP + col * (cell_w + GAP)
        sheet[y: y + tile.shape[0], x: x + tile.shape[1]] = np.rint(
            np.clip(tile, 0.0, 1.0) * 255).astype(np.uint8)
        for k, line in enumerate(label):
            base = (x + 1, y + h + (k + 1) * LABEL_LINE - 3)
            cv2.putText(sheet, line, base, FONT, FONT_SCALE, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet


@dataclass(frozen=True)
class PreviewRequest:
    """A preview: the source, styles, sheet path, the frame, the values the user typed for
    every variant (``given``, as :func:`videostyle.settings.resolve_render` takes them),
    the variants, and how the printed render command names the source and styles."""

    source: Path
    styles: tuple[Path, ...]
    sheet: Path
    frame: int
    given: Mapping[str, Any]
    variants: list[Variant]

    @property
    def folder(self) -> Path:
        """``SHEET.preview/`` beside the sheet: the variants and their run folders."""
        return self.sheet.with_name(self.sheet.stem + ".preview")

    def pattern(self, variant: Variant) -> Path:
        return self.folder / f"{variant.key}.%d.png"


@dataclass(frozen=True)
class PreviewVariant:
    variant: Variant
    image: Path
    command: str


def check_request(request: PreviewRequest, *, overwrite: bool) -> None:
    """A preview's own checks before any work: the frame is one of the source's, and the
    sheet is a PNG that is no input and replaces no file but a sheet of a preview (one
    with its ``SHEET.preview/`` beside it), unless ``overwrite``."""
    info = probe(request.source)
    if not info.first <= request.frame <= info.last:
        raise InputError(f"{opt('frame')} {request.frame} is not one of the source's frames "
                         f"{info.first}..{info.last}")
    sheet = request.sheet
    if sheet.suffix.lower() != ".png":
        raise InputError(f"the contact sheet {sheet} is written as a PNG; give "
                         f"{opt('output')} a name ending in .png")
    if sheet.parent.exists() and not sheet.parent.is_dir():
        raise InputError(f"cannot write {sheet}: {sheet.parent} is not a folder")
    check_output_is_not_input(sheet, source=request.source, inputs=request.styles)
    if (sheet.exists() or sheet.is_symlink()) and not request.folder.is_dir() and not overwrite:
        raise InputError(f"{sheet} exists and is no preview's sheet (there is no "
                         f"{request.folder.name} beside it); pass {opt('overwrite')} to "
                         f"replace it, or give another {opt('output')}")


def settings_of(request: PreviewRequest, variant: Variant) -> tuple[RenderSettings, list[str]]:
    """The one-frame render of ``variant``, and the notes of its resolution."""
    given = {**request.given, **dict(variant.given or variant.values),
             "frames": f"{request.frame}:{request.frame}"}
    if "output_colorspace" not in given and (_is_exr(request.source) or
                                             "input_colorspace" in given):
        given["output_colorspace"] = WORKING_ROLE  # a PNG to look at: display-referred
    resolved = resolve_render(request.source, request.styles, request.pattern(variant),
                              quality=PREVIEW_PRESET, given=given)
    return resolved.settings, list(resolved.notes)


def render_command(request: PreviewRequest, variant: Variant, flags: Callable[[str], str]) -> str:
    """The ``videostyle render`` command of the whole shot with this variant's settings:
    what the user typed for the preview (but :data:`PREVIEW_ONLY`) and the variant's."""
    args = ["videostyle", "render", str(request.source)]
    for style in request.styles:
        args += ["--style", str(style)]
    args += ["-o", _render_output(request.source)]
    values = {k: v for k, v in request.given.items() if k not in PREVIEW_ONLY}
    values.update(dict(variant.values))
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            if item is True:
                args.append(flags(name))
            elif item is not False and item is not None:
                args += [flags(name), str(item)]
    return shlex.join(args)


def _is_exr(source: Path) -> bool:
    if source.is_dir():
        return any(source.glob("*.exr"))
    return source.suffix.lower() == ".exr"


def _render_output(source: Path) -> str:
    """The printed command's output, in the current folder: ``NAME_styled.mp4`` for a
    video, ``NAME_styled.%04d.exr`` (or ``.png``) for a sequence."""
    name = source.name
    if source.is_dir() or "%" in name:
        suffix = ".exr" if _is_exr(source) else ".png"
        stem = re.split(r"[._-]?%", name)[0] if "%" in name else name
        return f"{stem}_styled.%04d{suffix}"
    return f"{source.stem}_styled.mp4"


def write_sheet(request: PreviewRequest, images: Sequence[Path], columns: int) -> None:
    """The contact sheet of the variants' images, as an 8-bit PNG."""
    tiles = [read_image(path) for path in images]
    labels = [v.labels for v in request.variants]
    sheet = contact_sheet(tiles, labels, columns).astype(np.float32) / 255.0
    write_image(request.sheet, sheet)
