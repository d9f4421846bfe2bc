"""Tests of ``videostyle render`` and ``videostyle status`` end to end.

Renders that are killed, interrupted or resumed run as child processes (``python -m
videostyle``) with one thread each, so an interrupted-then-resumed render can be compared
byte for byte with an uninterrupted one. The others call ``main(argv)`` in this process.
Clips are tiny (at most 64x48, a few frames) and made with the bundled ffmpeg.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from clips import (
    FFMPEG,
    NUMBERED,
    SAMPLE_RATE,
    assert_one_error_line,
    cache_dir,
    child_env,
    decode_audio,
    ffmpeg_in_session,
    frame_bytes,
    make_clip,
    make_style,
    mtimes,
    onset_seconds,
    read_png,
    record_paths,
    run_cli,
    run_ffmpeg,
    start_cli,
    wait_for,
)

from videostyle import video
from videostyle.errors import VideoError
from videostyle.workdir import RunFolder, default_workdir

N_FRAMES = 6
#: The render that is killed and resumed: later frames take long enough to land inside one.
KILL_ARGS = ("--init", "prev", "--size", "40", "--iterations", "8,10",
             "--quality", "draft")  # fmt: skip


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return child_env(cache_dir(tmp_path_factory))


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def clip(media: Path) -> Path:
    return make_clip(media / "clip.mp4", n_frames=N_FRAMES)


@pytest.fixture(scope="module")
def style(media: Path) -> Path:
    return make_style(media / "style.png")


@pytest.fixture(scope="module")
def long_clip(media: Path) -> Path:
    """Long enough that decoding and storing frames takes a few seconds."""
    return make_clip(media / "long.mp4", n_frames=150, size=(64, 48))


@dataclass
class Reference:
    workdir: Path
    frames: dict[str, bytes]
    flows: dict[str, bytes]


def render_args(clip: Path, style: Path, output: Path, *extra: str) -> list[str | Path]:
    return ["render", clip, "-s", style, "-o", output, *extra]


def uninterrupted(env: dict[str, str], folder: Path, clip: Path, style: Path,
                  *extra: str) -> Reference:
    folder.mkdir(exist_ok=True)
    output = folder / "out.mp4"
    done = run_cli(env, *render_args(clip, style, output, *extra))
    assert done.returncode == 0, done.stderr
    assert computed_now(done.stdout) == N_FRAMES
    workdir = default_workdir(output)
    flows = {p.name: p.read_bytes() for p in (workdir / "flow").glob("*.flo")}
    return Reference(workdir=workdir, frames=frame_bytes(workdir), flows=flows)


@pytest.fixture(scope="module")
def reference(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory, clip: Path, style: Path
) -> Reference:
    """The killed render's command, run to the end without interruption."""
    ref = uninterrupted(env, tmp_path_factory.mktemp("reference"), clip, style, *KILL_ARGS)
    assert sorted(ref.frames) == [f"{n:06d}.png" for n in range(1, N_FRAMES + 1)]
    assert len(set(ref.frames.values())) == N_FRAMES
    return ref


@pytest.fixture
def copied(reference: Reference, tmp_path: Path) -> Path:
    """A copy of the reference's finished run folder."""
    target = tmp_path / "copy.videostyle"
    shutil.copytree(reference.workdir, target)
    return target


