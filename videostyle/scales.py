"""Coarse-to-fine: the scales of one optimisation and how its budget is spread over them.

A coarse-to-fine run optimises the image at a small size first, then upsamples each
result as the start of the next, larger scale; the last scale is always the output size.
Structures the size of the loss network's receptive field at a small scale become strokes
many times larger at the output size, and the small scales cost little.

The budget is counted as work at the output size: ``iterations`` means the work of that
many iterations on the full frame (loss evaluations x pixels). The last scale gets 90 %
of it; the rest is shared equally, in work, by the smaller scales, which therefore run
more iterations the smaller they are (at most ``iterations`` each). With one scale the
run is the plain ``iterations`` at the output size. Sizes are ``(width, height)``.

At equal work the coarse-to-fine start ends at a lower full-size loss than one scale on
every pair measured at 96-128 px (docs/performance.md); with 50 % or 75 % for the last
scale it did not on some pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InputError
from .video import fit_size

#: Each scale's longest side over the previous one's.
SCALE_RATIO = math.sqrt(2)

#: The last scale's share of a coarse-to-fine budget (measured against 0.5 and 0.75).
LAST_SHARE = 0.9

#: The shortest side of a scale: smaller ones are left out (the loss network pools four
#: times before relu5_1, and a scale this small carries no stroke worth starting from).
MIN_SIDE = 32


@dataclass(frozen=True)
class Scale:
    """One scale of a run: its ``(width, height)`` and its iterations."""

    size: tuple[int, int]
    iterations: int

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]


def scale_sizes(
    size: tuple[int, int], start: int | None, ratio: float = SCALE_RATIO
) -> list[tuple[int, int]]:
    """The ``(w, h)`` of each scale of a coarse-to-fine run, coarsest first, ``size`` last.

    The longest side goes from ``start`` up by ``ratio`` per scale; scales within 10 % of
    the output size are left out, and so are scales whose shorter side is below
    :data:`MIN_SIDE`. ``start`` None (or not below the size) gives one scale.

    >>> scale_sizes((256, 192), 128, 2 ** 0.5)
    [(128, 96), (181, 136), (256, 192)]
    """
    w, h = size
    longest = max(w, h)
    if start is None or start >= longest:
        return [size]
    if ratio <= 1:
        raise InputError(f"the scale ratio must be > 1, got {ratio}")
    sides: list[int] = []
    side = float(longest)
    while side / ratio >= start * 0.999:
        side /= ratio
        sides.append(round(side))
    sides = [s for s in reversed(sides) if s * 1.1 < longest]
    coarse = [fit_size(w, h, s) for s in sides]
    return [c for c in coarse if min(c) >= MIN_SIDE] + [size]


def plan(
    size: tuple[int, int], start: int | None, iterations: int, ratio: float = SCALE_RATIO
) -> list[Scale]:
    """The scales of one run with ``iterations`` of work at ``size`` spread over them.

    >>> [(s.size, s.iterations) for s in plan((256, 192), 128, 400)]
    [((128, 96), 80), ((181, 136), 40), ((256, 192), 360)]
    """
    sizes = scale_sizes(size, start, ratio)
    if len(sizes) == 1 or iterations == 0:
        return [Scale(size, iterations)]
    last = Scale(size, max(1, math.ceil(iterations * LAST_SHARE)))
    share = (iterations - last.iterations) / (len(sizes) - 1)  # work, in full-size iterations
    coarse = [
        Scale(s, max(1, min(iterations, round(share * last.pixels / (s[0] * s[1])))))
        for s in sizes[:-1]
    ]
    return [*coarse, last]


def work(scales: list[Scale], size: tuple[int, int]) -> float:
    """The scales' iterations as iterations at ``size`` (iterations x pixels / pixels)."""
    return sum(s.iterations * s.pixels for s in scales) / (size[0] * size[1])
