"""Which output files a run folder's renders wrote, so that no other file is ever replaced.

A render records every output file it writes (the video, or each file of an image
sequence) in its run folder's ``outputs.json``: the path (relative to the run folder) and
the sha256 of the bytes written. Before any work, an output that already exists is refused
unless that record holds it with the same sha256 (so a resume, a re-encode, a codec change
or a grown range rewrites its own output) or the user passed ``--overwrite``. A file edited
since the render wrote it no longer matches and counts as someone else's. An output that is an input
is refused by :func:`videostyle.video.check_output_is_not_input` whatever is given.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from .atomic import write_json
from .errors import InputError, opt
from .networks import sha256_file
from .video import is_sequence_pattern

#: The record's file name inside a run folder.
RECORD = "outputs.json"


def output_files(output: Path, frames: Sequence[int]) -> list[Path]:
    """The files a render of ``frames`` writes: ``output``, or one per frame of a pattern."""
    if is_sequence_pattern(str(output)):
        return [Path(str(output) % frame) for frame in frames]
    return [Path(output)]


def _key(path: Path, run_root: Path) -> str:
    """``path`` relative to the run folder (so a run folder moved with its output keeps it)."""
    return os.path.relpath(Path(path).absolute().resolve(), Path(run_root).absolute().resolve())


def recorded(run_root: Path) -> dict[str, str]:
    """``run_root``'s record: path (relative to it) -> sha256; empty when absent or damaged."""
    try:
        data = json.loads((Path(run_root) / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)}


def check_output_owned(
    output: Path, run_root: Path, frames: Sequence[int], *, overwrite: bool
) -> None:
    """Refuse an existing output file that the run folder did not record (unless
    ``overwrite``): it is someone else's, or was changed after the render wrote it."""
    if overwrite:
        return
    owned = recorded(run_root)
    for path in output_files(output, frames):
        if not path.exists() and not path.is_symlink():
            continue
        regular = path.is_file() and not path.is_symlink()
        if not regular or owned.get(_key(path, run_root)) != sha256_file(path):
            raise InputError(
                f"the output {path} exists and was not written by this render (its run folder "
                f"{run_root} holds no record of it, or it changed since); pass "
                f"{opt('overwrite')} to replace it, or write to another {opt('output')}"
            )


def record_output(run_root: Path, output: Path, frames: Sequence[int]) -> None:
    """Add the files just written for ``output`` to ``run_root``'s record (atomically)."""
    files = recorded(run_root)
    for path in output_files(output, frames):
        files[_key(path, run_root)] = sha256_file(path)
    write_json(Path(run_root) / RECORD, {"files": files}, what="output record")


def check_still_output(output: Path, *, overwrite: bool) -> None:
    """An output with no run folder to record it (``videostyle image``, ``videostyle flow``):
    any existing file there is refused unless ``overwrite``."""
    path = Path(output)
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise InputError(
            f"the output {path} exists; pass {opt('overwrite')} to replace it, or write to "
            f"another {opt('output')}"
        )
