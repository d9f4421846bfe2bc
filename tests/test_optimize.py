"""The optimiser loop on a stand-in feature extractor and 16x16 images: iteration
counting, early stopping, interruption, determinism, and recovery from a diverging loss."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from videostyle.config import EngineSettings, LossWeights, OptimizerSettings
from videostyle.errors import InputError, OptimizationError
from videostyle.lbfgs import LBFGS
from videostyle.optimize import (
    Objective,
    Progress,
    TemporalTerm,
    build_style_targets,
    optimize,
    random_init,
    resize_to,
)

SETTINGS = EngineSettings(
    content_layers=("relu2_1",),
    style_layers=("relu1_1", "relu2_1", "relu3_1"),
    weights=LossWeights(content=1.0, style=10.0, tv=0.1),
)


@pytest.fixture
def content() -> torch.Tensor:
    return random_init((1, 3, 16, 16), seed=1)


@pytest.fixture
def objective(tiny_net, content: torch.Tensor) -> Objective:
    style = random_init((1, 3, 16, 16), seed=2) ** 2
    targets = build_style_targets(tiny_net, [style], layers=SETTINGS.style_layers)
    return Objective(tiny_net, content=content, styles=targets, settings=SETTINGS)


class Faulty:
    """Wraps an objective; evaluations number ``bad`` (1-based, the first is optimize()'s
    own look at the initial image) return a NaN total, or an exploded one."""

    def __init__(self, objective: Objective, bad, *, value: float = math.nan) -> None:
        self.objective = objective
        self.bad = bad
        self.value = value
        self.calls = 0
        self.faulty_calls = 0

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        self.calls += 1
        terms = self.objective(image)
        if self.bad(self.calls):
            self.faulty_calls += 1
            terms["total"] = terms["total"] * self.value
        return terms

    def values(self, image: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            return {name: float(v) for name, v in self(image).items()}


def _reference_lbfgs(objective: Objective, init: torch.Tensor, n: int) -> torch.Tensor:
    """n iterations of the package's L-BFGS driven directly, as the package documents it."""
    x = init.clone().requires_grad_(True)
    solver = LBFGS(x, history_size=100, lr=1.0)

    def closure() -> float:
        x.grad = None
        total = objective(x)["total"]
        total.backward()
        return float(total.detach())

    for _ in range(n):
        assert solver.step(closure) is not None
    return x.detach().clamp(0, 1)


def _reference_adam(objective: Objective, init: torch.Tensor, n: int, lr: float) -> torch.Tensor:
    x = init.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(n):
        opt.zero_grad()
        objective(x)["total"].backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)  # the image stays in range after every step
    return x.detach()


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_callback_once_per_iteration(objective, content, optimizer) -> None:
    seen: list[Progress] = []
    settings = OptimizerSettings(optimizer=optimizer, iterations=7, tolerance=0.0)
    result = optimize(objective, content, settings=settings, callback=seen.append)
    assert [p.iteration for p in seen] == list(range(1, 8))
    assert all(p.total_iterations == 7 for p in seen)
    assert all(set(p.losses) == {"content", "style", "tv", "chroma", "total"} for p in seen)
    assert result.iterations == 7
    assert result.stop_reason == "iterations"
    assert result.history == [p.losses["total"] for p in seen]
    assert result.image.shape == content.shape
    assert 0.0 <= float(result.image.min()) and float(result.image.max()) <= 1.0
    assert result.losses["total"] < 0.5 * result.initial_losses["total"]
    if optimizer == "adam":  # Adam reports the loss at the point each step starts from
        assert seen[0].losses["total"] == pytest.approx(result.initial_losses["total"])
    else:  # L-BFGS reports the loss at the point each iteration reached
        assert seen[0].losses["total"] < result.initial_losses["total"]


def test_lbfgs_reports_accepted_iterates_not_line_search_trials(objective, content) -> None:
    counter = Faulty(objective, bad=lambda _: False)
    seen: list[Progress] = []
    result = optimize(
        counter, content, settings=OptimizerSettings(iterations=10, tolerance=0.0),
        callback=seen.append,
    )
    assert [p.iteration for p in seen] == list(range(1, 11))
    assert counter.calls >= 10
    # Each reported loss is that of an iterate the strong-Wolfe line search accepted, so the
    # sequence falls strictly; trial points would not.
    totals = [p.losses["total"] for p in seen]
    assert all(b < a for a, b in zip(totals, totals[1:], strict=False))
    assert result.losses["total"] <= totals[-1]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_n_iterations_take_n_optimizer_steps(objective, content, optimizer) -> None:
    n = 3
    settings = OptimizerSettings(optimizer=optimizer, iterations=n, tolerance=0.0)
    if optimizer == "lbfgs":
        expected = _reference_lbfgs(objective, content, n)
    else:
        expected = _reference_adam(objective, content, n, settings.adam_lr)
    one = optimize(objective, content, settings=OptimizerSettings(
        optimizer=optimizer, iterations=1, tolerance=0.0))
    assert not torch.equal(one.image, content), "one iteration must move the image"
    result = optimize(objective, content, settings=settings)
    torch.testing.assert_close(result.image, expected, rtol=0, atol=1e-6)


