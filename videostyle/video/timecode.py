"""SMPTE timecode arithmetic: the timecode of a later frame of a video.

Timecodes are ``HH:MM:SS:FF`` (non-drop-frame) or ``HH:MM:SS;FF`` (drop-frame, 29.97 and
59.94 fps: frame numbers 0 and 1 (2 and 3 at 59.94) are skipped at the start of every
minute except every tenth). The timebase is the frame rate rounded to a whole number.
"""

from __future__ import annotations

import re
from fractions import Fraction

from videostyle.errors import InputError

_TC = re.compile(r"(\d{2}):(\d{2}):(\d{2})([:;.])(\d{2})")


def advance(timecode: str, fps: Fraction, frames: int) -> str:
    """``timecode`` moved ``frames`` frames later, at ``fps``.

    >>> advance("01:00:00:00", Fraction(24), 25)
    '01:00:01:01'
    >>> advance("00:00:59;29", Fraction(30000, 1001), 1)
    '00:01:00;02'
    """
    match = _TC.fullmatch(timecode)
    if match is None:
        raise InputError(f"expected a timecode HH:MM:SS:FF, but got {timecode!r}")
    hh, mm, ss, sep, ff = match.groups()
    base = max(1, round(fps))
    drop = sep in ";." and base in (30, 60)
    skip = base // 15 if drop else 0  # frames dropped per minute
    minutes = int(hh) * 60 + int(mm)
    count = (minutes * 60 + int(ss)) * base + int(ff)
    count -= skip * (minutes - minutes // 10)  # to a real frame count
    count = (count + frames) % (24 * 3600 * base - skip * 9 * 6 * 24)  # wraps at 24 h
    if drop:
        per_ten = 600 * base - 9 * skip
        tens, rest = divmod(count, per_ten)
        extra = 0 if rest < skip else skip * ((rest - skip) // (60 * base - skip))
        count += skip * 9 * tens + extra
    ff_out = count % base
    total = count // base
    text = f"{total // 3600:02d}:{total // 60 % 60:02d}:{total % 60:02d}"
    return f"{text}{';' if drop else ':'}{ff_out:02d}"
