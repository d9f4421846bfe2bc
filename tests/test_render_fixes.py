"""``videostyle render`` end to end: options reach the pixels, and what cannot work is refused
before any work (no run folder, no input touched).

Every test runs the command line (``main(argv)`` in this process, one thread) on tiny clips
or sequences it makes itself.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from clips import make_clip, make_style

from videostyle.config import PRESETS
from videostyle.flow import write_flo
from videostyle.losses import gram
from videostyle.networks import LossNetwork
from videostyle.stylize import to_tensor
from videostyle.video import read_image
from videostyle.workdir import RunFolder, default_workdir

Cli = Callable[..., tuple[int, str, str]]
FAST = ("--quality", "draft", "--size", "32", "--iterations", "3,2")


# ---- inputs ------------------------------------------------------------------------------


def write_png(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.rint(np.clip(rgb, 0, 1)[..., ::-1] * 255).astype(np.uint8))
    return path


def texture(h: int, w: int, seed: int, shift: int = 0) -> np.ndarray:
    """A smooth random texture, shifted right by ``shift`` pixels (known motion)."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((h, w + 16, 3)).astype(np.float32), (0, 0), 2.0)
    base = (base - base.min()) / (base.max() - base.min())
    return np.ascontiguousarray(base[:, 16 - shift: 16 - shift + w])


