"""Loss arithmetic against values worked out by hand, and the objective's weighted sum."""

from __future__ import annotations

import pytest
import torch

from videostyle.config import EngineSettings, LossWeights
from videostyle.errors import InputError
from videostyle.losses import (
    balanced_layer_weights,
    chroma_size_factor,
    chroma_tv_loss,
    content_loss,
    gram,
    resize_mask,
    style_loss,
    temporal_loss,
    tv_loss,
)
from videostyle.optimize import Objective, TemporalTerm, build_style_targets

# Features (N=1, C=2, H=2, W=2): channel 0 = [[1, 2], [3, 4]], channel 1 = [[0, 1], [-1, 2]].
# Flattened f0 = (1, 2, 3, 4), f1 = (0, 1, -1, 2):
#   f0.f0 = 30, f0.f1 = 0 + 2 - 3 + 8 = 7, f1.f1 = 0 + 1 + 1 + 4 = 6; C*H*W = 8.
FEATURES = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [-1.0, 2.0]]]])
GRAM = [[30 / 8, 7 / 8], [7 / 8, 6 / 8]]  # [[3.75, 0.875], [0.875, 0.75]]
# Left column only: f0 = (1, 3), f1 = (0, -1): f0.f0 = 10, f0.f1 = -3, f1.f1 = 1;
# normalised by C * sum(mask) = 2 * 2 = 4.
LEFT_MASK = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
GRAM_LEFT = [[2.5, -0.75], [-0.75, 0.25]]


def test_gram_by_hand() -> None:
    g = gram(FEATURES)
    assert g.shape == (1, 2, 2)
    torch.testing.assert_close(g[0], torch.tensor(GRAM))


def test_gram_is_per_image_in_a_batch() -> None:
    batch = torch.cat([FEATURES, 2 * FEATURES])  # (2, 2, 2, 2)
    g = gram(batch)
    torch.testing.assert_close(g[0], torch.tensor(GRAM))
    torch.testing.assert_close(g[1], 4 * torch.tensor(GRAM))


def test_masked_gram_by_hand() -> None:
    torch.testing.assert_close(gram(FEATURES, LEFT_MASK)[0], torch.tensor(GRAM_LEFT))


def test_masked_gram_with_half_mask_equals_gram_of_that_half() -> None:
    features = torch.randn(1, 5, 6, 8, generator=torch.Generator().manual_seed(3))
    left = torch.zeros(1, 1, 6, 8)
    left[..., :3] = 1.0
    torch.testing.assert_close(gram(features, left), gram(features[..., :3]))
    torch.testing.assert_close(gram(features, 1 - left), gram(features[..., 3:]))
    # A full mask is the unmasked Gram; a uniform 0.5 mask gives
    # (0.5 F)(0.5 F)^T / (C * 0.5 * H * W) = 0.5 * F F^T / (C * H * W).
    torch.testing.assert_close(gram(features, torch.ones(1, 1, 6, 8)), gram(features))
    torch.testing.assert_close(gram(features, torch.full((1, 1, 6, 8), 0.5)), 0.5 * gram(features))


def test_masked_gram_gradient() -> None:
    generator = torch.Generator().manual_seed(4)
    features = torch.randn(1, 3, 4, 5, dtype=torch.float64, generator=generator)
    mask = torch.rand(1, 1, 4, 5, dtype=torch.float64, generator=generator)
    features.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: gram(f, mask), (features,))


def test_content_loss_by_hand() -> None:
    # squares: 1 + 4 + 9 + 16 + 0 + 1 + 1 + 4 = 36 over 8 activations
    assert content_loss(FEATURES, torch.zeros_like(FEATURES)).item() == pytest.approx(4.5)
    assert content_loss(FEATURES, FEATURES + 1).item() == pytest.approx(1.0)


