"""Speed-up of the farm: a batch of small shots on K one-thread CPU workers against one.

Makes ``--shots`` sequences of ``--frames`` frames (a texture moving one pixel a frame),
writes a shot file, and runs ``videostyle batch`` once per K with ``--workers K
--threads-per-worker 1`` (each run from scratch, in its own folder; Ray's start-up is
included in the wall time). Prints a Markdown table with the load average before each run
(the machine may be shared) and checks that every K produced the same frames.

    python scripts/bench_farm.py --out /tmp/farm-bench --workers 1 2
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np


def texture(h: int, w: int, shift: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((h, w + 64, 3)).astype(np.float32), (0, 0), 3.0)
    base = (base - base.min()) / (base.max() - base.min())
    return np.ascontiguousarray(base[:, 64 - shift: 64 - shift + w])


def make_shots(root: Path, shots: int, frames: int, size: int, iterations: str) -> Path:
    style = root / "style.png"
    y, x = np.mgrid[0:64, 0:64].astype(np.float32)
    rgb = np.stack([0.5 + 0.5 * np.sin((x + y) / 2.5), np.hypot(x - 32, y - 32) / 64,
                    0.5 + 0.5 * np.cos(x / 1.7)], axis=2)
    cv2.imwrite(str(style), np.rint(np.clip(rgb, 0, 1)[..., ::-1] * 255).astype(np.uint8))
    text = (f'[defaults]\nstyle = ["style.png"]\nquality = "draft"\nsize = {size}\n'
            f'iterations = "{iterations}"\n')
    for k in range(shots):
        folder = root / f"seq{k}"
        folder.mkdir(parents=True, exist_ok=True)
        for t in range(frames):
            image = texture(size * 3 // 4, size, t, k)
            cv2.imwrite(str(folder / f"f_{t + 1:04d}.png"),
                        np.rint(image[..., ::-1] * 255).astype(np.uint8))
        text += f'\n[[shot]]\nsource = "seq{k}/f_%04d.png"\noutput = "OUT/s{k}_%04d.png"\n'
    (root / "shots.template").write_text(text)
    return root / "shots.template"


def run(root: Path, template: Path, workers: int) -> tuple[float, float, str]:
    """Wall seconds, the 1-minute load average before the run, and a digest of the frames."""
    out = root / f"k{workers}"
    out.mkdir(exist_ok=True)
    shots = root / f"shots_k{workers}.toml"
    shots.write_text(template.read_text().replace("OUT/", f"k{workers}/"))
    load = os.getloadavg()[0]
    cmd = [sys.executable, "-m", "videostyle", "batch", str(shots), "--workers", str(workers),
           "--threads-per-worker", "1", "--quiet"]
    print("$ " + shlex.join(cmd), file=sys.stderr, flush=True)
    began = time.monotonic()
    subprocess.run(cmd, check=True)
    seconds = time.monotonic() - began
    digest = hashlib.sha256()
    for path in sorted(out.glob("*.videostyle/frames/*.png")):
        digest.update(path.read_bytes())
    return seconds, load, digest.hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/videostyle-farm-bench"))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--iterations", default="30,15")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    template = make_shots(args.out, args.shots, args.frames, args.size, args.iterations)
    rows = [(k, *run(args.out, template, k)) for k in args.workers]
    base = rows[0][1]
    print(f"{args.shots} shots x {args.frames} frames, {args.size} px, iterations "
          f"{args.iterations}, {os.cpu_count()} CPUs")
    print("| workers | wall time (s) | speed-up | load average before | frames digest |")
    print("|---|---|---|---|---|")
    for k, seconds, load, digest in rows:
        print(f"| {k} | {seconds:.1f} | {base / seconds:.2f} | {load:.2f} | {digest} |")


if __name__ == "__main__":
    main()