def sequence(folder: Path, n: int, first: int = 1, name: str = "plate.%04d.png",
             size: tuple[int, int] = (48, 32)) -> Path:
    for k in range(n):
        write_png(folder / (name % (first + k)), texture(size[1], size[0], 0, shift=k))
    return folder / name


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stripes(path: Path, colour: tuple[float, float, float], period: int) -> Path:
    """A style image: stripes of ``colour`` and white."""
    y, x = np.mgrid[0:64, 0:64]
    on = ((x + y) // period) % 2 == 0
    rgb = np.where(on[..., None], np.array(colour, np.float32), np.ones(3, np.float32))
    return write_png(path, rgb)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fixes-media")


@pytest.fixture(scope="module")
def clip(media: Path) -> Path:
    return make_clip(media / "clip.mp4", n_frames=6, size=(48, 36))


@pytest.fixture(scope="module")
def style(media: Path) -> Path:
    return make_style(media / "style.png")


def refused(cli: Cli, *args: str | Path, phrase: str, workdir: Path | None = None) -> str:
    """Runs ``render``; asserts one error line with ``phrase`` and that no work started."""
    code, _, err = cli("render", *args)
    lines = [line for line in err.splitlines() if line.startswith("videostyle: error:")]
    assert code != 0 and len(lines) == 1, err
    assert phrase in lines[0], lines[0]
    if workdir is not None:
        assert not workdir.exists(), "work started before the refusal"
    return lines[0]


# ---- 1. masked styles --------------------------------------------------------------------


def half_gram_distance(net: LossNetwork, image: np.ndarray, style: np.ndarray,
                       half: str) -> float:
    """Gram distance (relu1_1..relu3_1) of one half of ``image`` to ``style``."""
    w = image.shape[1] // 2
    part = image[:, :w] if half == "left" else image[:, w:]
    layers = ("relu1_1", "relu2_1", "relu3_1")
    with torch.no_grad():
        a = net(to_tensor(part), layers)
        b = net(to_tensor(style), layers)
        return float(sum(((gram(a[n]) - gram(b[n])) ** 2).mean() for n in layers))


@pytest.mark.slow
def test_masked_styles_paint_each_half_as_the_image_command_does(
    cli: Cli, vgg16: LossNetwork, tmp_path: Path
) -> None:
    content = write_png(tmp_path / "in" / "frame.0001.png", texture(48, 64, 3) * 0.4 + 0.3)
    red = stripes(tmp_path / "red.png", (0.9, 0.1, 0.1), 4)
    blue = stripes(tmp_path / "blue.png", (0.1, 0.2, 0.9), 9)
    left = np.zeros((48, 64, 3), np.float32)
    left[:, :32] = 1.0
    mask_l, mask_r = write_png(tmp_path / "l.png", left), write_png(tmp_path / "r.png", 1 - left)
    common = ("-s", red, "-s", blue, "--style-mask", mask_l, "--style-mask", mask_r,
              "--size", "64", "--iterations", "60")
    (tmp_path / "out").mkdir()
    code, _, err = cli("image", content, "-o", tmp_path / "image.png", *common)
    assert code == 0, err
    code, _, err = cli("render", tmp_path / "in" / "frame.%04d.png", "-o",
                       tmp_path / "out" / "o.%04d.png", *common, "--quality", "draft")
    assert code == 0, err
    rendered = read_image(tmp_path / "out" / "o.0001.png")
    still = read_image(tmp_path / "image.png")
    photo = read_image(content)
    for half, painting in (("left", read_image(red)), ("right", read_image(blue))):
        before = half_gram_distance(vgg16, photo, painting, half)
        ratio_render = half_gram_distance(vgg16, rendered, painting, half) / before
        ratio_image = half_gram_distance(vgg16, still, painting, half) / before
        assert ratio_render < 0.5, (half, ratio_render)  # moved toward its own style
        assert abs(ratio_render - ratio_image) < 0.15, (half, ratio_render, ratio_image)


@pytest.mark.slow
def test_mask_sequence_follows_the_frame_numbers(cli: Cli, tmp_path: Path) -> None:
    """Frame 1001's mask puts red left, frame 1002's puts it right."""
    source = sequence(tmp_path / "in", 2, first=1001, size=(64, 48))
    red = stripes(tmp_path / "red.png", (0.9, 0.1, 0.1), 4)
    blue = stripes(tmp_path / "blue.png", (0.1, 0.2, 0.9), 4)
    left = np.zeros((48, 64, 3), np.float32)
    left[:, :32] = 1.0
    write_png(tmp_path / "ma" / "m.1001.png", left)
    write_png(tmp_path / "ma" / "m.1002.png", 1 - left)
    write_png(tmp_path / "mb" / "m.1001.png", 1 - left)
    write_png(tmp_path / "mb" / "m.1002.png", left)
    (tmp_path / "out").mkdir()
    code, _, err = cli("render", source, "-s", red, "-s", blue,
                       "--style-mask", tmp_path / "ma" / "m.%04d.png",
                       "--style-mask", tmp_path / "mb" / "m.%04d.png",
                       "-o", tmp_path / "out" / "o.%04d.png", "--independent", "--size", "64",
                       "--iterations", "40", "--quality", "draft")
    assert code == 0, err

    def redness(image: np.ndarray) -> tuple[float, float]:
        d = image[..., 0] - image[..., 2]
        return float(d[:, :32].mean()), float(d[:, 32:].mean())

    l1, r1 = redness(read_image(tmp_path / "out" / "o.1001.png"))
    l2, r2 = redness(read_image(tmp_path / "out" / "o.1002.png"))
    assert l1 > r1 + 0.08 and r2 > l2 + 0.08, (l1, r1, l2, r2)


def test_mask_sequence_shorter_than_the_clip_is_refused(
    cli: Cli, clip: Path, style: Path, tmp_path: Path
) -> None:
    write_png(tmp_path / "m" / "m_0001.png", np.ones((8, 8, 3)))
    write_png(tmp_path / "m" / "m_0002.png", np.ones((8, 8, 3)))
    out = tmp_path / "o.mp4"
    refused(cli, clip, "-s", style, "--style-mask", tmp_path / "m" / "m_%04d.png", "-o", out,
            *FAST, phrase="frame 6 has no mask", workdir=default_workdir(out))


# ---- 2. the output is never an input -----------------------------------------------------


def test_output_that_is_an_input_is_refused(
    cli: Cli, clip: Path, style: Path, tmp_path: Path
) -> None:
    source = tmp_path / "a.mp4"
    source.write_bytes(clip.read_bytes())
    (tmp_path / "link.mp4").symlink_to(source)
    frames = tmp_path / "frames"
    sequence(frames, 3, name="f_%04d.png")
    flows = tmp_path / "flows"
    flows.mkdir()
    before = {p: digest(p) for p in (source, style, *frames.iterdir())}
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        cases = [
            (source, source, "is the input"),
            (Path("./a.mp4"), Path("a.mp4"), "is the input"),
            (Path("link.mp4"), source, "is the input"),
            (source, tmp_path / "link.mp4", "is the input"),
        ]
        for src, out, phrase in cases:
            refused(cli, src, "-s", style, "-o", out, *FAST, phrase=phrase,
                    workdir=default_workdir(out))
        refused(cli, frames, "-s", style, "-o", frames / "o_%04d.png", *FAST,
                phrase="would write into the input folder")
        refused(cli, frames / "f_%04d.png", "-s", style, "-o", frames / "f_%04d.png", *FAST,
                phrase="would overwrite files of the input")
        refused(cli, frames, "-s", style, "-o", tmp_path / "o.mp4", "--workdir", frames, *FAST,
                phrase="run folder")
    finally:
        os.chdir(cwd)
    assert {p: digest(p) for p in before} == before
    assert sorted(p.name for p in frames.iterdir()) == ["f_0001.png", "f_0002.png",
                                                       "f_0003.png"]


# ---- 3. refused before the first frame ---------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "output", "phrase"),
    [
        (("--codec", "ffv1"), "out.mp4", "ffv1 cannot be written into a .mp4"),
        (("--codec", "prores"), "out.mkv", "prores cannot be written into a .mkv"),
        (("--codec", "h264"), "out_%04d.png", "--codec has no effect"),
        (("--bit-depth", "16"), "out.mp4", "--bit-depth has no effect"),
        (("--fps", "24"), "out.mp4", "--fps has no effect on a video source"),
        (("--style-weights", "1"), "out.mp4", "--style-weights has no effect with one"),
        (("--init", "prev", "--independent"), "out.mp4", "--init has no effect"),
        (("--long-term", "1,2", "--independent"), "out.mp4", "--long-term has no effect"),
        (("--passes", "2", "--init", "prev"), "out.mp4", "--init has no effect"),
        (("--passes", "2", "--long-term", "1,2"), "out.mp4", "--long-term has no effect"),
        (("--passes", "2", "--iterations", "5,3"), "out.mp4", "give one number"),
        (("--passes", "2", "--temporal-after-pass", "3"), "out.mp4",
         "--temporal-after-pass has no effect"),
        (("--temporal-after-pass", "2",), "out.mp4", "in a single-pass render"),
        (("--blend-weight", "0.5",), "out.mp4", "in a single-pass render"),
        (("--independent", "--blend-weight", "2"), "out.mp4",
         "--blend-weight has no effect in a single-pass render"),
        (("--independent", "--temporal-after-pass", "3"), "out.mp4",
         "--temporal-after-pass has no effect in a single-pass render"),
        (("--passes", "2", "--start-size", "16"), "out.mp4",
         "--start-size has no effect with --passes"),
        (("--start-size", "32"), "out.mp4",
         "--start-size 32 has no effect at an output size of 32"),
        (("--temporal-weight", "0", "--long-term", "1,2"), "out.mp4",
         "--long-term has no effect with --temporal-weight 0 (only the previous frame"),
        (("--iterations", "3,0", "--warp", "lanczos"), "out.mp4",
         "--warp has no effect with --iterations 3,0"),
        (("--iterations", "3,0", "--temporal-weight", "100"), "out.mp4",
         "--temporal-weight has no effect with --iterations 3,0"),
        (("--chunks", "2", "--chunk-overlap", "0", "--device", "cuda:9"), "out.mp4",
         "--device cuda:9"),
        (("--temporal-weight", "0", "--init", "content", "--warp", "lanczos"), "out.mp4",
         "--warp has no effect"),
        (("--frames", "3:9"), "out.mp4", "outside the source's frames 1..6"),
        (("--first-frame-init", "missing.png"), "out.mp4", "--first-frame-init must be"),
        (("--optimizer", "adam", "--lbfgs-history", "5"), "out.mp4",
         "--lbfgs-history has no effect with --optimizer adam"),
        (("--optimizer", "adam", "--lbfgs-precision", "bf16"), "out.mp4",
         "--lbfgs-precision has no effect with --optimizer adam"),
    ],
)
def test_settings_that_cannot_work_are_refused_before_any_work(
    cli: Cli, clip: Path, style: Path, tmp_path: Path, extra: tuple[str, ...], output: str,
    phrase: str,
) -> None:
    out = tmp_path / output
    args: tuple[str, ...] = FAST
    if "--passes" in extra or "--iterations" in extra:
        args = FAST[:4] + (() if "--iterations" in extra else ("--iterations", "1"))
    refused(cli, clip, "-s", style, "-o", out, *args, *extra, phrase=phrase,
            workdir=default_workdir(out))


