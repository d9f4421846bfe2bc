"""``videostyle image``: one still image."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from ..config import DEFAULT_SIZE, OptimizerSettings
from . import options as o
from .app import app, echo, errors, note
from .progress import iteration_bar

IMAGE_OPTIONS = (
    o.Opt("content", Path, ..., "Content image (PNG, JPEG, TIFF).", argument=True,
          extra={"metavar": "CONTENT"}),
    o.STYLE,
    o.Opt("output", Path, ..., "Output image (.png, .tif, .jpg).", decls=("--output", "-o")),
    o.Opt("size", int, DEFAULT_SIZE, "Longest side of the output in pixels.",
          extra={"min": 16}),
    o.Opt("iterations", int, OptimizerSettings.iterations,
          "Optimiser iterations (not loss evaluations); under coarse-to-fine "
          "(--start-size) the work of that many iterations at the output size: 90 % run "
          "there, the rest on the smaller scales.", extra={"min": 0}),
    o.OPTIMIZER,
    o.Opt("init", str, "content", "Start from: content, random, style, or an image file."),
    *o.ENGINE_OPTIONS,
    o.Opt("style_mask", list[Path] | None, None, "Grayscale mask per --style, same order "
          "(white = this style applies there).", decls=("--style-mask",),
          extra={"metavar": "MASK"}),
    *o.NETWORK_OPTIONS,
    o.Opt("bit_depth", int, 8, "8 or 16 bits per channel (16: PNG or TIFF)."),
    o.QUIET,
    o.Opt("overwrite", bool, False, "Replace an existing output file (an input is never "
          "replaced).", decls=("--overwrite",)),
)


@o.command(app, "image", IMAGE_OPTIONS)
def image(ctx: typer.Context, **values: Any) -> None:
    """Stylise one image: videostyle image photo.jpg --style painting.jpg -o out.png"""
    from ..memory import check_fits
    from ..networks import network_for, resolve_device, resolve_precision
    from ..optimize import check_compile
    from ..preflight import check_still
    from ..settings import resolve_image
    from ..stylize import stylize_image

    with errors():
        job = resolve_image(values["content"], tuple(values["style"]), values["output"],
                            given=o.given(ctx, values, exclude=("content", "style", "output")))
        inputs = check_still(job)  # every check before any work; the inputs, read once
        device = resolve_device(values["device"])
        half = resolve_precision(job.settings.engine.precision, device) is not None
        check_fits(inputs.size, job.settings.engine, device, half=half)  # it fits
        check_compile(job.settings.engine.compile, str(device))
        net = network_for(job.settings.engine, weights=values["weights"], device=device)
        for message in inputs.notes:  # a refused image says only why
            note(message)
        started = time.monotonic()
        with iteration_bar(job.settings.engine.optimizer.iterations, values["quiet"],
                           job.content.name) as callback:
            result = stylize_image(
                inputs.content, inputs.styles, network=net, settings=job.settings,
                masks=inputs.masks or None, init_image=inputs.init, device=device,
                callback=callback,  # type: ignore[arg-type]
            )
        _write(job.output, result.image, job.bit_depth)
    if not values["quiet"]:
        echo(
            f"wrote {job.output} ({result.image.shape[1]}x{result.image.shape[0]}, "
            f"{result.iterations} iterations, stopped: {result.stop_reason}, "
            f"{time.monotonic() - started:.1f}s on {device}; style loss "
            f"{result.initial_losses['style']:.4g} -> {result.losses['style']:.4g}; "
            f"{net.weights.network} weights sha256 {net.weights.sha256[:12]})"
        )


def _write(output: Path, image: Any, bit_depth: int) -> None:
    """Write the still; when its disk fills up, keep the result in the system's temporary
    folder and say where (a still is not resumable: its minutes of work are in memory)."""
    import tempfile

    from ..errors import DiskFull
    from ..video import write_image

    try:
        write_image(output, image, bit_depth=bit_depth)
    except DiskFull as exc:
        kept = Path(tempfile.gettempdir()) / f"{output.stem}.kept{output.suffix}"
        try:
            write_image(kept, image, bit_depth=bit_depth)
        except DiskFull:
            raise exc from None
        raise DiskFull(f"no space left in {exc.folder} for {output}; the result is kept in "
                       f"{kept}: free space and move it there", folder=exc.folder,
                       needed=exc.needed) from None
