"""Tests of videostyle.pipeline in process: the Renderer's stages on tiny frame sequences with
the bundled VGG-16 at 32 px and a few iterations, png16, pixel_settings and status."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from clips import cache_dir, make_style, read_png

from videostyle.config import EngineSettings, LossWeights, OptimizerSettings
from videostyle.errors import Interrupted
from videostyle.networks import LossNetwork, load_network
from videostyle.pipeline import (
    ADDED_LATER,
    FrameProgress,
    Renderer,
    RenderSettings,
    pixel_settings,
    png16,
    status,
)
from videostyle.stylize import ImageSettings
from videostyle.video import SourceInfo, read_image, write_image
from videostyle.workdir import RunFolder, default_workdir

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LossNetwork]:
    """The bundled VGG-16, on one thread (much faster for 32 px images on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("VIDEOSTYLE_CACHE", str(cache_dir(tmp_path_factory)))
            yield load_network("vgg16", device=CPU)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def style(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_style(tmp_path_factory.mktemp("style") / "style.png")


def moving_frames(n: int, width: int = 40, height: int = 30) -> list[np.ndarray]:
    """A bright square moving right by 2 px a frame over a smooth gradient."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for k in range(n):
        img = np.stack([x / width, y / height, 0.5 + 0.3 * np.sin(x / 5.0)], axis=2)
        img[8:18, 6 + 2 * k : 16 + 2 * k] = (1.0, 0.9, 0.2)
        frames.append(img.astype(np.float32))
    return frames


def write_sequence(folder: Path, frames: list[np.ndarray], bit_depth: int = 8) -> Path:
    for number, frame in enumerate(frames, start=1):
        write_image(folder / f"in_{number:04d}.png", frame, bit_depth=bit_depth)
    return folder / "in_%04d.png"


def settings(
    source: Path, style: Path, output: Path, *, iterations: tuple[int, int] = (3, 2),
    seed: int = 0, size: int | None = 32, **changes: Any,
) -> RenderSettings:
    engine = EngineSettings(
        optimizer=OptimizerSettings(iterations=iterations[0]), seed=seed,
    )
    return RenderSettings(
        source=source, styles=(style,), output=output,
        image=ImageSettings(size=size, engine=engine), iterations=iterations, **changes,
    )


def render(
    s: RenderSettings, net: LossNetwork, **callbacks: Any
) -> tuple[Any, RunFolder]:
    result = Renderer(s, network=net, device=CPU, **callbacks).run()
    return result, RunFolder(result.workdir)


def stored(run: RunFolder, frames: range) -> list[bytes]:
    return [run.frame_path(f).read_bytes() for f in frames]


# ---- pure helpers --------------------------------------------------------------------------


def test_png16_stores_sixteen_bits_exactly() -> None:
    rng = np.random.default_rng(3)
    image = rng.random((5, 7, 3), dtype=np.float32)
    image[0, 0] = (-0.5, 1.5, 0.5)  # clipped
    decoded = cv2.imdecode(np.frombuffer(png16(image), np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.dtype == np.uint16 and decoded.shape == (5, 7, 3)
    expected = np.rint(np.clip(image, 0, 1) * 65535).astype(np.uint16)
    assert np.array_equal(decoded[..., ::-1], expected)
    assert png16(image) == png16(image.copy())  # same bytes for the same pixels


def test_pixel_settings_hold_what_changes_pixels_only(tmp_path: Path, style: Path) -> None:
    info = SourceInfo(
        path=tmp_path / "in.mp4", kind="video", width=48, height=36, fps=Fraction(25),
        n_frames=6, has_audio=False, bit_depth=8, fingerprint="f" * 64,
    )
    base = settings(tmp_path / "in.mp4", style, tmp_path / "out.mp4", init="prev")

    def pixels(s: RenderSettings) -> dict[str, Any]:
        return pixel_settings(s, info, 1, 6, (40, 30), "vgg16:abc")

    reference = pixels(base)
    assert reference["frames"] == [1, 6] and reference["size"] == [40, 30]
    assert reference["iterations"] == [3, 2] and reference["init"] == "prev"
    assert reference["source"] == "f" * 64 and reference["weights"] == "vgg16:abc"
    for same in (
        dataclasses.replace(base, codec="ffv1", output=tmp_path / "out.mkv"),
        dataclasses.replace(base, bit_depth=16, workdir=tmp_path / "w", restart=True),
    ):
        assert pixels(same) == reference
    heavier = dataclasses.replace(
        base.engine, weights=LossWeights(style=base.engine.weights.style * 2)
    )
    changed = {
        "engine": dataclasses.replace(base, image=dataclasses.replace(base.image,
                                                                      engine=heavier)),
        "iterations": dataclasses.replace(base, iterations=(3, 5)),
        "init": dataclasses.replace(base, init="prev-warped"),
        "independent": dataclasses.replace(base, independent=True),
        "temporal_weight": dataclasses.replace(base, temporal_weight=1.0),
        "long_term": dataclasses.replace(base, long_term=(1, 10)),
        "image": dataclasses.replace(base, image=dataclasses.replace(base.image,
                                                                     style_scale=0.5)),
    }
    for key, s in changed.items():
        new = pixels(s)
        assert sorted(k for k in reference if reference[k] != new[k]) == [key]


def test_settings_added_later_are_recorded_only_away_from_their_former_value(
    tmp_path: Path, style: Path
) -> None:
    """Run folders made before a setting existed hold no key for it and must still resume, so
    the manifest leaves each :data:`ADDED_LATER` setting out while it paints as before."""
    info = SourceInfo(
        path=tmp_path / "in.mp4", kind="video", width=48, height=36, fps=Fraction(25),
        n_frames=6, has_audio=False, bit_depth=8, fingerprint="f" * 64,
    )
    base = settings(tmp_path / "in.mp4", style, tmp_path / "out.mp4")
    bf16 = dataclasses.replace(base.engine, optimizer=OptimizerSettings(lbfgs_precision="bf16"),
                               compile="reduce-overhead")
    later = dataclasses.replace(base, deterministic=True, chunks=3, chunk_overlap=1,
                                image=dataclasses.replace(base.image, engine=bf16))
    former, current = (pixel_settings(s, info, 1, 6, (40, 30), "vgg16:abc")
                       for s in (base, later))

    def lookup(settings: dict[str, Any], path: tuple[str, ...]) -> Any:
        *parents, key = path
        for parent in parents:
            settings = settings[parent]
        return settings.get(key, "absent")

    assert {path: lookup(former, path) for path in ADDED_LATER} == dict.fromkeys(
        ADDED_LATER, "absent")
    assert {path: lookup(current, path) for path in ADDED_LATER} == {
        ("deterministic",): True,
        ("chunks",): [3, 1],
        ("engine", "optimizer", "lbfgs_precision"): "bf16",
        ("engine", "compile"): "reduce-overhead",
    }
    # Everything else is recorded either way: the optimizer's other fields stay.
    assert former["engine"]["optimizer"]["lbfgs_history"] == 100
    assert set(former) | {"deterministic", "chunks"} == set(current)


# ---- the chain ----------------------------------------------------------------------------


def test_pass_through_stores_content_and_keeps_frame_numbers(
    tmp_path: Path, style: Path, net: LossNetwork
) -> None:
    frames = moving_frames(5)
    source = write_sequence(tmp_path / "in", frames)
    output = tmp_path / "out" / "o_%04d.png"
    output.parent.mkdir()
    seen: list[FrameProgress] = []
    s = settings(source, style, output, iterations=(0, 0), size=None, frames=(2, 4),
                 bit_depth=16, fps=Fraction(30000, 1001))
    result, run = render(s, net, on_frame=seen.append)
    assert (result.frames, result.computed, result.fps) == (3, 3, Fraction(30000, 1001))
    assert run.root == default_workdir(output) == tmp_path / "out" / "o.videostyle"
    assert sorted(p.name for p in run.content_dir.iterdir()) == [
        "000002.png", "000003.png", "000004.png"
    ]
    assert run.done_frames(range(1, 6)) == [2, 3, 4]
    # 8-bit source levels v are stored as v * 257 in the 16-bit frames, unchanged
    levels = {f: np.rint(frames[f - 1] * 255).astype(np.uint16) * 257 for f in (2, 3, 4)}
    for frame in (2, 3, 4):
        assert np.array_equal(read_png(run.frame_path(frame))[..., ::-1], levels[frame])
        assert run.frame_record(frame).iterations == 0  # type: ignore[union-attr]
    assert [(p.frame, p.position, p.total, p.skipped) for p in seen] == [
        (2, 1, 3, False), (3, 2, 3, False), (4, 3, 3, False)
    ]
    written = sorted(output.parent.glob("o_*.png"))
    # the output sequence carries the source's frame numbers
    assert [p.name for p in written] == ["o_0002.png", "o_0003.png", "o_0004.png"]
    for path, frame in zip(written, (2, 3, 4), strict=True):
        data = read_png(path)
        assert data.dtype == np.uint16
        assert np.array_equal(data[..., ::-1], levels[frame])
    manifest = run.read_manifest()
    assert manifest["pixels"]["frames"] == [2, 4]
    assert manifest["source_info"]["fps"] == "30000/1001"

    run.record_path(3).unlink()  # frame 3 not done any more
    info = status(output)
    assert (info["frames"], info["done"], info["left"]) == (3, 2, 1)
    assert (info["first_frame"], info["last_frame"]) == (2, 4)
    later = run.frame_record(4).seconds  # type: ignore[union-attr]
    assert info["seconds_per_frame"] == pytest.approx(later)  # the first frame left out
    assert info["eta_seconds"] == pytest.approx(later)
    assert status(run.root)["done"] == 2  # the run folder itself works too


def test_independent_frame_equals_the_frame_rendered_alone(
    tmp_path: Path, style: Path, net: LossNetwork
) -> None:
    source = write_sequence(tmp_path / "in", moving_frames(3))
    full = settings(source, style, tmp_path / "a.mp4", iterations=(3, 3), independent=True)
    _, run_full = render(full, net)
    alone = dataclasses.replace(full, output=tmp_path / "b.mp4", frames=(3, 3))
    result, run_alone = render(alone, net)
    assert result.frames == 1
    assert run_alone.frame_path(3).read_bytes() == run_full.frame_path(3).read_bytes()
    assert not (run_full.flow_dir.is_dir() and any(run_full.flow_dir.glob("*.flo")))
    first = read_image(run_full.frame_path(1))
    assert np.abs(first - read_image(run_full.content_path(1))).mean() > 1e-3  # optimised


def test_random_init_is_seeded_by_seed_and_frame_number(
    tmp_path: Path, style: Path, net: LossNetwork
) -> None:
    still = moving_frames(1)[0]
    source = write_sequence(tmp_path / "in", [still] * 3)  # identical frames

    def run_with(seed: int, name: str) -> list[bytes]:
        s = settings(source, style, tmp_path / f"{name}.mp4", iterations=(2, 2), seed=seed,
                     init="random", temporal_weight=0.0)
        return stored(render(s, net)[1], range(1, 4))

    a = run_with(5, "a")
    assert run_with(5, "again") == a
    assert len(set(a[1:])) == 2  # same content, other noise per frame number
    b = run_with(6, "b")
    assert b[0] == a[0]  # the first frame starts from the content: no noise
    assert all(x != y for x, y in zip(a[1:], b[1:], strict=True))


def test_stop_abandons_the_current_frame(tmp_path: Path, style: Path, net: LossNetwork) -> None:
    source = write_sequence(tmp_path / "in", moving_frames(3))
    done: list[int] = []
    s = settings(source, style, tmp_path / "out.mp4", iterations=(3, 4))
    with pytest.raises(Interrupted, match="frame 2"):
        Renderer(
            s, network=net, device=CPU, on_frame=lambda p: done.append(p.frame),
            should_stop=lambda: bool(done),
        ).run()
    run = RunFolder(default_workdir(tmp_path / "out.mp4"))
    assert done == [1]
    assert run.done_frames(range(1, 4)) == [1]
    assert sorted(p.name for p in run.frames_dir.iterdir()) == ["000001.json", "000001.png"]
    assert not (tmp_path / "out.mp4").exists()


def test_stopped_render_resumes_to_the_uninterrupted_result(
    tmp_path: Path, style: Path, net: LossNetwork
) -> None:
    source = write_sequence(tmp_path / "in", moving_frames(4))
    whole = settings(source, style, tmp_path / "whole.mp4", iterations=(3, 4))
    _, reference = render(whole, net)
    assert len(list(reference.flow_dir.glob("*.flo"))) == 6  # prev-warped: 3 pairs each way

    s = dataclasses.replace(whole, output=tmp_path / "part.mp4")
    done: list[int] = []
    with pytest.raises(Interrupted):
        Renderer(
            s, network=net, device=CPU, on_frame=lambda p: done.append(p.frame),
            should_stop=lambda: len(done) >= 2,
        ).run()
    run = RunFolder(default_workdir(s.output))
    assert run.done_frames(range(1, 5)) == [1, 2]
    flows = sorted(run.flow_dir.glob("*.flo"))
    before = {p.name: p.stat().st_mtime_ns for p in flows}
    kept = {f: run.record_path(f).stat().st_mtime_ns for f in (1, 2)}

    result, run = render(s, net)
    assert result.computed == 2
    assert {f: run.record_path(f).stat().st_mtime_ns for f in (1, 2)} == kept
    assert {p.name: p.stat().st_mtime_ns for p in flows} == before
    assert stored(run, range(1, 5)) == stored(reference, range(1, 5))


def test_the_eta_leaves_out_the_first_frame_and_follows_the_last_ten() -> None:
    from videostyle.pipeline import eta_seconds

    assert eta_seconds([], 5) is None
    assert eta_seconds([40.0], 3) == pytest.approx(120.0)  # nothing else measured yet
    assert eta_seconds([40.0, 10.0, 12.0], 2) == pytest.approx(22.0)
    assert eta_seconds([40.0] + [5.0] * 10 + [7.0] * 10, 1) == pytest.approx(7.0)
