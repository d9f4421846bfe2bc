"""Video and image-sequence input/output; the only module that runs ffmpeg.

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
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import IO, Literal

import cv2
import numpy as np

from videostyle.errors import InputError, VideoError

log = logging.getLogger(__name__)

__all__ = [
    "CODECS",
    "DEFAULT_SEQUENCE_FPS",
    "IMAGE_SUFFIXES",
    "SourceInfo",
    "encode_video",
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

#: Video codecs :func:`encode_video` can write.
CODECS = ("h264", "prores", "ffv1")

#: File name endings (lower case) recognised as still images / sequence frames.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

#: Frame rate assumed for image sequences when :func:`probe` is given none.
DEFAULT_SEQUENCE_FPS = Fraction(24)

# Containers each codec may be written into (by output file ending).
_CONTAINERS: dict[str, dict[str, str]] = {
    "h264": {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"},
    "prores": {".mov": "mov"},
    "ffv1": {".mkv": "matroska", ".mov": "mov"},
}

# Rates real material uses; a measured rate that is consistent with one of these (to the
# precision of the container's time base) is reported as that exact value.
_STANDARD_RATES: tuple[Fraction, ...] = tuple(
    [Fraction(n * 1000, 1001) for n in (12, 15, 24, 30, 48, 60, 120, 240)]
    + [Fraction(n) for n in (1, 5, 6, 8, 10, 12, 15, 16, 18, 20, 23, 24, 25, 30, 48, 50, 60)]
    + [Fraction(n) for n in (72, 90, 96, 100, 120, 144, 180, 240)]
)

_MIB = 1 << 20
_STDERR_TAIL = 3000


# --------------------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------------------


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

    @property
    def last(self) -> int:
        """The last frame's number."""
        return self.first + self.n_frames - 1

    @property
    def duration(self) -> Fraction:
        """Length in seconds, ``n_frames / fps`` (exact)."""
        return Fraction(self.n_frames) / self.fps


@dataclass(frozen=True)
class _Stream:
    index: int
    kind: str  # "Video", "Audio", ...
    codec: str
    pix_fmt: str | None
    width: int | None
    height: int | None
    rate_hint: float | None
    rotation: float
    attached_pic: bool
    text: str


# --------------------------------------------------------------------------------------
# ffmpeg plumbing
# --------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg.

    Raises:
        VideoError: imageio-ffmpeg is missing or has no usable binary.
    """
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception as exc:  # any failure here means there is no usable ffmpeg
        raise VideoError(
            "expected the ffmpeg binary bundled with the imageio-ffmpeg package, but it "
            f"could not be found ({exc}); reinstall it with `pip install imageio-ffmpeg`"
        ) from exc


def _ff_path(path: str | Path) -> str:
    """A local path as an ffmpeg URL, so names with ':' or a leading '-' stay file names."""
    return "file:" + str(path)


def _tail(text: str, limit: int = _STDERR_TAIL) -> str:
    text = text.strip()
    if len(text) > limit:
        text = "..." + text[-limit:]
    return text


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc`` if it still runs, close its pipes and reap it."""
    try:
        if proc.poll() is None:
            proc.kill()
    finally:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        proc.wait()


def _read_stderr_file(handle: IO[bytes]) -> str:
    try:
        handle.flush()
        handle.seek(0)
        return handle.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""


def _wait_process(proc: subprocess.Popen[bytes]) -> int:
    """Wait for ``proc`` to finish and return its exit status."""
    return proc.wait()