def test_weights_variable_leaves_the_default_network_alone(
    cli: Cli, clip: Path, style: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEOSTYLE_WEIGHTS", str(tmp_path / "vgg19.pth"))
    code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / "o.mp4", *FAST,
                       "--frames", "1:2")
    assert code == 0, err
    refused(cli, clip, "-s", style, "-o", tmp_path / "p.mp4", *FAST, "--weights",
            tmp_path / "vgg19.pth", phrase="--weights applies to --network vgg19")


# ---- 5. flow folders as makeOptFlow.sh writes them ---------------------------------------


def flow_folder(folder: Path, numbers: range, dx: float = 1.0, size: tuple[int, int] = (48, 32),
                offsets: tuple[int, ...] = (1,)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    for j in offsets:
        for a in numbers:
            b = a + j
            if b not in numbers:
                continue
            fwd = np.zeros((h, w, 2), np.float32)
            fwd[..., 0] = dx * j
            write_flo(folder / f"forward_{a}_{b}.flo", fwd)
            write_flo(folder / f"backward_{b}_{a}.flo", -fwd)
    return folder


@pytest.mark.slow
def test_flow_folder_with_adjacent_pairs_and_the_preset_offsets(
    cli: Cli, style: Path, tmp_path: Path
) -> None:
    source = sequence(tmp_path / "in", 12)
    flows = flow_folder(tmp_path / "flow", range(1, 13))
    out = tmp_path / "out.mp4"
    code, _, err = cli("render", source, "-s", style, "-o", out, "--flow", flows,
                       "--quality", "standard", "--size", "32", "--iterations", "2,1")
    assert code == 0, err
    assert "no flow files for long-term offsets 10 (first missing: backward_11_1.flo)" in err
    assert RunFolder(default_workdir(out)).read_manifest()["pixels"]["long_term"] == [1, 20]
    out2 = tmp_path / "out2.mp4"
    refused(cli, source, "-s", style, "-o", out2, "--flow", flows, "--long-term", "1,10",
            "--size", "32", "--iterations", "2,1", phrase="backward_11_1.flo",
            workdir=default_workdir(out2))


@pytest.mark.slow
def test_flow_folder_of_a_sequence_numbered_from_1001(
    cli: Cli, style: Path, tmp_path: Path
) -> None:
    source = sequence(tmp_path / "in", 3, first=1001)
    flows = flow_folder(tmp_path / "flow", range(1001, 1004))
    code, _, err = cli("render", source, "-s", style, "-o", tmp_path / "o.%04d.png",
                       "--flow", flows, *FAST)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.glob("o.*.png")) == [
        "o.1001.png", "o.1002.png", "o.1003.png"
    ]