def tree_bytes(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def computed_now(stdout: str) -> int:
    match = re.search(r"(\d+) computed now", stdout)
    assert match, f"no summary line in:\n{stdout}"
    return int(match.group(1))


def assert_consistent(workdir: Path) -> None:
    """A run folder is absent, or has a readable manifest and only whole frames."""
    if not workdir.exists():
        return
    run = RunFolder(workdir)
    run.read_manifest()
    assert [p for p in workdir.rglob(".*")] == []  # no temporary files
    for png in (workdir / "frames").glob("*.png"):
        assert run.is_done(int(png.stem)), f"{png} has no matching record"


def kill_when(proc: subprocess.Popen[str], ready: Callable[[], bool], sig: int,
              delay: float = 0.0) -> tuple[str, str]:
    wait_for(proc, ready)
    if delay:
        time.sleep(delay)
    os.kill(proc.pid, sig)
    return proc.communicate(timeout=120)


# ---- 1. resume after SIGKILL -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("finished", "inside"), [(1, False), (2, False), (1, True)],
    ids=["after-frame-1", "after-frame-2", "inside-frame-2"],
)
def test_killed_render_resumes_to_identical_frames(
    env: dict[str, str], reference: Reference, clip: Path, style: Path, tmp_path: Path,
    finished: int, inside: bool,
) -> None:
    args = render_args(clip, style, tmp_path / "out.mp4", *KILL_ARGS)
    workdir = default_workdir(tmp_path / "out.mp4")
    run = RunFolder(workdir)
    proc = start_cli(env, *args)
    wait_for(proc, run.record_path(finished).exists)
    if inside:  # a third of the way into the next frame (it has more iterations)
        time.sleep(0.3 * run.frame_record(finished).seconds)  # type: ignore[union-attr]
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert not run.record_path(finished + 1).exists()  # killed before the next frame ended
    assert run.done_frames(range(1, N_FRAMES + 1)) == list(range(1, finished + 1))
    assert ffmpeg_in_session(proc.pid) == []
    kept = mtimes([run.record_path(f) for f in range(1, finished + 1)])

    done = run_cli(env, *args)
    assert done.returncode == 0, done.stderr
    assert computed_now(done.stdout) == N_FRAMES - finished
    assert mtimes([run.record_path(f) for f in range(1, finished + 1)]) == kept
    assert frame_bytes(workdir) == reference.frames
    assert video.probe(tmp_path / "out.mp4").n_frames == N_FRAMES


@pytest.mark.slow
def test_compiled_render_killed_and_resumed_in_a_new_process_is_identical(
    env: dict[str, str], clip: Path, style: Path, tmp_path: Path
) -> None:
    """Each process compiles its own kernels: they must paint the same bytes."""
    common = (*KILL_ARGS, "--compile", "default")
    (tmp_path / "ref").mkdir()
    whole = run_cli(env, *render_args(clip, style, tmp_path / "ref" / "out.mp4", *common),
                    timeout=600)
    assert whole.returncode == 0, whole.stderr
    assert "CUDA" not in whole.stderr  # the compiler's own chatter stays out of the terminal
    (tmp_path / "run").mkdir()
    output = tmp_path / "run" / "out.mp4"
    run = RunFolder(default_workdir(output))
    args = render_args(clip, style, output, *common)
    proc = start_cli(env, *args)
    wait_for(proc, run.record_path(3).exists, timeout=600)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=120)
    done = run_cli(env, *args, timeout=600)
    assert done.returncode == 0, done.stderr
    assert 0 < computed_now(done.stdout) < N_FRAMES
    assert frame_bytes(run.root) == frame_bytes(default_workdir(tmp_path / "ref" / "out.mp4"))


@pytest.mark.slow
def test_killed_flow_warped_render_reuses_flows(
    env: dict[str, str], clip: Path, style: Path, tmp_path: Path
) -> None:
    common = ("--size", "40", "--iterations", "8,10", "--quality", "draft")
    ref = uninterrupted(env, tmp_path / "ref", clip, style, *common)  # default prev-warped
    assert len(ref.flows) == 2 * (N_FRAMES - 1)

    (tmp_path / "run").mkdir()
    output = tmp_path / "run" / "out.mp4"
    run = RunFolder(default_workdir(output))
    args = render_args(clip, style, output, *common)
    proc = start_cli(env, *args)
    kill_when(proc, run.record_path(2).exists, signal.SIGKILL)
    flows = sorted(run.flow_dir.glob("*.flo"))
    assert [p.name for p in flows if p.name in ("forward_1_2.flo", "backward_2_1.flo")] == [
        "backward_2_1.flo", "forward_1_2.flo"
    ]
    before = mtimes(flows)

    done = run_cli(env, *args)
    assert done.returncode == 0, done.stderr
    assert computed_now(done.stdout) == N_FRAMES - 2
    assert mtimes(flows) == before  # read back, not computed again
    assert {p.name: p.read_bytes() for p in run.flow_dir.glob("*.flo")} == ref.flows
    assert frame_bytes(run.root) == ref.frames


