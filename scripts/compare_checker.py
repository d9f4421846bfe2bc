"""Hold ``videostyle.flow.consistency_weights`` against the reference checker's 8-bit maps.

The reference is ``consistencyChecker/consistencyChecker.cpp`` of manuelruder/artistic-videos,
built on its own (``g++ -O3 -std=c++11 consistencyChecker.cpp NMath.cpp``) and run on the
``.flo`` pairs with the argument order of the reference's ``makeOptFlow.sh``::

    consistencyChecker backward_j_i.flo forward_i_j.flo reliable_j_i.pgm
    consistencyChecker forward_i_j.flo backward_j_i.flo reliable_i_j.pgm

Then::

    python scripts/compare_checker.py --reference DIR_OF_PGMS \
        --flow ../shared/data/clips/marple8/flow

prints, per map, the IoU of the unreliable pixels (weight < 0.5), the mean absolute
difference against ``pgm / 255``, and the number of pixels whose ``floor(255 * weight)``
differs from the reference's byte (it writes each value with a ``(char)`` cast). Exits 1
when a map misses IoU >= 0.90 or mean difference <= 0.01.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from videostyle.flow import consistency_weights, read_flo

IOU_MIN = 0.90
MAD_MAX = 0.01
#: One header token of a PGM file, after white space and '#' comment lines.
_PGM_TOKEN = re.compile(rb"\s*(#[^\n]*\n\s*)*(\S+)")


def read_pgm(path: Path) -> np.ndarray:
    """An 8-bit binary PGM (``P5``) as written by the reference's CMatrix::writeToPGM."""
    data = path.read_bytes()
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:  # magic, width, height, maxval; '#' comments allowed
        match = _PGM_TOKEN.match(data, pos)
        if match is None:
            raise SystemExit(f"{path}: not a PGM file")
        tokens.append(match.group(2))
        pos = match.end()
    magic, width, height, maxval = tokens[0], int(tokens[1]), int(tokens[2]), int(tokens[3])
    if magic != b"P5" or maxval != 255:
        raise SystemExit(f"{path}: expected an 8-bit binary PGM (P5, maxval 255)")
    pixels = data[pos + 1 : pos + 1 + width * height]
    if len(pixels) != width * height:
        raise SystemExit(f"{path}: truncated ({len(pixels)} of {width * height} pixels)")
    return np.frombuffer(pixels, dtype=np.uint8).reshape(height, width)


def pairs(flow_dir: Path) -> list[tuple[str, Path, Path]]:
    """(map name, checked flow, reverse flow) for every forward_i_j.flo with its backward."""
    rows = []
    for forward in sorted(flow_dir.glob("forward_*_*.flo")):
        i, j = forward.stem.split("_")[1:]
        backward = flow_dir / f"backward_{j}_{i}.flo"
        if backward.exists():
            rows.append((f"reliable_{j}_{i}", backward, forward))
            rows.append((f"reliable_{i}_{j}", forward, backward))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True,
                        help="folder of the reference checker's reliable_*.pgm maps")
    parser.add_argument("--flow", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data"
                        / "clips" / "marple8" / "flow")
    args = parser.parse_args(argv)
    rows = [r for r in pairs(args.flow) if (args.reference / f"{r[0]}.pgm").exists()]
    if not rows:
        raise SystemExit(f"no reliable_*.pgm in {args.reference} matches a .flo pair "
                         f"in {args.flow}")
    print("| map | IoU of weight < 0.5 | mean abs. difference "
          "| pixels where floor(255·w) differs |")
    print("|---|---|---|---|")
    ok = True
    for name, checked, reverse in rows:
        reference = read_pgm(args.reference / f"{name}.pgm")
        ours = consistency_weights(read_flo(checked), read_flo(reverse))
        if ours.shape != reference.shape:
            raise SystemExit(f"{name}: sizes differ ({ours.shape} vs {reference.shape})")
        ref_unreliable, our_unreliable = reference / 255.0 < 0.5, ours < 0.5
        union = np.logical_or(ref_unreliable, our_unreliable).sum()
        iou = np.logical_and(ref_unreliable, our_unreliable).sum() / union if union else 1.0
        mad = float(np.abs(ours.astype(np.float64) - reference / 255.0).mean())
        quantised = np.floor(ours.astype(np.float32) * np.float32(255.0)).astype(np.int32)
        differing = int((quantised != reference).sum())
        ok &= iou >= IOU_MIN and mad <= MAD_MAX
        print(f"| {name} | {iou:.5f} | {mad:.5f} | {differing} |")
    print(f"\n{'PASS' if ok else 'FAIL'}: IoU >= {IOU_MIN} and mean difference <= {MAD_MAX} "
          f"on every map ({len(rows)} maps)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
