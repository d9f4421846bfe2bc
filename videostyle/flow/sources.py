"""Flow sources: the flow between two frames of the source, addressed by frame number.

:class:`FileFlow` reads the reference's precomputed ``.flo`` files (:class:`FolderFlow`
rescales them to the render size), :class:`FlowCache` computes flows with a
:class:`~videostyle.flow.estimators.FlowEstimator` and keeps them as ``.flo`` files in
the run folder, :class:`FlowPrefetcher` computes scheduled pairs on a background thread
so the optimiser does not wait, and :class:`EstimatedFlow` computes them on demand
without storing them. :func:`open_flow_source` makes the right one for a ``--flow``
value: an estimator name or a folder of ``.flo`` files.
"""

from __future__ import annotations

import logging
import operator
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

import numpy as np

from videostyle.errors import DiskFull, FlowError, InputError, ResumeError

from .estimators import REGISTRY, FlowEstimator, make_estimator
from .flo import describe_shape, flo_size, read_flo, resize_flow, write_atomically, write_flo

logger = logging.getLogger(__name__)


class FlowSource(Protocol):
    """Flow between two frames of the source video, addressed by 1-based frame numbers."""

    def get(self, a: int, b: int) -> np.ndarray:
        """The ``(H, W, 2)`` flow from frame ``a`` to frame ``b``."""
        ...


def flow_filename(a: int, b: int) -> str:
    """The reference's file name for the flow from frame ``a`` to frame ``b``.

    ``forward_a_b.flo`` when ``a < b``, ``backward_a_b.flo`` when ``a > b``.
    """
    try:
        a, b = operator.index(a), operator.index(b)
    except TypeError:
        raise FlowError(f"Frame numbers must be integers, got {a!r} and {b!r}.") from None
    if a < 0 or b < 0 or a == b:
        raise FlowError(f"A flow needs two different frame numbers >= 0, got {a} -> {b}.")
    return f"{'forward' if a < b else 'backward'}_{a}_{b}.flo"


