"""The render farm on a local Ray instance: 2 CPU workers, tiny shots, frames compared byte
for byte with the shots rendered alone.

One Ray instance serves the module (bound to 127.0.0.1, no dashboard, usage statistics
off, its folder a short one under /tmp: Unix socket paths are limited to ~107 characters).
The killed-driver test starts its own instance in a child process, as a user's command does.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clips import cache_dir, child_env, make_style, start_cli, wait_for
from test_render_fixes import sequence

import videostyle
from videostyle.batch import ShotEvent
from videostyle.farm import FarmSettings, run_farm
from videostyle.reaper import holds
from videostyle.shots import load_shots, plan

pytestmark = pytest.mark.slow
Cli = Callable[..., tuple[int, str, str]]
FAST = ("--quality", "draft", "--size", "32", "--iterations", "3,2")
FAST_TOML = 'quality = "draft"\nsize = 32\niterations = "3,2"\n'


def ray_env() -> dict[str, str]:
    return {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    temp = tempfile.mkdtemp(prefix="vsray", dir="/tmp")
    saved = dict(os.environ)
    root = str(Path(videostyle.__file__).resolve().parents[1])  # workers import this package
    os.environ.update(ray_env(), PYTHONPATH=os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p))
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, _node_ip_address="127.0.0.1",
             _temp_dir=temp, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(temp, ignore_errors=True)


def digests(workdir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((workdir / "frames").glob("*.png"))}


def scene(root: Path, lengths: tuple[int, ...]) -> Path:
    """Sequences seq0, seq1, ... of the given lengths, a style, an output folder and a shot
    file (shot k: seed k) under ``root``; returns the shot file."""
    make_style(root / "style.png")
    (root / "out").mkdir()
    text = f'[defaults]\nstyle = ["style.png"]\n{FAST_TOML}'
    for k, n in enumerate(lengths):
        sequence(root / f"seq{k}", n, name="f_%04d.png", size=(40 + 8 * k, 32))
        text += f'\n[[shot]]\nsource = "seq{k}/f_%04d.png"\noutput = "out/s{k}_%04d.png"\n'
    (root / "shots.toml").write_text(text)
    return root / "shots.toml"


def alone(cli: Cli, root: Path, k: int) -> dict[str, str]:
    """Shot ``k`` rendered alone from the command line, in this process."""
    code, _, err = cli("render", root / f"seq{k}" / "f_%04d.png", "-s", root / "style.png",
                       "-o", root / "alone" / f"s{k}_%04d.png", *FAST, "-q")
    assert code == 0, err
    return digests(root / "alone" / f"s{k}.videostyle")


def test_a_batch_on_two_workers_equals_the_shots_rendered_alone(
    cli: Cli, ray_local: None, tmp_path: Path
) -> None:
    shots = scene(tmp_path, (3, 3, 2))
    (tmp_path / "alone").mkdir()
    expected = [alone(cli, tmp_path, k) for k in range(3)]
    code, out, err = cli("batch", shots, "--workers", "2")
    assert code == 0, err
    for k in range(3):
        assert digests(tmp_path / "out" / f"s{k}.videostyle") == expected[k]
        assert len(expected[k]) == (3, 3, 2)[k]
    # progress from the workers: one line per frame of each shot, and the total
    lines = out.splitlines()
    assert sum(line.startswith("shot 2 (s1_%04d.png): frame ") for line in lines) == 3
    assert any(line.endswith("all shots 8/8 frames") for line in lines)
    # each shot's notes from its plan, once and named, though its render runs on a worker
    for k, size in enumerate(("32x26", "32x21", "32x18")):
        assert err.count(f"s{k}_%04d.png): not used at {size}: the default --start-size") == 1


def test_a_worker_killed_during_a_frame_is_retried_and_the_frames_are_unchanged(
    cli: Cli, ray_local: None, tmp_path: Path
) -> None:
    """With --restart: the shot's folder holds another render (cleared once, by the driver);
    the retried worker resumes from what the first attempt stored."""
    shots = scene(tmp_path, (6, 2))
    (tmp_path / "alone").mkdir()
    expected = alone(cli, tmp_path, 0)
    code, _, err = cli("render", tmp_path / "seq0" / "f_%04d.png", "-s", tmp_path / "style.png",
                       "-o", tmp_path / "out" / "s0_%04d.png", *FAST, "--tv-weight", "7",
                       "--frames", "1:2", "-q")
    assert code == 0, err
    plans = plan(load_shots(shots, types=_types(), overrides={"restart": True}))
    pids: list[int] = []

    def kill_first(event: ShotEvent) -> None:
        if event.shot != 0 or event.skipped:
            return
        if not pids:
            os.kill(event.pid, signal.SIGKILL)  # the worker, in the middle of a later frame
        pids.append(event.pid)

    outcomes = run_farm(plans, FarmSettings(workers="2"), on_event=kill_first)
    assert [o.error for o in outcomes] == [None, None]
    assert os.getpid() not in pids and len(set(pids)) == 2, pids  # run again elsewhere
    assert outcomes[0].computed < 6  # the retry resumed from the run folder
    assert digests(tmp_path / "out" / "s0.videostyle") == expected


def test_a_killed_farm_leaves_no_process_and_resumes_on_one_machine_identically(
    cli: Cli, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pytest.importorskip("ray")
    scene(tmp_path, (5,))
    (tmp_path / "alone").mkdir()
    expected = alone(cli, tmp_path, 0)
    mark = uuid.uuid4().hex
    ray_dir = tempfile.mkdtemp(prefix="vsr", dir="/tmp")
    env = {**child_env(cache_dir(tmp_path_factory)), **ray_env(), "RAY_TMPDIR": ray_dir,
           "VS_TEST_MARK": mark}
    args = (tmp_path / "seq0" / "f_%04d.png", "-s", tmp_path / "style.png", "-o",
            tmp_path / "out" / "s0_%04d.png", *FAST)
    workdir = tmp_path / "out" / "s0.videostyle"
    driver = start_cli(env, "render", *args, "--workers", "1", "-q")
    try:
        wait_for(driver, lambda: (workdir / "frames" / "000001.json").is_file(), timeout=240,
                 poll=0.05)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 20
        while _marked(mark, ray_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _marked(mark, ray_dir) == []
        before = _listing(workdir)
        time.sleep(1.0)
        assert _listing(workdir) == before  # nothing writes into the run folder any more
        assert len(digests(workdir)) < 5
        code, out, err = cli("render", *args)  # resumed here, without Ray
        assert code == 0, err
        computed = int(re.search(r"(\d+) computed now", out).group(1))  # type: ignore[union-attr]
        assert 0 < computed < 5
        assert digests(workdir) == expected
    finally:
        for pid in _marked(mark, ray_dir):  # only if the test failed: this test's processes
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(ray_dir, ignore_errors=True)


def _types() -> dict[str, object]:
    from videostyle.cli.batch import shot_types

    return shot_types()


def _marked(mark: str, ray_dir: str) -> list[int]:
    """This test's processes: those whose environment holds its mark, or that hold a file
    in its Ray folder (Ray renames its processes, which can blank their environment)."""
    needle = f"VS_TEST_MARK={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                carries = needle in (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if carries or holds(entry, ray_dir):
                found.append(int(entry.name))
    return found


def _listing(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}



def test_a_stopped_farm_exits_cleanly_and_the_farm_resumes_it(
    cli: Cli, ray_local: None, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    scene(tmp_path, (4,))
    (tmp_path / "alone").mkdir()
    expected = alone(cli, tmp_path, 0)
    mark = uuid.uuid4().hex
    ray_dir = tempfile.mkdtemp(prefix="vsr", dir="/tmp")
    env = {**child_env(cache_dir(tmp_path_factory)), **ray_env(), "RAY_TMPDIR": ray_dir,
           "VS_TEST_MARK": mark}
    args = (tmp_path / "seq0" / "f_%04d.png", "-s", tmp_path / "style.png", "-o",
            tmp_path / "out" / "s0_%04d.png", *FAST)
    workdir = tmp_path / "out" / "s0.videostyle"
    driver = start_cli(env, "render", *args, "--workers", "1", "-q")
    try:
        wait_for(driver, lambda: (workdir / "frames" / "000001.json").is_file(), timeout=240,
                 poll=0.05)
        driver.send_signal(signal.SIGTERM)
        _, err = driver.communicate(timeout=60)
        assert driver.returncode == 143, err
        assert "interrupted; finished frames are kept" in err
        assert _marked(mark, ray_dir) == []
        code, out, err = cli("render", *args, "--workers", "2")  # resumed by the farm
        assert code == 0, err
        assert digests(workdir) == expected
    finally:
        for pid in _marked(mark, ray_dir):  # only if the test failed: this test's processes
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(ray_dir, ignore_errors=True)


def test_a_chunked_render_on_two_workers_killed_and_resumed_equals_it_rendered_here(
    cli: Cli, ray_local: None, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from test_chunked import CHUNKED, check_stitched, clip, frames

    from videostyle.video import probe
    from videostyle.workdir import chunk_folder

    source, style = clip(tmp_path)
    fast = ("--quality", "draft", "--size", "32", "--iterations", "3,2")
    args = (source, "-s", style, *fast, *CHUNKED)
    code, _, err = cli("render", *args, "-o", tmp_path / "here.mp4", "-q")  # chunks in turn
    assert code == 0, err
    expected = frames(tmp_path / "here.videostyle")
    mark = uuid.uuid4().hex
    ray_dir = tempfile.mkdtemp(prefix="vsr", dir="/tmp")
    env = {**child_env(cache_dir(tmp_path_factory)), **ray_env(), "RAY_TMPDIR": ray_dir,
           "VS_TEST_MARK": mark}
    out, workdir = tmp_path / "out.mp4", tmp_path / "out.videostyle"
    second = chunk_folder(workdir, 3, 8) / "frames"
    driver = start_cli(env, "render", *args, "-o", out, "--workers", "2", "-q")
    try:
        wait_for(driver, lambda: (second / "000004.json").is_file(), timeout=240, poll=0.05)
        driver.send_signal(signal.SIGKILL)  # the driver, while the chunks render on workers
        driver.wait()
        deadline = time.monotonic() + 20
        while _marked(mark, ray_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _marked(mark, ray_dir) == []
        assert frames(workdir) == {}  # nothing stitched yet
        assert len(digests(chunk_folder(workdir, 3, 8))) < 6
        code, text, err = cli("render", *args, "-o", out, "--workers", "2")  # the same command
        assert code == 0, err
        assert "8 frames, 8 computed now" in text, text
        assert frames(workdir) == expected  # the chunks left finished, the same frames
        check_stitched(workdir, 1, 8, 2, 2)
        assert probe(out).n_frames == 8
    finally:
        for pid in _marked(mark, ray_dir):  # only if the test failed: this test's processes
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(ray_dir, ignore_errors=True)


def test_a_batch_with_a_chunked_shot_on_the_farm(
    cli: Cli, ray_local: None, tmp_path: Path
) -> None:
    from test_chunked import check_stitched

    shots = scene(tmp_path, (2, 6))
    shots.write_text(shots.read_text() + "chunks = 2\nchunk_overlap = 1\n")  # the 2nd shot
    (tmp_path / "alone").mkdir()
    expected = alone(cli, tmp_path, 0)
    code, out, err = cli("batch", shots, "--workers", "2")
    assert code == 0, err
    assert digests(tmp_path / "out" / "s0.videostyle") == expected
    check_stitched(tmp_path / "out" / "s1.videostyle", 1, 6, 2, 1)
    assert len(list((tmp_path / "out").glob("s1_*.png"))) == 6
    # progress counts the chunks' frames: 2 + (3 + 4), the overlap frame twice
    assert any(line.endswith("all shots 9/9 frames") for line in out.splitlines()), out


def test_the_colour_configuration_goes_with_a_shot_to_its_worker() -> None:
    """The colour spaces were checked against the driver's $OCIO: a worker uses it too."""
    from videostyle.farm import _travels

    assert _travels("OCIO") and _travels("OCIO_ACTIVE_DISPLAYS")
    assert _travels("VIDEOSTYLE_FAULT")
    assert not _travels("HOME") and not _travels("OCIOX") and not _travels("PATH")
