"""The ``videostyle image`` command: help, one real run of the installed console script,
option forwarding (with the heavy work patched out), and one-line errors for bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import videostyle.networks
import videostyle.stylize
from videostyle.cli import main
from videostyle.config import (
    DEFAULT_PADDING,
    DEFAULT_START_SIZE,
    DEFAULT_STYLE_WEIGHT,
    DEFAULT_TV_WEIGHT,
)
from videostyle.networks import WeightsInfo
from videostyle.stylize import ImageResult

IMAGE_OPTIONS = (
    "--size --iterations --optimizer --init --content-weight --style-weight --tv-weight "
    "--style-weights --style-scale --style-mask --original-colors --network --weights "
    "--pooling --device --seed"
).split()


def _console_script() -> list[str]:
    """The installed ``videostyle`` script next to this interpreter (else the module)."""
    script = Path(sys.executable).with_name("videostyle")
    if script.is_file():
        return [str(script)]
    found = shutil.which("videostyle")
    return [found] if found else [sys.executable, "-m", "videostyle"]


def run_cli(*args: str | Path, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", VIDEOSTYLE_CACHE=str(cache))
    env.pop("VIDEOSTYLE_WEIGHTS", None)
    return subprocess.run(
        [*_console_script(), *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A 40x30 content picture, a 50x50 style picture, a mask and a damaged .jpg."""
    rng = np.random.default_rng(0)
    content = cv2.resize(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8), (40, 30),
                         interpolation=cv2.INTER_CUBIC)
    style = rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)
    mask = np.zeros((30, 40), np.uint8)
    mask[:, :20] = 255
    paths = {
        "content": tmp_path / "content.png",
        "style": tmp_path / "style.png",
        "mask": tmp_path / "mask.png",
        "garbage": tmp_path / "garbage.jpg",
        "cache": tmp_path / "cache",
    }
    assert cv2.imwrite(str(paths["content"]), content)
    assert cv2.imwrite(str(paths["style"]), style)
    assert cv2.imwrite(str(paths["mask"]), mask)
    paths["garbage"].write_bytes(bytes(rng.integers(0, 256, 2000, dtype=np.uint8)))
    return paths


def _assert_one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("videostyle: error:"), lines[0]
    return lines[0]


# --------------------------------------------------------------------------------------
# help and a real run
# --------------------------------------------------------------------------------------


