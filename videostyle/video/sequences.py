"""Image sequences: printf patterns (``shot_%04d.png``) and the numbered files of a sequence.

Frame numbers shown to users are **1-based** for videos; a sequence's frames carry the
number in their file names (``plate.1001.png`` is frame 1001).
"""

from __future__ import annotations

import re
from pathlib import Path

from videostyle.errors import InputError

from .images import IMAGE_SUFFIXES

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

    ``source`` is a directory (every ``png``/``jpg``/``jpeg``/``tif``/``tiff``/``exr``/``dpx``
    inside, hidden files excluded), a printf pattern such as ``shot_%04d.png``, or a single still
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
            f"expected image frames (png, jpg, tif, exr, dpx) in the {where}, but found none; "
            "check the path and the file endings"
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
