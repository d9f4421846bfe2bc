"""The ``videostyle`` command line: builds settings, calls the stages, shows progress.

This is the only module that prints or exits. Errors raised on purpose by the package
(:class:`~videostyle.errors.VideostyleError`) become one line on stderr and a non-zero
exit code; so do usage errors (unknown options, bad values).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

try:  # typer >= 0.2x vendors click; older releases depend on it
    from typer._click import exceptions as click_exc
    from typer._click.core import ParameterSource
except ImportError:  # pragma: no cover
    from click import exceptions as click_exc  # type: ignore[no-redef]
    from click.core import ParameterSource  # type: ignore[no-redef,assignment]

from . import __version__
from .config import (
    DEFAULT_SIZE,
    DEFAULT_STYLE_WEIGHT,
    DEFAULT_TV_WEIGHT,
    EngineSettings,
    LossWeights,
    OptimizerSettings,
)
from .errors import InputError, VideostyleError
from .settings import parse_floats, parse_range

app = typer.Typer(
    name="videostyle",
    help="Repaint a video (or an image) in the style of an image, without flicker.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

log = logging.getLogger("videostyle")


class NetworkChoice(StrEnum):
    vgg16 = "vgg16"
    vgg19 = "vgg19"


class OptimizerChoice(StrEnum):
    lbfgs = "lbfgs"
    adam = "adam"


class PoolingChoice(StrEnum):
    max = "max"
    avg = "avg"


class DeviceChoice(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class ColorChoice(StrEnum):
    yuv = "yuv"
    ycrcb = "ycrcb"
    luv = "luv"
    lab = "lab"


# ---- options shared by `image` and `render` -------------------------------------------
StyleOpt = Annotated[
    list[Path],
    typer.Option(
        "--style", "-s", metavar="IMAGE", help="Style image; repeat for a blend of several."
    ),
]
StyleWeightsOpt = Annotated[
    str | None,
    typer.Option(help="Blend weights of the styles, e.g. 0.7,0.3 (normalised to sum 1)."),
]
StyleMaskOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--style-mask",
        metavar="MASK",
        help="Grayscale mask per --style, same order (white = this style applies there).",
    ),
]
SizeOpt = Annotated[
    int, typer.Option(help="Longest side of the output in pixels.", min=16)
]
IterOpt = Annotated[int, typer.Option(help="Optimiser iterations (not loss evaluations).", min=0)]
OptimizerOpt = Annotated[OptimizerChoice, typer.Option(help="L-BFGS (default) or Adam.")]
ContentWOpt = Annotated[float, typer.Option(help="Weight of the content loss.", min=0.0)]
StyleWOpt = Annotated[float, typer.Option(help="Weight of the style loss.", min=0.0)]
TvWOpt = Annotated[float, typer.Option(help="Weight of total variation.", min=0.0)]
StyleScaleOpt = Annotated[
    float, typer.Option(help="Linear size of the style relative to the content.", min=0.01)
]
ColorsOpt = Annotated[
    ColorChoice | None,
    typer.Option("--original-colors", help="Keep the content's colours (colour space)."),
]
NetworkOpt = Annotated[NetworkChoice, typer.Option(help="Loss network.")]
WeightsOpt = Annotated[
    Path | None,
    typer.Option(
        help="VGG-19 weights file (state_dict of torchvision's vgg19().features) "
        "[default: $VIDEOSTYLE_WEIGHTS with --network vgg19, else torchvision's download].",
    ),
]
PoolingOpt = Annotated[PoolingChoice, typer.Option(help="Pooling in the loss network.")]
DeviceOpt = Annotated[DeviceChoice, typer.Option(help="Where to compute.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of random initialisation.")]
ToleranceOpt = Annotated[
    float,
    typer.Option(
        help="Stop early when the loss fell by less than this fraction over 50 iterations "
        "(0: never).",
        min=0.0,
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"videostyle: error: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn the package's errors into one line on stderr and an exit code."""
    try:
        yield
    except VideostyleError as exc:
        _fail(str(exc), exc.exit_code)



def _check_files(paths: list[Path], what: str) -> None:
    for path in paths:
        if not path.is_file():
            raise InputError(f"{what} {path} does not exist (or is not a file)")


