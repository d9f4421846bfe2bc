"""``videostyle render`` options end to end: each option must reach the pixels.

Every test renders a tiny generated source (PNG sequences written with numpy, 48-64 px,
1-6 frames, a few iterations) through ``main(argv)`` in this process, with a private
weights cache shared with the ``vgg16`` fixture, and reads the result back from the run
folder (16-bit PNG) or from a 16-bit PNG sequence output, so no lossy codec sits between
the optimiser and the assertions.

* blended styles: the output's Gram matrices are nearer the heavier style, and swapping
  the weights flips that;
* ``--original-colors``: the output's chroma is the source frame's, its luminance is not;
* ``--flow DIR``: the reference's ``.flo`` file names are read, and the flow in them
  steers the render (wrong flow, higher temporal error);
* ``--passes``: the temporal loss starts at ``--temporal-after-pass``, and
  ``--blend-weight`` changes the frames of the passes after the first;
* the temporal loss: a default render flickers at most half as much as ``--independent``
  by ``videostyle evaluate`` with the exact flow, and the temporal term by itself (frames
  starting from their content) halves the flicker of the same render without it;
* ``videostyle flow``: the colour-coded flow has the colour wheel's hue for the motion
  and the consistency panel is dark exactly where content appears at the border.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from clips import assert_one_error_line, make_style

from videostyle import video
from videostyle.flow import write_flo
from videostyle.networks import LossNetwork
from videostyle.workdir import default_workdir

FPS = "24"
#: Small renders: a 20-iteration first frame and 10-iteration later frames at 64 px.
QUICK = ("--size", "64", "--iterations", "20,10", "--quiet")

Cli = Callable[..., tuple[int, str, str]]


# ---- helpers ------------------------------------------------------------------------------


def ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
    return out


# ---- generated media -----------------------------------------------------------------------


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    """Store float RGB ``[0, 1]`` ``(H, W, 3)`` as an 8-bit PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    assert cv2.imwrite(str(path), np.ascontiguousarray(data[..., ::-1]))
    return path


def read_rgb(path: Path) -> np.ndarray:
    """An 8- or 16-bit PNG as float64 RGB in ``[0, 1]``."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw is not None, f"cannot read {path}"
    scale = 65535.0 if raw.dtype == np.uint16 else 255.0
    return raw[..., ::-1].astype(np.float64) / scale


def texture(seed: int, height: int, width: int, blur: float = 1.2) -> np.ndarray:
    """A smooth random colour texture, float RGB stretched to ``[0, 1]``."""
    rng = np.random.default_rng(seed)
    noise = rng.random((height, width, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), blur)
    lo, hi = smooth.min(axis=(0, 1)), smooth.max(axis=(0, 1))
    return ((smooth - lo) / (hi - lo)).astype(np.float64)


def moving_sequence(
    folder: Path, *, n: int, step: tuple[int, int], size: tuple[int, int] = (64, 48),
    seed: int = 0,
) -> tuple[Path, Path]:
    """``folder/src_%04d.png``: a texture whose content moves by ``step = (dx, dy)`` px per
    frame, and ``folder/gt``: its exact flows under the reference's file names.

    Pixel ``(x, y)`` of frame t shows what frame t + 1 shows at ``(x + dx, y + dy)``, so
    ``forward_t_(t+1).flo`` is ``(dx, dy)`` everywhere and ``backward_(t+1)_t.flo`` is
    ``(-dx, -dy)``.
    """
    width, height = size
    dx, dy = step
    pad = n * max(abs(dx), abs(dy)) + 2
    tex = texture(seed, height + 2 * pad, width + 2 * pad)
    for t in range(1, n + 1):
        y0, x0 = pad - dy * (t - 1), pad - dx * (t - 1)
        write_rgb(folder / f"src_{t:04d}.png", tex[y0 : y0 + height, x0 : x0 + width])
    gt = folder / "gt"
    write_flows(gt, n, size, (dx, dy))
    return folder / "src_%04d.png", gt


def write_flows(folder: Path, n: int, size: tuple[int, int], step: tuple[float, float]) -> Path:
    """Uniform flows ``step`` forward (t -> t + 1) and ``-step`` backward, for frames 1..n."""
    folder.mkdir(parents=True, exist_ok=True)
    forward = np.zeros((size[1], size[0], 2), np.float32)
    forward[..., 0], forward[..., 1] = step
    for t in range(1, n):
        write_flo(folder / f"forward_{t}_{t + 1}.flo", forward)
        write_flo(folder / f"backward_{t + 1}_{t}.flo", -forward)
    return folder


def stripes(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """Red and white diagonal stripes."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    white = ((x + y) // 4) % 2 == 0
    rgb = np.zeros((h, w, 3))
    rgb[..., 0] = 1.0
    rgb[white] = 1.0
    return write_rgb(path, rgb)


