"""What an output may be: the codecs and their containers, and the checks of an output
made before any work (a writable place, a known format, not one of the inputs).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from videostyle.errors import InputError

from .sequences import _pattern_regex, is_sequence_pattern

#: Video codecs :func:`encode_video` can write.
CODECS = ("h264", "prores", "ffv1", "prores4444", "prores4444xq")

#: Codecs whose video holds an alpha channel.
ALPHA_CODECS = ("prores4444", "prores4444xq")

# Containers each codec may be written into (by output file ending).
_CONTAINERS: dict[str, dict[str, str]] = {
    "h264": {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"},
    "prores": {".mov": "mov"},
    "ffv1": {".mkv": "matroska", ".mov": "mov"},
    "prores4444": {".mov": "mov"},
    "prores4444xq": {".mov": "mov"},
}

#: What an output file name may end in: a video container, or an image sequence pattern.
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv")

SEQUENCE_OUTPUT_SUFFIXES = (".png", ".tif", ".tiff", ".exr")


def check_output(output: Path, codec: str | None = None) -> None:
    """Refuse an output this stage cannot write, before any frame is decoded.

    ``output`` is a video file (``codec`` one of :data:`CODECS`, default h264, in a
    container that codec goes in: see :func:`encode_video`) or an image sequence pattern
    (``out_%04d.png``, PNG, TIFF or EXR; ``codec`` must then be None). Its folder must exist
    and be writable.
    """
    output = Path(output)
    if output.is_dir():
        raise InputError(f"the output {output} is a folder; give a file name such as out.mp4")
    if is_sequence_pattern(str(output)):
        if output.suffix.lower() not in SEQUENCE_OUTPUT_SUFFIXES:
            raise InputError(
                f"an output sequence is written as PNG, TIFF or EXR, not "
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


def check_output_is_not_input(output: Path, *, source: Path, inputs: Sequence[Path] = ()) -> None:
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
            clash = (
                path.parent.is_dir()
                and _same_file(folder, path.parent)
                and bool(_pattern_regex(path.name).fullmatch(_sequence_files_of(output).name))
            )
        else:
            clash = (
                path.is_file()
                and _same_file(folder, path.parent)
                and bool(regex.fullmatch(path.name))
            )
        if clash:
            raise InputError(
                f"the output sequence {output} would overwrite files of the input {path}; "
                "give the output another name or folder"
            )
