"""Every option of ``render`` and ``image`` reaches the settings it should (fast: the
renderer, the stylizer and the network are replaced; nothing is computed)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import videostyle.chunked
import videostyle.farm
import videostyle.networks
import videostyle.pipeline
import videostyle.stylize
from videostyle.batch import ShotOutcome
from videostyle.cli import app
from videostyle.cli.image import IMAGE_OPTIONS
from videostyle.cli.render import RENDER_OPTIONS
from videostyle.config import DEFAULT_TEMPORAL_WEIGHT, MULTIPASS_TEMPORAL_WEIGHT, PRESETS
from videostyle.networks import WeightsInfo
from videostyle.pipeline import RenderResult
from videostyle.stylize import ImageResult


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    image = (np.random.default_rng(0).random((30, 40, 3)) * 255).astype(np.uint8)
    paths = {name: tmp_path / f"{name}.png" for name in ("style", "style2", "m1", "m2", "init")}
    for path in paths.values():
        cv2.imwrite(str(path), image)
    (tmp_path / "seq").mkdir()
    for k in (1, 2, 3):
        cv2.imwrite(str(tmp_path / "seq" / f"f_{k:04d}.png"), image)
    paths["seq"] = tmp_path / "seq" / "f_%04d.png"
    paths["weights"] = tmp_path / "vgg19.pth"
    paths["weights"].write_bytes(b"not read: loading is replaced")
    paths["tmp"] = tmp_path
    paths["shot"] = tmp_path / "shot.toml"
    paths["shot"].write_text('[[shot]]\nsource = "seq/f_%04d.png"\nstyle = ["style.png"]\n'
                             'output = "o_%04d.png"\nseed = 6\nfirst_frame_init = "random"\n')
    return paths


class _Net:
    weights = WeightsInfo(network="fake", sha256="0" * 64, source="test")


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def load(name: str, *, weights: Path | None = None, pooling: str = "max",
             padding: str = "zeros", device: Any = None, precision: str = "float32") -> _Net:
        seen["load"] = {"name": name, "weights": weights, "pooling": pooling,
                        "padding": padding, "device": str(device), "precision": precision}
        return _Net()

    class FakeRenderer:
        def __init__(self, settings: Any, **kw: Any) -> None:
            seen["settings"] = settings

        def run(self) -> RenderResult:
            s = seen["settings"]
            return RenderResult(output=s.output, workdir=Path("w"), frames=1, computed=1,
                                fps=Fraction(24), warnings=[])

    def stylize(content: Any, styles: Any, *, settings: Any, **kw: Any) -> ImageResult:
        seen["settings"], seen["masks"] = settings, kw.get("masks")
        return ImageResult(image=np.zeros((4, 4, 3), np.float32), losses={"style": 1.0},
                           initial_losses={"style": 2.0}, iterations=1, stop_reason="x",
                           weights=_Net.weights)

    monkeypatch.setattr(videostyle.networks, "load_network", load)
    monkeypatch.setattr(videostyle.pipeline, "Renderer", FakeRenderer)
    monkeypatch.setattr(videostyle.stylize, "stylize_image", stylize)

    def run_farm(plans: Any, farm: Any, **kw: Any) -> list[ShotOutcome]:
        seen["farm"], seen["settings"] = farm, plans[0].settings
        return [ShotOutcome(0, "shot", plans[0].settings.output)]

    monkeypatch.setattr(videostyle.farm, "run_farm", run_farm)

    def render_chunked(planned: Any, index: int, **kw: Any) -> ShotOutcome:
        seen["settings"], seen["chunked_on"] = planned.settings, kw.get("farm")
        return ShotOutcome(index, "shot", planned.settings.output)

    monkeypatch.setattr(videostyle.chunked, "render_chunked", render_chunked)
    return seen


#: (option, its arguments, extra arguments it needs, what must hold of the settings)
RENDER_ROWS: list[tuple[str, tuple[str, ...], tuple[str, ...], Any]] = [
    ("source", (), (), lambda s, c: s.source.name == "f_%04d.png"),
    ("style", (), (), lambda s, c: [p.name for p in s.styles] == ["style.png"]),
    ("output", (), (), lambda s, c: s.output.name == "out_%04d.png"),
    ("quality", ("--quality", "draft"), (), lambda s, c: (s.max_size, s.iterations)
     == (PRESETS["draft"].size, PRESETS["draft"].iterations)),
    ("size", ("--size", "100"), (), lambda s, c: s.image.size == 100),
    ("frames", ("--frames", "2:3"), (), lambda s, c: s.frames == (2, 3)),
    ("fps", ("--fps", "30000/1001"), (), lambda s, c: s.fps == Fraction(30000, 1001)),
    ("iterations", ("--iterations", "7,3"), (), lambda s, c: s.iterations == (7, 3)),
    ("optimizer", ("--optimizer", "adam"), (),
     lambda s, c: s.engine.optimizer.optimizer == "adam"),
    ("first_frame_init", ("--first-frame-init", "random"), (),
     lambda s, c: s.image.init == "random"),
    ("init", ("--init", "prev"), (), lambda s, c: s.init == "prev"),
    ("independent", ("--independent",), (), lambda s, c: s.independent),
    ("flow", ("--flow", "farneback"), (), lambda s, c: s.flow == "farneback"),
    ("warp", ("--warp", "lanczos"), (), lambda s, c: s.warp == "lanczos"),
    ("long_term", ("--long-term", "5,1"), (), lambda s, c: s.long_term == (1, 5)),
    ("temporal_weight", ("--temporal-weight", "5"), (), lambda s, c: s.temporal_weight == 5),
    ("content_weight", ("--content-weight", "2"), (),
     lambda s, c: s.engine.weights.content == 2),
    ("style_weight", ("--style-weight", "4"), (), lambda s, c: s.engine.weights.style == 4),
    ("tv_weight", ("--tv-weight", "7"), (), lambda s, c: s.engine.weights.tv == 7),
    ("chroma_weight", ("--chroma-weight", "9"), (), lambda s, c: s.engine.weights.chroma == 9),
    ("style_balance", ("--style-balance", "0.25"), (),
     lambda s, c: s.engine.style_balance == 0.25),
    ("style_weights", ("--style-weights", "0.3,0.7"), ("-s", "{style2}"),
     lambda s, c: s.image.style_blend == (0.3, 0.7)),
    ("style_scale", ("--style-scale", "0.5"), (), lambda s, c: s.image.style_scale == 0.5),
    ("style_mask", ("--style-mask", "{m1}", "--style-mask", "{m2}"), ("-s", "{style2}"),
     lambda s, c: [Path(m).name for m in s.style_masks] == ["m1.png", "m2.png"]),
    ("original_colors", ("--original-colors", "lab"), (),
     lambda s, c: s.image.original_colors == "lab"),
    ("network", ("--network", "vgg19"), (), lambda s, c: s.engine.network == "vgg19"
     and c["load"]["name"] == "vgg19"),
    ("weights", ("--weights", "{weights}"), ("--network", "vgg19"),
     lambda s, c: Path(c["load"]["weights"]).name == "vgg19.pth"),
    ("pooling", ("--pooling", "avg"), (), lambda s, c: s.engine.pooling == "avg"
     and c["load"]["pooling"] == "avg"),
    ("padding", ("--padding", "zeros"), (), lambda s, c: s.engine.padding == "zeros"
     and c["load"]["padding"] == "zeros"),
    ("start_size", ("--start-size", "0"), (), lambda s, c: s.image.start_size is None),
    ("device", ("--device", "cpu"), (), lambda s, c: c["load"]["device"] == "cpu"),
    ("precision", ("--precision", "bf16"), (), lambda s, c: s.engine.precision == "bf16"
     and c["load"]["precision"] == "bf16"),
    ("compile", ("--compile", "default"), (), lambda s, c: s.engine.compile == "default"),
    ("lbfgs_history", ("--lbfgs-history", "7"), (),
     lambda s, c: s.engine.optimizer.lbfgs_history == 7),
    ("lbfgs_precision", ("--lbfgs-precision", "bf16"), (),
     lambda s, c: s.engine.optimizer.lbfgs_precision == "bf16"),
    ("seed", ("--seed", "5"), ("--first-frame-init", "random"),
     lambda s, c: s.engine.seed == 5),
    ("tolerance", ("--tolerance", "0"), (), lambda s, c: s.engine.optimizer.tolerance == 0),
    ("codec", ("--codec", "ffv1", "-o", "{tmp}/o.mkv"), (), lambda s, c: s.codec == "ffv1"),
    ("bit_depth", ("--bit-depth", "16"), (), lambda s, c: s.bit_depth == 16),
    ("workdir", ("--workdir", "{tmp}/wd"), (), lambda s, c: s.workdir.name == "wd"),
    ("restart", ("--restart",), (), lambda s, c: s.restart),
    ("passes", ("--passes", "3"), (), lambda s, c: s.passes == 3 and s.long_term == (1,)
     and s.temporal_weight == MULTIPASS_TEMPORAL_WEIGHT and s.image.init == "random"),
    ("temporal_after_pass", ("--temporal-after-pass", "2"), ("--passes", "3"),
     lambda s, c: s.temporal_after_pass == 2),
    ("blend_weight", ("--blend-weight", "0.5"), ("--passes", "2"),
     lambda s, c: s.blend_weight == 0.5),
    ("deterministic", ("--deterministic",), (), lambda s, c: s.deterministic),
    ("quiet", ("-q",), (), lambda s, c: True),
    ("overwrite", ("--overwrite",), (), lambda s, c: s.overwrite),
    ("config", ("--config", "{shot}"), (), lambda s, c: s.engine.seed == 6
     and s.source.name == "f_%04d.png" and s.given == {"seed", "first_frame_init"}),
    ("workers", ("--workers", "2"), (), lambda s, c: c["farm"].workers == "2"
     and c["farm"].address is None),
    ("ray_address", ("--ray-address", "127.0.0.1:6379"), (),
     lambda s, c: c["farm"].address == "127.0.0.1:6379" and c["farm"].workers is None),
    ("threads_per_worker", ("--threads-per-worker", "3"), ("--workers", "auto"),
     lambda s, c: c["farm"].threads == 3 and c["farm"].workers == "auto"),
    ("crf", ("--crf", "23", "-o", "{tmp}/o.mp4"), (), lambda s, c: s.crf == 23),
    ("input_colorspace", ("--input-colorspace", "ACEScg"), (),
     lambda s, c: s.input_colorspace == "ACEScg"),
    ("output_colorspace", ("--output-colorspace", "lin_srgb"), (),
     lambda s, c: s.output_colorspace == "lin_srgb"),
    ("chunks", ("--chunks", "3"), ("--chunk-overlap", "0"),  # 3 frames: 3 chunks of 1
     lambda s, c: (s.chunks, s.chunk_overlap) == (3, 0) and c["chunked_on"] is None),
    ("chunk_overlap", ("--chunk-overlap", "0"), ("--chunks", "2", "--workers", "2"),
     lambda s, c: (s.chunks, s.chunk_overlap) == (2, 0) and c["chunked_on"].workers == "2"),
]


def _argv(files: dict[str, Path], *parts: str) -> list[str]:
    names = {k: str(v) for k, v in files.items()}
    return [p.format(**names) for p in parts]


@pytest.mark.parametrize(("name", "args", "needs", "check"), RENDER_ROWS,
                         ids=[row[0] for row in RENDER_ROWS])
def test_render_option_reaches_the_settings(
    files: dict[str, Path], captured: dict[str, Any], name: str, args: tuple[str, ...],
    needs: tuple[str, ...], check: Any,
) -> None:
    argv = _argv(files, "render", "{seq}", "-s", "{style}", "-o", "{tmp}/out_%04d.png", *needs,
                 *args)
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert check(captured["settings"], captured), name


def test_render_defaults_come_from_the_preset_and_the_settings(
    files: dict[str, Path], captured: dict[str, Any]
) -> None:
    result = CliRunner().invoke(app, _argv(files, "render", "{seq}", "-s", "{style}", "-o",
                                           "{tmp}/out.mp4"))
    assert result.exit_code == 0, result.output
    s = captured["settings"]
    standard = PRESETS["standard"]
    assert (s.iterations, s.long_term, s.flow, s.max_size) == (
        standard.iterations, standard.long_term, standard.flow, standard.size)
    assert s.temporal_weight == DEFAULT_TEMPORAL_WEIGHT and s.codec == "h264"
    assert s.given == frozenset()


def test_every_render_option_has_a_row() -> None:
    assert {o.name for o in RENDER_OPTIONS} == {row[0] for row in RENDER_ROWS}


IMAGE_ROWS: list[tuple[str, tuple[str, ...], tuple[str, ...], Any]] = [
    ("content", (), (), lambda s, c: True),
    ("style", (), (), lambda s, c: True),
    ("output", (), (), lambda s, c: (Path(c["tmp"]) / "o.png").is_file()),
    ("size", ("--size", "40"), (), lambda s, c: s.size == 40),
    ("iterations", ("--iterations", "9"), (), lambda s, c: s.engine.optimizer.iterations == 9),
    ("optimizer", ("--optimizer", "adam"), (),
     lambda s, c: s.engine.optimizer.optimizer == "adam"),
    ("init", ("--init", "{init}"), (), lambda s, c: Path(s.init).name == "init.png"),
    ("content_weight", ("--content-weight", "2"), (),
     lambda s, c: s.engine.weights.content == 2),
    ("style_weight", ("--style-weight", "4"), (), lambda s, c: s.engine.weights.style == 4),
    ("tv_weight", ("--tv-weight", "7"), (), lambda s, c: s.engine.weights.tv == 7),
    ("chroma_weight", ("--chroma-weight", "9"), (), lambda s, c: s.engine.weights.chroma == 9),
    ("style_balance", ("--style-balance", "1"), (), lambda s, c: s.engine.style_balance == 1),
    ("style_weights", ("--style-weights", "0.3,0.7"), ("-s", "{style2}"),
     lambda s, c: s.style_blend == (0.3, 0.7)),
    ("style_scale", ("--style-scale", "0.5"), (), lambda s, c: s.style_scale == 0.5),
    ("style_mask", ("--style-mask", "{m1}", "--style-mask", "{m2}"), ("-s", "{style2}"),
     lambda s, c: len(c["masks"]) == 2),
    ("original_colors", ("--original-colors", "lab"), (),
     lambda s, c: s.original_colors == "lab"),
    ("network", ("--network", "vgg19"), (), lambda s, c: c["load"]["name"] == "vgg19"),
    ("weights", ("--weights", "{weights}"), ("--network", "vgg19"),
     lambda s, c: Path(c["load"]["weights"]).name == "vgg19.pth"),
    ("pooling", ("--pooling", "avg"), (), lambda s, c: s.engine.pooling == "avg"),
    ("padding", ("--padding", "replicate"), (), lambda s, c: s.engine.padding == "replicate"
     and c["load"]["padding"] == "replicate"),
    ("start_size", ("--start-size", "64"), (), lambda s, c: s.start_size == 64),
    ("device", ("--device", "cpu"), (), lambda s, c: c["load"]["device"] == "cpu"),
    ("precision", ("--precision", "bf16"), (), lambda s, c: s.engine.precision == "bf16"
     and c["load"]["precision"] == "bf16"),
    ("compile", ("--compile", "default"), (), lambda s, c: s.engine.compile == "default"),
    ("lbfgs_history", ("--lbfgs-history", "7"), (),
     lambda s, c: s.engine.optimizer.lbfgs_history == 7),
    ("lbfgs_precision", ("--lbfgs-precision", "bf16"), (),
     lambda s, c: s.engine.optimizer.lbfgs_precision == "bf16"),
    ("seed", ("--seed", "5"), ("--init", "random"), lambda s, c: s.engine.seed == 5),
    ("tolerance", ("--tolerance", "0"), (), lambda s, c: s.engine.optimizer.tolerance == 0),
    ("bit_depth", ("--bit-depth", "16"), (),
     lambda s, c: cv2.imread(str(Path(c["tmp"]) / "o.png"), -1).dtype == np.uint16),
    ("quiet", ("-q",), (), lambda s, c: True),
    ("overwrite", ("--overwrite", "-o", "{m2}"), (),  # m2.png exists: replaced by the result
     lambda s, c: cv2.imread(str(Path(c["tmp"]) / "m2.png")).shape[:2] == (4, 4)),
]


@pytest.mark.parametrize(("name", "args", "needs", "check"), IMAGE_ROWS,
                         ids=[row[0] for row in IMAGE_ROWS])
def test_image_option_reaches_the_settings(
    files: dict[str, Path], captured: dict[str, Any], name: str, args: tuple[str, ...],
    needs: tuple[str, ...], check: Any,
) -> None:
    argv = _argv(files, "image", "{m1}", "-s", "{style}", "-o", "{tmp}/o.png", *needs, *args)
    captured["tmp"] = str(files["tmp"])
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert check(captured["settings"], captured), name


def test_every_image_option_has_a_row() -> None:
    assert {o.name for o in IMAGE_OPTIONS} == {row[0] for row in IMAGE_ROWS}