def _run_capture(args: list[str]) -> tuple[int, str, str]:
    """Run ffmpeg with ``args`` to completion; return (status, stdout, stderr) as text."""
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", *args]
    log.debug("running %s", cmd)
    try:
        # subprocess.run kills and reaps the child on any exception, KeyboardInterrupt too.
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    except OSError as exc:
        raise VideoError(
            f"expected to run ffmpeg at {cmd[0]}, but it could not be started ({exc}); "
            "reinstall imageio-ffmpeg"
        ) from exc
    return (
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


@lru_cache(maxsize=1)
def _pix_fmt_depths() -> dict[str, int]:
    """Largest component bit depth of every pixel format ffmpeg knows (``-pix_fmts``)."""
    _, out, _ = _run_capture(["-pix_fmts"])
    depths: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 5 and re.fullmatch(r"[IOHPB.]{5}", parts[0]):
            bits = [int(b) for b in re.findall(r"\d+", parts[4])]
            if bits:
                depths[parts[1]] = max(bits)
    return depths


def _pix_fmt_bit_depth(pix_fmt: str | None) -> int:
    """8 or 16: whether a pixel format stores more than 8 bits per component."""
    if not pix_fmt:
        return 8
    depth = _pix_fmt_depths().get(pix_fmt)
    if depth is None:  # unknown to the table: guess from the name
        depth = 16 if re.search(r"(9|10|12|14|16|48|64)(le|be)$", pix_fmt) else 8
    return 16 if depth > 8 else 8


def _split_top_level(text: str) -> list[str]:
    """Split an ffmpeg stream description at commas that are not inside brackets."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if current:
        parts.append("".join(current).strip())
    return parts


_STREAM_LINE = re.compile(
    r"^\s*Stream #0:(\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?: (\w+): (.*)$", re.MULTILINE
)
_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees")


def _parse_input_header(stderr: str) -> list[_Stream] | None:
    """Streams of input #0 from ffmpeg's stderr summary, or None when it has none."""
    start = stderr.find("Input #0")
    if start < 0:
        return None
    header = stderr[start:]
    for marker in ("\nStream mapping:", "\nOutput #0", "\nAt least one output file"):
        cut = header.find(marker)
        if cut >= 0:
            header = header[:cut]
    matches = list(_STREAM_LINE.finditer(header))
    streams: list[_Stream] = []
    for i, match in enumerate(matches):
        block_end = matches[i + 1].start() if i + 1 < len(matches) else len(header)
        block = header[match.start() : block_end]
        fields = _split_top_level(match.group(3))
        codec = fields[0].split()[0] if fields and fields[0] else "unknown"
        pix_fmt = None
        width = height = None
        rate_hint = None
        if match.group(2) == "Video":
            if len(fields) > 1:
                token = re.match(r"[a-z0-9_]+", fields[1])
                pix_fmt = token.group(0) if token else None
            for field in fields[1:]:
                dims = re.match(r"(\d+)x(\d+)\b", field)
                if dims:
                    width, height = int(dims.group(1)), int(dims.group(2))
                    break
            for field in fields:
                rate = re.fullmatch(r"(\d+(?:\.\d+)?)(k?) (?:fps|tbr)", field)
                if rate:
                    rate_hint = float(rate.group(1)) * (1000 if rate.group(2) else 1)
                    break
        rotation = 0.0
        rot = _ROTATION.search(block)
        if rot:
            rotation = float(rot.group(1))
        streams.append(
            _Stream(
                index=int(match.group(1)),
                kind=match.group(2),
                codec=codec,
                pix_fmt=pix_fmt,
                width=width,
                height=height,
                rate_hint=rate_hint,
                rotation=rotation,
                attached_pic="(attached pic)" in match.group(3),
                text=match.group(0).strip(),
            )
        )
    return streams


def _ffmpeg_message(stderr: str) -> str:
    """The most telling line of an ffmpeg failure (its last non-empty line)."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _inspect(path: Path) -> list[_Stream]:
    """Streams of a media file (header only; fast). InputError when unreadable."""
    _, _, err = _run_capture(["-i", _ff_path(path)])
    streams = _parse_input_header(err)
    if streams is None:
        raise InputError(
            f"expected a video or audio file that ffmpeg can read, but {path} could not be "
            f"opened (ffmpeg: {_ffmpeg_message(err)}); check that the file is a complete "
            "video and not something else"
        )
    return streams


def _main_video_stream(streams: list[_Stream], path: Path) -> _Stream:
    videos = [s for s in streams if s.kind == "Video" and not s.attached_pic]
    if not videos:
        found = ", ".join(sorted({s.kind.lower() for s in streams})) or "no streams"
        raise InputError(
            f"expected a video, but {path} has no video stream (found: {found}); pass a "
            "video file, a directory of frames or a pattern such as shot_%04d.png"
        )
    return videos[0]


# --------------------------------------------------------------------------------------
# Frame rate
# --------------------------------------------------------------------------------------


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


def _parse_framecrc(text: str) -> tuple[Fraction, np.ndarray, np.ndarray]:
    """Time base, sorted pts and durations of stream 0 from ffmpeg framecrc output."""
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
            dts, pts, duration = int(fields[1]), int(fields[2]), int(fields[3])
            stamps.append(pts if pts != nopts else dts)
            durations.append(duration)
    if tb is None:
        tb = Fraction(1, 1000)
    valid = [s for s in stamps if s != nopts]
    pts_arr = np.array(sorted(valid) if len(valid) == len(stamps) else [], dtype=np.int64)
    return tb, pts_arr, np.array(durations, dtype=np.int64)


# --------------------------------------------------------------------------------------
# Fingerprints
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Image sequences
# --------------------------------------------------------------------------------------

_PRINTF_FIELD = re.compile(r"%(0?)(\d*)d")


def is_sequence_pattern(path: str | Path) -> bool:
    """Whether the file-name part of ``path`` is a printf pattern with one integer field.

    ``shot_%04d.png`` and ``f%d.tif`` are patterns; ``%%`` is a literal percent sign.
    """
    name = Path(str(path)).name.replace("%%", "")
    fields = _PRINTF_FIELD.findall(name)
    return len(fields) == 1 and "%" not in _PRINTF_FIELD.sub("", name)


def _pattern_regex(name: str) -> re.Pattern[str]:
    out = []
    pos = 0
    for match in _PRINTF_FIELD.finditer(name):
        out.append(re.escape(name[pos : match.start()].replace("%%", "%")))
        zero, width = match.group(1), match.group(2)
        if zero and width:
            out.append(rf"(\d{{{int(width)},}})")
        else:
            out.append(r"\s*(\d+)")
        pos = match.end()
    out.append(re.escape(name[pos:].replace("%%", "%")))
    return re.compile("".join(out))


def _last_int(name: str) -> int | None:
    numbers = re.findall(r"\d+", Path(name).stem)
    return int(numbers[-1]) if numbers else None


def _suffix_family(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".jpeg": ".jpg", ".tiff": ".tif"}.get(suffix, suffix)


def list_sequence(source: str | Path) -> list[Path]:
    """Frame files of an image sequence, in frame order (see :func:`sequence_frames`)."""
    return [path for _, path in sequence_frames(source)]


def sequence_frames(source: str | Path) -> list[tuple[int, Path]]:
    """``(frame number, file)`` of an image sequence, in frame order.

    ``source`` is a directory (every ``png``/``jpg``/``jpeg``/``tif``/``tiff`` inside,
    hidden files excluded), a printf pattern such as ``shot_%04d.png``, or a single still
    image (one frame, number 1).

    A frame's number is the integer in its file name (the pattern's field; in a directory
    the last integer of the name), so ``plate.1001.png`` ... ``plate.1096.png`` are frames
    1001..1096 and ``frame_9`` comes before ``frame_10``. A directory whose files do not
    all carry a number is numbered 1, 2, ... in name order.

    Raises:
        InputError: missing directory, no frames, frames of mixed formats, two files with
            one number, or a gap in the numbers (naming the first missing number).
    """
    path = Path(source)
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        return [(1, path)]
    if path.is_dir():
        files = [
            p
            for p in path.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
        ]
        where = f"directory {path}"
        regex = None
    elif is_sequence_pattern(path.name):
        folder = path.parent
        if not folder.is_dir():
            raise InputError(
                f"expected the folder of the frame pattern {path} to exist, but {folder} "
                "does not; check the path"
            )
        regex = _pattern_regex(path.name)
        files = [p for p in folder.iterdir() if p.is_file() and regex.fullmatch(p.name)]
        where = f"pattern {path}"
    else:
        raise InputError(
            f"expected a directory of frames or a printf pattern such as shot_%04d.png, but "
            f"got {path}; pass an existing folder or a pattern with one %d field"
        )
    if not files:
        raise InputError(
            f"expected image frames (png, jpg, tif) in the {where}, but found none; check "
            "the path and the file endings"
        )
    families = {_suffix_family(p) for p in files}
    if len(families) > 1:
        raise InputError(
            f"expected frames of one format in the {where}, but found {sorted(families)}; "
            "move the frames of one format into their own folder or pass a pattern"
        )
    if regex is not None:
        numbered = [(int(regex.fullmatch(p.name).group(1)), p) for p in files]  # type: ignore[union-attr]
    else:
        found = [(_last_int(p.name), p) for p in files]
        if any(n is None for n, _ in found):
            return list(enumerate(sorted(files, key=lambda p: p.name), start=1))
        numbered = [(int(n), p) for n, p in found if n is not None]
    numbered.sort(key=lambda item: (item[0], item[1].name))
    for (a, pa), (b, pb) in zip(numbered, numbered[1:], strict=False):
        if a == b:
            raise InputError(
                f"expected one file per frame number in the {where}, but {pa.name} and "
                f"{pb.name} are both frame {a}; remove one of them"
            )
        if b != a + 1:
            raise InputError(
                f"expected consecutive frame numbers in the {where}, but frame {a + 1} is "
                f"missing (after {pa.name}); render the parts on either side of the gap "
                "separately or fill it"
            )
    return numbered


def _probe_sequence(path: Path, fps: Fraction) -> SourceInfo:
    numbered = sequence_frames(path)
    files = [file for _, file in numbered]
    first = _imread_raw(files[0])
    height, width = first.shape[:2]
    bit_depth = 16 if first.dtype != np.uint8 else 8
    return SourceInfo(
        path=path,
        kind="sequence",
        width=int(width),
        height=int(height),
        fps=fps,
        n_frames=len(files),
        has_audio=False,
        bit_depth=bit_depth,
        fingerprint=_sequence_fingerprint(files),
        first=numbered[0][0],
    )


# --------------------------------------------------------------------------------------
# Probing
# --------------------------------------------------------------------------------------


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
    consistent with. Variable-rate video gets its mean rate (with a warning in the log);
    its frames are then treated as evenly spaced. ``n_frames`` is the number of video
    packets of the first video stream that is not cover art.

    Raises:
        InputError: missing source, not a video, no video stream, zero frames, bad
            pattern, or a non-positive ``fps``.
        VideoError: ffmpeg could not be run.
    """
    path = Path(source)
    if path.is_dir() or (not path.exists() and is_sequence_pattern(path.name)):
        return _probe_sequence(path, parse_fps(fps) if fps is not None else DEFAULT_SEQUENCE_FPS)
    if not path.exists():
        raise InputError(
            f"expected an existing video file, frame directory or pattern, but {path} does "
            "not exist; check the path"
        )
    if not path.is_file():
        raise InputError(f"expected a regular file, but {path} is not one")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        log.info("%s is a still image; treating it as a one-frame sequence", path)
        return _probe_sequence(path, parse_fps(fps) if fps is not None else DEFAULT_SEQUENCE_FPS)
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
    if not constant:
        log.warning(
            "%s has a variable frame rate; its %d frames are treated as evenly spaced at "
            "%s fps (%.3f), so audio may drift; convert it to a constant rate for exact sync",
            path,
            n_frames,
            rate,
            float(rate),
        )
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
    )


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


