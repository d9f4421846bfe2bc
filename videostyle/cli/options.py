"""Options declared as tables, and commands generated from them.

A command's options are a list of :class:`Opt` (name, type, default, help); defaults and
choices are read from the settings dataclasses and the stages' tuples, never written here
a second time. :func:`command` turns a table into a typer command whose function receives
the typer context and the values; :func:`given` keeps only what the user typed, which is
what :mod:`videostyle.settings` resolves.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

try:
    from typer._click.core import ParameterSource
except ImportError:  # pragma: no cover
    from click.core import ParameterSource  # type: ignore[no-redef,assignment]

from .. import flow as flowmod
from ..config import EngineSettings, LossWeights, OptimizerSettings
from ..lbfgs import HISTORY_DTYPES
from ..networks import PADDINGS, PRECISIONS
from ..optimize import COMPILE_MODES
from ..stylize import ImageSettings


def choice(name: str, values: Iterable[str]) -> type[StrEnum]:
    """A string enum of ``values`` (typer shows and checks them as choices)."""
    return StrEnum(name, {v: v for v in values})  # type: ignore[return-value]


@dataclass(frozen=True)
class Opt:
    """One command-line parameter: ``--name-with-dashes`` unless ``decls`` say otherwise.

    ``default`` ``...`` makes it required; ``argument`` makes it positional; ``extra``
    goes to ``typer.Option``/``typer.Argument`` (``min``, ``metavar``, ...).
    """

    name: str
    type: Any
    default: Any
    help: str
    decls: tuple[str, ...] = ()
    argument: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def parameter(self) -> inspect.Parameter:
        maker = typer.Argument if self.argument else typer.Option
        info = maker(*self.decls, help=self.help, **self.extra)
        return inspect.Parameter(
            self.name, inspect.Parameter.KEYWORD_ONLY,
            default=inspect.Parameter.empty if self.default is ... else self.default,
            annotation=Annotated[self.type, info],
        )


def command(
    app: typer.Typer, name: str, options: Sequence[Opt]
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``body(ctx, **values)`` as command ``name`` with the options ``options``."""

    def register(body: Callable[..., None]) -> Callable[..., None]:
        def handler(ctx: typer.Context, **values: Any) -> None:
            body(ctx, **{k: plain(v) for k, v in values.items()})

        context = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY,
                                    annotation=typer.Context)
        handler.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [context, *(o.parameter() for o in options)]
        )
        handler.__doc__ = body.__doc__
        handler.__name__ = name
        app.command(name)(handler)
        return body

    return register


def plain(value: Any) -> Any:
    """Enum members as their values; lists of them likewise."""
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def given(ctx: typer.Context, values: dict[str, Any], *, exclude: Iterable[str] = ()) -> dict[
    str, Any
]:
    """The options the user typed (not defaults, not environment), as plain values."""
    skip = set(exclude)
    return {
        name: plain(value) for name, value in values.items()
        if name not in skip and ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
    }


# ---- choices, from the stages' own tuples ------------------------------------------------
Network = choice("Network", ("vgg16", "vgg19"))
Optimizer = choice("Optimizer", ("lbfgs", "adam"))
Pooling = choice("Pooling", ("max", "avg"))
Precision = choice("Precision", PRECISIONS)
LbfgsPrecision = choice("LbfgsPrecision", tuple(HISTORY_DTYPES))
Compile = choice("Compile", COMPILE_MODES)
Colors = choice("Colors", ("yuv", "ycrcb", "luv", "lab"))
Warp = choice("Warp", tuple(flowmod.WARP_INTERPOLATIONS))
Padding = choice("Padding", PADDINGS)

# ---- options shared by `image` and `render` ---------------------------------------------
_ENGINE, _WEIGHTS, _OPT = EngineSettings(), LossWeights(), OptimizerSettings()

STYLE = Opt("style", list[Path], ..., "Style image; repeat for a blend of several.",
            decls=("--style", "-s"), extra={"metavar": "IMAGE"})
STYLE_WEIGHTS = Opt("style_weights", str | None, None,
                    "Blend weights of the styles, e.g. 0.7,0.3 (one per --style, normalised "
                    "to sum 1).")
STYLE_SCALE = Opt("style_scale", float, ImageSettings.style_scale,
                  "Linear size of the style relative to the content.", extra={"min": 0.01})
OPTIMIZER = Opt("optimizer", Optimizer, Optimizer(_OPT.optimizer), "L-BFGS (default) or Adam.")
CONTENT_WEIGHT = Opt("content_weight", float, _WEIGHTS.content, "Weight of the content loss.",
                     extra={"min": 0.0})
STYLE_WEIGHT = Opt("style_weight", float, _WEIGHTS.style, "Weight of the style loss.",
                   extra={"min": 0.0})
TV_WEIGHT = Opt("tv_weight", float, _WEIGHTS.tv, "Weight of total variation.",
                extra={"min": 0.0})
CHROMA_WEIGHT = Opt("chroma_weight", float, _WEIGHTS.chroma, "Weight of the total variation "
                    "of the colour (chroma) channels alone: removes colour speckle, keeps "
                    "the brush texture. Per 256 px: above that the term grows with the "
                    "square of the longer side.", extra={"min": 0.0})
