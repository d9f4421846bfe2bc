"""Loss functions of neural style and its temporal extension, as pure functions.

Units: images are RGB in ``[0, 1]``; features are whatever the loss network returns for
such an image (the network applies its own input convention). Every loss is a mean, so
its size does not grow with the image: this keeps one set of default weights valid from
a 128 px preview to a 2K frame. The chroma term alone grows with the square of the
frame's side above 256 px, so that it weighs the same picture the same at every size
(:func:`chroma_size_factor`).

* content (Gatys et al. 2016, "Image style transfer using convolutional neural networks",
  eq. 1): ``mean((F - P)^2)`` over a layer's ``C * H * W`` activations.
* Gram matrix (ibid., eq. 3): ``G = F F^T / (C * H * W)`` with ``F`` the ``(C, H*W)``
  feature matrix; masked (Chan & Bhargava 2016, "Show, divide and neural"), the features
  are multiplied by the mask first and the normalisation uses the mask's area
  ``C * sum(m)`` instead of the frame's.
* style (ibid., eq. 4-5): ``sum_l w_l * mean((G_l - A_l)^2)`` over the ``C_l^2`` entries.
* balance of the style layers: each layer's weight times ``(m_max / m_l) ** b`` with
  ``m_l`` the mean squared entry of the layer's target Gram matrix and ``m_max`` the
  largest over the layers. The Gram entries of VGG's deep layers are orders of magnitude
  smaller than relu3_1's, so with ``b = 0`` (Gatys's plain sum) the deep layers, which
  carry the large strokes, are all but absent; ``b = 1`` weighs every layer's relative
  error equally.
* style means (optional, on top of the Gram matrices): ``sum_l w_l * mean((mu_l - m_l)^2)``
  over the ``C_l`` channel means ``mu_l`` (with a mask: mask-weighted means).
* total variation: mean squared difference of horizontally and vertically adjacent pixels;
  chroma total variation: the same of the image's BT.601 chroma channels (Cr, Cb), the
  per-pixel colour speckle that reads as noise, not as brush strokes, times
  ``(longer side / 256) ** 2`` above 256 px (:func:`chroma_size_factor`).
* temporal (Ruder, Dosovitskiy & Brox 2016, eq. 7): ``(1/D) sum_k c_k (x_k - w_k)^2`` with
  ``D = C * H * W``, ``w`` the warped earlier stylised frame and ``c`` the per-pixel
  consistency weights.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F


def gram(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Normalised Gram matrix.

    Args:
        features: ``(N, C, H, W)``.
        mask: optional ``(N, 1, H, W)`` or ``(1, 1, H, W)`` weights in ``[0, 1]`` at the
            features' resolution.

    Returns:
        ``(N, C, C)``: ``F F^T / (C * H * W)``, or with a mask
        ``(F m)(F m)^T / (C * sum(m))``.
    """
    n, c, h, w = features.shape
    if mask is not None:
        features = features * mask
        area = mask.sum(dim=(1, 2, 3)).clamp_min(1e-8).view(-1, 1, 1).expand(n, 1, 1)
    else:
        area = features.new_full((n, 1, 1), float(h * w))
    flat = features.reshape(n, c, h * w)  # (N, C, H*W)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * area)  # (N, C, C)


def channel_means(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``(N, C)`` mean activation of each channel (mask-weighted when a mask is given)."""
    if mask is None:
        return features.mean(dim=(2, 3))
    area = mask.sum(dim=(1, 2, 3)).clamp_min(1e-8).view(-1, 1)
    return (features * mask).sum(dim=(2, 3)) / area


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean((F - P)^2)`` over all ``N * C * H * W`` activations."""
    return F.mse_loss(features, target)


def style_loss(
    grams: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float],
) -> torch.Tensor:
    """``sum_l w_l * mean((G_l - A_l)^2)`` over the layers named in ``layer_weights``.

    ``grams[l]`` is ``(N, C, C)``; ``targets[l]`` is ``(C, C)`` or ``(N, C, C)``.
    """
    total = next(iter(grams.values())).new_zeros(())
    for layer, weight in layer_weights.items():
        g = grams[layer]
        total = total + weight * F.mse_loss(g, targets[layer].expand_as(g))
    return total


