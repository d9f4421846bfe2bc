"""How does a stylised still look? Speckle, style and content ratios and the wall time.

Stylises CONTENT with STYLE through the library (the same path as ``videostyle image``)
and prints the measures of :mod:`videostyle.quality`:

* speckle ratio: chroma neighbour difference of the output over the painting's at the
  output's width (1 = as smooth in colour as the painting);
* style ratio: Gram distance output -> style over content -> style (lower: more style);
* content ratio: content distance output -> content over style -> content (lower: more of
  the photo kept);

the distances measured with the bundled VGG-16 with max pooling and zero padding
(``--judge-padding`` for replicate), whatever network settings the run itself used.

    python scripts/look.py ../shared/data/content/golden_gate.jpg \
        ../shared/data/styles/starry_night.jpg --size 256 --json

``--measure`` judges finished pictures instead: one image, or, with CONTENT and the
measured path both folders, every frame of a render (a run folder's ``content`` and
``frames``), one line per frame and a last line with the worst speckle ratio:

    python scripts/look.py out.videostyle/content style.png --measure out.videostyle/frames
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import time
from pathlib import Path

import numpy as np
import torch

from videostyle.config import (
    DEFAULT_CHROMA_WEIGHT,
    DEFAULT_PADDING,
    DEFAULT_START_SIZE,
    DEFAULT_STYLE_BALANCE,
    DEFAULT_STYLE_WEIGHT,
    DEFAULT_TV_WEIGHT,
    EngineSettings,
    LossWeights,
    OptimizerSettings,
)
from videostyle.networks import LossNetwork, load_network, resolve_device
from videostyle.quality import look_ratios, speckle_ratio
from videostyle.stylize import ImageSettings, stylize_image
from videostyle.video import read_image, write_image


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content", type=Path)
    parser.add_argument("style", type=Path)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=OptimizerSettings.iterations)
    parser.add_argument("--optimizer", default="lbfgs", choices=("lbfgs", "adam"))
    parser.add_argument("--init", default="content")
    parser.add_argument("--content-weight", type=float, default=1.0)
    parser.add_argument("--style-weight", type=float, default=DEFAULT_STYLE_WEIGHT)
    parser.add_argument("--tv-weight", type=float, default=DEFAULT_TV_WEIGHT)
    parser.add_argument("--chroma-weight", type=float, default=DEFAULT_CHROMA_WEIGHT)
    parser.add_argument("--style-scale", type=float, default=1.0)
    parser.add_argument("--network", default="vgg16", choices=("vgg16", "vgg19"))
    parser.add_argument("--pooling", default="max", choices=("max", "avg"))
    parser.add_argument(
        "--padding", default=DEFAULT_PADDING, choices=("zeros", "replicate", "replicate-first")
    )
    parser.add_argument(
        "--start-size", type=int, default=DEFAULT_START_SIZE or 0,
        help="coarse-to-fine: first scale's longest side (0: one scale)",
    )
    parser.add_argument("--scale-ratio", type=float, default=ImageSettings.scale_ratio)
    parser.add_argument("--average", type=float, default=0.0, help="Adam: iterate EMA decay")
    parser.add_argument("--adam-lr", type=float, default=OptimizerSettings.adam_lr)
    parser.add_argument("--mean-weight", type=float, default=0.0, help="style means weight")
    parser.add_argument(
        "--style-layer-weights", help="comma-separated, one per style layer (normalised)"
    )
    parser.add_argument("--style-balance", type=float, default=DEFAULT_STYLE_BALANCE,
                        help="weight of each style layer times (m_max / m_l) ** B")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=OptimizerSettings.tolerance)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on the CPU")
    parser.add_argument("--output", "-o", type=Path, help="also write the stylised image")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--judge-padding", default="zeros", choices=("zeros", "replicate"),
        help="padding of the network that measures (the measures lean towards runs made "
        "with the same padding)",
    )
    parser.add_argument(
        "--measure", type=Path, metavar="IMAGE", help="measure this stylised image, no run "
        "(a folder: each PNG in it against the same-named one in CONTENT, a folder too)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    style = read_image(args.style)
    if args.measure is not None and args.measure.is_dir():
        measure_frames(args, style)
        return
    content = read_image(args.content)
    engine = EngineSettings(
        network=args.network, pooling=args.pooling, seed=args.seed,
        weights=LossWeights(content=args.content_weight, style=args.style_weight,
                            tv=args.tv_weight, chroma=args.chroma_weight),
        optimizer=OptimizerSettings(optimizer=args.optimizer, iterations=args.iterations,
                                    tolerance=args.tolerance),
    )
    engine = dataclasses.replace(
        engine,
        padding=args.padding,
        style_mean_weight=args.mean_weight,
        style_balance=args.style_balance,
        style_layer_weights=tuple(float(v) for v in args.style_layer_weights.split(","))
        if args.style_layer_weights else None,
        optimizer=dataclasses.replace(
            engine.optimizer, average=args.average, adam_lr=args.adam_lr
        ),
    )
    settings = ImageSettings(
        size=args.size, style_scale=args.style_scale, init=args.init, engine=engine,
        start_size=args.start_size or None, scale_ratio=args.scale_ratio,
    )
    if args.measure is not None:
        measures = measure(read_image(args.measure), content, style, args.judge_padding)
        print_report(args, measures, {})
        return
    network = load_network(
        args.network, pooling=args.pooling, padding=args.padding, device=device  # type: ignore[arg-type]
    )
    started = time.monotonic()
    result = stylize_image(content, [style], network=network, settings=settings, device=device)
    seconds = time.monotonic() - started
    if args.output is not None:
        write_image(args.output, result.image)
    run = {
        "seconds": round(seconds, 1),
        "iterations": result.iterations,
        "scales": result.scales,
        "stop_reason": result.stop_reason,
        "losses": {k: round(v, 4) for k, v in result.losses.items()},
    }
    print_report(args, measure(result.image, content, style, args.judge_padding), run)


@functools.cache
def _judge(padding: str) -> LossNetwork:
    return load_network("vgg16", padding=padding)  # type: ignore[arg-type]


def measure(
    out: np.ndarray, content: np.ndarray, style: np.ndarray, padding: str = "zeros"
) -> dict[str, object]:
    """The three ratios of a stylised image, judged by the bundled VGG-16 (max pooling)."""
    judge = _judge(padding)
    ratios = look_ratios(judge, out, content, style)
    return {
        "size": f"{out.shape[1]}x{out.shape[0]}",
        "speckle_ratio": round(speckle_ratio(out, style), 4),
        "style_ratio": round(ratios[0], 4),
        "content_ratio": round(ratios[1], 4),
    }


def measure_frames(args: argparse.Namespace, style: np.ndarray) -> None:
    """Every stylised frame in the folder ``args.measure`` against its source frame."""
    worst = 0.0
    frames = sorted(args.measure.glob("*.png"))
    if not frames:
        raise SystemExit(f"no PNG frames in {args.measure}")
    for path in frames:
        measures = measure(read_image(path), read_image(args.content / path.name), style,
                           args.judge_padding)
        worst = max(worst, float(measures["speckle_ratio"]))  # type: ignore[arg-type]
        print_report(args, {"frame": path.name, **measures}, {})
    print_report(args, {"frames": len(frames), "worst_speckle_ratio": round(worst, 4)}, {})


def print_report(
    args: argparse.Namespace, measures: dict[str, object], run: dict[str, object]
) -> None:
    report = {"content": args.content.name, "style": args.style.name, **measures, **run}
    if args.json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        print(f"{key:14s} {value}")


if __name__ == "__main__":
    main()
