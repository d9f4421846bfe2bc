"""The measurement scripts in scripts/ that the docs quote figures from."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from test_flow import moving_square

from videostyle.flow import consistency_weights, write_flo

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def write_pgm(path: Path, image: np.ndarray, comment: bool = False) -> None:
    height, width = image.shape
    header = b"P5\n" + (b"# written by the checker\n" if comment else b"")
    path.write_bytes(header + f"{width} {height}\n255\n".encode() + image.tobytes())


class SquareCase:
    """Exact flows of a moving square as reference-named .flo files, and a folder for the
    checker's maps."""

    def __init__(self, root: Path) -> None:
        self.forward, self.backward = moving_square(x0=20, y0=12, size=10, k=4)
        self.flow_dir, self.maps = root / "flow", root / "maps"
        self.flow_dir.mkdir()
        self.maps.mkdir()
        write_flo(self.flow_dir / "forward_1_2.flo", self.forward)
        write_flo(self.flow_dir / "backward_2_1.flo", self.backward)

    def compare(self) -> int:
        script = load_script("compare_checker")
        return int(script.main(["--reference", str(self.maps), "--flow", str(self.flow_dir)]))


def test_compare_checker_passes_maps_written_like_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    case = SquareCase(tmp_path)
    for name, a, b in (("reliable_2_1", case.backward, case.forward),
                       ("reliable_1_2", case.forward, case.backward)):
        weights = consistency_weights(a, b)
        assert (weights < 0.5).sum() > 20  # the square's strips and edges
        write_pgm(case.maps / f"{name}.pgm", np.floor(weights * 255).astype(np.uint8),
                  comment=name.endswith("1_2"))
    assert case.compare() == 0
    out = capsys.readouterr().out
    assert "| reliable_2_1 | 1.00000 |" in out and out.count(" | 0 |") == 2
    assert "PASS" in out


def test_compare_checker_fails_maps_with_other_unreliable_pixels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    case = SquareCase(tmp_path)
    weights = consistency_weights(case.backward, case.forward)
    # The map of the opposite direction: its occlusions lie on the other side of the square.
    wrong = consistency_weights(case.forward, case.backward)
    assert not np.array_equal(weights < 0.5, wrong < 0.5)
    write_pgm(case.maps / "reliable_2_1.pgm", np.floor(wrong * 255).astype(np.uint8))
    assert case.compare() == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "reliable_1_2" not in out  # only the maps present are compared


def test_bench_reports_every_figure_as_one_json_line(tmp_path: Path) -> None:
    """scripts/bench.py on a tiny frame: the last stdout line is the JSON object the docs
    quote, with both first-frame runs judged by the same float32 loss."""
    import json
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(SCRIPTS.parent)}
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench.py"), "--size", "48x27", "--device", "cpu",
         "--iterations", "4,2", "--reference-iterations", "1", "--speed-iterations", "2",
         "--solver", "3", "--lbfgs-history", "2", "--lbfgs-precision", "bf16",
         "--compile", "default", "--tuned", "--json"],
        capture_output=True, text=True, env=env, timeout=600, check=True,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["lbfgs_history"] == 2 and figures["solver_seconds_per_step"] > 0
    assert figures["lbfgs_precision"] == "bf16"
    # --compile: the same iterations through torch.compile reach the eager loss (1 % rule);
    # its warm-up compiles (traces, at the least, with a warm cache): slower than eager's
    assert figures["compile_mode"] == "default"
    assert abs(figures["compiled_loss_change"]) < 0.01
    assert figures["compile_warm_up_seconds"] > figures["eager_warm_up_seconds"]
    for key in ("seconds_per_iteration", "floor_seconds_per_iteration", "seconds_first_frame",
                "seconds_later_frame", "peak_memory_bytes", "default_seconds", "default_loss",
                "reference_seconds", "reference_loss"):
        assert figures[key] > 0, key
    assert figures["size"] == [48, 27] and figures["dtype"] == "float32"
    # --tuned: the first frame timed again; the later frame's own peak is a CUDA figure
    assert figures["seconds_first_frame_tuned"] > 0
    assert "later_frame_peak_memory_bytes" not in figures
    # the floor is a lower bound on an iteration's time
    assert figures["floor_seconds_per_iteration"] < figures["seconds_per_iteration"]
    assert "first frame, default settings" in done.stderr  # progress on stderr
    # one iteration from noise ends far above the default's loss, which the default
    # reaches at its full size within its own run
    assert figures["reference_loss"] > figures["default_loss"]
    assert 0 < figures["default_seconds_to_reference_loss"] <= figures["default_seconds"]


def test_look_measures_a_small_stylisation(tmp_path: Path) -> None:
    """scripts/look.py runs the image path with its options and prints the three ratios."""
    import json
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(SCRIPTS.parent)}
    import cv2

    style = SCRIPTS.parent / "sample_videos" / "stained_glass.png"
    content = tmp_path / "content.png"  # another picture: the style turned upside down
    cv2.imwrite(str(content), cv2.imread(str(style))[::-1])
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "look.py"), str(content), str(style), "--size", "48",
         "--iterations", "3", "--start-size", "32", "--json"],
        capture_output=True, text=True, env=env, timeout=600, check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["size"] == "48x48"
    assert [scale[:2] for scale in report["scales"]] == [[34, 34], [48, 48]]  # from 32 px
    assert {"speckle_ratio", "style_ratio", "content_ratio"} <= set(report)