def test_zero_iterations_returns_the_init(objective, content) -> None:
    calls: list[Progress] = []
    result = optimize(
        objective, content, settings=OptimizerSettings(iterations=0), callback=calls.append
    )
    assert calls == []
    assert result.iterations == 0
    assert torch.equal(result.image, content)
    assert result.losses == result.initial_losses
    with pytest.raises(InputError):
        optimize(objective, content, settings=OptimizerSettings(iterations=-1))


def test_losses_are_those_of_the_clamped_image(objective, content) -> None:
    outside = content * 3 - 1  # many values below 0 and above 1
    assert (outside < 0).any() and (outside > 1).any()
    x = outside.clone().requires_grad_(True)
    terms = objective(x)
    clamped = objective(outside.clamp(0, 1))
    assert float(terms["total"].detach()) == pytest.approx(float(clamped["total"]), rel=1e-6)
    terms["total"].backward()
    out_of_range = (outside < 0) | (outside > 1)
    assert torch.all(x.grad[out_of_range] == 0)  # no gain from values clamping discards
    assert x.grad[~out_of_range].abs().sum() > 0


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_reported_losses_describe_the_returned_image(objective, content, optimizer) -> None:
    settings = OptimizerSettings(optimizer=optimizer, iterations=30, tolerance=0)
    result = optimize(objective, content, settings=settings)
    assert result.image.min() >= 0 and result.image.max() <= 1
    with torch.no_grad():
        again = objective(result.image)
    for name, value in result.losses.items():
        assert float(again[name]) == pytest.approx(value, rel=1e-5, abs=1e-6), name


def test_early_stop_on_tolerance(objective, content) -> None:
    settings = OptimizerSettings(iterations=500, tolerance=1e-2, tolerance_window=5)
    result = optimize(objective, content, settings=settings)
    assert result.stop_reason == "converged"
    assert 5 < result.iterations < 500
    h = result.history
    assert len(h) == result.iterations

    def rel_drop(end: int) -> float:  # relative fall over the 5 iterations ending at `end`
        return (h[end - 6] - h[end - 1]) / h[end - 6]

    assert rel_drop(len(h)) < 1e-2  # the rule held when it stopped ...
    assert all(rel_drop(end) >= 1e-2 for end in range(6, len(h)))  # ... and not before


def test_no_early_stop_with_zero_tolerance(objective, content) -> None:
    result = optimize(objective, content, settings=OptimizerSettings(iterations=25, tolerance=0))
    assert result.stop_reason == "iterations"
    assert result.iterations == 25


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_should_stop_interrupts(objective, content, optimizer) -> None:
    asked: list[int] = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) >= 3

    seen: list[int] = []
    result = optimize(
        objective, content,
        settings=OptimizerSettings(optimizer=optimizer, iterations=50, tolerance=0),
        callback=lambda p: seen.append(p.iteration),
        should_stop=should_stop,
    )
    assert result.stop_reason == "interrupted"
    assert result.iterations == 3
    assert seen == [1, 2, 3]
    assert math.isfinite(result.losses["total"])


def test_adam_reduces_the_loss(objective, content) -> None:
    result = optimize(
        objective, content,
        settings=OptimizerSettings(optimizer="adam", iterations=30, tolerance=0),
    )
    assert result.losses["total"] < 0.3 * result.initial_losses["total"]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_deterministic_from_seeded_random_init(objective, optimizer) -> None:
    settings = OptimizerSettings(optimizer=optimizer, iterations=15, tolerance=0)
    a = optimize(objective, random_init((1, 3, 16, 16), seed=7), settings=settings)
    b = optimize(objective, random_init((1, 3, 16, 16), seed=7), settings=settings)
    assert torch.equal(a.image, b.image)
    assert a.history == b.history
    c = optimize(objective, random_init((1, 3, 16, 16), seed=8), settings=settings)
    assert not torch.equal(a.image, c.image)


