"""The per-image optimisation of neural style (Gatys et al.), with optional temporal terms.

No I/O happens here: images arrive as tensors ``(1, 3, H, W)`` RGB in ``[0, 1]`` on the
network's device, progress leaves through a callback, errors are raised.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import get_args

import torch
import torch.nn.functional as F

from .config import CompileMode, EngineSettings, LossWeights, OptimizerSettings
from .errors import InputError, OptimizationError, opt
from .lbfgs import HISTORY_DTYPES, LBFGS
from .losses import (
    balanced_layer_weights,
    channel_means,
    chroma_tv_loss,
    content_loss,
    gram,
    resize_mask,
    style_loss,
    temporal_loss,
    tv_loss,
)
from .networks import LossNetwork

#: A loss this many times the best seen so far counts as a diverged step.
_BLOW_UP = 10.0

#: ``--compile``'s choices: ``off`` (eager) or a mode of ``torch.compile``.
COMPILE_MODES: tuple[str, ...] = get_args(CompileMode)

#: Graphs a compiled objective may hold, one per frame size and set of terms: a plate-size
#: first frame alone has nine scales, and past torch's default of 8 it runs eager.
RECOMPILE_LIMIT = 64


@functools.cache
def _configure_compiler() -> None:
    """The process-wide torch settings a compiled objective needs, set once."""
    import torch._dynamo
    import torch._inductor.config

    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit,
                                               RECOMPILE_LIMIT)
    # Inductor's own choice of channels-last for the convolutions' inputs gives the
    # backward of the first convolution's replicate padding strides its compiled code does
    # not expect (an assertion at the first evaluation, torch 2.14 on the CPU).
    torch._inductor.config.layout_optimization = False
    # Its C++ toolchain lookup warns, on every CPU-only machine, that no CUDA runtime exists,
    # and max-autotune writes a table of its choices per kernel to stderr: neither is ours.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    torch._inductor.config.autotune_num_choices_displayed = 0
    torch._inductor.config.max_autotune_report_choices_stats = False


def compiled(
    fn: Callable[[torch.Tensor], dict[str, torch.Tensor]], mode: str
) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    """``fn`` through ``torch.compile`` in ``mode`` (``off``: ``fn`` itself), specialised to
    each shape it meets (shapes are static within a render)."""
    if mode == "off":
        return fn
    _configure_compiler()
    graphed = torch.compile(fn, dynamic=False, mode=None if mode == "default" else mode)
    if mode != "reduce-overhead":
        return graphed

    def replay(image: torch.Tensor) -> dict[str, torch.Tensor]:
        # A new step for the CUDA graphs: the optimiser has read the previous evaluation's
        # outputs (the gradient it keeps is a copy), so their memory may be reused; and an
        # evaluation without a backward (a frame's first and last) holds up none.
        torch.compiler.cudagraph_mark_step_begin()
        return graphed(image)

    return replay


@functools.cache
def check_compile(mode: str, device: str) -> None:
    """Refuses, before any work, a ``--compile`` mode this machine cannot serve on
    ``device``: a small function is compiled and run there (the C++ compiler on the CPU,
    Triton on CUDA)."""
    if mode not in COMPILE_MODES:
        raise InputError(f"{opt('compile')} must be one of {', '.join(COMPILE_MODES)}, "
                         f"got {mode!r}")
    if mode == "off":
        return
    try:
        probe = compiled(lambda x: {"total": (x * 2.0 + 1.0).sum()}, mode)
        float(probe(torch.ones(64, device=device))["total"])
    except Exception as exc:  # the toolchain's own error, in one line
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        needs = "Triton" if device.startswith("cuda") else "a C++ compiler (g++)"
        raise InputError(f"{opt('compile')} {mode} cannot compile on {device} here ({reason}); "
                         f"install {needs}, or leave {opt('compile')} out") from None


@dataclass(frozen=True)
class Progress:
    """One optimiser iteration, as handed to the progress callback.

    ``losses`` holds the weighted terms (``content``, ``style``, ``tv``, ``temporal``) and
    their sum ``total``: for L-BFGS at the iterate the iteration reached, for Adam (which
    evaluates before it steps) at the iterate the step started from.
    """

    iteration: int
    total_iterations: int
    losses: dict[str, float]


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class StyleTarget:
    """Gram matrices of one (blend of) style image(s) and where in the frame they apply.

    ``grams[layer]`` is ``(C, C)``; ``mask`` is ``(1, 1, H, W)`` at the content's resolution
    (``None``: the whole frame); ``weight`` is the blend weight.
    """

    grams: dict[str, torch.Tensor]
    weight: float = 1.0
    mask: torch.Tensor | None = None
    means: dict[str, torch.Tensor] | None = None  # {layer: (C,)} channel means


@dataclass(frozen=True)
class TemporalTerm:
    """An earlier stylised frame warped into this one, with its consistency weights.

    ``warped``: ``(1, 3, H, W)``; ``weights``: ``(1, 1, H, W)`` in ``[0, 1]``.
    """

    warped: torch.Tensor
    weights: torch.Tensor


@dataclass
class Outcome:
    """How an optimisation ended: the final and the first losses, iterations, why."""

    losses: dict[str, float]
    initial_losses: dict[str, float]
    iterations: int
    stop_reason: str


@dataclass
class OptimizeResult(Outcome):
    """The optimised image ``(1, 3, H, W)`` clamped to ``[0, 1]`` and how it got there."""

    image: torch.Tensor
    recoveries: int = 0
    history: list[float] = field(default_factory=list)
    evaluations: int = 0  # of the loss and its gradient (line-search trials included)


def style_grams(
    network: LossNetwork, image: torch.Tensor, layers: Sequence[str]
) -> dict[str, torch.Tensor]:
    """``{layer: (C, C)}`` Gram matrices of one style image ``(1, 3, H, W)``."""
    return style_statistics(network, image, layers)[0]


def style_statistics(
    network: LossNetwork, image: torch.Tensor, layers: Sequence[str]
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Gram matrices ``{layer: (C, C)}`` and channel means ``{layer: (C,)}`` of one style."""
    with torch.no_grad():
        feats = network(image, layers)
        grams = {name: gram(feats[name])[0] for name in layers}
        means = {name: channel_means(feats[name])[0] for name in layers}
        return grams, means


