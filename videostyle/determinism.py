"""``--deterministic``: bitwise-reproducible renders and resumes, on a GPU too.

Without it, a render is bit-identical to another run of it, and a resumed render to an
uninterrupted one, on the same CPU, thread count and torch build (the CPU kernels used
are deterministic for a fixed thread count). On a CUDA GPU it is not: cuDNN picks
convolution algorithms by heuristics (and by timing with ``cudnn.benchmark``), and
some backward kernels sum with atomic additions in whatever order the threads finish,
so the last bits of a frame's gradient, and through L-BFGS's line search sometimes
more, differ between two runs. A resumed render's new frames then match an
uninterrupted run's in look, not in bits (stored frames are kept byte for byte).

With ``--deterministic``, while the render runs:

* ``torch.use_deterministic_algorithms(True)``: an operation without a deterministic
  implementation stops the render with one line instead of running;
* ``torch.backends.cudnn.deterministic = True`` and ``cudnn.benchmark = False``: cuDNN
  uses deterministic algorithms, chosen the same way every run;
* ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (when unset): cuBLAS's deterministic mode;
* resuming refuses (instead of warning) when the device, thread count, torch version or
  machine differs from the one that rendered the stored frames, since bits would
  differ. On a CPU this is the option's effect: the CPU kernels are deterministic
  already, and the thread count is what changes their bits.

It is recorded in the run folder's settings: a render started with it resumes with it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from .errors import InputError, ResumeError, opt
from .workdir import RunFolder

#: The environment fields that must match for a bitwise resume.
FIELDS = ("device", "threads", "torch", "machine")


@contextmanager
def applied(deterministic: bool, device: torch.device) -> Iterator[None]:
    """Deterministic algorithms for the body when ``deterministic``; restored after."""
    if not deterministic:
        yield
        return
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    try:
        yield
    except RuntimeError as exc:
        if "deterministic" not in str(exc):
            raise
        raise InputError(
            f"{opt('deterministic')}: {str(exc).splitlines()[0]}; render without "
            f"{opt('deterministic')}"
        ) from exc
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.deterministic = before[1]
        torch.backends.cudnn.benchmark = before[2]


def check_resume(run: RunFolder, environment: dict[str, Any], *, restart: bool) -> None:
    """Refuse to resume ``run`` in an environment whose bits would differ from its frames'."""
    if restart or not run.exists():
        return
    old = run.read_manifest().get("environment", {})
    changed = [f"{k} {old.get(k)} -> {environment.get(k)}" for k in FIELDS
               if old.get(k) != environment.get(k)]
    if changed:
        raise ResumeError(
            f"{opt('deterministic')}: {run.root} was rendered with another "
            f"{', '.join(changed)}, so new frames would not match it bit for bit; resume "
            f"where it was rendered (same device and thread count: OMP_NUM_THREADS), or "
            f"add {opt('restart')}"
        )
