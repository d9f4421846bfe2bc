"""Reading a source's frames as plates: RGB values as stored, and the alpha channel.

Unlike :func:`~videostyle.video.read_frames` (display-referred RGB in ``[0, 1]``), a plate
keeps what colour management needs: an EXR's scene-linear values above 1.0 and below 0,
and the alpha channel in its stored type at the plate's own size (never resized here, so
it can be carried to the output bit for bit).
"""

from __future__ import annotations

import subprocess
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .decode import _read_exact, check_range, read_frames
from .exr import Window, read_exr, window_and_channels
from .ffmpeg import _ff_path, _started, _wait_ok, ffmpeg_exe
from .images import _imread_raw, _resize, _to_float_rgb, read_alpha
from .probe import SourceInfo
from .sequences import list_sequence


@dataclass(frozen=True)
class Plate:
    """One source frame: ``rgb`` float32 ``(h, w, 3)`` at the render size, as stored (an
    integer image scaled to ``[0, 1]``); ``alpha`` ``(H, W)`` at the source's size in its
    stored type, or None."""

    number: int
    rgb: np.ndarray
    alpha: np.ndarray | None


def read_plates(
    info: SourceInfo, *, start: int, end: int, size: tuple[int, int]
) -> Generator[Plate, None, None]:
    """Yield the plates of frames ``start..end`` (inclusive), RGB resized to ``size``.

    A video yields its frames as :func:`read_frames` decodes them; one whose pixel format
    has alpha (ProRes 4444, ``yuva*``, ``rgba``, ...) is decoded at 16 bits with its alpha
    (``uint16``).
    """
    first, last = check_range(info, start, end)
    if info.kind == "video" and info.alpha:
        yield from _read_video_rgba(info, first, last, size)
        return
    if info.kind == "video":
        for number, frame in read_frames(info, start=first, end=last, size=size):
            yield Plate(number, frame, None)
        return
    files = list_sequence(info.path)
    for number in range(first, last + 1):
        file = files[number - info.first]
        if file.suffix.lower() == ".exr":
            rgb, alpha, stored = read_exr(file)
            _check_window(info, number, file, stored.data_window)
        else:
            raw = _imread_raw(file)
            rgb = _to_float_rgb(raw) if raw.dtype != np.float32 else raw[..., ::-1]
            alpha = read_alpha(file) if info.alpha else None
        yield Plate(number, _resize(np.ascontiguousarray(rgb, np.float32), size), alpha)


def check_sequence(info: SourceInfo, start: int, end: int) -> int | None:
    """Before any work, in one pass over the headers of frames ``start..end``: every EXR
    frame has the first frame's data window (InputError naming one that has not; its
    pixels are placed by it, and :func:`read_plates` checks each frame it reads again).
    Returns the first frame with an alpha channel in a sequence whose first frame has none
    (so none is carried), from EXR headers and PNG ``IHDR`` chunks; else None."""
    if info.kind != "sequence" or (info.alpha and info.exr is None):
        return None
    files = list_sequence(info.path)
    later = None
    for number in range(start, end + 1):
        file = files[number - info.first]
        if info.exr is not None:
            window, channels = window_and_channels(file)
            _check_window(info, number, file, window)
            alpha = info.exr.prefix + "A" in channels
        elif file.suffix.lower() == ".png":
            with file.open("rb") as handle:
                head = handle.read(26)
            alpha = head[12:16] == b"IHDR" and len(head) == 26 and head[25] in (4, 6)
        else:
            alpha = False
        if alpha and later is None and not info.alpha:
            later = number
            if info.exr is None:  # nothing else to check
                break
    return later


def _check_window(info: SourceInfo, number: int, file: Path, window: Window) -> None:
    """An EXR frame's data window is the first frame's (its pixels are placed by it)."""
    if info.exr is not None and window != info.exr.data_window:
        raise InputError(
            f"frame {number} ({file.name}) has the data window {window}, the first frame "
            f"{info.exr.data_window}; the frames of a sequence are rendered in one frame "
            "of pixels: write the plates with one data window (their display window, or "
            "the union of their data windows)"
        )


def _read_video_rgba(
    info: SourceInfo, first: int, last: int, size: tuple[int, int]
) -> Generator[Plate, None, None]:
    """Frames ``first..last`` of a video with alpha, through one ffmpeg pipe (rgba64le)."""
    width, height = info.width, info.height
    frame_bytes = width * height * 8
    filters = f"trim=start_frame={first - 1}:end_frame={last},scale={width}:{height}:flags=area"
    cmd = [
        ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error",
        "-i", _ff_path(info.path), "-map", "0:V:0", "-an", "-sn", "-dn", "-vf", filters,
        "-fps_mode", "passthrough", "-frames:v", str(last - first + 1),
        "-f", "rawvideo", "-pix_fmt", "rgba64le", "pipe:1",
    ]  # fmt: skip
    with _started(cmd, stdout=subprocess.PIPE, bufsize=max(frame_bytes, 1 << 16)) as (
        proc, errfile,
    ):
        assert proc.stdout is not None
        for number in range(first, last + 1):
            buffer = _read_exact(proc.stdout, frame_bytes)
            if len(buffer) < frame_bytes:
                break
            raw = np.frombuffer(buffer, dtype="<u2").reshape(height, width, 4)
            rgb = raw[..., :3].astype(np.float32) / 65535.0
            yield Plate(number, _resize(rgb, size), np.ascontiguousarray(raw[..., 3]))
        _wait_ok(proc, errfile, f"decode frames {first}..{last} of {info.path}")