class FileFlow:
    """Precomputed flows read from ``directory``, named as by the reference's
    ``makeOptFlow.sh``: ``forward_i_j.flo`` (i -> j) and ``backward_j_i.flo`` (j -> i),
    with the source's frame numbers (a video's from 1; a sequence's from its file names,
    as ``makeOptFlow.sh`` names them when given the sequence's first number as its start
    frame).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise InputError(
                f"Flow folder {self.directory} does not exist. Expected a folder of "
                "forward_i_j.flo / backward_j_i.flo files (as makeOptFlow.sh writes them)."
            )

    def path(self, a: int, b: int) -> Path:
        return self.directory / flow_filename(a, b)

    def first_missing(self, pairs: Iterable[tuple[int, int]]) -> Path | None:
        """The file of the first pair that the folder lacks, or None when it has them all."""
        for a, b in pairs:
            path = self.path(a, b)
            if not path.is_file():
                return path
        return None

    def check(self, pairs: Iterable[tuple[int, int]], frame_size: tuple[int, int]) -> None:
        """Every file of ``pairs`` is a whole ``.flo`` (header and length) holding a field of
        the frames' shape: ``frame_size`` ``(w, h)`` at any scale (it is resized), within a
        pixel. Reads only the headers.

        Raises:
            FlowError: a malformed or truncated file, or a field of another shape.
        """
        w, h = frame_size
        for a, b in pairs:
            path = self.path(a, b)
            fw, fh = flo_size(path)
            if abs(h * fw / w - fh) > 1 and abs(w * fh / h - fw) > 1:  # the frame scaled
                raise FlowError(
                    f"Flow file {path} holds a {fw}x{fh} field, but the source frames are "
                    f"{w}x{h} (another shape); compute the flow on the source's frames"
                )

    def get(self, a: int, b: int) -> np.ndarray:
        path = self.path(a, b)
        if not path.is_file():
            raise FlowError(
                f"Flow file {path} for frames {a} -> {b} is missing. Compute it (e.g. with "
                "makeOptFlow.sh) or let an estimator compute flows instead of reading files."
            )
        return read_flo(path)


_IDENTITY_FILE = "estimator.txt"


class FlowCache:
    """Flows computed by ``estimator`` and kept as ``.flo`` files in ``directory``.

    Files are named as :func:`flow_filename`, so the folder is also readable by
    :class:`FileFlow`. A file already on disk is read instead of recomputed (a
    resumed run reuses them); an unreadable one is recomputed. ``directory`` records
    the estimator's name, and a cache made by another estimator is refused.

    Args:
        directory: the folder for the ``.flo`` files (created if needed).
        estimator: computes the flow between two frames.
        frame_loader: ``frame_loader(i)`` returns source frame ``i`` (1-based) as an
            ``(H, W, 3)`` RGB image; the last few frames are kept in memory. With a
            :class:`FlowPrefetcher` it is also called from the background thread.
        frames_kept: how many loaded frames to keep for reuse.

    Thread-safe: several threads may call :meth:`get` at once.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        estimator: FlowEstimator,
        frame_loader: Callable[[int], np.ndarray],
        *,
        frames_kept: int = 4,
    ) -> None:
        self.directory = Path(directory)
        self.estimator = estimator
        self.frame_loader = frame_loader
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._frames_kept = max(frames_kept, 2)
        self._lock = threading.Lock()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FlowError(f"Cannot create flow folder {self.directory}: {exc}") from exc
        self._check_identity()

    def _check_identity(self) -> None:
        marker = self.directory / _IDENTITY_FILE
        name = str(self.estimator.name)
        if marker.is_file():
            stored = marker.read_text(encoding="utf-8").strip()
            if stored != name:
                raise ResumeError(
                    f"Flow folder {self.directory} holds flows computed with {stored!r}, but "
                    f"{name!r} was requested. Use the same estimator to resume, or delete "
                    "the folder to recompute."
                )
        else:
            write_atomically(marker, (name + "\n").encode("utf-8"), what="flow folder's record")

    def path(self, a: int, b: int) -> Path:
        """Where the flow ``a -> b`` is stored."""
        return self.directory / flow_filename(a, b)

    def has(self, a: int, b: int) -> bool:
        """Whether the flow ``a -> b`` is on disk."""
        return self.path(a, b).is_file()

    def get(self, a: int, b: int) -> np.ndarray:
        """The ``(H, W, 2)`` flow from frame ``a`` to frame ``b``: from disk, else computed."""
        path = self.path(a, b)
        if path.is_file():
            try:
                return read_flo(path)
            except FlowError as exc:
                logger.warning("Recomputing unreadable cached flow: %s", exc)
        return self.compute(a, b)

    def compute(self, a: int, b: int) -> np.ndarray:
        """Compute the flow ``a -> b`` with the estimator and store it (atomically)."""
        path = self.path(a, b)
        frame_a, frame_b = self._frame(a), self._frame(b)
        start = time.perf_counter()
        flow = self.estimator(frame_a, frame_b)
        expected = (*frame_a.shape[:2], 2)
        if not isinstance(flow, np.ndarray) or flow.shape != expected:
            raise FlowError(
                f"Estimator {self.estimator.name} returned {describe_shape(flow)} for frames "
                f"{a} -> {b}; "
                f"expected a {expected} array."
            )
        flow = flow.astype(np.float32, copy=False)
        write_flo(path, flow)
        logger.debug("flow %d -> %d (%s) in %.3f s", a, b, self.estimator.name,
                     time.perf_counter() - start)
        return flow

    def _frame(self, index: int) -> np.ndarray:
        with self._lock:
            frame = self._frames.get(index)
            if frame is not None:
                self._frames.move_to_end(index)
                return frame
        frame = self.frame_loader(index)
        if not isinstance(frame, np.ndarray):
            raise FlowError(f"frame_loader({index}) returned {type(frame)}, expected an array.")
        with self._lock:
            self._frames[index] = frame
            while len(self._frames) > self._frames_kept:
                self._frames.popitem(last=False)
        return frame


