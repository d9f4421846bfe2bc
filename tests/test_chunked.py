"""``videostyle render --chunks``: a shot in overlapping chunks, stitched into its run folder.

Here the chunks run one after another in this process (no ``--workers``); tests/test_farm.py
renders them on Ray workers. A tiny clip with known motion (a texture moving one pixel a
frame), 8 frames at 32 px, 2 chunks overlapping by 2, few iterations.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from clips import make_style
from test_render_fixes import sequence

from videostyle.chunks import chunk_ranges, stitch
from videostyle.runlock import RunLock
from videostyle.video import probe, read_image
from videostyle.workdir import RunFolder, chunk_folder, png16

pytestmark = pytest.mark.slow
Cli = Callable[..., tuple[int, str, str]]
FAST = ("--quality", "draft", "--size", "32", "--iterations", "3,2", "-q")
CHUNKED = ("--chunks", "2", "--chunk-overlap", "2")


def clip(root: Path, n: int = 8) -> tuple[Path, Path]:
    """A known-motion sequence and a style under ``root``."""
    return sequence(root / "seq", n, name="f_%04d.png", size=(40, 32)), make_style(
        root / "style.png")


def frames(workdir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((workdir / "frames").glob("*.png"))}


def check_stitched(workdir: Path, first: int, last: int, chunks: int, overlap: int) -> None:
    """Every frame of the shot is the blend of its chunks' frames, recomputed here from the
    chunk run folders; outside the overlaps, the chunk's frame itself."""
    ranges = chunk_ranges(first, last, chunks, overlap)
    runs = [RunFolder(chunk_folder(workdir, a, b)) for a, b in ranges]
    shot = RunFolder(workdir)
    for frame, image in stitch(ranges, overlap, lambda k, t: read_image(runs[k].frame_path(t))):
        assert shot.is_done(frame), frame
        assert shot.frame_path(frame).read_bytes() == png16(image), frame
    alone = [f for f in range(first, last + 1) if not ranges[1][0] <= f <= ranges[0][1]]
    for frame in alone:
        k = 0 if frame < ranges[1][0] else 1
        assert shot.frame_path(frame).read_bytes() == runs[k].frame_path(frame).read_bytes()
    # the two chains differ inside the overlap, so the blend is neither of them
    seam = ranges[1][0]
    assert runs[0].frame_path(seam).read_bytes() != runs[1].frame_path(seam).read_bytes()
    assert shot.frame_path(seam).read_bytes() not in (
        runs[0].frame_path(seam).read_bytes(), runs[1].frame_path(seam).read_bytes())


def test_a_chunked_render_stitches_the_chunks_and_resumes_identically(
    cli: Cli, tmp_path: Path
) -> None:
    source, style = clip(tmp_path)
    out = tmp_path / "out.mp4"
    args = ("render", source, "-s", style, "-o", out, *FAST, *CHUNKED)
    code, _, err = cli(*args)
    assert code == 0, err
    workdir = tmp_path / "out.videostyle"
    assert sorted(p.name for p in (workdir / "chunks").iterdir() if p.is_dir()) == ["1-4",
                                                                                      "3-8"]
    assert len(frames(workdir)) == 8
    check_stitched(workdir, 1, 8, 2, 2)
    assert probe(out).n_frames == 8
    expected = frames(workdir)
    # a stitched frame of the overlap and the last frames of the second chunk lost
    (workdir / "frames" / "000004.png").unlink()
    (chunk_folder(workdir, 3, 8) / "frames" / "000008.json").unlink()
    (chunk_folder(workdir, 3, 8) / "frames" / "000007.png").write_bytes(b"torn")
    (workdir / "frames" / "000008.json").unlink()
    code, status, err = cli("status", out)  # the chunks' progress, not only the stitch's
    assert code == 0, err
    assert "frames 1..8: 6 done, 2 left" in status
    assert re.search(r"chunks: 8/10 chunk frames done \(the frames are stitched from them at "
                     r"the end\); ETA \d+:\d\d on one worker", status), status
    code, _, err = cli(*args)  # the same command
    assert code == 0, err
    assert frames(workdir) == expected
    code, out_text, err = cli(*[a for a in args if a != "-q"])  # nothing left: only encodes
    assert code == 0, err
    assert re.search(r"8 frames, 0 computed now", out_text), out_text
    assert probe(out).n_frames == 8


