"""Engine settings, loss weights and presets as frozen dataclasses, with their defaults.

A render's own settings (and how a user's options become them) are in
:mod:`videostyle.settings`; the command line reads its defaults from both.

Loss weights are in this project's own units: images in ``[0, 1]`` RGB and the mean
normalisations documented in :mod:`videostyle.losses` (content: mean over ``C*H*W``
activations of relu4_2; style: mean over the ``C^2`` entries of Gram matrices normalised
by ``C*H*W``; tv: mean squared neighbour difference in ``[0, 1]`` pixels (see
``DEFAULT_TV_WEIGHT`` for the reference's weight in these units); chroma: the same of
the BT.601 chroma channels, per 256 px of the longer side; temporal: mean
over ``C*H*W`` of weighted squared pixel differences in ``[0, 1]``). The defaults were
chosen on the bundled VGG-16 at 256-512 px; other networks are calibrated onto its
activation scale when they load (``videostyle.networks.feature_scales``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Optimizer = Literal["lbfgs", "adam"]
ColorSpace = Literal["yuv", "ycrcb", "luv", "lab"]

CONTENT_LAYERS: tuple[str, ...] = ("relu4_2",)
STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

#: Default style and total-variation weights (content weight 1), chosen on the bundled
#: VGG-16. Other networks are calibrated onto its activation scale when they load
#: (``videostyle.networks.feature_scales``), so the same defaults serve them.
DEFAULT_STYLE_WEIGHT = 0.85
#: Balance of the style layers (``EngineSettings.style_balance``). At 0.5 the deep layers
#: join in, and at equal style distance the result keeps more of the photo (docs/look.md).
DEFAULT_STYLE_BALANCE = 0.5

#: Total variation. The reference (Johnson's neural-style, used by Ruder et al.) weights it
#: 1e-3 on 0-255 Caffe pixels, summed over the image, against content weight 5 on Caffe
#: VGG-19 features: with its gradient (half the summed squared differences) that is
#: 0.5e-3 * 255^2 * 3 * H * W / (5 / 0.2768^2) = 1.49 * H * W in this project's units
#: (mean TV, [0, 1] pixels, VGG-16 content), 7.3e4 at 256x192. The term here stays a mean,
#: so one weight gives the same balance at every size; 2e4 removes the per-pixel colour
#: speckle of L-BFGS (chroma neighbour difference 3.2 -> ~1.2 times the painting's at
#: 256 px, docs/look.md) at a small cost in style, where 100 (the former default)
#: weighted the term at 1e-4 of the objective and did nothing.
DEFAULT_TV_WEIGHT = 2e4
#: Total variation of the chroma channels alone (Cr, Cb; same units as tv), on top of tv:
#: smooths the colour noise that reads as speckle, most visible with paintings of smooth
#: colour (Matisse: chroma neighbour difference 2.8 -> 1.3 times the painting's at 256 px;
#: the Scream 1.55 at 2e5, 1.4 at 3e5), while the luminance keeps its brush texture
#: (docs/look.md). Above 256 px the term grows with the square of the longer side
#: (:func:`videostyle.losses.chroma_size_factor`: 1.66 -> 1.23 on Matisse at 512 px).
DEFAULT_CHROMA_WEIGHT = 3e5

#: Padding of the loss network's convolutions: replicate in the first one, so the frame's
#: border is no edge to the network (zero padding draws streaks along the bottom and left
#: rows), zeros deeper (replicate there too costs ~10 % of the style match).
DEFAULT_PADDING: Literal["zeros", "replicate", "replicate-first"] = "replicate-first"

#: Coarse-to-fine: longest side of a still's (or a first frame's) first scale, each next
#: scale sqrt(2) larger up to the output size; None: one scale at the output size.
DEFAULT_START_SIZE: int | None = 128


#: ``torch.compile``'s modes, and ``off`` (eager).
CompileMode = Literal["off", "default", "reduce-overhead", "max-autotune"]


@dataclass(frozen=True)
class LossWeights:
    """Weights of the terms of the objective (see the module docstring for units)."""

    content: float = 1.0
    style: float = DEFAULT_STYLE_WEIGHT
    tv: float = DEFAULT_TV_WEIGHT
    chroma: float = DEFAULT_CHROMA_WEIGHT
    temporal: float = 0.0


@dataclass(frozen=True)
class OptimizerSettings:
    """How one image is optimised.

    ``tolerance``: stop early when the total loss fell by less than this fraction over the
    last ``tolerance_window`` iterations (0 disables). ``iterations`` counts optimiser
    iterations, not loss evaluations.
    """

    optimizer: Optimizer = "lbfgs"
    iterations: int = 500
    # The reference implementation's defaults (-tol_loss_relative 1e-4 over an interval of
    # 50): a looser rule stops warm-started video frames after a few dozen iterations.
    tolerance: float = 1e-4
    tolerance_window: int = 50
    lbfgs_history: int = 100
    #: the stored pairs' arithmetic: bf16 halves their memory and the bytes an iteration
    #: reads; the products with them stay float32.
    lbfgs_precision: Literal["float32", "bf16"] = "float32"
    adam_lr: float = 0.02
    #: Adam only: decay of a bias-corrected exponential moving average of the iterates,
    #: which becomes the result (0: the last iterate). Averaging removes the iterate noise
    #: of a fixed-step optimiser.
    average: float = 0.0
    max_recoveries: int = 3


@dataclass(frozen=True)
class EngineSettings:
    """Everything that shapes the optimisation of one still image."""

    network: str = "vgg16"
    pooling: Literal["max", "avg"] = "max"
    padding: Literal["zeros", "replicate", "replicate-first"] = DEFAULT_PADDING
    content_layers: tuple[str, ...] = CONTENT_LAYERS
    style_layers: tuple[str, ...] = STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None  # None: equal, summing to 1
    #: how much the style layers with small Gram entries (the deep ones: large strokes)
    #: gain: each layer's weight times ``(m_max / m_l) ** style_balance`` with ``m_l`` the
    #: mean squared entry of its target Gram matrix (:mod:`videostyle.losses`); 0: the
    #: plain sum, where relu3_1 outweighs relu5_1 ~10^4 to 1; 1: relative errors
    style_balance: float = DEFAULT_STYLE_BALANCE
    #: weight of the style's channel means next to its Gram matrices (0: Gram only)
    style_mean_weight: float = 0.0
    #: the loss network's convolutions: ``auto`` (bfloat16 autocast on CUDA, float32
    #: elsewhere), ``float32`` or ``bf16``; Gram matrices, losses and the image are float32
    precision: Literal["auto", "float32", "bf16"] = "auto"
    #: the objective's forward and backward through ``torch.compile``: ``off`` (eager) or
    #: one of its modes (``reduce-overhead`` replays them as CUDA graphs on a GPU); each
    #: frame size and set of terms compiles once, at its first evaluation (a render's first
    #: frame runs its smaller coarse-to-fine scales eager: no later frame reuses them)
    compile: CompileMode = "off"
    weights: LossWeights = field(default_factory=LossWeights)
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    seed: int = 0

    def layer_weights(self) -> dict[str, float]:
        """Per-style-layer weights, normalised to sum 1."""
        raw = self.style_layer_weights or tuple(1.0 for _ in self.style_layers)
        total = float(sum(raw))
        return {name: w / total for name, w in zip(self.style_layers, raw, strict=True)}


DEFAULT_SIZE = 512

#: Temporal weight relative to content weight 1 (see docs/temporal.md for the derivation).
#: Ruder et al.'s reference uses content weight 5 and temporal weight 1000, its temporal
#: loss on Caffe pixels (image x 256) and its content loss on the Caffe VGG-19's relu4_2.
#: Per unit of content weight that is 200 * 256**2 on [0, 1] pixels against VGG-19
#: features; on the bundled VGG-16, whose relu4_2 activations are smaller, the content
#: loss shrinks by the square of the factor that calibrates VGG-19 onto VGG-16
#: (:func:`videostyle.networks.feature_scales` for the Caffe VGG-19 weights at relu4_2,
#: measured 0.2768), and the temporal weight with it. With ``--network vgg19`` (the
#: reference's network, calibrated by the same factor) the ratio is the reference's exactly.
REFERENCE_CONTENT_WEIGHT = 5.0
REFERENCE_TEMPORAL_WEIGHT = 1000.0
REFERENCE_PIXEL_SCALE = 256.0
REFERENCE_RELU4_2_SCALE = 0.2768
DEFAULT_TEMPORAL_WEIGHT = (
    REFERENCE_TEMPORAL_WEIGHT / REFERENCE_CONTENT_WEIGHT
    * REFERENCE_PIXEL_SCALE**2 * REFERENCE_RELU4_2_SCALE**2
)

#: The reference's multi-pass script uses temporal weight 500 (content 5): half as strong.
MULTIPASS_TEMPORAL_WEIGHT = DEFAULT_TEMPORAL_WEIGHT / 2

INIT_LATER: tuple[str, ...] = ("prev-warped", "prev", "content", "random")


@dataclass(frozen=True)
class Preset:
    """A quality preset: each value is the default of the matching ``render`` option."""

    size: int | None
    iterations: tuple[int, int]  # (first frame, later frames)
    long_term: tuple[int, ...]
    flow: str
    passes: int = 1


PRESETS: dict[str, Preset] = {
    # A preview on a laptop CPU: small, few iterations, short-term consistency only.
    "draft": Preset(size=192, iterations=(50, 12), long_term=(1,), flow="dis"),
    # A good render on a GPU, at the source's (the plate's) resolution. A later frame starts
    # from the previous one warped: 75 iterations keep its losses within 1 % of 150's over a
    # long shot (docs/performance.md, "A long shot with fewer later iterations").
    "standard": Preset(size=None, iterations=(400, 75), long_term=(1, 10, 20), flow="dis"),
    # The paper's budget (Ruder et al.: 2000 / 1000 iterations, J = {1, 10, 20, 40}).
    "final": Preset(size=None, iterations=(2000, 1000), long_term=(1, 10, 20, 40), flow="dis"),
}
DEFAULT_PRESET = "standard"

#: The largest frame side a render or a still is painted at, in pixels (the output's
#: longer side, after ``--size``): the loss network's activations of a larger frame do not
#: fit a single GPU's memory and an L-BFGS step there takes minutes. A larger source is
#: refused up front unless ``--size`` (or a preset's size) scales it down. The smallest
#: side is the loss network's (:func:`videostyle.networks.min_frame_side`).
MAX_FRAME_SIDE = 8192