def engine_settings(
    *,
    network: str,
    pooling: str,
    content_weight: float,
    style_weight: float,
    tv_weight: float,
    optimizer: str,
    iterations: int,
    tolerance: float,
    seed: int,
) -> EngineSettings:
    """Engine settings from CLI values."""
    weights = LossWeights(content=content_weight, style=style_weight, tv=tv_weight)
    return EngineSettings(
        network=network,
        pooling=pooling,  # type: ignore[arg-type]
        weights=weights,
        optimizer=OptimizerSettings(
            optimizer=optimizer,  # type: ignore[arg-type]
            iterations=iterations,
            tolerance=tolerance,
        ),
        seed=seed,
    )


@contextmanager
def _iteration_bar(total: int, quiet: bool, label: str) -> Iterator[object]:
    """A rich progress bar over optimiser iterations (plain lines when not a terminal)."""
    from .optimize import Progress

    if quiet:
        yield None
        return
    if not sys.stderr.isatty():
        start = time.monotonic()

        def plain(p: Progress) -> None:
            if p.iteration % 25 == 0 or p.iteration == p.total_iterations:
                losses = " ".join(f"{k}={v:.4g}" for k, v in p.losses.items())
                typer.echo(
                    f"{label}: iteration {p.iteration}/{p.total_iterations} "
                    f"({time.monotonic() - start:.0f}s) {losses}",
                    err=True,
                )

        yield plain
        return
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[losses]}"),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total, losses="")

        def update(p: Progress) -> None:
            bar.update(
                task,
                completed=p.iteration,
                losses=f"loss {p.losses['total']:.4g} (style {p.losses['style']:.3g}, "
                f"content {p.losses['content']:.3g})",
            )

        yield update


@app.command()
def image(
    content: Annotated[Path, typer.Argument(help="Content image (PNG, JPEG, TIFF).")],
    style: StyleOpt,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output image (.png, .tif).")],
    size: SizeOpt = DEFAULT_SIZE,
    iterations: IterOpt = OptimizerSettings.iterations,
    optimizer: OptimizerOpt = OptimizerChoice.lbfgs,
    init: Annotated[
        str, typer.Option(help="Start from: content, random, style, or an image file.")
    ] = "content",
    content_weight: ContentWOpt = 1.0,
    style_weight: StyleWOpt = DEFAULT_STYLE_WEIGHT,
    tv_weight: TvWOpt = DEFAULT_TV_WEIGHT,
    style_weights: StyleWeightsOpt = None,
    style_scale: StyleScaleOpt = 1.0,
    style_mask: StyleMaskOpt = None,
    original_colors: ColorsOpt = None,
    network: NetworkOpt = NetworkChoice.vgg16,
    weights: WeightsOpt = None,
    pooling: PoolingOpt = PoolingChoice.max,
    device: DeviceOpt = DeviceChoice.auto,
    seed: SeedOpt = 0,
    tolerance: ToleranceOpt = OptimizerSettings.tolerance,
    bit_depth: Annotated[int, typer.Option(help="8 or 16 bits per channel.")] = 8,
    quiet: QuietOpt = False,
) -> None:
    """Stylise one image: videostyle image photo.jpg --style painting.jpg -o out.png"""
    with _errors():
        _run_image(
            content=content, style=style, output=output, size=size, iterations=iterations,
            optimizer=optimizer.value, init=init, content_weight=content_weight,
            style_weight=style_weight, tv_weight=tv_weight, style_weights=style_weights,
            style_scale=style_scale, style_mask=style_mask or [],
            original_colors=original_colors.value if original_colors else None,
            network=network.value, weights=weights, pooling=pooling.value,
            device=device.value, seed=seed, tolerance=tolerance, bit_depth=bit_depth,
            quiet=quiet,
        )


