"""Temporal consistency inside the render pipeline: weights, long-term terms, prefetching."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from videostyle import flow as flowmod
from videostyle.config import (
    DEFAULT_TEMPORAL_WEIGHT,
    MULTIPASS_TEMPORAL_WEIGHT,
    REFERENCE_RELU4_2_SCALE,
    EngineSettings,
    LossWeights,
    OptimizerSettings,
)
from videostyle.losses import content_loss, temporal_loss
from videostyle.pipeline import Renderer, RenderSettings
from videostyle.stylize import ImageSettings
from videostyle.stylizer import FrameJob, FrameResult, OptimizingStylizer
from videostyle.workdir import RunFolder

CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68])


def _caffe(image_rgb01: np.ndarray) -> np.ndarray:
    """The reference implementation's preprocessing: BGR, x 256, mean-subtracted."""
    return image_rgb01[..., ::-1] * 256.0 - CAFFE_MEAN_BGR


def test_default_temporal_weight_matches_the_reference_strength() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((12, 10, 3))
    w = rng.random((12, 10, 3))
    c = rng.random((12, 10))
    # Reference side, computed in Caffe pixel space: temporal weight 1000 on
    # MSE(sqrt(c) * x_caffe, sqrt(c) * w_caffe), content weight 5 on the Caffe VGG-19's
    # relu4_2 features f19; here a stand-in content loss L19 of those features.
    diff = (_caffe(x) - _caffe(w)) * np.sqrt(c)[..., None]
    reference_temporal = 1000.0 * np.mean(diff**2)
    f19_a, f19_b = rng.random((8, 3, 2)) * 40, rng.random((8, 3, 2)) * 40
    reference_content = 5.0 * np.mean((f19_a - f19_b) ** 2)
    reference_ratio = reference_temporal / reference_content

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.copy()).permute(2, 0, 1)[None]

    # Our side: the same features on VGG-16's scale (calibrated by the relu4_2 factor).
    s = REFERENCE_RELU4_2_SCALE
    ours_temporal = DEFAULT_TEMPORAL_WEIGHT * float(
        temporal_loss(t(x), t(w), torch.from_numpy(c)[None, None])
    )
    ours_content = LossWeights().content * float(
        content_loss(torch.from_numpy(s * f19_a), torch.from_numpy(s * f19_b))
    )
    assert ours_temporal / ours_content == pytest.approx(reference_ratio, rel=1e-9)
    assert DEFAULT_TEMPORAL_WEIGHT == pytest.approx(200 * 256**2 * 0.2768**2)
    assert MULTIPASS_TEMPORAL_WEIGHT == pytest.approx(DEFAULT_TEMPORAL_WEIGHT / 2)


@pytest.mark.slow
def test_relu4_2_scale_is_the_calibration_of_the_caffe_vgg19(vgg19_weights) -> None:
    """The constant is what the project's calibration computes for the Caffe VGG-19."""
    from videostyle.networks import load_vgg19

    net = load_vgg19(weights=vgg19_weights)
    assert net.scales["relu4_2"] == pytest.approx(REFERENCE_RELU4_2_SCALE, rel=1e-3)


def test_content_loss_is_the_reference_mse() -> None:
    a, b = torch.rand(1, 4, 3, 5), torch.rand(1, 4, 3, 5)
    assert float(content_loss(a, b)) == pytest.approx(float(((a - b) ** 2).mean()))