def test_random_init_is_seeded_uniform() -> None:
    a = random_init((1, 3, 32, 32), seed=3)
    assert torch.equal(a, random_init((1, 3, 32, 32), seed=3))
    assert not torch.equal(a, random_init((1, 3, 32, 32), seed=4))
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0
    assert float(a.mean()) == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_one_nan_is_recovered(objective, content, optimizer) -> None:
    faulty = Faulty(objective, bad=lambda call: call == 5)
    result = optimize(
        faulty, content,
        settings=OptimizerSettings(optimizer=optimizer, iterations=12, tolerance=0),
    )
    assert faulty.faulty_calls == 1
    assert result.recoveries == 1
    assert result.iterations == 12
    assert result.stop_reason == "iterations"
    assert all(math.isfinite(v) for v in result.losses.values())
    assert torch.isfinite(result.image).all()
    assert result.losses["total"] < result.initial_losses["total"]


@pytest.mark.parametrize(("optimizer", "recoveries"), [("lbfgs", 0), ("adam", 1)])
def test_exploding_loss(objective, content, optimizer, recoveries) -> None:
    # One evaluation a million times too large. For L-BFGS it is a line-search trial point,
    # which the line search rejects by itself; for Adam every evaluation is an iterate,
    # so it counts as divergence and the optimiser restarts from the best point.
    faulty = Faulty(objective, bad=lambda call: call == 4, value=1e6)
    result = optimize(
        faulty, content,
        settings=OptimizerSettings(optimizer=optimizer, iterations=8, tolerance=0),
    )
    assert faulty.faulty_calls == 1
    assert result.recoveries == recoveries
    assert result.iterations == 8
    assert result.losses["total"] < result.initial_losses["total"]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_persistent_nan_raises_after_max_recoveries(objective, content, optimizer) -> None:
    faulty = Faulty(objective, bad=lambda call: call >= 4)
    settings = OptimizerSettings(
        optimizer=optimizer, iterations=50, tolerance=0, max_recoveries=2
    )
    with pytest.raises(OptimizationError, match="2 restarts"):
        optimize(faulty, content, settings=settings)
    # one diverged evaluation, then one per restart
    assert faulty.faulty_calls == 1 + settings.max_recoveries


def test_nan_at_the_initial_image_raises(objective, content) -> None:
    faulty = Faulty(objective, bad=lambda call: True)
    with pytest.raises(OptimizationError, match="initial"):
        optimize(faulty, content, settings=OptimizerSettings(iterations=5))


def test_resize_to() -> None:
    image = random_init((1, 3, 16, 24), seed=0)
    assert resize_to(image, (24, 16)) is image  # sizes are (width, height)
    small = resize_to(image, (12, 8))
    torch.testing.assert_close(small, torch.nn.functional.avg_pool2d(image, 2))
    big = resize_to(image, (48, 32))
    assert big.shape == (1, 3, 32, 48)
    assert 0.0 <= float(big.min()) and float(big.max()) <= 1.0


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_a_compiled_objective_gives_the_eager_terms_and_gradient_from_one_graph(
    tiny_net, content: torch.Tensor, mode: str, device: str
) -> None:
    """On CUDA, reduce-overhead replays the forward and backward as CUDA graphs."""
    from torch._dynamo.utils import counters

    def init(shape: tuple[int, ...], seed: int) -> torch.Tensor:
        return random_init(shape, seed=seed).to(device)

    tiny_net.to(device)
    content = content.to(device)
    style = init((1, 3, 16, 16), 2) ** 2
    targets = build_style_targets(tiny_net, [style], layers=SETTINGS.style_layers)
    temporal = [TemporalTerm(init((1, 3, 16, 16), 3), init((1, 1, 16, 16), 4))]
    settings = dataclasses.replace(SETTINGS, weights=dataclasses.replace(SETTINGS.weights,
                                                                         temporal=50.0))
    runs = {}
    graphs = counters["stats"]["unique_graphs"]
    for name in ("off", mode):
        objective = Objective(tiny_net, content=content, styles=targets, temporal=temporal,
                              settings=dataclasses.replace(settings, compile=name))
        x = init((1, 3, 16, 16), 5).requires_grad_(True)
        terms = objective(x)
        terms["total"].backward()
        runs[name] = ({k: float(v.detach()) for k, v in terms.items()}, x.grad.clone(),
                      objective.values(x))
    # one graph, for the forward and backward; values() runs it rather than compiling another
    assert counters["stats"]["unique_graphs"] - graphs == 1
    (eager, eager_grad, eager_values), (comp, comp_grad, comp_values) = runs.values()
    assert set(comp) == {"content", "style", "tv", "chroma", "temporal", "total"}
    for name, value in eager.items():
        assert comp[name] == pytest.approx(value, rel=1e-5)
        assert comp_values[name] == pytest.approx(value, rel=1e-5)
        assert eager_values[name] == value
    torch.testing.assert_close(comp_grad, eager_grad, rtol=1e-4, atol=1e-6)
