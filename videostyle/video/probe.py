"""Probing a source: what a video file or an image sequence holds (:class:`SourceInfo`).

There is no ffprobe, so a video is probed by stream-copying its video packets into
ffmpeg's ``framecrc`` muxer and reading the time base, timestamps and packet count from
it, and by reading the stream summary ffmpeg prints on stderr. Fingerprints identify a
source's content cheaply, without modification times.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import numpy as np

from videostyle.errors import InputError

from .dpx import dpx_timing
from .exr import ExrLayout, layout
from .ffmpeg import _ff_path, _ffmpeg_message, _run_capture
from .images import (
    IMAGE_SUFFIXES,
    _imread_raw,
    channel_layout,
    conversion_notes,
    read_alpha,
)
from .rates import _exact_rate, _parse_framecrc, parse_fps
from .sequences import is_sequence_pattern, sequence_frames
from .streams import _main_video_stream, _parse_input_header, _pix_fmt_bit_depth

log = logging.getLogger(__name__)


#: Frame rate assumed for image sequences when :func:`probe` is given none.
DEFAULT_SEQUENCE_FPS = Fraction(24)

_MIB = 1 << 20


@dataclass(frozen=True)
class SourceInfo:
    """What :func:`probe` found out about a video file or an image sequence.

    Attributes:
        path: The video file, or the directory / printf pattern (``shot_%04d.png``) /
            single still image of a sequence.
        kind: ``"video"`` for a file decoded by ffmpeg, ``"sequence"`` for image files.
        width: Frame width in pixels, as decoded (after the file's rotation metadata is
            applied, so a portrait phone clip reports its portrait size).
        height: Frame height in pixels, as decoded.
        fps: Exact frame rate in frames per second.
        n_frames: Number of frames; valid frame numbers are ``first..last``.
        has_audio: Whether a video file has at least one audio stream (always ``False``
            for sequences).
        bit_depth: 8 or 16: 16 when the source stores more than 8 bits per sample
            (10-bit video, 16-bit PNG/TIFF), in which case :func:`read_frames` decodes at
            16 bits.
        fingerprint: Cheap, stable identifier (hex sha256) of the source's content; it
            does not depend on modification times.
        first: The first frame's number: 1 for a video (frames are numbered 1, 2, ...),
            the number in the first file's name for an image sequence (``plate.1001.exr``
            -> 1001). Numbers are consecutive: a sequence with a gap is refused.
        alpha: Whether the frames carry an alpha channel (the first frame of a PNG/TIFF/EXR
            sequence is looked at; a video's pixel format).
        exr: The first frame's layout for an EXR sequence (channels, pixel type,
            compression, colour space attributes), else None.
        timecode: The start timecode (``HH:MM:SS:FF``, ``;`` before the frames when
            drop-frame): a video's metadata, an EXR sequence's first ``timeCode``; None
            when there is none.
        color_tags: A video's colour tags as ffmpeg prints them after the pixel format
            (``bt709``, or ``matrix/primaries/transfer`` such as
            ``bt2020nc/bt2020/smpte2084``); None when untagged, and for sequences.
        pixel_aspect: How much wider than high a pixel is shown: a video's sample aspect
            ratio (``[SAR 2:1 ...]``), an EXR's ``pixelAspectRatio``; 1 for square pixels
            and for other sequences.
        video_start: Seconds from the start of a video file (its earliest stream) to its
            first frame: where frame 1's sound is when the audio starts first; 0 for
            sequences.
        field_order: ``top first`` or ``bottom first`` for an interlaced video, else None.
        audio_streams: How many audio streams a video file has (the first is carried).
    """

    path: Path
    kind: Literal["video", "sequence"]
    width: int
    height: int
    fps: Fraction
    n_frames: int
    has_audio: bool
    bit_depth: int
    fingerprint: str
    first: int = 1
    notes: tuple[str, ...] = ()  # what reading it changes: alpha dropped, gray made RGB, ...
    alpha: bool = False
    exr: ExrLayout | None = None
    timecode: str | None = None
    color_tags: str | None = None
    pixel_aspect: Fraction = Fraction(1)
    video_start: float = 0.0
    field_order: str | None = None
    audio_streams: int = 0

    @property
    def last(self) -> int:
        """The last frame's number."""
        return self.first + self.n_frames - 1

    @property
    def duration(self) -> Fraction:
        """Length in seconds, ``n_frames / fps`` (exact)."""
        return Fraction(self.n_frames) / self.fps


