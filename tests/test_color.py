"""Colour preservation: the colour spaces against published values, and original_colors()
keeping the content's chroma exactly while taking the stylised luminance."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from videostyle.color import COLOR_SPACES, from_space, original_colors, to_space
from videostyle.errors import InputError

RED, WHITE, BLUE = (1.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0.0, 0.0, 1.0)

# Published values: BT.601 YUV / full-range YCbCr, and CIE L*a*b* / L*u*v* of sRGB primaries
# under D65 (e.g. Bruce Lindbloom's calculator). Channel order of ycrcb is (Y, Cr, Cb).
REFERENCE = {
    "yuv": {RED: (0.299, -0.147108, 0.614777), WHITE: (1.0, 0.0, 0.0),
            BLUE: (0.114, 0.435912, -0.099978)},
    "ycrcb": {RED: (0.299, 1.0, 0.331264), WHITE: (1.0, 0.5, 0.5),
              BLUE: (0.114, 0.418688, 1.0)},
    "lab": {RED: (53.2408, 80.0925, 67.2032), WHITE: (100.0, 0.0, 0.0),
            BLUE: (32.2970, 79.1875, -107.8602)},
    "luv": {RED: (53.2408, 175.0151, 37.7564), WHITE: (100.0, 0.0, 0.0),
            BLUE: (32.2970, -9.4054, -130.3423)},
}


def _images(seed: int, shape=(24, 24, 3)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random(shape).astype(np.float32), rng.random(shape).astype(np.float32)


@pytest.mark.parametrize("space", COLOR_SPACES)
def test_to_space_matches_published_values(space: str) -> None:
    for rgb, expected in REFERENCE[space].items():
        got = to_space(np.array([[rgb]], np.float32), space)[0, 0]
        tol = 1e-5 if space in ("yuv", "ycrcb") else 1e-3
        np.testing.assert_allclose(got, expected, atol=tol, err_msg=f"{space} {rgb}")


@pytest.mark.parametrize(
    ("space", "code", "atol"),
    [("ycrcb", cv2.COLOR_RGB2YCrCb, 1e-3), ("luv", cv2.COLOR_RGB2Luv, 0.02)],
)
def test_to_space_agrees_with_opencv(space: str, code: int, atol: float) -> None:
    image, _ = _images(0)
    np.testing.assert_allclose(to_space(image, space), cv2.cvtColor(image, code), atol=atol)


@pytest.mark.parametrize("space", COLOR_SPACES)
def test_round_trip(space: str) -> None:
    image, _ = _images(1)
    np.testing.assert_allclose(from_space(to_space(image, space), space), image, atol=1e-9)


@pytest.mark.parametrize("space", COLOR_SPACES)
def test_original_colors_keeps_content_chroma_and_stylised_luminance(space: str) -> None:
    stylized, content = _images(2)
    out = original_colors(stylized, content, space)
    assert out.shape == content.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0

    c_space, s_space, o_space = (to_space(x, space) for x in (content, stylized, out))
    chroma_range = np.ptp(c_space[..., 1:])
    assert np.abs(o_space[..., 1:] - c_space[..., 1:]).max() < 1e-4 * chroma_range

    # Where the stylised luminance with the content's chroma is a valid RGB colour, the
    # output's luminance is the stylised one.
    joined = c_space.copy()
    joined[..., 0] = s_space[..., 0]
    rgb = from_space(joined, space)
    inside = ((rgb >= 0) & (rgb <= 1)).all(axis=-1)
    assert 0.3 < inside.mean() < 1.0  # both cases occur in this test
    lum_range = np.ptp(s_space[..., 0])
    assert np.abs(o_space[..., 0] - s_space[..., 0])[inside].max() < 1e-4 * lum_range

    # Elsewhere the luminance moved toward the content's, never past it.
    lo = np.minimum(s_space[..., 0], c_space[..., 0]) - 1e-4 * lum_range
    hi = np.maximum(s_space[..., 0], c_space[..., 0]) + 1e-4 * lum_range
    assert ((o_space[..., 0] >= lo) & (o_space[..., 0] <= hi))[~inside].all()
    assert np.abs(o_space[..., 0] - s_space[..., 0])[~inside].min() > 0


@pytest.mark.parametrize("space", ["yuv", "ycrcb"])
def test_out_of_gamut_luminance_moves_only_as_far_as_needed(space: str) -> None:
    stylized, content = _images(3)
    out = original_colors(stylized, content, space)
    c_space, s_space, o_space = (to_space(x, space) for x in (content, stylized, out))
    joined = c_space.copy()
    joined[..., 0] = s_space[..., 0]
    rgb = from_space(joined, space)
    outside = ~((rgb >= 0) & (rgb <= 1)).all(axis=-1)
    assert outside.any()
    # Going 2% of the way back toward the stylised luminance leaves the RGB cube: the
    # output sits on the gamut boundary (the gamut is an interval of Y for fixed chroma).
    back = o_space.copy()
    back[..., 0] += 0.02 * (s_space[..., 0] - o_space[..., 0])
    rgb_back = from_space(back, space)
    assert (~((rgb_back >= -1e-9) & (rgb_back <= 1 + 1e-9)).all(axis=-1))[outside].all()


def test_gray_content_gives_gray_output_with_stylised_luma() -> None:
    content = np.full((1, 2, 3), 0.5, np.float32)
    stylized = np.array([[RED, (0.2, 0.6, 0.4)]], np.float32)
    out = original_colors(stylized, content, "yuv")
    # Y(red) = 0.299; Y(0.2, 0.6, 0.4) = 0.0598 + 0.3522 + 0.0456 = 0.4576
    np.testing.assert_allclose(out[0, 0], [0.299] * 3, atol=1e-6)
    np.testing.assert_allclose(out[0, 1], [0.4576] * 3, atol=1e-6)
    for space in ("ycrcb", "lab", "luv"):
        gray = original_colors(stylized, content, space)
        np.testing.assert_allclose(gray[..., 0], gray[..., 1], atol=1e-5)
        np.testing.assert_allclose(gray[..., 1], gray[..., 2], atol=1e-5)


def test_identical_images_are_unchanged() -> None:
    image, _ = _images(4)
    for space in COLOR_SPACES:
        np.testing.assert_allclose(original_colors(image, image, space), image, atol=1e-5)


def test_unknown_space_and_size_mismatch_are_input_errors() -> None:
    a, b = _images(5)
    with pytest.raises(InputError, match="hsv"):
        original_colors(a, b, "hsv")
    with pytest.raises(InputError):
        to_space(a, "rgb")
    with pytest.raises(InputError):
        from_space(a, "xyz")
    with pytest.raises(InputError):
        original_colors(a, b[:10], "yuv")
