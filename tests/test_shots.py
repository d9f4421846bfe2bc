"""Shot files: ``render --config``, ``batch`` and ``status shots.toml`` (no Ray here).

Settings of a shot come from the command line's resolution code; what a file gets wrong is
refused before any work, naming the shot and the key.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from clips import child_env, make_style
from test_render_fixes import sequence

import videostyle.networks
import videostyle.pipeline
from videostyle.networks import WeightsInfo
from videostyle.pipeline import RenderResult
from videostyle.video import CODECS

Cli = Callable[..., tuple[int, str, str]]
FAST = ("--quality", "draft", "--size", "32", "--iterations", "3,2")
FAST_TOML = 'quality = "draft"\nsize = 32\niterations = "3,2"\n'


def frames(workdir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((workdir / "frames").glob("*.png"))}


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    """tmp/shots/: two 3-frame sequences, a style image and an output folder."""
    root = tmp_path / "shots"
    sequence(root / "seq", 3, name="f_%04d.png")
    sequence(root / "seq2", 3, name="g_%04d.png", size=(40, 32))
    make_style(root / "style.png")
    (root / "out").mkdir()
    return root


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ---- settings from a file are the command line's --------------------------------------------


class _Net:
    weights = WeightsInfo(network="fake", sha256="0" * 64, source="test")


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The settings each render receives (nothing is computed)."""
    seen: list[Any] = []

    class FakeRenderer:
        def __init__(self, settings: Any, **kw: Any) -> None:
            seen.append(settings)

        def run(self) -> RenderResult:
            s = seen[-1]
            return RenderResult(output=s.output, workdir=Path("w"), frames=1, computed=1,
                                fps=Fraction(24), warnings=[])

    monkeypatch.setattr(videostyle.networks, "load_network", lambda *a, **k: _Net())
    monkeypatch.setattr(videostyle.pipeline, "Renderer", FakeRenderer)
    return seen


