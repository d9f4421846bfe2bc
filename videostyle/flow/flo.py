"""Middlebury ``.flo`` files, resizing a flow, and the checks every flow function makes.

See :mod:`videostyle.flow` for the conventions (flow layout, frame numbers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from videostyle.atomic import write_bytes
from videostyle.errors import DiskFull, FlowError, InputError

_FLO_MAGIC = b"PIEH"  # the float32 202021.25, little endian
_FLO_HEADER_BYTES = 12
_FLO_MAX_SIDE = 1 << 16


def read_flo(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a Middlebury ``.flo`` file.

    Layout: the bytes ``PIEH`` (float32 202021.25), int32 width, int32 height,
    then ``height * width`` interleaved ``(u, v)`` float32 pairs, row-major, all
    little endian.

    Returns:
        ``(H, W, 2)`` float32 flow (see the conventions of :mod:`videostyle.flow`).

    Raises:
        FlowError: the file is missing, unreadable, or malformed (bad magic,
            impossible size, truncated or with trailing bytes).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FlowError(
            f"Cannot read flow file {path}: {exc.strerror or exc}. "
            "Expected an existing, readable Middlebury .flo file."
        ) from exc
    width, height = _check_header(path, data[:_FLO_HEADER_BYTES], len(data))
    flow = np.frombuffer(data, dtype="<f4", offset=_FLO_HEADER_BYTES)
    return flow.reshape(height, width, 2).astype(np.float32)  # (H, W, 2), a writable copy


def flo_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(width, height)`` of a ``.flo`` file, read from its header; its length is checked.

    Cheap (12 bytes read): what a render checks of every flow file before any work.

    Raises:
        FlowError: as :func:`read_flo`, for a missing, malformed or truncated file.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(_FLO_HEADER_BYTES)
        length = path.stat().st_size
    except OSError as exc:
        raise FlowError(
            f"Cannot read flow file {path}: {exc.strerror or exc}. "
            "Expected an existing, readable Middlebury .flo file."
        ) from exc
    return _check_header(path, head, length)


def _check_header(path: Path, head: bytes, length: int) -> tuple[int, int]:
    """The declared ``(width, height)`` of a .flo file of ``length`` bytes starting ``head``."""
    data = head
    if length < _FLO_HEADER_BYTES:
        raise FlowError(
            f"Flow file {path} is {length} bytes long; a .flo file has a "
            f"{_FLO_HEADER_BYTES}-byte header. The file is truncated: recompute or re-copy it."
        )
    magic = data[:4]
    if magic != _FLO_MAGIC:
        raise FlowError(
            f"Flow file {path} starts with {magic!r}, expected {_FLO_MAGIC!r} "
            "(float 202021.25): it is not a Middlebury .flo file or was written big-endian."
        )
    width, height = (int(s) for s in np.frombuffer(data, dtype="<i4", count=2, offset=4))
    if not (0 < width <= _FLO_MAX_SIDE and 0 < height <= _FLO_MAX_SIDE):
        raise FlowError(
            f"Flow file {path} declares a {width}x{height} field; expected width and height "
            f"in 1..{_FLO_MAX_SIDE}. The header is corrupt: recompute the file."
        )
    expected = _FLO_HEADER_BYTES + width * height * 8
    if length != expected:
        what = "truncated" if length < expected else "followed by extra bytes"
        raise FlowError(
            f"Flow file {path} is {length} bytes, expected {expected} for its declared "
            f"{width}x{height} field: it is {what}. Recompute or re-copy it."
        )
    return width, height


def write_flo(path: str | os.PathLike[str], flow: np.ndarray) -> None:
    """Write ``flow`` ``(H, W, 2)`` to ``path`` as a Middlebury ``.flo`` file, atomically.

    Written with :func:`write_atomically`, so a reader sees either the old file or the
    complete new one.

    Raises:
        FlowError: ``flow`` is not an ``(H, W, 2)`` array, or the file cannot be written.
    """
    path = Path(path)
    flow = check_flow(flow, "flow")
    header = _FLO_MAGIC + np.array(flow.shape[1::-1], dtype="<i4").tobytes()  # width, height
    payload = np.ascontiguousarray(flow, dtype="<f4").tobytes()
    write_atomically(path, header + payload, what="flow file")


def write_atomically(path: Path, data: bytes, *, what: str) -> None:
    """:func:`videostyle.atomic.write_bytes` for the flow stage's files.

    Raises:
        FlowError: the file cannot be written (the error of every flow file).
    """
    try:
        write_bytes(path, data, what=what)
    except DiskFull:
        raise  # a full disk is the disk's error, not the flow's
    except InputError as exc:
        raise FlowError(str(exc)) from exc


def check_flow(flow: Any, what: str) -> np.ndarray:
    """Return ``flow`` as a float32 ``(H, W, 2)`` array or raise FlowError."""
    if not isinstance(flow, np.ndarray):
        raise FlowError(f"{what} must be a numpy array of shape (H, W, 2), got {type(flow)}.")
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.shape[0] < 1 or flow.shape[1] < 1:
        raise FlowError(f"{what} must have shape (H, W, 2), got {flow.shape}.")
    return flow.astype(np.float32, copy=False)


def describe_shape(obj: Any) -> str:
    """``obj``'s shape for an error message, or its type's name when it has none."""
    return str(tuple(obj.shape)) if hasattr(obj, "shape") else type(obj).__name__


def resize_flow(flow: np.ndarray, *, width: int, height: int) -> np.ndarray:
    """Resample ``flow`` ``(H, W, 2)`` to ``(height, width, 2)``, scaling the vectors.

    ``u`` is multiplied by ``width / W`` and ``v`` by ``height / H`` so the result
    is a valid flow between the frames resized to ``width x height``.
    """
    flow = check_flow(flow, "flow")
    if width < 1 or height < 1:
        raise InputError(f"Flow size must be positive, got {width}x{height}.")
    h, w = flow.shape[:2]
    if (h, w) == (height, width):
        return flow.copy()
    out = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= width / w
    out[..., 1] *= height / h
    return out
