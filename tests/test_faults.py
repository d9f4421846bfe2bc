"""Faults other than kills: a full disk, two renders of one run folder, NaN frames,
``--deterministic``.

Renders run as children forked from a server that has imported the package (see
``forkserver.py``), or in this process (the ``cli`` fixture) where a test needs to see
one command's exit and message while a child renders.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from clips import (
    assert_one_error_line,
    cache_dir,
    child_env,
    frame_bytes,
    make_clip,
    make_style,
    read_png,
)
from forkserver import ForkServer

from videostyle import recovery, runlock, runlog, video
from videostyle.errors import OptimizationError
from videostyle.stylizer import FrameJob, FrameResult
from videostyle.workdir import RunFolder, default_workdir

N_FRAMES = 5
# one scale, typed: the default start size would plan one too, with a note before the error
ARGS = ("--quality", "draft", "--size", "32", "--iterations", "6,8",
        "--start-size", "0", "-q")
CLI = Callable[..., tuple[int, str, str]]
NEEDS = re.compile(r"needs (about )?[\d.]+ [kM]B")  # the space needed, in the message


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    forks = ForkServer(child_env(cache_dir(tmp_path_factory)))
    yield forks
    forks.close()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("fault-media")
    return (make_clip(folder / "clip.mp4", n_frames=N_FRAMES, size=(48, 36)),
            make_style(folder / "style.png"))


def argv(inputs: tuple[Path, Path], output: Path, *extra: str) -> list[str | Path]:
    return ["render", inputs[0], "-s", inputs[1], "-o", output, *ARGS, *extra]


@pytest.fixture(scope="module")
def reference(server: ForkServer, inputs: tuple[Path, Path],
              tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    output = tmp_path_factory.mktemp("fault-ref") / "out.mp4"
    child = server.run(*argv(inputs, output))
    assert child.returncode == 0, child.stderr
    return frame_bytes(default_workdir(output))


def assert_whole(workdir: Path) -> None:
    """No torn frame taken as done, no temporary file left."""
    run = RunFolder(workdir)
    for record in run.frames_dir.glob("*.json"):
        assert run.is_done(int(record.stem)), f"{record} does not match its frame"
    assert list(workdir.rglob(".*.tmp")) == []


# ---- a full disk ---------------------------------------------------------------------------


def _mount(folder: Path, size: int) -> bool:
    folder.mkdir(exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True)
    return done.returncode == 0


def _used(folder: Path) -> int:
    stat = os.statvfs(folder)
    return (stat.f_blocks - stat.f_bfree) * stat.f_frsize


@contextlib.contextmanager
def small_disk(folder: Path, size: int) -> Iterator[bool]:
    """A tmpfs of ``size`` bytes at ``folder`` (True), or False where none can be mounted;
    unmounted in any case."""
    mounted = _mount(folder, size)
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def _grow(folder: Path, size: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)


@pytest.fixture(scope="module")
def full_size(server: ForkServer, inputs: tuple[Path, Path],
              tmp_path_factory: pytest.TempPathFactory) -> int | None:
    """The bytes a whole render (run folder and video) takes on a tmpfs; None: no mount."""
    folder = tmp_path_factory.mktemp("measure") / "disk"
    with small_disk(folder, 64 << 20) as mounted:
        if not mounted:
            return None
        child = server.run(*argv(inputs, folder / "out.mp4"))
        assert child.returncode == 0, child.stderr
        return _used(folder)


@pytest.mark.slow
def test_full_disk_stops_with_one_line_and_resumes_identically(
    server: ForkServer, inputs: tuple[Path, Path], reference: dict[str, bytes],
    full_size: int | None, tmp_path: Path,
) -> None:
    disk = tmp_path / "disk"
    output = disk / "out.mp4"
    workdir = default_workdir(output)
    size = (full_size or 0) * 6 // 10 // 4096 * 4096
    with small_disk(disk, size) as mounted:
        # a filesystem of 60 % of what the render needs; elsewhere an injected ENOSPC
        env = None if mounted else {"VIDEOSTYLE_FAULT": "enospc@12"}
        child = server.run(*argv(inputs, output), env=env)
        assert child.returncode == 2
        line = assert_one_error_line(child.stderr)
        assert f"no space left in {disk}" in line and NEEDS.search(line)
        assert "run the same command to resume" in line
        assert_whole(workdir)
        done = RunFolder(workdir).done_frames(range(1, N_FRAMES + 1))
        assert len(done) < N_FRAMES and not output.exists()
        if mounted:
            _grow(disk, 4 * (full_size or 0))
        child = server.run(*argv(inputs, output))  # the same command, space freed
        assert child.returncode == 0, child.stderr
        assert frame_bytes(workdir) == reference
        assert video.probe(output).n_frames == N_FRAMES
        assert_whole(workdir)


@pytest.mark.slow
def test_full_disk_at_the_output_keeps_the_frames_and_names_the_folder(
    server: ForkServer, inputs: tuple[Path, Path], reference: dict[str, bytes],
    tmp_path: Path,
) -> None:
    disk = tmp_path / "disk"
    workdir = tmp_path / "run.videostyle"
    output = disk / "out.mp4"
    with small_disk(disk, 4096) as mounted:
        if not mounted:
            pytest.skip("cannot mount a small tmpfs here (needs root), and ffmpeg's own "
                        "writes cannot be made to fail by injection")
        (disk / "filler").write_bytes(b"x" * 4096)  # the disk (one page) is full
        child = server.run(*argv(inputs, output, "--workdir", str(workdir)))
        assert child.returncode == 2, child.stderr
        line = assert_one_error_line(child.stderr)
        assert f"no space left in {disk}" in line and NEEDS.search(line)
        assert frame_bytes(workdir) == reference  # every frame kept
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]  # nothing torn
        _grow(disk, 16 << 20)
        child = server.run(*argv(inputs, output, "--workdir", str(workdir)))
        assert child.returncode == 0, child.stderr
        assert "0 computed now" in child.stdout or child.stdout == ""
        assert video.probe(output).n_frames == N_FRAMES


# ---- two renders of one run folder -----------------------------------------------------------


def wait_until(ready: Callable[[], bool], child_alive: Callable[[], bool],
               timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert child_alive(), "the render ended before the awaited state"
        assert time.monotonic() < deadline, "timed out waiting for the render"
        time.sleep(0.01)


@pytest.mark.slow
def test_a_still_whose_disk_is_full_is_refused_before_work_or_kept_elsewhere(
    cli: Callable[..., tuple[int, str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``videostyle image`` has nothing to resume: too little space for its output is
    refused before any work, and a disk that fills up at the end keeps the result in the
    temporary folder, named in the one-line error."""
    import tempfile

    import videostyle.preflight
    from videostyle.errors import DiskFull

    style = make_style(tmp_path / "style.png")
    out = tmp_path / "out" / "o.png"
    out.parent.mkdir()
    args = ("image", style, "-s", style, "-o", out, "--size", "32", "--iterations", "2",
            "--start-size", "0", "-q")
    with monkeypatch.context() as m:
        m.setattr(videostyle.preflight, "free_bytes", lambda folder: 1000)
        code, _, err = cli(*args)
    assert code == 2, err
    assert err.strip() == (f"videostyle: error: {out} needs up to 69 kB but {out.parent} "
                           f"has 1 kB free; free space there or write it elsewhere")
    real = video.write_image

    def full_at_the_output(path: Any, *a: Any, **k: Any) -> None:
        if Path(path) == out:
            raise DiskFull(f"no space left in {out.parent}", folder=str(out.parent), needed=1)
        real(path, *a, **k)

    monkeypatch.setattr(video, "write_image", full_at_the_output)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, _, err = cli(*args)
    kept = tmp_path / "o.kept.png"
    assert code == 2, err
    assert err.strip() == (f"videostyle: error: no space left in {out.parent} for {out}; the "
                           f"result is kept in {kept}: free space and move it there")
    assert kept.is_file() and not out.exists()
    assert video.read_image(kept).shape == (32, 32, 3)


