"""Plate resolution: presets render at the source's size, coarse-to-fine spreads a frame's
budget over its scales and records them, and the device path's checks (memory, precision,
device names) answer before any work."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from videostyle import memory
from videostyle.config import PRESETS, EngineSettings, OptimizerSettings
from videostyle.errors import InputError, ResourceError
from videostyle.losses import gram
from videostyle.networks import LossNetwork, load_network, resolve_device, resolve_precision
from videostyle.optimize import Objective, build_style_targets
from videostyle.scales import MIN_SIDE, plan, scale_sizes, work
from videostyle.stylize import ImageSettings, stylize_image, to_tensor
from videostyle.video import read_image
from videostyle.workdir import default_workdir

Cli = Callable[..., tuple[int, str, str]]


def _sequence(folder: Path, size: tuple[int, int], n: int = 3) -> Path:
    """``n`` frames of a smooth pattern drifting right by 2 px a frame."""
    w, h = size
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for k in range(n):
        x = xx - 2 * k
        rgb = np.stack([0.5 + 0.4 * np.sin(x / 9), 0.5 + 0.4 * np.cos(yy / 7),
                        0.5 + 0.3 * np.sin((x + yy) / 13)], axis=-1)
        cv2.imwrite(str(folder / f"f_{k + 1:04d}.png"),
                    np.rint(rgb[..., ::-1] * 255).astype(np.uint8))
    return folder / "f_%04d.png"


def _style(path: Path) -> Path:
    rng = np.random.default_rng(3)
    cv2.imwrite(str(path), rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
    return path


# ---- the budget ---------------------------------------------------------------------------


def test_plan_spreads_the_work_of_the_budget_over_the_scales() -> None:
    scales = plan((256, 192), 128, 400)
    assert [(s.size, s.iterations) for s in scales] == [
        ((128, 96), 80), ((181, 136), 40), ((256, 192), 360)]
    # the work of 400 iterations at 256x192: 360 there, 20 at each smaller scale
    assert work(scales, (256, 192)) == pytest.approx(400, rel=0.01)
    # 1080p from 128 px: eight scales (170 px first), the small ones capped at the budget
    hd = plan((1920, 1080), 128, 400)
    assert hd[-1] == plan((1920, 1080), None, 360)[0] and len(hd) == 8
    assert max(s.iterations for s in hd[:-1]) == 400
    assert work(hd, (1920, 1080)) <= 400
    assert plan((256, 192), None, 400)[0].iterations == 400  # one scale: the plain budget
    assert [s.iterations for s in plan((256, 192), 128, 0)] == [0]


def test_scales_too_small_for_the_network_are_left_out() -> None:
    sizes = scale_sizes((640, 48), 128, 2**0.5)
    assert sizes[-1] == (640, 48)
    assert all(min(s) >= MIN_SIDE for s in sizes[:-1])
    assert scale_sizes((640, 40), 128, 2**0.5) == [(640, 40)]  # every smaller one < 32 high


# ---- the plate's size, through `render` ------------------------------------------------------


def test_standard_renders_at_the_plate_size_with_each_scale_recorded(
    cli: Cli, tmp_path: Path
) -> None:
    source = _sequence(tmp_path / "src", (600, 64))
    out = tmp_path / "out" / "o_%04d.png"
    out.parent.mkdir()
    code, _, err = cli("render", source, "--fps", "24", "-s", _style(tmp_path / "s.png"),
                       "-o", out, "--iterations", "10,2", "--start-size", "256", "-q")
    assert code == 0, err
    frames = sorted(out.parent.glob("o_*.png"))
    assert len(frames) == 3
    assert read_image(frames[0]).shape[:2] == (64, 600)  # not capped at 512 any more
    records = default_workdir(out) / "frames"
    first = json.loads((records / "000001.json").read_text())
    later = json.loads((records / "000002.json").read_text())
    # 10 iterations of work at 600x64: 9 there, half an iteration's work at each smaller
    # scale (one iteration at the least)
    assert first["scales"] == [[300, 32, 2], [424, 45, 1], [600, 64, 9]]
    assert first["iterations"] == 9
    assert later["scales"] == [[600, 64, 2]]  # later frames: warm-started at full size


def _render(cli: Cli, folder: Path, source: Path, style: Path, *extra: str
            ) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    """Three frames rendered into ``folder`` with 12 and 4 iterations: the output pattern,
    the manifest's engine settings and the frame records."""
    out = folder / "o_%04d.png"
    folder.mkdir()
    code, _, err = cli("render", source, "--fps", "24", "-s", style, "-o", out,
                       "--iterations", "12,4", "-q", *extra)
    assert code == 0, err
    workdir = default_workdir(out)
    manifest = json.loads((workdir / "manifest.json").read_text())
    records = [json.loads(p.read_text()) for p in sorted((workdir / "frames").glob("*.json"))]
    return out, manifest["pixels"]["engine"], records