def test_look_measures_every_frame_of_a_folder(tmp_path: Path) -> None:
    """``--measure FOLDER``: each frame against the same-named source frame, then the worst
    speckle ratio; a speckled frame stands out from a smooth one."""
    import json
    import os
    import subprocess

    import cv2
    import numpy as np

    env = {**os.environ, "PYTHONPATH": str(SCRIPTS.parent)}
    style = SCRIPTS.parent / "sample_videos" / "stained_glass.png"
    (tmp_path / "content").mkdir()
    (tmp_path / "frames").mkdir()
    source = cv2.resize(cv2.imread(str(style)), (64, 48), interpolation=cv2.INTER_AREA)
    noise = np.random.default_rng(0).integers(-120, 121, source.shape)
    for name, frame in (("000001.png", source),
                        ("000002.png", np.clip(source + noise, 0, 255).astype(np.uint8))):
        cv2.imwrite(str(tmp_path / "content" / name), source)
        cv2.imwrite(str(tmp_path / "frames" / name), frame)
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "look.py"), str(tmp_path / "content"), str(style),
         "--measure", str(tmp_path / "frames"), "--json"],
        capture_output=True, text=True, env=env, timeout=600, check=True,
    )
    lines = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert [line.get("frame") for line in lines[:2]] == ["000001.png", "000002.png"]
    clean, noisy = (line["speckle_ratio"] for line in lines[:2])
    assert clean < 1.5 and noisy > 1.5 * clean  # the style itself, then with colour noise
    assert lines[0]["content_ratio"] == 0.0  # frame 1 is its own content
    assert lines[2] == {"content": "content", "style": "stained_glass.png", "frames": 2,
                        "worst_speckle_ratio": noisy}


def _bench(*args: str) -> list[str]:
    return [sys.executable, str(SCRIPTS / "bench.py"), "--device", "cpu", "--json", *args]


def _bench_env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(SCRIPTS.parent)}


def test_bench_renders_an_image_sequence_to_png_frames(tmp_path: Path) -> None:
    """--source as an image sequence numbered from 1001: the render writes PNG frames (no
    ffmpeg), --skip-frames leaves out the first, later and reference frames, and
    --keep-frames saves the render's first and last frame, 8-bit, at the render's size, named
    by the --iterations it rendered with."""
    import json
    import subprocess

    import cv2

    yy, xx = np.mgrid[0:36, 0:64]
    for i in range(3):
        frame = np.stack([xx * 4, yy * 7, (xx + yy + 9 * i) % 256], axis=-1).astype(np.uint8)
        cv2.imwrite(str(tmp_path / f"plate.{1001 + i}.png"), frame)
    done = subprocess.run(
        _bench("--source", str(tmp_path / "plate.%04d.png"), "--size", "48x27",
               "--speed-iterations", "2", "--skip-frames", "--render", "3",
               "--iterations", "3,1", "--keep-frames", str(tmp_path / "kept")),
        capture_output=True, text=True, env=_bench_env(), timeout=600, check=True,
    )
    kept = sorted(p.name for p in (tmp_path / "kept").iterdir())
    assert kept == ["render_48x27_3-1_001001.png", "render_48x27_3-1_001003.png"]
    image = cv2.imread(str(tmp_path / "kept" / kept[1]), cv2.IMREAD_UNCHANGED)
    assert image.dtype == np.uint8 and image.shape == (27, 48, 3)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["render_frames"] == 3 and figures["render_seconds"] > 0
    assert len(figures["render_frame_seconds"]) == 3 and figures["render_compile"] == "off"
    assert figures["render_iterations"] == "3-1"
    assert 0 <= figures["render_idle_share"] < 1
    assert figures["seconds_per_iteration"] > 0
    assert not {"default_seconds", "seconds_later_frame", "reference_loss"} & set(figures)


def test_a_stopped_bench_still_prints_what_it_measured() -> None:
    """SIGTERM (as `timeout` sends) during the first frame: the JSON line holds the
    iteration's figures and names the measurement under way; the exit status says so."""
    import json
    import signal
    import subprocess

    bench = subprocess.Popen(
        _bench("--size", "48x27", "--speed-iterations", "2", "--iterations", "100000,1",
               "--skip-reference"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_bench_env(),
    )
    assert bench.stderr is not None
    for line in bench.stderr:
        if line.startswith("first frame, default settings"):
            break
    bench.send_signal(signal.SIGTERM)
    stdout, _ = bench.communicate(timeout=120)
    assert bench.returncode == 130
    figures = json.loads(stdout.strip().splitlines()[-1])
    assert figures["interrupted"].startswith("first frame, default settings")
    assert figures["seconds_per_iteration"] > 0 and figures["peak_memory_bytes"] > 0
    assert "default_seconds" not in figures


@pytest.mark.parametrize(("name", "index"), [("cuda", 3), ("cuda:1", 1)])
def test_bench_caps_the_memory_of_the_named_cuda_device(
        monkeypatch: pytest.MonkeyPatch, name: str, index: int) -> None:
    """``torch.cuda.set_per_process_memory_fraction`` takes an index, not a bare ``cuda``:
    the bench's 4K step must cap the current device when none is named."""
    import torch

    bench = load_script("bench")
    calls: list[tuple[float, int]] = []
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 3)
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction",
                        lambda fraction, device: calls.append((fraction, device)))
    bench.cap_memory(torch.device(name), 0.56)
    bench.cap_memory(torch.device("cpu"), 0.56)
    assert calls == [(0.56, index)]
