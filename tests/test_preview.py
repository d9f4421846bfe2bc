"""``videostyle preview``: what it refuses before any variant renders, the values it varies
as the command line would type them, and a second preview with another setting.

(The sheet's layout and the printed render commands: tests/test_postprod.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import assert_one_error_line, make_style
from test_render_fixes import sequence

Cli = Callable[..., tuple[int, str, str]]
QUICK = ("--iterations", "2", "--start-size", "0")


@pytest.fixture
def scene(tmp_path: Path) -> tuple[Path, Path]:
    """A two-frame PNG sequence (frames 1001-1002, 48x32) and a style image."""
    return (sequence(tmp_path / "src", 2, first=1001, name="p.%04d.png"),
            make_style(tmp_path / "style.png"))


def tiles(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: cv2.imread(str(p)) for p in sorted(folder.glob("*.png"))}


@pytest.mark.parametrize(("vary", "message"), [
    ("style_weight=1,x", "--vary style_weight=x: "),
    ("pooling=max,mean", "--vary pooling=mean: "),
    ("lbfgs_history=0", "--vary lbfgs_history=0: "),
    ("size=8", "--vary size=8: "),
])
def test_varied_values_are_checked_as_typed_options_before_any_variant(
    cli: Cli, tmp_path: Path, scene: tuple[Path, Path], vary: str, message: str
) -> None:
    source, style = scene
    code, _, err = cli("preview", source, "-s", style, "--frame", "1001", "--vary", vary,
                       "-o", tmp_path / "s.png", *QUICK)
    assert code == 2, err
    assert message in assert_one_error_line(err)
    assert not (tmp_path / "s.preview").exists()


def test_a_varied_size_renders_each_variant_at_its_size(
    cli: Cli, tmp_path: Path, scene: tuple[Path, Path]
) -> None:
    source, style = scene
    code, _, err = cli("preview", source, "-s", style, "--frame", "1001", "--vary",
                       "size=24,48", "-o", tmp_path / "s.png", *QUICK)
    assert code == 0, err
    shapes = {name: image.shape[:2] for name, image in tiles(tmp_path / "s.preview").items()}
    assert shapes == {"size-24.1001.png": (16, 24), "size-48.1001.png": (32, 48)}


def test_style_weights_are_varied_with_semicolons(
    cli: Cli, tmp_path: Path, scene: tuple[Path, Path]
) -> None:
    source, style = scene
    other = tmp_path / "other.png"
    cv2.imwrite(str(other), 255 - cv2.imread(str(style)))
    code, out, err = cli("preview", source, "-s", style, "-s", other, "--frame", "1001",
                         "--vary", "style_weights=0.9,0.1;0.1,0.9", "-o", tmp_path / "s.png",
                         *QUICK)
    assert code == 0, err
    images = tiles(tmp_path / "s.preview")
    assert sorted(images) == ["style_weights-0.1_0.9.1001.png", "style_weights-0.9_0.1.1001.png"]
    a, b = images.values()
    assert np.abs(a.astype(int) - b).mean() > 1.0
    assert "--style-weights 0.9,0.1" in out


def test_the_sheet_and_the_frame_are_checked_before_any_work(
    cli: Cli, tmp_path: Path, scene: tuple[Path, Path]
) -> None:
    source, style = scene
    kept = style.read_bytes()
    base = ("preview", source, "-s", style, "--vary", "tv_weight=0,1", *QUICK)
    for extra, message in [
        (("--frame", "1001", "-o", style), f"the output {style} is the input {style}"),
        (("--frame", "1001", "-o", tmp_path / "s.jpg"), "ending in .png"),
        (("--frame", "7", "-o", tmp_path / "s.png"),
         "--frame 7 is not one of the source's frames 1001..1002"),
        (("--frame", "1001", "-o", tmp_path / "s.png", "--iterations", "3,2"),
         "give --iterations one number, not 3,2"),
    ]:
        code, _, err = cli(*base, *extra)
        assert code == 2, err
        assert message in assert_one_error_line(err)
    code, _, err = cli(*base, "--frame", "1001", "-o", tmp_path / "s.png", "--seed", "3")
    assert code == 2 and "--seed" in err  # no variant starts from noise: no such option
    assert style.read_bytes() == kept
    assert not (tmp_path / "s.preview").exists()
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code, _, err = cli(*base, "--frame", "1001", "-o", blocker / "sub" / "s.png")
    assert code == 2 and "cannot create " in assert_one_error_line(err)
    # a file that is no preview's sheet is replaced only with --overwrite
    mine = tmp_path / "mine.png"
    mine.write_bytes(kept)
    code, _, err = cli(*base, "--frame", "1001", "-o", mine)
    assert code == 2 and "pass --overwrite" in assert_one_error_line(err)
    assert mine.read_bytes() == kept
    code, _, err = cli(*base, "--frame", "1001", "-o", mine, "--overwrite")
    assert code == 0, err
    assert mine.read_bytes() != kept
    code, _, err = cli(*base, "--frame", "1001", "-o", mine)  # now a preview's sheet
    assert code == 0, err


def test_a_preview_again_with_another_fixed_setting_renders_every_variant_again(
    cli: Cli, tmp_path: Path, scene: tuple[Path, Path]
) -> None:
    source, style = scene
    args = ("preview", source, "-s", style, "--frame", "1001", "--vary", "style_weight=1,3",
            "-o", tmp_path / "s.png", *QUICK)
    code, _, err = cli(*args, "--tv-weight", "0")
    assert code == 0, err
    first = tiles(tmp_path / "s.preview")
    code, _, err = cli(*args, "--tv-weight", "0", "-q")  # the same: both resume
    assert code == 0 and "rendered again" not in err, err
    code, _, err = cli(*args, "--tv-weight", "1e9")
    assert code == 0, err
    assert err.count("rendered again (its run folder held a render with other settings)") == 2
    again = tiles(tmp_path / "s.preview")
    assert sorted(again) == sorted(first)
    assert all(np.abs(again[k].astype(int) - first[k]).mean() > 0.5 for k in first)
