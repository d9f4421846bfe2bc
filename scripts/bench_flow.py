"""Accuracy and speed of the flow estimators in videostyle.flow, on pairs with known flow.

Frame a is a photo; frame b is the same photo moved by a random affine map
(rotation, scale, shear and translation about the centre), so the flow a -> b is
known exactly at every pixel: ``gt(p) = M p - p`` for b = ``warpAffine(a, M)``.
A textured rectangle (an occluder) is pasted on top of both frames at positions
that differ by its own random translation. End-point error (EPE) is measured on
the non-occluded background (pixels of a that are not under the occluder in a,
whose target is inside b and not under the occluder in b), and separately on the
occluder itself. Run time is the median of ``--repeat`` runs per pair, after one
warm-up call per size.

Optionally (``--sintel``) the estimators also run on real consecutive frames
without ground truth; there the table reports the share of pixels that pass the
forward-backward check and the photometric error of the warped frame on them.

Usage (from the repository root):
    python scripts/bench_flow.py --images ../shared/data/content/tubingen.jpg \
        ../shared/data/content/golden_gate.jpg --widths 512 1024 --pairs 4 --repeat 3
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from videostyle import flow as fl
from videostyle.errors import FlowError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEFAULT_IMAGES = [SHARED / "data" / "content" / "tubingen.jpg",
                  SHARED / "data" / "content" / "golden_gate.jpg"]
DEFAULT_SINTEL = SHARED / "data" / "clips" / "sintel_market"

# (label, make_estimator name, parameters)
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    ("dis-ultrafast", "dis-ultrafast", {}),
    ("dis-ultrafast +VR5", "dis-ultrafast", {"variational_refinement_iterations": 5}),
    ("dis-fast", "dis-fast", {}),
    ("dis-fast -VR", "dis-fast", {"variational_refinement_iterations": 0}),
    ("dis-fast finest0", "dis-fast", {"finest_scale": 0}),
    ("dis-medium", "dis-medium", {}),
    ("dis-medium -VR", "dis-medium", {"variational_refinement_iterations": 0}),
    ("dis-medium VR10", "dis-medium", {"variational_refinement_iterations": 10}),
    ("dis-medium stride2", "dis-medium", {"patch_stride": 2}),
    ("dis (default)", "dis", {}),
    ("dis-medium finest0 -VR", "dis-medium",
     {"finest_scale": 0, "variational_refinement_iterations": 0}),
    ("dis-medium finest0 stride4", "dis-medium", {"finest_scale": 0, "patch_stride": 4}),
    ("farneback", "farneback", {}),
    ("farneback gauss w21", "farneback", {"gaussian": True, "winsize": 21}),
    ("deepflow", "deepflow", {}),
    ("tvl1", "tvl1", {}),
]


def variants(only: list[str] | None) -> list[tuple[str, str, dict[str, Any]]]:
    """The rows of VARIANTS whose label is in ``only`` (all when None)."""
    if only is None:
        return VARIANTS
    unknown = sorted(set(only) - {label for label, _, _ in VARIANTS})
    if unknown:
        raise SystemExit(f"unknown --only label(s) {unknown}; known: "
                         + ", ".join(label for label, _, _ in VARIANTS))
    return [v for v in VARIANTS if v[0] in only]


@dataclass
class Pair:
    frame_a: np.ndarray  # (H, W, 3) float32 RGB
    frame_b: np.ndarray
    gt: np.ndarray  # (H, W, 2) exact flow a -> b
    background: np.ndarray  # (H, W) bool: non-occluded background with a target in b
    occluder: np.ndarray  # (H, W) bool: occluder pixels of a visible in b


def load_rgb(path: Path, width: int | None) -> np.ndarray:
    """``path`` as float32 RGB in [0, 1], resized to ``width`` (aspect kept) unless None."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read image {path}")
    if width is not None:
        height = round(bgr.shape[0] * width / bgr.shape[1])
        interp = cv2.INTER_AREA if width < bgr.shape[1] else cv2.INTER_CUBIC
        bgr = cv2.resize(bgr, (width, height), interpolation=interp)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def occluder_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A coloured, non-periodic texture: noise blurred at several scales."""
    texture = np.zeros((height, width, 3), np.float32)
    for sigma, weight in ((1.0, 0.3), (3.0, 0.4), (8.0, 0.3)):
        noise = rng.random((height, width, 3)).astype(np.float32)
        blurred = cv2.GaussianBlur(noise, (0, 0), sigma)
        blurred -= blurred.min()
        texture += weight * blurred / blurred.max()
    texture -= texture.min()
    return (texture / texture.max()).astype(np.float32)


def make_pair(photo: np.ndarray, rng: np.random.Generator) -> Pair:
    height, width = photo.shape[:2]
    angle = math.radians(rng.uniform(1.0, 4.0) * rng.choice([-1, 1]))
    scale = rng.uniform(0.95, 1.05)
    shear = rng.uniform(-0.03, 0.03)
    shift = rng.uniform(-0.02, 0.02, size=2) * width
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    linear = rotation @ np.array([[scale, shear], [0.0, scale]])
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    matrix = np.hstack([linear, (centre - linear @ centre + shift)[:, None]])  # (2, 3)

    frame_a = photo.copy()
    frame_b = cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_CUBIC,
                             borderMode=cv2.BORDER_REFLECT)
    frame_b = np.clip(frame_b, 0.0, 1.0)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    target_x = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
    target_y = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
    gt = np.dstack([target_x - xs, target_y - ys]).astype(np.float32)

    occ_h, occ_w = int(0.18 * height), int(0.2 * width)
    texture = occluder_texture(rng, occ_h, occ_w)
    ya = int(rng.integers(0, height - occ_h))
    xa = int(rng.integers(0, width - occ_w))
    move = np.round(rng.uniform(-0.04, 0.04, size=2) * width).astype(int)
    yb = int(np.clip(ya + move[1], 0, height - occ_h))
    xb = int(np.clip(xa + move[0], 0, width - occ_w))
    frame_a[ya : ya + occ_h, xa : xa + occ_w] = texture
    frame_b[yb : yb + occ_h, xb : xb + occ_w] = texture
    in_a = np.zeros((height, width), bool)
    in_a[ya : ya + occ_h, xa : xa + occ_w] = True
    in_b = np.zeros((height, width), bool)
    in_b[yb : yb + occ_h, xb : xb + occ_w] = True

    inside = (target_x >= 0) & (target_x <= width - 1) & (target_y >= 0) & (target_y <= height - 1)
    tx = np.clip(np.round(target_x), 0, width - 1).astype(int)
    ty = np.clip(np.round(target_y), 0, height - 1).astype(int)
    background = inside & ~in_a & ~in_b[ty, tx]
    gt[in_a] = (xb - xa, yb - ya)  # the occluder's own motion
    return Pair(frame_a, frame_b, gt, background, in_a)


def time_call(estimator: fl.FlowEstimator, frame_a: np.ndarray, frame_b: np.ndarray,
              repeat: int) -> tuple[np.ndarray, float]:
    """The flow a -> b and the median run time in seconds of ``repeat`` calls."""
    times = []
    flow = np.empty(0)
    for _ in range(repeat):
        start = time.perf_counter()
        flow = estimator(frame_a, frame_b)
        times.append(time.perf_counter() - start)
    return flow, statistics.median(times)


def bench_synthetic(args: argparse.Namespace) -> list[str]:
    rows = ["| estimator | width | EPE background (px) | > 1 px (%) | EPE occluder (px) "
            "| time / pair (ms) |", "|---|---:|---:|---:|---:|---:|"]
    for width in args.widths:
        rng = np.random.default_rng(args.seed)
        pairs = [make_pair(load_rgb(path, width), rng)
                 for path in args.images for _ in range(args.pairs)]
        gt_size = np.mean([np.linalg.norm(p.gt[p.background], axis=1).mean() for p in pairs])
        print(f"width {width}: {len(pairs)} pairs, mean |gt| on background {gt_size:.2f} px",
              file=sys.stderr)
        for label, name, params in variants(args.only):
            try:
                estimator = fl.make_estimator(name, **params)
            except FlowError as exc:
                print(f"skip {label}: {exc}", file=sys.stderr)
                continue
            estimator(pairs[0].frame_a, pairs[0].frame_b)  # warm-up
            epe, outliers, epe_occ, seconds = [], [], [], []
            for pair in pairs:
                flow, took = time_call(estimator, pair.frame_a, pair.frame_b, args.repeat)
                error = np.linalg.norm(flow - pair.gt, axis=2)
                epe.append(error[pair.background].mean())
                outliers.append(100.0 * (error[pair.background] > 1.0).mean())
                epe_occ.append(error[pair.occluder].mean())
                seconds.append(took)
            rows.append(f"| {label} | {width} | {np.mean(epe):.3f} | {np.mean(outliers):.2f} "
                        f"| {np.mean(epe_occ):.2f} | {1000 * np.mean(seconds):.0f} |")
            print(rows[-1], file=sys.stderr)
    return rows


def bench_real(folder: Path, repeat: int, only: list[str] | None = None) -> list[str]:
    frames = sorted(folder.glob("*.png"))
    if len(frames) < 2:
        raise SystemExit(f"{folder} holds fewer than two PNG frames")
    images = [load_rgb(path, None) for path in frames]
    height, width = images[0].shape[:2]
    rows = ["| estimator | reliable (%) | warp error on reliable (0-255) | time / pair (ms) |",
            "|---|---:|---:|---:|"]
    for label, name, params in variants(only):
        try:
            estimator = fl.make_estimator(name, **params)
        except FlowError:
            continue
        estimator(images[0], images[1])
        reliable, errors, seconds = [], [], []
        for a, b in zip(images[:-1], images[1:], strict=True):
            forward, took = time_call(estimator, a, b, repeat)
            backward = estimator(b, a)
            weights = fl.consistency_weights(forward, backward)
            mask = weights >= 0.5
            warped = fl.warp(b, forward)  # b brought back onto a
            reliable.append(100.0 * mask.mean())
            errors.append(255.0 * np.abs(warped - a).mean(axis=2)[mask].mean())
            seconds.append(took)
        rows.append(f"| {label} | {np.mean(reliable):.1f} | {np.mean(errors):.2f} "
                    f"| {1000 * np.mean(seconds):.0f} |")
        print(rows[-1], file=sys.stderr)
    rows.insert(0, f"{len(frames)} frames of {folder.name}, {width}x{height}\n")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", nargs="+", type=Path, default=DEFAULT_IMAGES,
                        help="photos to move (default: tubingen.jpg, golden_gate.jpg in ../shared)")
    parser.add_argument("--widths", nargs="+", type=int, default=[512, 1024])
    parser.add_argument("--pairs", type=int, default=4, help="random affine pairs per image")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per pair (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", default=None, metavar="LABEL",
                        help="run only these rows, e.g. --only 'dis (default)' deepflow tvl1")
    parser.add_argument("--sintel", type=Path, default=None,
                        help=f"folder of consecutive PNG frames, e.g. {DEFAULT_SINTEL}")
    args = parser.parse_args(argv)
    for path in args.images:
        if not path.is_file():
            parser.error(f"image {path} not found")
    print(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads, "
          f"{platform.processor() or platform.machine()}; default estimator "
          f"'dis' = {fl.make_estimator().name}\n")
    print("\n".join(bench_synthetic(args)))
    if args.sintel is not None:
        print()
        print("\n".join(bench_real(args.sintel, args.repeat, args.only)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