def test_style_loss_by_hand() -> None:
    grams = {
        "a": torch.tensor([GRAM]),  # (1, 2, 2)
        "b": torch.eye(2)[None],
        "c": torch.full((1, 2, 2), 100.0),  # not weighted: must be ignored
    }
    targets = {
        "a": torch.tensor([[3.75, 0.0], [0.0, 0.0]]),  # (C, C), broadcast over the batch
        "b": torch.zeros(1, 2, 2),
        "c": torch.zeros(2, 2),
    }
    # a: differences (0, 0.875, 0.875, 0.75) -> (0.765625 * 2 + 0.5625) / 4 = 0.5234375
    # b: differences (1, 0, 0, 1) -> 0.5
    # total: 2 * 0.5234375 + 0.5 * 0.5 = 1.296875
    loss = style_loss(grams, targets, {"a": 2.0, "b": 0.5})
    assert loss.item() == pytest.approx(1.296875)


def test_balanced_layer_weights_by_hand() -> None:
    targets = {"a": torch.full((2, 2), 10.0), "b": torch.full((2, 2), 0.1), "c": torch.ones(2, 2)}
    weights = {"a": 0.5, "b": 0.25, "c": 0.25}  # mean squares 100, 0.01, 1
    assert balanced_layer_weights(weights, targets, 0.0) == weights
    half = balanced_layer_weights(weights, targets, 0.5)
    assert half == pytest.approx({"a": 0.5, "b": 0.25 * 100.0, "c": 0.25 * 10.0})
    full = balanced_layer_weights(weights, targets, 1.0)  # relative errors: w / m, times 100
    assert full == pytest.approx({"a": 0.5, "b": 0.25 * 1e4, "c": 0.25 * 100.0})


def test_chroma_tv_sees_colour_noise_not_grey_texture() -> None:
    grey = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).expand(1, 3, 2, 2)  # a grey checkerboard
    assert tv_loss(grey).item() == pytest.approx(2.0)
    assert chroma_tv_loss(grey).item() == pytest.approx(0.0, abs=1e-7)
    red = torch.zeros(1, 3, 2, 2)
    red[0, 0, :, 1] = 1.0  # black | red: Cr jumps 0.5 and Cb -0.168736 across, none down
    expected = (0.5**2 + 0.168736**2) / 2  # mean over both channels' horizontal pairs
    assert chroma_tv_loss(red).item() == pytest.approx(expected)


def test_chroma_tv_grows_with_the_square_of_the_side_above_256_px() -> None:
    assert chroma_size_factor(192, 256) == 1.0
    assert chroma_size_factor(100, 64) == 1.0
    assert chroma_size_factor(384, 512) == 4.0
    assert chroma_size_factor(1080, 1920) == pytest.approx(56.25)
    noise = torch.rand(1, 3, 40, 512, generator=torch.Generator().manual_seed(0))
    small = noise[..., :256]
    # the same statistics at twice the side: the term is four times the plain mean
    assert chroma_tv_loss(noise).item() / chroma_tv_loss(small).item() == pytest.approx(
        4.0, rel=0.05)


def test_tv_loss_by_hand() -> None:
    image = torch.tensor([[[[0.0, 1.0], [3.0, 7.0]]]])
    # vertical differences 3, 6 -> mean 22.5; horizontal 1, 4 -> mean 8.5
    assert tv_loss(image).item() == pytest.approx(31.0)
    ramp = torch.arange(5.0).mul(0.1).expand(1, 3, 4, 5)  # constant down, +0.1 across
    assert tv_loss(ramp).item() == pytest.approx(0.01)
    assert tv_loss(torch.full((1, 3, 4, 4), 0.3)).item() == 0.0


