"""Measures of a stylised still image against its content and style (``scripts/look.py``).

* :func:`chroma_speckle`: per-pixel colour noise. The image is converted to YCrCb
  (OpenCV's, channels in [0, 1]) and the result is
  ``mean|Cr[y, x+1] - Cr[y, x]| + mean|Cr[y+1, x] - Cr[y, x]|
  + mean|Cb[y, x+1] - Cb[y, x]| + mean|Cb[y+1, x] - Cb[y, x]|``
  (each mean over all neighbour pairs of that direction).
* :func:`speckle_ratio`: ``chroma_speckle(output) / chroma_speckle(style')`` with ``style'``
  the style painting resized (area interpolation, aspect kept) to the output's width: how
  much more colour speckle the output has than the painting at the same scale.
* :func:`look_ratios`, first: ``mean_l ||G_l(output) - A_l||_F / ||G_l(content) - A_l||_F`` over
  the package's five style layers, ``G_l`` the normalised Gram matrices and ``A_l`` those
  of the style scaled as ``videostyle image`` scales it (area matched to the content's).
  Each layer counts equally (a ratio of summed squared errors would be the relu3_1 ratio
  alone: its Gram errors are orders of magnitude larger than the other layers').
* :func:`look_ratios`, second: ``||F(output) - F(content)|| / ||F(style'') - F(content)||`` over
  the relu4_2 activations ``F``, ``style''`` the style resized to the content's size.

Both network measures leave out a margin, see below.

Both network measures leave out the features within ``margin`` pixels (default 16) of the
frame's edge: there the activations depend on the network's padding convention (zero or
replicate) more than on the image, and an output optimised under one convention is far
from its content near the edge when judged under the other (golden_gate, relu4_2: the
replicate-padded run's content ratio is 0.386 judged with zero padding over the whole
frame, 0.247 without the margin, 0.233 with replicate padding). Without the margin the
measures reward whichever padding the judging network uses.

Images are numpy float32 ``(H, W, 3)`` RGB in [0, 1]. The distances use the network they
are given; to compare runs, give them the same one (the bundled VGG-16 with max pooling
and zero padding, whatever the runs themselves used).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .config import CONTENT_LAYERS, STYLE_LAYERS
from .losses import gram
from .networks import LossNetwork
from .stylize import resize_image, scale_style, to_tensor


def chroma_speckle(image: np.ndarray) -> float:
    """Summed mean absolute neighbour difference of Cr and Cb, both directions (see above)."""
    ycrcb = cv2.cvtColor(np.clip(image, 0.0, 1.0).astype(np.float32), cv2.COLOR_RGB2YCrCb)
    total = 0.0
    for channel in (1, 2):
        c = ycrcb[:, :, channel].astype(np.float64)
        total += float(np.abs(np.diff(c, axis=1)).mean()) + float(np.abs(np.diff(c, axis=0)).mean())
    return total


def speckle_ratio(output: np.ndarray, style: np.ndarray) -> float:
    """``chroma_speckle(output)`` over that of ``style`` area-resized to the output's width."""
    h, w = style.shape[:2]
    width = output.shape[1]
    height = max(1, round(h * width / w))
    resized = cv2.resize(style.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    return chroma_speckle(output) / chroma_speckle(resized)


MARGIN = 16


def _inner(features: dict[str, torch.Tensor], margin: int) -> dict[str, torch.Tensor]:
    """The features without the cells within ``margin`` image pixels of the edge."""
    out = {}
    for name, f in features.items():
        stride = 2 ** (int(name[len("relu"):].split("_")[0]) - 1)  # relu{b}_i: 2^(b-1)
        k = margin // stride
        if k > 0 and f.shape[-2] > 2 * k and f.shape[-1] > 2 * k:
            f = f[..., k:-k, k:-k]
        out[name] = f
    return out


def look_ratios(
    network: LossNetwork,
    output: np.ndarray,
    content: np.ndarray,
    style: np.ndarray,
    margin: int = MARGIN,
) -> tuple[float, float]:
    """``(style ratio, content ratio)`` of ``output`` (see the module docstring).

    Style: the mean over the style layers of the Gram distance output -> style over
    content -> style. Content: the relu4_2 distance output -> content over style ->
    content. ``content`` and ``style`` are resized to the output's size as described above.
    """
    h, w = output.shape[:2]
    content = resize_image(content, (w, h))
    with torch.no_grad():
        feats = {
            name: _inner(network(to_tensor(image), STYLE_LAYERS + CONTENT_LAYERS), margin)
            for name, image in (
                ("target", scale_style(style, (w, h), 1.0)), ("out", output),
                ("base", content), ("style", resize_image(style, (w, h))),
            )
        }
        ratios = []
        for n in STYLE_LAYERS:
            a = gram(feats["target"][n])
            ratios.append(float((gram(feats["out"][n]) - a).norm()
                                / (gram(feats["base"][n]) - a).norm()))

        def distance(image: str) -> float:
            return sum(float((feats[image][n] - feats["base"][n]).norm())
                       for n in CONTENT_LAYERS)

        return sum(ratios) / len(ratios), distance("out") / distance("style")