STYLE_BALANCE = Opt("style_balance", float, _ENGINE.style_balance, "How much the deep style "
                    "layers (the large strokes) count: each layer's weight times (m_max / m)^B, "
                    "m its Gram entries' mean square; 0: plain sum (small strokes), 1: every "
                    "layer's relative error equal.", extra={"min": 0.0, "max": 2.0})
COLORS = Opt("original_colors", Colors | None, None, "Keep the content's colours (colour space).",
             decls=("--original-colors",))
NETWORK = Opt("network", Network, Network(_ENGINE.network), "Loss network.")
WEIGHTS = Opt("weights", Path | None, None,
              "VGG-19 weights file (state_dict of torchvision's vgg19().features) [default: "
              "$VIDEOSTYLE_WEIGHTS with --network vgg19, else torchvision's download].")
POOLING = Opt("pooling", Pooling, Pooling(_ENGINE.pooling), "Pooling in the loss network.")
PADDING = Opt("padding", Padding, Padding(_ENGINE.padding), "Padding of the loss network's "
              "convolutions: replicate-first (the image's border is no edge), replicate (every "
              "convolution) or zeros.")
START_SIZE = Opt("start_size", int, ImageSettings.start_size or 0, "Coarse-to-fine (a still, "
                 "and the first frame of a render): longest side of the first scale, each next "
                 "one sqrt(2) larger up to the output size (0: one scale).", extra={"min": 0})
DEVICE = Opt("device", str, "auto", "Where to compute: auto, cpu, cuda, cuda:N (the N-th GPU) "
             "or mps.")
PRECISION = Opt("precision", Precision, Precision(_ENGINE.precision), "The loss network's "
                "arithmetic: auto (bfloat16 on CUDA, float32 elsewhere), float32 or bf16; Gram "
                "matrices and losses are float32 either way.")
COMPILE = Opt("compile", Compile, Compile(_ENGINE.compile), "The objective's forward and "
              "backward through torch.compile: off (eager), default, reduce-overhead (CUDA "
              "graphs on a GPU) or max-autotune. Each frame size compiles at its first "
              "iteration (tens of seconds); a still and a render's first frame run their "
              "smaller coarse-to-fine scales eager (compiled with --independent, where every "
              "frame runs them); on a CPU it measured slower than eager.")
LBFGS_HISTORY = Opt("lbfgs_history", int, _OPT.lbfgs_history, "Gradient pairs L-BFGS keeps "
                    "(memory: 24 bytes per pixel per pair).", extra={"min": 1})
LBFGS_PRECISION = Opt("lbfgs_precision", LbfgsPrecision, LbfgsPrecision(_OPT.lbfgs_precision),
                      "Arithmetic of the pairs L-BFGS stores: bf16 halves their memory (12 "
                      "bytes per pixel per pair); the products with them stay float32.")
SEED = Opt("seed", int, _ENGINE.seed, "Seed of the noise a start from noise (random) "
           "begins with.")
TOLERANCE = Opt("tolerance", float, _OPT.tolerance,
                f"Stop early when the loss fell by less than this fraction over "
                f"{_OPT.tolerance_window} iterations (0: never).", extra={"min": 0.0})
QUIET = Opt("quiet", bool, False, "No progress output.", decls=("--quiet", "-q"))

#: The loss and network options, in the order both commands list them.
ENGINE_OPTIONS = (CONTENT_WEIGHT, STYLE_WEIGHT, TV_WEIGHT, CHROMA_WEIGHT, STYLE_BALANCE,
                  STYLE_WEIGHTS, STYLE_SCALE, START_SIZE)
NETWORK_OPTIONS = (COLORS, NETWORK, WEIGHTS, POOLING, PADDING, DEVICE, PRECISION, COMPILE,
                   SEED, TOLERANCE, LBFGS_HISTORY, LBFGS_PRECISION)

# ---- shot files and the render farm (`render` and `batch`) --------------------------------
CONFIG = Opt("config", Path | None, None, "A shot file (TOML) with one [[shot]]: source, styles, "
             "output and options come from it; options typed here override it.",
             extra={"metavar": "FILE"})
WORKERS = Opt("workers", str | None, None, "Render on a local Ray instance with N workers, or "
              "auto: one per GPU, else CPU workers of --threads-per-worker threads (needs "
              "videostyle[farm]).", extra={"metavar": "N|auto"})
RAY_ADDRESS = Opt("ray_address", str | None, None, "Render on a running Ray cluster (ray start "
                  "--head; see docs/farm.md), e.g. 10.0.0.5:6379.", extra={"metavar": "ADDR"})
THREADS_PER_WORKER = Opt("threads_per_worker", int | None, None, "Torch threads of each CPU "
                         "worker [default: the count a render here uses, so frames are "
                         "byte-identical to it].", extra={"min": 1})
FARM_OPTIONS = (WORKERS, RAY_ADDRESS, THREADS_PER_WORKER)
FARM_NAMES = tuple(opt.name for opt in FARM_OPTIONS)