# ---- 2. changed settings, codec change, restart ----------------------------------------------


@pytest.mark.slow  # the reference render
def test_changed_style_weight_refuses_to_resume(
    cli: Callable[..., tuple[int, str, str]], copied: Path, clip: Path, style: Path,
    tmp_path: Path,
) -> None:
    before = tree_bytes(copied)
    stamps = mtimes(list(record_paths(copied).values()))
    code, _, err = cli(*render_args(clip, style, tmp_path / "out.mp4", *KILL_ARGS,
                                    "--style-weight", "10", "--workdir", str(copied)))
    assert code != 0
    line = assert_one_error_line(err)
    assert "engine" in line and "--restart" in line
    assert tree_bytes(copied) == before
    assert mtimes(list(record_paths(copied).values())) == stamps
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.slow  # the reference render
def test_codec_change_reencodes_without_recomputing(
    cli: Callable[..., tuple[int, str, str]], copied: Path, reference: Reference, clip: Path,
    style: Path, tmp_path: Path,
) -> None:
    stamps = mtimes(list(record_paths(copied).values()))
    output = tmp_path / "out.mkv"
    code, out, err = cli(*render_args(clip, style, output, *KILL_ARGS, "--codec", "ffv1",
                                      "--workdir", str(copied)))
    assert code == 0, err
    assert computed_now(out) == 0
    assert mtimes(list(record_paths(copied).values())) == stamps
    assert frame_bytes(copied) == reference.frames
    info = video.probe(output)
    assert (info.n_frames, info.fps, info.width, info.height) == (N_FRAMES, Fraction(25), 40, 30)
    run = RunFolder(copied)
    for number, frame in video.read_frames(info):  # FFV1 16-bit RGB: lossless
        assert np.array_equal(frame, video.read_image(run.frame_path(number)))

    # the default run folder leaves out the extension: out.mp4 and out.mov share it
    shutil.copytree(copied, default_workdir(tmp_path / "clip_out.mp4"))
    code, out, err = cli(*render_args(clip, style, tmp_path / "clip_out.mov", *KILL_ARGS,
                                      "--codec", "prores"))
    assert code == 0, err
    assert computed_now(out) == 0
    info = video.probe(tmp_path / "clip_out.mov")
    assert (info.n_frames, info.fps) == (N_FRAMES, Fraction(25))


@pytest.mark.slow
def test_restart_renders_again_from_scratch(
    env: dict[str, str], copied: Path, reference: Reference, clip: Path, style: Path,
    tmp_path: Path,
) -> None:
    stray = copied / "frames" / "000099.png"
    stray.write_bytes(b"left over")
    stamps = mtimes(list(record_paths(copied).values()))
    done = run_cli(env, *render_args(clip, style, tmp_path / "out.mp4", *KILL_ARGS,
                                     "--workdir", str(copied), "--restart"))
    assert done.returncode == 0, done.stderr
    assert computed_now(done.stdout) == N_FRAMES
    assert not stray.exists()
    new = mtimes(list(record_paths(copied).values()))
    assert sorted(new) == sorted(stamps)
    assert all(new[name] != stamps[name] for name in stamps)  # every record written anew
    assert frame_bytes(copied) == reference.frames  # deterministic


