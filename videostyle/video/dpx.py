"""DPX frames (and other still formats OpenCV does not read) through the bundled ffmpeg.

A frame is decoded by one ffmpeg run into a 16-bit PNG in memory (``rgb48be``), so 10-
and 12-bit DPX keep their levels (scaled to 16 bits). The child process is reaped by
:func:`subprocess.run`, also on errors and ``KeyboardInterrupt``.

A DPX header's frame rate and timecode (SMPTE 268M: the film header's frame rate at byte
1724, else the television header's at 1940; the television header's timecode, packed
BCD, at 1920) are read by :func:`dpx_timing`.
"""

from __future__ import annotations

import math
import struct
import subprocess
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from videostyle.errors import InputError

from .ffmpeg import _ff_path, _ffmpeg_message, ffmpeg_exe
from .rates import parse_fps

#: Still-image endings read through ffmpeg.
FFMPEG_STILLS = (".dpx",)


def read_still(path: Path) -> np.ndarray:
    """A still frame as a uint16 BGR ``(H, W, 3)`` array (as OpenCV reads a 16-bit PNG)."""
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i",
           _ff_path(path), "-frames:v", "1", "-f", "image2pipe", "-c:v", "png",
           "-pix_fmt", "rgb48be", "-"]  # fmt: skip
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    data = np.frombuffer(done.stdout, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if done.returncode != 0 or image is None:
        message = _ffmpeg_message(done.stderr.decode("utf-8", "replace"))
        raise InputError(
            f"expected a {path.suffix.lstrip('.').upper()} image, but ffmpeg cannot decode "
            f"{path} ({message}); check that the file is complete"
        )
    return image


def dpx_timing(path: Path) -> tuple[Fraction | None, str | None]:
    """``(frame rate, timecode)`` from a DPX file's header; None for what it leaves
    undefined (all bits set, zero, or not a DPX header)."""
    with Path(path).open("rb") as handle:
        head = handle.read(1948)
    order = {b"SDPX": ">", b"XPDS": "<"}.get(head[:4])
    if order is None or len(head) < 1664:
        return None, None
    pixels, = struct.unpack_from(order + "I", head, 4)  # where the header ends
    industry, = struct.unpack_from(order + "I", head, 28)  # the film and TV headers' size
    if industry == 0xFFFFFFFF:  # undefined: as far as the pixels leave room
        industry = pixels - 1664
    film = industry >= 256 and pixels >= 1920 and len(head) >= 1728
    tv = industry >= 384 and pixels >= 2048 and len(head) >= 1948
    film_rate = struct.unpack_from(order + "f", head, 1724)[0] if film else math.nan
    tv_rate = struct.unpack_from(order + "f", head, 1940)[0] if tv else math.nan
    rates = [r for r in (film_rate, tv_rate) if math.isfinite(r) and 1 <= r < 1000]
    code = struct.unpack_from(order + "I", head, 1920)[0] if tv else 0xFFFFFFFF
    return (parse_fps(f"{rates[0]:.6g}") if rates else None), _timecode(code)


def _timecode(code: int) -> str | None:
    """``HH:MM:SS:FF`` from a packed-BCD SMPTE timecode (``;`` when its drop-frame flag,
    bit 6, is set); None when undefined or not BCD."""
    if code == 0xFFFFFFFF:
        return None
    digits = [(code >> shift) & 0xF for shift in range(28, -4, -4)]
    drop = bool(code & 0x40)
    for index, mask in ((0, 0x3), (2, 0x7), (4, 0x7), (6, 0x3)):  # the tens, less the
        digits[index] &= mask  # drop-frame, colour-frame, field and binary-group flags
    if any(d > 9 for d in digits):
        return None
    hh, mm, ss, ff = (digits[k] * 10 + digits[k + 1] for k in range(0, 8, 2))
    if hh > 23 or mm > 59 or ss > 59:
        return None
    return f"{hh:02d}:{mm:02d}:{ss:02d}{';' if drop else ':'}{ff:02d}"