def balanced_layer_weights(
    layer_weights: Mapping[str, float], targets: Mapping[str, torch.Tensor], balance: float
) -> dict[str, float]:
    """``layer_weights`` times ``(m_max / m_l) ** balance`` (see the module docstring): the
    layer with the largest Gram entries keeps its weight, the others gain."""
    if balance == 0:
        return dict(layer_weights)
    scale = {n: max(float(targets[n].pow(2).mean()), 1e-30) for n in layer_weights}
    top = max(scale.values())
    return {n: w * (top / scale[n]) ** balance for n, w in layer_weights.items()}


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels of ``(N, C, H, W)``, both directions."""
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()


#: Rows of the chroma channels (Cr, Cb) of BT.601 YCrCb from RGB, without the offset.
CHROMA = ((0.5, -0.418688, -0.081312), (-0.168736, -0.331264, 0.5))


#: The longer side, in pixels, up to which the chroma term is the plain mean; above it the
#: mean is multiplied by ``(side / CHROMA_SIDE) ** 2`` (:func:`chroma_size_factor`).
CHROMA_SIDE = 256


def chroma_size_factor(height: int, width: int) -> float:
    """``max(1, longer side / CHROMA_SIDE) ** 2``: the chroma term's factor at a frame size.

    A picture's colour changes between neighbouring pixels halve each time its width
    doubles (the paintings' own: Matisse 0.039 at 256 px, 0.021 at 512, 0.011 at 1024), so
    the mean of their squares falls fourfold: with one weight at every size the term would
    let four times the colour noise through at twice the size (speckle ratio 1.29 at 256 px,
    1.66 at 512 on golden_gate + Matisse). Scaled by the squared side, it weighs the same
    picture the same at every size, as the reference's total variation (a sum over pixels)
    does. Sizes up to CHROMA_SIDE keep the plain mean: the weight was chosen there, and the
    draft render's speckle target (192 px) needs it.
    """
    return max(1.0, max(height, width) / CHROMA_SIDE) ** 2


def chroma_tv_loss(image: torch.Tensor) -> torch.Tensor:
    """:func:`tv_loss` of the chroma channels (Cr, Cb) of an RGB ``(N, 3, H, W)`` image,
    times :func:`chroma_size_factor` of its size: colour noise between neighbours, leaving
    the luminance's brush texture alone."""
    r, g, b = image[:, 0:1], image[:, 1:2], image[:, 2:3]
    # Python-number coefficients: no small tensor copied to the device every evaluation
    chroma = torch.cat([kr * r + kg * g + kb * b for kr, kg, kb in CHROMA], dim=1)
    return chroma_size_factor(image.shape[-2], image.shape[-1]) * tv_loss(chroma)


def temporal_loss(
    image: torch.Tensor, warped: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """``(1/D) sum_k c_k (x_k - w_k)^2`` with ``D = N * C * H * W``.

    Args:
        image: ``(N, C, H, W)`` the frame being optimised.
        warped: ``(N, C, H, W)`` an earlier stylised frame warped into this one.
        weights: ``(N, 1, H, W)`` or ``(H, W)`` per-pixel consistency weights ``c``.
    """
    if weights.ndim == 2:
        weights = weights[None, None]
    return (weights * (image - warped).pow(2)).sum() / image.numel()


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area-resize a ``(1, 1, H, W)`` mask to ``size = (width, height)`` (a layer's)."""
    hw = (size[1], size[0])
    if tuple(mask.shape[-2:]) == hw:
        return mask
    return F.interpolate(mask, size=hw, mode="area") if (
        mask.shape[-2] >= hw[0] and mask.shape[-1] >= hw[1]
    ) else F.interpolate(mask, size=hw, mode="bilinear", align_corners=False)
