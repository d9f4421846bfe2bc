"""The one way the package writes a file: atomically and durably.

The data go to a temporary file in the target's folder, which is flushed and fsynced,
renamed over the target, and then the folder itself is fsynced, so after a crash or a
power cut a reader finds either the old file or the whole new one, and a file the
package has relied on (a finished frame, its record, the manifest) is on the disk.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

from . import faults
from .errors import DiskFull, InputError


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new entry in ``folder`` durable (a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes, *, what: str = "file") -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    Raises:
        InputError: the folder cannot be created or written, or the disk is full; the
            message names the file and what to do.
    """
    path = Path(path)
    folder = path.parent
    tmp: str | None = None
    try:
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            fsync_folder(folder.parent)  # the new folder's own entry, durable too
        if faults.disk_full():  # an injected full disk (tests)
            raise OSError(errno.ENOSPC, "No space left on device")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            try:  # mkstemp's 0600 would hide the file from the group; best effort (some
                os.fchmod(fd, _mode(path))  # network filesystems refuse chmod)
            except OSError:
                pass
            half = len(data) // 2
            handle.write(data[:half])
            if what in faults.WRITE_POINTS:
                handle.flush()
                faults.point(faults.WRITE_POINTS[what])  # a kill inside the write (tests)
            handle.write(data[half:])
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
        fsync_folder(folder)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise disk_full(folder, len(data), f"the {what} {path}") from exc
        raise InputError(
            f"cannot write the {what} {path} ({exc.strerror or exc}); check that the folder "
            "is writable and the disk has space"
        ) from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _mode(path: Path) -> int:
    """The permissions of a file written at ``path``: those of the file it replaces, else
    what the process's umask gives a new file (as ``open`` would)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask, read from /proc where it can be (setting it to read it, the
    only other way, changes it for every thread for a moment)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: Path, obj: object, *, what: str = "file") -> None:
    """:func:`write_bytes` of pretty-printed, key-sorted JSON."""
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode(), what=what)


def free_bytes(folder: Path) -> int | None:
    """Free bytes on the filesystem of ``folder`` (None when it cannot be asked)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def megabytes(n: int) -> str:
    """``n`` bytes as a short text: GB from 1 GB, MB from 1 MB, kB below (rounded up)."""
    if n >= 1_000_000_000:
        return f"{n / 1e9:.1f} GB"
    return f"{n / 1e6:.1f} MB" if n >= 1_000_000 else f"{-(-n // 1000)} kB"


def disk_full(folder: Path, needed: int, writing: str) -> DiskFull:
    """The error of a write that found no space: names the folder and the space needed."""
    free = free_bytes(folder)
    left = f", {megabytes(free)} free" if free is not None else ""
    return DiskFull(
        f"no space left in {folder} (writing {writing} needs {megabytes(needed)}{left}); "
        "free space there and run the same command to resume",
        folder=str(folder), needed=needed,
    )
