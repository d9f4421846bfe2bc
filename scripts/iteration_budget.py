"""How much of the reference's iteration budget (2000 first frame, 1000 later) is needed?

Renders the first frames of a clip with the reference budget and no early stopping,
records the total loss after every L-BFGS iteration, and prints how close each shorter
budget gets to the loss the full budget reaches. Uses the library API (the same pipeline
as ``videostyle render``).

    python scripts/iteration_budget.py ../shared/data/clips/sintel_market \
        --style ../shared/data/styles/starry_night.jpg --size 192
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from fractions import Fraction
from pathlib import Path

from videostyle.networks import load_network, resolve_device
from videostyle.optimize import Progress
from videostyle.pipeline import FrameProgress, Renderer, RenderSettings
from videostyle.stylize import ImageSettings
from videostyle.video import probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("--style", required=True, type=Path)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--iterations", default="2000,1000")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    args = parser.parse_args()
    first, rest = (int(v) for v in args.iterations.split(","))
    image = ImageSettings(size=args.size)
    image = dataclasses.replace(
        image,
        engine=dataclasses.replace(
            image.engine, optimizer=dataclasses.replace(image.engine.optimizer, tolerance=0.0)
        ),
    )
    histories: dict[int, list[float]] = {}
    current: list[float] = []

    def on_iteration(p: Progress) -> None:
        current.append(p.losses["total"])

    def on_frame(p: FrameProgress) -> None:
        histories[p.frame] = list(current)
        current.clear()

    number = probe(args.source, fps=Fraction(24)).first  # frames by number (Sintel: 16-25)
    with tempfile.TemporaryDirectory() as tmp:
        settings = RenderSettings(
            source=Path(args.source), styles=(args.style,), output=Path(tmp) / "out_%04d.png",
            image=image, fps=Fraction(24), frames=(number, number + args.frames - 1),
            iterations=(first, rest),
            long_term=(1,),
        )
        device = resolve_device(args.device)
        net = load_network("vgg16", device=device)
        Renderer(settings, network=net, device=device, on_frame=on_frame,
                 on_iteration=on_iteration).run()
    budgets = (50, 100, 150, 200, 300, 400, 600, 1000, 2000)
    table = {}
    print("| frame | final loss | " + " | ".join(f"{b} it" for b in budgets) + " |")
    print("|---" * (len(budgets) + 2) + "|")
    for frame, hist in histories.items():
        final = hist[-1]
        cells = [f"{hist[b - 1] / final:.3f}" if b <= len(hist) else "" for b in budgets]
        table[frame] = {"final": final, "ratio": dict(zip(budgets, cells, strict=True))}
        print(f"| {frame} | {final:.5g} | " + " | ".join(cells) + " |")
    print(json.dumps(table))


if __name__ == "__main__":
    main()