def _run_image(
    *,
    content: Path,
    style: list[Path],
    output: Path,
    size: int,
    iterations: int,
    optimizer: str,
    init: str,
    content_weight: float,
    style_weight: float,
    tv_weight: float,
    style_weights: str | None,
    style_scale: float,
    style_mask: list[Path],
    original_colors: str | None,
    network: str,
    weights: Path | None,
    pooling: str,
    device: str,
    seed: int,
    tolerance: float,
    bit_depth: int,
    quiet: bool,
) -> None:
    from .networks import load_network, resolve_device
    from .stylize import INIT_CHOICES, ImageSettings, stylize_image
    from .video import read_image, write_image

    if not style:
        raise InputError("at least one --style image is needed")
    if bit_depth not in (8, 16):
        raise InputError(f"--bit-depth must be 8 or 16, got {bit_depth}")
    if output.suffix.lower() not in (".png", ".tif", ".tiff", ".jpg", ".jpeg"):
        raise InputError(f"output {output} must end in .png, .tif or .jpg")
    if output.parent.exists() and not output.parent.is_dir():
        raise InputError(f"cannot write {output}: {output.parent} is not a folder")
    _check_files([content, *style, *style_mask], "input file")
    if style_mask and len(style_mask) != len(style):
        raise InputError(f"{len(style)} --style but {len(style_mask)} --style-mask; give one each")
    blend = parse_floats(style_weights, "--style-weights")
    if blend is not None and len(style) == 1:
        raise InputError("--style-weights has no effect with one --style; leave it out")
    if bit_depth == 16 and output.suffix.lower() in (".jpg", ".jpeg"):
        raise InputError("JPEG stores 8 bits per channel; for --bit-depth 16 write a .png or .tif")
    from .video import check_output_is_not_input

    check_output_is_not_input(output, source=content, inputs=[*style, *style_mask])
    init_image = None
    if init not in INIT_CHOICES:
        init_path = Path(init)
        if not init_path.is_file():
            raise InputError(
                f"--init must be one of {', '.join(INIT_CHOICES)} or an image file; "
                f"{init!r} is neither"
            )
        init_image = read_image(init_path)
    settings = ImageSettings(
        size=size,
        style_scale=style_scale,
        style_blend=blend,
        init=init,
        original_colors=original_colors,
        engine=engine_settings(
            network=network, pooling=pooling, content_weight=content_weight,
            style_weight=style_weight, tv_weight=tv_weight, optimizer=optimizer,
            iterations=iterations, tolerance=tolerance, seed=seed,
        ),
    )
    content_img = read_image(content)
    style_imgs = [read_image(p) for p in style]
    masks = [read_image(p).mean(axis=2) for p in style_mask] or None
    torch_device = resolve_device(device)
    net = load_network(network, weights=weights, pooling=pooling, device=torch_device)  # type: ignore[arg-type]
    started = time.monotonic()
    with _iteration_bar(iterations, quiet, content.name) as callback:
        result = stylize_image(
            content_img,
            style_imgs,
            network=net,
            settings=settings,
            masks=masks,
            init_image=init_image,
            device=torch_device,
            callback=callback,  # type: ignore[arg-type]
        )
    write_image(output, result.image, bit_depth=bit_depth)
    if not quiet:
        typer.echo(
            f"wrote {output} ({result.image.shape[1]}x{result.image.shape[0]}, "
            f"{result.iterations} iterations, stopped: {result.stop_reason}, "
            f"{time.monotonic() - started:.1f}s on {torch_device}; style loss "
            f"{result.initial_losses['style']:.4g} -> {result.losses['style']:.4g}; "
            f"{net.weights.network} weights sha256 {net.weights.sha256[:12]})"
        )


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        typer.echo(f"videostyle {__version__}")
        raise typer.Exit(0)


def main(argv: list[str] | None = None) -> NoReturn:
    """Console entry point: one line on stderr for usage errors, exit codes kept."""
    logging.basicConfig(level=logging.WARNING, format="videostyle: %(message)s")
    try:
        code = app(args=argv, standalone_mode=False)
    except click_exc.UsageError as exc:
        hint = f" (see: videostyle {exc.ctx.info_name} --help)" if exc.ctx else ""
        _print_error(f"{exc.format_message()}{hint}")
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _print_error("interrupted")
        sys.exit(130)
    except click_exc.ClickException as exc:
        _print_error(exc.format_message())
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _print_error(message: str) -> None:
    print(f"videostyle: error: {' '.join(message.split())}", file=sys.stderr)


# ---- render ---------------------------------------------------------------------------





class QualityChoice(StrEnum):
    draft = "draft"
    standard = "standard"
    final = "final"


class CodecChoice(StrEnum):
    h264 = "h264"
    prores = "prores"
    ffv1 = "ffv1"


class WarpChoice(StrEnum):
    bilinear = "bilinear"
    bicubic = "bicubic"
    lanczos = "lanczos"


