"""The look measures (videostyle.quality) on images whose answer is known, and a guard on
the default look: a small stylisation stays free of colour speckle."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from videostyle.networks import LossNetwork
from videostyle.quality import chroma_speckle, look_ratios, speckle_ratio
from videostyle.stylize import ImageSettings, stylize_image
from videostyle.video import read_image


def test_chroma_speckle_of_a_hand_made_image() -> None:
    # Columns alternate between two colours whose Cr differs by d and Cb by e (OpenCV's
    # YCrCb in [0, 1]); rows are constant: the measure is |d| + |e| (horizontal) + 0.
    a = np.array([0.2, 0.5, 0.7], np.float32)
    b = np.array([0.6, 0.4, 0.1], np.float32)
    image = np.zeros((6, 8, 3), np.float32)
    image[:, 0::2], image[:, 1::2] = a, b
    ya, yb = (cv2.cvtColor(c[None, None], cv2.COLOR_RGB2YCrCb)[0, 0] for c in (a, b))
    expected = abs(ya[1] - yb[1]) + abs(ya[2] - yb[2])
    assert chroma_speckle(image) == pytest.approx(expected, rel=1e-5)
    assert chroma_speckle(np.full((6, 8, 3), 0.3, np.float32)) == 0.0
    # a grey image has no chroma at all, whatever its luminance pattern
    grey = np.repeat(np.random.default_rng(0).random((6, 8, 1)), 3, axis=2).astype(np.float32)
    assert chroma_speckle(grey) == pytest.approx(0.0, abs=1e-6)
    assert speckle_ratio(image, image) == pytest.approx(1.0)


def test_look_ratios_of_the_content_itself(vgg16: LossNetwork) -> None:
    rng = np.random.default_rng(1)
    content = cv2.GaussianBlur(rng.random((64, 96, 3)).astype(np.float32), (0, 0), 2)
    style = rng.random((80, 80, 3)).astype(np.float32)
    style_ratio, content_ratio = look_ratios(vgg16, content, content, style)
    assert style_ratio == pytest.approx(1.0)  # the content is where the style distance starts
    assert content_ratio == pytest.approx(0.0, abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    "painting", ["starry_night.jpg", "woman-with-hat-matisse.jpg", "the_scream.jpg"]
)
def test_default_look_has_no_colour_speckle(painting: str, shared: Path,
                                            vgg16: LossNetwork) -> None:
    """A painting with colour texture of its own (Starry Night) and two of smooth colour
    (Matisse, where total variation alone left 2.8x the painting's colour speckle, and the
    Scream, the last pair above the target with chroma 2e5: 1.55 at 256 px)."""
    content = read_image(shared / "data" / "content" / "golden_gate.jpg")
    style = read_image(shared / "data" / "styles" / painting)
    settings = ImageSettings(size=128)
    result = stylize_image(content, [style], network=vgg16, settings=settings)
    # Measured at 128 px (what CI affords): Starry Night 0.63, Matisse 1.18, the Scream
    # 1.34 (chroma 2e5: Starry Night 0.70, Matisse 1.29); before the chroma term and the
    # style balance 1.69 and ~3; the former defaults (tv 100, zero padding, one scale) 3.32
    # on Starry Night (docs/look.md)
    assert speckle_ratio(result.image, style) <= 1.5