class _TinyNet(torch.nn.Module):
    """A stand-in for the loss network: fixed random convolutions named like VGG layers."""

    autocast: torch.dtype | None = None  # float32, as LossNetwork's on the CPU

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.c1 = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.c2 = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.requires_grad_(False)
        from videostyle.networks import WeightsInfo

        self.weights = WeightsInfo(network="tiny", sha256="0" * 64, source="test")

    def forward(self, image: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        r1 = torch.relu(self.c1(image))
        r2 = torch.relu(self.c2(torch.nn.functional.avg_pool2d(r1, 2)))
        table = {"relu1_1": r1, "relu2_1": r2}
        return {name: table[name] for name in layers}


def _moving_clip(folder: Path, n: int, size: tuple[int, int] = (24, 16)) -> Path:
    """A textured square moving right by one pixel per frame, as a PNG sequence."""
    rng = np.random.default_rng(1)
    background = (rng.random((size[1], size[0] + n + 8, 3)) * 255).astype(np.uint8)
    background = cv2.GaussianBlur(background, (3, 3), 0)
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(1, n + 1):
        frame = background[:, t : t + size[0]].copy()
        cv2.imwrite(str(folder / f"f_{t:04d}.png"), frame)
    return folder


def _settings(tmp_path: Path, source: Path, **kw: object) -> RenderSettings:
    engine = EngineSettings(
        content_layers=("relu2_1",),
        style_layers=("relu1_1", "relu2_1"),
        optimizer=OptimizerSettings(iterations=2, tolerance=0),
    )
    style = tmp_path / "style.png"
    cv2.imwrite(str(style), (np.random.default_rng(2).random((16, 16, 3)) * 255).astype(np.uint8))
    base = dict(
        source=source,
        styles=(style,),
        output=tmp_path / "out_%04d.png",
        image=ImageSettings(size=None, engine=engine),
        fps=Fraction(24),
        iterations=(2, 1),
        flow="dis",
    )
    base.update(kw)
    return RenderSettings(**base)  # type: ignore[arg-type]


class _Recorder:
    """The package's stylizer, keeping every job it was given (by frame)."""

    def __init__(self, inner: OptimizingStylizer) -> None:
        self.inner = inner
        self.jobs: dict[int, FrameJob] = {}

    def stylize(self, job: FrameJob) -> FrameResult:
        self.jobs[job.frame] = job
        return self.inner.stylize(job)


def _recording(settings: RenderSettings) -> _Recorder:
    return _Recorder(OptimizingStylizer(_TinyNet(), settings.engine))  # type: ignore[arg-type]


def _renderer(settings: RenderSettings, stylizer: _Recorder) -> Renderer:
    return Renderer(settings, network=stylizer.inner.network, device=torch.device("cpu"),
                    stylizer=stylizer)


@pytest.mark.slow
def test_long_term_offsets_on_a_41_frame_clip(tmp_path: Path) -> None:
    source = _moving_clip(tmp_path / "clip", 42)
    settings = _settings(tmp_path, source, long_term=(1, 10, 20, 40))
    recorder = _recording(settings)
    result = _renderer(settings, recorder).run()
    seen: dict[int, int] = {}
    for frame, job in recorder.jobs.items():
        seen[frame] = len(job.temporal)
        # closest first: the weights of all offsets never add up to more than 1
        if job.temporal:
            total = sum(t.weights for t in job.temporal)
            assert float(total.max()) <= 1.0 + 1e-6
    assert result.frames == 42
    assert seen[2] == 1 and seen[11] == 2 and seen[21] == 3 and seen[41] == 4 and seen[42] == 4
    flow_dir = result.workdir / "flow"
    for j in (1, 10, 20, 40):
        assert (flow_dir / f"backward_41_{41 - j}.flo").is_file()
        assert (flow_dir / f"forward_{41 - j}_41.flo").is_file()


def test_closest_first_weights_on_real_terms(tmp_path: Path) -> None:
    source = _moving_clip(tmp_path / "clip", 12)
    settings = _settings(tmp_path, source, long_term=(1, 2, 4))
    recorder = _recording(settings)
    result = _renderer(settings, recorder).run()
    run, terms = RunFolder(result.workdir), recorder.jobs[9].temporal
    # Recompute the raw weights from the cached flows and apply closest-first by hand.
    raw = []
    for j in (1, 2, 4):
        back = flowmod.read_flo(run.flow_dir / f"backward_9_{9 - j}.flo")
        fwd = flowmod.read_flo(run.flow_dir / f"forward_{9 - j}_9.flo")
        raw.append(flowmod.warp_weights(back, fwd))
    expected = [raw[0], np.clip(raw[1] - raw[0], 0, None)]
    expected.append(np.clip(raw[2] - raw[0] - expected[1], 0, None))
    for term, exp in zip(terms, expected, strict=True):
        np.testing.assert_allclose(term.weights[0, 0].numpy(), exp, atol=1e-6)


def test_flow_is_ready_before_the_previous_frame_ends(tmp_path: Path) -> None:
    source = _moving_clip(tmp_path / "clip", 6, size=(64, 48))
    settings = _settings(tmp_path, source, iterations=(6, 6), long_term=(1,))
    state = {"frame": 1, "ready": []}
    workdir = tmp_path / "out.videostyle"

    def on_frame(p):  # type: ignore[no-untyped-def]
        state["frame"] = p.frame + 1

    def on_iteration(p):  # type: ignore[no-untyped-def]
        frame = state["frame"]
        if p.iteration == p.total_iterations and frame < 6:
            nxt = frame + 1
            ready = (workdir / "flow" / f"backward_{nxt}_{frame}.flo").is_file() and (
                workdir / "flow" / f"forward_{frame}_{nxt}.flo"
            ).is_file()
            state["ready"].append((frame, ready))  # type: ignore[union-attr]
        import time

        time.sleep(0.02)  # an optimiser step takes time; the worker runs meanwhile

    renderer = Renderer(
        settings, network=_TinyNet(), device=torch.device("cpu"),  # type: ignore[arg-type]
        on_frame=on_frame, on_iteration=on_iteration,
    )
    renderer.run()
    assert state["ready"], "no frame reached its last iteration"
    # frame 1 has no flow of its own, so the worker starts on frame 2's pair at once
    assert all(ready for _, ready in state["ready"]), state["ready"]


def test_warped_init_starts_from_the_moved_previous_frame(tmp_path: Path) -> None:
    source = _moving_clip(tmp_path / "clip", 3, size=(48, 32))
    settings = _settings(tmp_path, source, iterations=(2, 1), temporal_weight=0.0)
    recorder = _recording(settings)
    result = _renderer(settings, recorder).run()
    x, run = recorder.jobs[2].init, RunFolder(result.workdir)
    previous = cv2.imread(str(run.frame_path(1)), cv2.IMREAD_UNCHANGED)[..., ::-1] / 65535.0
    # the content moves left by one pixel per frame: frame 2 at x shows frame 1 at x + 1
    init = x[0].permute(1, 2, 0).numpy()
    inner = np.abs(init[4:-4, 4:-6] - previous[4:-4, 5:-5])
    assert float(inner.mean()) < 0.02
    assert float(np.abs(init[4:-4, 4:-6] - previous[4:-4, 4:-6]).mean()) > 2 * float(
        inner.mean()
    )