class _StopFlag:
    """Set by SIGINT/SIGTERM; a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self) -> bool:
        return self.signal is not None

    def install(self) -> None:
        import signal

        def handler(signum: int, _frame: object) -> None:
            if self.signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.signal = signum

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def _given(ctx: typer.Context, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The options the user typed (not defaults, not environment), as plain values."""
    given: dict[str, Any] = {}
    for name, value in ctx.params.items():
        if name in exclude or ctx.get_parameter_source(name) != ParameterSource.COMMANDLINE:
            continue
        given[name] = value.value if isinstance(value, StrEnum) else value
    return given


def _note(message: str) -> None:
    typer.echo(f"videostyle: note: {message}", err=True)


@app.command()
def render(
    ctx: typer.Context,
    source: Annotated[
        Path, typer.Argument(help="Video file, folder of frames, or pattern like shot_%04d.png.")
    ],
    style: StyleOpt,
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Output video (.mp4/.mov/.mkv) or out_%04d.png."),
    ],
    quality: Annotated[
        QualityChoice,
        typer.Option(help="Preset for size, iterations, flow and long-term offsets."),
    ] = QualityChoice.standard,
    size: Annotated[
        int | None, typer.Option(help="Longest side in pixels [default: the --quality preset's, "
                     "never above the source's].", min=16)
    ] = None,
    frames: Annotated[
        str | None, typer.Option(help="START:END frame numbers, inclusive; either end optional. A "
                                 "video's frames are numbered from 1, a sequence's by the "
                                 "numbers in its file names (plate.1001.exr: 1001).")
    ] = None,
    fps: Annotated[
        str | None, typer.Option(help="Frame rate of an image sequence, e.g. 24 or 24000/1001 "
                                 "(image sequences only; a video keeps its own).")
    ] = None,
    iterations: Annotated[
        str | None,
        typer.Option(help="N, or FIRST,REST for the first and the later frames; with "
                     "--passes one N for every pass and frame [default: from --quality]."),
    ] = None,
    optimizer: OptimizerOpt = OptimizerChoice.lbfgs,
    first_frame_init: Annotated[
        str, typer.Option(help="First frame starts from: content, random, style, or a file "
                          "(with --independent every frame; with --passes every frame of "
                          "pass 1, default random there).")
    ] = "content",
    init: Annotated[
        str, typer.Option(help="Later frames start from: prev-warped, prev, content, random "
                          "(single-pass chained renders only).")
    ] = "prev-warped",
    independent: Annotated[
        bool, typer.Option("--independent", help="Each frame on its own (flickers).")
    ] = False,
    flow: Annotated[
        str | None,
        typer.Option(help="Flow estimator (dis, dis-fast, farneback, deepflow, tvl1) or a "
                     "folder of forward_i_j.flo/backward_j_i.flo files named by frame "
                     "numbers, as makeOptFlow.sh writes them [default: from --quality]."),
    ] = None,
    warp: Annotated[
        WarpChoice,
        typer.Option(help="Resampling of earlier stylised frames into the current one "
                     "(bilinear: the reference's; lanczos keeps fine strokes sharper)."),
    ] = WarpChoice.bilinear,
    long_term: Annotated[
        str | None,
        typer.Option(help="Temporal offsets J, e.g. 1,10,20,40 (1 = short-term only) "
                     "[default: from --quality]."),
    ] = None,
    temporal_weight: Annotated[
        float | None,
        typer.Option(help="Weight of the temporal loss [default: 1.0e6, the reference's "
                     "strength relative to content; half that with --passes].", min=0.0),
    ] = None,
    content_weight: ContentWOpt = 1.0,
    style_weight: StyleWOpt = DEFAULT_STYLE_WEIGHT,
    tv_weight: TvWOpt = DEFAULT_TV_WEIGHT,
    style_weights: StyleWeightsOpt = None,
    style_scale: StyleScaleOpt = 1.0,
    style_mask: Annotated[
        list[str] | None,
        typer.Option("--style-mask", metavar="MASK",
                     help="One mask per --style, same order: an image, or a frame "
                     "sequence whose file numbers are the frame numbers (white = this "
                     "style applies there)."),
    ] = None,
    original_colors: ColorsOpt = None,
    network: NetworkOpt = NetworkChoice.vgg16,
    weights: WeightsOpt = None,
    pooling: PoolingOpt = PoolingChoice.max,
    device: DeviceOpt = DeviceChoice.auto,
    seed: SeedOpt = 0,
    tolerance: ToleranceOpt = OptimizerSettings.tolerance,
    codec: Annotated[
        CodecChoice, typer.Option(help="Video output only: h264 (.mp4/.mov/.mkv), prores "
                                  "(ProRes 422 HQ, .mov), ffv1 (lossless, .mkv or .mov).")
    ] = CodecChoice.h264,
    bit_depth: Annotated[
        int, typer.Option(help="Bits per channel (8 or 16) of an image-sequence output only.")
    ] = 8,
    workdir: Annotated[
        Path | None,
        typer.Option(help="Run folder [default: OUTPUT without extension + .videostyle]."),
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Discard the run folder's frames, start over.")
    ] = False,
    passes: Annotated[
        int, typer.Option(help="Multi-pass: number of passes over all frames (1: single pass; "
                          "the reference uses 15 of 100 iterations).", min=1)
    ] = 1,
    temporal_after_pass: Annotated[
        int, typer.Option(help="Multi-pass only: first pass with the temporal loss.", min=1)
    ] = 8,
    blend_weight: Annotated[
        float, typer.Option(help="Multi-pass only: weight b of the warped neighbour in a "
                            "frame's start image.", min=0.0)
    ] = 1.0,
    quiet: QuietOpt = False,
) -> None:
    """Stylise a video: videostyle render in.mp4 --style painting.jpg -o out.mp4

    Runs can be interrupted at any time (Ctrl-C); the same command resumes.
    """
    from .networks import load_network, resolve_device
    from .pipeline import Renderer
    from .settings import resolve_render

    stop = _StopFlag()
    with _errors():
        given = _given(ctx, exclude=("source", "style", "output", "quality", "device", "quiet"))
        resolved = resolve_render(source, tuple(style), output, quality=quality.value,
                                  given=given)
        settings = resolved.settings
        if "weights" in given and network == NetworkChoice.vgg16:
            raise InputError(
                "--weights applies to --network vgg19; vgg16 uses the bundled ImageNet weights"
            )
        for note in resolved.notes:
            typer.echo(f"videostyle: note: {note}", err=True)
        torch_device = resolve_device(device.value)
        net = load_network(network.value, weights=weights, pooling=pooling.value,  # type: ignore[arg-type]
                           device=torch_device)
        stop.install()
        with _frame_bar(quiet) as (on_frame, on_iteration):
            renderer = Renderer(
                settings, network=net, device=torch_device, on_frame=on_frame,
                on_iteration=on_iteration, should_stop=stop, on_note=_note,
            )
            try:
                result = renderer.run()
            except KeyboardInterrupt:  # a second Ctrl-C: stop at once
                _interrupted(stop, output, workdir)
            except Exception as exc:
                from .errors import Interrupted

                if isinstance(exc, Interrupted) or stop.signal is not None:
                    _interrupted(stop, output, workdir)
                raise
        for warning in result.warnings:
            typer.echo(f"videostyle: warning: {warning}", err=True)
        if not quiet:
            typer.echo(
                f"wrote {result.output} ({result.frames} frames at {result.fps} fps, "
                f"{result.computed} computed now; run folder {result.workdir})"
            )


