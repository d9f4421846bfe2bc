"""Render speed: optimiser iterations per second by frame size, and a whole render.

1. For each ``--sizes`` entry, the first frame of SOURCE is stylised for ``--iterations``
   L-BFGS iterations (no early stop) and the time per iteration is measured after one
   untimed warm-up run, with the device synchronised; peak GPU memory is reported on CUDA.
2. ``--render-frames`` frames of SOURCE are rendered with the ``--quality`` preset (flow,
   long-term offsets, iteration budget; early stop on) through the same pipeline as
   ``videostyle render``, and the per-frame times are reported.

Uses the library API. Prints a Markdown table and, with ``--json``, writes the figures.

    python scripts/bench_render.py ../shared/data/clips/sintel_market \
        --style ../shared/data/styles/starry_night.jpg --sizes 256,512 --render-frames 4
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from videostyle.config import PRESETS
from videostyle.networks import LossNetwork, load_network, resolve_device
from videostyle.optimize import Objective, optimize
from videostyle.pipeline import FrameProgress, Renderer
from videostyle.settings import resolve_render
from videostyle.stylize import ImageSettings, prepare_styles, resize_image, to_tensor
from videostyle.video import fit_size, list_sequence, probe, read_frames, read_image


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def first_frame(source: str) -> np.ndarray:
    info = probe(source, fps=Fraction(24))
    for _, frame in read_frames(info, start=info.first, end=info.first):
        return frame
    raise SystemExit(f"{source} has no frames")


def iteration_speed(
    net: LossNetwork, content_full: np.ndarray, style: np.ndarray, size: int, iterations: int,
    device: torch.device,
) -> dict[str, float]:
    h, w = content_full.shape[:2]
    wh = fit_size(w, h, size)
    settings = ImageSettings(size=size)
    engine = dataclasses.replace(
        settings.engine,
        optimizer=dataclasses.replace(
            settings.engine.optimizer, iterations=iterations, tolerance=0.0
        ),
    )
    content = to_tensor(resize_image(content_full, wh), device)
    targets = prepare_styles(net, [style], content_size=wh, settings=settings, device=device)
    objective = Objective(net, content=content, styles=targets, settings=engine)
    optimize(objective, content, settings=engine.optimizer)  # warm-up (kernels, allocator)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    t0 = time.perf_counter()
    result = optimize(objective, content, settings=engine.optimizer)
    _sync(device)
    seconds = time.perf_counter() - t0
    row = {
        "width": wh[0],
        "height": wh[1],
        "iterations": result.iterations,
        "ms_per_iteration": 1000 * seconds / max(result.iterations, 1),
    }
    if device.type == "cuda":
        row["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return row


def render_speed(
    net: LossNetwork, source: str, style: Path, quality: str, frames: int,
    size: int | None, device: torch.device,
) -> dict[str, object]:
    seconds: list[float] = []
    iterations: list[int] = []

    def on_frame(p: FrameProgress) -> None:
        if not p.skipped:
            seconds.append(p.seconds)
            iterations.append(p.iterations)

    with tempfile.TemporaryDirectory() as tmp:
        first = probe(source, fps=Fraction(24)).first  # frames by number (Sintel: 16-25)
        given: dict[str, object] = {"fps": "24", "frames": f"{first}:{first + frames - 1}"}
        if size is not None:
            given["size"] = size
        settings = resolve_render(
            Path(source), (style,), Path(tmp) / "out_%04d.png", quality=quality, given=given
        ).settings
        _sync(device)
        t0 = time.perf_counter()
        Renderer(settings, network=net, device=device, on_frame=on_frame).run()
        _sync(device)
        wall = time.perf_counter() - t0
        out = read_image(list_sequence(str(Path(tmp) / "out_%04d.png"))[0])
    return {
        "quality": quality,
        "frames": frames,
        "width": out.shape[1],
        "height": out.shape[0],
        "wall_seconds": wall,
        "first_frame_seconds": seconds[0],
        "later_frame_seconds": sum(seconds[1:]) / max(len(seconds) - 1, 1),
        "iterations": iterations,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("--style", required=True, type=Path)
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--render-frames", type=int, default=4)
    parser.add_argument("--render-size", type=int, default=None)
    parser.add_argument("--quality", default="standard", choices=sorted(PRESETS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    device = resolve_device(args.device)
    net = load_network("vgg16", device=device)
    content = first_frame(args.source)
    style = read_image(args.style)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    rows = [
        iteration_speed(net, content, style, int(s), args.iterations, device)
        for s in args.sizes.split(",")
    ]
    print(f"device: {name}, torch {torch.__version__}")
    print("| frame size | ms / L-BFGS iteration | peak GPU memory (GiB) |")
    print("|---|---|---|")
    for r in rows:
        peak = f"{r['peak_gib']:.2f}" if "peak_gib" in r else "-"
        print(f"| {r['width']}×{r['height']} | {r['ms_per_iteration']:.1f} | {peak} |")
    render = None
    if args.render_frames > 0:
        render = render_speed(net, args.source, args.style, args.quality, args.render_frames,
                              args.render_size, device)
        print(
            f"\n{args.quality} render of {render['frames']} frames at "
            f"{render['width']}×{render['height']}: {render['wall_seconds']:.1f} s in all, "
            f"first frame {render['first_frame_seconds']:.1f} s, later frames "
            f"{render['later_frame_seconds']:.1f} s each (iterations {render['iterations']})"
        )
    if args.json:
        args.json.write_text(json.dumps(
            {"device": name, "torch": torch.__version__, "iterations": rows, "render": render},
            indent=2,
        ))


if __name__ == "__main__":
    main()
