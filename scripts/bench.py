"""Speed of videostyle on one device: one entry point for every speed figure.

By default: one frame of ``sample_videos/valley.mp4`` (frame 1, and frame 2 for a later
frame) at ``--size`` (320x180) in the style of ``sample_videos/stained_glass.png``:

* ``seconds_per_iteration``: one L-BFGS iteration at the full size (no early stop, after
  an untimed warm-up), and ``floor_seconds_per_iteration``: the FLOPs of one iteration
  (the loss network's forward to its deepest layer plus the backward to the input, counted
  from the layer shapes) over the best throughput this device reaches on a dense VGG-sized
  convolution in the same dtype, measured in the same run;
* ``default_seconds`` / ``default_loss``: the first frame with the default settings (the
  standard preset's first-frame budget, coarse-to-fine) = ``seconds_first_frame``;
* ``seconds_later_frame``: frame 2 started from frame 1's result warped by the flow, with
  the default temporal terms and the standard preset's later-frame budget;
* ``reference_seconds`` / ``reference_loss`` (unless ``--skip-reference``): the first frame
  with the reference's settings: one scale, float32, L-BFGS from random noise, 2000
  iterations, stopping when the loss fell by less than 1e-4 over 50 iterations;
  and ``default_seconds_to_reference_loss``: when the default run's loss at the full size
  first reached ``reference_loss`` (None: never; the optimiser's own loss, so under bf16
  autocast within ~1 % of :func:`final_loss`);
* ``peak_memory_bytes``: the device's peak (CUDA: allocated; CPU: resident set). On CUDA
  this includes the workspaces cuDNN's autotuning tries for each new shape, which can reach
  the whole card; ``later_frame_peak_memory_bytes`` (CUDA only) is the peak over the later
  frame alone, at a size already tuned: what rendering a frame holds.

Both first-frame runs minimise the same objective (default weights, the same style
targets at the full size); both final losses are computed by :func:`final_loss` at the
full size in float32. Timing covers the optimisation and the per-scale style targets,
not loading the network. ``--lbfgs`` adds the package's L-BFGS against
``torch.optim.LBFGS``; ``--solver N`` times the solver alone (N steps on a quadratic with
the frame's number of unknowns, the median of the steps made with the history full: the
cost of the stored pairs, which the network's FLOP floor leaves out); ``--render N``
renders N frames through the pipeline and reports the share of the wall time the optimiser
was not running (the device's idle share), and ``--keep-frames DIR`` saves its first and last
frame to be looked at; ``--compile MODE`` times the same iterations with
the objective (forward and backward) through ``torch.compile`` against eager execution, and
the final loss's relative change (``reduce-overhead`` replays the graphs as CUDA graphs);
``--skip-frames`` leaves out the first, later and reference frames; ``--tuned`` times the
default first frame a second time (``seconds_first_frame_tuned``), once every size it
runs at has been seen (cuDNN's autotuning, the allocator's blocks): the first frame of a
render's later shots. ``--source`` may be an
image sequence (``frames/valley.%04d.png``); ``--render`` then writes PNG frames, so no step
needs ffmpeg. Stopped by Ctrl-C or SIGTERM, the bench still prints every figure measured so
far, with ``interrupted`` naming the measurement under way (exit status 130).

    python scripts/bench.py --size 320x180 --device cpu --json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import resource
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np
import torch

from videostyle import flow as flowmod
from videostyle import scales
from videostyle.config import (
    DEFAULT_TEMPORAL_WEIGHT,
    PRESETS,
    CompileMode,
    EngineSettings,
    OptimizerSettings,
)
from videostyle.lbfgs import HISTORY_DTYPES, LBFGS
from videostyle.networks import LossNetwork, network_for, resolve_device
from videostyle.optimize import (
    COMPILE_MODES,
    Objective,
    Progress,
    StyleTarget,
    TemporalTerm,
    optimize,
    random_init,
)
from videostyle.pipeline import FrameProgress, Renderer
from videostyle.settings import resolve_render
from videostyle.stylize import ImageSettings, prepare_styles, resize_image, to_image, to_tensor
from videostyle.stylizer import CoarseScale, FrameJob, OptimizingStylizer
from videostyle.video import SourceInfo, probe, read_frames, read_image, write_image

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_ITERATIONS = 2000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn: Callable[[], Any]) -> tuple[Any, float]:
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - start


def frames_of(info: SourceInfo, first: int, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    start = info.first + first - 1
    return [resize_image(f, size) for _, f in read_frames(info, start=start, end=start + n - 1)]


# ---- the floor ----------------------------------------------------------------------------


def iteration_flops(net: LossNetwork, size: tuple[int, int], layers: list[str]) -> float:
    """Multiply-adds x 2 of one forward to the deepest of ``layers`` plus the backward to
    the input (one transposed convolution per layer: the same count again)."""
    deepest = max(net.names.index(name) for name in layers)
    w, h = size
    flops = 0.0
    for index in range(deepest + 1):
        module = net.features[index]
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            flops += 2.0 * module.in_channels * module.out_channels * k * w * h
        elif isinstance(module, (torch.nn.MaxPool2d, torch.nn.AvgPool2d)):
            w, h = w // 2, h // 2
    return 2.0 * flops


def conv_throughput(device: torch.device, dtype: torch.dtype, repeats: int = 5) -> float:
    """The best FLOP/s of a dense 3x3, 256 -> 256 convolution on a 1x256x90x160 input (a
    VGG block-3 layer of a 640x360 frame) in ``dtype``."""
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).to(device)
    x = torch.randn(1, 256, 90, 160, device=device)
    if device.type == "cuda":
        conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(
            memory_format=torch.channels_last)
    flops = 2.0 * 256 * 256 * 9 * 90 * 160
    best = math.inf
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype,
                                         enabled=dtype != torch.float32):
        conv(x)
        for _ in range(repeats):
            _, seconds = timed(device, lambda: conv(x))
            best = min(best, seconds)
    return flops / best


# ---- the runs -------------------------------------------------------------------------------


class Timed(NamedTuple):
    """Iterations at the full size: how many, their time, their warm-up's, and the image
    reached."""

    iterations: int
    seconds_per_iteration: float
    warm_up_seconds: float
    image: torch.Tensor


@dataclasses.dataclass
class Bench:
    net: LossNetwork
    device: torch.device
    size: tuple[int, int]
    content: torch.Tensor
    style: np.ndarray
    image: ImageSettings

    def targets(self, size: tuple[int, int]) -> list[StyleTarget]:
        return prepare_styles(self.net, [self.style], content_size=size, settings=self.image,
                              device=self.device)

    def final_loss(self, image: torch.Tensor) -> float:
        """The total loss of ``image`` at the full size, float32, default weights."""
        autocast, self.net.autocast = self.net.autocast, None
        try:
            objective = Objective(self.net, content=self.content, styles=self.targets(self.size),
                                  settings=EngineSettings())
            with torch.no_grad():
                return float(objective(image)["total"])
        finally:
            self.net.autocast = autocast

    def first_frame(self, iterations: int, start: int | None
                    ) -> tuple[torch.Tensor, float, list[tuple[float, float]]]:
        """The first frame as the render makes it (coarse-to-fine from ``start``), its
        seconds, and the ``(seconds since the start, total loss)`` of every iteration at
        the full size (its last scale)."""
        trace: list[tuple[int, float, float]] = []
        started = 0.0

        def on_iteration(progress: Progress) -> None:
            sync(self.device)
            trace.append((progress.iteration, time.perf_counter() - started,
                          progress.losses["total"]))

        def run() -> torch.Tensor:
            nonlocal started
            started = time.perf_counter()
            plan = scales.plan(self.size, start, iterations)
            job = FrameJob(
                frame=1, content=self.content, init=self.content.clone(),
                styles=self.targets(self.size), iterations=plan[-1].iterations,
                coarse=[CoarseScale(s.size, self.targets(s.size), s.iterations)
                        for s in plan[:-1]],
            )
            result = OptimizingStylizer(self.net, self.image.engine,
                                        on_iteration=on_iteration).stylize(job)
            return to_tensor(result.image, self.device)
        image, seconds = timed(self.device, run)
        last = max((i for i, (n, _, _) in enumerate(trace) if n == 1), default=0)
        return image, seconds, [(t, loss) for _, t, loss in trace[last:]]

    def reference(self, iterations: int) -> tuple[torch.Tensor, float]:
        settings = OptimizerSettings(iterations=iterations)  # tolerance 1e-4 over 50

        def run() -> torch.Tensor:
            objective = Objective(self.net, content=self.content,
                                  styles=self.targets(self.size), settings=EngineSettings())
            init = random_init(tuple(self.content.shape), seed=0, device=self.device)
            return optimize(objective, init, settings=settings).image

        autocast, self.net.autocast = self.net.autocast, None
        try:
            return timed(self.device, run)
        finally:
            self.net.autocast = autocast

    def per_iteration(self, iterations: int, compile_mode: CompileMode = "off") -> Timed:
        """``iterations`` at the full size after an untimed warm-up of the same, with the
        objective through ``torch.compile(mode=compile_mode)`` unless ``off``."""
        engine = dataclasses.replace(self.image.engine, compile=compile_mode)
        objective = Objective(self.net, content=self.content, styles=self.targets(self.size),
                              settings=engine)
        settings = dataclasses.replace(self.image.engine.optimizer, iterations=iterations,
                                       tolerance=0.0)
        _, warm_up = timed(self.device,
                           lambda: optimize(objective, self.content, settings=settings))
        result, seconds = timed(self.device,
                                lambda: optimize(objective, self.content, settings=settings))
        return Timed(iterations, seconds / max(result.iterations, 1), warm_up, result.image)

    def compare_compiled(self, eager: Timed, mode: CompileMode) -> dict[str, Any]:
        """The iterations ``eager`` timed, with the objective through
        ``torch.compile(mode=mode)``: the time per iteration, the warm-up (which compiles),
        and the relative change of the final loss against ``eager`` (the 1 % rule for a
        speed-up)."""
        compiled = self.per_iteration(eager.iterations, mode)
        eager_loss = self.final_loss(eager.image)
        return {"compile_mode": mode,
                "compiled_seconds_per_iteration": compiled.seconds_per_iteration,
                "compile_warm_up_seconds": compiled.warm_up_seconds,
                "eager_seconds_per_iteration": eager.seconds_per_iteration,
                "eager_warm_up_seconds": eager.warm_up_seconds,
                "compiled_loss_change": (self.final_loss(compiled.image) - eager_loss)
                / eager_loss}

    def later_frame(self, previous: torch.Tensor, frames: list[np.ndarray],
                    iterations: int, weight: float) -> float:
        """Frame 2 warm-started from frame 1's result warped by the flow, with the temporal
        term (flow and warping not timed: they run beside the optimiser in a render)."""
        estimator = flowmod.make_estimator(flowmod.DEFAULT_ESTIMATOR)
        back = estimator(frames[1], frames[0])
        forward = estimator(frames[0], frames[1])
        warped = flowmod.warp(to_image(previous), back)
        weights = flowmod.warp_weights(back, forward)
        term = TemporalTerm(warped=to_tensor(warped, self.device),
                            weights=torch.from_numpy(weights)[None, None].to(self.device))
        content = to_tensor(frames[1], self.device)
        job = FrameJob(frame=2, content=content, init=term.warped.clone(),
                       styles=self.targets(self.size), iterations=iterations,
                       temporal=[term], temporal_weight=weight)
        stylizer = OptimizingStylizer(self.net, self.image.engine)
        return timed(self.device, lambda: stylizer.stylize(job))[1]


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def cap_memory(device: torch.device, fraction: float) -> None:
    """Cap this process's share of a CUDA device (``cuda`` alone: the current one)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        torch.cuda.set_per_process_memory_fraction(fraction, index)


def peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---- the solver and a render ----------------------------------------------------------------


def torch_lbfgs(objective: Objective, init: torch.Tensor, iterations: int) -> float:
    """torch.optim.LBFGS (history 100, strong Wolfe): the loss after ``iterations``."""
    x = init.clone().requires_grad_(True)
    solver = torch.optim.LBFGS(
        [x], lr=1.0, max_iter=iterations, max_eval=iterations * 3 + 10, history_size=100,
        tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        solver.zero_grad()
        total = objective(x)["total"]
        total.backward()
        return total

    solver.step(closure)  # type: ignore[arg-type]
    with torch.no_grad():
        return float(objective(x)["total"])


def compare_lbfgs(bench: Bench, iterations: int) -> dict[str, float]:
    objective = Objective(bench.net, content=bench.content, styles=bench.targets(bench.size),
                          settings=bench.image.engine)
    settings = OptimizerSettings(iterations=iterations, tolerance=0.0)
    ours, ours_s = timed(bench.device, lambda: optimize(objective, bench.content,
                                                        settings=settings))
    theirs, theirs_s = timed(bench.device, lambda: torch_lbfgs(objective, bench.content,
                                                               iterations))
    return {"package_seconds_per_iteration": ours_s / iterations,
            "package_loss": ours.losses["total"],
            "torch_seconds_per_iteration": theirs_s / iterations, "torch_loss": theirs}


def solver_step_seconds(device: torch.device, size: tuple[int, int], steps: int,
                        history: int, precision: str = "float32") -> float:
    """The package's L-BFGS alone, on a badly conditioned quadratic with one unknown per
    pixel and channel: the median time of the steps after the first ``history``."""
    n = 3 * size[0] * size[1]
    gen = torch.Generator(device=device).manual_seed(0)
    curvature = torch.rand(n, generator=gen, device=device) ** 4 + 1e-6
    x = torch.ones(n, device=device, requires_grad=True)

    def closure() -> float:
        x.grad = curvature * x.detach()
        return float((0.5 * curvature * x.detach() ** 2).sum())

    solver = LBFGS(x, history_size=history, history_dtype=HISTORY_DTYPES[precision])
    times = []
    for _ in range(history + steps):
        _, seconds = timed(device, lambda: solver.step(closure))
        times.append(seconds)
    return float(np.median(times[history:]))


def render_frames(info: SourceInfo, style: Path, n: int, size: tuple[int, int],
                  net: LossNetwork, device: torch.device, precision: str,
                  keep: Path | None = None, compile_mode: str | None = None,
                  iterations: str | None = None) -> dict[str, Any]:
    """``n`` frames through the pipeline with the standard preset at ``size``: wall time,
    each frame's seconds and the share of the wall time the optimiser was not running
    (decode, flow, I/O, encode). ``compile_mode``: the render's ``--compile`` (None: eager);
    its frames' seconds show when compiling pays. ``iterations``: the render's
    ``--iterations`` (None: the preset's). With ``keep``, the first and the last finished
    frame are saved there as 8-bit PNGs, named by their size and iterations, to be looked
    at."""
    busy: list[float] = []

    def on_frame(p: FrameProgress) -> None:
        if not p.skipped:
            busy.append(p.seconds)

    # a sequence renders to PNG frames, so a machine without ffmpeg can run it
    name = "o.%04d.png" if info.kind == "sequence" else "o.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        given = {"frames": f"{info.first}:{info.first + n - 1}", "size": max(size),
                 "precision": precision}
        if compile_mode is not None:
            given["compile"] = compile_mode
        if iterations is not None:
            given["iterations"] = iterations
        settings = resolve_render(info.path, (style,), Path(tmp) / name, given=given).settings
        budget = "-".join(str(k) for k in settings.iterations)
        renderer = Renderer(settings, network=net, device=device, on_frame=on_frame)
        _, wall = timed(device, renderer.run)
        if keep is not None and renderer.run_folder is not None:
            done = sorted(renderer.run_folder.frames_dir.glob("*.png"))
            keep.mkdir(parents=True, exist_ok=True)
            for path in {done[0], done[-1]}:
                image = read_image(path)
                height, width = image.shape[:2]
                write_image(keep / f"render_{width}x{height}_{budget}_{path.name}", image)
    return {"render_frames": n, "render_seconds": wall, "render_frame_seconds": busy,
            "render_compile": compile_mode or "off", "render_iterations": budget,
            "render_idle_share": max(0.0, 1.0 - sum(busy) / wall)}


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT / "sample_videos" / "valley.mp4")
    parser.add_argument("--style", type=Path,
                        default=ROOT / "sample_videos" / "stained_glass.png")
    parser.add_argument("--size", type=parse_size, default=(320, 180), help="WxH")
    parser.add_argument("--device", default="auto", help="cpu, cuda or cuda:N")
    parser.add_argument("--precision", default="auto", help="auto, float32 or bf16")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--skip-frames", action="store_true",
                        help="time the iteration and what the options below add, not the "
                        "first and later frames (nor the reference)")
    parser.add_argument("--speed-iterations", type=int, default=20)
    parser.add_argument("--iterations", default=None, metavar="FIRST,LATER",
                        help="budgets of the first and a later frame, and --render's "
                        "[default: the standard preset's]")
    parser.add_argument("--reference-iterations", type=int, default=REFERENCE_ITERATIONS)
    parser.add_argument("--lbfgs", type=int, default=0, metavar="N",
                        help="also compare with torch.optim.LBFGS over N iterations")
    parser.add_argument("--solver", type=int, default=0, metavar="N",
                        help="also time N steps of the solver alone, its history full")
    parser.add_argument("--lbfgs-history", type=int, default=OptimizerSettings().lbfgs_history,
                        help="pairs L-BFGS keeps in the default runs and --solver (the "
                        "reference keeps 100)")
    parser.add_argument("--lbfgs-precision", default=OptimizerSettings().lbfgs_precision,
                        choices=tuple(HISTORY_DTYPES),
                        help="the pairs' arithmetic in the default runs and --solver (the "
                        "reference's are float32)")
    parser.add_argument("--compile", default=None,
                        choices=COMPILE_MODES[1:],
                        help="also time --speed-iterations iterations with the objective "
                        "through torch.compile in this mode (reduce-overhead: CUDA graphs)")
    parser.add_argument("--render", type=int, default=0, metavar="N",
                        help="also render N frames through the pipeline (with --compile, "
                        "the render compiles in that mode: its frames' seconds show when "
                        "compiling pays)")
    parser.add_argument("--keep-frames", type=Path, default=None, metavar="DIR",
                        help="with --render: save its first and last frame in DIR (8-bit PNG)")
    parser.add_argument("--memory-fraction", type=float, default=None,
                        help="CUDA: cap this process at that share of the card's memory "
                        "(0.56 of a 141 GB H200 = an 80 GB card)")
    parser.add_argument("--tuned", action="store_true",
                        help="time the default first frame a second time, its sizes tuned")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.keep_frames is not None and not args.render:
        parser.error("--keep-frames saves frames of the render: add --render N")
    return args