def probe(source: str | Path, *, fps: Fraction | None = None) -> SourceInfo:
    """Describe a video file, a directory of frames, or a printf frame pattern.

    Args:
        source: A video file (anything ffmpeg decodes), a directory of images, a pattern
            like ``shot_%04d.png``, or a single still image (probed as a one-frame
            sequence).
        fps: Frame rate of an image sequence (default :data:`DEFAULT_SEQUENCE_FPS`, 24).
            Ignored for video files, whose exact rate is always read from the file.

    The video frame rate is exact: it is derived from the container's time base and the
    packet timestamps (``1 / (time_base * frame_duration)``), and timestamps rounded to a
    coarse time base (Matroska's milliseconds) are matched to the standard rate they are
    consistent with. Variable-rate video gets its mean rate (with a note in ``notes``);
    its frames are then treated as evenly spaced. ``n_frames`` is the number of video
    packets of the first video stream that is not cover art.

    Raises:
        InputError: missing source, not a video, no video stream, zero frames, bad
            pattern, or a non-positive ``fps``.
        VideoError: ffmpeg could not be run.
    """
    path = Path(source)
    if path.is_dir() or (not path.exists() and is_sequence_pattern(path.name)):
        return _probe_sequence(path, parse_fps(fps) if fps is not None else None)
    if not path.exists():
        raise InputError(
            f"expected an existing video file, frame directory or pattern, but {path} does "
            "not exist; check the path"
        )
    if not path.is_file():
        raise InputError(f"expected a regular file, but {path} is not one")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        log.info("%s is a still image; treating it as a one-frame sequence", path)
        return _probe_sequence(path, parse_fps(fps) if fps is not None else None)
    if fps is not None:
        log.debug("ignoring fps=%s for video %s: the file's own rate is used", fps, path)
    if path.stat().st_size == 0:
        raise InputError(
            f"expected a video file, but {path} is empty (0 bytes); re-export or re-copy it"
        )
    return _probe_video(path)


def _probe_video(path: Path) -> SourceInfo:
    status, out, err = _run_capture(
        ["-nostats", "-i", _ff_path(path), "-map", "0:V:0", "-c", "copy", "-f", "framecrc", "-"]
    )
    streams = _parse_input_header(err)
    if streams is None:
        raise InputError(
            f"expected a video file, but ffmpeg cannot read {path} "
            f"(ffmpeg: {_ffmpeg_message(err)}); pass a video such as .mp4/.mov/.mkv, a "
            "directory of frames or a frame pattern"
        )
    video = _main_video_stream(streams, path)
    tb, pts, durations = _parse_framecrc(out)
    n_frames = len(durations)
    if n_frames == 0:
        detail = f" (ffmpeg: {_ffmpeg_message(err)})" if status != 0 else ""
        raise InputError(
            f"expected a video with frames, but the video stream of {path} holds no "
            f"readable frames{detail}; re-export or re-copy the video"
        )
    if video.width is None or video.height is None:
        raise InputError(
            f"expected a video stream with a known frame size in {path}, but ffmpeg "
            f"reports none ({video.text})"
        )
    width, height = video.width, video.height
    if round(abs(video.rotation)) % 180 == 90:
        width, height = height, width
    if len(pts) == 0:
        pts = np.zeros(0, dtype=np.int64)
    rate, constant = _exact_rate(pts, durations, tb, video.rate_hint)
    notes = conversion_notes(f"the source {path.name} ({video.pix_fmt})",
                             *_pix_fmt_layout(video.pix_fmt))
    cut = _TRUNCATED.search(err)
    if cut is not None:
        notes.insert(0, f"{path.name} ends early (ffmpeg: {cut.group(0)}); its {n_frames} "
                     "whole frames are used: re-export or re-copy it for the rest")
    if not constant:
        notes.insert(0, f"{path.name} has a variable frame rate; its {n_frames} frames are "
                     f"treated as evenly spaced at {rate} fps ({float(rate):.3f}), so audio may "
                     "drift; convert it to a constant rate for exact sync")
        log.info("%s", notes[0])
    digest = hashlib.sha256(b"video\n")
    digest.update(_sample_digest(path))
    return SourceInfo(
        path=path,
        kind="video",
        width=width,
        height=height,
        fps=rate,
        n_frames=n_frames,
        has_audio=any(s.kind == "Audio" for s in streams),
        bit_depth=_pix_fmt_bit_depth(video.pix_fmt),
        fingerprint=digest.hexdigest(),
        notes=tuple(notes),
        timecode=_timecode(err),
        color_tags=_color_tags(video.text, video.pix_fmt),
        alpha=bool(video.pix_fmt and _ALPHA_FORMATS.match(video.pix_fmt)),
        pixel_aspect=_sample_aspect(video.text,
                                    turned=round(abs(video.rotation)) % 180 == 90),
        video_start=_video_start(err, video.text),
        field_order=_field_order(video.text),
        audio_streams=sum(s.kind == "Audio" for s in streams),
    )


_FIELDS = re.compile(r"\b(top|bottom) (coded )?first( \(swapped\))?")


def _field_order(stream: str) -> str | None:
    """``top first`` / ``bottom first`` (as displayed) when ffmpeg calls the stream
    interlaced; ``top coded first (swapped)`` shows the bottom field first."""
    match = _FIELDS.search(stream)
    if match is None:
        return None
    top = (match.group(1) == "top") != bool(match.group(3))
    return "top first" if top else "bottom first"


_FILE_START = re.compile(r"Duration: .*?, start: (-?\d+(?:\.\d+)?)")
_STREAM_START = re.compile(r"\bstart (-?\d+(?:\.\d+)?)")


