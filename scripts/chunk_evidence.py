"""The within-shot scheme (:mod:`videostyle.chunks`) against the single chain, on the
known-motion clip of ``scripts/temporal_evidence.py``.

The single chain renders the clip as one shot on one farm worker; the scheme renders K
overlapping chunks as K shots on K workers (one thread each), then stitches them. Both
are judged the same way: the temporal error with the clip's ground-truth flow (per frame
and mean), the worst frame at a chunk border against the median frame, and the style and
content ratios of :func:`videostyle.quality.look_ratios` (means over frames 2..N). Prints
a Markdown table; the scheme's targets: temporal error <= 1.25x the single chain's, no
border frame above 2x the median frame, style and content within 10 %.

    python scripts/chunk_evidence.py --shared ../shared --out /tmp/chunks --chunks 2 --overlap 5
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from temporal_evidence import make_known_clip

from videostyle.chunks import chunk_ranges, seam_frames, seam_report, stitch
from videostyle.evaluate import temporal_error
from videostyle.networks import load_network
from videostyle.quality import look_ratios
from videostyle.video import probe, read_image, write_image


def render(shots: list[tuple[str, int, int]], source: str, style: Path, out: Path,
           extra: str, workers: int) -> float:
    """Render ``(name, start, end)`` shots on ``workers`` one-thread workers; wall seconds."""
    text = f'[defaults]\nstyle = ["{style}"]\nfps = "24"\n{extra}'
    for name, start, end in shots:
        text += (f'\n[[shot]]\nsource = "{source}"\noutput = "{out / name}_%04d.png"\n'
                 f'frames = "{start}:{end}"\n')
    shot_file = out / f"{shots[0][0]}.toml"
    shot_file.write_text(text)
    cmd = [sys.executable, "-m", "videostyle", "batch", str(shot_file), "--workers",
           str(workers), "--threads-per-worker", "1", "--quiet"]
    print("$ " + shlex.join(cmd), file=sys.stderr, flush=True)
    began = time.monotonic()
    subprocess.run(cmd, check=True)
    return time.monotonic() - began


def judge(frames: dict[int, np.ndarray], folder: Path, source: str, gt: Path,
          style: np.ndarray, net: object) -> dict[str, object]:
    """Temporal error per frame (ground-truth flow) and mean look ratios of ``frames``."""
    folder.mkdir(parents=True, exist_ok=True)
    for t, image in frames.items():
        write_image(folder / f"f_{t:04d}.png", image, bit_depth=16)
    report = temporal_error(probe(folder / "f_%04d.png", fps=24), probe(source, fps=24),
                            flow=str(gt))
    looks = [look_ratios(net, image, read_image(source % t), style)  # type: ignore[arg-type]
             for t, image in frames.items() if t > min(frames)]
    return {"errors": {e.frame: e.paper for e in report.frames},
            "style": float(np.mean([x[0] for x in looks])),
            "content": float(np.mean([x[1] for x in looks]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/videostyle-chunks"))
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", default="100,50")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--chunks", type=int, default=2)
    parser.add_argument("--overlap", type=int, default=5)
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    style_path = args.shared / "data/styles/starry_night.jpg"
    known = out / "known"
    make_known_clip(args.shared / "data/content/tubingen.jpg", known, args.frames, (384, 256))
    source = str(known / "frame_%04d.png")
    extra = f'size = {args.size}\niterations = "{args.iterations}"\n'
    ranges = chunk_ranges(1, args.frames, args.chunks, args.overlap)
    single_s = render([("single", 1, args.frames)], source, style_path, out, extra, 1)
    chunk_s = render([(f"chunk{k}", a, b) for k, (a, b) in enumerate(ranges)], source,
                     style_path, out, extra, args.chunks)

    def stored(name: str, t: int) -> np.ndarray:
        return read_image(out / f"{name}.videostyle" / "frames" / f"{t:06d}.png")

    net = load_network("vgg16")
    style = read_image(style_path)
    single = judge({t: stored("single", t) for t in range(1, args.frames + 1)},
                   out / "judged_single", source, known / "gt", style, net)
    stitched = dict(stitch(ranges, args.overlap, lambda k, t: stored(f"chunk{k}", t)))
    chunked = judge(stitched, out / "judged_chunks", source, known / "gt", style, net)
    seams = seam_frames(ranges, args.overlap)
    rows = {"single chain": (single, single_s), f"{args.chunks} chunks, overlap "
            f"{args.overlap}": (chunked, chunk_s)}
    print(f"known-motion clip, {args.frames} frames, {args.size} px, iterations "
          f"{args.iterations}; chunks {ranges}; border frames {seams}")
    print("| render | temporal error (mean) | vs single | worst border frame / median | "
          "style ratio | content ratio | wall time (s) |")
    print("|---|---|---|---|---|---|---|")
    base = seam_report(single["errors"], seams)  # type: ignore[arg-type]
    for name, (r, seconds) in rows.items():
        rep = seam_report(r["errors"], seams)  # type: ignore[arg-type]
        print(f"| {name} | {rep['mean']:.6f} | {rep['mean'] / base['mean']:.3f} | "
              f"{rep['worst_seam_over_median']:.2f} | {r['style']:.4f} | {r['content']:.4f} | "
              f"{seconds:.0f} |")
    (out / "chunks.json").write_text(json.dumps(
        {name: {**r, "seconds": s} for name, (r, s) in rows.items()}, indent=2, default=str))


if __name__ == "__main__":
    main()