def test_a_plain_render_never_resumes_a_stitched_folder_nor_the_other_way(
    cli: Cli, tmp_path: Path
) -> None:
    source, style = clip(tmp_path)
    base = ("render", source, "-s", style, *FAST)
    code, _, err = cli(*base, "-o", tmp_path / "a.mp4", *CHUNKED)
    assert code == 0, err
    # the shot's notes once, from its plan, not again from each chunk's
    assert err.count("not used at 32x26: the default --start-size 128") == 1, err
    before = frames(tmp_path / "a.videostyle")
    code, _, err = cli(*base, "-o", tmp_path / "a.mp4")
    assert code == 6 and "chunks differ" in err and "--restart" in err, err
    code, _, err = cli(*base, "-o", tmp_path / "a.mp4", "--chunks", "2", "--chunk-overlap", "1")
    assert code == 6 and "chunks differ" in err, err
    assert frames(tmp_path / "a.videostyle") == before
    code, _, err = cli(*base, "-o", tmp_path / "b.mp4")
    assert code == 0, err
    code, _, err = cli(*base, "-o", tmp_path / "b.mp4", *CHUNKED)
    assert code == 6 and "chunks differ" in err, err
    assert not (tmp_path / "b.videostyle" / "chunks").exists()
    # --restart turns the stitched folder into a plain one, its chunks removed
    code, _, err = cli(*base, "-o", tmp_path / "a.mp4", "--restart")
    assert code == 0, err
    assert not (tmp_path / "a.videostyle" / "chunks").exists()
    assert frames(tmp_path / "a.videostyle") == frames(tmp_path / "b.videostyle")


def test_chunk_options_that_cannot_apply_are_refused_before_any_work(
    cli: Cli, tmp_path: Path
) -> None:
    source, style = clip(tmp_path)
    base = ("render", source, "-s", style, "-o", tmp_path / "o.mp4", *FAST)
    code, _, err = cli(*base, "--chunk-overlap", "2")
    assert code == 2 and "--chunk-overlap has no effect without --chunks" in err, err
    code, _, err = cli(*base, "--chunks", "3", "--chunk-overlap", "3")
    assert code == 2 and "8 frames are too few for 3 chunks overlapping by 3; give fewer " \
        "--chunks or a smaller --chunk-overlap" in err, err
    code, _, err = cli(*base, "--chunks", "1")
    assert code == 2, err
    assert not (tmp_path / "o.videostyle").exists()
    # the shot's run folder is locked across the chunks: a render holding it refuses this one
    lock = RunLock(tmp_path / "o.videostyle")
    lock.acquire()
    try:
        code, _, err = cli(*base, *CHUNKED)
        assert code == 6 and "in use by another render" in err, err
    finally:
        lock.release()
    assert not (tmp_path / "o.videostyle" / "chunks").exists()


def test_the_overlap_defaults_to_the_measured_five_frames(tmp_path: Path) -> None:
    from videostyle.settings import DEFAULT_CHUNK_OVERLAP, resolve_render

    s = resolve_render(tmp_path / "a.mp4", (tmp_path / "s.png",), tmp_path / "o.mp4",
                       given={"chunks": 4}).settings
    assert (s.chunks, s.chunk_overlap, DEFAULT_CHUNK_OVERLAP) == (4, 5, 5)
    plain = resolve_render(tmp_path / "a.mp4", (tmp_path / "s.png",), tmp_path / "o.mp4").settings
    assert (plain.chunks, plain.chunk_overlap) == (1, 0)


def test_a_shot_file_takes_the_chunk_keys(cli: Cli, tmp_path: Path) -> None:
    clip(tmp_path, 6)
    (tmp_path / "shot.toml").write_text(
        '[[shot]]\nsource = "seq/f_%04d.png"\nstyle = ["style.png"]\noutput = "s_%04d.png"\n'
        'quality = "draft"\nsize = 32\niterations = "3,2"\nchunks = 2\nchunk_overlap = 1\n')
    code, _, err = cli("render", "--config", tmp_path / "shot.toml", "-q")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "s.videostyle" / "chunks").iterdir()) == ["1-3",
                                                                                          "3-6"]
    check_stitched(tmp_path / "s.videostyle", 1, 6, 2, 1)
    assert len(list(tmp_path.glob("s_*.png"))) == 6


def test_a_colour_managed_chunked_render_writes_what_a_plain_one_writes(
    cli: Cli, tmp_path: Path
) -> None:
    from test_postprod import PASS, plates, ulps16

    from videostyle.video.exr import read_exr

    source, style = plates(tmp_path / "plate", n=6), make_style(tmp_path / "style.png")
    code, _, err = cli("render", source, "-s", style, "-o", tmp_path / "a.%04d.exr", *PASS)
    assert code == 0, err
    code, _, err = cli("render", source, "-s", style, "-o", tmp_path / "b.%04d.exr", *PASS,
                       "--chunks", "2", "--chunk-overlap", "1")
    assert code == 0, err
    assert (tmp_path / "b.videostyle" / "chunks" / "1001-1003").is_dir()
    for number in range(1001, 1007):
        plain, plain_alpha, _ = read_exr(tmp_path / f"a.{number}.exr")
        chunked, chunked_alpha, _ = read_exr(tmp_path / f"b.{number}.exr")
        assert ulps16(plain, chunked) <= 1 and ulps16(plain_alpha, chunked_alpha) == 0, number
