"""The still-image stage: style scaling, initialisation, wiring (on a stand-in extractor),
and real stylisations with the bundled VGG-16 on the reference pictures."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import videostyle.stylize as stylize_mod
from videostyle.color import original_colors
from videostyle.config import EngineSettings, LossWeights, OptimizerSettings
from videostyle.errors import InputError
from videostyle.losses import gram, resize_mask
from videostyle.optimize import random_init
from videostyle.stylize import (
    ImageSettings,
    make_init,
    mask_tensor,
    prepare_styles,
    resize_image,
    scale_style,
    stylize_image,
    to_image,
    to_tensor,
)
from videostyle.video import read_image, write_image

TINY_ENGINE = EngineSettings(
    content_layers=("relu2_1",),
    style_layers=("relu1_1", "relu2_1", "relu3_1"),
    weights=LossWeights(content=1.0, style=10.0, tv=0.1),
    optimizer=OptimizerSettings(iterations=5, tolerance=0.0),
)


def _picture(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth colourful test picture (H, W, 3) float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    small = rng.random((4, 4, 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), 0, 1)


# --------------------------------------------------------------------------------------
# style scale, masks, init
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [0.5, 1.0, 1.7])
@pytest.mark.parametrize(
    ("style_hw", "content_wh"), [((200, 300), (128, 96)), ((90, 60), (64, 64))]
)
def test_scale_style_matches_area_and_keeps_aspect(style_hw, content_wh, scale) -> None:
    style = _picture(*style_hw, seed=0)
    out = scale_style(style, content_wh, scale)
    h, w = out.shape[:2]
    assert out.shape[2] == 3
    expected_area = content_wh[0] * content_wh[1] * scale**2
    assert h * w == pytest.approx(expected_area, rel=0.04)
    assert w / h == pytest.approx(style_hw[1] / style_hw[0], rel=0.03)
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_scale_style_rejects_non_positive_scale_and_floors_at_16() -> None:
    style = _picture(100, 100, seed=0)
    with pytest.raises(InputError):
        scale_style(style, (64, 64), 0.0)
    with pytest.raises(InputError):
        scale_style(style, (64, 64), -1.0)
    assert scale_style(style, (64, 64), 0.05).shape[:2] == (16, 16)


def test_prepare_styles_uses_the_style_scale(tiny_net, monkeypatch) -> None:
    seen: list[tuple[int, ...]] = []
    real = stylize_mod.build_style_targets

    def spy(network, styles, **kwargs):
        seen.extend(tuple(s.shape) for s in styles)
        return real(network, styles, **kwargs)

    monkeypatch.setattr(stylize_mod, "build_style_targets", spy)
    settings = ImageSettings(size=64, style_scale=0.5, engine=TINY_ENGINE)
    prepare_styles(tiny_net, [_picture(100, 200, 1)], content_size=(64, 48), settings=settings)
    (shape,) = seen
    assert shape[:2] == (1, 3)
    assert shape[2] * shape[3] == pytest.approx(64 * 48 * 0.25, rel=0.05)
    assert shape[3] / shape[2] == pytest.approx(2.0, rel=0.05)


def test_mask_tensor_resizes_and_averages_channels() -> None:
    mask = np.zeros((40, 60, 3), np.float32)
    mask[:, :30] = 1.0
    t = mask_tensor(mask, (12, 8), None)
    assert t.shape == (1, 1, 8, 12)
    torch.testing.assert_close(t[..., :6], torch.ones(1, 1, 8, 6))
    torch.testing.assert_close(t[..., 6:], torch.zeros(1, 1, 8, 6))


def test_make_init_variants() -> None:
    content = to_tensor(_picture(24, 32, seed=1))
    style = _picture(50, 40, seed=2)
    assert torch.equal(make_init("content", content=content, style=style, seed=0), content)
    random = make_init("random", content=content, style=style, seed=5)
    assert torch.equal(random, random_init((1, 3, 24, 32), seed=5))
    from_style = make_init("style", content=content, style=style, seed=0)
    np.testing.assert_allclose(to_image(from_style), resize_image(style, (32, 24)), atol=1e-6)
    picture = _picture(12, 16, seed=3)
    from_file = make_init("my.png", content=content, style=style, seed=0, image=picture)
    assert from_file.shape == (1, 3, 24, 32)
    np.testing.assert_allclose(to_image(from_file), resize_image(picture, (32, 24)), atol=1e-6)
    with pytest.raises(InputError):
        make_init("nonsense", content=content, style=style, seed=0)


def test_to_tensor_and_back() -> None:
    picture = _picture(5, 7, seed=0)
    t = to_tensor(picture)
    assert t.shape == (1, 3, 5, 7) and t.dtype == torch.float32
    assert float(t[0, 2, 1, 3]) == pytest.approx(float(picture[1, 3, 2]))
    np.testing.assert_array_equal(to_image(t), picture)
    with pytest.raises(InputError):
        to_tensor(picture[..., :2])


# --------------------------------------------------------------------------------------
# wiring, on the stand-in extractor
# --------------------------------------------------------------------------------------


def test_stylize_image_output_size_and_result(tiny_net) -> None:
    content = _picture(60, 80, seed=1)
    style = _picture(50, 50, seed=2)
    seen: list[int] = []
    result = stylize_image(
        content, [style], network=tiny_net,
        settings=ImageSettings(size=32, engine=TINY_ENGINE),
        callback=lambda p: seen.append(p.iteration),
    )
    assert result.image.shape == (24, 32, 3)
    assert result.image.dtype == np.float32
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0
    assert result.iterations == 5 and seen == [1, 2, 3, 4, 5]
    assert result.stop_reason == "iterations"
    assert result.weights is tiny_net.weights
    assert result.losses["total"] < result.initial_losses["total"]
    assert result.initial_losses["content"] == 0.0  # content init


def test_stylize_image_rejects_tiny_size(tiny_net) -> None:
    with pytest.raises(InputError, match="16"):
        stylize_image(
            _picture(40, 40, 0), [_picture(40, 40, 1)], network=tiny_net,
            settings=ImageSettings(size=8, engine=TINY_ENGINE),
        )


def test_stylize_image_style_init_with_no_iterations_is_the_style(tiny_net) -> None:
    content = _picture(30, 40, seed=1)
    style = _picture(64, 64, seed=2)
    engine = EngineSettings(
        content_layers=TINY_ENGINE.content_layers, style_layers=TINY_ENGINE.style_layers,
        optimizer=OptimizerSettings(iterations=0),
    )
    result = stylize_image(
        content, [style], network=tiny_net,
        settings=ImageSettings(size=None, init="style", engine=engine),
    )
    np.testing.assert_allclose(result.image, resize_image(style, (40, 30)), atol=1e-6)
    assert result.initial_losses["content"] > 0


def test_stylize_image_applies_original_colors(tiny_net) -> None:
    content = _picture(24, 32, seed=4)
    style = _picture(40, 40, seed=5)
    plain = stylize_image(
        content, [style], network=tiny_net, settings=ImageSettings(size=None, engine=TINY_ENGINE)
    )
    kept = stylize_image(
        content, [style], network=tiny_net,
        settings=ImageSettings(size=None, original_colors="lab", engine=TINY_ENGINE),
    )
    np.testing.assert_allclose(
        kept.image, original_colors(plain.image, content, "lab"), atol=1e-6
    )
    assert np.abs(kept.image - plain.image).max() > 0.01


def test_stylize_image_mask_count_must_match(tiny_net) -> None:
    with pytest.raises(InputError, match="mask"):
        stylize_image(
            _picture(32, 32, 0), [_picture(32, 32, 1), _picture(32, 32, 2)],
            network=tiny_net, settings=ImageSettings(size=None, engine=TINY_ENGINE),
            masks=[np.ones((32, 32), np.float32)],
        )


# --------------------------------------------------------------------------------------
# real stylisation with the bundled VGG-16
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_stylisation_tubingen_starry_night(vgg16, shared: Path, tmp_path: Path) -> None:
    content = read_image(shared / "data" / "content" / "tubingen.jpg")
    style = read_image(shared / "data" / "styles" / "starry_night.jpg")
    engine = EngineSettings(optimizer=OptimizerSettings(iterations=60, tolerance=0.0))
    result = stylize_image(
        content, [style], network=vgg16, settings=ImageSettings(size=128, engine=engine)
    )
    assert result.image.shape == (96, 128, 3)
    assert result.iterations == 60 and result.stop_reason == "iterations"
    assert result.weights.network == "vgg16"
    assert result.initial_losses["content"] == 0.0  # content init

    # The style term fell by at least an order of magnitude from the content image's.
    assert result.losses["style"] < result.initial_losses["style"] / 10

    # Content bound: the resized style painting itself (a picture that keeps nothing of the
    # scene) is what "content lost" looks like. Its content loss is read off a zero-iteration
    # run from the style init. The stylised result trades some content for style but must
    # keep the scene: its content loss stays below a quarter of the painting's (measured:
    # about a tenth).
    baseline = stylize_image(
        content, [style], network=vgg16,
        settings=ImageSettings(
            size=128, init="style", engine=EngineSettings(optimizer=OptimizerSettings(iterations=0))
        ),
    )
    no_content = baseline.initial_losses["content"]
    assert no_content > 0
    assert result.losses["content"] < 0.25 * no_content

    # The picture changed visibly but still follows the content's layout.
    small = resize_image(content, (128, 96))
    assert np.abs(result.image - small).mean() > 0.05
    corr = np.corrcoef(result.image.mean(axis=2).ravel(), small.mean(axis=2).ravel())[0, 1]
    assert corr > 0.3

    out = tmp_path / "stylized.png"
    write_image(out, result.image)
    assert read_image(out).shape == (96, 128, 3)


@pytest.mark.slow
def test_masked_styles_each_half_takes_its_own_style(vgg16, shared: Path) -> None:
    content = read_image(shared / "data" / "content" / "tubingen.jpg")
    styles = [
        read_image(shared / "data" / "styles" / "starry_night.jpg"),
        read_image(shared / "data" / "styles" / "the_scream.jpg"),
    ]
    h, w = 72, 96  # tubingen is 4:3
    left = np.zeros((h, w), np.float32)
    left[:, : w // 2] = 1.0
    masks = [left, 1.0 - left]
    settings = ImageSettings(
        size=96, engine=EngineSettings(optimizer=OptimizerSettings(iterations=50, tolerance=0))
    )
    result = stylize_image(content, styles, network=vgg16, settings=settings, masks=masks)
    assert result.image.shape == (h, w, 3)

    targets = prepare_styles(vgg16, styles, content_size=(w, h), settings=settings, masks=masks)
    layers = ("relu2_1", "relu3_1")

    def distances(image: np.ndarray, half: int) -> list[float]:
        """Frobenius distance of the half's masked Gram to each style's, summed over layers."""
        with torch.no_grad():
            feats = vgg16(to_tensor(image), layers)
        mask = mask_tensor(masks[half], (w, h), None)
        return [
            sum(
                float(torch.linalg.norm(
                    gram(feats[n], resize_mask(mask, feats[n].shape[:-3:-1]))[0] - t.grams[n]
                ))
                for n in layers
            )
            for t in targets
        ]

    # The photo itself is nearer The Scream's statistics on both halves, so the left half
    # has to be moved across to Starry Night by the optimisation.
    start_left = distances(resize_image(content, (w, h)), 0)
    assert start_left[1] < start_left[0]

    d_left, d_right = distances(result.image, 0), distances(result.image, 1)
    assert d_left[0] < 0.5 * d_left[1], d_left  # left: Starry Night
    assert d_right[1] < 0.5 * d_right[0], d_right  # right: The Scream
    assert math.isfinite(result.losses["total"])


def test_scale_sizes_coarse_to_fine() -> None:
    from videostyle.scales import scale_sizes

    assert scale_sizes((256, 192), 128, 2**0.5) == [(128, 96), (181, 136), (256, 192)]
    assert scale_sizes((192, 256), None, 2**0.5) == [(192, 256)]
    assert scale_sizes((100, 80), 128, 2**0.5) == [(100, 80)]  # start not below the size
    sizes = scale_sizes((512, 384), 128, 2**0.5)
    assert sizes[0] == (128, 96) and sizes[-1] == (512, 384) and len(sizes) == 5
