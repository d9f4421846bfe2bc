"""Measure temporal consistency: the default render against ``--independent``.

Two clips:

1. ``known``: a photo moved by a known affine motion per frame (rotation, zoom and
   translation), so the optical flow between any two frames is known exactly; the
   temporal error is measured with that ground-truth flow, not with the flow the render
   optimised against.
2. ``sintel``: the Sintel frames in ``../shared/data/clips/sintel_market``; the temporal
   error is measured with Farneback flow while the render used DIS.

For each clip the default render, each ``--variant`` render (extra ``render`` arguments,
e.g. ``--variant 'bilinear=--warp bilinear'``) and the ``--independent`` render run through
the real command line (the commands are printed),
the temporal error comes from ``videostyle evaluate --json``, and the style and content
losses are the means over frames 2..N of the stored per-frame losses in the run folders.
Prints a Markdown table.

    python scripts/temporal_evidence.py --shared ../shared --out /tmp/evidence
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from videostyle.flow import write_flo


def affine(t: int, center: tuple[float, float]) -> np.ndarray:
    """3x3 map from frame-t pixel coordinates to texture coordinates."""
    angle = math.radians(0.6 * t)
    scale = 1.0 / (1.012**t)  # the camera zooms in
    cx, cy = center
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    tx, ty = 2.2 * t, -0.9 * t
    return np.array(
        [[c, -s, cx - c * cx + s * cy + tx], [s, c, cy - s * cx - c * cy + ty], [0, 0, 1]]
    )


def make_known_clip(texture_path: Path, folder: Path, n: int, size: tuple[int, int]) -> None:
    """Frames ``frame_%04d.png`` and exact flows ``gt/forward_i_j.flo``/``backward_j_i.flo``."""
    texture = cv2.imread(str(texture_path), cv2.IMREAD_COLOR)
    w, h = size
    texture = cv2.resize(texture, (int(w * 1.6), int(h * 1.6)), interpolation=cv2.INTER_AREA)
    offset = np.array([[1, 0, w * 0.3], [0, 1, h * 0.3], [0, 0, 1]])
    center = (w / 2, h / 2)
    maps = [offset @ affine(t, center) for t in range(1, n + 1)]
    (folder / "gt").mkdir(parents=True, exist_ok=True)
    for t, m in enumerate(maps, start=1):
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        frame = cv2.warpAffine(texture, m[:2], (w, h), flags=flags)
        cv2.imwrite(str(folder / f"frame_{t:04d}.png"), frame)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    pts = np.stack([xs, ys, np.ones_like(xs)], axis=-1)  # (H, W, 3)

    def flow(a: int, b: int) -> np.ndarray:
        # pixel p of frame a shows texture point M_a p, seen in frame b at M_b^-1 M_a p
        m = np.linalg.inv(maps[b - 1]) @ maps[a - 1]
        q = pts @ m.T
        return (q[..., :2] - pts[..., :2]).astype(np.float32)

    for a in range(1, n):
        write_flo(folder / "gt" / f"forward_{a}_{a + 1}.flo", flow(a, a + 1))
        write_flo(folder / "gt" / f"backward_{a + 1}_{a}.flo", flow(a + 1, a))


def run(cmd: list[str]) -> str:
    print("$ " + shlex.join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def mean_losses(workdir: Path) -> dict[str, float]:
    records = sorted((workdir / "frames").glob("*.json"))[1:]  # frames 2..N
    keys = ("content", "style")
    losses = [json.loads(p.read_text())["losses"] for p in records]
    return {k: float(np.mean([rec[k] for rec in losses])) for k in keys}


def measure(name: str, source: str, style: Path, out: Path, eval_flow: str,
            extra: list[str], variants: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Render ``source`` once per variant and once ``--independent``; figures of each."""
    results = {}
    modes = {**variants, "independent": ["--independent"]}
    for mode, args in modes.items():
        pattern = out / f"{name}_{mode}_%04d.png"
        cmd = ["videostyle", "render", source, "--style", str(style), "-o", str(pattern),
               "--quiet", *extra, *args]
        run(cmd)
        report = json.loads(run(["videostyle", "evaluate", str(pattern), "--source", source,
                                 "--flow", eval_flow, "--json"]))
        results[mode] = {
            "paper": report["mean_paper"],
            "masked": report["mean_masked"],
            **mean_losses(out / f"{name}_{mode}.videostyle"),
        }
    return results


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``NAME=ARGS``: a render with extra ``videostyle render`` arguments."""
    name, _, args = text.partition("=")
    if not name.isidentifier():
        raise SystemExit(f"--variant takes NAME=ARGS with NAME a plain word, got {text!r}")
    return name, shlex.split(args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/videostyle-evidence"))
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--iterations", default="200,100")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument(
        "--variant", action="append", default=[], metavar="NAME=ARGS",
        help="another render to compare, e.g. 'bilinear=--warp bilinear' (repeatable)",
    )
    args = parser.parse_args()
    variants = {"default": [], **dict(parse_variant(v) for v in args.variant)}
    args.out.mkdir(parents=True, exist_ok=True)
    style = args.shared / "data/styles/starry_night.jpg"
    extra = ["--size", str(args.size), "--iterations", args.iterations, "--fps", "24"]
    known = args.out / "known"
    make_known_clip(args.shared / "data/content/tubingen.jpg", known, args.frames, (384, 256))
    table = {
        "known motion (ground-truth flow)": measure(
            "known", str(known / "frame_%04d.png"), style, args.out, str(known / "gt"), extra,
            variants,
        ),
        "Sintel market (Farneback flow)": measure(
            "sintel", str(args.shared / "data/clips/sintel_market"), style, args.out,
            "farneback", extra, variants,
        ),
    }
    print("| clip | render | temporal error (paper) | masked | style loss | content loss |")
    print("|---|---|---|---|---|---|")
    for clip, rows in table.items():
        i = rows["independent"]
        for mode, r in rows.items():
            print(f"| {clip} | {mode} | {r['paper']:.6f} | {r['masked']:.6f} | "
                  f"{r['style']:.4g} | {r['content']:.4g} |")
        for mode, d in rows.items():
            if mode != "independent":
                print(f"| {clip} | {mode} / independent | {d['paper'] / i['paper']:.3f} | "
                      f"{d['masked'] / i['masked']:.3f} | {d['style'] / i['style']:.3f} | "
                      f"{d['content'] / i['content']:.3f} |")
    (args.out / "evidence.json").write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
