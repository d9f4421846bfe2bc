"""Seeing and measuring temporal consistency.

* :func:`temporal_error`: the temporal error of a stylised video, with the optical flow
  computed on the *source* (or read from ``.flo`` files, e.g. ground truth): for every
  frame t > 1, with ``w`` the stylised frame t-1 warped into frame t by the flow t -> t-1
  and ``c`` the consistency weights of that flow (checked against the flow t-1 -> t):

  - the reference paper's form (Ruder et al. 2016, Sec. 5): ``mean(c * (x_t - w)^2)``
    over all pixels and channels, images in [0, 1];
  - the masked form: ``sum(c * (x_t - w)^2) / (C * sum(c))``, the mean squared change
    over the pixels the flow can follow.

* :func:`flow_frames`: side-by-side frame, flow (colour wheel) and consistency weights,
  for ``videostyle flow``.

Frames are numpy float32 ``(H, W, 3)`` RGB in [0, 1]; frame numbers are the source's,
1-based.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import flow as flowmod
from .errors import InputError, opt
from .video import SourceInfo, read_frames
from .video.images import same_shape


@dataclass(frozen=True)
class FrameError:
    """Temporal error between stylised frames ``frame - 1`` and ``frame``."""

    frame: int
    paper: float
    masked: float
    reliable: float  # mean of the consistency weights


@dataclass
class TemporalReport:
    """Per-frame temporal errors and their means."""

    frames: list[FrameError] = field(default_factory=list)
    flow: str = ""
    notes: list[str] = field(default_factory=list)  # how the frames were aligned

    @property
    def mean_paper(self) -> float:
        return float(np.mean([f.paper for f in self.frames])) if self.frames else float("nan")

    @property
    def mean_masked(self) -> float:
        """The mean over the pairs that have reliable pixels (NaN when none has)."""
        values = [f.masked for f in self.frames if np.isfinite(f.masked)]
        return float(np.mean(values)) if values else float("nan")

    def as_dict(self) -> dict[str, object]:
        """The report as JSON takes it: a figure that is not a number (a pair with no
        reliable pixel, such as a cut, has no masked error) is null."""
        return {
            "flow": self.flow,
            "mean_paper": _number(self.mean_paper),
            "mean_masked": _number(self.mean_masked),
            "frames": [{k: _number(v) if isinstance(v, float) else v
                        for k, v in f.__dict__.items()} for f in self.frames],
        }


def _number(value: float) -> float | None:
    return value if np.isfinite(value) else None


def pair_error(
    previous: np.ndarray,
    current: np.ndarray,
    flow_back: np.ndarray,
    flow_fwd: np.ndarray,
    *,
    warp: str = "bilinear",
) -> tuple[float, float, float]:
    """(paper, masked, mean weight) for stylised frames ``previous`` -> ``current``.

    ``flow_back`` is the flow current -> previous, ``flow_fwd`` previous -> current;
    ``warp`` the resampling of ``previous`` (bilinear, as in the paper).
    """
    c = flowmod.warp_weights(flow_back, flow_fwd)  # (H, W)
    warped = flowmod.warp(previous, flow_back, interpolation=warp)
    sq = (current.astype(np.float64) - warped) ** 2  # (H, W, 3)
    weighted = c[..., None] * sq
    paper = float(weighted.mean())
    total_c = float(c.sum())
    masked = float(weighted.sum() / (sq.shape[2] * total_c)) if total_c > 0 else float("nan")
    return paper, masked, float(c.mean())


FlowGetter = Callable[[int, int], np.ndarray]


def flow_getter(
    spec: str, frames: dict[int, np.ndarray], size: tuple[int, int]
) -> tuple[FlowGetter, str]:
    """Flow between source frames by estimator name, or from a folder of ``.flo`` files.

    ``frames`` maps source frame numbers to frames at ``size = (w, h)``; file flows are
    rescaled to that size.
    """
    source = flowmod.open_flow_source(spec, frame_loader=frames.__getitem__, size=size)
    return source.get, source.name


def default_start(stylized: SourceInfo, source: SourceInfo) -> int:
    """The source frame a stylised video's first frame shows when nobody says: a
    sequence's own first number where the source has that frame (a render numbers its
    output by the source's frames), else the source's first."""
    numbered = stylized.kind == "sequence" and source.first <= stylized.first <= source.last
    return stylized.first if numbered else source.first


def _aligned(
    stylized: SourceInfo, source: SourceInfo, start: int
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(source frame number, stylised frame, source frame at the stylised size)."""
    size = (stylized.width, stylized.height)
    end = start + stylized.n_frames - 1
    if stylized.n_frames < 2:
        raise InputError(
            f"{stylized.path} holds {stylized.n_frames} frame; the temporal error compares "
            "frames in pairs and needs at least two frames"
        )
    if not same_shape(size, (source.width, source.height)):
        raise InputError(
            f"the stylised video is {size[0]}x{size[1]} but the source is {source.width}x"
            f"{source.height} (another aspect ratio); give the source it was rendered from"
        )
    if not source.first <= start <= source.last or end > source.last:
        raise InputError(
            f"the stylised video has {stylized.n_frames} frames but the source has "
            f"{max(0, source.last - start + 1)} from frame {start} (its frames are "
            f"{source.first}..{source.last}); pass {opt('start')} to align them"
        )
    ours = read_frames(stylized)
    theirs = read_frames(source, start=start, end=end, size=size)
    try:
        for (_, x), (number, y) in zip(ours, theirs, strict=True):
            yield number, x, y
    finally:
        ours.close()
        theirs.close()