def _imread_raw(path: Path) -> np.ndarray:
    """Image as uint8/uint16/float32 BGR (H, W, 3) array; InputError when unreadable."""
    if not path.is_file():
        raise InputError(f"expected an image file, but {path} does not exist; check the path")
    data = np.fromfile(str(path), dtype=np.uint8)
    # IMREAD_COLOR | IMREAD_ANYDEPTH: 3 channels (gray expanded, alpha dropped), 16-bit and
    # float kept, EXIF orientation applied.
    image = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH) if data.size else None
    if image is None:
        raise InputError(
            f"expected a PNG, JPEG or TIFF image, but {path} cannot be decoded; check that "
            "the file is a complete image"
        )
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image


def _to_float_rgb(image: np.ndarray) -> np.ndarray:
    """BGR uint8/uint16/float array -> float32 RGB in [0, 1] (C-contiguous)."""
    rgb = image[..., ::-1]
    if image.dtype == np.uint8:
        out = rgb.astype(np.float32)
        out /= 255.0
    elif image.dtype == np.uint16:
        out = rgb.astype(np.float32)
        out /= 65535.0
    else:
        out = np.clip(np.nan_to_num(rgb.astype(np.float32)), 0.0, 1.0)
    return np.ascontiguousarray(out)


def read_image(path: str | Path) -> np.ndarray:
    """Read a PNG/JPEG/TIFF image (8 or 16 bit, gray, RGB or RGBA).

    Returns:
        float32 RGB array (H, W, 3) in [0, 1]. Gray is expanded to three channels, an
        alpha channel is dropped (colours are used as stored), EXIF orientation is applied.

    Raises:
        InputError: the file is missing or cannot be decoded.
    """
    return _to_float_rgb(_imread_raw(Path(path)))


