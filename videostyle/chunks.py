"""A long shot in chunks: a parallel scheme for the chain from frame to frame, measured
against the single chain (``scripts/chunk_evidence.py``, docs/farm.md).

The chain is sequential: frame t starts from frame t-1 warped. The scheme cuts the shot's
frames into K chunks of near-equal length, each a chained render of its own (its own
run folder: the farm renders chunks as it renders shots). Chunk k > 0 starts ``overlap``
frames before its share, so that where two chunks meet both have rendered the same
``overlap`` frames; the stitched shot takes chunk k-1 before the overlap, chunk k after
it, and inside it a linear blend that moves from one to the other over ``overlap + 1``
steps: the jump between two chains that started from different images is spread over
the overlap instead of landing on one frame.

Frames are numbered as the source numbers them; ranges are inclusive ``(start, end)``.
Images are float32 ``(H, W, 3)`` RGB in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial

import numpy as np

from .errors import InputError


def chunk_ranges(first: int, last: int, chunks: int, overlap: int) -> list[tuple[int, int]]:
    """The frames each chunk renders: shares of near-equal length, each after the first
    extended ``overlap`` frames back into the one before."""
    n = last - first + 1
    if chunks < 1 or overlap < 0:
        raise InputError(f"chunks must be >= 1 and overlap >= 0, got {chunks} and {overlap}")
    if n < chunks * (overlap + 1):
        raise InputError(f"{n} frames are too few for {chunks} chunks overlapping by {overlap}")
    bounds = [first + round(i * n / chunks) for i in range(chunks + 1)]
    return [(max(first, bounds[i] - (overlap if i else 0)), bounds[i + 1] - 1)
            for i in range(chunks)]


def weights(frame: int, ranges: list[tuple[int, int]], overlap: int) -> dict[int, float]:
    """``{chunk: weight}`` of ``frame`` in the stitched shot (weights sum to 1)."""
    for k in range(len(ranges) - 1, -1, -1):
        start, end = ranges[k]
        if not start <= frame <= end:
            continue
        if k == 0 or frame >= start + overlap:
            return {k: 1.0}
        alpha = (frame - start + 1) / (overlap + 1)  # 1/(o+1) .. o/(o+1) across the overlap
        return {k - 1: 1.0 - alpha, k: alpha}
    raise InputError(f"frame {frame} is in no chunk of {ranges}")


def stitch(ranges: list[tuple[int, int]], overlap: int,
           read: Callable[[int, int], np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    """``(frame, image)`` of the stitched shot; ``read(chunk, frame)`` gives a chunk's frame."""
    for frame in range(ranges[0][0], ranges[-1][1] + 1):
        yield frame, blend(weights(frame, ranges, overlap), partial(_swap, read, frame))


def _swap(read: Callable[[int, int], np.ndarray], frame: int, chunk: int) -> np.ndarray:
    return read(chunk, frame)


def blend(mix: Mapping[int, float], read: Callable[[int], np.ndarray]) -> np.ndarray:
    """One stitched frame: ``sum(w * read(chunk))`` over ``mix`` (see :func:`weights`)."""
    image = sum(w * read(k).astype(np.float64) for k, w in mix.items())
    return np.asarray(image, dtype=np.float32)


def seam_frames(ranges: list[tuple[int, int]], overlap: int) -> list[int]:
    """Frames whose temporal error (against the frame before) crosses a chunk border: the
    overlap of each border and the first frame after it."""
    return [f for start, _ in ranges[1:] for f in range(start, start + overlap + 1)]


def seam_report(errors: Mapping[int, float], seams: list[int]) -> dict[str, float]:
    """Mean and median of per-frame errors, the worst seam frame, and its ratio to the
    median (the scheme asks for <= 2)."""
    values = np.array(list(errors.values()), dtype=np.float64)
    median = float(np.median(values))
    worst = max((errors[f] for f in seams if f in errors), default=0.0)
    return {"mean": float(values.mean()), "median": median, "worst_seam": worst,
            "worst_seam_over_median": worst / median if median > 0 else float("inf")}
