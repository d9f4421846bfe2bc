"""The L-BFGS solver: its inverse-Hessian product, its line search, its contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videostyle import lbfgs
from videostyle.lbfgs import C1, LBFGS


def two_loop(pairs: list[tuple[np.ndarray, np.ndarray]], g: np.ndarray) -> np.ndarray:
    """H g by the textbook two-loop recursion (Nocedal & Wright, Algorithm 7.4), float64."""
    q = g.copy()
    alphas = []
    for s, y in reversed(pairs):
        alpha = s @ q / (y @ s)
        alphas.append(alpha)
        q -= alpha * y
    s, y = pairs[-1]
    r = (s @ y) / (y @ y) * q
    for (s, y), alpha in zip(pairs, reversed(alphas), strict=True):
        beta = y @ r / (y @ s)
        r += s * (alpha - beta)
    return r


@pytest.mark.parametrize("history", [1, 5, 12, 20])
def test_compact_product_equals_the_two_loop_recursion(history: int) -> None:
    rng = np.random.default_rng(0)
    n = 40
    a = rng.normal(size=(n, n))
    hessian = a @ a.T + n * np.eye(n)
    solver = LBFGS(torch.zeros(n, requires_grad=True), history_size=history)
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for k in range(45):  # beyond the store's size: the oldest pairs are dropped
        if k == 30:  # and after forgetting them, the store fills again from empty
            solver.forget()
            pairs.clear()
        s32 = rng.normal(size=n).astype(np.float32)
        y32 = (hessian @ s32).astype(np.float32)
        solver._store(torch.from_numpy(s32), torch.from_numpy(y32))
        solver._gamma = float(s32.astype(np.float64) @ y32 / (y32.astype(np.float64) @ y32))
        pairs.append((s32.astype(np.float64), y32.astype(np.float64)))
        g = rng.normal(size=n).astype(np.float32)
        ours = solver.inverse_hessian_times(torch.from_numpy(g)).numpy().astype(np.float64)
        expected = two_loop(pairs[-history:], g.astype(np.float64))
        assert np.abs(ours - expected).max() <= 1e-5 * np.abs(expected).max(), k
    assert solver._pairs is not None and solver._pairs.shape[1] == history


def test_the_store_grows_only_as_pairs_arrive() -> None:
    solver = LBFGS(torch.zeros(10, requires_grad=True), history_size=100)
    for _ in range(9):
        solver._store(torch.ones(10), torch.ones(10))
    assert solver._pairs is not None and solver._pairs.shape[1] == 16
    for _ in range(8):
        solver._store(torch.ones(10), torch.ones(10))
    assert solver._pairs.shape[1] == 100  # then all at once


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return (100 * (x[1::2] - x[::2] ** 2) ** 2 + (1 - x[::2]) ** 2).sum()


def test_minimises_rosenbrock_with_falling_losses() -> None:
    x = torch.tensor([-1.2, 1.0] * 5, dtype=torch.float64, requires_grad=True)

    def closure() -> float:
        x.grad = None
        value = rosenbrock(x)
        value.backward()
        return float(value.detach())

    solver = LBFGS(x, history_size=10)
    losses = [float(rosenbrock(x).detach())]
    for _ in range(200):
        step = solver.step(closure)
        if step is None:
            break
        losses.append(step.loss)
    # torch.optim.LBFGS with the same history and line search also needs 40 iterations.
    assert len(losses) - 1 < 80
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False))
    torch.testing.assert_close(x.detach(), torch.ones(10, dtype=torch.float64), atol=1e-6,
                               rtol=0)


def test_accepted_points_meet_the_strong_wolfe_conditions_on_a_quadratic() -> None:
    rng = np.random.default_rng(3)
    n = 30
    a = torch.from_numpy(rng.normal(size=(n, n)))
    hessian = a @ a.T + torch.eye(n, dtype=torch.float64)
    b = torch.from_numpy(rng.normal(size=n))
    x = torch.zeros(n, dtype=torch.float64, requires_grad=True)

    def f(v: torch.Tensor) -> torch.Tensor:
        return 0.5 * v @ hessian @ v - b @ v

    def closure() -> float:
        x.grad = None
        value = f(x)
        value.backward()
        return float(value.detach())

    solver = LBFGS(x, history_size=n)
    steps = 0
    for _ in range(100):
        start = x.detach().clone()
        grad = hessian @ start - b
        loss = float(f(start))
        step = solver.step(closure)
        if step is None:  # nothing lowers the loss any more: at the minimum
            break
        steps += 1
        moved = x.detach() - start
        new_grad = hessian @ x.detach() - b
        slope = float(grad @ moved)  # t · gᵀd
        assert slope < 0
        assert step.loss <= loss + C1 * slope + 1e-12
        assert abs(float(new_grad @ moved)) <= 0.9 * abs(slope) + 1e-12
    assert steps >= 20
    minimum = torch.linalg.solve(hessian, b)
    torch.testing.assert_close(x.detach(), minimum, atol=1e-6, rtol=0)


def test_step_reports_the_evaluation_whose_point_it_keeps() -> None:
    x = torch.tensor([3.0, -2.0], requires_grad=True)
    seen: list[torch.Tensor] = []

    def closure() -> float:
        x.grad = None
        value = (x**4).sum() + x[0] * x[1]
        value.backward()
        seen.append(x.detach().clone())
        return float(value.detach())

    solver = LBFGS(x, history_size=5)
    for _ in range(6):
        seen.clear()
        step = solver.step(closure)
        assert step is not None and step.evaluations == len(seen)
        assert torch.equal(x.detach(), seen[step.accepted - 1])


def test_no_descent_leaves_x_where_it_was() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    calls = 0

    def flat() -> float:
        nonlocal calls
        calls += 1
        x.grad = torch.zeros_like(x)
        return 5.0

    solver = LBFGS(x)
    assert solver.step(flat) is None
    assert torch.equal(x.detach(), torch.tensor([1.0, 2.0])) and calls == 1


def test_invalid_history_and_missing_gradient_are_errors() -> None:
    with pytest.raises(ValueError, match="history_size"):
        LBFGS(torch.zeros(2, requires_grad=True), history_size=0)
    x = torch.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="no gradient"):
        LBFGS(x).step(lambda: 1.0)


@pytest.mark.parametrize("curvature", [1.0, 1e13, 1e16])
def test_the_scale_of_the_loss_does_not_stop_the_search(curvature: float) -> None:
    # The first step is 1 / |g|_1, 1e-13 and less here: a bracket tolerance in absolute
    # step units would end the search before its first trial.
    x = torch.tensor([0.1, 0.1], dtype=torch.float64, requires_grad=True)

    def closure() -> float:
        x.grad = None
        value = 0.5 * curvature * (x[0] ** 2 + 3 * x[1] ** 2)
        value.backward()
        return float(value.detach())

    solver = LBFGS(x)
    steps = 0
    while steps < 30 and solver.step(closure) is not None:
        steps += 1
    assert steps >= 5
    assert float(x.detach().abs().max()) < 1e-100


def test_kept_products_equal_the_products_of_the_stored_pairs() -> None:
    # Sᵀg, Yᵀg and the new pair's sᵀyᵢ are updated from small matrices, not recomputed from
    # the pairs: after every step they must still equal the products computed afresh.
    rng = np.random.default_rng(1)
    n = 300
    curvatures = torch.from_numpy(rng.uniform(0.01, 1.0, size=n))
    x = torch.from_numpy(rng.normal(size=n)).requires_grad_(True)

    def closure() -> float:
        x.grad = curvatures * x.detach() + 0.1 * torch.sin(x.detach())
        return float(0.5 * (curvatures * x.detach() ** 2).sum() - 0.1 * torch.cos(x.detach()).sum())

    solver = LBFGS(x, history_size=7)
    for _ in range(40):  # the store fills, then its oldest pairs are replaced
        assert solver.step(closure) is not None
        assert solver._pairs is not None and solver._grad is not None
        k = solver._count
        steps, changes = solver._pairs[0, :k], solver._pairs[1, :k]
        close = {"rtol": 1e-8, "atol": 1e-10}
        if not solver._stale:
            torch.testing.assert_close(solver._sg[:k], steps @ solver._grad, **close)
            torch.testing.assert_close(solver._yg[:k], changes @ solver._grad, **close)
        torch.testing.assert_close(solver._sy[:k, :k], steps @ changes.T, **close)
        torch.testing.assert_close(solver._yy[:k, :k], changes @ changes.T, **close)


def test_a_step_reads_the_stored_pairs_for_one_product() -> None:
    # At a 1080p frame the pairs are gigabytes: a step multiplies them with one vector (y)
    # and forms the direction from them; the products with the gradient are kept.
    x = torch.tensor([3.0, -2.0, 1.0, 0.5], dtype=torch.float64, requires_grad=True)
    scale = torch.tensor([1.0, 4.0, 9.0, 0.3], dtype=torch.float64)

    def closure() -> float:
        x.grad = scale * x.detach() + x.detach() ** 3
        return float((0.5 * scale * x.detach() ** 2 + 0.25 * x.detach() ** 4).sum())

    solver = LBFGS(x, history_size=3)
    calls = 0
    products = solver._products

    def counted(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nonlocal calls
        calls += 1
        return products(v)

    solver._products = counted  # type: ignore[method-assign]
    made = 0
    for _ in range(8):
        stored, refresh, before = solver._count, solver._stale, calls
        if solver.step(closure) is None:
            break
        made += 1
        assert calls - before == (0 if stored == 0 else 1 + refresh)
    assert made >= 5


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_bf16_pairs_are_stored_in_half_the_bytes_and_multiplied_in_float32(
    monkeypatch: pytest.MonkeyPatch, device: str
) -> None:
    """The products with bfloat16 pairs equal the float64 products of the stored (rounded)
    vectors: on the CPU to float32 precision, block by block (nothing but the store is
    rounded); on CUDA the other operand is rounded as the pairs are, never the result."""
    monkeypatch.setattr(lbfgs, "BLOCK_ELEMENTS", 64)  # blocks of 64 // (2 k) columns
    rng = np.random.default_rng(1)
    n, m = 500, 6
    solver = LBFGS(torch.zeros(n, requires_grad=True, device=device), history_size=m,
                   history_dtype=torch.bfloat16)
    for _ in range(m):
        solver._store(torch.from_numpy(rng.normal(size=n).astype(np.float32)).to(device),
                      torch.from_numpy(rng.normal(size=n).astype(np.float32)).to(device))
    assert solver._pairs is not None and solver._pairs.dtype == torch.bfloat16
    assert solver._pairs.element_size() == 2
    assert len(solver._blocks(n)) == 100  # five columns a block with six pairs
    pairs = solver._pairs.double().cpu().numpy()
    rel = 1e-6 if device == "cpu" else 2**-8
    v = rng.normal(size=n).astype(np.float32)
    s_v, y_v = solver._products(torch.from_numpy(v).to(device))
    assert s_v.dtype == torch.float64
    for got, stored in ((s_v, pairs[0]), (y_v, pairs[1])):
        assert np.all(np.abs(got.cpu().numpy() - stored @ v) <= rel * (np.abs(stored) @ np.abs(v)))
    a, b = rng.normal(size=m), rng.normal(size=m)
    combined = solver._combine(torch.from_numpy(v).to(device), 0.5,
                               torch.from_numpy(a).to(device),
                               torch.from_numpy(b).to(device)).cpu().numpy()
    expected = 0.5 * v + pairs[0].T @ a + pairs[1].T @ b
    bound = np.abs(pairs[0]).T @ np.abs(a) + np.abs(pairs[1]).T @ np.abs(b) + np.abs(v)
    assert np.all(np.abs(combined - expected) <= rel * 10 * bound)


def test_bf16_pairs_minimise_an_ill_conditioned_quadratic_as_float32_pairs_do() -> None:
    torch.manual_seed(0)
    n = 4000
    curvature = torch.logspace(0, 3, n)
    b = torch.randn(n)
    optimum = -0.5 * float((b * b / curvature).sum())

    def gap(dtype: torch.dtype) -> float:
        x = torch.zeros(n, requires_grad=True)

        def closure() -> float:
            x.grad = None
            value = 0.5 * (curvature * x * x).sum() - (b * x).sum()
            value.backward()
            return float(value.detach())

        solver = LBFGS(x, history_size=10, history_dtype=dtype)
        loss = closure()
        for _ in range(100):
            step = solver.step(closure)
            if step is None:
                break
            loss = step.loss
        return (loss - optimum) / abs(optimum)

    exact, rounded = gap(torch.float32), gap(torch.bfloat16)
    assert exact < 1e-4
    assert rounded < 2 * exact