# ---- 3. a damaged finished frame ------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_frame_is_computed_again(
    env: dict[str, str], copied: Path, reference: Reference, clip: Path, style: Path,
    tmp_path: Path, damage: str,
) -> None:
    png = copied / "frames" / "000002.png"
    data = png.read_bytes()
    png.write_bytes(b"not a png at all" * 10 if damage == "garbage" else data[: len(data) // 2])
    records = record_paths(copied)
    stamps = mtimes(list(records.values()))
    done = run_cli(env, *render_args(clip, style, tmp_path / "out.mp4", *KILL_ARGS,
                                     "--workdir", str(copied)))
    assert done.returncode == 0, done.stderr
    assert computed_now(done.stdout) == 1
    new = mtimes(list(records.values()))
    assert new["000002.json"] != stamps["000002.json"]
    assert {k: v for k, v in new.items() if k != "000002.json"} == {
        k: v for k, v in stamps.items() if k != "000002.json"
    }
    assert png.read_bytes() == data
    assert frame_bytes(copied) == reference.frames


# ---- 4. SIGINT / SIGTERM ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_signal_stops_after_the_iteration_and_keeps_frames(
    env: dict[str, str], cli: Callable[..., tuple[int, str, str]], clip: Path, style: Path,
    tmp_path: Path, sig: int, code: int,
) -> None:
    output = tmp_path / "out.mp4"
    run = RunFolder(default_workdir(output))
    proc = start_cli(env, *render_args(clip, style, output, *KILL_ARGS))
    _, err = kill_when(proc, run.record_path(1).exists, sig, delay=0.1)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert "resume" in err and "videostyle status" in err
    assert run.done_frames(range(1, N_FRAMES + 1)) == [1]
    assert not run.frame_path(2).exists()  # the frame being optimised was abandoned
    assert not output.exists()
    assert ffmpeg_in_session(proc.pid) == []
    assert_consistent(run.root)

    status_code, out, status_err = cli("status", output)  # 9. status of a partial render
    assert status_code == 0, status_err
    assert f"frames 1..{N_FRAMES}: 1 done, {N_FRAMES - 1} left" in out
    assert re.search(r"s per frame; ETA \d+:\d\d", out)


@pytest.mark.slow
def test_interrupted_render_resumes_to_identical_frames(
    env: dict[str, str], reference: Reference, clip: Path, style: Path, tmp_path: Path
) -> None:
    args = render_args(clip, style, tmp_path / "out.mp4", *KILL_ARGS)
    run = RunFolder(default_workdir(tmp_path / "out.mp4"))
    proc = start_cli(env, *args)
    kill_when(proc, run.record_path(2).exists, signal.SIGINT)
    assert proc.returncode == 130
    done = run_cli(env, *args)
    assert done.returncode == 0, done.stderr
    assert computed_now(done.stdout) == N_FRAMES - 2
    assert frame_bytes(run.root) == reference.frames


@pytest.mark.slow
def test_signal_stops_a_pass_through_render(
    env: dict[str, str], long_clip: Path, style: Path, tmp_path: Path
) -> None:
    """With --iterations 0 no optimiser polls the stop flag: it is checked between frames."""
    output = tmp_path / "out.mp4"
    run = RunFolder(default_workdir(output))
    proc = start_cli(env, "render", long_clip, "-s", style, "-o", output, "--iterations", "0")
    _, err = kill_when(proc, run.record_path(3).exists, signal.SIGTERM)
    assert proc.returncode == 143, err
    assert len(run.done_frames(range(1, 151))) < 150
    assert not output.exists()


@pytest.mark.slow
def test_second_ctrl_c_still_says_how_to_resume(
    env: dict[str, str], long_clip: Path, style: Path, tmp_path: Path
) -> None:
    """The second Ctrl-C (here while decoding) stops at once, and still says so."""
    output = tmp_path / "out.mp4"
    run = RunFolder(default_workdir(output))
    proc = start_cli(env, "render", long_clip, "-s", style, "-o", output, "--iterations", "0")
    wait_for(proc, run.content_path(3).exists)
    os.kill(proc.pid, signal.SIGINT)
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted" in err


@pytest.mark.slow
def test_sigterm_stops_flow_cleanly_and_leaves_no_scratch(
    env: dict[str, str], long_clip: Path, tmp_path: Path
) -> None:
    """A command without a render's stop flag (here ``flow``) still ends on SIGTERM as on
    Ctrl-C: its scratch folder of panels is removed and it exits 143."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = start_cli({**env, "TMPDIR": str(scratch)}, "flow", long_clip, "-o",
                     tmp_path / "flow.mp4", "--size", "160")
    wait_for(proc, lambda: len(list(scratch.glob("videostyle-flow-*/*"))) >= 3)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "terminated" in err
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "flow.mp4").exists()
    assert ffmpeg_in_session(proc.pid) == []


# ---- 5. no ffmpeg outlives a render ------------------------------------------------------------


@pytest.mark.slow
def test_no_ffmpeg_outlives_finished_failed_or_interrupted_renders(
    env: dict[str, str], clip: Path, long_clip: Path, style: Path, tmp_path: Path
) -> None:
    fast = ("--size", "32", "--iterations", "0", "-q")
    finished = start_cli(env, *render_args(clip, style, tmp_path / "ok.mp4", *fast))
    finished.communicate(timeout=120)
    assert finished.returncode == 0
    assert ffmpeg_in_session(finished.pid) == []

    (tmp_path / "file").write_text("x")
    unwritable = start_cli(env, *render_args(clip, style, tmp_path / "file" / "o.mp4", *fast))
    unwritable.communicate(timeout=120)
    assert unwritable.returncode == 2
    assert ffmpeg_in_session(unwritable.pid) == []

    (tmp_path / "dir.mp4").mkdir()  # fails after ffmpeg encoded the frames
    occupied = start_cli(env, *render_args(clip, style, tmp_path / "dir.mp4", *fast))
    occupied.communicate(timeout=120)
    assert occupied.returncode != 0
    assert ffmpeg_in_session(occupied.pid) == []

    run = RunFolder(default_workdir(tmp_path / "stopped.mp4"))
    stopped = start_cli(env, *render_args(clip, style, tmp_path / "stopped.mp4", *KILL_ARGS))
    kill_when(stopped, run.record_path(1).exists, signal.SIGINT)
    assert stopped.returncode == 130
    assert ffmpeg_in_session(stopped.pid) == []

    run = RunFolder(default_workdir(tmp_path / "hard.mp4"))
    hard = start_cli(env, *render_args(long_clip, style, tmp_path / "hard.mp4", *fast))
    wait_for(hard, run.content_path(3).exists)  # the decoder is streaming
    os.kill(hard.pid, signal.SIGINT)
    time.sleep(0.05)
    os.kill(hard.pid, signal.SIGINT)  # the second one stops at once
    hard.communicate(timeout=120)
    assert hard.returncode == 130
    assert ffmpeg_in_session(hard.pid) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# ---- 6. exact rates, audio, trimming, odd sizes -----------------------------------------------

BURST_AT = 0.4  # seconds
RATES = [Fraction(24000, 1001), Fraction(25), Fraction(30000, 1001), Fraction(15000, 1001)]


@pytest.mark.parametrize("fps", RATES, ids=lambda r: f"{r.numerator}_{r.denominator}")
def test_pass_through_keeps_rate_frames_and_audio_sync(
    cli: Callable[..., tuple[int, str, str]], style: Path, tmp_path: Path, fps: Fraction
) -> None:
    n = 20
    source = make_clip(tmp_path / "source.mp4", fps=fps, n_frames=n, size=(32, 24),
                       source=NUMBERED, burst_at=BURST_AT)
    levels = [f.mean() for _, f in video.read_frames(video.probe(source))]
    assert len(levels) == n and min(np.diff(sorted(levels))) > 0.04
    for name, frames, first in (("full", None, 1), ("trimmed", "6:", 6)):
        output = tmp_path / f"{name}.mp4"
        args = ["render", source, "-s", style, "-o", output, "--iterations", "0", "-q"]
        code, _, err = cli(*args, *(["--frames", frames] if frames else []))
        assert code == 0, err
        expected = n - first + 1
        info = video.probe(output)
        assert info.fps == fps and isinstance(info.fps, Fraction)
        assert info.n_frames == expected
        assert (info.width, info.height) == (32, 24)
        assert info.has_audio
        samples = decode_audio(output)
        assert abs(len(samples) / SAMPLE_RATE - expected / float(fps)) <= 1 / float(fps)
        shift = (first - 1) / float(fps)  # --frames 6: starts 5 frames later
        assert abs(onset_seconds(samples) - (BURST_AT - shift)) <= 0.01
        out = [f.mean() for _, f in video.read_frames(info)]  # each frame's number
        assert np.allclose(out, levels[first - 1 :], atol=0.01)


def test_odd_size_source_renders(
    cli: Callable[..., tuple[int, str, str]], style: Path, tmp_path: Path
) -> None:
    source = tmp_path / "odd.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc=size=47x33:rate=25", "-frames:v", "3",
               "-c:v", "libx264", "-pix_fmt", "yuv444p", str(source))
    assert (video.probe(source).width, video.probe(source).height) == (47, 33)
    output = tmp_path / "odd_out.mp4"
    code, out, err = cli("render", source, "-s", style, "-o", output, "--quality", "draft",
                         "--iterations", "2,1")
    assert code == 0, err
    assert computed_now(out) == 3
    run = RunFolder(default_workdir(output))
    assert read_png(run.frame_path(1)).shape == (33, 47, 3)  # never upscaled to the preset
    info = video.probe(output)
    assert info.n_frames == 3 and info.fps == 25
    assert (info.width, info.height) == (48, 34)  # h264 pads to even sizes


# ---- 7. 16-bit image sequences ------------------------------------------------------------------


def test_sixteen_bit_sequence_keeps_its_levels(
    cli: Callable[..., tuple[int, str, str]], style: Path, tmp_path: Path
) -> None:
    width, height = 64, 48
    ramp = np.arange(width * height, dtype=np.float64).reshape(height, width)
    frames = []
    (tmp_path / "in").mkdir()
    for k in range(3):
        levels = np.rint((ramp + 7 * k) / (width * height + 20) * 65535).astype(np.uint16)
        bgr = np.stack([levels, 65535 - levels, levels // 2 + 1000], axis=2)
        assert video.cv2.imwrite(str(tmp_path / "in" / f"in_{k + 1:04d}.png"), bgr)
        frames.append(bgr)
    assert len(np.unique(frames[0])) > 1000
    (tmp_path / "out").mkdir()
    code, _, err = cli("render", tmp_path / "in" / "in_%04d.png", "-s", style,
                       "-o", tmp_path / "out" / "out_%04d.png", "--iterations", "0",
                       "--bit-depth", "16", "--fps", "24", "-q")
    assert code == 0, err
    written = sorted((tmp_path / "out").glob("out_*.png"))
    assert [p.name for p in written] == ["out_0001.png", "out_0002.png", "out_0003.png"]
    for path, original in zip(written, frames, strict=True):
        data = read_png(path)
        assert data.dtype == np.uint16
        assert len(np.unique(data)) > 256
        assert np.array_equal(data, original)  # --iterations 0 changes nothing


# ---- 8. bad inputs -------------------------------------------------------------------------


def _bad_source(tmp_path: Path, clip: Path, kind: str) -> Path:
    if kind == "missing":
        return tmp_path / "missing.mp4"
    path = tmp_path / f"{kind}.mp4"
    if kind == "text":
        path.write_text("this is not a video\n" * 20)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "audio-only":
        run_ffmpeg("-f", "lavfi", "-i", "sine=d=0.3", "-c:a", "aac", str(path))
    elif kind == "no-frames":
        run_ffmpeg("-i", str(clip), "-map", "0:v", "-c", "copy", "-frames:v", "0", str(path))
    return path


@pytest.mark.parametrize(
    ("source_kind", "output_name", "extra", "expected"),
    [
        ("missing", "out.mp4", (), "does not exist"),
        ("text", "out.mp4", (), "text.mp4"),
        ("empty", "out.mp4", (), "empty"),
        ("audio-only", "out.mp4", (), "no video stream"),
        ("no-frames", "out.mp4", (), "no-frames.mp4"),
        ("clip", "out.mp4", ("--frames", "5:3"), "5:3"),
        ("clip", "out.mp4", ("--frames", "5:99"), "99"),
        ("clip", "out.mp4", ("--frames", "9:"), "9"),
        ("clip", "file/out.mp4", (), "not a folder"),
        ("clip", "nowhere/out.mp4", (), "does not exist"),
        ("clip", "out.mp4", ("--codec", "xyz"), "xyz"),
        ("clip", "out.mp4", ("--codec", "prores"), ".mov"),
        ("clip", "out.avi", (), ".mkv"),
    ],
    ids=["missing", "not-a-video", "zero-bytes", "audio-only", "zero-frames", "range-5:3",
         "range-past-end", "start-past-end", "parent-is-file", "no-such-folder",
         "unknown-codec", "prores-in-mp4", "unknown-container"],
)
def test_bad_input_gives_one_error_line(
    cli: Callable[..., tuple[int, str, str]], clip: Path, style: Path, tmp_path: Path,
    source_kind: str, output_name: str, extra: tuple[str, ...], expected: str,
) -> None:
    source = clip if source_kind == "clip" else _bad_source(tmp_path, clip, source_kind)
    (tmp_path / "file").write_text("a file, not a folder")
    output = tmp_path / output_name
    code, out, err = cli("render", source, "-s", style, "-o", output, "--size", "32",
                         "--iterations", "0", *extra)
    assert code != 0
    line = assert_one_error_line(err)
    assert expected in line
    assert not output.exists()
    assert_consistent(default_workdir(output))
    assert "wrote" not in out


def test_output_path_that_is_a_folder_gives_one_error_line(
    cli: Callable[..., tuple[int, str, str]], clip: Path, style: Path, tmp_path: Path
) -> None:
    """Refused up front, not by an OSError from the final rename after encoding."""
    output = tmp_path / "out.mp4"
    output.mkdir()
    try:
        code, _, err = cli("render", clip, "-s", style, "-o", output, "--size", "32",
                           "--iterations", "0")
    except OSError as exc:
        pytest.fail(f"escaped as an exception: {exc!r}")
    assert code != 0
    assert "out.mp4" in assert_one_error_line(err)


def test_ffmpeg_failure_gives_one_error_line(
    cli: Callable[..., tuple[int, str, str]], clip: Path, style: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A VideoError carries ffmpeg's stderr tail over several lines: printed as one."""

    def failing_encode(*args: object, **kwargs: object) -> None:
        raise VideoError(
            "expected ffmpeg to encode out.mp4, but it failed (exit status 183); check the "
            "frames. ffmpeg said:\n[png @ 0x1] chunk too big\n[vist#0:0/png] Invalid data"
        )

    monkeypatch.setattr("videostyle.pipeline.encode_video", failing_encode)
    code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / "out.mp4", "--size", "32",
                       "--iterations", "0")
    assert code == 4
    note, *rest = err.splitlines()  # the render ran: its note on the passed-through frames
    assert note.startswith("videostyle: note: not used in this render: the default --init")
    line = assert_one_error_line("\n".join(rest))
    assert "chunk too big" in line  # the detail is kept, on the same line


