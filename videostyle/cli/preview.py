"""``videostyle preview``: one frame in several looks, and a labelled contact sheet."""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path
from typing import Any

import typer

from ..errors import InputError, as_flags, opt
from . import options as o
from .app import app, echo, errors, note, warn
from .render import RENDER_OPTIONS

_ROWS = {row.name: row for row in RENDER_OPTIONS}

PREVIEW_OPTIONS = (
    o.Opt("source", Path, ..., "Video file, folder of frames, or pattern like shot_%04d.exr.",
          argument=True, extra={"metavar": "SOURCE"}),
    o.STYLE,
    o.Opt("frame", int, ..., "The frame to look at: a video's from 1, a sequence's by the "
          "numbers in its file names (plate.1001.exr: 1001)."),
    o.Opt("vary", list[str], ..., "SETTING=V1,V2,...: render every value; repeat for more "
          "settings (every combination is rendered), e.g. --vary style_weight=0.5,1,2. "
          "Values that hold commas are separated by semicolons: "
          "--vary 'style_weights=0.7,0.3;0.5,0.5'.",
          extra={"metavar": "SETTING=VALUES"}),
    o.Opt("output", Path | None, None, "Contact sheet (PNG) [default: SOURCE name + "
          "_preview.png, here]; the variants and their run folders go in SHEET.preview/ "
          "beside it.", decls=("--output", "-o")),
    o.Opt("size", int | None, None, "Longest side in pixels [default: the draft preset's, "
          "never above the source's].", extra={"min": 16}),
    o.Opt("iterations", str | None, None, "Iterations of the frame, one number [default: "
          "the draft preset's first frame's]."),
    o.OPTIMIZER,
    *o.ENGINE_OPTIONS,
    # every variant starts from its content frame (no noise to seed) and runs a preview's
    # short budget (no early stop to tune): no --seed, no --tolerance
    *(row for row in o.NETWORK_OPTIONS if row.name not in ("seed", "tolerance")),
    _ROWS["input_colorspace"],
    o.Opt("output_colorspace", str | None, None, "OpenColorIO colour space of the variants "
          "[default: the source's, or the sRGB color_picking role for EXR and managed "
          "sources, so the PNGs can be looked at]."),
    o.QUIET,
    o.Opt("overwrite", bool, False, "Replace an existing file at --output that is not a "
          "preview's sheet (an input is never replaced).", decls=("--overwrite",)),
)

#: Settings a preview may vary: its options that take a value and shape the look.
VARIABLE = tuple(row.name for row in PREVIEW_OPTIONS if row.name not in (
    "source", "style", "frame", "vary", "output", "device", "weights", "quiet", "overwrite"))


@o.command(app, "preview", PREVIEW_OPTIONS)
def preview(ctx: typer.Context, **values: Any) -> None:
    """Look development: one frame for every combination of --vary values, a contact sheet
    (PNG), and the render command of each variant.

    videostyle preview plate.%04d.exr --style p.jpg --frame 1001 --vary style_weight=1,3,10
    """
    from ..networks import network_for, resolve_device
    from ..pipeline import check_render
    from ..preview import (
        PreviewRequest,
        check_request,
        check_vary,
        parse_vary,
        render_command,
        settings_of,
        variants,
    )
    from ..preview import write_sheet as sheet_of

    source, quiet = values["source"], values["quiet"]
    with errors():
        axes = parse_vary(values["vary"], VARIABLE, partial(_typed, ctx))
        given = o.given(ctx, values, exclude=("source", "style", "frame", "vary", "output",
                                               "device", "quiet", "overwrite"))
        check_vary(axes, given)
        if "," in str(given.get("iterations", "")):
            raise InputError(f"a preview renders one frame: give {opt('iterations')} one "
                             f"number, not {given['iterations']}")
        sheet = values["output"] or Path(f"{_name(source)}_preview.png")
        request = PreviewRequest(source, tuple(values["style"]), sheet, values["frame"],
                                 given, variants(axes))
        check_request(request, overwrite=values["overwrite"])
        try:
            request.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create {request.folder} ({exc.strerror or exc}); give "
                             f"{opt('output')} in a folder you can write") from None
        device = resolve_device(values["device"])
        resolved = [settings_of(request, variant) for variant in request.variants]
        checked = [check_render(settings, device) for settings, _ in resolved]  # all, first
        for message in _notes(request.variants, [(*notes, *checks.notes) for (_, notes), checks
                                                 in zip(resolved, checked, strict=True)]):
            note(message)
        networks: dict[tuple[str, str, str, str], Any] = {}
        images, warnings = [], []
        for index, (variant, (settings, _), checks) in enumerate(
                zip(request.variants, resolved, checked, strict=True), start=1):
            e = settings.engine
            key = (e.network, e.pooling, e.padding, e.precision)
            if key not in networks:
                networks[key] = network_for(e, weights=given.get("weights"), device=device)
            warnings.append(tuple(_render(settings, networks[key], device, checks,
                                          variant.key)))
            images.append(Path(str(settings.output) % request.frame))
            if not quiet:
                echo(f"variant {index}/{len(request.variants)} {variant.key}: {images[-1]}")
        for message in _notes(request.variants, warnings):  # each once, as the notes
            warn(message)
        sheet_of(request, images, columns=len(axes[-1]))
    flags = lambda name: as_flags(opt(name))  # noqa: E731
    for variant, image in zip(request.variants, images, strict=True):
        echo(f"{' '.join(variant.labels)} ({image}):")
        echo(f"  {render_command(request, variant, flags)}")
    if not quiet:
        echo(f"wrote {request.sheet} ({len(images)} variants; they and their run folders are "
             f"in {request.folder})")


def _typed(ctx: typer.Context, name: str, text: str) -> Any:
    """A ``--vary`` value as the command line hands over option ``name``: its type, choices
    and range checked as if it had been typed as ``--name text``."""
    param = next(p for p in ctx.command.params if p.name == name)
    try:
        return o.plain(param.process_value(ctx, text))
    except typer.BadParameter as exc:
        raise InputError(f"{opt('vary')} {name}={text}: {exc.format_message()}") from None


def _render(settings: Any, network: Any, device: Any, checks: Any, key: str) -> list[str]:
    """Render one variant (or resume it); its warnings. A variant's run folder that holds
    a render with other settings (a setting not varied changed since the last preview) is
    the preview's own: it is rendered again."""
    from ..errors import ResumeError, RunFolderBusy
    from ..pipeline import Renderer

    try:
        result = Renderer(settings, network=network, device=device, checked=checks).run()
    except RunFolderBusy:
        raise
    except ResumeError:
        note(f"{key}: rendered again (its run folder held a render with other settings)")
        settings = dataclasses.replace(settings, restart=True)
        result = Renderer(settings, network=network, device=device).run()
    return list(result.warnings)


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