def test_top_level_help(tmp_path: Path) -> None:
    proc = run_cli("--help", cwd=tmp_path, cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "image" in proc.stdout
    assert "Usage:" in proc.stdout


def test_image_help_lists_every_option(tmp_path: Path) -> None:
    proc = run_cli("image", "--help", cwd=tmp_path, cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    missing = [opt for opt in IMAGE_OPTIONS if opt not in proc.stdout]
    assert missing == []
    for choice in ("lbfgs", "adam", "vgg16", "vgg19", "yuv", "ycrcb", "luv", "lab", "avg"):
        assert choice in proc.stdout


@pytest.mark.slow
def test_real_run_writes_png_of_expected_size(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out" / "result.png"
    proc = run_cli(
        "image", files["content"], "--style", files["style"], "-o", out,
        "--size", "48", "--iterations", "3", "--device", "cpu",
        cwd=tmp_path, cache=files["cache"],
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "3 iterations" in proc.stdout
    # no scale below 48x36 has both sides of 32 px: the default start size plans one scale
    assert "not used at 48x36: the default --start-size 128 (no coarser scale fits; one " \
           "scale)" in proc.stderr
    image = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert image is not None and image.dtype == np.uint8
    assert image.shape == (36, 48, 3)  # 40x30 content, longest side 48
    content = cv2.resize(cv2.imread(str(files["content"])), (48, 36),
                         interpolation=cv2.INTER_CUBIC)
    assert np.abs(image.astype(int) - content.astype(int)).max() > 0  # it did something


# --------------------------------------------------------------------------------------
# bad input: one line on stderr, no traceback, non-zero exit
# --------------------------------------------------------------------------------------


BAD_INPUTS = {
    "missing content": (["{tmp}/nope.png", "-s", "{style}"], 2, "nope.png"),
    "missing style": (["{content}", "-s", "{tmp}/nostyle.png"], 2, "nostyle.png"),
    "garbage content": (["{garbage}", "-s", "{style}"], 2, "garbage.jpg"),
    "unknown option": (["{content}", "-s", "{style}", "--bogus"], 2, "--bogus"),
    "size not a number": (["{content}", "-s", "{style}", "--size", "abc"], 2, "--size"),
    "size too small": (["{content}", "-s", "{style}", "--size", "8"], 2, "--size"),
    "unknown optimizer": (["{content}", "-s", "{style}", "--optimizer", "sgd"], 2, "sgd"),
    "unknown network": (["{content}", "-s", "{style}", "--network", "vgg99"], 2, "vgg99"),
    "style weights not numbers": (
        ["{content}", "-s", "{style}", "--style-weights", "a,b"], 2, "--style-weights"
    ),
    "style weights count": (
        ["{content}", "-s", "{style}", "-s", "{style}", "--style-weights", "1,2,3"], 2,
        "style weights",
    ),
    "style weights of one style": (
        ["{content}", "-s", "{style}", "--style-weights", "1"], 2, "no effect with one --style"
    ),
    "16-bit jpeg": (
        ["{content}", "-s", "{style}", "--bit-depth", "16", "-o", "{tmp}/out.jpg"], 2,
        "JPEG stores 8 bits",
    ),
    "output is the content": (
        ["{content}", "-s", "{style}", "-o", "{content}"], 2, "is the input",
    ),
    "mask count": (
        ["{content}", "-s", "{style}", "-s", "{style}", "--style-mask", "{mask}"], 2, "mask"
    ),
    "unknown colour space": (
        ["{content}", "-s", "{style}", "--original-colors", "hsv"], 2, "hsv"
    ),
    "missing weights": (
        ["{content}", "-s", "{style}", "--network", "vgg19", "--weights", "/nonexistent"],
        3, "/nonexistent",
    ),
    "weights for vgg16": (
        ["{content}", "-s", "{style}", "--weights", "{style}"], 2, "vgg19"
    ),
    "start size not below the size": (
        ["{content}", "-s", "{style}", "--start-size", "32"], 2,
        "--start-size 32 has no effect at an output size of 32",
    ),
    "start size with no coarser scale": (
        ["{content}", "-s", "{style}", "--start-size", "20"], 2,
        "--start-size 20 has no effect at an output size of 32x24: no smaller scale has both "
        "sides of 32 px or more; give 0 for one scale",
    ),
    "no style": (["{content}"], 2, "--style"),
    "bad output suffix": (["{content}", "-s", "{style}", "-o", "{tmp}/out.bmp"], 2, "out.bmp"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_gives_one_error_line(case: str, files: dict[str, Path], tmp_path: Path) -> None:
    args, code, mentions = BAD_INPUTS[case]
    names = {name: str(path) for name, path in files.items()} | {"tmp": str(tmp_path)}
    argv = [a.format(**names) for a in args]
    if "-o" not in argv:
        argv += ["-o", str(tmp_path / "out.png")]
    if "--size" not in argv:
        argv += ["--size", "32"]
    proc = run_cli("image", *argv, "--iterations", "1", cwd=tmp_path, cache=files["cache"])
    line = _assert_one_line_error(proc)
    assert proc.returncode == code, line
    assert mentions in line
    assert not (tmp_path / "out.png").exists()


# --------------------------------------------------------------------------------------
# in-process: main() exit codes and option forwarding (heavy work patched out)
# --------------------------------------------------------------------------------------


def test_main_exits_with_codes(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["image", "--help"])
    assert info.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["image", str(files["content"]), "-s", str(files["style"]),
              "-o", str(tmp_path / "o.png"), "--size", "abc"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("videostyle: error:")


class _Net:
    def __init__(self, network: str) -> None:
        self.weights = WeightsInfo(network=network, sha256="f" * 64, source="test")


@pytest.fixture
def captured(monkeypatch) -> dict[str, object]:
    """Replace network loading and stylisation; record what the CLI passed."""
    seen: dict[str, object] = {}

    def fake_load(name, *, weights=None, pooling="max", padding="zeros", device=None,
                  precision="float32"):
        seen["load"] = {"name": name, "weights": weights, "pooling": pooling,
                        "padding": padding, "device": device}
        return _Net(name)

    def fake_stylize(content, styles, *, network, settings, masks=None, init_image=None,
                     device=None, callback=None, should_stop=None, temporal=()):
        seen.update(content=content, styles=styles, settings=settings, masks=masks,
                    init_image=init_image)
        h, w = 12, 16
        return ImageResult(
            image=np.full((h, w, 3), 0.5, np.float32), losses={"style": 1.0},
            initial_losses={"style": 2.0}, iterations=settings.engine.optimizer.iterations,
            stop_reason="iterations", weights=network.weights,
        )

    monkeypatch.setattr(videostyle.networks, "load_network", fake_load)
    monkeypatch.setattr(videostyle.stylize, "stylize_image", fake_stylize)
    return seen


def test_options_are_forwarded(files, tmp_path: Path, captured, capsys) -> None:
    out = tmp_path / "o.png"
    with pytest.raises(SystemExit) as info:
        main([
            "image", str(files["content"]), "-s", str(files["style"]), "-s", str(files["style"]),
            "-o", str(out), "--size", "40", "--iterations", "7", "--optimizer", "adam",
            "--init", "random", "--content-weight", "2", "--style-weight", "9",
            "--tv-weight", "0.5", "--style-weights", "0.7,0.3", "--style-scale", "0.5",
            "--style-mask", str(files["mask"]), "--style-mask", str(files["mask"]),
            "--original-colors", "lab", "--pooling", "avg", "--device", "cpu",
            "--seed", "11", "--padding", "zeros", "--start-size", "0", "-q",
        ])
    assert info.value.code == 0, capsys.readouterr().err
    settings = captured["settings"]
    assert settings.size == 40
    assert settings.start_size is None and settings.engine.padding == "zeros"
    assert captured["load"]["padding"] == "zeros"
    assert settings.init == "random"
    assert settings.style_blend == (0.7, 0.3)
    assert settings.style_scale == 0.5
    assert settings.original_colors == "lab"
    engine = settings.engine
    assert engine.network == "vgg16" and engine.pooling == "avg" and engine.seed == 11
    assert (engine.weights.content, engine.weights.style, engine.weights.tv) == (2.0, 9.0, 0.5)
    assert engine.optimizer.optimizer == "adam"
    assert engine.optimizer.iterations == 7
    assert len(captured["styles"]) == 2 and captured["content"].shape == (30, 40, 3)
    masks = captured["masks"]
    assert len(masks) == 2 and masks[0].shape == (30, 40)
    assert masks[0][:, :20].min() == 1.0 and masks[0][:, 20:].max() == 0.0
    assert captured["load"]["pooling"] == "avg" and str(captured["load"]["device"]) == "cpu"
    assert cv2.imread(str(out)).shape == (12, 16, 3)


@pytest.mark.parametrize("network", ["vgg16", "vgg19"])
def test_default_weights_and_network(network, files, tmp_path: Path, captured) -> None:
    argv = ["image", str(files["content"]), "-s", str(files["style"]),
            "-o", str(tmp_path / "o.png"), "--network", network, "-q"]
    if network == "vgg19":
        argv += ["--weights", str(files["style"])]  # any file: loading is patched out
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    weights = captured["settings"].engine.weights
    assert (weights.content, weights.style, weights.tv) == (
        1.0, DEFAULT_STYLE_WEIGHT, DEFAULT_TV_WEIGHT
    )
    assert captured["settings"].engine.network == network
    assert captured["settings"].engine.padding == DEFAULT_PADDING
    assert captured["settings"].start_size == DEFAULT_START_SIZE
    assert captured["load"]["name"] == network
    assert captured["load"]["padding"] == DEFAULT_PADDING
    if network == "vgg19":
        assert captured["load"]["weights"] == files["style"]


def test_init_from_file_is_read(files, tmp_path: Path, captured) -> None:
    with pytest.raises(SystemExit) as info:
        main(["image", str(files["content"]), "-s", str(files["style"]),
              "-o", str(tmp_path / "o.png"), "--init", str(files["style"]), "-q"])
    assert info.value.code == 0
    assert captured["settings"].init == str(files["style"])
    assert captured["init_image"].shape == (50, 50, 3)


def test_a_render_init_given_to_image_names_where_it_belongs(files, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["image", str(files["content"]), "-s", str(files["style"]), "-o", "/tmp/x.png",
              "--init", "prev-warped"])
    assert info.value.code == 2
    assert "(prev-warped starts a render's later frames: --init of videostyle render)" in \
        capsys.readouterr().err


def test_image_never_replaces_its_init_file(files, capsys) -> None:
    start = files["content"].with_name("start.png")
    start.write_bytes(files["content"].read_bytes())
    before = start.read_bytes()
    with pytest.raises(SystemExit) as info:
        main(["image", str(files["content"]), "-s", str(files["style"]), "-o", str(start),
              "--init", str(start), "--overwrite", "--size", "16", "--iterations", "1",
              "--start-size", "0"])
    assert info.value.code == 2
    assert "is the input" in capsys.readouterr().err
    assert start.read_bytes() == before