# ---- 6. options that used to be ignored --------------------------------------------------


@pytest.mark.parametrize("quality", ["draft", "standard", "final"])
def test_a_plain_render_of_each_preset_drops_nothing(clip: Path, style: Path, tmp_path: Path,
                                                     quality: str) -> None:
    from videostyle.settings import resolve_render

    resolved = resolve_render(clip, (style,), tmp_path / "o.mp4", quality=quality, given={})
    assert resolved.notes == ()
    assert resolved.settings.long_term == PRESETS[quality].long_term


@pytest.mark.parametrize(("iterations", "quality", "dropped"), [
    ("3,0", "standard", ("the default --init prev-warped, the standard preset's --long-term "
                         "1,10,20")),
    ("0", "final", ("the default --init prev-warped, the final preset's --long-term "
                    "1,10,20,40")),
    ("3,0", "draft", "the default --init prev-warped"),
])
def test_passed_through_later_frames_resolve_without_init_or_offsets(
    clip: Path, style: Path, tmp_path: Path, iterations: str, quality: str, dropped: str
) -> None:
    from videostyle.errors import as_flags
    from videostyle.settings import resolve_render

    resolved = resolve_render(clip, (style,), tmp_path / "o.mp4", quality=quality,
                              given={"iterations": iterations})
    assert [as_flags(n) for n in resolved.notes] == [f"not used in this render: {dropped}"]
    s = resolved.settings
    assert (s.init, s.long_term, s.uses_flow()) == ("content", (1,), False)


@pytest.mark.slow
def test_values_that_do_not_apply_are_dropped_with_a_note(cli: Cli, clip: Path, style: Path,
                                                         tmp_path: Path) -> None:
    """With --temporal-weight 0 only the previous frame is warped (as the start), so the
    standard preset's long-term offsets are dropped; under --passes the draft preset's
    later-frame iterations, the default --start-size and the temporal loss that the default
    --temporal-after-pass puts after the last pass are. Each with a note."""
    out = tmp_path / "tw0.mp4"
    code, _, err = cli("render", clip, "-s", style, "-o", out, "--quality", "standard",
                       "--size", "32", "--iterations", "2,1", "--frames", "1:3",
                       "--temporal-weight", "0")
    assert code == 0, err
    assert "not used in this render: the standard preset's --long-term 1,10,20" in err
    # no scale below 32x24 has both sides of 32 px: the default start size plans one scale
    assert "not used at 32x24: the default --start-size 128 (no coarser scale fits; one " \
           "scale)" in err
    manifest_path = default_workdir(out) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["pixels"]["long_term"] == [1]
    # a run folder written before the offsets were dropped resumes: they never reached it
    manifest["pixels"]["long_term"] = [1, 10, 20]
    manifest_path.write_text(json.dumps(manifest))
    frames = {p: p.read_bytes() for p in (default_workdir(out) / "frames").glob("*.png")}
    code, _, err = cli("render", clip, "-s", style, "-o", out, "--quality", "standard",
                       "--size", "32", "--iterations", "2,1", "--frames", "1:3",
                       "--temporal-weight", "0")
    assert code == 0, err
    assert len(frames) == 3 and all(p.read_bytes() == b for p, b in frames.items())
    assert json.loads(manifest_path.read_text())["pixels"]["long_term"] == [1, 10, 20]
    code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / "mp.mp4", "--quality",
                       "draft", "--size", "32", "--frames", "1:2", "--passes", "2")
    assert code == 0, err
    note = next(line for line in err.splitlines() if "not used in this render" in line)
    assert "the draft preset's later-frame --iterations 12 (every pass and frame runs 50)" in note
    assert "the default --start-size 128" in note
    assert "the temporal loss (the default --temporal-after-pass 8 comes after the last pass, " \
           "2)" in note


