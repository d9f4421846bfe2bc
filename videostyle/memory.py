"""How much memory a frame's optimisation needs, and whether the device has it.

The need grows with the frame's pixels: the loss network's activations kept for the
backward pass, and the optimiser's state (L-BFGS stores ``history`` pairs of image-sized
vectors; Adam two moments). A size that does not fit is refused before the first frame,
with the options that help; an out-of-memory error in the middle of a render is reported
the same way (:func:`out_of_memory`), the finished frames kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from .config import EngineSettings, OptimizerSettings
from .errors import ResourceError, opt

#: Bytes per pixel of one evaluation of the objective and its gradient (the loss
#: network's activations through relu5_1 kept for the backward pass, float32, VGG-16):
#: the slope of the peak resident memory of a forward and backward pass between 512x512
#: and 1024x1024 on the CPU, 2346 bytes per pixel (docs/performance.md), rounded up.
#: VGG-19 adds one 256- and one 512-channel layer: ~10 % more.
ACTIVATION_BYTES_PER_PIXEL = 2400

#: Image-sized float32 buffers besides the optimiser's history: the image, its gradient,
#: the clamped copy, the content and temporal targets, the line search's trial points.
IMAGE_BUFFERS = 12

#: Memory left to others (the CUDA context, cuDNN workspaces, the allocator's slack).
HEADROOM = 0.9


@dataclass(frozen=True)
class Need:
    """The bytes a frame of ``size`` needs: ``network`` (activations) + ``optimizer``."""

    size: tuple[int, int]
    network: int
    optimizer: int

    @property
    def total(self) -> int:
        return self.network + self.optimizer


def need(size: tuple[int, int], engine: EngineSettings, *, half: bool = False) -> Need:
    """The memory one optimisation of a ``(width, height)`` frame needs (``half``: the
    convolutions run in a 16-bit type, which halves the activations)."""
    pixels = size[0] * size[1]
    per_pixel = ACTIVATION_BYTES_PER_PIXEL * (1.1 if engine.network == "vgg19" else 1.0)
    network = int(pixels * per_pixel * (0.5 if half else 1.0))
    opt_settings = engine.optimizer
    optimizer = pixels * 3 * (4 * IMAGE_BUFFERS + _history_bytes(opt_settings))
    return Need(size=size, network=network, optimizer=optimizer)


def _history_bytes(settings: OptimizerSettings) -> int:
    """The optimiser's state per pixel and channel: L-BFGS's pairs, or Adam's 3 buffers."""
    if settings.optimizer != "lbfgs":
        return 3 * 4
    return 2 * settings.lbfgs_history * (2 if settings.lbfgs_precision == "bf16" else 4)


def available(device: torch.device) -> int | None:
    """Free bytes on ``device`` (None where unknown)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        try:
            with open("/proc/meminfo") as handle:
                for line in handle:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
    return None


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def _remedies(n: Need, engine: EngineSettings) -> str:
    """The options that lower the need, with what each saves."""
    w, h = n.size
    parts = [f"{opt('size')} {max(w, h) // 2} (a quarter of the memory)"]
    settings = engine.optimizer
    pixels = n.size[0] * n.size[1] * 3
    if settings.optimizer != "lbfgs":
        return ", ".join(parts)
    history = pixels * _history_bytes(settings)

    def saves(**change: Any) -> str:
        return gib(history - pixels * _history_bytes(dataclasses.replace(settings, **change)))

    if settings.lbfgs_history > 10:
        parts.append(f"{opt('lbfgs_history')} 10 (saves {saves(lbfgs_history=10)})")
    if settings.lbfgs_precision == "float32":
        parts.append(f"{opt('lbfgs_precision')} bf16 (saves {saves(lbfgs_precision='bf16')})")
    parts.append(f"{opt('optimizer')} adam (saves {saves(optimizer='adam')})")
    return ", ".join(parts)


def check_fits(size: tuple[int, int], engine: EngineSettings, device: torch.device,
               *, half: bool = False, free: int | None = None) -> Need:
    """Refuse a frame size the device cannot hold (one line naming the size, the need and
    the options that help). ``free`` overrides the measured free memory."""
    n = need(size, engine, half=half)
    free = available(device) if free is None else free
    if free is not None and n.total > HEADROOM * free:
        raise ResourceError(
            f"a {size[0]}x{size[1]} frame needs about {gib(n.total)} on {device} "
            f"(network {gib(n.network)}, optimiser {gib(n.optimizer)}) but {gib(free)} is "
            f"free; use {_remedies(n, engine)}"
        )
    return n


def out_of_memory(size: tuple[int, int], engine: EngineSettings, device: torch.device,
                  frame: int, *, half: bool = False) -> ResourceError:
    """The error for an out-of-memory failure while rendering ``frame``."""
    n = need(size, engine, half=half)
    return ResourceError(
        f"out of memory on {device} at frame {frame} ({size[0]}x{size[1]}, about "
        f"{gib(n.total)} needed); the finished frames are kept; run again with "
        f"{_remedies(n, engine)}, each with {opt('restart')} (they change the frames)"
    )


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is the device (or the host) running out of memory."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and (
        "out of memory" in str(exc) or "can't allocate memory" in str(exc)
    )
