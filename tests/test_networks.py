"""Loss networks: the bundled VGG-16 against onnxruntime on its own ONNX file, the
converted-weights cache, VGG-19 from a weights file, and the network interface."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from videostyle import networks
from videostyle.errors import InputError, WeightsError
from videostyle.networks import LossNetwork, layer_names, load_network, resolve_device
from videostyle.video import read_image

ONNX_RELU3_1 = "functional_1/block3_conv1_1/Relu:0"
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68])
VGG19_SHA256 = "af7c61a808dd6f074d190c75ff7976459d67af68e18f9f18f5465ead06ac86e4"


def _pools(net: LossNetwork) -> list[nn.Module]:
    return [m for m in net.features if isinstance(m, nn.MaxPool2d | nn.AvgPool2d)]


# --------------------------------------------------------------------------------------
# names and layout
# --------------------------------------------------------------------------------------


def test_layer_names_follow_torchvision_layout() -> None:
    vgg16 = layer_names("vgg16")
    assert len(vgg16) == 31  # 13 conv + 13 relu + 5 pool
    assert vgg16[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert vgg16.index("conv2_1") == 5
    assert vgg16.index("relu4_2") == 20
    assert vgg16[-1] == "pool5" and vgg16[-2] == "relu5_3"
    vgg19 = layer_names("vgg19")
    assert len(vgg19) == 37  # 16 conv + 16 relu + 5 pool
    assert vgg19[-2] == "relu5_4"
    assert vgg19.index("relu4_1") == 20


# --------------------------------------------------------------------------------------
# bundled VGG-16
# --------------------------------------------------------------------------------------


def test_vgg16_layer_shapes(vgg16: LossNetwork) -> None:
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = vgg16(image, ["relu1_1", "relu3_1", "relu4_2", "relu5_1"])
    assert set(out) == {"relu1_1", "relu3_1", "relu4_2", "relu5_1"}
    assert out["relu1_1"].shape == (1, 64, 64, 64)
    assert out["relu3_1"].shape == (1, 256, 16, 16)
    assert out["relu4_2"].shape == (1, 512, 8, 8)
    assert out["relu5_1"].shape == (1, 512, 4, 4)
    assert all((f >= 0).all() for f in out.values())
    assert vgg16.weights.network == "vgg16"
    assert vgg16.weights.sha256 == networks.sha256_file(networks.bundled_vgg16_path())
    assert not any(p.requires_grad for p in vgg16.parameters())


def test_vgg16_conv1_1_bias_is_imagenet(vgg16: LossNetwork) -> None:
    bias = vgg16.features[0].bias[:4]
    torch.testing.assert_close(
        bias, torch.tensor([0.7343, 0.0934, 0.0678, 0.8863]), atol=1e-4, rtol=0
    )


def test_caffe_preprocessing_by_hand(vgg16: LossNetwork) -> None:
    image = torch.tensor([0.2, 0.4, 0.6]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    out = vgg16.preprocess(image)[0, :, 0, 0]
    # BGR, 0-255, minus the Caffe mean: (153 - 103.939, 102 - 116.779, 51 - 123.68)
    torch.testing.assert_close(out, torch.tensor([49.061, -14.779, -72.68]))


def test_vgg16_relu3_1_matches_onnxruntime_on_the_original_file(
    vgg16: LossNetwork, shared: Path
) -> None:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    model = onnx.load(str(networks.bundled_vgg16_path()))
    model.graph.output.append(helper.make_tensor_value_info(ONNX_RELU3_1, TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    content = read_image(shared / "data" / "content" / "tubingen.jpg")
    rgb = cv2.resize(content, (240, 240), interpolation=cv2.INTER_AREA)  # (240, 240, 3)
    with torch.no_grad():
        ours = vgg16(torch.from_numpy(rgb).permute(2, 0, 1)[None], ["relu3_1"])["relu3_1"]
    ours_np = ours.numpy()  # (1, 256, 60, 60)

    def run(channels: np.ndarray) -> np.ndarray:
        caffe = (channels * 255.0 - CAFFE_MEAN_BGR).astype(np.float32)[None]  # NHWC
        (out,) = session.run([ONNX_RELU3_1], {"input": caffe})
        return out if out.shape == ours_np.shape else out.transpose(0, 3, 1, 2)

    reference = run(rgb[..., ::-1])  # Caffe order: BGR
    assert reference.shape == (1, 256, 60, 60)
    scale = np.abs(reference).max()
    assert scale > 1.0
    assert np.abs(ours_np - reference).max() / scale < 1e-5
    # The same pixels in RGB order give clearly different features, so a channel mix-up
    # in the conversion or the preprocessing would fail the comparison above.
    swapped = run(rgb)
    assert np.abs(ours_np - swapped).max() / np.abs(swapped).max() > 0.1


def test_vgg16_conversion_is_cached_and_reused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VIDEOSTYLE_CACHE", str(tmp_path))
    first = load_network("vgg16")
    cached = list(tmp_path.glob("vgg16-features-*.pth"))
    assert len(cached) == 1
    digest = networks.sha256_file(networks.bundled_vgg16_path())
    assert cached[0].name == f"vgg16-features-{digest[:16]}.pth"

    def no_conversion(path: Path) -> dict[str, torch.Tensor]:
        raise AssertionError("the cached weights should have been used")

    monkeypatch.setattr(networks, "convert_onnx_vgg16", no_conversion)
    second = load_network("vgg16")
    for (name, a), (_, b) in zip(
        first.state_dict().items(), second.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_a_cache_that_cannot_be_written_costs_only_the_cache(
    tmp_path: Path, monkeypatch, vgg16: LossNetwork
) -> None:
    """A full disk (or a read-only folder) under the weights cache: the network loads from
    the converted weights all the same, and nothing is left in the cache."""
    import videostyle.atomic
    from videostyle.errors import DiskFull

    def full(path: Path, data: bytes, *, what: str = "file") -> None:
        raise DiskFull(f"no space left in {path.parent}", folder=str(path.parent),
                       needed=len(data))

    monkeypatch.setenv("VIDEOSTYLE_CACHE", str(tmp_path))
    monkeypatch.setattr(videostyle.atomic, "write_bytes", full)
    net = load_network("vgg16")
    assert list(tmp_path.iterdir()) == []
    for (name, a), (_, b) in zip(
        net.state_dict().items(), vgg16.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_vgg16_damaged_cache_is_rebuilt(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VIDEOSTYLE_CACHE", str(tmp_path))
    digest = networks.sha256_file(networks.bundled_vgg16_path())
    cached = tmp_path / f"vgg16-features-{digest[:16]}.pth"
    cached.write_bytes(b"truncated garbage")
    net = load_network("vgg16")
    torch.testing.assert_close(
        net.features[0].bias[:4], torch.tensor([0.7343, 0.0934, 0.0678, 0.8863]), atol=1e-4, rtol=0
    )
    state = torch.load(cached, map_location="cpu", weights_only=True)  # rewritten, readable
    assert torch.equal(state["0.bias"], net.features[0].bias)


def test_only_as_deep_as_needed(vgg16: LossNetwork) -> None:
    fired: list[str] = []
    handles = [
        vgg16.features[5].register_forward_hook(lambda *_: fired.append("conv2_1")),
        vgg16.features[2].register_forward_hook(lambda *_: fired.append("conv1_2")),
    ]
    try:
        with torch.no_grad():
            out = vgg16(torch.rand(1, 3, 32, 32), ["relu1_1"])
        assert list(out) == ["relu1_1"]
        assert fired == []
        with torch.no_grad():
            vgg16(torch.rand(1, 3, 32, 32), ["relu1_1", "relu2_1"])
        assert fired == ["conv1_2", "conv2_1"]
    finally:
        for handle in handles:
            handle.remove()


def test_conv_layers_are_returned_before_relu(vgg16: LossNetwork) -> None:
    with torch.no_grad():
        out = vgg16(torch.rand(1, 3, 16, 16), ["conv1_1", "relu1_1"])
    assert (out["conv1_1"] < 0).any()
    torch.testing.assert_close(out["relu1_1"], out["conv1_1"].clamp_min(0))


def test_avg_pooling_swaps_the_pools(vgg16: LossNetwork, vgg16_cache: Path, monkeypatch) -> None:
    monkeypatch.setenv("VIDEOSTYLE_CACHE", str(vgg16_cache))
    avg = load_network("vgg16", pooling="avg")
    assert avg.pooling == "avg"
    assert len(_pools(avg)) == 5 and all(isinstance(m, nn.AvgPool2d) for m in _pools(avg))
    assert all(isinstance(m, nn.MaxPool2d) for m in _pools(vgg16))
    assert [i for i, m in enumerate(avg.features) if isinstance(m, nn.AvgPool2d)] == [
        4, 9, 16, 23, 30
    ]
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = avg(image, ["relu1_2", "pool1", "relu2_1"])
        m = vgg16(image, ["relu1_2", "pool1", "relu2_1"])
    torch.testing.assert_close(a["relu1_2"], m["relu1_2"])  # same weights before the pool
    torch.testing.assert_close(a["pool1"], torch.nn.functional.avg_pool2d(a["relu1_2"], 2))
    assert not torch.allclose(a["relu2_1"], m["relu2_1"])


def test_unknown_layer_and_bad_input_are_input_errors(vgg16: LossNetwork) -> None:
    with pytest.raises(InputError, match="relu9_9"):
        vgg16(torch.rand(1, 3, 16, 16), ["relu9_9"])
    with pytest.raises(InputError):
        vgg16(torch.rand(3, 16, 16), ["relu1_1"])  # no batch axis


def test_load_network_rejects_bad_names() -> None:
    with pytest.raises(InputError):
        load_network("vgg99")
    with pytest.raises(InputError):
        load_network("vgg16", pooling="min")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="vgg19"):
        load_network("vgg16", weights=Path("anything.pth"))


# --------------------------------------------------------------------------------------
# VGG-19 from a weights file
# --------------------------------------------------------------------------------------


def test_vgg19_missing_weights_file_is_weights_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="does not exist"):
        load_network("vgg19", weights=tmp_path / "missing.pth")


def test_vgg19_garbage_weights_file_is_weights_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00\x01 this is not a checkpoint" * 50)
    with pytest.raises(WeightsError):
        load_network("vgg19", weights=garbage)


def test_vgg19_weights_of_the_wrong_shape_are_weights_error(tmp_path: Path) -> None:
    # A state_dict for vgg16().features: the same keys up to 28, but not vgg19's.
    wrong = tmp_path / "vgg16.pth"
    torch.save(networks._build_features("vgg16", "max").state_dict(), wrong)
    with pytest.raises(WeightsError, match="vgg19"):
        load_network("vgg19", weights=wrong)
    listed = tmp_path / "list.pth"
    torch.save([1, 2, 3], listed)
    with pytest.raises(WeightsError):
        load_network("vgg19", weights=listed)


def test_vgg19_weights_from_environment_variable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VIDEOSTYLE_WEIGHTS", str(tmp_path / "from-env.pth"))
    with pytest.raises(WeightsError, match="from-env.pth"):
        load_network("vgg19")


@pytest.fixture(scope="module")
def vgg19(vgg19_weights: Path, vgg16_cache: Path) -> LossNetwork:
    """VGG-19 from ../shared/weights (calibrated against the cached bundled VGG-16)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDEOSTYLE_CACHE", str(vgg16_cache))
        return load_network("vgg19", weights=vgg19_weights)