def test_temporal_loss_by_hand_and_zero_weight_ignores_pixel() -> None:
    image = torch.zeros(1, 3, 2, 2)
    warped = torch.ones(1, 3, 2, 2)
    weights = torch.tensor([[0.0, 1.0], [0.5, 1.0]])
    # 3 channels * (0 + 1 + 0.5 + 1) = 7.5 over D = 12
    assert temporal_loss(image, warped, weights).item() == pytest.approx(0.625)
    assert temporal_loss(image, warped, weights[None, None]).item() == pytest.approx(0.625)
    changed = image.clone()
    changed[..., 0, 0] = 100.0  # the zero-weight pixel
    assert temporal_loss(changed, warped, weights).item() == pytest.approx(0.625)
    changed[..., 1, 0] = 3.0  # weight 0.5: (3 - 1)^2 = 4 instead of 1 per channel
    assert temporal_loss(changed, warped, weights).item() == pytest.approx((3 * (1 + 2 + 1)) / 12)


def test_resize_mask_keeps_a_half_mask_half() -> None:
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., :8] = 1.0
    small = resize_mask(mask, (4, 4))
    assert small.shape == (1, 1, 4, 4)
    torch.testing.assert_close(small[..., :2], torch.ones(1, 1, 4, 2))
    torch.testing.assert_close(small[..., 2:], torch.zeros(1, 1, 4, 2))


# --------------------------------------------------------------------------------------
# The objective with a stand-in feature extractor
# --------------------------------------------------------------------------------------


def _gram(f: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
    """Independent Gram: sum over pixels of m * f_i * f_j, over C * sum(m)."""
    _, c, h, w = f.shape
    if m is None:
        m = torch.ones(1, 1, h, w)
    fm = f * m
    return torch.einsum("nihw,njhw->nij", fm, fm) / (c * m.sum())


def test_objective_total_is_sum_of_weighted_terms(tiny_net) -> None:
    generator = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 16, 16, generator=generator)
    style = torch.rand(1, 3, 16, 16, generator=generator) ** 2
    image = torch.rand(1, 3, 16, 16, generator=generator)
    warped = torch.rand(1, 3, 16, 16, generator=generator)
    consistency = (torch.rand(1, 1, 16, 16, generator=generator) > 0.5).float()
    settings = EngineSettings(
        content_layers=("relu2_1",),
        style_layers=("relu1_1", "relu3_1"),
        style_layer_weights=(1.0, 3.0),  # normalised to 0.25, 0.75
        style_balance=0.5,
        weights=LossWeights(content=2.0, style=5.0, tv=0.3, chroma=0.6, temporal=4.0),
    )
    targets = build_style_targets(tiny_net, [style], layers=settings.style_layers)
    objective = Objective(
        tiny_net,
        content=content,
        styles=targets,
        settings=settings,
        temporal=[TemporalTerm(warped=warped, weights=consistency)],
    )
    terms = objective(image)

    with torch.no_grad():
        fi = tiny_net(image, ["relu1_1", "relu2_1", "relu3_1"])
        fc = tiny_net(content, ["relu2_1"])
        fs = tiny_net(style, ["relu1_1", "relu3_1"])
    content_term = 2.0 * ((fi["relu2_1"] - fc["relu2_1"]) ** 2).mean()
    # balance 0.5: each layer's weight times sqrt(m_max / m), m its target's mean square
    m1, m3 = (float((_gram(fs[n]) ** 2).mean()) for n in ("relu1_1", "relu3_1"))
    top = max(m1, m3)
    assert top / min(m1, m3) > 1.5  # the balance makes a difference here
    style_term = 5.0 * (
        0.25 * (top / m1) ** 0.5 * ((_gram(fi["relu1_1"]) - _gram(fs["relu1_1"])) ** 2).mean()
        + 0.75 * (top / m3) ** 0.5 * ((_gram(fi["relu3_1"]) - _gram(fs["relu3_1"])) ** 2).mean()
    )
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    tv_term = 0.3 * ((dy**2).mean() + (dx**2).mean())
    temporal_term = 4.0 * (consistency * (image - warped) ** 2).sum() / image.numel()
    r, g, b = image[:, 0], image[:, 1], image[:, 2]  # BT.601 Cr and Cb, without the offset
    chroma = torch.stack([0.5 * r - 0.418688 * g - 0.081312 * b,
                          -0.168736 * r - 0.331264 * g + 0.5 * b], 1)
    cy, cx = chroma[..., 1:, :] - chroma[..., :-1, :], chroma[..., :, 1:] - chroma[..., :, :-1]
    chroma_term = 0.6 * ((cy**2).mean() + (cx**2).mean())

    expected = {
        "content": content_term, "style": style_term, "tv": tv_term, "chroma": chroma_term,
        "temporal": temporal_term,
    }
    assert set(terms) == {"content", "style", "tv", "chroma", "temporal", "total"}
    for name, value in expected.items():
        assert terms[name].item() == pytest.approx(value.item(), rel=1e-5), name
        assert value.item() > 0, name  # every term contributes
    total = sum(v.item() for v in expected.values())
    assert terms["total"].item() == pytest.approx(total, rel=1e-5)
    # The content image has zero content loss; its style loss is not zero.
    at_content = objective(content)
    assert at_content["content"].item() == pytest.approx(0.0, abs=1e-10)
    assert at_content["style"].item() > 0