def test_the_former_default_warp_resumes_where_it_never_reached_the_frames(
    cli: Cli, clip: Path, style: Path, tmp_path: Path
) -> None:
    """The default warp became bicubic. A folder that recorded bilinear resumes where no
    warp reached its frames (later frames passed through, or an independent render), and
    is refused where one did."""
    cases = (("pass.mp4", ("--iterations", "2,0")), ("ind.mp4", ("--independent",)),
             ("chain.mp4", ()))
    for name, extra in cases:
        out = tmp_path / name
        args = ("render", clip, "-s", style, "-o", out, "--quality", "draft", "--size", "32",
                "--frames", "1:2", *extra)
        code, _, err = cli(*args)
        assert code == 0, err
        manifest_path = default_workdir(out) / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        assert manifest["pixels"]["warp"] == "bicubic"
        manifest["pixels"]["warp"] = "bilinear"  # as the former default recorded it
        manifest_path.write_text(json.dumps(manifest))
        code, out_text, err = cli(*args)
        if name == "chain.mp4":
            assert code != 0 and "warp differ" in err, err
            continue
        assert code == 0 and "0 computed now" in out_text, err


def test_a_folder_that_recorded_an_unused_seed_and_tolerance_resumes(
    cli: Cli, clip: Path, style: Path, tmp_path: Path
) -> None:
    """Older versions took --seed with no start from noise and --tolerance with no frame
    long enough for it, and recorded them: neither reached the frames, so such a folder
    resumes by the command without them (now the only one accepted), byte for byte."""
    out = tmp_path / "o.mp4"
    args = ("render", clip, "-s", style, "-o", out, "--quality", "draft", "--size", "32",
            "--iterations", "2,1", "--frames", "1:3")
    code, _, err = cli(*args)
    assert code == 0, err
    run = RunFolder(default_workdir(out))
    manifest = json.loads(run.manifest_path.read_text())
    manifest["pixels"]["engine"]["seed"] = 5
    manifest["pixels"]["engine"]["optimizer"]["tolerance"] = 0.01
    run.manifest_path.write_text(json.dumps(manifest))
    frames = {p: p.read_bytes() for p in run.frames_dir.glob("*.png")}
    run.record_path(3).unlink()  # one frame to compute again
    code, text, err = cli(*args)
    assert code == 0, err
    assert "1 computed now" in text
    assert len(frames) == 3 and all(p.read_bytes() == b for p, b in frames.items())
    engine = json.loads(run.manifest_path.read_text())["pixels"]["engine"]
    assert (engine["seed"], engine["optimizer"]["tolerance"]) == (5, 0.01)
    # a seed that reached the frames (a start from noise) is compared as before
    noisy = tmp_path / "n.mp4"
    code, _, err = cli("render", clip, "-s", style, "-o", noisy, "--quality", "draft", "--size",
                       "32", "--iterations", "2,1", "--frames", "1:2", "--first-frame-init",
                       "random", "--seed", "5")
    assert code == 0, err
    code, _, err = cli("render", clip, "-s", style, "-o", noisy, "--quality", "draft", "--size",
                       "32", "--iterations", "2,1", "--frames", "1:2", "--first-frame-init",
                       "random", "--seed", "6")
    assert code == 6 and "engine differ" in err, err


def test_a_tolerance_is_refused_where_no_frame_runs_long_enough_to_use_it(
    cli: Cli, clip: Path, style: Path, tmp_path: Path
) -> None:
    """The early stop compares the loss with the one 50 iterations before: typed where no
    frame runs more than 50 (the draft preset's 50 and 12), it is refused before work."""
    out = tmp_path / "o.mp4"
    why = ("--tolerance has no effect when no frame runs more than 50 iterations (it "
           "compares the loss with the one 50 iterations before); leave it out")
    code, _, err = cli("render", clip, "-s", style, "-o", out, "--quality", "draft",
                       "--tolerance", "1e-3")
    assert code == 2 and err.strip() == f"videostyle: error: {why}", err
    code, _, err = cli("image", style, "-s", style, "-o", tmp_path / "o.png", "--iterations",
                       "7", "--tolerance", "0")
    assert code == 2 and err.strip() == f"videostyle: error: {why}", err
    assert not default_workdir(out).exists() and not (tmp_path / "o.png").exists()


