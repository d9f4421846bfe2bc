"""The package's L-BFGS against torch.optim.LBFGS on the style objective of a real frame.

For each ``--sizes`` entry the first frame of SOURCE is stylised from the content image
for ``--iterations`` iterations by both solvers (history 100, strong-Wolfe line search, no
early stop), each after an untimed warm-up run, with the device synchronised. Prints
milliseconds per iteration, loss evaluations per iteration and the total loss reached.

    python scripts/bench_lbfgs.py ../shared/data/clips/sintel_market \
        --style ../shared/data/styles/starry_night.jpg --sizes 128,256 --iterations 50
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable

import numpy as np
import torch
from bench_render import _sync, first_frame

from videostyle.config import OptimizerSettings
from videostyle.networks import LossNetwork, load_network, resolve_device
from videostyle.optimize import Objective, optimize
from videostyle.stylize import ImageSettings, prepare_styles, resize_image, to_tensor
from videostyle.video import fit_size, read_image


def torch_lbfgs(objective: Objective, init: torch.Tensor, iterations: int) -> tuple[float, int]:
    """torch.optim.LBFGS as this package configured it before it had its own solver."""
    x = init.clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [x], lr=1.0, max_iter=iterations, max_eval=iterations * 3 + 10, history_size=100,
        tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe",
    )
    evaluations = 0

    def closure() -> torch.Tensor:
        nonlocal evaluations
        evaluations += 1
        opt.zero_grad()
        total = objective(x)["total"]
        total.backward()
        return total

    opt.step(closure)  # type: ignore[arg-type]
    with torch.no_grad():
        return float(objective(x)["total"]), evaluations


def package_lbfgs(
    objective: Objective, init: torch.Tensor, settings: OptimizerSettings
) -> tuple[float, int]:
    """optimize() with the package's L-BFGS; evaluations exclude its two looks without a
    gradient (at the initial and the final image)."""
    calls = 0

    def counted(image: torch.Tensor) -> dict[str, torch.Tensor]:
        nonlocal calls
        calls += 1
        return objective(image)

    result = optimize(counted, init, settings=settings)  # type: ignore[arg-type]
    assert result.iterations == settings.iterations, result.stop_reason
    return result.losses["total"], calls - 2


def timed(run: Callable[[], tuple[float, int]], device: torch.device) -> tuple[float, float, int]:
    run()  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    loss, evaluations = run()
    _sync(device)
    return time.perf_counter() - t0, loss, evaluations


def compare(
    net: LossNetwork, frame: np.ndarray, style: np.ndarray, size: int, n: int,
    device: torch.device,
) -> list[str]:
    wh = fit_size(frame.shape[1], frame.shape[0], size)
    settings = ImageSettings(size=size)
    engine = dataclasses.replace(settings.engine, optimizer=dataclasses.replace(
        settings.engine.optimizer, iterations=n, tolerance=0.0))
    content = to_tensor(resize_image(frame, wh), device)
    targets = prepare_styles(net, [style], content_size=wh, settings=settings, device=device)
    objective = Objective(net, content=content, styles=targets, settings=engine)
    runs: list[tuple[str, Callable[[], tuple[float, int]]]] = [
        ("torch.optim.LBFGS", lambda: torch_lbfgs(objective, content, n)),
        ("videostyle.lbfgs", lambda: package_lbfgs(objective, content, engine.optimizer)),
    ]
    rows = []
    for label, run in runs:
        seconds, loss, evaluations = timed(run, device)
        rows.append(f"| {wh[0]}×{wh[1]} | {label} | {1000 * seconds / n:.1f} "
                    f"| {evaluations / n:.2f} | {loss:.6g} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("--style", required=True)
    parser.add_argument("--sizes", default="128,256")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    net = load_network("vgg16", device=device)
    frame, style = first_frame(args.source), read_image(args.style)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"{name}, torch {torch.__version__}, {args.iterations} iterations from the content "
          "image\n")
    print("| size | solver | ms / iteration | evaluations / iteration | total loss |")
    print("|---|---|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        for row in compare(net, frame, style, size, args.iterations, device):
            print(row, flush=True)


if __name__ == "__main__":
    main()
