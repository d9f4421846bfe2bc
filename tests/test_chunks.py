"""The within-shot scheme: chunk ranges, the stitched blend, and its seam measure on a tiny
clip with known motion (no network: the chunks are the clip itself and the clip shifted
in colour, as two chains that started from different images would differ)."""

from __future__ import annotations

import numpy as np
import pytest
from test_render_fixes import texture

from videostyle.chunks import chunk_ranges, seam_frames, seam_report, stitch, weights
from videostyle.errors import InputError
from videostyle.evaluate import pair_error


def test_chunks_share_the_frames_evenly_and_overlap_backwards() -> None:
    assert chunk_ranges(1, 12, 2, 3) == [(1, 6), (4, 12)]
    assert chunk_ranges(1001, 1012, 3, 2) == [(1001, 1004), (1003, 1008), (1007, 1012)]
    assert chunk_ranges(1, 5, 1, 4) == [(1, 5)]
    with pytest.raises(InputError, match="too few"):
        chunk_ranges(1, 5, 3, 1)


def test_the_blend_moves_from_one_chunk_to_the_next_across_the_overlap() -> None:
    ranges = [(1, 6), (4, 12)]
    assert [weights(f, ranges, 3) for f in (3, 4, 5, 6, 7)] == [
        {0: 1.0}, {0: 0.75, 1: 0.25}, {0: 0.5, 1: 0.5}, {0: 0.25, 1: 0.75}, {1: 1.0}]
    assert seam_frames(ranges, 3) == [4, 5, 6, 7]


def _errors(stitched: dict[int, np.ndarray]) -> dict[int, float]:
    h, w = stitched[1].shape[:2]
    back = np.zeros((h, w, 2), np.float32)
    back[..., 0] = -1.0  # the clip moves one pixel right a frame: t -> t-1 is (-1, 0)
    return {t: pair_error(stitched[t - 1], stitched[t], back, -back)[0]
            for t in sorted(stitched)[1:]}


@pytest.mark.parametrize("overlap", [0, 2])
def test_the_seam_measure_on_a_known_motion_clip(overlap: int) -> None:
    clip = {t: 0.7 * texture(24, 32, 0, shift=t) for t in range(1, 9)}
    shift = 0.2  # the second chain differs from the first by a constant colour
    ranges = chunk_ranges(1, 8, 2, overlap)
    chunk = [clip, {t: x + shift for t, x in clip.items()}]
    stitched = dict(stitch(ranges, overlap, lambda k, t: chunk[k][t]))
    errors, base = _errors(stitched), _errors(clip)  # base: the frame border's share
    seams = seam_frames(ranges, overlap)
    reliable = pair_error(clip[1], clip[2], *_flows(clip))[2]
    step = shift / (overlap + 1)  # the colour moves by this much on each seam frame
    for t, e in errors.items():
        expected = base[t] + (reliable * step**2 if t in seams else 0.0)
        assert e == pytest.approx(expected, abs=1e-4 * step + 1e-9), t
    report = seam_report(errors, seams)
    assert report["worst_seam"] == pytest.approx(reliable * step**2, rel=0.05)
    assert len(seams) == overlap + 1  # spread over more frames, each (o+1)^2 times smaller


def _flows(clip: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    h, w = clip[1].shape[:2]
    back = np.zeros((h, w, 2), np.float32)
    back[..., 0] = -1.0
    return back, -back