def _interrupted(stop: _StopFlag, output: Path, workdir: Path | None) -> NoReturn:
    import signal

    code = 143 if stop.signal == signal.SIGTERM else 130
    typer.echo(
        "videostyle: interrupted; finished frames are kept. Run the same command again to "
        f"resume (see: videostyle status {workdir or output}).",
        err=True,
    )
    raise typer.Exit(code)


@contextmanager
def _frame_bar(quiet: bool) -> Iterator[tuple[Any, Any]]:
    """Progress over frames: a rich bar on a terminal, plain lines otherwise."""
    from .pipeline import FrameProgress

    if quiet:
        yield (None, None)
        return
    if not sys.stdout.isatty():

        def plain(p: FrameProgress) -> None:
            if p.skipped:
                return
            eta = f", ETA {_duration(p.eta_seconds)}" if p.eta_seconds is not None else ""
            losses = " ".join(f"{k}={v:.4g}" for k, v in p.losses.items())
            typer.echo(
                f"frame {p.frame} ({p.position}/{p.total}) {p.seconds:.1f}s, "
                f"{p.iterations} it{eta}; {losses}"
            )

        yield (plain, None)
        return
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("frames"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TextColumn("ETA {task.fields[eta]}"),
        TextColumn("{task.fields[info]}"),
    ) as bar:
        task = bar.add_task("frames", total=None, eta="?", info="")

        def update(p: FrameProgress) -> None:
            info = "" if p.skipped else (
                f"frame {p.frame}: {p.seconds:.1f}s, {p.iterations} it, "
                f"loss {p.losses.get('total', 0):.4g}"
            )
            bar.update(
                task, total=p.total, completed=p.position,
                eta=_duration(p.eta_seconds) if p.eta_seconds is not None else "?",
                info=info or bar.tasks[0].fields["info"],
            )

        yield (update, None)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@app.command()
