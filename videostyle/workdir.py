"""The run folder: manifest, decoded source frames, finished frames, flow cache, resume.

Layout of a run folder (default: the output's name without extension + ``.videostyle/``)::

    manifest.json          settings that affect pixels, the source's fingerprint,
                           weights id, package version, environment
    content/000001.png     source frames at the render size (1-based source numbers)
    frames/000001.png      finished stylised frames, 16-bit PNG (lossless)
    frames/000001.json     the frame's sha256, time and losses: written last, so a
                           frame counts as done only once both files are complete
    flow/                  optical flow cache (``forward_i_j.flo``, ``backward_j_i.flo``)
    passes/                multi-pass intermediate frames
    outputs.json           the outputs written, with their sha256 (:mod:`videostyle.ownership`)
    lock                   held (flock) by the render working in the folder: its pid, host
    log.jsonl              what the renders recovered from (videostyle.runlog)
    chunks/START-END/      a chunked render's chunks (``--chunks``), each a run folder
                           of its own (:mod:`videostyle.chunked`)

Every file is written with :func:`videostyle.atomic.write_bytes` (temporary name, flush,
fsync, rename, fsync of the folder): a crash or power cut at any instant leaves either the
old file or the new one, never a torn one. A frame whose PNG
is missing, truncated or fails its recorded sha256 is not done and is computed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import faults
from .atomic import fsync_folder, write_bytes, write_json
from .errors import InputError, ResumeError, opt
from .runlog import LOG_NAME

MANIFEST = "manifest.json"
CHUNKS = "chunks"  # a chunked render's chunks, each a run folder (videostyle.chunked)
FORMAT_VERSION = 1


def chunk_folder(root: Path, start: int, end: int) -> Path:
    """The run folder of the chunk of frames ``start..end`` of the run folder ``root``."""
    return Path(root) / CHUNKS / f"{start}-{end}"


def png16(image: np.ndarray) -> bytes:
    """Encode ``(H, W, 3)`` float RGB ``[0, 1]`` as a 16-bit PNG (what frames are stored as)."""
    q = np.rint(np.clip(image, 0.0, 1.0) * 65535.0).astype(np.uint16)
    ok, data = cv2.imencode(".png", np.ascontiguousarray(q[..., ::-1]))
    if not ok:
        raise InputError("could not encode a frame as PNG")
    return data.tobytes()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class FrameRecord:
    """What is stored beside a finished frame.

    ``iterations``: at the frame's size; ``scales``: ``[width, height, iterations]`` of
    every scale the frame was optimised at, coarsest first (coarse-to-fine), its size last.
    """

    frame: int
    sha256: str
    seconds: float
    iterations: int
    losses: dict[str, float]
    scales: list[list[int]] = field(default_factory=list)


def default_workdir(output: Path) -> Path:
    """``out.mp4`` -> ``out.videostyle``; ``shot_%04d.png`` -> ``shot.videostyle``.

    The extension is left out so that a change of container (``out.mp4`` -> ``out.mov``
    with ``--codec prores``) finds the same run folder and only re-encodes.
    """
    name = output.name
    if "%" in name:
        name = name.split("%", 1)[0].rstrip("_-.") or "frames"
    else:
        name = output.stem or name
    return output.with_name(name + ".videostyle")


class RunFolder:
    """A render's run folder. Creating one does not touch the disk; :meth:`open` does."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.content_dir = self.root / "content"
        self.frames_dir = self.root / "frames"
        self.flow_dir = self.root / "flow"
        self.passes_dir = self.root / "passes"

    def owned(self) -> list[Path]:
        """The folder, then what :meth:`clear` removes: no input may be any of them."""
        return [self.root, self.content_dir, self.frames_dir, self.flow_dir, self.passes_dir,
                self.manifest_path]

    # ---- manifest ----------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def read_manifest(self) -> dict[str, Any]:
        try:
            data = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise InputError(
                f"{self.root} is not a run folder (no {MANIFEST}); give the output path or "
                "the run folder of a render"
            ) from None
        except (OSError, json.JSONDecodeError) as exc:
            raise ResumeError(
                f"the manifest {self.manifest_path} is unreadable ({exc}); fix: {opt('restart')}"
            ) from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            raise ResumeError(
                f"{self.manifest_path} was written by another version of videostyle; "
                f"fix: {opt('restart')}"
            )
        problem = manifest_problem(data)
        if problem:
            raise ResumeError(
                f"the manifest {self.manifest_path} is damaged or was edited ({problem}); "
                f"fix: {opt('restart')}"
            )
        return data

    def open(
        self, manifest: dict[str, Any], *, restart: bool = False, range_may_change: bool = False
    ) -> list[str]:
        """Create the folder or check that it holds the same render; returns warnings.

        ``manifest["pixels"]`` holds every setting that affects pixels: a difference there
        refuses to resume (naming the settings) unless ``restart``, which clears the folder's
        frames first. ``manifest["environment"]`` (device, threads, torch) only warns.
        With ``range_may_change`` (a chained single-pass render, whose frames depend only
        on earlier ones) the end of ``pixels["frames"]`` may differ: the frames already
        rendered are kept, and a longer range continues after them.
        """
        warnings: list[str] = []
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the run folder {self.root}: {exc}") from exc
        if not os.access(self.root, os.W_OK):
            raise InputError(f"the run folder {self.root} is not writable")
        self.check_parts()
        # Compare in JSON form (tuples become lists) against what the folder holds.
        manifest = json.loads(json.dumps({"format": FORMAT_VERSION, **manifest}))
        if self.exists() and not restart:
            old = self.read_manifest()
            changed = diff_settings(old.get("pixels", {}), manifest["pixels"])
            if changed == ["frames"] and range_may_change:
                old_range, new_range = old["pixels"]["frames"], manifest["pixels"]["frames"]
                if isinstance(old_range, list) and old_range[:1] == new_range[:1]:
                    changed = []
            if changed:
                raise ResumeError(
                    f"{self.root} holds a render with other settings ({', '.join(changed)} "
                    f"differ); run the same command to resume it, or add {opt('restart')} to start "
                    f"over (or {opt('workdir')} to render elsewhere)"
                )
            env_changed = diff_settings(old.get("environment", {}), manifest["environment"])
            if env_changed:
                warnings.append(
                    f"resuming with a different {', '.join(env_changed)} than the frames "
                    "already rendered: the last bits of new frames may differ"
                )
        elif restart:
            self.clear()
        write_json(self.manifest_path, manifest, what="manifest")
        for folder in (self.content_dir, self.frames_dir, self.flow_dir):
            folder.mkdir(exist_ok=True)
        fsync_folder(self.root)  # the new folders' entries, durable before files go in
        fsync_folder(self.root.parent)
        return warnings

    def check_parts(self) -> None:
        """Refuse a run folder whose parts are links: a render writes, and ``--restart``
        clears, only inside its folder, never where a link points."""
        for part in self.owned()[1:]:
            if part.is_symlink():
                raise ResumeError(
                    f"{part} is a link (to {os.readlink(part)}); a run folder's files must lie "
                    f"inside it: remove the link, or render with {opt('workdir')} elsewhere"
                )

    def clear(self) -> None:
        """Remove everything this folder's renders wrote (used by --restart)."""
        for folder in (self.frames_dir, self.flow_dir, self.passes_dir, self.content_dir):
            if folder.is_dir():
                for path in sorted(folder.rglob("*"), reverse=True):
                    if path.is_dir():
                        path.rmdir()
                    else:
                        path.unlink()
                folder.rmdir()
        self.manifest_path.unlink(missing_ok=True)
        (self.root / LOG_NAME).unlink(missing_ok=True)
        shutil.rmtree(self.root / CHUNKS, ignore_errors=True)  # a chunked render's chunks

    # ---- frames ------------------------------------------------------------------------
    def content_path(self, frame: int) -> Path:
        return self.content_dir / f"{frame:06d}.png"

    def frame_path(self, frame: int) -> Path:
        return self.frames_dir / f"{frame:06d}.png"

    def record_path(self, frame: int) -> Path:
        return self.frames_dir / f"{frame:06d}.json"

    def pass_path(self, pass_index: int, frame: int) -> Path:
        return self.passes_dir / f"pass{pass_index:03d}" / f"{frame:06d}.png"

    def commit_frame(self, frame: int, png: bytes, record: FrameRecord) -> None:
        """Store a finished frame: the PNG first, then its record (which marks it done)."""
        self.commit(self.frame_path(frame), self.record_path(frame), png, record)

    @staticmethod
    def commit(png_path: Path, record_path: Path, png: bytes, record: FrameRecord) -> None:
        """Write ``png`` then its ``record``, each atomically: the record marks it done."""
        write_bytes(png_path, png, what="frame")
        faults.point("frame-before-record")  # a kill here (tests) leaves a PNG with no record
        write_json(record_path, record.__dict__, what="frame record")

    @staticmethod
    def is_committed(png_path: Path, record_path: Path) -> bool:
        """True when ``png_path`` exists and matches the sha256 in ``record_path``."""
        if png_path.is_symlink() or record_path.is_symlink():
            return False  # a link may point outside the run folder: computed again
        try:
            record = json.loads(record_path.read_text())
            return sha256_bytes(png_path.read_bytes()) == record["sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def frame_record(self, frame: int) -> FrameRecord | None:
        """The record of a finished frame, or None when missing or unreadable."""
        try:
            data = json.loads(self.record_path(frame).read_text())
            record = FrameRecord(**data)
        except (OSError, ValueError, TypeError):
            return None
        numbers = (record.seconds, record.iterations)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
            return None  # edited by hand: its time and iterations are not numbers
        return record

    def is_done(self, frame: int) -> bool:
        """True when the frame's PNG exists and matches the sha256 in its record."""
        return self.is_committed(self.frame_path(frame), self.record_path(frame))

    def done_frames(self, frames: Iterable[int]) -> list[int]:
        return [f for f in frames if self.is_done(f)]

    def records(self, frames: Iterable[int]) -> list[FrameRecord]:
        out = []
        for f in frames:
            rec = self.frame_record(f)
            if rec is not None:
                out.append(rec)
        return out


def diff_settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Names of the keys whose values differ (also keys present on one side only)."""
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def manifest_problem(data: Mapping[str, Any]) -> str | None:
    """What is wrong with the shape of a manifest's ``pixels`` and ``environment``, or None.

    ``pixels`` must be a mapping whose ``frames`` is ``[start, end]`` (integers, start <=
    end); ``environment`` a mapping when present.
    """
    pixels = data.get("pixels")
    if not isinstance(pixels, Mapping):
        return "its pixels entry is not a mapping"
    frames = pixels.get("frames")
    if (not isinstance(frames, list) or len(frames) != 2
            or not all(isinstance(f, int) and not isinstance(f, bool) for f in frames)
            or frames[0] > frames[1]):
        return f"its frame range is {frames!r}, not [start, end]"
    if not isinstance(data.get("environment", {}), Mapping):
        return "its environment entry is not a mapping"
    return None
