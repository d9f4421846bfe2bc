"""L-BFGS with a strong-Wolfe line search, written to keep a GPU busy.

``torch.optim.LBFGS`` runs the two-loop recursion with one Python-side scalar per stored
pair (``alpha=`` of ``Tensor.add_`` takes a number), so every iteration waits for the GPU
twice per pair: 200 host synchronisations with the reference's 100 pairs, which at video
frame sizes costs more than the network's forward and backward passes. This solver computes
the same product of the inverse-Hessian approximation with the gradient through the compact
representation of Byrd, Nocedal & Schnabel (1994, Theorem 2.2):

    H g = γ g + S a − γ Y w,   w = R⁻¹ Sᵀg,   a = R⁻ᵀ((D + γ YᵀY) w − γ Yᵀg)

with S, Y the stored steps and gradient changes (oldest first), R the upper triangle of
SᵀY, D its diagonal and γ = sᵀy / yᵀy of the newest pair. The large vectors take
matrix-vector products only (no matrix-matrix product, so a TF32 setting for matmul does
not touch them); the small (m × m) algebra runs in float64. At large frames the pairs
are the solver's cost (24 bytes per pixel per pair: 5 GB at 1080p with 100 pairs), so an
iteration reads them twice (3.5 times when every product was formed afresh): once for Sᵀy
and Yᵀy, which the store needs, and once for S a − γ Y w. Sᵀg and Yᵀg of the next
gradient follow from them (it is g + y), and the new step's products with the stored
changes follow from the small matrices. The host waits for the device a fixed few times
per iteration, whatever the number of pairs: for each loss evaluation's
loss and directional derivative (the line search decides on them), and for the slope of
the new direction and the pair's sᵀy and yᵀy.

The pairs may be stored in bfloat16 (``history_dtype``), which halves both their memory and
the bytes an iteration reads. No product with them is rounded to bfloat16: on CUDA the
other operand is rounded as the pairs are and cuBLAS accumulates and returns float32
(``torch.mm(..., out_dtype=...)``); elsewhere the pairs are converted to the image's dtype
a column block at a time.

The line search is the bracketing and zoom of Nocedal & Wright, *Numerical Optimization*
(2nd ed.), Algorithms 3.5 and 3.6, with cubic interpolation (their eq. 3.59).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

#: The stored pairs' dtype by the name the settings give it.
HISTORY_DTYPES = {"float32": torch.float32, "bf16": torch.bfloat16}
#: Lower-precision pairs are converted for a product this many elements at a time.
BLOCK_ELEMENTS = 1 << 22
#: Sufficient decrease (Armijo) and curvature constants of the strong Wolfe conditions.
C1 = 1e-4
C2 = 0.9
#: Loss evaluations one line search may spend.
MAX_EVALUATIONS = 25
#: A stored pair needs this much curvature, sᵀy (as torch.optim.LBFGS).
MIN_CURVATURE = 1e-10
#: The products of the pairs with the gradient are updated, not recomputed, until the
#: gradient's norm falls below this fraction of its norm when they were last computed.
REFRESH = 0.1


@dataclass
class _Trial:
    step: float  # t along the direction
    loss: float
    slope: float  # directional derivative gᵀd at the trial point
    grad: torch.Tensor  # flat gradient there
    index: int  # which evaluation of this iteration produced it (0: none)


@dataclass(frozen=True)
class Step:
    """One finished L-BFGS iteration: the loss at the point it accepted, which of its
    loss evaluations (1-based, in the order the closure was called) produced that point,
    and how many it made."""

    loss: float
    accepted: int
    evaluations: int


class LBFGS:
    """Minimise a function of one tensor ``x`` (updated in place).

    ``closure()`` must compute the loss at the current ``x``, leave its gradient in
    ``x.grad`` and return the loss as a float. Each :meth:`step` makes one iteration: a
    search direction from the stored pairs, then a strong-Wolfe line search along it.

    Args:
        x: the leaf tensor to optimise (``requires_grad=True``).
        history_size: pairs (s, y) kept, the "m" of L-BFGS.
        lr: the first step tried along each direction (the first iteration scales it by
            ``min(1, 1 / |g|₁)``, as the gradient there has no curvature information).
        history_dtype: the stored pairs' dtype (default ``x``'s); ``torch.bfloat16`` halves
            their memory, the products with them stay in ``x``'s dtype.
    """

    def __init__(self, x: torch.Tensor, *, history_size: int = 100, lr: float = 1.0,
                 history_dtype: torch.dtype | None = None) -> None:
        if history_size < 1:
            raise ValueError(f"history_size must be >= 1, got {history_size}")
        self.x = x
        self.history_size = history_size
        self.history_dtype = x.dtype if history_dtype is None else history_dtype
        self.lr = lr
        self._pairs: torch.Tensor | None = None  # (2, capacity, n): steps S, then changes Y
        self._sy = torch.zeros(history_size, history_size, dtype=torch.float64,
                               device=x.device)  # [i, j] = s_i · y_j, slot order
        self._yy = torch.zeros_like(self._sy)  # [i, j] = y_i · y_j
        # s_i · g and y_i · g for the current gradient, slot order: kept up to date from
        # the products the store needs anyway (g_new = g + y), so that an iteration reads
        # the stored pairs twice (Sᵀy and Yᵀy; the direction's S a − γ Y w), not 3.5 times.
        self._sg = torch.zeros(history_size, dtype=torch.float64, device=x.device)
        self._yg = torch.zeros_like(self._sg)
        # The updates lose the products' relative precision as the gradient shrinks
        # (Sᵀg is then a difference of far larger numbers): once |g|² falls below
        # REFRESH² times its value when they were last exact, they are computed anew.
        self._exact_gg = 0.0
        self._stale = False
        self._grad_gg = 0.0  # |g|² of the current gradient (once a step has been made)
        self._count = 0  # pairs stored
        self._oldest = 0  # slot of the oldest pair once the store is full
        self._gamma = 1.0
        self._loss: float | None = None
        self._grad: torch.Tensor | None = None

    # -- the direction -------------------------------------------------------------------

    def _products(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(Sᵀv, Yᵀv) over the stored pairs, slot order, float64: one read of the store."""
        assert self._pairs is not None
        k = self._count
        if self._pairs.dtype == v.dtype:
            return (self._pairs[0, :k] @ v).double(), (self._pairs[1, :k] @ v).double()
        if v.is_cuda:
            column = v.to(self._pairs.dtype)[:, None]
            s_v, y_v = (torch.mm(self._pairs[i, :k], column, out_dtype=v.dtype)[:, 0].double()
                        for i in (0, 1))
            return s_v, y_v
        total = torch.zeros((2, k), dtype=torch.float64, device=v.device)
        for cols in self._blocks(v.numel()):
            total += (self._pairs[:, :k, cols].to(v.dtype) @ v[cols]).double()
        return total[0], total[1]

    def _blocks(self, n: int) -> list[slice]:
        """Column blocks of the store whose conversion takes ``BLOCK_ELEMENTS`` at most."""
        width = max(1, BLOCK_ELEMENTS // (2 * max(self._count, 1)))
        return [slice(j, min(j + width, n)) for j in range(0, n, width)]

    def _combine(self, g: torch.Tensor, gamma: float, a: torch.Tensor,
                 b: torch.Tensor) -> torch.Tensor:
        """γ g + S a + Y b over the stored pairs (slot order)."""
        assert self._pairs is not None
        k = self._count
        steps, changes = self._pairs[0, :k], self._pairs[1, :k]
        a, b = a.to(g.dtype), b.to(g.dtype)
        if steps.dtype == g.dtype:
            return torch.addmv(g, steps.T, a, beta=gamma).addmv_(changes.T, b)
        out = g * gamma
        if g.is_cuda:
            for pairs, coefficients in ((steps, a), (changes, b)):
                out += torch.mm(pairs.T, coefficients.to(pairs.dtype)[:, None],
                                out_dtype=g.dtype)[:, 0]
            return out
        for cols in self._blocks(g.numel()):
            out[cols].addmv_(steps[:, cols].to(g.dtype).T, a)
            out[cols].addmv_(changes[:, cols].to(g.dtype).T, b)
        return out

    def _store(
        self, s: torch.Tensor, y: torch.Tensor,
        known: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
        own: torch.Tensor | None = None,
    ) -> int:
        """Add the pair (s, y) and return its slot; the oldest pair goes when
        ``history_size`` are stored. ``known``: (Yᵀs, Sᵀy, Yᵀy) over the pairs stored before
        this one, and ``own``: (sᵀy, yᵀy), when the caller has them (otherwise they are
        computed here)."""
        m, k = self.history_size, self._count
        if own is None:
            own = torch.stack((s.dot(y), y.dot(y)))
        if known is None:
            known = (
                (self._products(s)[1], *self._products(y)) if k
                else (self._sy.new_zeros(0),) * 3
            )
        y_s, s_y, y_y = known
        capacity = 0 if self._pairs is None else self._pairs.shape[1]
        if k == capacity < m:
            # Short runs (a draft's dozen iterations) keep 16 slots; longer ones all m, in
            # one step so that two large buffers are alive together only once.
            grown = torch.zeros((2, m if capacity else min(m, 16), s.numel()),
                                dtype=self.history_dtype, device=s.device)
            if self._pairs is not None:
                grown[:, :capacity] = self._pairs
            self._pairs = grown
        assert self._pairs is not None
        if k < m:
            slot = self._count
            self._count += 1
        else:  # the oldest pair's row and column are all overwritten below
            slot = self._oldest
            self._oldest = (self._oldest + 1) % m
        self._pairs[0, slot] = s
        self._pairs[1, slot] = y
        self._sy[slot, :k] = y_s  # s_new · y_i
        self._sy[:k, slot] = s_y  # s_i · y_new
        self._yy[slot, :k] = y_y
        self._yy[:k, slot] = y_y
        self._sy[slot, slot], self._yy[slot, slot] = own.double()
        return slot

    def inverse_hessian_times(self, g: torch.Tensor) -> torch.Tensor:
        """H g for the stored pairs (γ g when there are none)."""
        if self._count == 0 or self._pairs is None:
            return g * self._gamma
        return self._compact(g, *self._products(g))[0]

    def _compact(
        self, g: torch.Tensor, s_g: torch.Tensor, y_g: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """H g from g and its products with the pairs (Sᵀg, Yᵀg, slot order), and Yᵀ(H g),
        which follows from the small matrices without reading the pairs again."""
        assert self._pairs is not None
        k, shift, gamma = self._count, self._oldest, self._gamma
        # Oldest first: rolling the slot order by the oldest slot gives the age order (the
        # oldest slot is 0 until the store is full and k = history_size).
        sy_slots, yy_slots = self._sy[:k, :k], self._yy[:k, :k]
        sy = torch.roll(sy_slots, (-shift, -shift), (0, 1))
        yy = torch.roll(yy_slots, (-shift, -shift), (0, 1))
        r = torch.triu(sy)
        w = torch.linalg.solve_triangular(r, torch.roll(s_g, -shift)[:, None], upper=True)[:, 0]
        inner = torch.diagonal(sy) * w + gamma * (yy @ w) - gamma * torch.roll(y_g, -shift)
        a = torch.linalg.solve_triangular(r.T, inner[:, None], upper=False)[:, 0]
        # Back to slot order: γ g + S a − γ Y w.
        a, w = torch.roll(a, shift), torch.roll(w, shift)
        hg = self._combine(g, gamma, a, -gamma * w)
        # Yᵀ(H g) = γ Yᵀg + (YᵀS) a − γ (YᵀY) w, with (YᵀS)[i, j] = s_j · y_i.
        return hg, gamma * y_g + sy_slots.T @ a - gamma * (yy_slots @ w)

    def forget(self) -> None:
        """Drop the stored pairs (the next direction is the steepest descent)."""
        self._count, self._oldest, self._gamma = 0, 0, 1.0

    def step(self, closure: Callable[[], float]) -> Step | None:
        """One iteration; None when no step lowers the loss: at a stationary point, or when
        neither the L-BFGS direction nor, after forgetting the pairs, the steepest descent
        gives a line search any decrease."""
        x = self.x
        evaluations = 0

        def evaluate() -> tuple[float, torch.Tensor]:
            nonlocal evaluations
            evaluations += 1
            loss = float(closure())
            if x.grad is None:
                raise RuntimeError("the closure left no gradient in x.grad")
            return loss, x.grad.detach().reshape(-1).clone()

        if self._loss is None or self._grad is None:
            self._loss, self._grad = evaluate()
        loss, grad = self._loss, self._grad
        start = x.detach().clone()
        y_hg = grad.new_zeros(0)  # Yᵀ(H g) of the L-BFGS direction
        while True:
            if self._count == 0:
                direction = grad.neg()
                first = min(1.0, 1.0 / max(float(grad.abs().sum()), 1e-300)) * self.lr
            else:
                k = self._count
                if self._stale:
                    self._sg[:k], self._yg[:k] = self._products(grad)
                    self._exact_gg, self._stale = self._grad_gg, False
                hg, y_hg = self._compact(grad, self._sg[:k], self._yg[:k])
                direction = hg.neg_()
                first = self.lr
            slope = float(grad.dot(direction))
            accepted: _Trial | None = None
            if slope < 0.0 and math.isfinite(first) and first > 0.0:

                def trial(t: float, d: torch.Tensor = direction) -> _Trial:
                    with torch.no_grad():
                        x.copy_(start.view_as(x)).add_(d.view_as(x), alpha=t)
                    f, g = evaluate()
                    return _Trial(t, f, float(g.dot(d)), g, evaluations)

                found = _strong_wolfe(trial, _Trial(0.0, loss, slope, grad, 0), first)
                if found.index > 0:  # not the start point: the loss went down
                    accepted = found
            if accepted is not None:
                break
            if self._count == 0:  # steepest descent found nothing either
                with torch.no_grad():
                    x.copy_(start.view_as(x))
                return None
            self.forget()
        if accepted.index != evaluations:  # x holds a later trial point
            with torch.no_grad():
                x.copy_(start.view_as(x)).add_(direction.view_as(x), alpha=accepted.step)
        s = direction.mul(accepted.step)
        grad_new = accepted.grad
        y = grad_new - grad
        k = self._count
        if k:  # Sᵀg_new = Sᵀg + Sᵀy, the same for Y
            s_y, y_y = self._products(y)
            self._sg[:k] += s_y
            self._yg[:k] += y_y
        # One wait for the three numbers.
        products = torch.stack((y.dot(s), y.dot(y), grad_new.dot(grad_new)))
        curvature, y_y_new, g_g_new = products.tolist()
        if curvature > MIN_CURVATURE:
            known = (-accepted.step * y_hg, s_y, y_y) if k else None
            slot = self._store(s, y, known, own=products[:2])
            self._sg[slot] = s.dot(grad_new).double()
            self._yg[slot] = y.dot(grad_new).double()
            self._gamma = curvature / y_y_new
            if k == 0:  # the store's one pair: its products are exact
                self._exact_gg, self._stale = g_g_new, False
        if g_g_new < REFRESH**2 * self._exact_gg:
            self._stale = True
        self._loss, self._grad, self._grad_gg = accepted.loss, grad_new, g_g_new
        return Step(accepted.loss, accepted.index, evaluations)


def _cubic_minimum(a: _Trial, b: _Trial, low: float, high: float) -> float:
    """Minimiser of the cubic through two points' losses and slopes, kept in [low, high]
    (the middle when the cubic has no minimum there)."""
    if a.step == b.step:
        return (low + high) / 2
    d1 = a.slope + b.slope - 3.0 * (a.loss - b.loss) / (a.step - b.step)
    radicand = d1 * d1 - a.slope * b.slope
    if radicand < 0.0:
        return (low + high) / 2
    d2 = math.copysign(math.sqrt(radicand), b.step - a.step)
    denominator = b.slope - a.slope + 2.0 * d2
    if denominator == 0.0:
        return (low + high) / 2
    t = b.step - (b.step - a.step) * (b.slope + d2 - d1) / denominator
    if not math.isfinite(t):
        return (low + high) / 2
    return min(max(t, low), high)


def _strong_wolfe(trial: Callable[[float], _Trial], origin: _Trial, first: float) -> _Trial:
    """A step satisfying the strong Wolfe conditions, or the best point found within
    MAX_EVALUATIONS (``origin`` itself when nothing lowered the loss)."""
    f0, slope0 = origin.loss, origin.slope

    def sufficient(p: _Trial) -> bool:
        return p.loss <= f0 + C1 * p.step * slope0

    def curvature(p: _Trial) -> bool:
        return abs(p.slope) <= -C2 * slope0

    previous, current = origin, trial(first)
    evaluations = 1
    while True:  # bracketing (N&W Algorithm 3.5)
        if not math.isfinite(current.loss):
            return _zoom(trial, origin, previous, current, evaluations)
        if not sufficient(current) or (evaluations > 1 and current.loss >= previous.loss):
            return _zoom(trial, origin, previous, current, evaluations)
        if curvature(current):
            return current
        if current.slope >= 0.0:
            return _zoom(trial, origin, current, previous, evaluations)
        if evaluations >= MAX_EVALUATIONS:
            return current
        # Extrapolate: at least a little beyond, at most ten times as far.
        low = current.step + 0.01 * (current.step - previous.step)
        high = 10.0 * current.step
        previous, current = current, trial(_cubic_minimum(previous, current, low, high))
        evaluations += 1


def _zoom(
    trial: Callable[[float], _Trial], origin: _Trial, lo: _Trial, hi: _Trial, evaluations: int
) -> _Trial:
    """Shrink the bracket [lo, hi] (lo: the lower loss meeting sufficient decrease) until a
    point meets both conditions (N&W Algorithm 3.6)."""
    f0, slope0 = origin.loss, origin.slope
    while evaluations < MAX_EVALUATIONS:
        left, right = sorted((lo.step, hi.step))
        width = right - left
        if width <= 1e-10 * right:  # relative: the loss's scale sets the step sizes
            break
        if math.isfinite(hi.loss):
            t = _cubic_minimum(lo, hi, left, right)
        else:  # a non-finite end gives the cubic nothing to fit: bisect
            t = (left + right) / 2
        # Keep away from the ends so that the bracket shrinks by a tenth at least.
        t = min(max(t, left + 0.1 * width), right - 0.1 * width)
        p = trial(t)
        evaluations += 1
        if not math.isfinite(p.loss) or p.loss > f0 + C1 * t * slope0 or p.loss >= lo.loss:
            hi = p
            continue
        if abs(p.slope) <= -C2 * slope0:
            return p
        if p.slope * (hi.step - lo.step) >= 0.0:
            hi = lo
        lo = p
    return lo
