"""Reading the frames of a probed source: a video through an ffmpeg pipe, or image files.

Frame ranges are **inclusive** (``start=1, end=3`` means the first three frames of a
video). The ffmpeg process that decodes a video is killed and reaped when the frame
generator finishes, fails or is closed early.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Generator
from typing import IO

import numpy as np

from videostyle.errors import InputError

from .ffmpeg import _ff_path, _started, _wait_ok, ffmpeg_exe
from .images import _imread_raw, _resize, _to_float_rgb
from .probe import SourceInfo
from .sequences import list_sequence

log = logging.getLogger(__name__)


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
    pipe_size = max(frame_bytes, 1 << 16)
    with _started(cmd, stdout=subprocess.PIPE, bufsize=pipe_size) as (proc, errfile):
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
        _wait_ok(proc, errfile, f"decode frames {first}..{last} of {info.path}")
    if number <= last:
        log.warning(
            "%s: expected frames up to %d, but the decoder delivered only up to %d",
            info.path,
            last,
            number - 1,
        )
