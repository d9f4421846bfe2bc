"""The look's two loss options through ``render``: ``--chroma-weight`` (total variation of the
colour channels) and ``--style-balance`` (how much the deep style layers count), each
checked by its effect on the rendered frame and by the loss the frame's record holds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from videostyle.losses import chroma_tv_loss, gram
from videostyle.networks import LossNetwork
from videostyle.quality import chroma_speckle
from videostyle.stylize import scale_style, to_tensor
from videostyle.video import read_image
from videostyle.workdir import default_workdir

Cli = Callable[..., tuple[int, str, str]]
ROOT = Path(__file__).resolve().parents[1]
STYLE = ROOT / "sample_videos" / "stained_glass.png"


def _render(cli: Cli, folder: Path, *options: str, size: int = 64,
            iterations: int = 40) -> tuple[np.ndarray, dict]:
    """Frame 1 of the sample clip at ``size`` px, ``iterations`` of work, as written and
    recorded."""
    folder.mkdir()
    out = folder / "o_%04d.png"
    code, _, err = cli("render", ROOT / "sample_videos" / "valley.mp4", "-s", STYLE, "-o", out,
                       "--frames", "1:1", "--size", str(size), "--iterations", str(iterations),
                       "--quality", "draft", "-q", *options)
    assert code == 0, err
    record = json.loads((default_workdir(out) / "frames" / "000001.json").read_text())
    return read_image(folder / "o_0001.png"), record


def test_chroma_weight_smooths_colour_and_is_the_recorded_term(cli: Cli, tmp_path: Path) -> None:
    off, off_record = _render(cli, tmp_path / "off", "--chroma-weight", "0")
    on, on_record = _render(cli, tmp_path / "on", "--chroma-weight", "2e6")
    assert off_record["losses"]["chroma"] == 0.0
    # the recorded term is the weight times the chroma TV of the written frame
    written = chroma_tv_loss(to_tensor(on)).item()
    assert on_record["losses"]["chroma"] == pytest.approx(2e6 * written, rel=0.02)
    assert chroma_speckle(on) < 0.8 * chroma_speckle(off)


def test_chroma_term_grows_with_the_square_of_the_side_above_256_px(cli: Cli,
                                                                    tmp_path: Path) -> None:
    image, record = _render(cli, tmp_path / "big", "--chroma-weight", "2e6", size=320,
                            iterations=2)
    assert image.shape[:2] == (180, 320)
    # the plain mean of the written frame's chroma differences, without the size factor
    chroma = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)[:, :, 1:].astype(np.float64)
    plain = sum(float(np.mean(np.diff(chroma, axis=a) ** 2)) for a in (0, 1))
    assert record["losses"]["chroma"] == pytest.approx(2e6 * (320 / 256) ** 2 * plain,
                                                       rel=0.03)


def _gram_ratio(net: LossNetwork, image: np.ndarray, content: np.ndarray, layer: str) -> float:
    """Gram distance of ``image`` to the style over the content's, at ``layer``."""
    h, w = image.shape[:2]
    with torch.no_grad():
        style = net(to_tensor(scale_style(read_image(STYLE), (w, h), 1.0)), [layer])[layer]
        grams = {name: gram(net(to_tensor(x), [layer])[layer])
                 for name, x in (("out", image), ("base", content))}
    target = gram(style)
    return float((grams["out"] - target).norm() / (grams["base"] - target).norm())


def test_style_balance_lets_the_deep_layers_count(cli: Cli, tmp_path: Path,
                                                  vgg16: LossNetwork) -> None:
    plain, plain_record = _render(cli, tmp_path / "plain", "--style-balance", "0")
    balanced, record = _render(cli, tmp_path / "balanced", "--style-balance", "1")
    content = read_image(default_workdir(tmp_path / "plain" / "o_%04d.png") / "content"
                         / "000001.png")
    # relu5_1's Gram entries are ~10^4 times smaller than relu3_1's: weighed plainly it
    # hardly moves from the content's; balanced, it moves towards the style's
    deep = [_gram_ratio(vgg16, x, content, "relu5_1") for x in (plain, balanced)]
    assert deep[1] < 0.7 * deep[0]  # measured: 0.85 -> 0.35
    # and the style term, weighed with the deep layers raised, is far larger
    assert record["losses"]["style"] > 3 * plain_record["losses"]["style"]
    manifest = json.loads((default_workdir(tmp_path / "balanced" / "o_%04d.png")
                           / "manifest.json").read_text())
    assert '"style_balance": 1.0' in json.dumps(manifest)
    assert cv2.absdiff(plain, balanced).max() > 0.05