def measure(args: argparse.Namespace, out: dict[str, Any], state: dict[str, str]) -> None:
    """Every figure ``args`` asks for, into ``out`` as each is measured, the peak memory
    last even when stopped; ``state["stage"]`` names the measurement under way."""

    def step(message: str) -> None:
        state["stage"] = message.removesuffix(" ...")
        log(message)

    device = resolve_device(args.device)
    try:
        measure_device(args, device, out, step)
    finally:
        out["peak_memory_bytes"] = max(peak_memory(device), out.get("peak_memory_bytes", 0))


def measure_device(args: argparse.Namespace, device: torch.device, out: dict[str, Any],
                   step: Callable[[str], None]) -> None:
    if args.memory_fraction is not None:
        cap_memory(device, args.memory_fraction)
    engine = EngineSettings()
    engine = dataclasses.replace(engine, precision=args.precision, optimizer=dataclasses.replace(
        engine.optimizer, lbfgs_history=args.lbfgs_history,
        lbfgs_precision=args.lbfgs_precision))
    net = network_for(engine, device=device)  # the default network: its padding, our precision
    info = probe(args.source, fps=Fraction(24))
    frames = frames_of(info, 1, 2, args.size)
    image = ImageSettings(size=None, engine=engine)
    bench = Bench(net, device, args.size, to_tensor(frames[0], device), read_image(args.style),
                  image)
    dtype = net.autocast or torch.float32
    out.update({
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "size": list(args.size), "dtype": str(dtype).removeprefix("torch."),
        "lbfgs_history": args.lbfgs_history, "lbfgs_precision": args.lbfgs_precision,
    })
    layers = sorted(set(image.engine.style_layers) | set(image.engine.content_layers))
    flops = iteration_flops(net, args.size, layers)
    step("timing one iteration ...")
    eager = bench.per_iteration(args.speed_iterations)
    out["seconds_per_iteration"] = eager.seconds_per_iteration
    out["floor_seconds_per_iteration"] = flops / conv_throughput(device, dtype)
    if not args.skip_frames:
        measure_frames(args, bench, frames, out, step)
    if args.lbfgs:
        step(f"L-BFGS against torch.optim.LBFGS, {args.lbfgs} iterations ...")
        out.update(compare_lbfgs(bench, args.lbfgs))
    if args.compile:
        step(f"the same {args.speed_iterations} iterations through torch.compile "
            f"(mode {args.compile}) ...")
        out.update(bench.compare_compiled(eager, cast(CompileMode, args.compile)))
    if args.solver:
        step(f"the solver alone, {args.solver} steps with {args.lbfgs_history} "
            f"{args.lbfgs_precision} pairs ...")
        out["solver_seconds_per_step"] = solver_step_seconds(
            device, args.size, args.solver, args.lbfgs_history, args.lbfgs_precision)
    if args.render:
        step(f"rendering {args.render} frames ...")
        out.update(render_frames(info, args.style, args.render, args.size, net, device,
                                 args.precision, args.keep_frames, args.compile,
                                 args.iterations))


