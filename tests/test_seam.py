"""The seam between the render chain and the stylizer: a render runs through any
:class:`~videostyle.stylizer.Stylizer` given through the public API, and each frame's job
reads and warps every earlier frame once."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import TinyFeatures

from videostyle import jobs
from videostyle.config import EngineSettings, OptimizerSettings
from videostyle.flow import FolderFlow, write_flo
from videostyle.pipeline import Renderer
from videostyle.settings import RenderSettings
from videostyle.stylize import ImageSettings, to_image
from videostyle.stylizer import FrameJob, FrameResult
from videostyle.video import read_image
from videostyle.workdir import RunFolder

CPU = torch.device("cpu")


class Negative:
    """A stylizer with no optimiser: the frame's start image, inverted."""

    def __init__(self) -> None:
        self.jobs: list[FrameJob] = []

    def stylize(self, job: FrameJob) -> FrameResult:
        self.jobs.append(job)
        return FrameResult(image=1.0 - to_image(job.init), iterations=1, losses={"x": 1.0})


def moving(folder: Path, n: int, size: tuple[int, int] = (24, 16)) -> Path:
    rng = np.random.default_rng(1)
    background = cv2.GaussianBlur((rng.random((size[1], size[0] + n + 8, 3)) * 255)
                                  .astype(np.uint8), (3, 3), 0)
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(1, n + 1):
        cv2.imwrite(str(folder / f"f_{t:04d}.png"), background[:, t: t + size[0]].copy())
    return folder


def settings(tmp_path: Path, source: Path, **kw: object) -> RenderSettings:
    engine = EngineSettings(
        content_layers=("relu3_1",), style_layers=("relu1_1", "relu2_1", "relu3_1"),
        optimizer=OptimizerSettings(iterations=2, tolerance=0),
    )
    style = tmp_path / "style.png"
    cv2.imwrite(str(style), (np.random.default_rng(2).random((16, 16, 3)) * 255).astype(np.uint8))
    base: dict[str, object] = dict(
        source=source, styles=(style,), output=tmp_path / "out_%04d.png",
        image=ImageSettings(size=None, engine=engine), fps=Fraction(24), iterations=(2, 1),
        flow="dis",
    )
    base.update(kw)
    return RenderSettings(**base)  # type: ignore[arg-type]


def test_single_pass_render_runs_through_an_injected_stylizer(tmp_path: Path) -> None:
    source = moving(tmp_path / "in", 3)
    s = settings(tmp_path, source, init="prev")
    stylizer = Negative()
    result = Renderer(s, network=TinyFeatures(), device=CPU,  # type: ignore[arg-type]
                      stylizer=stylizer).run()
    assert result.computed == 3 and [j.frame for j in stylizer.jobs] == [1, 2, 3]
    run = RunFolder(result.workdir)
    content1 = read_image(run.content_path(1))
    frame1 = read_image(run.frame_path(1))
    np.testing.assert_allclose(frame1, 1.0 - content1, atol=1 / 65535)
    # --init prev: frame 2 starts from stored frame 1, so it comes back as frame 1's content
    np.testing.assert_allclose(read_image(run.frame_path(2)), content1, atol=2 / 65535)
    assert run.frame_record(3).losses == {"x": 1.0}  # type: ignore[union-attr]
    assert (tmp_path / "out_0003.png").is_file()


def test_multi_pass_render_runs_through_an_injected_stylizer(tmp_path: Path) -> None:
    source = moving(tmp_path / "in", 3)
    s = settings(tmp_path, source, passes=3, temporal_after_pass=2, iterations=(1, 1))
    stylizer = Negative()
    result = Renderer(s, network=TinyFeatures(), device=CPU,  # type: ignore[arg-type]
                      stylizer=stylizer).run()
    labels = [j.label for j in stylizer.jobs]
    assert labels[:3] == ["pass 1, frame 1", "pass 1, frame 2", "pass 1, frame 3"]
    assert labels[3:6] == ["pass 2, frame 3", "pass 2, frame 2", "pass 2, frame 1"]
    assert [len(j.temporal) for j in stylizer.jobs] == [0, 0, 0, 0, 1, 1, 0, 1, 1]
    run = RunFolder(result.workdir)
    for f in (1, 2, 3):
        assert run.frame_path(f).read_bytes() == run.pass_path(3, f).read_bytes()


@pytest.mark.parametrize("temporal_weight", [1000.0, 0.0])
def test_each_earlier_frame_is_fetched_and_warped_once_per_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, temporal_weight: float
) -> None:
    source = moving(tmp_path / "in", 5)
    flows = tmp_path / "flow"
    flows.mkdir()
    for a in range(1, 6):
        for b in range(1, 6):
            if a != b:
                write_flo(flows / (f"forward_{a}_{b}.flo" if a < b else f"backward_{a}_{b}.flo"),
                          np.zeros((16, 24, 2), np.float32))
    gets: list[tuple[int, int]] = []
    warps: list[int] = []
    original_get, original_warp = FolderFlow.get, jobs.flowmod.warp

    def counting_get(self: FolderFlow, a: int, b: int) -> np.ndarray:
        gets.append((a, b))
        return original_get(self, a, b)

    def counting_warp(image: np.ndarray, flow: np.ndarray, **kw: object) -> np.ndarray:
        warps.append(1)
        return original_warp(image, flow, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(FolderFlow, "get", counting_get)
    monkeypatch.setattr(jobs.flowmod, "warp", counting_warp)
    s = settings(tmp_path, source, flow=str(flows), long_term=(1, 2),
                 temporal_weight=temporal_weight)
    stylizer = Negative()
    Renderer(s, network=TinyFeatures(), device=CPU, stylizer=stylizer).run()  # type: ignore[arg-type]
    # frame 2 looks back 1 frame, frames 3-5 two: one warp each, two flows each with weights
    looked_at = 1 + 3 * 2 if temporal_weight else 4  # without the loss: the warped init only
    assert len(warps) == looked_at
    assert len(gets) == (2 * looked_at if temporal_weight else looked_at)
    assert len(set(gets)) == len(gets)  # no flow fetched twice
    assert [len(j.temporal) for j in stylizer.jobs] == (
        [0, 1, 2, 2, 2] if temporal_weight else [0] * 5
    )