def test_objective_with_masked_styles(tiny_net) -> None:
    generator = torch.Generator().manual_seed(1)
    content = torch.rand(1, 3, 16, 16, generator=generator)
    styles = [torch.rand(1, 3, 16, 16, generator=generator) ** p for p in (1, 3)]
    image = torch.rand(1, 3, 16, 16, generator=generator)
    left = torch.zeros(1, 1, 16, 16)
    left[..., :8] = 1.0
    settings = EngineSettings(
        content_layers=("relu2_1",),
        style_layers=("relu1_1", "relu2_1"),
        style_balance=0.0,  # the plain per-layer weights (the balance: tested above)
        weights=LossWeights(content=1.0, style=7.0, tv=0.0),
    )
    targets = build_style_targets(
        tiny_net, styles, layers=settings.style_layers, blend=(1.0, 3.0), masks=[left, 1 - left]
    )
    assert [t.weight for t in targets] == pytest.approx([0.25, 0.75])
    objective = Objective(tiny_net, content=content, styles=targets, settings=settings)
    style = objective(image)["style"].item()

    with torch.no_grad():
        fi = tiny_net(image, ["relu1_1", "relu2_1"])
        expected = 0.0
        for blend, s, is_left in zip((0.25, 0.75), styles, (True, False), strict=True):
            fs = tiny_net(s, ["relu1_1", "relu2_1"])
            for layer, size in (("relu1_1", 16), ("relu2_1", 8)):
                half = torch.zeros(1, 1, size, size)  # the mask at the layer's resolution
                half[..., : size // 2] = 1.0
                if not is_left:
                    half = 1 - half
                diff = _gram(fi[layer], half) - _gram(fs[layer])
                expected += blend * 0.5 * (diff**2).mean().item()
    assert style == pytest.approx(7.0 * expected, rel=1e-5)


def test_style_blend_without_masks_mixes_grams(tiny_net) -> None:
    generator = torch.Generator().manual_seed(2)
    styles = [torch.rand(1, 3, 16, 16, generator=generator) ** p for p in (1, 2)]
    (target,) = build_style_targets(tiny_net, styles, layers=["relu1_1"], blend=[3.0, 1.0])
    g = [_gram(tiny_net(s, ["relu1_1"])["relu1_1"])[0] for s in styles]
    torch.testing.assert_close(target.grams["relu1_1"], 0.75 * g[0] + 0.25 * g[1])
    assert target.mask is None and target.weight == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"blend": [1.0]},  # one weight for two styles
        {"blend": [1.0, -1.0]},
        {"blend": [0.0, 0.0]},
        {"masks": [torch.ones(1, 1, 16, 16)]},  # one mask for two styles
    ],
)
def test_build_style_targets_rejects_bad_blends_and_masks(tiny_net, kwargs) -> None:
    styles = [torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)]
    with pytest.raises(InputError):
        build_style_targets(tiny_net, styles, layers=["relu1_1"], **kwargs)
    with pytest.raises(InputError):
        build_style_targets(tiny_net, [], layers=["relu1_1"])
