"""Kills: a render SIGKILLed at 20 seeded random moments and at every fault-injection point
resumes to the frames (bytes) and the video of an uninterrupted render.

Each render is a child process (forked from a server that has imported the package, see
``forkserver.py``; one thread). Random moments are spread uniformly over the CPU time of
an uninterrupted render (its own and its ffmpeg children's), from the command's start to
its end (decode, flow, every frame, the encode): a moment is reached when the child has
used that much CPU, which a busy machine does not shift the way it shifts wall time.
Fault points (``VIDEOSTYLE_FAULT``, :mod:`videostyle.faults`) hit the windows a timer
will not: inside a write, between a frame and its record, between the
encode and the rename. After every kill the run folder and the output are checked
(nothing torn taken as done; the output absent or whole; no ffmpeg left running) and
the same command resumes.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from clips import cache_dir, child_env, ffmpeg_in_session, frame_bytes, make_clip, make_style
from forkserver import Child, ForkServer

from videostyle import runlock, video
from videostyle.faults import POINTS
from videostyle.workdir import RunFolder, default_workdir

pytestmark = pytest.mark.slow

N_FRAMES = 5
#: Tiny and short: 32x24 frames, 6 iterations on the first frame, 8 on the others, flow
#: and the temporal loss of the default (prev-warped) chain.
ARGS = ("--quality", "draft", "--size", "32", "--iterations", "6,8", "-q")
KILLS = 20
SEED = 1313


@dataclass
class Reference:
    frames: dict[str, bytes]
    video: bytes
    cpu: float  # CPU seconds of the whole render


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    env = child_env(cache_dir(tmp_path_factory))
    env.pop("VIDEOSTYLE_FAULT", None)
    forks = ForkServer(env)
    yield forks
    forks.close()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("kill-media")
    return (make_clip(folder / "clip.mp4", n_frames=N_FRAMES, size=(48, 36)),
            make_style(folder / "style.png"))


def argv(inputs: tuple[Path, Path], output: Path) -> list[str | Path]:
    return ["render", inputs[0], "-s", inputs[1], "-o", output, *ARGS]


@pytest.fixture(scope="module")
def reference(server: ForkServer, inputs: tuple[Path, Path],
              tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The render without interruption, twice: the second gives the CPU time over which the
    kill moments are spread (the first also converts the weights), and both must agree."""
    runs = []
    for name in ("ref-a", "ref-b"):
        output = tmp_path_factory.mktemp(name) / "out.mp4"
        child = server.run(*argv(inputs, output))
        assert child.returncode == 0 and child.cpu is not None, child.stderr
        runs.append(Reference(frame_bytes(default_workdir(output)), output.read_bytes(),
                              child.cpu))
    assert runs[0].frames == runs[1].frames and runs[0].video == runs[1].video
    assert len(set(runs[0].frames.values())) == N_FRAMES
    return runs[1]


def check_after_kill(child: Child, output: Path) -> list[int]:
    """The state a kill left: returns the frames stored as done."""
    assert child.wait() == -signal.SIGKILL, child.stderr
    # an encode's ffmpeg outlives a kill of the render only to finish its temporary file
    # (it reads frame files, not a pipe); a decode's dies with its pipe
    deadline = time.monotonic() + 60
    while ffmpeg_in_session(child.pid):
        assert time.monotonic() < deadline, "an ffmpeg of the killed render runs on"
        time.sleep(0.05)
    if output.exists():  # only ever whole under its final name
        assert video.probe(output).n_frames == N_FRAMES
    workdir = default_workdir(output)
    if not workdir.exists():
        return []
    run = RunFolder(workdir)
    for record in run.frames_dir.glob("*.json") if run.frames_dir.is_dir() else []:
        assert run.is_done(int(record.stem)), f"{record} does not match its frame"
    return run.done_frames(range(1, N_FRAMES + 1))


def resume_and_compare(server: ForkServer, inputs: tuple[Path, Path], output: Path,
                       reference: Reference, done: list[int]) -> None:
    child = server.run(*argv(inputs, output))
    assert child.returncode == 0, child.stderr
    workdir = default_workdir(output)
    assert frame_bytes(workdir) == reference.frames
    assert output.read_bytes() == reference.video
    assert [p.name for p in workdir.rglob(".*")] == []  # no temporary file left
    assert not (workdir / runlock.LOCK_NAME).exists()  # the lock went with the render
    assert [p.name for p in output.parent.iterdir() if p.name.startswith(".")] == []
    records = sorted(int(p.stem) for p in (workdir / "frames").glob("*.json"))
    assert records == list(range(1, N_FRAMES + 1))
    assert done == sorted(done)