def test_status_of_a_multipass_render_counts_its_passes(
    cli: Cli, clip: Path, style: Path, tmp_path: Path
) -> None:
    """A multi-pass render writes its frames after the last pass: until then ``status``
    counts the frame passes stored, with an ETA from their seconds."""
    out = tmp_path / "mp.mp4"
    code, _, err = cli("render", clip, "-s", style, "-o", out, "--size", "32", "--passes", "2",
                       "--iterations", "2", "--frames", "1:3", "-q")
    assert code == 0, err
    run = RunFolder(default_workdir(out))
    for frame in (1, 2, 3):  # as if stopped in pass 2 after its first frame (3, going back)
        run.frame_path(frame).unlink()
        run.record_path(frame).unlink()
    for frame in (1, 2):
        run.pass_path(2, frame).with_suffix(".json").unlink()
    code, text, err = cli("status", out)
    assert code == 0, err
    assert "frames 1..3: 0 done, 3 left" in text
    line = next(x for x in text.splitlines() if x.startswith("multi-pass: "))
    assert line.startswith("multi-pass: 4/6 frame passes done (the frames come after the "
                           "last pass); ETA ")


def test_a_seed_is_refused_where_no_frame_starts_from_noise(
    cli: Cli, clip: Path, style: Path, tmp_path: Path
) -> None:
    """--seed seeds only noise: typed where every frame starts from an image it is refused
    before any work; with a start from noise it is accepted (and changes the frames)."""
    out = tmp_path / "o.mp4"
    for extra in ((), ("--independent",), ("--init", "prev")):
        code, _, err = cli("render", clip, "-s", style, "-o", out, "--seed", "3", *extra)
        assert code == 2, err
        assert err.strip() == ("videostyle: error: --seed has no effect unless a frame starts "
                               "from noise (--first-frame-init random or --init random); "
                               "leave it out")
    code, _, err = cli("image", style, "-s", style, "-o", tmp_path / "o.png", "--seed", "3")
    assert code == 2 and "--seed has no effect unless the image starts from noise (--init " \
        "random)" in err
    assert not out.exists() and not default_workdir(out).exists()
    images = []
    for seed in ("3", "4"):
        png = tmp_path / f"seed{seed}.png"
        code, _, err = cli("image", style, "-s", style, "-o", png, "--init", "random", "--seed",
                           seed, "--size", "24", "--iterations", "2", "--start-size", "0", "-q")
        assert code == 0, err
        images.append(read_image(png))
    assert np.abs(images[0] - images[1]).mean() > 0.01
    mask = os.umask(0)
    os.umask(mask)
    assert png.stat().st_mode & 0o777 == 0o666 & ~mask  # readable as any new file is


@pytest.mark.slow
def test_passed_through_later_frames_drop_their_init_and_offsets_with_a_note(
    cli: Cli, clip: Path, style: Path, tmp_path: Path
) -> None:
    """With --iterations N,0 a later frame is its content frame, so the default --init and
    the standard preset's long-term offsets are dropped, each named in the note; a run
    folder that recorded them before they were dropped resumes."""
    out = tmp_path / "through.mp4"
    args = ("-s", style, "-o", out, "--quality", "standard", "--size", "32", "--iterations",
            "2,0", "--frames", "1:3")
    code, _, err = cli("render", clip, *args)
    assert code == 0, err
    assert "not used in this render: the default --init prev-warped, the standard preset's " \
           "--long-term 1,10,20" in err
    run = RunFolder(default_workdir(out))
    manifest = json.loads(run.manifest_path.read_text())
    assert (manifest["pixels"]["init"], manifest["pixels"]["long_term"]) == ("content", [1])
    for frame in (2, 3):  # passed through: the content frame, not a warped stylised one
        assert np.abs(read_image(run.frame_path(frame)) -
                      read_image(run.content_path(frame))).max() < 1e-3
    assert np.abs(read_image(run.frame_path(1)) - read_image(run.content_path(1))).max() > 0.05
    manifest["pixels"]["init"], manifest["pixels"]["long_term"] = "prev-warped", [1, 10, 20]
    run.manifest_path.write_text(json.dumps(manifest))
    frames = {p: p.read_bytes() for p in run.frames_dir.glob("*.png")}
    code, text, err = cli("render", clip, *args)
    assert code == 0, err
    assert "0 computed now" in text
    assert len(frames) == 3 and all(p.read_bytes() == b for p, b in frames.items())
    pixels = json.loads(run.manifest_path.read_text())["pixels"]
    assert (pixels["init"], pixels["long_term"]) == ("prev-warped", [1, 10, 20])