def test_a_full_temporary_folder_under_exr_frames_is_named_in_one_line(
    cli: Callable[..., tuple[int, str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenEXR writes each frame to a scratch file in the system's temporary folder first:
    when that folder is full, the one-line error names it (not the output's folder)."""
    import tempfile

    from videostyle.video.exr import write_exr

    plates = tmp_path / "plates"
    plates.mkdir()
    for number in (1001, 1002):
        write_exr(plates / f"p.{number}.exr", np.full((16, 24, 3), 0.5, np.float32))
    scratch = tmp_path / "scratch"
    with small_disk(scratch, 65536) as mounted:
        if not mounted:
            pytest.skip("cannot mount a small tmpfs here (needs root)")
        with contextlib.suppress(OSError):  # fill it to the last block
            with (scratch / "fill").open("wb") as handle:
                while True:
                    handle.write(b"\0" * 4096)
                    handle.flush()
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        code, _, err = cli("render", plates / "p.%04d.exr", "-s", make_style(tmp_path / "s.png"),
                           "-o", tmp_path / "o.%04d.exr", "--quality", "draft",
                           "--iterations", "0", "-q")
    assert code != 0
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and f"no space left in {scratch} " in errors[0], err
    assert "the EXR frame o.1001.exr" in errors[0]
    assert not (tmp_path / "o.1001.exr").exists()  # the binding left an empty file there


def test_second_render_refuses_status_works_and_a_stale_lock_is_taken_over(
    server: ForkServer, inputs: tuple[Path, Path], cli: CLI, tmp_path: Path,
) -> None:
    output = tmp_path / "out.mp4"
    run = RunFolder(default_workdir(output))
    long = ("--iterations", "6,40")  # frames long enough to act while one renders
    first = server.start(*argv(inputs, output, *long))
    wait_until(lambda: run.record_path(1).exists(), lambda: first.poll() is None)
    holder = runlock.read_holder(run.root)
    assert holder is not None and holder["pid"] == first.pid

    code, out, err = cli("status", output)  # while it renders
    assert code == 0, err
    assert f"rendering now: pid {first.pid} on " in out
    assert re.search(r"frames 1\.\.5: [1-4] done, [1-4] left", out)

    manifest = run.manifest_path.read_bytes()
    code, out, err = cli(*argv(inputs, output, *long))  # a second render of the folder
    assert code == 6
    line = assert_one_error_line(err)
    assert f"is in use by another render (pid {first.pid} on " in line
    assert run.manifest_path.read_bytes() == manifest
    assert first.poll() is None  # the first one renders on

    os.kill(first.pid, signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL
    code, out, err = cli("status", output)
    assert code == 0 and "not running (its lock is stale)" in out

    code, out, err = cli(*argv(inputs, output, *long))  # takes the stale lock over
    assert code == 0, err
    assert f"took over the lock of {run.root} left by a render that no longer runs (pid " \
           f"{first.pid} on " in err
    assert RunFolder(run.root).done_frames(range(1, N_FRAMES + 1)) == list(range(1, 6))
    assert not (run.root / runlock.LOCK_NAME).exists()
    assert [e["event"] for e in runlog.read(run.root)] == ["lock-taken-over"]
    code, out, err = cli("status", output)
    assert "rendering now" not in out and "stale" not in out


def test_lock_refuses_a_second_holder_and_frees_on_release(tmp_path: Path) -> None:
    first, second = runlock.RunLock(tmp_path / "w"), runlock.RunLock(tmp_path / "w")
    assert first.acquire() is None
    with pytest.raises(runlock.RunFolderBusy, match=f"pid {os.getpid()} on "):
        second.acquire()
    (tmp_path / "w" / ".frame.png.x1.tmp").write_bytes(b"torn")
    first.release()
    assert not (tmp_path / "w" / runlock.LOCK_NAME).exists()
    assert second.acquire() is None  # released cleanly: no takeover note
    assert list((tmp_path / "w").glob(".*.tmp")) == []  # leftovers of a killed writer
    second.release()


# ---- NaN and diverging frames -------------------------------------------------------------------


@pytest.mark.slow
def test_nan_frame_is_retried_reported_and_resumable(
    cli: CLI, inputs: tuple[Path, Path], reference: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    output = tmp_path / "out.mp4"
    run = RunFolder(default_workdir(output))
    monkeypatch.setenv("VIDEOSTYLE_FAULT", "nan@3")  # frame 3's first result is NaN
    code, out, err = cli(*argv(inputs, output))
    assert code == 0, err
    assert "videostyle: warning: frame 3: 2304 values of the image are not finite; " \
           "recovered with Adam at half the step from the content image" in err
    frames = frame_bytes(run.root)
    assert sorted(frames) == [f"{n:06d}.png" for n in range(1, 6)]
    for name in ("000001.png", "000002.png"):  # before the NaN: as without it
        assert frames[name] == reference[name]
    assert frames["000003.png"] != reference["000003.png"]  # the fallback painted it
    assert np.isfinite(read_png(run.frame_path(3)).astype(float)).all()
    events = runlog.read(run.root)
    assert [(e["event"], e["frame"]) for e in events] == [("frame-recovered", 3)]
    code, out, err = cli("status", output)
    assert code == 0
    assert "recovered: frame 3: 2304 values of the image are not finite; retried with Adam" in out

    # the fallback is deterministic: frame 3 again, without the NaN, from a fresh start
    # of frame 3 only, gives the same bytes
    monkeypatch.setenv("VIDEOSTYLE_FAULT", "nan@3")
    for name in ("000003.png", "000003.json", "000004.png", "000004.json", "000005.png",
                 "000005.json"):
        (run.frames_dir / name).unlink()
    code, out, err = cli(*argv(inputs, output))
    assert code == 0, err
    assert frame_bytes(run.root) == frames


@pytest.mark.slow
def test_unrecoverable_nan_stops_with_one_line_and_writes_nothing_of_it(
    cli: CLI, inputs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    output = tmp_path / "out.mp4"
    run = RunFolder(default_workdir(output))
    monkeypatch.setenv("VIDEOSTYLE_FAULT", "nan-always@2")
    code, out, err = cli(*argv(inputs, output))
    assert code == 7
    line = assert_one_error_line(err)
    assert line.startswith("videostyle: error: frame 2 failed (2304 values of the image are "
                           "not finite) and so did its retry with Adam at half the step")
    assert "nothing was written for it" in line and "--style-weight" in line
    assert run.done_frames(range(1, 6)) == [1]
    assert not run.frame_path(2).exists() and not run.record_path(2).exists()
    assert not output.exists()


class _Painter:
    """A stand-in stylizer: returns ``image`` or raises ``error``; counts its calls."""

    def __init__(self, image: np.ndarray | None, losses: dict[str, float] | None = None,
                 error: Exception | None = None) -> None:
        self.image, self.losses, self.error, self.jobs = image, losses or {}, error, []

    def stylize(self, job: FrameJob) -> FrameResult:
        self.jobs.append(job)
        if self.error is not None:
            raise self.error
        assert self.image is not None
        return FrameResult(image=self.image, iterations=3, losses=dict(self.losses),
                           initial_losses={"total": 10.0})


def _job() -> FrameJob:
    content = torch.full((1, 3, 4, 4), 0.25)
    return FrameJob(frame=7, content=content, init=torch.rand(1, 3, 4, 4), styles=(),
                    iterations=5, coarse=(((2, 2), ()),))


def test_guard_detects_nan_explosion_and_optimiser_failure() -> None:
    good = np.full((4, 4, 3), 0.5, np.float32)
    nan = good.copy()
    nan[1, 2, 0] = np.nan
    cases = [
        (_Painter(nan), "1 values of the image are not finite"),
        (_Painter(good, {"total": float("inf")}), "the loss is inf"),
        (_Painter(good, {"total": 101.0}), "the loss exploded from 10 to 101"),
        (_Painter(None, error=OptimizationError("the loss became nan")), "the loss became nan"),
    ]
    for primary, problem in cases:
        fallback = _Painter(good, {"total": 2.0})
        seen: list[recovery.Recovery] = []
        guard = recovery.GuardedStylizer(primary, fallback,  # type: ignore[arg-type]
                                         on_recovery=seen.append)
        result = guard.stylize(_job())
        assert result.image is good and [r.problem for r in seen] == [problem]
        retry = fallback.jobs[0]
        assert torch.equal(retry.init, retry.content) and retry.coarse == ()
    fine = _Painter(good, {"total": 99.0})  # below EXPLODED times the start's loss
    assert recovery.GuardedStylizer(fine, None).stylize(_job()).image is good
    with pytest.raises(OptimizationError, match="frame 7 failed .* nothing was written"):
        recovery.GuardedStylizer(_Painter(nan), None).stylize(_job())


def test_fallback_engine_is_adam_at_half_the_step() -> None:
    from videostyle.config import EngineSettings

    engine = recovery.fallback_engine(EngineSettings())
    assert engine.optimizer.optimizer == "adam"
    assert engine.optimizer.adam_lr == EngineSettings().optimizer.adam_lr / 2
    assert engine.weights == EngineSettings().weights


# ---- --deterministic ----------------------------------------------------------------------


@pytest.mark.slow
def test_deterministic_records_itself_and_refuses_another_environment(
    cli: CLI, inputs: tuple[Path, Path], reference: dict[str, bytes], tmp_path: Path,
) -> None:
    output = tmp_path / "out.mp4"
    run = RunFolder(default_workdir(output))
    code, out, err = cli(*argv(inputs, output, "--deterministic", "--frames", ":2"))
    assert code == 0, err
    assert not torch.are_deterministic_algorithms_enabled()  # restored after the render
    manifest = run.read_manifest()
    assert manifest["pixels"]["deterministic"] is True
    # on a CPU the kernels are deterministic already: the same bytes as without it
    assert frame_bytes(run.root) == {k: reference[k] for k in ("000001.png", "000002.png")}

    manifest["environment"]["threads"] = 64  # as if rendered elsewhere
    run.manifest_path.write_text(json.dumps(manifest))
    code, out, err = cli(*argv(inputs, output, "--deterministic"))
    line = assert_one_error_line(err)
    assert code == 6 and "--deterministic: " in line and "threads 64 -> 1" in line
    assert run.done_frames(range(1, 6)) == [1, 2]

    code, out, err = cli(*argv(inputs, output))  # without it: other settings
    assert code == 6 and "deterministic" in assert_one_error_line(err)
