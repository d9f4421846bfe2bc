"""What ffmpeg says about a file's streams: its stderr summary of an input, parsed.

There is no ffprobe: ``ffmpeg -i FILE`` prints a summary of the input's streams (codec,
pixel format, size, nominal rate, rotation) on stderr, which is read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from videostyle.errors import InputError

from .ffmpeg import _ff_path, _ffmpeg_message, _run_capture


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


def _first_audio(path: Path) -> _Stream | None:
    """A media file's first audio stream, or None."""
    return next((s for s in _inspect(path) if s.kind == "Audio"), None)


_DEEP_AUDIO = re.compile(r"\((?:2[0-9]|3[0-2]) bit\)|\bpcm_(?:s24|s32|f32|f64)")


def _deep_audio(stream: _Stream) -> bool:
    """Whether an audio stream is PCM of more than 16 bits a sample (24/32-bit or float
    PCM; a compressed stream such as AAC, decoded to float, is not)."""
    return _DEEP_AUDIO.search(stream.text) is not None
