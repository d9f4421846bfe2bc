"""Temporal error, the flow visualisation command, and multi-pass resume."""

from __future__ import annotations

import json
import os
import signal
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import (
    assert_one_error_line,
    cache_dir,
    child_env,
    frame_bytes,
    make_clip,
    make_style,
    run_cli,
    start_cli,
    wait_for,
)

from videostyle import video
from videostyle.evaluate import pair_error, temporal_error
from videostyle.flow import write_flo
from videostyle.workdir import RunFolder, default_workdir


def _shifting_sequence(folder: Path, n: int, *, flicker: float = 0.0) -> Path:
    """A texture moving left by 2 px per frame, with optional per-frame brightness flicker;
    exact flows ``forward_i_j.flo``/``backward_j_i.flo`` go in ``folder / "gt"``."""
    rng = np.random.default_rng(3)
    width, height = 48, 32
    texture = cv2.GaussianBlur((rng.random((height, width + 2 * n + 4, 3)) * 255), (5, 5), 0)
    (folder / "gt").mkdir(parents=True, exist_ok=True)
    for t in range(1, n + 1):
        frame = texture[:, 2 * t : 2 * t + width] * (1 + flicker * (-1) ** t)
        cv2.imwrite(str(folder / f"f_{t:03d}.png"), np.clip(frame, 0, 255).astype(np.uint8))
    forward = np.zeros((height, width, 2), np.float32)
    forward[..., 0] = -2.0  # frame t at x shows what frame t + 1 shows at x - 2
    for t in range(1, n):
        write_flo(folder / "gt" / f"forward_{t}_{t + 1}.flo", forward)
        write_flo(folder / "gt" / f"backward_{t + 1}_{t}.flo", -forward)
    return folder


def test_pair_error_by_hand() -> None:
    previous = np.zeros((6, 6, 3), np.float32)
    current = np.full((6, 6, 3), 0.5, np.float32)
    still = np.zeros((6, 6, 2), np.float32)
    paper, masked, reliable = pair_error(previous, current, still, still)
    # zero flow is consistent everywhere but the reference checker's last row and column
    c = np.ones((6, 6))
    c[-1, :] = 0
    c[:, -1] = 0
    assert reliable == pytest.approx(float(c.mean()), abs=0.05)
    assert masked == pytest.approx(0.25, rel=1e-6)  # every followed pixel changed by 0.5
    assert paper == pytest.approx(0.25 * reliable, rel=1e-6)


def test_temporal_error_with_ground_truth_flow(tmp_path: Path) -> None:
    steady = _shifting_sequence(tmp_path / "steady", 6)
    flicker = _shifting_sequence(tmp_path / "flicker", 6, flicker=0.2)
    source = video.probe(steady / "f_%03d.png", fps=Fraction(24))
    still = temporal_error(source, source, flow=str(steady / "gt"))
    flickering = temporal_error(
        video.probe(flicker / "f_%03d.png", fps=Fraction(24)), source, flow=str(steady / "gt")
    )
    assert [f.frame for f in still.frames] == [2, 3, 4, 5, 6]
    # the source warped by its exact flow is itself, up to 8-bit and interpolation error
    assert still.mean_masked < 1e-4
    # brightness flicker of +-20 % is a large temporal error
    assert flickering.mean_masked > 100 * still.mean_masked
    assert flickering.mean_paper <= flickering.mean_masked