def check_range(info: SourceInfo, start: int | None, end: int | None) -> tuple[int, int]:
    """``(start, end)`` with missing ends filled in, checked against ``info``'s numbers."""
    first = info.first if start is None else start
    last = info.last if end is None else end
    if not info.first <= first <= last <= info.last:
        raise InputError(
            f"expected frames within {info.first}..{info.last} (the frame numbers of "
            f"{info.path}, inclusive), but got {first}..{last}; pick a start and an end "
            f"between {info.first} and {info.last}, start <= end"
        )
    return first, last


def _resize(frame: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame
    return cv2.resize(frame, (int(size[0]), int(size[1])), interpolation=cv2.INTER_AREA)


def read_frames(
    info: SourceInfo,
    *,
    start: int | None = None,
    end: int | None = None,
    size: tuple[int, int] | None = None,
) -> Generator[tuple[int, np.ndarray], None, None]:
    """Yield ``(frame_number, frame)`` for frames ``start..end`` (inclusive).

    Args:
        info: What :func:`probe` returned for the source.
        start: First frame number (see :attr:`SourceInfo.first`), default the first.
        end: Last frame number (inclusive), default the last frame.
        size: ``(width, height)`` to resize every frame to with ``cv2.INTER_AREA``;
            ``None`` keeps ``info.width x info.height``.

    Frames are float32 RGB (H, W, 3) in [0, 1]. Sources with more than 8 bits per sample
    (``info.bit_depth == 16``) are decoded at 16 bits so no levels are lost. Video is
    decoded by one ffmpeg process streaming raw frames through a pipe; frames before
    ``start`` are decoded and dropped inside ffmpeg, so a late ``start`` costs decoding
    time. The process is killed and reaped when the generator finishes, fails or is
    closed early (``close()``, or garbage collection after a ``break``). Non-square pixels
    are returned as stored. Arguments are checked when this function is called, before
    any frame is requested.

    Raises:
        InputError: range outside ``first..last`` or empty; a sequence whose files
            changed since probing or differ in size.
        VideoError: ffmpeg failed while decoding.
    """
    first, last = check_range(info, start, end)
    if size is not None:
        if len(size) != 2 or min(int(size[0]), int(size[1])) < 1:
            raise InputError(f"expected size=(width, height) of positive ints, got {size!r}")
        size = (int(size[0]), int(size[1]))
    if info.kind == "sequence":
        return _read_sequence(info, first, last, size)
    return _read_video(info, first, last, size)


def _read_sequence(
    info: SourceInfo, first: int, last: int, size: tuple[int, int] | None
) -> Generator[tuple[int, np.ndarray], None, None]:
    files = list_sequence(info.path)
    if len(files) != info.n_frames:
        raise InputError(
            f"expected {info.n_frames} frames in {info.path} as when it was probed, but it "
            f"now holds {len(files)}; probe the sequence again"
        )
    for number in range(first, last + 1):
        file = files[number - info.first]
        raw = _imread_raw(file)
        if size is None and (raw.shape[1], raw.shape[0]) != (info.width, info.height):
            raise InputError(
                f"expected every frame of {info.path} to be {info.width}x{info.height}, but "
                f"{file.name} is {raw.shape[1]}x{raw.shape[0]}; make the frames "
                "the same size or pass size="
            )
        yield number, _resize(_to_float_rgb(raw), size)


def _read_exact(stream: IO[bytes], count: int) -> bytes:
    chunks = []
    remaining = count
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_video(
    info: SourceInfo, first: int, last: int, size: tuple[int, int] | None
) -> Generator[tuple[int, np.ndarray], None, None]:
    deep = info.bit_depth > 8
    width, height = info.width, info.height
    frame_bytes = width * height * 3 * (2 if deep else 1)
    count = last - first + 1
    # trim counts decoded frames from 0; the final scale is a no-op unless the decoded
    # size disagrees with the probed one, and keeps the raw frames the size we expect.
    filters = f"trim=start_frame={first - 1}:end_frame={last},scale={width}:{height}:flags=area"
    cmd = [
        ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error",
        "-i", _ff_path(info.path),
        "-map", "0:V:0", "-an", "-sn", "-dn",
        "-vf", filters,
        "-fps_mode", "passthrough",
        "-frames:v", str(count),
        "-f", "rawvideo", "-pix_fmt", "rgb48le" if deep else "rgb24",
        "pipe:1",
    ]  # fmt: skip
    log.debug("decoding frames %d..%d of %s", first, last, info.path)
    with tempfile.TemporaryFile() as errfile:
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errfile,
                bufsize=max(frame_bytes, 1 << 16),
            )  # fmt: skip
        except OSError as exc:
            raise VideoError(f"expected to start ffmpeg at {cmd[0]}, but got {exc}") from exc
        try:
            assert proc.stdout is not None
            number = first
            while number <= last:
                buffer = _read_exact(proc.stdout, frame_bytes)
                if len(buffer) < frame_bytes:
                    break
                dtype = np.dtype("<u2") if deep else np.dtype(np.uint8)
                raw = np.frombuffer(buffer, dtype=dtype).reshape(height, width, 3)
                frame = raw.astype(np.float32)
                frame /= 65535.0 if deep else 255.0
                yield number, _resize(frame, size)
                number += 1
            status = _wait_process(proc)
            if status != 0:
                raise VideoError(
                    f"expected ffmpeg to decode frames {first}..{last} of {info.path}, but "
                    f"it failed (exit status {status}):\n{_tail(_read_stderr_file(errfile))}"
                )
            if number <= last:
                log.warning(
                    "%s: expected frames up to %d, but the decoder delivered only up to %d",
                    info.path,
                    last,
                    number - 1,
                )
        finally:
            _stop_process(proc)


