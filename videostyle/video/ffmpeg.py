"""Locating and running the bundled ffmpeg: process helpers and the tails of its stderr.

The only ffmpeg used is the binary bundled with ``imageio-ffmpeg``
(:func:`imageio_ffmpeg.get_ffmpeg_exe`). Every ffmpeg child process is waited for, or
killed and then waited for, before the function (or generator) that started it returns,
also on errors, early ``close()`` of a frame generator and ``KeyboardInterrupt``.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO

from videostyle.errors import VideoError

log = logging.getLogger(__name__)

_STDERR_TAIL = 3000


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg.

    Raises:
        VideoError: imageio-ffmpeg is missing or has no usable binary.
    """
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception as exc:  # any failure here means there is no usable ffmpeg
        raise VideoError(
            "expected the ffmpeg binary bundled with the imageio-ffmpeg package, but it "
            f"could not be found ({exc}); reinstall it with `pip install imageio-ffmpeg`"
        ) from exc


def _ff_path(path: str | Path) -> str:
    """A local path as an ffmpeg URL, so names with ':' or a leading '-' stay file names."""
    return "file:" + str(path)


def _tail(text: str, limit: int = _STDERR_TAIL) -> str:
    text = text.strip()
    if len(text) > limit:
        text = "..." + text[-limit:]
    return text


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc`` if it still runs, close its pipes and reap it."""
    try:
        if proc.poll() is None:
            proc.kill()
    finally:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        proc.wait()


def _read_stderr_file(handle: IO[bytes]) -> str:
    try:
        handle.flush()
        handle.seek(0)
        return handle.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""


def _wait_process(proc: subprocess.Popen[bytes]) -> int:
    """Wait for ``proc`` to finish and return its exit status."""
    return proc.wait()


def _run_capture(args: list[str]) -> tuple[int, str, str]:
    """Run ffmpeg with ``args`` to completion; return (status, stdout, stderr) as text."""
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", *args]
    log.debug("running %s", cmd)
    try:
        # subprocess.run kills and reaps the child on any exception, KeyboardInterrupt too.
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    except OSError as exc:
        raise VideoError(
            f"expected to run ffmpeg at {cmd[0]}, but it could not be started ({exc}); "
            "reinstall imageio-ffmpeg"
        ) from exc
    return (
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def _ffmpeg_message(stderr: str) -> str:
    """The most telling line of an ffmpeg failure (its last non-empty line)."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


@contextmanager
def _started(
    cmd: list[str], *, stdout: int = subprocess.DEVNULL, bufsize: int = -1
) -> Iterator[tuple[subprocess.Popen[bytes], IO[bytes]]]:
    """Start ``cmd`` with its stderr in a temporary file; yield (process, stderr file).

    On leaving, also by an exception or ``KeyboardInterrupt``, the process is killed if
    it still runs and reaped.
    """
    with tempfile.TemporaryFile() as errfile:
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=errfile, bufsize=bufsize
            )
        except OSError as exc:
            raise VideoError(f"expected to start ffmpeg at {cmd[0]}, but got {exc}") from exc
        try:
            yield proc, errfile
        finally:
            _stop_process(proc)


def _wait_ok(proc: subprocess.Popen[bytes], errfile: IO[bytes], doing: str, hint: str = "") -> None:
    """Wait for ``proc``; VideoError ("expected ffmpeg to ``doing``...") with the tail of
    its stderr when it fails, ``hint`` standing between the exit status and that tail."""
    status = _wait_process(proc)
    if status != 0:
        raise VideoError(
            f"expected ffmpeg to {doing}, but it failed (exit status {status}){hint}:\n"
            f"{_tail(_read_stderr_file(errfile))}"
        )


def _run_to_end(cmd: list[str], doing: str, hint: str = "") -> None:
    """Run ``cmd`` (stdout discarded) to its end; VideoError as :func:`_wait_ok` says."""
    with _started(cmd) as (proc, errfile):
        _wait_ok(proc, errfile, doing, hint)
