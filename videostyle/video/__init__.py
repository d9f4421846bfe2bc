"""Video and image-sequence input/output; the only package that runs ffmpeg.

Conventions
-----------
* A frame in memory is a numpy ``float32`` array of shape ``(H, W, 3)``, RGB, values in
  ``[0, 1]``.
* Frame numbers shown to users are **1-based**, and frame ranges are **inclusive**
  (``start=1, end=3`` means the first three frames).
* Frame rates are exact :class:`fractions.Fraction` values (``30000/1001`` stays
  ``Fraction(30000, 1001)``, never ``29.97``); times are in seconds.
* Sizes are ``(width, height)`` in pixels.

The only ffmpeg used is the binary bundled with ``imageio-ffmpeg``
(:func:`imageio_ffmpeg.get_ffmpeg_exe`); there is no ffprobe, so probing is done by
stream-copying the video packets into ffmpeg's ``framecrc`` muxer and reading the time
base, timestamps and packet count from it, and by reading the stream summary ffmpeg
prints on stderr.

Every ffmpeg child process is waited for, or killed and then waited for, before the
function (or generator) that started it returns, also on errors, early ``close()`` of a
frame generator and ``KeyboardInterrupt``.

Modules
-------
* :mod:`.ffmpeg`: locating and running the bundled ffmpeg, process helpers, stderr tails.
* :mod:`.streams`: the stream summary ffmpeg prints for an input, parsed.
* :mod:`.rates`: exact frame rates, from user text and from packet timestamps.
* :mod:`.images`: reading and writing still images; frame sizes.
* :mod:`.sequences`: printf patterns and the numbered files of an image sequence.
* :mod:`.probe`: :class:`SourceInfo`, probing videos and sequences, fingerprints.
* :mod:`.decode`: reading the frames of a probed source.
* :mod:`.outputs`: codecs and containers; the checks of an output before any work.
* :mod:`.encode`: encoding frames into a video, writing an image sequence.
* :mod:`.exr`: OpenEXR frames (R, G, B, A; half or float; layer prefixes; attributes).
* :mod:`.dpx`: DPX frames through ffmpeg, at 16 bits.
* :mod:`.plates`: a source's frames as stored (values outside [0, 1] kept) with alpha.
* :mod:`.timecode`: SMPTE timecode arithmetic.
"""

from __future__ import annotations

# OpenCV, reachable as ``videostyle.video.cv2`` as it was from the single module.
import cv2 as cv2

from .decode import check_range, read_frames
from .encode import VideoTags, encode_video, write_sequence
from .ffmpeg import ffmpeg_exe
from .images import IMAGE_SUFFIXES, fit_size, read_image, write_image
from .outputs import CODECS, check_output, check_output_is_not_input
from .probe import DEFAULT_SEQUENCE_FPS, SourceInfo, probe
from .rates import parse_fps
from .sequences import is_sequence_pattern, list_sequence, sequence_frames

__all__ = [
    "CODECS",
    "DEFAULT_SEQUENCE_FPS",
    "IMAGE_SUFFIXES",
    "SourceInfo",
    "encode_video",
    "VideoTags",
    "ffmpeg_exe",
    "fit_size",
    "is_sequence_pattern",
    "check_output",
    "check_output_is_not_input",
    "check_range",
    "list_sequence",
    "parse_fps",
    "probe",
    "read_frames",
    "read_image",
    "sequence_frames",
    "write_image",
    "write_sequence",
]