# --------------------------------------------------------------------------------------
# Writing images
# --------------------------------------------------------------------------------------


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync, rename."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"expected a writable folder for {path}, but {folder} cannot be created ({exc}); "
            "choose another output location"
        ) from exc
    tmp_name: str | None = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=folder, prefix=f".{path.name}.", suffix=".tmp", delete=False
        ) as handle:
            tmp_name = handle.name
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise InputError(
            f"expected to write {path}, but the folder is not writable or full ({exc}); "
            "choose another output location or free space"
        ) from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass


def write_image(path: str | Path, image: np.ndarray, *, bit_depth: int = 8) -> None:
    """Write a float RGB image in [0, 1] as PNG or TIFF (8 or 16 bit), atomically.

    ``image`` is (H, W, 3) RGB or (H, W) gray; values are clipped to [0, 1] and rounded to
    the nearest of 255 (8 bit) or 65535 (16 bit) levels; NaN becomes 0. ``.jpg``/``.jpeg``
    is accepted for 8-bit output (quality 95). The file is written under a temporary name
    in the same folder, flushed, fsynced and renamed over ``path``, so readers never see a
    partial file. Missing parent folders are created.

    Raises:
        InputError: unsupported ending or depth, or the folder is not writable.
        ValueError: ``image`` is not an (H, W, 3) or (H, W) array.
    """
    path = Path(path)
    if bit_depth not in (8, 16):
        raise InputError(f"expected bit_depth 8 or 16, but got {bit_depth}")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"expected an image path ending in .png or .tif, but got {path}; use .png")
    if suffix in (".jpg", ".jpeg") and bit_depth != 8:
        raise InputError(f"expected .png or .tif for 16-bit output, but got {path}; use .png")
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < 1:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {array.shape}")
    levels = 65535.0 if bit_depth == 16 else 255.0
    scaled = np.rint(np.clip(np.nan_to_num(array.astype(np.float32)), 0.0, 1.0) * levels)
    quantized = scaled.astype(np.uint16 if bit_depth == 16 else np.uint8)
    bgr = np.ascontiguousarray(quantized[..., ::-1])
    params: list[int] = []
    if suffix == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    elif suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
    ok, encoded = cv2.imencode(suffix, bgr, params)
    if not ok:
        raise VideoError(f"expected OpenCV to encode {path}, but encoding failed")
    _atomic_write(path, encoded.tobytes())


def fit_size(width: int, height: int, longest: int | None) -> tuple[int, int]:
    """Scale ``(width, height)`` so the longer side equals ``longest``, keeping the aspect.

    ``None`` returns the size unchanged. Both results are rounded to ints >= 1. Upscaling
    happens when ``longest`` is larger than the current longer side.

    Raises:
        InputError: ``longest`` (or the input size) is not positive.
    """
    if width < 1 or height < 1:
        raise InputError(f"expected a positive frame size, but got {width}x{height}")
    if longest is None:
        return int(width), int(height)
    if longest < 1:
        raise InputError(f"expected a longest side of at least 1 pixel, but got {longest}")
    if width >= height:
        return int(longest), max(1, round(height * longest / width))
    return max(1, round(width * longest / height)), int(longest)


def _png_header(path: Path) -> tuple[int, int, int] | None:
    """(width, height, bit_depth) from a PNG's IHDR chunk, or None if not a PNG."""
    try:
        with path.open("rb") as handle:
            head = handle.read(26)
    except OSError:
        return None
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width = int.from_bytes(head[16:20], "big")
    height = int.from_bytes(head[20:24], "big")
    return width, height, head[24]


def write_sequence(
    frames: Sequence[Path], pattern: str, *, bit_depth: int = 8, start: int = 1
) -> None:
    """Write ``frames`` as an image sequence named by ``pattern``, numbered from ``start``.

    ``pattern`` is a printf pattern such as ``out/shot_%04d.png`` (PNG or TIFF). A PNG
    frame already at ``bit_depth`` is copied byte for byte; others are re-encoded. Each
    file is written atomically; the folder is created when missing. Existing files with
    higher numbers are left alone.

    Raises:
        InputError: not a pattern, no frames, missing frame, or unwritable folder.
    """
    if not is_sequence_pattern(pattern):
        raise InputError(
            f"expected an output pattern with one %d field such as out_%04d.png, but got "
            f"{pattern!r}"
        )
    if not frames:
        raise InputError("expected at least one frame to write, but got none")
    suffix = Path(pattern).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"expected a .png or .tif output pattern, but got {pattern!r}")
    for number, source in enumerate(frames, start=start):
        source = Path(source)
        target = Path(pattern % number)
        if target.resolve() == source.resolve():
            continue
        header = _png_header(source)
        if suffix == ".png" and header is not None and header[2] == bit_depth:
            try:
                data = source.read_bytes()
            except OSError as exc:
                raise InputError(
                    f"expected frame file {source}, but cannot read it ({exc})"
                ) from exc
            _atomic_write(target, data)
        else:
            write_image(target, read_image(source), bit_depth=bit_depth)