def test_shot_keys_override_defaults_and_typed_options_override_both(
    cli: Cli, scene: Path, captured: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shots = write(scene / "shots.toml", """
[defaults]
style = ["style.png"]
iterations = "5,4"
size = 40
seed = 3
first_frame_init = "random"
style_weight = 2
independent = true

[[shot]]
source = "seq/f_%04d.png"
output = "out/a_%04d.png"
size = 48

[[shot]]
source = "seq2/g_%04d.png"
output = "out/b_%04d.png"
fps = 30
iterations = 7
""")
    monkeypatch.chdir(tmp_path)  # relative paths resolve against the file's folder
    code, out, err = cli("batch", shots, "--seed", "9")
    assert code == 0, err
    # the checks' notes come from the plan, named, even when no render gives any
    assert err.count("shot 1 (a_%04d.png): not used at 48x32: the default --start-size") == 1
    assert err.count("shot 2 (b_%04d.png): not used at 40x32: the default --start-size") == 1
    a, b = captured
    assert a.source == scene / "seq" / "f_%04d.png" and a.styles == (scene / "style.png",)
    assert a.output == scene / "out" / "a_%04d.png"
    assert (a.image.size, a.iterations, a.engine.seed) == (48, (5, 4), 9)
    assert a.engine.weights.style == 2.0 and a.independent
    assert (b.image.size, b.iterations, b.fps) == (40, (7, 7), Fraction(30))
    # keys written in the file count as given, exactly like typed options
    assert a.given == {"iterations", "size", "seed", "first_frame_init", "style_weight",
                       "independent"}
    assert b.given == {"iterations", "size", "seed", "first_frame_init", "style_weight",
                       "independent", "fps"}


def test_a_file_key_that_does_not_apply_is_refused_like_the_typed_option(
    cli: Cli, scene: Path, captured: list[Any]
) -> None:
    shot = write(scene / "shot.toml", '[[shot]]\nsource = "seq/f_%04d.png"\nstyle = '
                 '["style.png"]\noutput = "out/a.mp4"\nblend_weight = 0.5\n')
    code, _, err = cli("render", "--config", shot)
    assert code == 2 and not captured
    assert "shot 1 (a.mp4): --blend-weight has no effect in a single-pass render" in err


@pytest.mark.slow
@pytest.mark.parametrize(("typed", "key"), [((), ""), (("--precision", "bf16"),
                                                        'precision = "bf16"\n')],
                         ids=["defaults", "bf16"])
def test_a_shot_renders_the_same_from_a_file_and_from_the_command_line(
    cli: Cli, scene: Path, typed: tuple[str, ...], key: str
) -> None:
    """Byte for byte, so every setting reaches the pixels by both ways: bf16 convolutions
    change the frames, so the network a shot loads must honour the shot's precision."""
    code, _, err = cli("render", scene / "seq" / "f_%04d.png", "-s", scene / "style.png", "-o",
                       scene / "out" / "argv_%04d.png", *FAST, "--tv-weight", "4", "-q", *typed)
    assert code == 0, err
    shot = write(scene / "shot.toml", f'[defaults]\n{FAST_TOML}{key}\n[[shot]]\nsource = '
                 f'"seq/f_%04d.png"\nstyle = "style.png"\noutput = "out/file_%04d.png"\n'
                 f'tv_weight = 4\n')
    code, out, err = cli("render", "--config", shot)
    assert code == 0, err
    assert "shot 1 (file_%04d.png): frame 3 (3/3)" in out
    argv, from_file = frames(scene / "out" / "argv.videostyle"), frames(scene / "out" /
                                                                         "file.videostyle")
    assert len(argv) == 3 and argv == from_file


# ---- refusals, before anything starts -------------------------------------------------------

BASE = '[defaults]\nstyle = ["style.png"]\n[[shot]]\nsource = "seq/f_%04d.png"\n' \
       'output = "out/a.mp4"\n[[shot]]\nsource = "seq2/g_%04d.png"\noutput = "out/b.mp4"\n'


def with_shot2(extra: str) -> str:
    """BASE with ``extra`` in shot 2 (replacing its line of the same key)."""
    key = extra.split("=")[0].strip()
    lines = BASE.splitlines()
    kept = lines[:6] + [line for line in lines[6:] if not line.startswith(key + " ")]
    return "\n".join(kept) + "\n" + extra + "\n"


@pytest.mark.parametrize(("extra", "message"), [
    ("sise = 32", "shot 2: unknown key 'sise'"),
    ('size = "big"', "shot 2: size must be an integer, got 'big'"),
    ("independent = 1", "shot 2: independent is a flag: write true or false, got 1"),
    ('codec = "mpeg"', f"shot 2: codec must be one of {', '.join(CODECS)}, got 'mpeg'"),
    ("style_mask = 3", "shot 2: style_mask must be an array of file names, got 3"),
    ("quiet = true", "shot 2: unknown key 'quiet'"),
    ('iterations = "x"', "shot 2 (b.mp4): --iterations takes N or FIRST,REST"),
    ('source = "missing.mp4"', "shot 2 (b.mp4): input "),
    ('output = "out/a.mp4"', "shot 1 (a.mp4) and shot 2 (a.mp4) share the run folder"),
    ('device = "cuda:9"', "shot 2 (b.mp4): --device cuda:9"),
    # found by probing shot 2's source, before shot 1 starts
    ("start_size = 30", "shot 2 (b.mp4): --start-size 30 has no effect at an output size of "
     "40x32"),
    ('frames = "2:9"', "shot 2 (b.mp4): --frames 2:9 is outside the source's frames 1..3"),
])
def test_a_bad_shot_is_refused_before_any_shot_starts(
    cli: Cli, scene: Path, captured: list[Any], extra: str, message: str
) -> None:
    shots = write(scene / "shots.toml", with_shot2(extra))
    code, _, err = cli("batch", shots)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not captured and not list((scene / "out").iterdir())


def test_render_config_takes_exactly_one_shot(cli: Cli, scene: Path, captured: list[Any]) -> None:
    code, _, err = cli("render", "--config", write(scene / "two.toml", BASE))
    assert code == 2 and "--config takes a shot file with exactly one [[shot]]" in err
    code, _, err = cli("render", "-s", scene / "style.png", "-o", scene / "out" / "x.mp4")
    assert code == 2 and "give SOURCE, --style and --output, or --config" in err
    code, _, err = cli("render", scene / "seq" / "f_%04d.png", "-s", scene / "style.png", "-o",
                       scene / "out" / "x.mp4", "--threads-per-worker", "2")
    assert code == 2 and "--threads-per-worker has no effect without --workers" in err
    assert not captured


# ---- batch and status ---------------------------------------------------------------------------


def test_a_shot_checks_its_inputs_again_when_it_starts(
    cli: Cli, scene: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planning checked both shots; shot 2's source disappears while shot 1 renders: shot 2
    is refused by its own checks when it starts, before its render is built."""
    built: list[Path] = []

    class RemovingRenderer:
        def __init__(self, settings: Any, **kw: Any) -> None:
            built.append(settings.output)
            self.output = settings.output

        def run(self) -> RenderResult:
            for frame in (scene / "seq2").glob("*.png"):
                frame.unlink()
            return RenderResult(output=self.output, workdir=Path("w"), frames=3, computed=3,
                                fps=Fraction(24), warnings=[])

    monkeypatch.setattr(videostyle.networks, "load_network", lambda *a, **k: _Net())
    monkeypatch.setattr(videostyle.pipeline, "Renderer", RemovingRenderer)
    code, _, err = cli("batch", write(scene / "shots.toml", BASE))
    assert code == 2, err
    assert built == [scene / "out" / "a.mp4"]
    assert "shot 2 (b.mp4): " in err and "g_%04d.png" in err and "1 of 2 shots failed" in err


@pytest.mark.slow
def test_status_of_a_shot_file_counts_frames_and_failures(cli: Cli, scene: Path) -> None:
    shots = write(scene / "shots.toml", f"[defaults]\n{FAST_TOML}{BASE.split(chr(10), 1)[1]}")
    code, out, _ = cli("status", shots)
    assert code == 0
    assert out.splitlines() == [
        "shot 1 (a.mp4): 0/3 frames", "shot 2 (b.mp4): 0/3 frames",
        "2 shots: 0 done, 0 failed; 0/6 frames; ETA not known until a shot has rendered a "
        "frame",
    ]
    # shot 2's run folder holds a render with other settings: the batch renders shot 1,
    # records shot 2's refusal, and exits with the resume error's status
    code, _, err = cli("render", scene / "seq2" / "g_%04d.png", "-s", scene / "style.png",
                       "-o", scene / "out" / "b.mp4", *FAST, "--frames", "1:1", "--tv-weight", "8",
                       "-q")
    assert code == 0, err
    code, out, err = cli("batch", shots)
    assert code == 6, err
    assert "shot 2 (b.mp4): " in err and "1 of 2 shots failed" in err
    assert "wrote " + str(scene / "out" / "a.mp4") in out
    record = json.loads((scene / "out" / "b.videostyle" / "failure.json").read_text())
    assert "other settings" in record["error"]
    code, out, _ = cli("status", shots)
    lines = out.splitlines()
    assert lines[0] == "shot 1 (a.mp4): 3/3 frames"
    # shot 2 as the file plans it (3 frames), its folder holding 1 of another render
    assert lines[1].startswith("shot 2 (b.mp4): 1/3 frames, ETA ") and ", failed: " in lines[1]
    assert lines[2].startswith("2 shots: 1 done, 1 failed; 4/6 frames")


def test_status_of_a_shot_whose_range_grew_counts_the_frames_as_planned(
    cli: Cli, scene: Path
) -> None:
    """A shot rendered for frames 1-2, then given all its 3 frames in the file: status
    counts the shot as the file plans it (2/3, not done), as the next batch renders it."""
    shot = f'[defaults]\n{FAST_TOML}[[shot]]\nsource = "seq/f_%04d.png"\nstyle = "style.png"' \
           f'\noutput = "out/a_%04d.png"\n'
    code, _, err = cli("batch", write(scene / "s.toml", shot + 'frames = "1:2"\n'))
    assert code == 0, err
    code, out, err = cli("status", write(scene / "s.toml", shot))
    assert code == 0, err
    lines = out.splitlines()
    assert re.fullmatch(r"shot 1 \(a_%04d.png\): 2/3 frames, ETA \d+:\d\d", lines[0]), lines
    assert lines[1].startswith("1 shots: 0 done, 0 failed; 2/3 frames; ETA ")
    # with a finished shot and one not started, the total's ETA is not known (not 0:00)
    both = shot.replace('"out/a_%04d.png"\n', '"out/a_%04d.png"\nframes = "1:2"\n') + \
        '[[shot]]\nsource = "seq2/g_%04d.png"\nstyle = "style.png"\noutput = "out/b.mp4"\n'
    code, out, err = cli("status", write(scene / "s.toml", both))
    assert code == 0, err
    assert out.splitlines()[-1] == ("2 shots: 1 done, 0 failed; 2/5 frames; ETA not known "
                                    "until a shot has rendered a frame")


def test_without_farm_options_ray_is_never_imported(scene: Path, tmp_path: Path) -> None:
    shot = write(scene / "shot.toml", f'[defaults]\n{FAST_TOML}[[shot]]\n'
                 f'source = "seq/f_%04d.png"\nstyle = "style.png"\noutput = "out/a_%04d.png"\n'
                 f'frames = "1:2"\n')
    program = (
        "import sys\nfrom videostyle.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print('exit', code, 'ray' in sys.modules, any(m.startswith('ray.') for m in "
        "sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", program, "render", "--config", str(shot), "-q"],
                          env=child_env(tmp_path / "cache"), capture_output=True, text=True,
                          timeout=300)
    assert done.stdout.strip().splitlines()[-1] == "exit 0 False False", done.stderr
    assert len(frames(scene / "out" / "a.videostyle")) == 2
