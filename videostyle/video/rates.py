"""Exact frame rates: from what a user writes, and from a stream's packet timestamps.

Frame rates are exact :class:`fractions.Fraction` values (``30000/1001`` stays
``Fraction(30000, 1001)``, never ``29.97``). A video's rate is read from the time base,
timestamps and durations of its packets, which ffmpeg's ``framecrc`` muxer lists.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from videostyle.errors import InputError

# Rates real material uses; a measured rate that is consistent with one of these (to the
# precision of the container's time base) is reported as that exact value.
_STANDARD_RATES: tuple[Fraction, ...] = tuple(
    [Fraction(n * 1000, 1001) for n in (12, 15, 24, 30, 48, 60, 120, 240)]
    + [Fraction(n) for n in (1, 5, 6, 8, 10, 12, 15, 16, 18, 20, 23, 24, 25, 30, 48, 50, 60)]
    + [Fraction(n) for n in (72, 90, 96, 100, 120, 144, 180, 240)]
)


def parse_fps(value: str | float | int | Fraction) -> Fraction:
    """Turn a user-given frame rate into an exact Fraction.

    Accepts ``Fraction``, integers, ``"30000/1001"``, ``"25"``, and decimals such as
    ``"29.97"``, ``"23.98"`` or ``23.976``: a decimal that equals a standard NTSC rate
    (``24000/1001``, ``30000/1001``, ...) to the precision it is written with becomes that
    rate; other decimals are taken literally (``"12.5"`` is ``Fraction(25, 2)``).

    Raises:
        InputError: not a number, or not positive.
    """
    try:
        if isinstance(value, Fraction):
            rate = value
        elif isinstance(value, int):
            rate = Fraction(value)
        else:
            text = str(value).strip()
            if "/" in text:
                num, den = text.split("/", 1)
                rate = Fraction(int(num), int(den))
            else:
                rate = Fraction(text)
                decimals = len(text.partition(".")[2]) if "." in text else 0
                if rate.denominator != 1 and 0 < decimals <= 4:
                    rate = _snap_standard(rate, Fraction(1, 2 * 10**decimals)) or rate
    except (ValueError, ZeroDivisionError) as exc:
        raise InputError(
            f"expected a frame rate such as 25, 29.97 or 30000/1001, but got {value!r}"
        ) from exc
    if rate <= 0:
        raise InputError(f"expected a positive frame rate, but got {value!r}")
    return rate


def _snap_standard(rate: Fraction, tolerance: Fraction) -> Fraction | None:
    """The standard rate within ``tolerance`` of ``rate`` (closest), or None."""
    close = [std for std in _STANDARD_RATES if abs(rate - std) <= tolerance]
    return min(close, key=lambda std: abs(rate - std)) if close else None


def _rate_candidates(estimate: Fraction, hint: float | None) -> list[Fraction]:
    near = [r for r in _STANDARD_RATES if abs(r - estimate) <= estimate / 20]
    extra = [estimate, *(estimate.limit_denominator(d) for d in (1, 100, 1001))]
    if hint:
        extra.append(Fraction(hint).limit_denominator(1001))
    seen: list[Fraction] = []
    for rate in near + extra:
        if rate > 0 and rate not in seen:
            seen.append(rate)
    return seen


def _spread(pts: np.ndarray, tb: Fraction, rate: Fraction) -> float:
    """How far (in ticks of ``tb``) timestamps ``pts`` stray from frames at ``rate``."""
    step = float(1 / (rate * tb))
    residual = pts - np.arange(len(pts), dtype=np.float64) * step
    return float(residual.max() - residual.min())


def _pick_rate(fits: list[Fraction], estimate: Fraction, hint: float | None) -> Fraction:
    """Choose among the rates the timestamps allow.

    ffmpeg prints the container's nominal rate rounded to two decimals (the hint): rates
    that match it come first; then standard rates, simple fractions, and the rate closest
    to the hint (or, without one, to the measured ``estimate``).
    """
    target = Fraction(hint).limit_denominator(10**6) if hint else estimate

    def rank(rate: Fraction) -> tuple[bool, bool, int, Fraction]:
        off = abs(rate - target)
        return (
            bool(hint) and off > Fraction(51, 10000),
            rate not in _STANDARD_RATES,
            rate.denominator,
            off,
        )

    return min(fits, key=rank)


def _exact_rate(
    pts: np.ndarray, durations: np.ndarray, tb: Fraction, hint: float | None
) -> tuple[Fraction, bool]:
    """Exact frame rate from sorted packet timestamps; (rate, is_constant).

    With a fine time base (MP4/MOV store e.g. 1/30000) every frame lasts the same number
    of ticks ``d`` and the rate is exactly ``1 / (tb * d)``. With a coarse one (Matroska's
    1/1000) the timestamps are rounded, so the rate is the standard or simple rational
    rate that reproduces every timestamp to within one tick. Timestamps no constant rate
    explains mean variable frame rate: the mean rate is returned with ``False``.
    """
    n = len(pts)
    if n >= 2:
        span = int(pts[-1] - pts[0])
        if span > 0:
            estimate = Fraction(n - 1) / (tb * span)
            candidates = _rate_candidates(estimate, hint)
            fits = [r for r in candidates if _spread(pts, tb, r) <= 1.0 + 1e-6]
            if fits:
                return _pick_rate(fits, estimate, hint), True
            diffs = np.diff(pts)
            last = int(durations[-1]) if len(durations) and durations[-1] > 0 else 0
            if last <= 0:
                last = int(np.median(diffs[diffs > 0]))
            return (Fraction(n) / (tb * (span + last))).limit_denominator(1001), False
    if len(durations) and durations[0] > 0:  # a single frame: its duration tells the rate
        ticks = int(durations[0])
        exact = 1 / (tb * ticks)
        candidates = _rate_candidates(exact, hint)
        fits = [r for r in candidates if abs(float(1 / (r * tb)) - ticks) <= 1.0 + 1e-6]
        return _pick_rate(fits, exact, hint), True
    if hint:
        return parse_fps(hint), True
    return Fraction(25), False


_DISCARD = 0x4  # AV_PKT_FLAG_DISCARD


def _parse_framecrc(text: str) -> tuple[Fraction, np.ndarray, np.ndarray]:
    """Time base, sorted pts and durations of stream 0 from ffmpeg framecrc output.

    Packets flagged discard (``F=0x4``: hidden by an MP4/MOV edit list, which decoding
    honours) are not frames of the video."""
    tb: Fraction | None = None
    stamps: list[int] = []
    durations: list[int] = []
    nopts = -(2**63)
    for line in text.splitlines():
        if line.startswith("#tb 0:"):
            num, den = line.split(":", 1)[1].strip().split("/")
            tb = Fraction(int(num), int(den))
        elif line.startswith("0,"):
            fields = [f.strip() for f in line.split(",")]
            flags = [int(f[2:], 16) for f in fields[6:] if f.startswith("F=")]
            if flags and flags[0] & _DISCARD:
                continue
            dts, pts, duration = int(fields[1]), int(fields[2]), int(fields[3])
            stamps.append(pts if pts != nopts else dts)
            durations.append(duration)
    if tb is None:
        tb = Fraction(1, 1000)
    valid = [s for s in stamps if s != nopts]
    pts_arr = np.array(sorted(valid) if len(valid) == len(stamps) else [], dtype=np.int64)
    return tb, pts_arr, np.array(durations, dtype=np.int64)