def status(
    target: Annotated[Path, typer.Argument(help="A render's output path or its run folder.")],
) -> None:
    """What a render has done, what is left, its settings, and an ETA."""
    import json

    from .pipeline import status as run_status

    with _errors():
        info = run_status(target)
    pixels = info["manifest"]["pixels"]
    typer.echo(f"run folder: {info['workdir']}")
    typer.echo(
        f"frames {info['first_frame']}..{info['last_frame']}: {info['done']} done, "
        f"{info['left']} left"
    )
    if info["seconds_per_frame"] is not None:
        typer.echo(
            f"{info['seconds_per_frame']:.1f}s per frame; ETA {_duration(info['eta_seconds'])}"
        )
    typer.echo("settings: " + json.dumps(pixels, sort_keys=True))


@app.command("flow")
def flow_command(
    source: Annotated[Path, typer.Argument(help="Video or image sequence.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Visualisation video (.mp4).")],
    flow: Annotated[
        str, typer.Option(help="Flow estimator, or a folder of .flo files.")
    ] = "dis",
    size: Annotated[int | None, typer.Option(help="Longest side in pixels.", min=16)] = None,
    frames: Annotated[
        str | None, typer.Option(help="START:END frame numbers, inclusive (see render --help).")
    ] = None,
    fps: Annotated[str | None, typer.Option(help="Frame rate of an image sequence.")] = None,
) -> None:
    """Side by side: each frame, its flow to the previous frame, and the consistency weights."""
    import tempfile

    from .evaluate import flow_frames, write_panels
    from .video import encode_video, fit_size, parse_fps, probe

    with _errors():
        info = probe(source, fps=parse_fps(fps) if fps else None)
        start, end = parse_range(frames)
        dims = fit_size(info.width, info.height, size)
        with tempfile.TemporaryDirectory(prefix="videostyle-flow-") as tmp:
            paths = write_panels(
                flow_frames(info, flow=flow, size=dims, start=start, end=end), Path(tmp)
            )
            if not paths:
                raise InputError("the flow visualisation needs at least two frames")
            encode_video(paths, output, fps=info.fps, codec="h264")
    typer.echo(f"wrote {output} ({len(paths)} frames: frame | flow | consistency weights)")


@app.command()
def evaluate(
    stylized: Annotated[Path, typer.Argument(help="The stylised video or sequence.")],
    source: Annotated[Path, typer.Option(help="The source it was rendered from.")],
    flow: Annotated[
        str, typer.Option(help="Flow estimator run on the source, or a folder of .flo files "
                          "(e.g. ground truth).")
    ] = "dis",
    start: Annotated[
        int | None,
        typer.Option(help="Number of the source frame that the stylised video's first frame "
                     "shows [default: the source's first].", min=0),
    ] = None,
    fps: Annotated[str | None, typer.Option(help="Frame rate of image sequences.")] = None,
    warp: Annotated[
        WarpChoice,
        typer.Option(help="Resampling of the previous frame (bilinear: the paper's measure)."),
    ] = WarpChoice.bilinear,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Temporal error of a stylised video, with optical flow computed on the source."""
    import json

    from .evaluate import temporal_error
    from .video import parse_fps, probe

    with _errors():
        rate = parse_fps(fps) if fps else None
        report = temporal_error(
            probe(stylized, fps=rate), probe(source, fps=rate), flow=flow, start=start,
            warp=warp.value,
        )
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    typer.echo(f"flow: {report.flow}")
    typer.echo("frame  paper        masked       reliable")
    for f in report.frames:
        typer.echo(f"{f.frame:5d}  {f.paper:.6f}  {f.masked:.6f}  {f.reliable:.3f}")
    typer.echo(f"mean   {report.mean_paper:.6f}  {report.mean_masked:.6f}")