def _mix(blend: Sequence[float], values: Sequence[dict[str, torch.Tensor]],
         layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """The blend-weighted sum of per-layer statistics."""
    return {
        name: sum((w * v[name] for w, v in zip(blend, values, strict=True)),
                  torch.zeros_like(values[0][name]))
        for name in layers
    }


def build_style_targets(
    network: LossNetwork,
    styles: Sequence[torch.Tensor],
    *,
    layers: Sequence[str],
    blend: Sequence[float] | None = None,
    masks: Sequence[torch.Tensor | None] | None = None,
) -> list[StyleTarget]:
    """Style targets for one or more style images.

    Without masks (``masks`` None) the blend is one target whose Gram matrices are the
    blend-weighted sum of each style's (the minimiser of the blend-weighted sum of style
    losses). With masks each style keeps its own target restricted to its mask (a None
    entry: the whole frame, or a mask that a video sets per frame later).

    Args:
        styles: style images ``(1, 3, H_s, W_s)``, each already scaled.
        blend: one weight per style (normalised to sum 1); default equal.
        masks: one ``(1, 1, H, W)`` mask per style at the content's resolution, or None.
    """
    if not styles:
        raise InputError("at least one style image is needed")
    blend = list(blend) if blend is not None else [1.0] * len(styles)
    if len(blend) != len(styles):
        raise InputError(f"{len(styles)} style images but {len(blend)} style weights")
    if any(w < 0 for w in blend) or sum(blend) <= 0:
        raise InputError(f"style weights must be >= 0 with a positive sum, got {blend}")
    total = float(sum(blend))
    blend = [w / total for w in blend]
    stats = [style_statistics(network, s, layers) for s in styles]
    all_grams, all_means = [g for g, _ in stats], [m for _, m in stats]
    if masks is None:
        return [StyleTarget(grams=_mix(blend, all_grams, layers), weight=1.0, mask=None,
                            means=_mix(blend, all_means, layers))]
    if len(masks) != len(styles):
        raise InputError(f"{len(styles)} style images but {len(masks)} style masks")
    return [
        StyleTarget(grams=g, weight=w, mask=m, means=mu)
        for g, w, m, mu in zip(all_grams, blend, masks, all_means, strict=True)
    ]


#: A loss term: ``fn(objective, image, features)`` -> a scalar, or None when the term
#: does not apply to this objective (no temporal terms given).
TermFn = Callable[["Objective", torch.Tensor, dict[str, torch.Tensor]], torch.Tensor | None]


def _content(obj: Objective, image: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum(
        (content_loss(feats[n], obj.content_targets[n]) for n in obj.content_layers),
        image.new_zeros(()),
    )


def _style(obj: Objective, image: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor:
    style = image.new_zeros(())
    for target, masks, layer_weights in zip(
        obj.styles, obj.layer_masks, obj.target_layer_weights, strict=True
    ):
        grams = {n: gram(feats[n], None if masks is None else masks[n]) for n in obj.style_layers}
        style = style + target.weight * style_loss(grams, target.grams, layer_weights)
        if obj.mean_weight > 0 and target.means is not None:
            means = {
                n: channel_means(feats[n], None if masks is None else masks[n])
                for n in obj.style_layers
            }
            style = style + target.weight * obj.mean_weight * style_loss(
                means, target.means, obj.layer_weights
            )
    return style


def _tv(obj: Objective, image: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor:
    return tv_loss(image)


def _chroma(obj: Objective, image: torch.Tensor, feats: dict[str, torch.Tensor]) -> torch.Tensor:
    return chroma_tv_loss(image)


def _temporal(
    obj: Objective, image: torch.Tensor, feats: dict[str, torch.Tensor]
) -> torch.Tensor | None:
    if not obj.temporal:
        return None
    return sum(
        (temporal_loss(image, t.warped, t.weights) for t in obj.temporal), image.new_zeros(())
    )


#: The objective's terms, in order: a name (also the field of
#: :class:`~videostyle.config.LossWeights` that weighs it) and its function. A new term is
#: one function here, one entry in this tuple and one weight in ``LossWeights``.
TERMS: tuple[tuple[str, TermFn], ...] = (
    ("content", _content), ("style", _style), ("tv", _tv), ("chroma", _chroma),
    ("temporal", _temporal),
)


class Objective:
    """The weighted sum of the loss terms of :data:`TERMS`.

    Content targets and per-layer masks are computed once at construction.
    """

    def __init__(
        self,
        network: LossNetwork,
        *,
        content: torch.Tensor,
        styles: Sequence[StyleTarget],
        settings: EngineSettings,
        temporal: Sequence[TemporalTerm] = (),
    ) -> None:
        self.network = network
        self.weights: LossWeights = settings.weights
        self.content_layers = tuple(settings.content_layers)
        self.style_layers = tuple(settings.style_layers)
        self.layer_weights = settings.layer_weights()
        self.mean_weight = settings.style_mean_weight
        self.layers = sorted(set(self.content_layers) | set(self.style_layers))
        self.styles = list(styles)
        self.temporal = list(temporal)
        with torch.no_grad():
            feats = network(content, self.content_layers)
            self.content_targets = {name: feats[name].detach() for name in self.content_layers}
            sizes = {  # (width, height) of each style layer
                name: (f.shape[-1], f.shape[-2])
                for name, f in network(content, self.style_layers).items()
            }
        self.target_layer_weights: list[dict[str, float]] = [
            balanced_layer_weights(self.layer_weights, t.grams, settings.style_balance)
            for t in self.styles
        ]
        self.layer_masks: list[dict[str, torch.Tensor] | None] = [
            None if t.mask is None
            else {name: resize_mask(t.mask, sizes[name]) for name in self.style_layers}
            for t in self.styles
        ]
        self.compile_mode = settings.compile
        self._evaluate = compiled(self._terms, settings.compile)

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted loss terms and their ``total`` for ``image`` ``(1, 3, H, W)``.

        The terms are those of ``image`` clamped to ``[0, 1]``, the image that is stored
        and shown: values outside the range carry no gradient, so the optimiser cannot
        buy a lower loss with colours that clamping then throws away.
        """
        return self._evaluate(image)

    def values(self, image: torch.Tensor) -> dict[str, float]:
        """The terms at ``image`` as floats, with no gradient. A compiled objective runs its
        one graph for this size (the gradient's bookkeeping costs memory, not time) rather
        than compiling a second graph without autograd."""
        with torch.set_grad_enabled(self.compile_mode != "off"):
            return _floats(self(image))

    def _terms(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        image = image.clamp(0.0, 1.0)
        feats = self.network(image, self.layers)
        terms: dict[str, torch.Tensor] = {}
        for name, fn in TERMS:
            value = fn(self, image, feats)
            if value is not None:
                terms[name] = getattr(self.weights, name) * value
        terms["total"] = sum((v for v in terms.values()), image.new_zeros(()))
        return terms


def _floats(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    """The terms as floats, in one transfer from the device."""
    values = torch.stack([v.detach().reshape(()).float() for v in terms.values()]).tolist()
    return dict(zip(terms, values, strict=True))


class _Stop(Exception):
    """Raised after an iteration to leave the optimiser's loop early."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Diverged(Exception):
    """The loss or the image became non-finite (or exploded)."""


class _Average:
    """A bias-corrected exponential moving average of the iterates (as Adam's moments)."""

    def __init__(self, x: torch.Tensor, decay: float) -> None:
        self.decay = decay
        self.value = torch.zeros_like(x)
        self.weight = 0.0

    def update(self, x: torch.Tensor) -> None:
        self.value.mul_(self.decay).add_(x.detach(), alpha=1.0 - self.decay)
        self.weight = self.weight * self.decay + (1.0 - self.decay)

    def get(self) -> torch.Tensor:
        return self.value / self.weight


class _Run:
    """Book-keeping shared by the closure: iterations, history, best iterate, stopping."""

    def __init__(
        self,
        x: torch.Tensor,
        initial_total: float,
        settings: OptimizerSettings,
        callback: ProgressCallback | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        self.x = x
        self.settings = settings
        self.callback = callback
        self.should_stop = should_stop
        self.iteration = 0
        self.evaluations = 0
        self.history: list[float] = []
        self.best_loss = initial_total
        self.best_x = x.detach().clone()
        self.average: _Average | None = None
        if settings.optimizer == "adam" and settings.average > 0:
            if not settings.average < 1:
                raise InputError(f"average must be in [0, 1), got {settings.average}")
            self.average = _Average(x, settings.average)

    def evaluate(self, objective: Objective) -> dict[str, float]:
        """The weighted losses at ``x``, with their gradient left in ``x.grad``; records
        the evaluation (a line search's trial points included) and raises _Diverged when it
        is not finite."""
        self.x.grad = None
        self.evaluations += 1
        terms = objective(self.x)
        terms["total"].backward()
        losses = _floats(terms)
        total = losses["total"]
        if not math.isfinite(total):
            raise _Diverged(f"{total:.4g}")
        if total <= self.best_loss:
            self.best_loss = total
            self.best_x = self.x.detach().clone()
        return losses

    def finish_iteration(self, losses: dict[str, float]) -> None:
        """Record one completed iteration; raises _Stop to end early, _Diverged when the
        iterate it reached is far worse than the best point seen."""
        if losses["total"] > _BLOW_UP * max(self.best_loss, 1e-12):
            raise _Diverged(f"{losses['total']:.4g}")
        self.iteration += 1
        self.history.append(losses["total"])
        if self.callback is not None:
            self.callback(Progress(self.iteration, self.settings.iterations, losses))
        if self.iteration >= self.settings.iterations:
            raise _Stop("iterations")
        window = self.settings.tolerance_window
        if self.settings.tolerance > 0 and len(self.history) > window:
            old = self.history[-window - 1]
            if old > 0 and (old - self.history[-1]) / old < self.settings.tolerance:
                raise _Stop("converged")
        if self.should_stop is not None and self.should_stop():
            raise _Stop("interrupted")


def _attempt(
    objective: Objective, run: _Run, settings: OptimizerSettings, lr_scale: float
) -> str:
    """Run one optimiser instance until its budget ends; returns why it ended.

    Raises _Stop (early stop, interrupt) after an iteration and _Diverged from inside an
    evaluation.
    """
    x = run.x
    if settings.optimizer == "lbfgs":
        # The strong-Wolfe line search makes L-BFGS insensitive to the scale of the loss (a
        # plain fixed step overshoots by orders of magnitude when the style weight is raised).
        solver = LBFGS(x, history_size=settings.lbfgs_history, lr=lr_scale,
                       history_dtype=HISTORY_DTYPES[settings.lbfgs_precision])
        evaluated: list[dict[str, float]] = []

        def closure() -> float:
            evaluated.append(run.evaluate(objective))
            return evaluated[-1]["total"]

        while True:
            evaluated.clear()
            step = solver.step(closure)
            if step is None:  # no step lowers the loss any more
                return "converged"
            run.finish_iteration(evaluated[step.accepted - 1])  # x holds that point
    if settings.optimizer != "adam":
        raise InputError(f"unknown optimizer {settings.optimizer!r}; expected 'lbfgs' or 'adam'")
    adam = torch.optim.Adam([x], lr=settings.adam_lr * lr_scale)
    while True:
        losses = run.evaluate(objective)
        adam.step()
        with torch.no_grad():
            x.clamp_(0.0, 1.0)  # outside the range the clamped objective has no gradient
            if run.average is not None:
                run.average.update(x)
        run.finish_iteration(losses)  # the loss at the point this step started from


def optimize(
    objective: Objective,
    init: torch.Tensor,
    *,
    settings: OptimizerSettings,
    callback: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> OptimizeResult:
    """Minimise ``objective`` starting from ``init`` ``(1, 3, H, W)``.

    Stops after ``settings.iterations`` iterations, when the relative-tolerance rule of
    :class:`~videostyle.config.OptimizerSettings` fires, or when ``should_stop()`` returns
    True (checked after each iteration). A non-finite or exploding loss restores the best
    iterate and restarts the optimiser with half the step size, at most
    ``max_recoveries`` times; after that :class:`~videostyle.errors.OptimizationError`.
    """
    if settings.iterations < 0:
        raise InputError(f"iterations must be >= 0, got {settings.iterations}")
    x = init.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    initial = objective.values(x)
    if not all(math.isfinite(v) for v in initial.values()):
        raise OptimizationError(f"the loss is not finite at the initial image: {initial}")
    run = _Run(x, initial["total"], settings, callback, should_stop)
    stop_reason = "iterations"
    recoveries = 0
    lr_scale = 1.0
    while run.iteration < settings.iterations:
        try:
            stop_reason = _attempt(objective, run, settings, lr_scale)
            break
        except _Stop as stop:
            stop_reason = stop.reason
            break
        except _Diverged as exc:
            recoveries += 1
            if recoveries > settings.max_recoveries:
                raise OptimizationError(
                    f"the loss became {exc} at iteration {run.iteration + 1} and "
                    f"{settings.max_recoveries} restarts with smaller steps did not help; "
                    f"fix: lower {opt('style_weight')} or the temporal weight, or use "
                    f"{opt('optimizer')} adam"
                ) from None
            with torch.no_grad():
                x.copy_(run.best_x)
            if run.average is not None:
                run.average = _Average(x, settings.average)
            lr_scale /= 2
    if run.average is not None and run.average.weight > 0:
        with torch.no_grad():
            x.copy_(run.average.get())
    final = objective.values(x)
    image = x.detach().clamp(0.0, 1.0)
    return OptimizeResult(
        image=image,
        losses=final,
        initial_losses=initial,
        iterations=run.iteration,
        stop_reason=stop_reason,
        recoveries=recoveries,
        history=run.history,
        evaluations=run.evaluations,
    )


def random_init(
    shape: tuple[int, ...], *, seed: int, device: torch.device | None = None
) -> torch.Tensor:
    """Seeded uniform noise in ``[0, 1]`` (drawn on the CPU, so every device sees the same)."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(shape, generator=generator)
    return noise.to(device) if device is not None else noise


def resize_to(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``(N, C, H, W)`` to ``size = (width, height)`` (area when shrinking, bicubic
    otherwise)."""
    hw = (size[1], size[0])
    if tuple(image.shape[-2:]) == hw:
        return image
    if image.shape[-2] >= hw[0] and image.shape[-1] >= hw[1]:
        return F.interpolate(image, size=hw, mode="area")
    return F.interpolate(image, size=hw, mode="bicubic", align_corners=False).clamp(0, 1)
