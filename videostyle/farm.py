"""Shots on a Ray cluster: each shot renders on a worker, the run folders stay the truth.

Nothing here imports Ray until :func:`run_farm` is called: single-machine renders never
load it (Ray is the optional extra ``videostyle[farm]``).

Where data lives: each shot's run folder (manifest, content frames, flows, finished frames)
is written by the worker that renders the shot, directly, through the filesystem every
machine of the cluster sees at the same path (on one machine, the local disk). That is
what the renderer already does on one machine: every input of a frame is read back from
the run folder and every write is atomic, so a worker that dies mid-frame leaves at most
an unfinished temporary file; Ray runs the task again, the renderer resumes from the run
folder, skips the frames already committed and computes the same frames. Shipping frames
to the driver instead would keep every frame in the object store and make resume depend
on the driver's memory. One shot runs on one worker at a time, so a run folder has one
writer.

Determinism: CPU results depend on torch's thread count, and Ray gives a worker one
thread; each task sets the thread count the driver's own render would use (or the
``threads`` given), and runs in the driver's working folder with its ``VIDEOSTYLE_*``
environment, so a shot's frames are byte-identical to the shot rendered alone. The driver's
OpenColorIO configuration (``$OCIO`` and ``OCIO_*``) goes with it: the colour spaces were
checked against it when the shots were planned.

``--restart``: the driver clears a shot's run folder once, under its lock, before the shot
goes to a worker, which then resumes: a worker that Ray runs again after a crash keeps the
frames its first attempt stored.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .batch import EventCallback, ShotEvent, ShotOutcome, failed, render_shot, succeeded
from .errors import InputError, Interrupted, VideostyleError, opt
from .runlock import RunLock
from .shots import Planned
from .workdir import RunFolder

#: How often the driver collects progress and checks for a stop (seconds).
POLL_SECONDS = 0.25
#: Runs of a shot's task after its worker died (the renderer resumes each time).
MAX_RETRIES = 3


@dataclass(frozen=True)
class FarmSettings:
    """Where the shots run: ``workers`` (a count or ``"auto"``) on a local Ray instance
    started here, or the cluster at ``address``; ``threads`` per CPU worker (None: the
    thread count a render in this process uses); ``temp_dir``: the local instance's folder."""

    workers: str | None = None
    address: str | None = None
    threads: int | None = None
    temp_dir: str | None = None


def parse_workers(text: str) -> int | None:
    """``"auto"`` -> None; ``"3"`` -> 3; anything else is refused."""
    if text == "auto":
        return None
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise InputError(f"{opt('workers')} takes a number of workers (>= 1) or auto, got {text!r}")
    return count


def check(settings: FarmSettings) -> None:
    """Refuse farm options that cannot apply (before any work)."""
    if settings.workers is not None and settings.address is not None:
        raise InputError(f"{opt('workers')} starts a Ray instance on this machine and "
                         f"{opt('ray_address')} joins a running cluster; give one of them")
    if settings.workers is not None:
        parse_workers(settings.workers)
    if settings.threads is not None and settings.threads < 1:
        raise InputError(f"{opt('threads_per_worker')} must be >= 1, got {settings.threads}")


def _render_task(planned: Planned, index: int, threads: int, cwd: str, env: dict[str, str],
                 queue: Any) -> ShotOutcome:
    """On a worker: one shot, with the driver's thread count, folder and environment (a
    colour configuration the driver does not set is not the worker's own either)."""
    import torch

    for name in [k for k in os.environ if (k == "OCIO" or k.startswith("OCIO_"))
                 and k not in env]:
        del os.environ[name]
    os.environ.update(env)
    os.chdir(cwd)
    torch.set_num_threads(threads)

    def send(event: ShotEvent) -> None:
        queue.put(event)

    return render_shot(planned, index, on_event=send)