def measure_frames(args: argparse.Namespace, bench: Bench, frames: list[np.ndarray],
                   out: dict[str, Any], step: Callable[[str], None]) -> None:
    """The first frame with the default settings, a later frame and (unless skipped) the
    first frame with the reference's settings."""
    budget = PRESETS["standard"].iterations
    if args.iterations:
        first_n, _, later_n = args.iterations.partition(",")
        budget = (int(first_n), int(later_n or first_n))
    step(f"first frame, default settings ({budget[0]} iterations of work) ...")
    first, out["default_seconds"], trace = bench.first_frame(budget[0], bench.image.start_size)
    out["default_loss"] = bench.final_loss(first)
    out["seconds_first_frame"] = out["default_seconds"]
    if args.tuned:
        step("the first frame again, every size tuned ...")
        out["seconds_first_frame_tuned"] = bench.first_frame(budget[0],
                                                             bench.image.start_size)[1]
    step(f"a later frame ({budget[1]} iterations, temporal terms) ...")
    out["peak_memory_bytes"] = peak_memory(bench.device)  # the peak so far, kept over the reset
    reset_peak_memory(bench.device)
    out["seconds_later_frame"] = bench.later_frame(first, frames, budget[1],
                                                   DEFAULT_TEMPORAL_WEIGHT)
    if bench.device.type == "cuda":
        out["later_frame_peak_memory_bytes"] = peak_memory(bench.device)
    if not args.skip_reference:
        step(f"first frame, the reference's settings ({args.reference_iterations} "
             f"iterations) ...")
        ref, out["reference_seconds"] = bench.reference(args.reference_iterations)
        out["reference_loss"] = bench.final_loss(ref)
        out["default_seconds_to_reference_loss"] = next(
            (t for t, loss in trace if loss <= out["reference_loss"]), None)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Measure; stopped by Ctrl-C or a SIGTERM (``timeout``), still report every figure
    measured so far, with ``interrupted`` naming the one under way."""
    args = parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    out: dict[str, Any] = {}
    state = {"stage": "loading"}
    try:
        measure(args, out, state)
    except KeyboardInterrupt:
        out["interrupted"] = state["stage"]
        log(f"interrupted during: {state['stage']}")
    for key, value in out.items():
        log(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
    if args.json:
        print(json.dumps(out), flush=True)
    if "interrupted" in out:
        sys.exit(130)


if __name__ == "__main__":
    main()
