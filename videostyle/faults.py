"""Fault injection for the reliability tests: a process kills itself at a named point.

``VIDEOSTYLE_FAULT=<point>[@N]`` makes the process send itself SIGKILL the N-th time
(default: the first) it reaches ``<point>``, so a test can stop a render inside a window
too short to hit with a timer. ``VIDEOSTYLE_FAULT=nan@F`` (``nan-always@F``) makes the
optimiser's result of frame F not finite on its first attempt (on every attempt), which
exercises the recovery of :mod:`videostyle.recovery`. ``VIDEOSTYLE_FAULT=enospc@N`` makes
the N-th file write of the process and every later one fail as on a full disk (for
machines where a test cannot mount a small filesystem). Unset (the normal case), every
call here returns at once. The points are listed in :data:`POINTS`.
"""

from __future__ import annotations

import os
import signal

ENV = "VIDEOSTYLE_FAULT"

#: Kill points: name -> where the process dies.
POINTS: dict[str, str] = {
    "manifest-write": "inside the manifest's write: half of it in the temporary file",
    "content-write": "inside a decoded source frame's write: half of it written",
    "flow-write": "inside a flow file's write: half of it written",
    "frame-write": "inside a finished frame's write: half of the PNG written",
    "frame-before-record": "a frame's PNG stored, its record not yet written",
    "record-write": "inside a frame record's write: half of it written",
    "encode-before-rename": "the output encoded and read back under its temporary name, "
                            "before the rename to its final name",
}

#: What each kind of atomic write is called (``atomic.write_bytes(what=...)``) -> its point.
WRITE_POINTS: dict[str, str] = {
    "manifest": "manifest-write", "image": "content-write", "flow file": "flow-write",
    "frame": "frame-write", "frame record": "record-write",
}

_reached: dict[str, int] = {}


def _spec() -> tuple[str, int] | None:
    spec = os.environ.get(ENV)
    if not spec:
        return None
    name, _, nth = spec.partition("@")
    try:
        return name, int(nth) if nth else 1
    except ValueError:
        return None


def point(name: str) -> None:
    """SIGKILL this process when ``VIDEOSTYLE_FAULT`` names ``name`` and its count is up."""
    spec = _spec()
    if spec is None or spec[0] != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] == spec[1]:
        os.kill(os.getpid(), signal.SIGKILL)


def poisoned(frame: int, attempt: int) -> bool:
    """Whether the result of ``frame``'s ``attempt`` (0: the first) is to be made NaN."""
    spec = _spec()
    if spec is None or spec[1] != frame:
        return False
    return spec[0] == "nan-always" or (spec[0] == "nan" and attempt == 0)


def disk_full() -> bool:
    """Whether this atomic write is to fail with ENOSPC (``VIDEOSTYLE_FAULT=enospc@N``)."""
    spec = _spec()
    if spec is None or spec[0] != "enospc":
        return False
    _reached["enospc"] = _reached.get("enospc", 0) + 1
    return _reached["enospc"] >= spec[1]