@pytest.mark.slow
def test_independent_honours_first_frame_init(cli: Cli, clip: Path, style: Path,
                                              tmp_path: Path) -> None:
    def frames(name: str, *extra: str) -> tuple[list[bytes], str]:
        code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / name, "--independent",
                           "--frames", "1:2", *FAST, *extra)
        assert code == 0, err
        folder = default_workdir(tmp_path / name) / "frames"
        return [p.read_bytes() for p in sorted(folder.glob("*.png"))], err

    content, err = frames("a.mp4")
    assert "not used in this render: the default --init prev-warped" in err
    noise, _ = frames("b.mp4", "--first-frame-init", "random")
    assert len(content) == len(noise) == 2
    assert all(a != b for a, b in zip(content, noise, strict=True))


@pytest.mark.slow
def test_multipass_honours_first_frame_init(cli: Cli, clip: Path, style: Path,
                                            tmp_path: Path) -> None:
    def pass1(name: str, *extra: str) -> np.ndarray:
        code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / name, "--passes", "2",
                           "--frames", "1:2", "--quality", "draft", "--size", "32",
                           "--iterations", "1", *extra)
        assert code == 0, err
        assert "--long-term" not in err  # the draft preset's offsets are (1,): no note
        return read_image(default_workdir(tmp_path / name) / "passes" / "pass001" /
                          "000001.png")

    from_noise = pass1("n.mp4")
    from_content = pass1("c.mp4", "--first-frame-init", "content")
    content = read_image(default_workdir(tmp_path / "c.mp4") / "content" / "000001.png")
    assert np.abs(from_content - content).mean() < np.abs(from_noise - content).mean() / 2


# ---- 7. extending a render ---------------------------------------------------------------


@pytest.mark.slow
def test_growing_the_range_resumes_to_the_same_frames(
    cli: Cli, clip: Path, style: Path, tmp_path: Path
) -> None:
    args = ("-s", style, "--quality", "draft", "--size", "32", "--iterations", "6,4",
            "--long-term", "1,2")
    whole = tmp_path / "whole.mp4"
    assert cli("render", clip, "-o", whole, *args)[0] == 0
    grown = tmp_path / "grown.mp4"
    code, out, err = cli("render", clip, "-o", grown, *args, "--frames", "1:4")
    assert code == 0, err
    code, out, err = cli("render", clip, "-o", grown, *args)
    assert code == 0, err
    assert "2 computed now" in out
    ref = default_workdir(whole) / "frames"
    new = default_workdir(grown) / "frames"
    for k in range(1, 7):
        assert (ref / f"{k:06d}.png").read_bytes() == (new / f"{k:06d}.png").read_bytes(), k
    code, out, err = cli("render", clip, "-o", grown, *args, "--frames", "1:3")
    assert code == 0 and "0 computed now" in out, err
    manifest = RunFolder(default_workdir(grown)).read_manifest()
    assert manifest["pixels"]["frames"] == [1, 3]
    refused(cli, clip, "-o", grown, *args, "--frames", "2:3",
            phrase="frames differ")


# ---- 8. frame numbers of sequences -------------------------------------------------------


@pytest.mark.slow
def test_sequence_numbers_address_frames_everywhere(cli: Cli, style: Path,
                                                    tmp_path: Path) -> None:
    source = sequence(tmp_path / "in", 6, first=1001)
    out = tmp_path / "out" / "o.%04d.png"
    (tmp_path / "out").mkdir()
    code, _, err = cli("render", source, "-s", style, "-o", out, *FAST, "--frames", "1002:1004")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").glob("o.*.png")) == [
        "o.1002.png", "o.1003.png", "o.1004.png"
    ]
    run = RunFolder(default_workdir(out))
    assert sorted(p.name for p in run.content_dir.glob("*.png")) == [
        "001002.png", "001003.png", "001004.png"
    ]
    records = [json.loads(p.read_text())["frame"] for p in sorted(run.frames_dir.glob("*.json"))]
    assert records == [1002, 1003, 1004]
    refused(cli, source, "-s", style, "-o", tmp_path / "x.mp4", *FAST, "--frames", "1:3",
            phrase="outside the source's frames 1001..1006")
    code, out_text, err = cli("evaluate", tmp_path / "out" / "o.%04d.png", "--source", source,
                              "--start", "1002", "--flow", "farneback", "--json")
    assert code == 0, err
    assert [f["frame"] for f in json.loads(out_text)["frames"]] == [1003, 1004]
    code, _, err = cli("flow", source, "-o", tmp_path / "flow.mp4", "--frames", "1004:1006")
    assert code == 0 and "2 frames" in _, err
    (tmp_path / "in" / "plate.1003.png").unlink()
    refused(cli, source, "-s", style, "-o", tmp_path / "y.mp4", *FAST,
            phrase="frame 1003 is missing")


