"""Ends the processes of a local Ray instance when the process that started it dies.

A render that starts Ray on this machine (``--workers``) gives the instance a folder of its
own and marks its environment with a token before Ray starts, so every Ray process (GCS,
raylet, agents, workers) inherits the token and keeps files open in the folder; it starts
this module as a child. When the render ends normally it stops Ray itself and ends the
reaper; when it is killed (``kill -9``, a crash) Ray's agents and workers can outlive it,
so the reaper, seeing its parent gone, kills every process that carries the token or
holds a file in the folder (Ray renames its processes, which can overwrite the
environment that ``/proc`` shows), then removes the folder. No worker writes into a run
folder afterwards.

Linux only (it reads ``/proc``); elsewhere no reaper is started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

MARK = "VIDEOSTYLE_FARM_SESSION"
PROC = Path("/proc")


def start(folder: Path) -> subprocess.Popen[bytes] | None:
    """Mark this process's environment and start a reaper for it and the Ray instance's
    ``folder`` (None off Linux)."""
    if not PROC.is_dir():
        return None
    token = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != MARK}
    os.environ[MARK] = token
    return subprocess.Popen(
        [sys.executable, "-m", "videostyle.reaper", str(os.getpid()), token, str(folder)],
        env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(reaper: subprocess.Popen[bytes] | None) -> None:
    """The render ended normally (Ray is shut down): unmark and end the reaper."""
    os.environ.pop(MARK, None)
    if reaper is not None:
        reaper.terminate()
        reaper.wait()


def holds(entry: Path, folder: str) -> bool:
    """Whether the process ``entry`` (``/proc/PID``) has a file open in ``folder``, works
    there, or names it on its command line."""
    prefix = folder.rstrip("/") + "/"
    try:
        if (os.readlink(entry / "cwd") + "/").startswith(prefix):
            return True
        if prefix.encode() in (entry / "cmdline").read_bytes():
            return True
        fds = list((entry / "fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd).startswith(prefix):
                return True
        except OSError:
            continue
    return False


def marked(token: str, folder: str | None = None) -> list[int]:
    """Processes whose environment carries ``token`` or that hold a file in ``folder``."""
    needle = f"{MARK}={token}".encode()
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            carries = needle in (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if carries or (folder is not None and holds(entry, folder)):
            found.append(int(entry.name))
    return found


def watch(parent: int, token: str, folder: str, *, poll: float = 0.25) -> None:
    """Wait for ``parent`` to go, then kill the marked processes (a few rounds, so that a
    process started while the first round ran goes too) and remove ``folder``."""
    while os.getppid() == parent:
        time.sleep(poll)
    for _ in range(4):
        for pid in marked(token, folder):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(poll)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    watch(int(sys.argv[1]), sys.argv[2], sys.argv[3])
