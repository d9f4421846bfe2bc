"""Helpers of the render tests: tiny generated clips and style images, the render command
as a child process, and a scan of /proc for ffmpeg processes.

Clips come from the bundled ffmpeg (lavfi sources), never from ../shared, so the render
tests run on a fresh clone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

import videostyle

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SAMPLE_RATE = 48000
ERROR_PREFIX = "videostyle: error:"


# ---- media ------------------------------------------------------------------------------


def run_ffmpeg(*args: str) -> None:
    subprocess.run(
        [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def rate_text(fps: Fraction) -> str:
    return f"{fps.numerator}/{fps.denominator}"


def make_clip(
    path: Path,
    *,
    fps: Fraction = Fraction(25),
    n_frames: int = 6,
    size: tuple[int, int] = (48, 36),
    source: str = "testsrc2",
    burst_at: float | None = None,
) -> Path:
    """An H.264 clip of a lavfi source: a test pattern name, or a graph such as NUMBERED.

    With ``burst_at`` it has an AAC track: silence with a 0.1 s 1 kHz tone burst starting
    at ``burst_at`` seconds, lasting past the video's end.
    """
    if "{" in source:
        graph = source.format(w=size[0], h=size[1], rate=rate_text(fps))
    else:
        graph = f"{source}=size={size[0]}x{size[1]}:rate={rate_text(fps)}"
    args = ["-f", "lavfi", "-i", graph]
    if burst_at is not None:
        seconds = float(n_frames / fps) + 0.5
        tone = (
            f"aevalsrc='if(between(t,{burst_at},{burst_at + 0.1}),0.8*sin(2*PI*1000*t),0)'"
            f":s={SAMPLE_RATE}:d={seconds:.3f}"
        )
        args += ["-f", "lavfi", "-i", tone, "-c:a", "aac"]
    args += ["-frames:v", str(n_frames), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    run_ffmpeg(*args)
    return path


#: Flat grey frames whose level tells the frame number: frame N (0-based) has luma
#: 16 + 11 (N mod 20), so the first 20 frames are about 0.05 apart in RGB.
NUMBERED = "color=c=gray:s={w}x{h}:r={rate},geq=lum='16+mod(N*11,220)':cb=128:cr=128"


def make_style(path: Path, size: int = 32) -> Path:
    """A small colourful style image: diagonal stripes over a radial gradient."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    r = 0.5 + 0.5 * np.sin((x + y) / 2.5)
    g = np.hypot(x - size / 2, y - size / 2) / size
    b = 0.5 + 0.5 * np.cos(x / 1.7)
    rgb = np.clip(np.stack([r, g, b], axis=2), 0, 1)
    cv2.imwrite(str(path), np.rint(rgb[..., ::-1] * 255).astype(np.uint8))
    return path


def decode_audio(path: Path) -> np.ndarray:
    """First audio stream of ``path`` as mono float samples at SAMPLE_RATE."""
    done = subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1",
         "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"],
        check=True, capture_output=True,
    )  # fmt: skip
    return np.frombuffer(done.stdout, dtype="<i2").astype(np.float32) / 32768.0


def onset_seconds(samples: np.ndarray) -> float:
    """Time of the first sample above a quarter of the loudest one."""
    level = np.abs(samples)
    assert level.max() > 0.2, "no tone burst in the audio"
    return float(np.argmax(level > 0.25 * level.max())) / SAMPLE_RATE


def read_png(path: Path) -> np.ndarray:
    """A PNG as stored (uint8 or uint16, BGR)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, f"cannot read {path}"
    return image


# ---- the render command -------------------------------------------------------------------


def cache_dir(factory: pytest.TempPathFactory) -> Path:
    """One converted-weights cache for the whole test session (the user's is left alone)."""
    path = factory.getbasetemp() / "videostyle-cache"
    path.mkdir(exist_ok=True)
    return path


def child_env(cache: Path) -> dict[str, str]:
    """The environment of every render child: one thread, so runs compare bit for bit."""
    env = dict(os.environ)
    package_root = str(Path(videostyle.__file__).resolve().parents[1])  # the one under test
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_root, env.get("PYTHONPATH")) if p
    )
    env.update(
        VIDEOSTYLE_CACHE=str(cache),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "videostyle", *(str(a) for a in args)]


def run_cli(env: dict[str, str], *args: str | Path, timeout: float = 240) -> (
    subprocess.CompletedProcess[str]
):
    return subprocess.run(
        command(*args), env=env, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, start_new_session=True, cwd=tempfile.gettempdir(),
    )


def start_cli(env: dict[str, str], *args: str | Path) -> subprocess.Popen[str]:
    """The command as a child in its own session (its id is the child's pid)."""
    return subprocess.Popen(
        command(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL, start_new_session=True, cwd=tempfile.gettempdir(),
    )


def wait_for(
    proc: subprocess.Popen[str], ready: Callable[[], bool], *, timeout: float = 120.0,
    poll: float = 0.004,
) -> None:
    """Poll until ``ready()``; fails when the child exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"render exited ({proc.returncode}) before the awaited state:\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail("timed out waiting for the render")
        time.sleep(poll)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def assert_one_error_line(stderr: str) -> str:
    """The stderr of a failed command: exactly one line, the error; returns it."""
    lines = error_lines(stderr)
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    assert lines[0].startswith(ERROR_PREFIX), lines[0]
    return lines[0]


# ---- run folders ---------------------------------------------------------------------------


def record_paths(workdir: Path) -> dict[int, Path]:
    return {int(p.stem): p for p in sorted((workdir / "frames").glob("*.json"))}


def frame_bytes(workdir: Path) -> dict[str, bytes]:
    """Every stored frame PNG of a run folder by file name."""
    return {p.name: p.read_bytes() for p in sorted((workdir / "frames").glob("*.png"))}


def mtimes(paths: list[Path]) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in paths}


# ---- processes ---------------------------------------------------------------------------


def _stat_fields(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()  # state, ppid, pgrp, session, ...


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def ffmpeg_in_session(session: int) -> list[int]:
    """Live (not zombie) processes of ``session`` whose command line runs the bundled ffmpeg.

    A render child started with ``start_new_session`` leads its own session, and every
    process it starts stays in that session even when orphaned.
    """
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(entry)
        if fields is None or fields[0] == "Z" or int(fields[3]) != session:
            continue
        if FFMPEG in _cmdline(entry):
            found.append(int(entry))
    return found


def ffmpeg_children_of(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` and that run the bundled ffmpeg."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(entry)
        if fields is None or fields[0] == "Z" or int(fields[1]) != pid:
            continue
        if FFMPEG in _cmdline(entry):
            found.append(int(entry))
    return found