def _start(settings: FarmSettings, threads: int, folder: Path | None) -> tuple[int, bool]:
    """Connect to Ray (or reuse the instance already running here); returns the number of
    shots to run at once and whether this call started Ray (and must shut it down)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _connect(settings, threads, folder)
    finally:  # Ray installs its own handlers; the caller's (stop cleanly) are put back
        for sig, handler in handlers.items():
            if handler is not None and threading.current_thread() is threading.main_thread():
                signal.signal(sig, handler)


def _connect(settings: FarmSettings, threads: int, folder: Path | None) -> tuple[int, bool]:
    import ray

    if ray.is_initialized():
        return _slots(settings, ray.cluster_resources(), threads), False
    if settings.address is not None:
        try:
            ray.init(address=settings.address, log_to_driver=False,
                     logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InputError(f"cannot join the Ray cluster at {opt('ray_address')} "
                             f"{settings.address}: {exc}") from None
        return _slots(settings, ray.cluster_resources(), threads), True
    import torch

    count = parse_workers(settings.workers or "auto")
    gpus = torch.cuda.device_count()
    if count is None:
        count = gpus or max(1, (os.cpu_count() or 1) // threads)
    ray.init(num_cpus=count * threads, num_gpus=min(gpus, count), include_dashboard=False,
             _node_ip_address="127.0.0.1", _temp_dir=str(folder), log_to_driver=False,
             logging_level=logging.ERROR)
    return count, True


def _slots(settings: FarmSettings, resources: dict[str, float], threads: int) -> int:
    if settings.workers not in (None, "auto"):
        return parse_workers(settings.workers or "1") or 1
    gpus = int(resources.get("GPU", 0))
    return gpus or max(1, int(resources.get("CPU", 1)) // threads)


def _uses_gpu(planned: Planned, resources: dict[str, float]) -> bool:
    return planned.shot.device in ("auto", "cuda") and resources.get("GPU", 0) >= 1


def run_farm(
    plans: list[Planned],
    settings: FarmSettings,
    *,
    on_event: EventCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[ShotOutcome]:
    """Every shot on a Ray worker, at most one task per worker slot at a time.

    A shot that fails is recorded (its run folder's ``failure.json``) and the others go
    on; ``should_stop`` cancels the running tasks (their workers are killed, the finished
    frames stay) and raises :class:`~videostyle.errors.Interrupted`.
    """
    import ray
    import torch

    from . import reaper

    check(settings)
    threads = settings.threads or torch.get_num_threads()
    local = settings.address is None and not ray.is_initialized()
    folder = _instance_folder(settings) if local else None
    guard = reaper.start(folder) if folder is not None else None
    try:
        slots, started = _start(settings, threads, folder)
        try:
            return _drive(plans, threads, slots, on_event, should_stop)
        finally:
            if started:
                ray.shutdown()
    finally:
        reaper.stop(guard)
        if folder is not None and settings.temp_dir is None:
            shutil.rmtree(folder, ignore_errors=True)


def _instance_folder(settings: FarmSettings) -> Path:
    """The local instance's own folder: short (Ray's socket paths must stay under ~107
    characters), under ``$RAY_TMPDIR`` or ``/tmp``."""
    if settings.temp_dir is not None:
        return Path(settings.temp_dir)
    return Path(tempfile.mkdtemp(prefix="vsray-", dir=os.environ.get("RAY_TMPDIR") or "/tmp"))


def _drive(plans: list[Planned], threads: int, slots: int, on_event: EventCallback | None,
           should_stop: Callable[[], bool] | None) -> list[ShotOutcome]:
    import ray
    from ray.util.queue import Queue

    queue = Queue(actor_options={"num_cpus": 0})
    resources = ray.cluster_resources()
    task = ray.remote(_render_task)
    env = {k: v for k, v in os.environ.items() if _travels(k)}
    waiting = list(enumerate(plans))
    running: dict[Any, int] = {}
    outcomes: dict[int, ShotOutcome] = {}
    try:
        while waiting or running:
            while waiting and len(running) < slots:
                index, planned = waiting.pop(0)
                try:
                    planned = _restarted(planned)
                except VideostyleError as exc:
                    outcomes[index] = failed(planned, index, exc.marked(), exc.exit_code)
                    continue
                gpu = _uses_gpu(planned, resources)
                options = {"num_gpus": 1, "num_cpus": 0} if gpu else {"num_cpus": threads}
                ref = task.options(max_retries=MAX_RETRIES, retry_exceptions=False,
                                   **options).remote(planned, index, threads, os.getcwd(), env,
                                                     queue)
                running[ref] = index
            ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_SECONDS)
            _relay(queue, on_event)
            for ref in ready:
                index = running.pop(ref)
                outcomes[index] = _outcome(ref, plans[index], index)
            if should_stop is not None and should_stop():
                for ref in running:
                    ray.cancel(ref, force=True)
                raise Interrupted("the farm was stopped; finished frames are kept")
        _relay(queue, on_event)
    finally:
        ray.kill(queue.actor)  # type: ignore[arg-type]
    return [outcomes[i] for i in range(len(plans))]


def _travels(name: str) -> bool:
    """Whether the environment variable ``name`` goes with a shot to its worker."""
    return name.startswith(("VIDEOSTYLE_", "OCIO_")) or name == "OCIO"


def _restarted(planned: Planned) -> Planned:
    """``planned`` ready for a worker: given ``--restart``, its run folder cleared here,
    once, under its lock, and the shot sent to resume (Ray may run it more than once)."""
    if not planned.settings.restart:
        return planned
    run = RunFolder(planned.shot.workdir)
    if run.root.is_dir():
        run.check_parts()
        lock = RunLock(run.root)
        lock.acquire()  # refused while another render holds the folder
        try:
            run.clear()
        finally:
            lock.release()
    return dataclasses.replace(planned, settings=dataclasses.replace(planned.settings,
                                                                     restart=False))


def _relay(queue: Any, on_event: EventCallback | None) -> None:
    """Hand the workers' progress events to the callback, in the order they came."""
    events = queue.get_nowait_batch(queue.qsize()) if queue.qsize() else []
    if on_event is not None:
        for event in events:
            on_event(event)


def _outcome(ref: Any, planned: Planned, index: int) -> ShotOutcome:
    import ray
    from ray.exceptions import RayError, RayTaskError

    try:
        outcome: ShotOutcome = ray.get(ref)
    except RayTaskError as exc:
        cause = exc.cause if isinstance(exc.cause, VideostyleError) else None
        if cause is None:
            return failed(planned, index, f"the worker failed: {exc}", 1)
        return failed(planned, index, cause.marked(), cause.exit_code)
    except RayError as exc:
        return failed(planned, index, f"the worker failed {MAX_RETRIES + 1} times: {exc}", 1)
    succeeded(planned)
    return outcome