@pytest.mark.slow
def test_vgg19_from_shared_weights_file(
    vgg19: LossNetwork, vgg19_weights: Path, vgg16: LossNetwork
) -> None:
    net = vgg19
    assert net.weights.network == "vgg19"
    assert net.weights.sha256 == VGG19_SHA256
    assert net.weights.sha256 == hashlib.sha256(vgg19_weights.read_bytes()).hexdigest()
    assert net.weights.source == str(vgg19_weights)
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = net(image, ["relu1_1", "relu3_1", "relu4_2", "relu5_4"])
    assert out["relu1_1"].shape == (1, 64, 64, 64)
    assert out["relu3_1"].shape == (1, 256, 16, 16)
    assert out["relu4_2"].shape == (1, 512, 8, 8)
    assert out["relu5_4"].shape == (1, 512, 4, 4)

    # Up to the per-layer calibration factor, the same numbers as torchvision's own
    # vgg19().features on ImageNet-normalised input.
    from torchvision.models import vgg19

    reference = vgg19().features[:4].eval()  # conv1_1 relu conv1_2 relu
    state = torch.load(vgg19_weights, map_location="cpu", weights_only=True)
    reference.load_state_dict({k: v for k, v in state.items() if int(k.split(".")[0]) < 4})
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference((image - mean) / std)
        ours = net(image, ["relu1_2"])["relu1_2"]
    factor = net.scales.get("relu1_2", 1.0)
    assert factor > 0
    torch.testing.assert_close(ours / factor, expected, rtol=1e-4, atol=3e-4)

    # The calibration puts its activations on the bundled VGG-16's scale.
    calibration = networks.calibration_image()
    with torch.no_grad():
        a = net(calibration, ["relu2_1", "relu4_1"])
        b = vgg16(calibration, ["relu2_1", "relu4_1"])
    for name in ("relu2_1", "relu4_1"):
        rms_a, rms_b = a[name].pow(2).mean().sqrt(), b[name].pow(2).mean().sqrt()
        assert float(rms_a / rms_b) == pytest.approx(1.0, rel=1e-3), name


