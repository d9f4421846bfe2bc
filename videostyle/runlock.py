"""One render at a time per run folder: an exclusive lock naming its holder.

The lock is ``lock`` in the run folder, held with ``fcntl.flock`` for as long as a render
works in the folder; it holds the holder's pid, host and start time (JSON). A second
render of the folder is refused at once, naming the holder. The kernel drops a flock
when its process dies, however it dies, so a lock left by a killed render is taken over
by the next one (which says so); a render that ends normally removes the file.

With the lock held no other writer can be in the folder, so the temporary files found
there (``.NAME.*.tmp`` of :mod:`videostyle.atomic`) are leftovers of a killed process and
are removed.

``flock`` is local to a machine on most network filesystems (NFS v4 maps it to a POSIX
lock the server knows of; SMB and older NFS may not): run one folder's renders on one
machine, or on a filesystem whose locks the machines share.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from .errors import InputError, RunFolderBusy, opt

LOCK_NAME = "lock"


def _describe(holder: dict[str, Any]) -> str:
    started = holder.get("started")
    since = f", since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))}" if (
        isinstance(started, (int, float))) else ""
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}{since}"


def read_holder(root: Path) -> dict[str, Any] | None:
    """What the lock file of ``root`` says (pid, host, started), or None when absent/empty."""
    try:
        text = (Path(root) / LOCK_NAME).read_text()
    except OSError:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def running_holder(root: Path) -> tuple[dict[str, Any], bool | None] | None:
    """The render holding ``root`` now, without touching the lock: ``(holder, alive)``.

    ``alive`` is True or False for a holder on this host (its pid is asked), None for one
    on another host (it cannot be asked from here). None when no lock file is there.
    """
    holder = read_holder(root)
    if holder is None:
        return None
    if holder.get("host") != socket.gethostname():
        return holder, None
    pid = holder.get("pid")
    return holder, isinstance(pid, int) and Path(f"/proc/{pid}").exists()


class RunLock:
    """The exclusive lock of a run folder; :meth:`acquire` takes it, :meth:`release` drops it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> str | None:
        """Take the lock; returns a note when it took over a killed render's lock.

        Raises:
            RunFolderBusy: another process holds it (the message names it).
            InputError: the folder cannot be created or the lock file not written.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the run folder {self.root}: {exc}") from exc
        while True:
            fd = self._open_locked()
            # the file may have been removed by a holder releasing it between our open and
            # our flock: then the lock we hold is on a file no one else will see; retry
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except OSError:
                same = False
            if same:
                break
            os.close(fd)
        self._fd = fd
        left = os.pread(fd, 4096, 0)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        data = (json.dumps(me) + "\n").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)
        _remove_temporaries(self.root)
        if left.strip():
            try:
                stale = json.loads(left)
            except ValueError:
                stale = {}
            return (f"took over the lock of {self.root} left by a render that no longer runs "
                    f"({_describe(stale if isinstance(stale, dict) else {})})")
        return None

    def _open_locked(self) -> int:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(f"cannot create the lock file {self.path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = read_holder(self.root) or {}
            raise RunFolderBusy(
                f"{self.root} is in use by another render ({_describe(holder)}); wait for it "
                f"to finish or stop it, or render elsewhere with {opt('workdir')}"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise InputError(f"cannot lock {self.path}: {exc}") from exc
        return fd

    def release(self) -> None:
        """Remove the lock file and drop the lock (nothing when not held)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            os.ftruncate(self._fd, 0)  # cannot remove it: an empty file is no holder
        finally:
            os.close(self._fd)
            self._fd = None


def _remove_temporaries(root: Path) -> None:
    """Remove the temporary files of atomic writes that a killed process left in ``root``."""
    for path in root.rglob(".*.tmp"):
        try:
            path.unlink()
        except OSError:
            pass