def temporal_error(
    stylized: SourceInfo,
    source: SourceInfo,
    *,
    flow: str = flowmod.DEFAULT_ESTIMATOR,
    start: int | None = None,
    warp: str = "bilinear",
) -> TemporalReport:
    """Temporal error of ``stylized`` with flow computed on ``source`` (or read from files).

    The stylised frame k (1-based) is aligned with source frame number ``start + k - 1``
    (``start`` default: a stylised sequence's own first number where the source has that
    frame, else the source's first frame number: see :func:`default_start`);
    ``warp`` is the resampling kernel of :func:`pair_error`.
    """
    report = TemporalReport()
    if start is None:
        start = default_start(stylized, source)
        if start != source.first:
            report.notes.append(
                f"aligned by the stylised sequence's own numbers: its first frame is source "
                f"frame {start}; pass {opt('start')} to align it otherwise")
    size = (stylized.width, stylized.height)
    kept: dict[int, np.ndarray] = {}
    getter: FlowGetter | None = None
    previous: tuple[int, np.ndarray] | None = None
    for number, x, y in _aligned(stylized, source, start):
        kept[number] = y
        if getter is None:
            getter, report.flow = flow_getter(flow, kept, size)
        if previous is not None:
            prev_number, prev_x = previous
            paper, masked, reliable = pair_error(
                prev_x, x, getter(number, prev_number), getter(prev_number, number), warp=warp
            )
            report.frames.append(FrameError(number, paper, masked, reliable))
            kept.pop(prev_number - 1, None)
        previous = (number, x)
    return report


def flow_frames(
    source: SourceInfo,
    *,
    flow: str = flowmod.DEFAULT_ESTIMATOR,
    size: tuple[int, int] | None = None,
    start: int | None = None,
    end: int | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Side-by-side panels ``[frame | flow t -> t-1 | weights]`` for frames after ``start``.

    Yields ``(frame number, (H, 3W, 3) float32 RGB)``.
    """
    size = size or (source.width, source.height)
    kept: dict[int, np.ndarray] = {}
    getter: FlowGetter | None = None
    previous: int | None = None
    frames = read_frames(source, start=start, end=end, size=size)
    try:
        for number, frame in frames:
            kept[number] = frame
            if getter is None:
                getter, _ = flow_getter(flow, kept, size)
            if previous is not None:
                back, fwd = getter(number, previous), getter(previous, number)
                colour = flowmod.flow_to_color(back).astype(np.float32) / 255.0
                weights = flowmod.warp_weights(back, fwd)
                grey = np.repeat(weights[..., None], 3, axis=2).astype(np.float32)
                yield number, np.concatenate([frame, colour, grey], axis=1)
                kept.pop(previous - 1, None)
            previous = number
    finally:
        frames.close()


def write_panels(panels: Iterator[tuple[int, np.ndarray]], folder: Path) -> list[Path]:
    """Store panels as 8-bit PNGs in ``folder``; returns their paths in order."""
    from .video import write_image

    paths = []
    for number, panel in panels:
        path = folder / f"{number:06d}.png"
        write_image(path, panel)
        paths.append(path)
    return paths