def _video_start(header: str, stream: str) -> float:
    """Seconds from the file's start to its video stream's (``start: 0.000000`` on the
    Duration line, ``start 0.500000`` on the stream's); 0 when either is not said."""
    file, own = _FILE_START.search(header), _STREAM_START.search(stream)
    if file is None or own is None:
        return 0.0
    return max(0.0, float(own.group(1)) - float(file.group(1)))


_SAR = re.compile(r"\bSAR (\d+):(\d+) DAR")  # "[SAR 2:1 DAR 3:1]", or unbracketed


def _sample_aspect(text: str, *, turned: bool) -> Fraction:
    """A video stream's sample aspect ratio (``SAR 2:1 DAR 3:1``), inverted for a stream
    turned a quarter; 1 when absent or unknown (``0:1``)."""
    match = _SAR.search(text)
    if match is None or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        return Fraction(1)
    sar = Fraction(int(match.group(1)), int(match.group(2)))
    return 1 / sar if turned else sar


#: ffmpeg pixel formats with an alpha channel.
_ALPHA_FORMATS = re.compile(r"(yuva|gbrap|ya\d|rgba|bgra|argb|abgr)")


def _color_tags(text: str, pix_fmt: str | None) -> str | None:
    """The colour tags in ``yuv420p10le(tv, bt2020nc/bt2020/smpte2084, progressive)``."""
    if not pix_fmt:
        return None
    match = re.search(re.escape(pix_fmt) + r"\(([^)]*)\)", text)
    for part in (match.group(1).split(",") if match else []):
        part = part.strip()
        if part and part not in ("tv", "pc", "progressive") and "first" not in part:
            return part
    return None


_TIMECODE = re.compile(r"^\s*timecode\s*:\s*(\d{2}:\d{2}:\d{2}[:;.]\d{2})\s*$", re.MULTILINE)


def _timecode(stderr: str) -> str | None:
    """The first ``timecode`` metadata value of ffmpeg's input summary, or None."""
    match = _TIMECODE.search(stderr)
    return match.group(1) if match else None


def _probe_sequence(path: Path, fps: Fraction | None) -> SourceInfo:
    """``fps``: the rate given, else an EXR's ``framesPerSecond`` or a DPX header's frame
    rate, else 24. The timecode: an EXR's ``timeCode``, a DPX header's."""
    numbered = sequence_frames(path)
    files = [file for _, file in numbered]
    exr = layout(files[0]) if files[0].suffix.lower() == ".exr" else None
    if exr is not None:
        width, height, bit_depth, alpha = exr.width, exr.height, 16, exr.has_alpha
        fps = fps or exr.fps
    else:
        first = _imread_raw(files[0])
        height, width = first.shape[:2]
        bit_depth = 16 if first.dtype != np.uint8 else 8
        alpha = read_alpha(files[0]) is not None
    dpx_rate, dpx_timecode = (dpx_timing(files[0]) if files[0].suffix.lower() == ".dpx"
                              else (None, None))
    fps = fps or dpx_rate
    return SourceInfo(
        path=path,
        kind="sequence",
        width=int(width),
        height=int(height),
        fps=fps or DEFAULT_SEQUENCE_FPS,
        n_frames=len(files),
        has_audio=False,
        bit_depth=bit_depth,
        fingerprint=_sequence_fingerprint(files),
        first=numbered[0][0],
        notes=tuple(conversion_notes(f"the source frame {files[0].name}",
                                     channel_layout(files[0])[0], False)),
        alpha=alpha,
        exr=exr,
        timecode=exr.timecode if exr is not None else dpx_timecode,
        pixel_aspect=Fraction(exr.pixel_aspect).limit_denominator(10_000) if exr is not None
        else Fraction(1),
    )


#: What ffmpeg says of a file cut short whose header is whole (the frames before the cut
#: are read).
_TRUNCATED = re.compile(r"File ended prematurely|partial file", re.IGNORECASE)


def _pix_fmt_layout(pix_fmt: str | None) -> tuple[bool, bool]:
    """``(gray, alpha)`` of an ffmpeg pixel format (``gray10le``, ``yuva420p``, ``rgba``)."""
    name = (pix_fmt or "").lower()
    gray = name.startswith(("gray", "ya", "y8", "y16", "monow", "monob"))
    alpha = name.startswith(("ya", "yuva", "gbrap", "rgba", "bgra", "argb", "abgr", "rgb32",
                             "bgr32", "ayuv", "vuya"))
    return gray, alpha


def _sample_digest(path: Path) -> bytes:
    """sha256 over a file's size, its first MiB and its last MiB."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    digest.update(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(_MIB))
        if size > _MIB:
            handle.seek(max(_MIB, size - _MIB))
            digest.update(handle.read(_MIB))
    return digest.digest()


def _sequence_fingerprint(files: Sequence[Path]) -> str:
    digest = hashlib.sha256(b"sequence\n")
    for file in files:
        digest.update(f"{file.name}\t{file.stat().st_size}\n".encode())
    digest.update(_sample_digest(files[0]))
    digest.update(_sample_digest(files[-1]))
    return digest.hexdigest()