# --------------------------------------------------------------------------------------
# Checks of an output, before any work
# --------------------------------------------------------------------------------------

#: What an output file name may end in: a video container, or an image sequence pattern.
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv")
SEQUENCE_OUTPUT_SUFFIXES = (".png", ".tif", ".tiff")


def check_output(output: Path, codec: str | None = None) -> None:
    """Refuse an output this stage cannot write, before any frame is decoded.

    ``output`` is a video file (``codec`` one of :data:`CODECS`, default h264, in a
    container that codec goes in: see :func:`encode_video`) or an image sequence pattern
    (``out_%04d.png``, PNG or TIFF; ``codec`` must then be None). Its folder must exist
    and be writable.
    """
    output = Path(output)
    if output.is_dir():
        raise InputError(f"the output {output} is a folder; give a file name such as out.mp4")
    if is_sequence_pattern(str(output)):
        if output.suffix.lower() not in SEQUENCE_OUTPUT_SUFFIXES:
            raise InputError(
                f"an output sequence is written as PNG or TIFF, not "
                f"{output.suffix or 'a name without ending'}; fix: -o {output.stem}.png"
            )
        if codec is not None:
            raise InputError(
                f"codec {codec} applies to a video output, but {output.name} is an image "
                "sequence; drop the codec or write a .mov/.mkv/.mp4"
            )
    else:
        codec = codec or "h264"
        if codec not in CODECS:
            raise InputError(f"unknown codec {codec!r}; expected one of: {', '.join(CODECS)}")
        suffix = output.suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            raise InputError(
                f"output {output} must end in .mp4, .mov or .mkv, or be an image sequence "
                "pattern such as out_%04d.png"
            )
        containers = _CONTAINERS[codec]
        if suffix not in containers:
            raise InputError(
                f"{codec} cannot be written into a {suffix} file; fix: -o "
                f"{output.stem}{next(iter(containers))} (it goes in "
                f"{' or '.join(containers)})"
            )
    folder = output.parent
    if folder.exists() and not folder.is_dir():
        raise InputError(f"cannot write {output}: {folder} is not a folder")
    if not folder.exists():
        raise InputError(f"the output folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"the output folder {folder} is not writable; choose another one")


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` are one file or folder (resolved path or inode)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _sequence_files_of(output: Path) -> Path:
    """A stand-in file name of an output pattern (its frame 1), for folder checks."""
    return output.with_name(output.name.replace("%%", "%") % 1)


def check_output_is_not_input(
    output: Path, *, source: Path, inputs: Sequence[Path] = ()
) -> None:
    """Refuse an output that is an input, or whose files would land among an input's.

    ``inputs`` are other files, folders or frame patterns a render reads (styles, masks,
    flow folders). Paths are compared resolved and by inode, so ``./a.mp4`` and a
    symlink to ``a.mp4`` count as ``a.mp4``. An output sequence may not write into a
    folder that is an input (the source's frame folder) nor name files that an input's
    pattern, or an input file, would match.
    """
    output = Path(output)
    for path in (Path(source), *map(Path, inputs)):
        if not is_sequence_pattern(str(output)):
            if _same_file(output, path):
                raise InputError(
                    f"the output {output} is the input {path}: it would be overwritten; "
                    "write the render to another file"
                )
            continue
        folder, regex = output.parent, _pattern_regex(output.name)
        if path.is_dir() and _same_file(folder, path):
            raise InputError(
                f"the output sequence {output} would write into the input folder {path}; "
                "write it to another folder"
            )
        if is_sequence_pattern(str(path)):
            clash = path.parent.is_dir() and _same_file(folder, path.parent) and bool(
                _pattern_regex(path.name).fullmatch(_sequence_files_of(output).name)
            )
        else:
            clash = path.is_file() and _same_file(folder, path.parent) and bool(
                regex.fullmatch(path.name)
            )
        if clash:
            raise InputError(
                f"the output sequence {output} would overwrite files of the input {path}; "
                "give the output another name or folder"
            )


# --------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------


def _seconds(value: float | Fraction) -> str:
    return f"{float(value):.6f}"


def _has_audio(path: Path) -> bool:
    return any(s.kind == "Audio" for s in _inspect(path))


def _frame_geometry(frames: Sequence[Path]) -> tuple[int, int, int, str]:
    """(width, height, bit_depth, suffix) of the frame files; InputError on mismatch."""
    if not frames:
        raise InputError("expected at least one frame to encode, but got none")
    paths = [Path(f) for f in frames]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise InputError(
            f"expected {len(paths)} frame files, but {len(missing)} are missing (first: "
            f"{missing[0]}); render the missing frames again"
        )
    suffixes = {p.suffix.lower() for p in paths}
    if len(suffixes) != 1:
        raise InputError(f"expected frames of one file type, but got {sorted(suffixes)}")
    suffix = suffixes.pop()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"expected PNG (or TIFF) frame files, but got {suffix} files")
    header = _png_header(paths[0])
    if header is not None:
        width, height, depth = header
    else:
        raw = _imread_raw(paths[0])
        height, width = raw.shape[:2]
        depth = 16 if raw.dtype != np.uint8 else 8
    for path in paths[1:]:
        other = _png_header(path)
        if other is not None and other[:2] != (width, height):
            raise InputError(
                f"expected every frame to be {width}x{height} like {paths[0].name}, but "
                f"{path.name} is {other[0]}x{other[1]}; render all frames at one size"
            )
    return width, height, (16 if depth > 8 else 8), suffix


def _link_frames(frames: Sequence[Path], folder: Path, suffix: str) -> str:
    """Expose ``frames`` as folder/00000001<suffix>...; return the ffmpeg input pattern."""
    for number, frame in enumerate(frames, start=1):
        link = folder / f"{number:08d}{suffix}"
        source = Path(frame).resolve()
        try:
            link.symlink_to(source)
        except OSError:
            shutil.copyfile(source, link)
    return str(folder / f"%08d{suffix}")


def _track_timescale(fps: Fraction) -> int:
    """A MP4/MOV time scale in which one frame lasts a whole number of ticks."""
    numerator = fps.numerator
    return numerator * max(1, math.ceil(10000 / numerator))


def encode_video(
    frames: Sequence[Path],
    output: Path,
    *,
    fps: Fraction,
    codec: str = "h264",
    audio_source: Path | None = None,
    audio_start: float = 0.0,
    audio_duration: float | None = None,
    crf: int = 16,
) -> None:
    """Encode frame files into a video at an exact frame rate, optionally with audio.

    Args:
        frames: Lossless frame files (PNG, 8 or 16 bit; TIFF works too), all the same
            size, in display order. Frame ``k`` is shown at ``(k - 1) / fps`` seconds.
        output: ``.mp4``/``.mov``/``.mkv`` for h264, ``.mov`` for prores, ``.mkv``/``.mov``
            for ffv1. Written under a temporary name in the same folder and renamed when
            ffmpeg succeeded, so it never exists half-written.
        fps: Exact frame rate, passed to ffmpeg as a rational (``30000/1001``) for input
            and output; MP4/MOV get a track time scale that represents it exactly.
        codec: ``h264``: libx264, ``crf``, yuv420p, BT.709. Odd widths/heights are padded
            to the next even number by repeating the last column/row, so a 47x33 input
            gives a 48x34 video. ``prores``: ProRes 422 HQ (prores_ks profile 3,
            yuv422p10le), ``.mov`` only. ``ffv1``: lossless FFV1 in RGB (``bgr0`` for 8-bit
            frames, ``rgb48le`` for 16-bit), any size.
        audio_source: File whose first audio stream is carried over (e.g. the source
            video). Ignored, with a log message, when it has no audio.
        audio_start: Seconds into ``audio_source`` where the output's audio begins (for
            a render of frames ``s..e`` of a source at ``fps``: ``(s - 1) / fps``).
        audio_duration: Seconds of audio to take; default and maximum: the video's
            duration ``len(frames) / fps``. Audio that runs out early is padded with
            silence, so the audio track always lasts as long as the video and no video
            frame is ever cut. AAC in MP4 (and with h264 in MOV/MKV), 16-bit PCM with
            ProRes and FFV1.
        crf: libx264 constant rate factor (0-51, lower is better); h264 only.

    Any decoding error in the frames or the audio makes ffmpeg stop (``-xerror``) rather
    than silently drop or repeat a frame. The finished file is read back and must hold
    ``len(frames)`` frames before it is renamed to ``output``.

    Raises:
        InputError: unknown codec, codec/container mismatch (ProRes in .mp4), no or
            missing frames, frames of different sizes, bad fps/crf/audio times, or an
            unwritable output folder.
        VideoError: ffmpeg failed (the message ends with the tail of its stderr), or the
            written file does not hold the expected number of frames.
    """
    output = Path(output)
    codec = str(codec).lower()
    if codec not in CODECS:
        raise InputError(
            f"expected a codec from {', '.join(CODECS)}, but got {codec!r}; pick one of those"
        )
    suffix = output.suffix.lower()
    containers = _CONTAINERS[codec]
    if suffix not in containers:
        raise InputError(
            f"expected an output ending in {' or '.join(containers)} for {codec}, but got "
            f"{output.name}; rename the output to {output.stem}{next(iter(containers))}"
        )
    container = containers[suffix]
    rate = parse_fps(fps)
    if not 0 <= int(crf) <= 51:
        raise InputError(f"expected crf between 0 and 51, but got {crf}")
    if audio_start < 0:
        raise InputError(f"expected audio_start >= 0 seconds, but got {audio_start}")
    if audio_duration is not None and audio_duration <= 0:
        raise InputError(f"expected audio_duration > 0 seconds, but got {audio_duration}")
    width, height, depth, frame_suffix = _frame_geometry(frames)
    video_duration = Fraction(len(frames)) / rate

    folder = output.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"expected a writable output folder, but {folder} cannot be created ({exc}); "
            "choose another output location"
        ) from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(
            f"expected a writable output folder, but {folder} is not writable; choose "
            "another output location"
        )

    with_audio = False
    audio_path = Path(audio_source) if audio_source is not None else None
    if audio_path is not None:
        if not audio_path.is_file():
            raise InputError(f"expected an audio source file, but {audio_path} does not exist")
        with_audio = _has_audio(audio_path)
        if not with_audio:
            log.info("%s has no audio stream; the video is written without audio", audio_path)

    rate_text = f"{rate.numerator}/{rate.denominator}"
    tmp_output = folder / f".{output.stem}.{secrets.token_hex(4)}.partial{suffix}"
    with tempfile.TemporaryDirectory(prefix="videostyle-frames-") as link_dir:
        pattern = _link_frames(frames, Path(link_dir), frame_suffix)
        cmd = [
            ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "warning",
            "-xerror", "-y",
            "-f", "image2", "-framerate", rate_text, "-start_number", "1", "-i", pattern,
        ]  # fmt: skip
        if with_audio and audio_path is not None:
            take = (
                video_duration
                if audio_duration is None
                else min(Fraction(audio_duration).limit_denominator(10**6), video_duration)
            )
            cmd += ["-ss", _seconds(audio_start), "-t", _seconds(take), "-i", _ff_path(audio_path)]
        cmd += ["-map", "0:v:0"]
        if with_audio:
            cmd += ["-map", "1:a:0"]
        cmd += _video_options(codec, width, height, depth, crf)
        cmd += ["-r", rate_text, "-fps_mode", "cfr"]
        if with_audio:
            cmd += [
                "-af", f"apad=whole_dur={_seconds(video_duration)},"
                f"atrim=end={_seconds(video_duration)}",
            ]  # fmt: skip
            if container == "mp4" or codec == "h264":
                cmd += ["-c:a", "aac", "-b:a", "192k"]
            else:
                cmd += ["-c:a", "pcm_s16le"]
        if container in ("mp4", "mov"):
            cmd += [
                "-video_track_timescale", str(_track_timescale(rate)),
                "-movflags", "+faststart",
            ]  # fmt: skip
        cmd += ["-f", container, _ff_path(tmp_output)]
        log.debug("encoding %d frames to %s: %s", len(frames), output, cmd)
        _run_encoder(cmd, output, tmp_output)

    try:
        _verify_output(tmp_output, output, len(frames), rate)
        os.replace(tmp_output, output)
    finally:
        if tmp_output.exists():
            try:
                tmp_output.unlink()
            except OSError:
                pass


def _video_options(codec: str, width: int, height: int, depth: int, crf: int) -> list[str]:
    bt709 = [
        "-colorspace", "bt709", "-color_primaries", "bt709",
        "-color_trc", "bt709", "-color_range", "tv",
    ]  # fmt: skip
    rgb = "gbrp16le" if depth > 8 else "gbrp"
    to_yuv = "scale=out_color_matrix=bt709:out_range=tv:flags=accurate_rnd+full_chroma_int"
    if codec == "h264":
        chain = [f"format={rgb}"]
        pad_w, pad_h = width % 2, height % 2
        if pad_w or pad_h:
            chain += [
                f"pad={width + pad_w}:{height + pad_h}:0:0",
                f"fillborders=right={pad_w}:bottom={pad_h}:mode=smear",
            ]
        chain += [to_yuv, "format=yuv420p"]
        return [
            "-vf", ",".join(chain),
            "-c:v", "libx264", "-preset", "medium", "-crf", str(int(crf)),
            "-pix_fmt", "yuv420p", *bt709,
        ]  # fmt: skip
    if codec == "prores":
        return [
            "-vf", f"{to_yuv},format=yuv422p10le",
            "-c:v", "prores_ks", "-profile:v", "3", "-vendor", "apl0",
            "-pix_fmt", "yuv422p10le", *bt709,
        ]  # fmt: skip
    pix_fmt = "rgb48le" if depth > 8 else "bgr0"
    return [
        "-vf", f"format={pix_fmt}",
        "-c:v", "ffv1", "-level", "3", "-g", "1", "-slicecrc", "1", "-pix_fmt", pix_fmt,
    ]  # fmt: skip


def _run_encoder(cmd: list[str], output: Path, tmp_output: Path) -> None:
    """Run an encoding ffmpeg; VideoError with its stderr tail when it fails."""
    with tempfile.TemporaryFile() as errfile:
        proc: subprocess.Popen[bytes] | None = None
        status = -1
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errfile
            )
            status = _wait_process(proc)
        except OSError as exc:
            raise VideoError(f"expected to start ffmpeg at {cmd[0]}, but got {exc}") from exc
        finally:
            if proc is not None:
                _stop_process(proc)
            if status != 0 and tmp_output.exists():
                try:
                    tmp_output.unlink()
                except OSError:
                    pass
        if status != 0:
            raise VideoError(
                f"expected ffmpeg to encode {output}, but it failed (exit status {status}); "
                f"check the frames and the audio source. ffmpeg said:\n"
                f"{_tail(_read_stderr_file(errfile))}"
            )


def _verify_output(tmp_output: Path, output: Path, n_frames: int, rate: Fraction) -> None:
    """Read the new file back: it must hold every frame (and should have the rate)."""
    try:
        info = _probe_video(tmp_output)
    except InputError as exc:
        raise VideoError(f"expected ffmpeg to write a readable {output}, but: {exc}") from exc
    if info.n_frames != n_frames:
        raise VideoError(
            f"expected {output} to hold {n_frames} frames, but ffmpeg wrote "
            f"{info.n_frames}; this is a bug, please report it with the ffmpeg version"
        )
    if info.fps != rate:
        log.warning("%s: wrote %s fps but the file reads back as %s fps", output, rate, info.fps)
