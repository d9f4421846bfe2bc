"""``videostyle preview``: one frame in several looks, and a labelled contact sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..errors import as_flags, opt
from . import options as o
from .app import app, echo, errors, note
from .render import RENDER_OPTIONS

_ROWS = {row.name: row for row in RENDER_OPTIONS}

PREVIEW_OPTIONS = (
    o.Opt("source", Path, ..., "Video file, folder of frames, or pattern like shot_%04d.exr.",
          argument=True, extra={"metavar": "SOURCE"}),
    o.STYLE,
    o.Opt("frame", int, ..., "The frame to look at: a video's from 1, a sequence's by the "
          "numbers in its file names (plate.1001.exr: 1001)."),
    o.Opt("vary", list[str], ..., "SETTING=V1,V2,...: render every value; repeat for more "
          "settings (every combination is rendered), e.g. --vary style_weight=0.5,1,2.",
          extra={"metavar": "SETTING=VALUES"}),
    o.Opt("output", Path | None, None, "Contact sheet (PNG) [default: SOURCE name + "
          "_preview.png, here]; the variants and their run folders go in SHEET.preview/ "
          "beside it.", decls=("--output", "-o")),
    o.Opt("size", int | None, None, "Longest side in pixels [default: the draft preset's, "
          "never above the source's].", extra={"min": 16}),
    o.Opt("iterations", str | None, None, "Iterations of the frame [default: the draft "
          "preset's]."),
    o.OPTIMIZER,
    *o.ENGINE_OPTIONS,
    *o.NETWORK_OPTIONS,
    _ROWS["input_colorspace"],
    o.Opt("output_colorspace", str | None, None, "OpenColorIO colour space of the variants "
          "[default: the source's, or the sRGB color_picking role for EXR and managed "
          "sources, so the PNGs can be looked at]."),
    o.QUIET,
)

#: Settings a preview may vary: its options that take a value and shape the look.
VARIABLE = tuple(row.name for row in PREVIEW_OPTIONS if row.name not in (
    "source", "style", "frame", "vary", "output", "device", "weights", "quiet"))


@o.command(app, "preview", PREVIEW_OPTIONS)
def preview(ctx: typer.Context, **values: Any) -> None:
    """Look development: one frame for every combination of --vary values, a contact sheet
    (PNG), and the render command of each variant.

    videostyle preview plate.%04d.exr --style p.jpg --frame 1001 --vary style_weight=1,3,10
    """
    from ..networks import network_for, resolve_device
    from ..pipeline import Renderer, check_render
    from ..preview import (
        PreviewRequest,
        check_vary,
        parse_vary,
        render_command,
        settings_of,
        variants,
    )
    from ..preview import write_sheet as sheet_of

    source, quiet = values["source"], values["quiet"]
    with errors():
        axes = parse_vary(values["vary"], VARIABLE)
        given = o.given(ctx, values, exclude=("source", "style", "frame", "vary", "output",
                                               "device", "quiet"))
        check_vary(axes, given)
        sheet = values["output"] or Path(f"{_name(source)}_preview.png")
        request = PreviewRequest(source, tuple(values["style"]), sheet, values["frame"],
                                 given, variants(axes))
        request.folder.mkdir(parents=True, exist_ok=True)
        device = resolve_device(values["device"])
        resolved = [settings_of(request, variant) for variant in request.variants]
        checked = [check_render(settings, device) for settings, _ in resolved]  # all, first
        for message in _notes(request.variants, [(*notes, *checks.notes) for (_, notes), checks
                                                 in zip(resolved, checked, strict=True)]):
            note(message)
        networks: dict[tuple[str, str, str, str], Any] = {}
        images = []
        for index, (variant, (settings, _), checks) in enumerate(
                zip(request.variants, resolved, checked, strict=True), start=1):
            e = settings.engine
            key = (e.network, e.pooling, e.padding, e.precision)
            if key not in networks:
                networks[key] = network_for(e, weights=given.get("weights"), device=device)
            net = networks[key]
            Renderer(settings, network=net, device=device, checked=checks).run()
            images.append(Path(str(settings.output) % request.frame))
            if not quiet:
                echo(f"variant {index}/{len(request.variants)} {variant.key}: {images[-1]}")
        sheet_of(request, images, columns=len(axes[-1]))
    flags = lambda name: as_flags(opt(name))  # noqa: E731
    for variant, image in zip(request.variants, images, strict=True):
        echo(f"{' '.join(variant.labels)} ({image}):")
        echo(f"  {render_command(request, variant, flags)}")
    echo(f"wrote {request.sheet} ({len(images)} variants; they and their run folders are in "
         f"{request.folder})")


def _notes(variants: list[Any], notes: list[tuple[str, ...]]) -> list[str]:
    """Each variant's notes once: a note every variant gives as it is, another named by
    the variants that give it."""
    seen: dict[str, list[str]] = {}
    for variant, messages in zip(variants, notes, strict=True):
        for message in dict.fromkeys(messages):  # a note twice in a variant counts once
            seen.setdefault(message, []).append(" ".join(variant.labels))
    return [message if len(names) == len(variants) else f"{'; '.join(names)}: {message}"
            for message, names in seen.items()]


def _name(source: Path) -> str:
    """``shot.%04d.exr`` -> ``shot``; ``clip.mov`` -> ``clip``; a folder's own name."""
    if "%" in source.name:
        return source.name.split("%")[0].rstrip("._-") or "frames"
    return source.stem if source.is_file() else source.name