def test_lbfgs_precision_bf16_stores_the_pairs_in_half_the_bytes_through_render(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from videostyle import lbfgs

    stored: list[torch.dtype] = []
    real = lbfgs.LBFGS._store

    def spy(self: lbfgs.LBFGS, *args: object, **kwargs: object) -> int:
        slot = real(self, *args, **kwargs)  # type: ignore[arg-type]
        assert self._pairs is not None
        stored.append(self._pairs.dtype)
        return slot

    monkeypatch.setattr(lbfgs.LBFGS, "_store", spy)
    source = _sequence(tmp_path / "src", (64, 48))
    style = _style(tmp_path / "s.png")
    runs = {}
    for name, extra in (("f32", ()), ("bf16", ("--lbfgs-precision", "bf16"))):
        stored.clear()
        out, engine, records = _render(cli, tmp_path / name, source, style, *extra)
        runs[name] = (set(stored), engine["optimizer"], records,
                      [read_image(p) for p in sorted(out.parent.glob("o_*.png"))])
    assert runs["f32"][0] == {torch.float32} and runs["bf16"][0] == {torch.bfloat16}
    # a float32 history leaves the run folder as before the option (older folders resume)
    assert "lbfgs_precision" not in runs["f32"][1]
    assert runs["bf16"][1]["lbfgs_precision"] == "bf16"
    for a, b in zip(runs["f32"][2], runs["bf16"][2], strict=True):
        assert b["losses"]["total"] == pytest.approx(a["losses"]["total"], rel=0.03)
    assert any(not np.array_equal(a, b) for a, b in zip(runs["f32"][3], runs["bf16"][3],
                                                        strict=True))


def test_presets_other_than_draft_have_no_size_cap() -> None:
    assert PRESETS["standard"].size is None and PRESETS["final"].size is None
    assert PRESETS["draft"].size == 192


def test_coarse_to_fine_is_no_worse_than_one_scale_for_the_same_work(
    vgg16: LossNetwork, shared: Path
) -> None:
    """At equal work (loss evaluations x pixels) the coarse-to-fine start ends at a total
    loss no higher than one scale's, on the full-size objective."""
    content = read_image(shared / "data" / "content" / "golden_gate.jpg")
    style = read_image(shared / "data" / "styles" / "starry_night.jpg")

    def run(start: int | None, iterations: int) -> tuple[float, float]:
        settings = ImageSettings(size=96, start_size=start)
        engine = dataclasses.replace(settings.engine, optimizer=OptimizerSettings(
            iterations=iterations, tolerance=0.0))
        result = stylize_image(content, [style], network=vgg16,
                               settings=dataclasses.replace(settings, engine=engine))
        return result.losses["total"], result.evaluations

    coarse_loss, coarse_work = run(48, 100)
    single_loss, single_work = run(None, math.floor(coarse_work))
    assert single_work >= coarse_work - 2  # the single scale had at least the same work
    assert coarse_loss <= single_loss, (coarse_loss, single_loss)


# ---- memory -----------------------------------------------------------------------------------


def test_a_size_the_device_cannot_hold_is_refused_with_the_remedies() -> None:
    engine = EngineSettings()
    need = memory.need((3840, 2160), engine)
    # the L-BFGS history alone: 100 pairs of 3 x 8.3 MP float32 vectors = 19.9 GB
    assert need.optimizer > 100 * 2 * 3840 * 2160 * 3 * 4
    with pytest.raises(ResourceError) as err:
        memory.check_fits((3840, 2160), engine, torch.device("cuda:0"), free=8 * 2**30)
    message = str(err.value)
    assert "3840x2160" in message and "8.0 GiB is free" in message
    assert "size 1920" in message and "lbfgs_history 10" in message and "adam" in message
    history = 100 * 2 * 3840 * 2160 * 3 * 4
    assert f"lbfgs_precision bf16 (saves {memory.gib(history / 2)})" in message
    assert "\n" not in message
    # a shorter history and Adam need less; bf16 halves the activations
    short = dataclasses.replace(engine, optimizer=OptimizerSettings(lbfgs_history=10))
    saved = 90 * 2 * 3840 * 2160 * 3 * 4  # 90 fewer pairs
    assert memory.need((3840, 2160), short).total == need.total - saved
    bf16 = dataclasses.replace(engine, optimizer=OptimizerSettings(lbfgs_precision="bf16"))
    assert memory.need((3840, 2160), bf16).total == need.total - history // 2
    assert memory.need((3840, 2160), engine, half=True).network == need.network // 2
    memory.check_fits((64, 48), engine, torch.device("cpu"), free=8 * 2**30)  # fits


def test_render_refuses_a_frame_that_does_not_fit_before_any_work(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory, "available", lambda device: 1 << 20)  # 1 MiB free
    source = _sequence(tmp_path / "src", (64, 48))
    out = tmp_path / "o.mp4"
    code, _, err = cli("render", source, "--fps", "24", "-s", _style(tmp_path / "s.png"),
                       "-o", out, "--iterations", "2,1")
    assert code == 8
    assert "64x48 frame needs about" in err and "--lbfgs-history 10" in err
    assert not default_workdir(out).exists() and not out.exists()


def test_image_refuses_a_size_that_does_not_fit_before_any_work(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import videostyle.networks

    monkeypatch.setattr(memory, "available", lambda device: 1 << 20)  # 1 MiB free
    monkeypatch.setattr(videostyle.networks, "load_network", lambda *a, **k: 1 / 0)
    style = _style(tmp_path / "s.png")
    out = tmp_path / "o.png"
    code, _, err = cli("image", style, "-s", style, "-o", out, "--size", "64")
    assert code == 8, err
    assert "64x64 frame needs about" in err and "--lbfgs-history 10" in err
    assert not out.exists()


def test_out_of_memory_mid_render_keeps_finished_frames_and_says_what_helps(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from videostyle import stylizer

    calls = {"n": 0}
    real = stylizer.OptimizingStylizer.stylize

    def flaky(self: stylizer.OptimizingStylizer, job: stylizer.FrameJob) -> stylizer.FrameResult:
        calls["n"] += 1
        if calls["n"] == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, job)

    monkeypatch.setattr(stylizer.OptimizingStylizer, "stylize", flaky)
    source = _sequence(tmp_path / "src", (48, 32))
    out = tmp_path / "o_%04d.png"
    args = ("render", source, "--fps", "24", "-s", _style(tmp_path / "s.png"), "-o", out,
            "--iterations", "2,1", "-q")
    code, _, err = cli(*args)
    assert code == 8, err
    line = err.strip().splitlines()[-1]
    assert "out of memory" in line and "at frame 2" in line and "finished frames are kept" in line
    assert "--restart" in line and "--size" in line
    records = default_workdir(out) / "frames"
    assert (records / "000001.json").is_file() and not (records / "000002.json").exists()
    monkeypatch.setattr(stylizer.OptimizingStylizer, "stylize", real)
    code, _, err = cli(*args)  # the same command resumes from frame 2
    assert code == 0, err
    assert len(list(tmp_path.glob("o_*.png"))) == 3


@pytest.fixture
def objectives_built(monkeypatch: pytest.MonkeyPatch) -> set[tuple[tuple[int, int], str]]:
    """Each objective's (width, height) and ``--compile`` mode, recorded as it is built;
    nothing is compiled."""
    from videostyle import optimize

    built: set[tuple[tuple[int, int], str]] = set()
    init = optimize.Objective.__init__

    def record(self: Objective, network: LossNetwork, *, content: torch.Tensor,
               settings: EngineSettings, **kwargs: Any) -> None:
        built.add(((content.shape[-1], content.shape[-2]), settings.compile))
        init(self, network, content=content, settings=settings, **kwargs)

    monkeypatch.setattr(optimize.Objective, "__init__", record)
    monkeypatch.setattr(optimize, "compiled", lambda fn, mode: fn)
    return built


@pytest.mark.parametrize("independent", [False, True])
def test_compile_leaves_the_first_frames_coarse_scales_eager_through_render(
    cli: Cli, tmp_path: Path, objectives_built: set[Any], independent: bool
) -> None:
    """Only a render's first frame runs its smaller scales, once: compiling them would cost
    more than it saves. With --independent every frame runs them, and they compile."""
    extra = ("--independent",) if independent else ()
    _, engine, records = _render(cli, tmp_path / "r", _sequence(tmp_path / "src", (96, 72)),
                                 _style(tmp_path / "s.png"), "--compile", "default",
                                 "--start-size", "48", *extra)
    assert engine["compile"] == "default"
    assert [r["scales"][0][:2] for r in records] == [[48, 36]] * (3 if independent else 1) \
        + [[96, 72]] * (0 if independent else 2)
    coarse = "default" if independent else "off"
    assert objectives_built == {((48, 36), coarse), ((68, 51), coarse), ((96, 72), "default")}


def test_compile_leaves_a_stills_coarse_scales_eager_through_image(
    cli: Cli, tmp_path: Path, objectives_built: set[Any]
) -> None:
    """A still runs each smaller scale once, as a render's first frame does: only the
    output size compiles."""
    content = _sequence(tmp_path / "src", (96, 72), n=1).parent / "f_0001.png"
    out = tmp_path / "out.png"
    code, _, err = cli("image", content, "-s", _style(tmp_path / "s.png"), "-o", out,
                       "--size", "96", "--start-size", "48", "--iterations", "6",
                       "--compile", "default", "-q")
    assert code == 0, err
    assert cv2.imread(str(out)).shape == (72, 96, 3)
    assert objectives_built == {((48, 36), "off"), ((68, 51), "off"), ((96, 72), "default")}


def test_compile_runs_the_render_through_one_graph_per_set_of_terms(
    cli: Cli, tmp_path: Path
) -> None:
    from torch._dynamo.utils import counters

    from videostyle.optimize import check_compile

    check_compile("default", "cpu")  # its probe is a graph of its own: compiled before counting
    source = _sequence(tmp_path / "src", (64, 48))
    style = _style(tmp_path / "s.png")
    runs = {}
    for name, extra in (("eager", ()), ("compiled", ("--compile", "default"))):
        graphs = counters["stats"]["unique_graphs"]
        _, engine, records = _render(cli, tmp_path / name, source, style, *extra)
        runs[name] = (counters["stats"]["unique_graphs"] - graphs, engine,
                      [r["losses"]["total"] for r in records])
    assert runs["eager"][0] == 0 and "compile" not in runs["eager"][1]  # older folders resume
    # frame 1 alone, frames 2 and 3 with the frame before warped (the other offsets reach
    # before frame 1): two sets of terms at one size. Frame 3 reuses frame 2's graph, and
    # each frame's initial and final losses their frame's; a graph per frame gives three.
    assert runs["compiled"][0] == 2 and runs["compiled"][1]["compile"] == "default"
    for eager, compiled in zip(runs["eager"][2], runs["compiled"][2], strict=True):
        assert compiled == pytest.approx(eager, rel=0.08)  # 4-12 iterations from one start


def test_compile_that_cannot_compile_here_is_refused_before_any_work(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from videostyle.optimize import check_compile

    def no_compiler(*args: object, **kwargs: object) -> object:
        raise RuntimeError("Compiler: cc is not found.\n(more lines)")

    monkeypatch.setattr(torch, "compile", no_compiler)
    check_compile.cache_clear()
    out = tmp_path / "o.mp4"
    code, _, err = cli("render", _sequence(tmp_path / "src", (64, 48)), "--fps", "24", "-s",
                       _style(tmp_path / "s.png"), "-o", out, "--compile", "reduce-overhead")
    check_compile.cache_clear()
    assert code == 2
    assert err.strip().splitlines() == [
        "videostyle: error: --compile reduce-overhead cannot compile on cpu here (Compiler: cc "
        "is not found. (more lines)); install a C++ compiler (g++), or leave --compile out"]
    assert not (default_workdir(out) / "frames").exists() and not out.exists()


# ---- precision and devices --------------------------------------------------------------------


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_bf16_autocast_keeps_gram_matrices_and_losses_in_float32(
    vgg16: LossNetwork, device: str
) -> None:
    net = vgg16 if device == "cpu" else load_network("vgg16", device=torch.device(device))
    rng = np.random.default_rng(0)
    image = to_tensor(rng.random((48, 64, 3), dtype=np.float32), torch.device(device))
    style = to_tensor(rng.random((48, 64, 3), dtype=np.float32), torch.device(device))
    engine = EngineSettings()
    targets32 = build_style_targets(net, [style], layers=engine.style_layers)
    loss32 = Objective(net, content=image, styles=targets32, settings=engine)(style)
    try:
        net.autocast = torch.bfloat16
        feats = net(image, ["relu1_1", "relu5_1"])
        assert all(f.dtype == torch.float32 for f in feats.values())
        assert gram(feats["relu1_1"]).dtype == torch.float32
        targets16 = build_style_targets(net, [style], layers=engine.style_layers)
        assert all(g.dtype == torch.float32 for g in targets16[0].grams.values())
        loss16 = Objective(net, content=image, styles=targets16, settings=engine)(style)
    finally:
        net.autocast = None
    assert loss16["total"].dtype == torch.float32
    # bf16 convolutions, float32 statistics: the objective within 1 % of float32's
    assert float(loss16["total"]) == pytest.approx(float(loss32["total"]), rel=0.01)
    assert float(loss16["total"]) != float(loss32["total"])  # the autocast did run


def test_precision_and_device_names() -> None:
    assert resolve_precision("auto", torch.device("cpu")) is None
    assert resolve_precision("auto", torch.device("cuda")) == torch.bfloat16
    assert resolve_precision("float32", torch.device("cuda")) is None
    assert resolve_precision("bf16", torch.device("cpu")) == torch.bfloat16
    assert resolve_device("cpu") == torch.device("cpu")
    for bad in ("gpu", "cuda:x", "cpu:1"):
        with pytest.raises(InputError, match="cuda:N"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA GPU"):
            resolve_device("cuda:1")


def test_render_refuses_an_unknown_device_before_any_work(cli: Cli, tmp_path: Path) -> None:
    source = _sequence(tmp_path / "src", (48, 32))
    out = tmp_path / "o.mp4"
    code, _, err = cli("render", source, "--fps", "24", "-s", _style(tmp_path / "s.png"),
                       "-o", out, "--device", "cuda:x")
    assert code == 2 and "--device" in err and "cuda:N" in err
    assert not default_workdir(out).exists()