def test_pool_output_is_the_pooled_relu(vgg16: LossNetwork) -> None:
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = vgg16(image, ["relu1_2", "pool1", "relu2_2", "pool2"])
    torch.testing.assert_close(out["pool1"], torch.nn.functional.max_pool2d(out["relu1_2"], 2))
    torch.testing.assert_close(out["pool2"], torch.nn.functional.max_pool2d(out["relu2_2"], 2))


def test_calibrated_vgg19_pool_output_is_the_pooled_relu(vgg19: LossNetwork) -> None:
    assert vgg19.scales, "vgg19 is calibrated"
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = vgg19(image, ["relu1_2", "pool1"])
    torch.testing.assert_close(out["pool1"], torch.nn.functional.max_pool2d(out["relu1_2"], 2))


@pytest.mark.slow
def test_vgg19_accepts_a_whole_model_state_dict(
    tmp_path: Path, vgg19_weights: Path, vgg16_cache: Path, monkeypatch
) -> None:
    monkeypatch.setenv("VIDEOSTYLE_CACHE", str(vgg16_cache))
    state = torch.load(vgg19_weights, map_location="cpu", weights_only=True)
    whole = tmp_path / "whole.pth"
    torch.save({f"features.{k}": v for k, v in state.items()}, whole)
    net = load_network("vgg19", weights=whole)
    assert torch.equal(net.features[0].weight, state["0.weight"])


# --------------------------------------------------------------------------------------
# devices
# --------------------------------------------------------------------------------------


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(InputError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="cuda"):
            resolve_device("cuda")


@pytest.mark.parametrize(
    ("padding", "modes"),
    [("zeros", {"zeros"}), ("replicate", {"replicate"}), ("replicate-first", None)],
)
def test_padding_modes(padding, modes) -> None:
    features = networks._build_features("vgg16", "max", padding)
    convs = [m for m in features if isinstance(m, nn.Conv2d)]
    if modes is None:  # replicate on the image only
        assert convs[0].padding_mode == "replicate"
        assert {c.padding_mode for c in convs[1:]} == {"zeros"}
    else:
        assert {c.padding_mode for c in convs} == modes


def test_unknown_padding_is_an_input_error() -> None:
    with pytest.raises(InputError, match="padding"):
        networks._build_features("vgg16", "max", "reflect")  # type: ignore[arg-type]