def kill_moments() -> list[float]:
    """Fractions of the uninterrupted render's duration, seeded."""
    rng = random.Random(SEED)
    return [rng.uniform(0.0, 0.97) for _ in range(KILLS)]


@pytest.mark.parametrize("index", range(KILLS))
def test_kill_at_a_random_moment_resumes_identically(
    server: ForkServer, inputs: tuple[Path, Path], reference: Reference, tmp_path: Path,
    index: int,
) -> None:
    output = tmp_path / "out.mp4"
    child = server.start(*argv(inputs, output))
    moment = kill_moments()[index] * reference.cpu
    while (used := child.cpu_so_far()) is not None and used < moment:
        time.sleep(0.005)
    if used is not None:
        with contextlib.suppress(ProcessLookupError):  # it may have exited meanwhile
            os.kill(child.pid, signal.SIGKILL)
    if child.wait() == 0:
        # finished before the moment came, or before the kill landed (its last CPU reading
        # was taken while it exited): it needed less CPU than the reference; nothing to resume
        done = list(range(1, N_FRAMES + 1))
    else:
        done = check_after_kill(child, output)
    print(f"kill {index}: at {kill_moments()[index]:.2f} of the render, frames done: "
          f"{len(done)}, killed: {child.returncode == -signal.SIGKILL}")
    resume_and_compare(server, inputs, output, reference, done)


#: (fault, the frames stored as done when it struck; None: any, the flow is computed on a
#: thread beside the frames)
FAULTS: list[tuple[str, int | None]] = [
    ("manifest-write", 0), ("content-write@3", 0), ("flow-write@2", None),
    ("frame-write@2", 1), ("frame-before-record@1", 0), ("frame-before-record@3", 2),
    ("record-write@2", 1), ("encode-before-rename", N_FRAMES),
]


@pytest.mark.parametrize(("fault", "stored"), FAULTS, ids=[f for f, _ in FAULTS])
def test_kill_at_a_fault_point_resumes_identically(
    server: ForkServer, inputs: tuple[Path, Path], reference: Reference, tmp_path: Path,
    fault: str, stored: int | None,
) -> None:
    output = tmp_path / "out.mp4"
    run = RunFolder(default_workdir(output))
    child = server.start(*argv(inputs, output), env={"VIDEOSTYLE_FAULT": fault})
    done = check_after_kill(child, output)
    assert done == list(range(1, (len(done) if stored is None else stored) + 1))
    # the frame's PNG is there, not its record
    if fault.startswith("frame-before-record") and stored is not None:
        frame = stored + 1
        assert run.frame_path(frame).is_file() and not run.record_path(frame).exists()
    if fault.startswith(("manifest-write", "frame-write", "record-write", "content-write",
                         "flow-write")):
        assert list(run.root.rglob(".*.tmp")), "the kill was not inside a write"
    if fault == "encode-before-rename":
        assert not output.exists()
        partial = [p for p in tmp_path.iterdir() if re.fullmatch(r"\.out\..*\.partial\.mp4",
                                                                  p.name)]
        assert len(partial) == 1 and video.probe(partial[0]).n_frames == N_FRAMES
    resume_and_compare(server, inputs, output, reference, done)


def test_kill_inside_the_manifest_write_of_a_resume(
    server: ForkServer, inputs: tuple[Path, Path], reference: Reference, tmp_path: Path,
) -> None:
    """The manifest is rewritten on every resume: a kill inside that write keeps the old
    one readable (atomic replace), and the next resume carries on."""
    output = tmp_path / "out.mp4"
    run = RunFolder(default_workdir(output))
    first = server.start(*argv(inputs, output), env={"VIDEOSTYLE_FAULT": "frame-before-record@2"})
    assert check_after_kill(first, output) == [1]
    before = run.manifest_path.read_bytes()
    second = server.start(*argv(inputs, output), env={"VIDEOSTYLE_FAULT": "manifest-write"})
    assert check_after_kill(second, output) == [1]
    assert run.manifest_path.read_bytes() == before
    assert list(run.root.glob(".manifest.json.*.tmp"))
    resume_and_compare(server, inputs, output, reference, [1])


def test_every_fault_point_is_exercised() -> None:
    names = {f.split("@")[0] for f, _ in FAULTS}
    assert names == set(POINTS)