def checker(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """A blue and cyan checkerboard of 6 px cells."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    cyan = ((x // 6) + (y // 6)) % 2 == 0
    rgb = np.zeros((h, w, 3))
    rgb[..., 2] = 1.0
    rgb[cyan, 1] = 1.0
    return write_rgb(path, rgb)


def run_frames(workdir: Path) -> list[np.ndarray]:
    """The finished frames of a run folder (16-bit PNG) in order, float RGB."""
    paths = sorted((workdir / "frames").glob("*.png"))
    assert paths, f"no frames in {workdir}"
    return [read_rgb(p) for p in paths]


def records(folder: Path) -> dict[int, dict[str, object]]:
    """``{frame: record}`` of the ``NNNNNN.json`` files in ``folder``."""
    return {int(p.stem): json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


# ---- 1. a blend of styles ------------------------------------------------------------------

GRAM_LAYERS = ("relu1_1", "relu2_1", "relu3_1")


def grams(net: LossNetwork, rgb: np.ndarray) -> dict[str, torch.Tensor]:
    """``F F^T / (C H W)`` per layer, computed here (not with the package's loss code)."""
    image = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        feats = net(image, GRAM_LAYERS)
    out = {}
    for name, f in feats.items():
        _, c, h, w = f.shape
        flat = f.reshape(c, h * w).double()
        out[name] = flat @ flat.T / (c * h * w)
    return out


def gram_distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Sum over layers of ``||G_a - G_b|| / ||G_b||``."""
    return sum(float(torch.linalg.norm(a[n] - b[n]) / torch.linalg.norm(b[n])) for n in a)


@pytest.mark.slow
def test_style_weights_pull_the_frames_toward_the_heavier_style(
    cli: Cli, vgg16: LossNetwork, tmp_path: Path
) -> None:
    style_a = stripes(tmp_path / "stripes.png")
    style_b = checker(tmp_path / "checker.png")
    content = write_rgb(tmp_path / "src" / "src_0001.png",
                        0.4 + 0.2 * texture(5, 48, 64))  # fmt: skip
    source = tmp_path / "src" / "src_%04d.png"
    target = {"a": grams(vgg16, read_rgb(style_a)), "b": grams(vgg16, read_rgb(style_b))}
    assert gram_distance(target["a"], target["b"]) > 1.0  # the two styles are far apart

    distances = {}
    for name, weights in (("a_heavy", "0.8,0.2"), ("b_heavy", "0.2,0.8")):
        output = tmp_path / name / "out_%04d.png"
        output.parent.mkdir()
        ok(cli("render", source, "--fps", FPS, "-s", style_a, "-s", style_b,
                    "--style-weights", weights, "-o", output, "--bit-depth", "16",
                    "--size", "64", "--iterations", "60", "--style-weight", "30",
                    "--quiet"))  # fmt: skip
        (frame,) = run_frames(default_workdir(output))
        g = grams(vgg16, frame)
        distances[name] = {k: gram_distance(g, t) for k, t in target.items()}
        assert not np.allclose(frame, read_rgb(content), atol=0.02)  # it was stylised

    a_heavy, b_heavy = distances["a_heavy"], distances["b_heavy"]
    assert a_heavy["a"] < a_heavy["b"], distances
    assert b_heavy["b"] < b_heavy["a"], distances
    # and each is nearer its heavier style than the other render is
    assert a_heavy["a"] < b_heavy["a"], distances
    assert b_heavy["b"] < a_heavy["b"], distances


# ---- 2. --original-colors ------------------------------------------------------------------

_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])  # fmt: skip


def luma_chroma(rgb: np.ndarray, space: str) -> tuple[np.ndarray, np.ndarray]:
    """``(luminance (H, W), chroma (H, W, 2))``: BT.601 Y and (U, V), or CIE L* and (a*, b*)
    under D65, written out here rather than taken from the package."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if space == "yuv":
        y = 0.299 * r + 0.587 * g + 0.114 * b
        return y, np.stack([0.492 * (b - y), 0.877 * (r - y)], axis=-1)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _RGB_TO_XYZ.sum(axis=1)  # relative to the D65 white
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    lum = 116 * f[..., 1] - 16
    return lum, np.stack([500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("space", "chroma_tol", "min_luma_change"), [("yuv", 1e-3, 0.03), ("lab", 0.05, 3.0)]
)
def test_original_colors_keep_each_source_frames_chroma(
    cli: Cli, tmp_path: Path, space: str, chroma_tol: float, min_luma_change: float
) -> None:
    source, _ = moving_sequence(tmp_path / "src", n=3, step=(3, 1), seed=1)
    style = stripes(tmp_path / "stripes.png")  # red and white: nothing like the source
    output = tmp_path / "out" / "out_%04d.png"
    output.parent.mkdir()
    ok(cli("render", source, "--fps", FPS, "-s", style, "-o", output, "--bit-depth", "16",
                "--original-colors", space, *QUICK))  # fmt: skip

    sources = [read_rgb(tmp_path / "src" / f"src_{t:04d}.png") for t in (1, 2, 3)]
    outputs = [read_rgb(output.parent / f"out_{t:04d}.png") for t in (1, 2, 3)]
    assert outputs[0].shape == sources[0].shape == (48, 64, 3)
    for t, (src, out) in enumerate(zip(sources, outputs, strict=True), start=1):
        src_luma, src_chroma = luma_chroma(src, space)
        out_luma, out_chroma = luma_chroma(out, space)
        error = float(np.abs(out_chroma - src_chroma).max())
        assert error < chroma_tol, f"frame {t}: chroma off by {error}"
        change = float(np.abs(out_luma - src_luma).mean())
        assert change > min_luma_change, f"frame {t}: luminance barely changed ({change})"
        if t > 1:  # the chroma is this frame's, not a neighbour's
            _, prev_chroma = luma_chroma(sources[t - 2], space)
            assert float(np.abs(out_chroma - prev_chroma).max()) > 50 * chroma_tol


# ---- 3. --flow DIR -------------------------------------------------------------------------


@pytest.mark.slow
def test_flow_folder_with_reference_names_steers_the_render(cli: Cli, tmp_path: Path) -> None:
    from videostyle.evaluate import temporal_error

    n = 4
    source, gt = moving_sequence(tmp_path / "src", n=n, step=(2, 1), seed=2)
    wrong = write_flows(tmp_path / "wrong_flow", n, (64, 48), (-2.0, -1.0))  # the opposite motion
    style = stripes(tmp_path / "stripes.png")
    errors, frames = {}, {}
    for name, folder in (("right", gt), ("wrong", wrong)):
        output = tmp_path / name / "out_%04d.png"
        output.parent.mkdir()
        ok(cli("render", source, "--fps", FPS, "-s", style, "-o", output, "--bit-depth", "16",
                    "--flow", folder, "--long-term", "1", *QUICK))  # fmt: skip
        workdir = default_workdir(output)
        assert list((workdir / "flow").glob("*.flo")) == []  # nothing estimated
        frames[name] = run_frames(workdir)
        report = temporal_error(video.probe(output, fps=Fraction(24)),
                                video.probe(source, fps=Fraction(24)), flow=str(gt))  # fmt: skip
        errors[name] = report.mean_masked
    # frame 1 has no flow in it; the later frames follow the files
    np.testing.assert_array_equal(frames["right"][0], frames["wrong"][0])
    assert errors["right"] * 3 < errors["wrong"], errors

    # a missing file of the folder is named in a one-line error
    partial = tmp_path / "partial"
    partial.mkdir()
    for f in gt.glob("*.flo"):
        if f.name != "backward_3_2.flo":
            (partial / f.name).write_bytes(f.read_bytes())
    output = tmp_path / "partial_out" / "out.mp4"
    output.parent.mkdir()
    code, _, err = cli("render", source, "--fps", FPS, "-s", style, "-o", output,
                            "--flow", partial, "--long-term", "1", *QUICK)  # fmt: skip
    assert code != 0
    assert "backward_3_2.flo" in assert_one_error_line(err)


# ---- 4. multi-pass -------------------------------------------------------------------------


@pytest.mark.slow
def test_multipass_starts_the_temporal_loss_at_its_pass_and_blends_neighbours(
    cli: Cli, tmp_path: Path
) -> None:
    n = 3
    source, _ = moving_sequence(tmp_path / "src", n=n, step=(2, 0), size=(48, 36), seed=3)
    style = stripes(tmp_path / "stripes.png")
    runs = {}
    for blend in ("1", "0"):
        output = tmp_path / f"blend{blend}" / "out.mp4"
        output.parent.mkdir()
        ok(cli("render", source, "--fps", FPS, "-s", style, "-o", output, "--size", "48",
                    "--passes", "3", "--temporal-after-pass", "2", "--iterations", "5",
                    "--blend-weight", blend, "--seed", "0", "--quiet"))  # fmt: skip
        runs[blend] = default_workdir(output)

    workdir = runs["1"]
    passes = {p: records(workdir / "passes" / f"pass{p:03d}") for p in (1, 2, 3)}
    assert all(sorted(r) == [1, 2, 3] for r in passes.values()), passes
    with_temporal = {
        p: sorted(f for f, r in recs.items() if "temporal" in r["losses"])  # type: ignore[operator]
        for p, recs in passes.items()
    }
    # pass 1: none; pass 2 runs backward (3, 2, 1): frame 3 has no neighbour yet; pass 3
    # runs forward (1, 2, 3): frame 1 has none
    assert with_temporal == {1: [], 2: [1, 2], 3: [2, 3]}, with_temporal
    for p in (2, 3):
        for f in with_temporal[p]:
            assert passes[p][f]["losses"]["temporal"] > 0  # type: ignore[index]
    final = records(workdir / "frames")
    assert sorted(final) == [1, 2, 3]
    for f in (1, 2, 3):  # the result is the last pass
        assert final[f]["losses"] == passes[3][f]["losses"]
    assert "temporal" not in final[1]["losses"]  # type: ignore[operator]
    assert "temporal" in final[2]["losses"]  # type: ignore[operator]

    def pass_png(root: Path, p: int, f: int) -> bytes:
        return (root / "passes" / f"pass{p:03d}" / f"{f:06d}.png").read_bytes()

    for f in (1, 2, 3):  # pass 1 does not blend: identical
        assert pass_png(runs["1"], 1, f) == pass_png(runs["0"], 1, f)
    # pass 2's first frame (3) has no neighbour to blend; the others start from a blend
    assert pass_png(runs["1"], 2, 3) == pass_png(runs["0"], 2, 3)
    for p, f in ((2, 1), (2, 2), (3, 2), (3, 3)):
        a, b = read_rgb_bytes(pass_png(runs["1"], p, f)), read_rgb_bytes(pass_png(runs["0"], p, f))
        assert float(np.abs(a - b).mean()) > 1e-3, f"pass {p} frame {f}: blend weight ignored"
    finals = [run_frames(runs[b]) for b in ("1", "0")]
    assert any(float(np.abs(x - y).mean()) > 1e-3 for x, y in zip(*finals, strict=True))


def read_rgb_bytes(data: bytes) -> np.ndarray:
    raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return raw[..., ::-1].astype(np.float64) / 65535.0


# ---- 5. the temporal loss ------------------------------------------------------------------


@pytest.mark.slow
def test_default_render_flickers_at_most_half_as_much_as_independent(
    cli: Cli, tmp_path: Path
) -> None:
    source, gt = moving_sequence(tmp_path / "src", n=6, step=(2, 1), seed=4)
    # a smooth colourful style (the saturated stripes' style loss, ~1e7 after 20
    # iterations, would dwarf any temporal term at this budget)
    style = make_style(tmp_path / "style.png", size=64)
    means = {}
    for name, extra in (("default", ()), ("independent", ("--independent",))):
        output = tmp_path / name / "out_%04d.png"
        output.parent.mkdir()
        ok(cli("render", source, "--fps", FPS, "-s", style, "-o", output, "--bit-depth", "16",
                    *QUICK, *extra))  # fmt: skip
        report = json.loads(ok(cli("evaluate", output, "--source", source, "--flow", gt,
                                        "--json")))  # fmt: skip
        assert [f["frame"] for f in report["frames"]] == [2, 3, 4, 5, 6]
        means[name] = report["mean_paper"]
    assert means["default"] <= 0.5 * means["independent"], means


@pytest.mark.slow
def test_temporal_term_pulls_frames_toward_the_warped_previous_frame(
    cli: Cli, tmp_path: Path
) -> None:
    """The temporal loss alone, without the warped start that does most of the work in a
    default render: later frames start from their content frame.

    The weight is explicit and 100 times the default: at 64 px and 10 iterations the
    default weight's term (~2e3) is too small next to the style term (~2e5) to move the
    frames measurably (the same render with weight 0 differs by about 4 %).
    """
    from videostyle.evaluate import temporal_error

    source, gt = moving_sequence(tmp_path / "src", n=6, step=(2, 1), seed=4)
    style = make_style(tmp_path / "style.png", size=64)
    means = {}
    for name, weight in (("temporal", "1e8"), ("none", "0")):
        output = tmp_path / name / "out_%04d.png"
        output.parent.mkdir()
        ok(cli("render", source, "--fps", FPS, "-s", style, "-o", output, "--bit-depth", "16",
                    "--init", "content", "--temporal-weight", weight, *QUICK))  # fmt: skip
        report = temporal_error(video.probe(output, fps=Fraction(24)),
                                video.probe(source, fps=Fraction(24)), flow=str(gt))  # fmt: skip
        means[name] = report.mean_paper
        recs = records(default_workdir(output) / "frames")
        has_term = {f for f, r in recs.items() if "temporal" in r["losses"]}  # type: ignore[operator]
        assert has_term == ({2, 3, 4, 5, 6} if weight != "0" else set()), has_term
    assert means["temporal"] <= 0.5 * means["none"], means


# ---- 6. videostyle flow --------------------------------------------------------------------


@pytest.mark.parametrize("estimated", [False, True], ids=["flo-files", "dis"])
def test_flow_panels_show_the_motions_hue_and_the_disoccluded_strip(
    cli: Cli, tmp_path: Path, estimated: bool
) -> None:
    width, height, n = 64, 48, 4
    # content moves right by 3 px a frame: the flow t -> t-1 points left, (-3, 0), and
    # columns 0..2 of frame t show what frame t-1 did not (they come from outside it)
    source, gt = moving_sequence(tmp_path / "src", n=n, step=(3, 0), seed=5)
    output = tmp_path / "panels.mp4"
    ok(cli("flow", source, "-o", output, "--flow", "dis" if estimated else gt,
                "--fps", FPS))  # fmt: skip
    info = video.probe(output)
    assert (info.width, info.height, info.n_frames) == (3 * width, height, n - 1)
    panels = [frame.astype(np.float64) for _, frame in video.read_frames(info)]
    # Middlebury wheel at direction "left" (index 27 of 55: cyan -> blue, step 2 of 11);
    # every vector has the largest magnitude, so the colour is the wheel's, undiluted
    expected_hue = np.array([0.0, 1.0 - np.floor(255 * 2 / 11) / 255, 1.0])
    rows = slice(0, height - 3)  # the reference's checker marks the last row unreliable
    for k, panel in enumerate(panels, start=2):
        frame = panel[:, :width]
        src = read_rgb(tmp_path / "src" / f"src_{k:04d}.png")
        assert float(np.abs(frame - src).mean()) < 0.05, f"panel {k}: not frame {k}"
        colour = panel[4:-4, width + 4 : 2 * width - 4].reshape(-1, 3)
        weights = panel[:, 2 * width :].mean(axis=2)
        columns = weights[rows].mean(axis=0)
        assert float(weights[rows, :2].max()) < 0.25, f"panel {k}: strip not dark"
        if estimated:  # DIS: nearly the exact flow, a few noisy vectors
            np.testing.assert_allclose(np.median(colour, axis=0), expected_hue, atol=0.2,
                                       err_msg=f"panel {k}: flow colour")  # fmt: skip
            assert float(weights[rows, 6 : width - 3].mean()) > 0.85
            continue
        np.testing.assert_allclose(colour.mean(axis=0), expected_hue, atol=0.08,
                                   err_msg=f"panel {k}: flow colour")  # fmt: skip
        assert float(np.abs(colour - expected_hue).max()) < 0.2
        # three columns come from outside the previous frame: the dark strip ends there
        # (the consistency map is smoothed: column 2 is mostly dark, column 3 mostly bright)
        assert columns[2] < 0.5 < columns[3], columns[:8]
        assert float(weights[rows, 6 : width - 3].min()) > 0.75, f"panel {k}: not bright"
        # the right border (content leaving the frame) is reliable: it has a match
        assert float(columns[width - 8 : width - 3].mean()) > 0.85