class FlowPrefetcher:
    """Computes scheduled flows of a :class:`FlowCache` on background threads.

    It is itself a :class:`FlowSource`.

    ``schedule`` queues frame pairs (in order); pairs already on disk are skipped.
    ``get`` returns a pair's flow: it waits for the background computation if it is
    running, re-raising its exception, computes the pair itself if it is still
    queued, and otherwise reads the file. Results live on disk, not in memory, so
    scheduling a whole video ahead is fine. Use as a context manager, or call
    :meth:`close`, which drops queued pairs and waits for the running one.

    Args:
        cache: where flows are computed and stored.
        workers: background threads (1 keeps the CPU free for the optimiser).
    """

    def __init__(self, cache: FlowCache, *, workers: int = 1) -> None:
        if workers < 1:
            raise InputError(f"workers must be at least 1, got {workers}.")
        self.cache = cache
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flow")
        self._futures: dict[tuple[int, int], Future[None]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def schedule(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Queue ``(a, b)`` pairs (flow a -> b) for background computation."""
        with self._lock:
            if self._closed:
                raise FlowError("Cannot schedule flows on a closed FlowPrefetcher.")
            for a, b in pairs:
                pair = (int(a), int(b))
                if pair in self._futures or self.cache.has(*pair):
                    continue
                self._futures[pair] = self._pool.submit(self._work, pair)

    def _work(self, pair: tuple[int, int]) -> None:
        if not self.cache.has(*pair):
            self.cache.compute(*pair)

    @property
    def name(self) -> str:
        """The estimator's name: what computes these flows."""
        return str(self.cache.estimator.name)

    def pending(self) -> int:
        """How many scheduled pairs are not finished yet."""
        with self._lock:
            return sum(not f.done() for f in self._futures.values())

    def get(self, a: int, b: int) -> np.ndarray:
        """The ``(H, W, 2)`` flow from frame ``a`` to frame ``b``."""
        with self._lock:
            future = self._futures.pop((a, b), None)
        if future is not None and not future.cancel():
            future.result()  # waits for the worker; re-raises its exception
        return self.cache.get(a, b)

    def close(self) -> None:
        """Drop queued pairs, wait for the running ones, stop the threads. Idempotent."""
        with self._lock:
            self._closed = True
            futures = list(self._futures.values())
            for future in futures:
                future.cancel()  # only queued ones can be cancelled
        self._pool.shutdown(wait=True)
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                # a full disk stops the render with its own message; these are computed
                # again when it resumes
                quiet = isinstance(future.exception(), DiskFull)
                logger.log(logging.DEBUG if quiet else logging.WARNING,
                           "A scheduled flow that was never read failed: %s",
                           future.exception())
        with self._lock:
            self._futures.clear()

    def __enter__(self) -> FlowPrefetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _NothingToRelease:
    """The context-manager methods of a source that holds no thread or file."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class FolderFlow(_NothingToRelease):
    """A :class:`FileFlow` rescaled to ``size`` and usable as a context manager.

    Flows stored at another resolution (usually the source's) are rescaled to ``size``
    ``(width, height)``, vectors included; with ``size`` None they are returned as stored.
    ``name`` says where the flows come from (default ``files:<folder>``).
    """

    def __init__(
        self, files: FileFlow, size: tuple[int, int] | None = None, *, name: str | None = None
    ) -> None:
        self.files = files
        self.size = size
        self.name = f"files:{files.directory}" if name is None else name

    def get(self, a: int, b: int) -> np.ndarray:
        """The ``(H, W, 2)`` flow from frame ``a`` to frame ``b``, at ``size``."""
        flow = self.files.get(a, b)
        if self.size is not None and (flow.shape[1], flow.shape[0]) != self.size:
            flow = resize_flow(flow, width=self.size[0], height=self.size[1])
        return flow


class EstimatedFlow(_NothingToRelease):
    """Flows computed by ``estimator`` whenever asked, from ``frame_loader``'s frames.

    Nothing is stored or kept: for a few pairs, as an evaluation needs; a render keeps
    its flows with :class:`FlowCache`.
    """

    def __init__(
        self, estimator: FlowEstimator, frame_loader: Callable[[int], np.ndarray]
    ) -> None:
        self.estimator = estimator
        self.frame_loader = frame_loader
        self.name = str(estimator.name)

    def get(self, a: int, b: int) -> np.ndarray:
        """The ``(H, W, 2)`` flow from frame ``a`` to frame ``b``, computed now."""
        return self.estimator(self.frame_loader(a), self.frame_loader(b))


def open_flow_source(
    spec: str,
    *,
    frame_loader: Callable[[int], np.ndarray],
    size: tuple[int, int] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> FolderFlow | EstimatedFlow | FlowPrefetcher:
    """The flow source for ``spec``, a ``--flow`` value: an estimator name or a folder.

    Every source it returns is a :class:`FlowSource` and a context manager, and has a
    ``name`` that says where its flows come from (the estimator's name, or
    ``files:<spec>``); only the :class:`FlowPrefetcher` has ``schedule``.

    Args:
        spec: a key of :data:`~videostyle.flow.estimators.REGISTRY`, or else a folder of
            ``forward_i_j.flo`` / ``backward_j_i.flo`` files (:class:`FileFlow`).
        frame_loader: ``frame_loader(i)`` returns source frame ``i`` as an ``(H, W, 3)``
            RGB image at the size the flows are wanted at (estimators only).
        size: ``(width, height)`` the flows of a folder are rescaled to; None keeps them
            as stored.
        cache_dir: with an estimator, the folder that keeps its flows: a
            :class:`FlowPrefetcher` over a :class:`FlowCache` there; None computes each
            flow when asked and keeps nothing (:class:`EstimatedFlow`).

    Raises:
        InputError: the folder does not exist, or unknown estimator parameters.
        FlowError: the estimator needs OpenCV modules that are not installed, or the
            cache folder cannot be created.
        ResumeError: ``cache_dir`` holds flows of another estimator.
    """
    if spec not in REGISTRY:
        return FolderFlow(FileFlow(spec), size, name=f"files:{spec}")
    estimator = make_estimator(spec)
    if cache_dir is None:
        return EstimatedFlow(estimator, frame_loader)
    return FlowPrefetcher(FlowCache(cache_dir, estimator, frame_loader))