def test_evaluate_command_json(tmp_path: Path) -> None:
    steady = _shifting_sequence(tmp_path / "steady", 4)
    env = child_env(cache_dir_for(tmp_path))
    done = run_cli(env, "evaluate", steady / "f_%03d.png", "--source", steady / "f_%03d.png",
                   "--flow", "dis", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["flow"].startswith("dis")
    assert len(report["frames"]) == 3
    assert report["mean_masked"] < 1e-3
    bad = run_cli(env, "evaluate", tmp_path / "missing.mp4", "--source", steady / "f_%03d.png")
    assert bad.returncode != 0
    assert_one_error_line(bad.stderr)


def test_a_stylised_sequence_is_aligned_by_its_own_numbers(tmp_path: Path) -> None:
    """A render of frames 4-6 numbers its output 4-6: evaluate compares it with source
    frames 4-6 (the source itself here: no error), not 1-3 (still frames, whose zero flow
    would find the moving ones flickering)."""
    rng = np.random.default_rng(5)
    texture = cv2.GaussianBlur(rng.random((32, 64, 3)) * 255, (5, 5), 0)
    offsets = {1: 0, 2: 0, 3: 0, 4: 0, 5: 3, 6: 6}  # still, then moving 3 px a frame
    (tmp_path / "gt").mkdir()
    (tmp_path / "part").mkdir()
    for k, o in offsets.items():
        frame = np.clip(texture[:, o: o + 48], 0, 255).astype(np.uint8)
        cv2.imwrite(str(tmp_path / f"f_{k:03d}.png"), frame)
        if k >= 4:
            cv2.imwrite(str(tmp_path / "part" / f"g_{k:03d}.png"), frame)
        if k > 1:
            step = np.zeros((32, 48, 2), np.float32)
            step[..., 0] = -(o - offsets[k - 1])
            write_flo(tmp_path / "gt" / f"forward_{k - 1}_{k}.flo", step)
            write_flo(tmp_path / "gt" / f"backward_{k}_{k - 1}.flo", -step)
    source = video.probe(tmp_path / "f_%03d.png", fps=Fraction(24))
    part = video.probe(tmp_path / "part" / "g_%03d.png", fps=Fraction(24))
    report = temporal_error(part, source, flow=str(tmp_path / "gt"))
    assert [f.frame for f in report.frames] == [5, 6]
    assert report.mean_masked < 1e-4
    assert len(report.notes) == 1 and "its first frame is source frame 4" in report.notes[0]
    shifted = temporal_error(part, source, flow=str(tmp_path / "gt"), start=1)
    assert shifted.mean_masked > 100 * report.mean_masked  # misaligned: a large error


def test_a_pair_without_reliable_pixels_leaves_the_masked_mean_a_number(tmp_path: Path) -> None:
    """A cut (here: a flow that leaves the frame everywhere) has no masked error; the mean
    is over the other pairs, and JSON gets null, not NaN."""
    steady = _shifting_sequence(tmp_path / "steady", 4)
    away = np.full((32, 48, 2), 200.0, np.float32)
    write_flo(steady / "gt" / "forward_2_3.flo", away)
    write_flo(steady / "gt" / "backward_3_2.flo", away)
    source = video.probe(steady / "f_%03d.png", fps=Fraction(24))
    report = temporal_error(source, source, flow=str(steady / "gt"))
    assert np.isnan(report.frames[1].masked) and np.isfinite(report.frames[0].masked)
    assert report.mean_masked == pytest.approx(
        np.mean([report.frames[0].masked, report.frames[2].masked]))
    text = json.dumps(report.as_dict())
    assert "NaN" not in text and json.loads(text)["frames"][1]["masked"] is None


def cache_dir_for(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    path.mkdir(exist_ok=True)
    return path


def test_flow_command_writes_side_by_side_video(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", n_frames=5, size=(48, 32))
    env = child_env(cache_dir_for(tmp_path))
    out = tmp_path / "viz.mp4"
    done = run_cli(env, "flow", clip, "-o", out)
    assert done.returncode == 0, done.stderr
    info = video.probe(out)
    assert info.n_frames == 4  # one panel per frame after the first
    assert (info.width, info.height) == (3 * 48, 32)
    assert info.fps == Fraction(25)


@pytest.mark.slow
def test_multipass_killed_inside_a_pass_resumes_to_identical_frames(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = child_env(cache_dir(tmp_path_factory))
    clip = make_clip(tmp_path / "clip.mp4", n_frames=4, size=(40, 30))
    style = make_style(tmp_path / "style.png")
    args = ("--size", "32", "--passes", "3", "--temporal-after-pass", "2",
            "--iterations", "6", "--seed", "2")

    ref_out = tmp_path / "ref" / "out.mp4"
    ref_out.parent.mkdir()
    done = run_cli(env, "render", clip, "-s", style, "-o", ref_out, *args)
    assert done.returncode == 0, done.stderr
    reference = frame_bytes(default_workdir(ref_out))
    ref_passes = {p.relative_to(default_workdir(ref_out)): p.read_bytes()
                  for p in (default_workdir(ref_out) / "passes").rglob("*.png")}
    assert len(ref_passes) == 3 * 4

    out = tmp_path / "run" / "out.mp4"
    out.parent.mkdir()
    run = RunFolder(default_workdir(out))
    proc = start_cli(env, "render", clip, "-s", style, "-o", out, *args)
    # pass 2 runs backward: 4, 3, 2, 1; kill once its second frame (3) is stored
    wait_for(proc, run.pass_path(2, 3).with_suffix(".json").exists)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert not run.pass_path(3, 1).with_suffix(".json").exists()
    done = run_cli(env, "render", clip, "-s", style, "-o", out, *args)
    assert done.returncode == 0, done.stderr
    passes = {p.relative_to(run.root): p.read_bytes() for p in (run.root / "passes").rglob("*.png")}
    assert passes == ref_passes
    assert frame_bytes(run.root) == reference