# ---- 9. every check before the loss network loads ----------------------------------------


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The networks the command loads; loading one stops it (a refusal of its own)."""
    import videostyle.networks
    from videostyle.errors import InputError

    loaded: list[str] = []

    def load(name: str = "vgg16", **kw: object) -> LossNetwork:
        loaded.append(name)
        raise InputError("the stand-in stops here: the loss network loads")

    monkeypatch.setattr(videostyle.networks, "load_network", load)
    return loaded


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [
        # the preset's size (standard: the source's, 48 px) or the draft preset's 192 px
        # capped at the source's: the size a typed --start-size is checked against
        (("--start-size", "48"), "--start-size 48 has no effect at an output size of 48x36: "
         "no smaller scale has both sides of 32 px or more; give 0 for one scale"),
        (("--quality", "draft", "--start-size", "64"),
         "--start-size 64 has no effect at an output size of 48x36:"),
        (("--size", "40", "--start-size", "40"),
         "--start-size 40 has no effect at an output size of 40x30:"),
        # below the size, yet no coarser scale has both sides of 32 px or more at 48x36
        (("--start-size", "33"), "--start-size 33 has no effect at an output size of 48x36: "
         "no smaller scale has both sides of 32 px or more; give 0 for one scale"),
        # the source's size, doubled: a scale below it fits, but only from 67 px down
        (("--size", "96", "--start-size", "68"), "--start-size 68 has no effect at an output "
         "size of 96x72: coarse-to-fine needs a start size of at most the output's longer "
         "side ÷ 1.41; give 67 or less, or 0 for one scale"),
        (("--iterations", "0", "--start-size", "16"),
         "--start-size has no effect with --iterations 0 (nothing is optimised)"),
        (("--quality", "draft", "--start-size", "32"),
         "--start-size 32 has no effect at an output size of 48x36:"),
        (("--frames", "3:9"), "outside the source's frames 1..6"),
        (("--style-mask", "missing.png"), "missing.png does not exist"),
        # a chunked render's driver checks as a plain render does, and its chunks
        (("--chunks", "2", "--chunk-overlap", "1", "--start-size", "48"),
         "--start-size 48 has no effect at an output size of 48x36:"),
        (("--chunks", "2", "--chunk-overlap", "1", "--frames", "3:9"),
         "outside the source's frames 1..6"),
        (("--chunks", "4", "--chunk-overlap", "2"), "give fewer --chunks or a smaller "
         "--chunk-overlap"),
    ],
)
def test_refused_render_loads_no_network(
    cli: Cli, clip: Path, style: Path, tmp_path: Path, loads: list[str],
    extra: tuple[str, ...], phrase: str,
) -> None:
    out = tmp_path / "out.mp4"
    refused(cli, clip, "-s", style, "-o", out, *extra, phrase=phrase,
            workdir=default_workdir(out))
    assert loads == []


@pytest.mark.parametrize("extra", [(), ("--quality", "draft"),
                                   ("--chunks", "2", "--chunk-overlap", "1")])
def test_render_that_passes_every_check_loads_the_network_before_any_work(
    cli: Cli, clip: Path, style: Path, tmp_path: Path, loads: list[str],
    extra: tuple[str, ...],
) -> None:
    """The other side of the refusals (the default start size, which plans no coarser scale
    at 48x36, is not refused: its note comes with the render)."""
    out = tmp_path / "out.mp4"
    refused(cli, clip, "-s", style, "-o", out, *extra,
            phrase="the stand-in stops here: the loss network loads",
            workdir=default_workdir(out))
    assert loads == ["vgg16"]


def test_refused_render_prints_only_its_error(cli: Cli, clip: Path, style: Path,
                                              tmp_path: Path, loads: list[str]) -> None:
    """The note on the default --init that --independent drops waits for the checks."""
    code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / "o.mp4", "--independent",
                       "--frames", "3:9")
    assert code == 2 and loads == []
    assert err.splitlines() == [
        "videostyle: error: --frames 3:9 is outside the source's frames 1..6"
    ]
