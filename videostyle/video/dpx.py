"""DPX frames (and other still formats OpenCV does not read) through the bundled ffmpeg.

A frame is decoded by one ffmpeg run into a 16-bit PNG in memory (``rgb48be``), so 10-
and 12-bit DPX keep their levels (scaled to 16 bits). The child process is reaped by
:func:`subprocess.run`, also on errors and ``KeyboardInterrupt``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np

from videostyle.errors import InputError

from .ffmpeg import _ff_path, _ffmpeg_message, ffmpeg_exe

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
