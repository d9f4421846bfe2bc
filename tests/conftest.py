"""Shared fixtures: the reference data in ../shared, a tiny stand-in feature extractor, and
the bundled VGG-16 loaded once per session into a private cache folder."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from videostyle.cli import main
from videostyle.networks import LossNetwork, WeightsInfo, load_network

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_REASON = "../shared (test data) is absent"


@pytest.fixture(scope="session")
def shared() -> Path:
    """The ../shared folder; skips the test when it is absent (a fresh clone)."""
    if not SHARED.is_dir():
        pytest.skip(SHARED_REASON)
    return SHARED


@pytest.fixture(scope="session")
def vgg19_weights(shared: Path) -> Path:
    """../shared/weights/vgg19_features.pth (a state_dict of torchvision's vgg19().features)."""
    path = shared / "weights" / "vgg19_features.pth"
    if not path.is_file():
        pytest.skip(SHARED_REASON)
    return path


class TinyFeatures(nn.Module):
    """A small fixed random conv stack with the loss-network interface.

    ``relu1_1`` (4 channels, full size) -> 2x2 average pool -> ``relu2_1`` (6 channels)
    -> ``relu3_1`` (8 channels, same size). Called as ``net(image, layers) -> {name: act}``
    and exposes ``.weights`` like :class:`videostyle.networks.LossNetwork`.
    """

    names = ("relu1_1", "relu2_1", "relu3_1")
    autocast: torch.dtype | None = None  # float32, as LossNetwork's on the CPU

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.conv3 = nn.Conv2d(6, 8, 3, padding=1)
        with torch.no_grad():
            for conv in (self.conv1, self.conv2, self.conv3):
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.5)
                conv.bias.copy_(torch.randn(conv.bias.shape, generator=generator) * 0.1)
        self.requires_grad_(False)
        self.weights = WeightsInfo(network="tiny", sha256="0" * 64, source="tests")

    def forward(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        x = torch.relu(self.conv1(image))  # (N, 4, H, W)
        out["relu1_1"] = x
        x = torch.relu(self.conv2(F.avg_pool2d(x, 2)))  # (N, 6, H/2, W/2)
        out["relu2_1"] = x
        out["relu3_1"] = torch.relu(self.conv3(x))  # (N, 8, H/2, W/2)
        return {name: out[name] for name in layers}


@pytest.fixture
def tiny_net() -> TinyFeatures:
    return TinyFeatures()


@pytest.fixture(scope="session")
def vgg16_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private converted-weights cache for the session (the user's cache is left alone)."""
    return tmp_path_factory.mktemp("vgg16-cache")


@pytest.fixture(scope="session")
def vgg16(vgg16_cache: Path) -> Iterator[LossNetwork]:
    """The bundled ImageNet VGG-16 (max pooling), loaded once."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDEOSTYLE_CACHE", str(vgg16_cache))
        net = load_network("vgg16")
    yield net


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """``main(argv)`` in this process: returns (exit code, stdout, stderr).

    The render command installs SIGINT/SIGTERM handlers; they are put back afterwards.
    """
    monkeypatch.setenv("VIDEOSTYLE_CACHE", str(_cache_dir(tmp_path_factory)))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def run(*args: str | Path) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        out, err = capsys.readouterr()
        code = exc.value.code
        return (code if isinstance(code, int) else 0 if code is None else 1), out, err

    try:
        yield run
    finally:
        torch.set_num_threads(threads)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _cache_dir(factory: pytest.TempPathFactory) -> Path:
    from clips import cache_dir

    return cache_dir(factory)