# ---- 9. status -----------------------------------------------------------------------------


@pytest.mark.slow  # the reference render
def test_status_of_a_partial_render(
    cli: Callable[..., tuple[int, str, str]], reference: Reference, tmp_path: Path
) -> None:
    output = tmp_path / "partial.mp4"
    workdir = default_workdir(output)
    shutil.copytree(reference.workdir, workdir)
    run = RunFolder(workdir)
    for frame in (4, 5, 6):
        run.record_path(frame).unlink()
    run.frame_path(3).write_bytes(b"damaged")  # not done either
    # the ETA leaves out the first frame (it costs several later ones): frame 2's seconds
    later = run.frame_record(2).seconds  # type: ignore[union-attr]
    eta = int(later * 4)
    for target in (output, workdir):
        code, out, err = cli("status", target)
        assert code == 0, err
        assert f"run folder: {workdir}" in out
        assert f"frames 1..{N_FRAMES}: 2 done, 4 left" in out
        assert f"{later:.1f}s per frame; ETA {eta // 60}:{eta % 60:02d}" in out


def test_status_of_something_else_gives_one_error_line(
    cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    code, _, err = cli("status", tmp_path / "never_rendered.mp4")
    assert code != 0
    assert "not a run folder" in assert_one_error_line(err)
    broken = tmp_path / "broken.videostyle"
    broken.mkdir()
    (broken / "manifest.json").write_text("{ torn")
    code, _, err = cli("status", broken)
    assert code != 0
    assert "--restart" in assert_one_error_line(err)


def test_ffmpeg_of_the_tests_is_the_bundled_one() -> None:
    assert video.ffmpeg_exe() == FFMPEG
