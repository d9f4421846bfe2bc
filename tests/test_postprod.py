"""A post-production pipeline end to end through ``videostyle render``: EXR plates in and
out, OpenColorIO colour management, alpha, timecode, ProRes 4444 and ``--crf``.

Plates are tiny (24x16) and most renders use ``--iterations 0`` (the content passes
through the stylizer unchanged), so what is checked is what the chain does around it.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest
from clips import FFMPEG, assert_one_error_line, make_style, run_ffmpeg

from videostyle.video import read_image
from videostyle.video.exr import read_exr, write_exr

Cli = Callable[..., tuple[int, str, str]]
SIZE = (24, 16)  # (width, height)
PASS = ("--quality", "draft", "--iterations", "0", "-q")


def plates(folder: Path, *, first: int = 1001, n: int = 10, pixel_type: str = "half",
           alpha: bool = True, prefix: str = "beauty.", compression: str = "piz",
           colorspace: str | None = "lin_ap1_scene", seed: int = 0) -> Path:
    """EXR plates ``plate.NNNN.exr`` with values in [-0.2, 8) and a random alpha."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for number in range(first, first + n):
        rgb = (rng.random((SIZE[1], SIZE[0], 3)) * 8.2 - 0.2).astype(np.float32)
        a = rng.random((SIZE[1], SIZE[0])).astype(np.float32) if alpha else None
        write_exr(folder / f"plate.{number}.exr", rgb, a, pixel_type=pixel_type,  # type: ignore[arg-type]
                  compression=compression, prefix=prefix,
                  attributes={"colorInteropID": colorspace} if colorspace else {})
    return folder


def header(path: Path) -> dict:
    return OpenEXR.File(str(path), separate_channels=True).header()


def ulps16(a: np.ndarray, b: np.ndarray) -> int:
    """Largest distance between two half-float arrays in units in the last place."""
    ia = a.astype(np.float16).view(np.int16).astype(np.int32)
    ib = b.astype(np.float16).view(np.int16).astype(np.int32)
    return int(np.abs(ia - ib).max())


@pytest.fixture
def style(tmp_path: Path) -> Path:
    return make_style(tmp_path / "style.png")


# ---- EXR in and out ------------------------------------------------------------------------


def test_acescg_half_plate_with_alpha_comes_back_as_it_went_in(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    source = plates(tmp_path / "plate")
    code, _, err = cli("render", source, "-s", style, "-o", tmp_path / "out.%04d.exr", *PASS)
    assert code == 0, err
    written = sorted(p.name for p in tmp_path.glob("out.*.exr"))
    assert written == [f"out.{n}.exr" for n in range(1001, 1011)]
    for number in (1001, 1006, 1010):
        rgb_in, a_in, _ = read_exr(source / f"plate.{number}.exr")
        rgb_out, a_out, lay = read_exr(tmp_path / f"out.{number}.exr")
        assert rgb_in.max() > 7.0 and rgb_in.min() < 0  # values above 1 and below 0
        assert ulps16(rgb_out, rgb_in) == 0  # the very same halves
        assert a_out is not None and a_in is not None
        assert a_out.dtype == np.float16 and np.array_equal(a_out.view(np.uint16),
                                                            a_in.view(np.uint16))
        assert (lay.prefix, lay.pixel_type, lay.compression) == ("beauty.", "half", "piz")
        assert header(tmp_path / f"out.{number}.exr")["colorInteropID"] == "lin_ap1_scene"
    manifest = (tmp_path / "out.videostyle" / "manifest.json").read_text()
    assert '"input": "ACEScg"' in manifest
    # another output colour space re-finishes the same frames (none computed again)
    code, out, err = cli("render", source, "-s", style, "-o", tmp_path / "out.%04d.exr",
                         "--output-colorspace", "Linear Rec.709 (sRGB)", "--quality", "draft",
                         "--iterations", "0")
    assert code == 0 and "0 computed now" in out, err
    relit, _, _ = read_exr(tmp_path / "out.1001.exr")
    assert np.abs(relit - read_exr(source / "plate.1001.exr")[0]).max() > 0.05


def _windows(data: tuple[int, int, int, int], display: tuple[int, int, int, int]) -> dict:
    return {"dataWindow": (np.array(data[:2], np.int32), np.array(data[2:], np.int32)),
            "displayWindow": (np.array(display[:2], np.int32), np.array(display[2:], np.int32))}


def _boxes(path: Path) -> tuple[tuple[int, ...], tuple[int, ...]]:
    found = header(path)
    return tuple(tuple(int(v) for part in found[name] for v in part)  # type: ignore[return-value]
                 for name in ("dataWindow", "displayWindow"))


def test_an_overscan_anamorphic_plate_keeps_its_windows_and_pixel_aspect(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    """Overscan: the 64x40 data window starts at (-8, -4) around a 48x32 display window."""
    folder = tmp_path / "plate"
    folder.mkdir()
    rng = np.random.default_rng(3)
    data, display = (-8, -4, 55, 35), (0, 0, 47, 31)
    for number in (1001, 1002):
        write_exr(folder / f"plate.{number}.exr",
                  (rng.random((40, 64, 3)) * 2).astype(np.float32), None,
                  attributes={"colorInteropID": "lin_ap1_scene", "pixelAspectRatio": 2.0,
                              **_windows(data, display)})
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "o.%04d.exr", *PASS)
    assert code == 0, err
    assert [line for line in err.splitlines() if "anamorphic" in line], err
    assert _boxes(tmp_path / "o.1002.exr") == (data, display)
    assert header(tmp_path / "o.1002.exr")["pixelAspectRatio"] == 2.0
    rgb_in = read_exr(folder / "plate.1002.exr")[0]
    assert ulps16(read_exr(tmp_path / "o.1002.exr")[0], rgb_in) == 0
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "half.%04d.exr",
                       "--size", "32", *PASS)
    assert code == 0, err
    assert read_exr(tmp_path / "half.1001.exr")[0].shape == (20, 32, 3)
    assert _boxes(tmp_path / "half.1001.exr") == ((-4, -2, 27, 17), (0, 0, 23, 15))
    write_exr(folder / "plate.1002.exr", rgb_in, None,  # one frame's window moved
              attributes={"colorInteropID": "lin_ap1_scene",
                          **_windows((-7, -4, 56, 35), display)})
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "m.%04d.exr", *PASS)
    assert code == 2
    line = assert_one_error_line(err)
    assert "plate.1002.exr" in line and "data window (-7, -4, 56, 35)" in line


def test_an_anamorphic_video_keeps_its_pixel_aspect_in_video_and_exr(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    from videostyle.video import probe

    clip = tmp_path / "anamorphic.mp4"
    run_ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={SIZE[0]}x{SIZE[1]}:rate=24",
               "-frames:v", "2", "-vf", "setsar=2/1", "-c:v", "libx264", "-pix_fmt",
               "yuv420p", str(clip))
    code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / "o.mp4", *PASS)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "anamorphic" in line]
    assert len(warnings) == 1 and "2 times as wide" in warnings[0], err
    assert "[SAR 2:1 " in _summary(tmp_path / "o.mp4")
    code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / "e.%04d.exr", *PASS)
    assert code == 0, err
    assert header(tmp_path / "e.0001.exr")["pixelAspectRatio"] == 2.0
    code, _, err = cli("render", tmp_path / "e.%04d.exr", "-s", style, "-o",
                       tmp_path / "back.mov", "--codec", "prores", "--output-colorspace",
                       "sRGB Encoded Rec.709 (sRGB)", *PASS)
    assert code == 0, err
    assert "SAR 2:1 " in _summary(tmp_path / "back.mov")  # from the EXR's header
    assert probe(tmp_path / "back.mov").pixel_aspect == 2  # ProRes prints it unbracketed
    square = tmp_path / "square.mp4"  # a square frame turned a quarter: its pixels too
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=32x32:rate=24", "-frames:v", "1", "-vf",
               "setsar=2/1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(tmp_path / "s.mp4"))
    run_ffmpeg("-display_rotation", "90", "-i", str(tmp_path / "s.mp4"), "-c", "copy",
               str(square))
    assert probe(square).pixel_aspect == Fraction(1, 2)


@pytest.mark.parametrize("compression", ["zstd", "htj2k32"])
def test_a_float_alpha_beside_half_rgb_and_a_newer_lossless_compression_are_kept(
    cli: Cli, tmp_path: Path, style: Path, compression: str
) -> None:
    folder = tmp_path / "plate"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for number in (1001, 1002):
        write_exr(folder / f"p.{number}.exr", (rng.random((16, 24, 3)) * 3).astype(np.float32),
                  rng.random((16, 24)).astype(np.float32), pixel_type="half",
                  alpha_type="float", compression=compression,
                  attributes={"colorInteropID": "lin_ap1_scene"})
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "o.%04d.exr", *PASS)
    assert code == 0, err
    _, a_in, _ = read_exr(folder / "p.1002.exr")
    rgb_out, a_out, lay = read_exr(tmp_path / "o.1002.exr")
    assert (lay.pixel_type, lay.compression) == ("half", compression)
    assert a_in is not None and a_out is not None and a_out.dtype == np.float32
    assert np.array_equal(a_out, a_in)  # every bit of the float alpha


@pytest.mark.parametrize(("attributes", "space", "interop"), [
    ({"acesImageContainerFlag": 1, "chromaticities":
      (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767)}, "ACES2065-1",
     "lin_ap0_scene"),
    ({"chromaticities": (0.64, 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329)},
     "Linear Rec.709 (sRGB)", "lin_rec709_scene"),
], ids=["aces-container", "rec709-primaries"])
def test_an_exr_that_names_its_space_only_by_its_primaries_is_read_in_it(
    cli: Cli, tmp_path: Path, style: Path, attributes: dict, space: str, interop: str
) -> None:
    folder = tmp_path / "plate"
    folder.mkdir()
    write_exr(folder / "p.1001.exr", np.full((16, 24, 3), 0.4, np.float32), None,
              attributes=attributes)
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "o.%04d.exr", *PASS)
    assert code == 0 and "warning" not in err, err
    manifest = (tmp_path / "o.videostyle" / "manifest.json").read_text()
    assert f'"input": "{space}"' in manifest
    out = header(tmp_path / "o.1001.exr")
    assert out["colorInteropID"] == interop and out["oiio:ColorSpace"] == space
    assert np.allclose(out["chromaticities"], attributes["chromaticities"], atol=1e-6)


def test_premultiplied_exr_is_painted_where_it_covers_and_left_alone_where_not(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    folder = tmp_path / "plate"
    y, x = np.mgrid[0:SIZE[1], 0:SIZE[0]].astype(np.float32)
    alpha = (x < 12).astype(np.float32)  # left half covered, right half empty
    straight = np.stack([0.1 + x / 30, 0.05 + y / 20, 0.3 + 0 * x], axis=2)
    write_exr(folder / "p.0001.exr", straight * alpha[..., None], alpha, pixel_type="float")
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "o.%04d.exr",
                       "--quality", "draft", "--iterations", "6", "-q")
    assert code == 0, err
    out, out_alpha, _ = read_exr(tmp_path / "o.0001.exr")
    assert np.array_equal(out_alpha, alpha)
    assert np.all(out[:, 12:] == 0)  # nothing added over what is behind
    assert np.abs(out[:, :12] - straight[:, :12]).mean() > 0.01  # painted where covered


def test_float_plate_converted_by_opencolorio_and_extra_channels_warned(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    import PyOpenColorIO as ocio

    folder = plates(tmp_path / "plate", n=2, first=1, pixel_type="float", alpha=False,
                    prefix="", compression="zip", colorspace=None)
    for file in folder.glob("*.exr"):  # add a depth pass
        rgb, _, _ = read_exr(file)
        OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                     {"R": rgb[..., 0], "G": rgb[..., 1], "B": rgb[..., 2],
                      "Z": np.ones(rgb.shape[:2], np.float32)}).write(str(file))
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "o_%02d.exr",
                       "--output-colorspace", "Linear Rec.2020", *PASS)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 2 and "the channels Z" in warnings[0], err
    assert "names no colour space" in warnings[1] and "taken as ACEScg" in warnings[1]
    rgb_in, _, _ = read_exr(folder / "plate.2.exr")
    rgb_out, _, lay = read_exr(tmp_path / "o_02.exr")
    expected = rgb_in.copy()  # no metadata: the scene_linear role, ACEScg
    cfg = ocio.Config.CreateFromFile("ocio://default")
    cfg.getProcessor("ACEScg", "Linear Rec.2020").getDefaultCPUProcessor().applyRGB(expected)
    assert lay.pixel_type == "float" and lay.compression == "zip" and lay.prefix == ""
    assert np.abs(rgb_out - rgb_in).max() > 0.01  # a real conversion happened
    assert np.allclose(rgb_out, expected, rtol=1e-4, atol=1e-5)
    assert header(tmp_path / "o_02.exr")["oiio:ColorSpace"] == "Linear Rec.2020"


CONFIG = """ocio_profile_version: 2
roles:
  scene_linear: lin
  color_picking: display
  default: lin
file_rules:
  - !<Rule> {name: Default, colorspace: default}
displays:
  screen:
    - !<View> {name: raw, colorspace: display}
colorspaces:
  - !<ColorSpace>
    name: lin
  - !<ColorSpace>
    name: display
    from_scene_reference: !<ExponentWithLinearTransform> {gamma: 2.4, offset: 0.055,
      direction: inverse}
  - !<ColorSpace>
    name: camera
    from_scene_reference: !<GroupTransform>
      children:
        - !<MatrixTransform> {matrix: [0.5, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1]}
        - !<ExponentTransform> {value: [2, 2, 2, 1], style: mirror}
"""


def test_a_studio_config_from_ocio_is_the_one_applied(
    cli: Cli, tmp_path: Path, style: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "studio.ocio"
    config.write_text(CONFIG)
    monkeypatch.setenv("OCIO", str(config))
    folder = plates(tmp_path / "plate", n=1, first=7, pixel_type="float", alpha=False,
                    prefix="", colorspace="camera")
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "o_%02d.exr",
                       "--output-colorspace", "lin", *PASS)
    assert code == 0, err
    camera, _, _ = read_exr(folder / "plate.7.exr")
    lin, _, _ = read_exr(tmp_path / "o_07.exr")
    # camera = (matrix(lin))^2: R halved, G and B swapped, then squared (mirrored)
    root = np.sign(camera) * np.sqrt(np.abs(camera))
    expected = np.stack([root[..., 0] * 2, root[..., 2], root[..., 1]], axis=2)
    assert np.allclose(lin, expected, rtol=1e-5, atol=1e-6)
    # what the stylizer saw: the config's display space, clipped
    content = cv2.imread(str(tmp_path / "o.videostyle" / "content" / "000007.png"),
                         cv2.IMREAD_UNCHANGED)[..., ::-1] / 65535.0
    e = np.clip(expected, 0, None)
    display = np.where(e <= 0.0031308, 12.92 * e, 1.055 * e ** (1 / 2.4) - 0.055)
    assert np.allclose(content, np.clip(display, 0, 1), atol=2e-5)


# ---- alpha -----------------------------------------------------------------------------------


def rgba_sequence(folder: Path, n: int = 3, size: tuple[int, int] = SIZE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    for k in range(1, n + 1):
        bgra = rng.integers(0, 256, (size[1], size[0], 4), dtype=np.uint8)
        cv2.imwrite(str(folder / f"f_{k:04d}.png"), bgra)
    return folder / "f_%04d.png"


def test_png_alpha_is_carried_bit_exactly_while_the_rgb_is_stylised(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    source = rgba_sequence(tmp_path / "src")
    code, _, err = cli("render", source, "-s", style, "-o", tmp_path / "o_%04d.png",
                       "--quality", "draft", "--iterations", "4,2", "-q")
    assert code == 0, err
    for k in (1, 3):
        src = cv2.imread(str(tmp_path / "src" / f"f_{k:04d}.png"), cv2.IMREAD_UNCHANGED)
        out = cv2.imread(str(tmp_path / f"o_{k:04d}.png"), cv2.IMREAD_UNCHANGED)
        assert out.shape == src.shape and out.dtype == np.uint8
        assert np.array_equal(out[..., 3], src[..., 3])
        assert np.abs(out[..., :3].astype(int) - src[..., :3]).mean() > 3  # stylised


def test_an_alpha_that_starts_after_the_first_frame_is_named_before_work(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    png, exr = tmp_path / "png", tmp_path / "exr"
    png.mkdir()
    exr.mkdir()
    rgb = np.full((SIZE[1], SIZE[0], 3), 0.5, np.float32)
    for k, with_alpha in ((1, False), (2, False), (3, True)):
        pixels = np.full((SIZE[1], SIZE[0], 4 if with_alpha else 3), 128, np.uint8)
        cv2.imwrite(str(png / f"f_{k:04d}.png"), pixels)
        write_exr(exr / f"p.{1000 + k}.exr", rgb, np.ones(rgb.shape[:2], np.float32)
                  if with_alpha else None, attributes={"colorInteropID": "lin_ap1_scene"})
    for source, frame in ((png / "f_%04d.png", 3), (exr / "p.%04d.exr", 1003)):
        kind = source.parent.name
        code, _, err = cli("render", source, "-s", style, "-o", tmp_path / f"{kind}_%04d.png",
                           *PASS[:-1])
        assert code == 0, err
        notes = [line for line in err.splitlines() if "alpha channel" in line]
        assert len(notes) == 1 and f"frame {frame} of" in notes[0], err
        code, _, err = cli("render", source, "-s", style, "-o", tmp_path / f"{kind}2_%04d.png",
                           "--frames", f"{frame - 2}:{frame - 1}", *PASS[:-1])
        assert code == 0 and "alpha channel" not in err, err  # not in the frames rendered


def test_alpha_is_resized_with_the_frame(cli: Cli, tmp_path: Path, style: Path) -> None:
    source = rgba_sequence(tmp_path / "src", n=1, size=(32, 32))
    code, _, err = cli("render", source, "-s", style, "-o", tmp_path / "o_%04d.png",
                       "--size", "16", *PASS)
    assert code == 0, err
    src = cv2.imread(str(tmp_path / "src" / "f_0001.png"), cv2.IMREAD_UNCHANGED)
    out = cv2.imread(str(tmp_path / "o_0001.png"), cv2.IMREAD_UNCHANGED)
    expected = cv2.resize(src[..., 3].astype(np.float32), (16, 16), interpolation=cv2.INTER_AREA)
    assert out.shape == (16, 16, 4)
    assert np.abs(out[..., 3].astype(np.float32) - expected).max() <= 0.5 + 1e-3


def decode_rgba(path: Path) -> np.ndarray:
    done = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-f", "rawvideo",
                           "-pix_fmt", "rgba", "-"], check=True, capture_output=True)
    return np.frombuffer(done.stdout, np.uint8).reshape(-1, SIZE[1], SIZE[0], 4)


def test_prores4444_holds_the_alpha_and_h264_says_it_cannot(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    source = rgba_sequence(tmp_path / "src")
    code, _, err = cli("render", source, "-s", style, "-o", tmp_path / "o.mov",
                       "--codec", "prores4444", *PASS)
    assert code == 0, err
    frames = decode_rgba(tmp_path / "o.mov")
    assert frames.shape[0] == 3
    for k in range(3):
        src = cv2.imread(str(tmp_path / "src" / f"f_{k + 1:04d}.png"), cv2.IMREAD_UNCHANGED)
        assert np.abs(frames[k, ..., 3].astype(int) - src[..., 3]).max() <= 1
    assert "yuva444p" in _summary(tmp_path / "o.mov")
    code, _, err = cli("render", source, "-s", style, "-o", tmp_path / "h.mp4", *PASS)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "alpha" in line]
    assert len(warnings) == 1 and "prores4444" in warnings[0]


# ---- timecode, codecs ----------------------------------------------------------------------


def _summary(path: Path) -> str:
    return subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr


def _timecode(path: Path) -> str | None:
    match = re.search(r"timecode\s*:\s*(\S+)", _summary(path))
    return match.group(1) if match else None


def test_start_timecode_carries_to_prores4444_and_h264(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    clip = tmp_path / "shot.mov"
    run_ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={SIZE[0]}x{SIZE[1]}:rate=24",
               "-frames:v", "5", "-c:v", "prores_ks", "-timecode", "01:02:03:04", str(clip))
    assert _timecode(clip) == "01:02:03:04"
    code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / "o.mov",
                       "--codec", "prores4444xq", *PASS)
    assert code == 0, err
    assert _timecode(tmp_path / "o.mov") == "01:02:03:04"
    assert "prores (XQ) (ap4x" in _summary(tmp_path / "o.mov")
    code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / "part.mp4",
                       "--frames", "3:5", *PASS)
    assert code == 0, err
    assert _timecode(tmp_path / "part.mp4") == "01:02:03:06"  # two frames later


def _colour_summary(path: Path) -> str:
    """ffmpeg's ``pix_fmt(range, matrix/primaries/transfer)`` of a video's stream."""
    match = re.search(r"Video: .*?, (\w+\([^)]*\))", _summary(path))
    assert match, _summary(path)
    return match.group(1)


def test_video_colour_tags_follow_the_output_colour_space(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    source = png_sequence(tmp_path / "src")
    code, _, err = cli("render", source, "-s", style, "-o", tmp_path / "plain.mp4", *PASS)
    assert code == 0 and "warning" not in err, err
    assert "(tv, bt709, " in _colour_summary(tmp_path / "plain.mp4")  # all three tags
    code, _, err = cli("render", source, "-s", style, "-o", tmp_path / "plain.mkv",
                       "--codec", "ffv1", *PASS)
    assert code == 0, err
    assert "/bt709/bt709" in _colour_summary(tmp_path / "plain.mkv")  # RGB, tagged too
    code, _, err = cli("render", source, "-s", style, "-o", tmp_path / "pq.mov", "--codec",
                       "prores", "--output-colorspace", "Rec.2100-PQ - Display", *PASS)
    assert code == 0 and "warning" not in err, err
    assert "bt709/bt2020/smpte2084" in _colour_summary(tmp_path / "pq.mov")  # matrix as used
    code, _, err = cli("render", source, "-s", style, "-o", tmp_path / "cg.mp4",
                       "--output-colorspace", "ACEScg", *PASS)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "colour tags" in line]
    assert len(warnings) == 1 and "primaries of ACEScg" in warnings[0], err
    summary = _colour_summary(tmp_path / "cg.mp4")
    assert "linear" in summary and "bt709/bt709" not in summary and "bt2020" not in summary


def test_an_exr_plates_frame_rate_reaches_exr_frames_and_a_video(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    from fractions import Fraction

    from videostyle.video import probe

    folder = plates(tmp_path / "plate", n=3)
    for file in sorted(folder.glob("*.exr")):
        rgb, alpha, _ = read_exr(file)
        write_exr(file, rgb, alpha, prefix="beauty.", attributes={
            "colorInteropID": "lin_ap1_scene", "framesPerSecond": Fraction(25)})
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "o.%04d.exr", *PASS)
    assert code == 0, err
    assert Fraction(header(tmp_path / "o.1002.exr")["framesPerSecond"]) == 25
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "o.mp4",
                       "--output-colorspace", "sRGB Encoded Rec.709 (sRGB)", *PASS)
    assert code == 0, err
    assert probe(tmp_path / "o.mp4").fps == 25
    png = png_sequence(tmp_path / "src", n=2)
    code, _, err = cli("render", png, "-s", style, "-o", tmp_path / "p.%04d.exr",
                       "--fps", "24000/1001", *PASS)
    assert code == 0, err
    assert Fraction(header(tmp_path / "p.1001.exr")["framesPerSecond"]) == Fraction(24000, 1001)


def test_a_clip_trimmed_by_an_edit_list_renders_the_frames_it_shows(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    """``ffmpeg -ss 0.5 -c copy`` keeps the packets before the cut (a keyframe's group)
    and hides them with an edit list: 36 frames show, 48 packets are stored."""
    whole, trimmed = tmp_path / "whole.mp4", tmp_path / "trimmed.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=2", "-f", "lavfi",
               "-i", "sine=duration=2", "-c:v", "libx264", "-g", "48", "-pix_fmt", "yuv420p",
               "-c:a", "aac", "-shortest", str(whole))
    run_ffmpeg("-ss", "0.5", "-i", str(whole), "-c", "copy", str(trimmed))
    shown = subprocess.run([FFMPEG, "-v", "error", "-i", str(trimmed), "-f", "rawvideo",
                            "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(shown, np.uint8).reshape(-1, 48, 64, 3)
    assert len(frames) == 36
    code, _, err = cli("render", trimmed, "-s", style, "-o", tmp_path / "o_%04d.png", *PASS)
    assert code == 0, err
    written = sorted(tmp_path.glob("o_*.png"))
    assert len(written) == 36
    first = cv2.imread(str(written[0]))[..., ::-1].astype(int)
    assert np.abs(first - frames[0]).max() <= 1  # the first frame shown, not a hidden one
    hidden = subprocess.run([FFMPEG, "-v", "error", "-i", str(whole), "-frames:v", "1", "-f",
                             "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True,
                            check=True).stdout
    assert np.abs(first - np.frombuffer(hidden, np.uint8).reshape(48, 64, 3)).max() > 8


def test_a_video_that_starts_after_its_audio_keeps_them_in_sync(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    """The video stream starts 0.5 s into the file, where a beep is: in the output the
    beep is under frame 1."""
    video, beep, clip = tmp_path / "v.mp4", tmp_path / "beep.wav", tmp_path / "late.mov"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=1", "-c:v",
               "libx264", "-pix_fmt", "yuv420p", str(video))
    run_ffmpeg("-f", "lavfi", "-i",
               "aevalsrc=if(between(t\\,0.5\\,0.6)\\,0.5*sin(2*PI*1000*t)\\,0):d=2:s=48000",
               str(beep))
    run_ffmpeg("-itsoffset", "0.5", "-i", str(video), "-i", str(beep), "-c:v", "copy",
               "-c:a", "pcm_s16le", str(clip))

    def beep_at(path: Path) -> float:
        raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-map", "0:a:0", "-f",
                              "s16le", "-ac", "1", "-ar", "48000", "-"], capture_output=True,
                             check=True).stdout
        loud = np.nonzero(np.abs(np.frombuffer(raw, "<i2")) > 1000)[0]
        assert len(loud), path
        return float(loud[0]) / 48000

    assert abs(beep_at(clip) - 0.5) < 0.01
    code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / "o.mov", "--codec",
                       "prores", *PASS)
    assert code == 0, err
    assert beep_at(tmp_path / "o.mov") < 1 / 24  # under frame 1, not half a second later


def test_interlacing_and_extra_audio_streams_are_named_and_24_bit_audio_kept(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    fields, sound = tmp_path / "fields.mp4", tmp_path / "sound.mov"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-frames:v", "2",
               "-vf", "setfield=tff", "-c:v", "libx264", "-flags", "+ilme+ildct", "-pix_fmt",
               "yuv420p", str(fields))
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=0.25", "-f", "lavfi",
               "-i", "sine=f=440:d=0.25:r=96000", "-f", "lavfi", "-i", "sine=f=880:d=0.25",
               "-map", "0", "-map", "1", "-map", "2", "-c:v", "prores_ks", "-c:a",
               "pcm_s24le", str(sound))
    code, _, err = cli("render", fields, "-s", style, "-o", tmp_path / "f.mp4", *PASS)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "interlaced (top first)" in warnings[0], err
    code, _, err = cli("render", sound, "-s", style, "-o", tmp_path / "s.mov", "--codec",
                       "prores", *PASS)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "3 audio streams" not in warnings[0], err
    assert "2 audio streams; only the first" in warnings[0]
    audio = [line for line in _summary(tmp_path / "s.mov").splitlines() if "Audio:" in line]
    assert len(audio) == 1 and "pcm_s24le" in audio[0] and "96000 Hz" in audio[0], audio
    code, _, err = cli("render", sound, "-s", style, "-o", tmp_path / "s_%04d.png", *PASS)
    assert code == 0 and "audio streams" not in err, err  # a sequence carries no audio
    aac = tmp_path / "aac.mp4"  # decoded to float, but not deeper than 16-bit PCM
    run_ffmpeg("-i", str(sound), "-map", "0:v", "-map", "0:a:0", "-c:v", "libx264", "-c:a",
               "aac", str(aac))
    code, _, err = cli("render", aac, "-s", style, "-o", tmp_path / "a.mov", "--codec",
                       "prores", *PASS)
    assert code == 0, err
    assert "pcm_s16le" in _summary(tmp_path / "a.mov")


def test_crf_reaches_the_encoder_and_is_refused_with_another_codec(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    clip = tmp_path / "c.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=48x32:rate=24", "-frames:v", "3",
               "-c:v", "libx264", "-crf", "0", str(clip))
    sizes = {}
    for crf in ("0", "51"):
        code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / f"o{crf}.mp4",
                           "--crf", crf, *PASS)
        assert code == 0, err
        sizes[crf] = (tmp_path / f"o{crf}.mp4").stat().st_size
    assert sizes["0"] > 1.4 * sizes["51"]  # (the container alone is about 1 kB)
    code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / "p.mov",
                       "--codec", "prores", "--crf", "10", *PASS)
    assert code == 2 and "--crf" in assert_one_error_line(err)
    assert not (tmp_path / "p.videostyle").exists()


# ---- bad input -------------------------------------------------------------------------------


def test_unknown_colour_space_is_refused_in_one_line(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    folder = plates(tmp_path / "plate", n=1)
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "o_%04d.exr",
                       "--input-colorspace", "Kodak 5219", *PASS)
    assert code == 2
    line = assert_one_error_line(err)
    assert "--input-colorspace" in line and "Kodak 5219" in line and "ACEScg" in line
    assert not (tmp_path / "o.videostyle").exists()


def test_an_unreadable_ocio_config_is_refused_in_one_line(
    cli: Cli, tmp_path: Path, style: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = plates(tmp_path / "plate", n=1)
    (tmp_path / "broken.ocio").write_text("ocio_profile_version: 2\ncolorspaces: [\n")
    monkeypatch.setenv("OCIO", str(tmp_path / "broken.ocio"))
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "o_%04d.exr", *PASS)
    assert code == 2
    line = assert_one_error_line(err)
    assert "broken.ocio" in line and "$OCIO" in line
    assert not (tmp_path / "o.videostyle").exists()


def test_a_multi_part_exr_renders_its_first_part_and_names_the_others(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    head = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
            "colorInteropID": "lin_ap1_scene"}
    rgb = {c: np.full((16, 24), v, np.float16) for c, v in zip("RGB", (0.2, 0.4, 0.6),
                                                               strict=True)}
    depth = {"Z": np.ones((16, 24), np.float32)}
    OpenEXR.File([OpenEXR.Part(dict(head), rgb, name="rgba"),
                  OpenEXR.Part(dict(head), depth, name="depth")]
                 ).write(str(folder / "p.1001.exr"))
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "o.%04d.exr", *PASS)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "the parts depth are not written" in warnings[0], err
    assert np.allclose(read_exr(tmp_path / "o.1001.exr")[0][0, 0], (0.2, 0.4, 0.6), atol=1e-3)


def test_exr_without_rgb_is_refused_in_one_line(cli: Cli, tmp_path: Path, style: Path) -> None:
    folder = tmp_path / "depth"
    folder.mkdir()
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                 {"Y": np.ones((8, 8), np.float16), "Z": np.ones((8, 8), np.float32)}
                 ).write(str(folder / "d.0001.exr"))
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "o_%04d.exr", *PASS)
    assert code == 2
    line = assert_one_error_line(err)
    assert "R, G and B" in line and "Y, Z" in line


def test_a_plain_render_is_finished_as_exr_without_computing_its_frames_again(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    clip = tmp_path / "clip.mp4"
    run_ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={SIZE[0]}x{SIZE[1]}:rate=24",
               "-frames:v", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip))
    look = ("--quality", "draft", "--iterations", "3", "--workdir", tmp_path / "run")
    code, out, err = cli("render", clip, "-s", style, "-o", tmp_path / "o.mp4", *look)
    assert code == 0 and "2 computed now" in out, err
    code, out, err = cli("render", clip, "-s", style, "-o", tmp_path / "o.%04d.exr", *look)
    assert code == 0 and "0 computed now" in out, err
    painted = read_image(tmp_path / "run" / "frames" / "000002.png")
    finished = read_exr(tmp_path / "o.0002.exr")[0]  # sRGB, as the source: the frame itself
    assert np.abs(finished - painted).max() < 2 / 255
    assert np.abs(painted - read_image(tmp_path / "run" / "content" / "000002.png")).max() > 0.1
    code, out, err = cli("render", clip, "-s", style, "-o", tmp_path / "lin.mov", "--codec",
                         "prores", "--output-colorspace", "Linear Rec.709 (sRGB)", *look)
    assert code == 0 and "0 computed now" in out, err
    code, out, err = cli("render", clip, "-s", style, "-o", tmp_path / "p.mp4", *look)
    assert code == 0 and "0 computed now" in out, err
    code, out, err = cli("render", clip, "-s", style, "-o", tmp_path / "q.mp4",
                         "--iterations", "4", *look[:2], *look[4:])
    assert code != 0 and "--restart" in err  # a setting that paints still refuses


def test_a_plain_and_a_managed_render_share_frames_only_where_their_content_is_the_same(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    """The plain path stores an 8-bit source's resized frames at 8 bits, the managed one at
    16: there a plain render's frames are not a managed render's, and resuming is refused.
    A 16-bit source's content frames are the same bytes either way."""
    wide = (64, 48)
    clip8 = tmp_path / "clip8.mp4"
    run_ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={wide[0]}x{wide[1]}:rate=24",
               "-frames:v", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip8))
    seq16 = tmp_path / "s16"
    seq16.mkdir()
    y, x = np.mgrid[0:wide[1], 0:wide[0]].astype(np.float64)
    for k in (1, 2):
        rgb = np.stack([x / wide[0], y / wide[1], 0.5 + 0.4 * np.sin((x + 3 * y + k) / 5)], 2)
        cv2.imwrite(str(seq16 / f"f.{k:04d}.png"), np.rint(rgb * 65535).astype(np.uint16))
    small = ("--quality", "draft", "--iterations", "2", "--size", "40")
    for source, shared in ((clip8, False), (seq16 / "f.%04d.png", True)):
        name = Path(str(source)).parent.name if shared else "v8"
        run = tmp_path / f"run_{name}"
        code, out, err = cli("render", source, "-s", style, "-o", tmp_path / f"{name}.mp4",
                             "--workdir", run, *small)
        assert code == 0, err
        code, out, err = cli("render", source, "-s", style, "-o", tmp_path / f"{name}.%04d.exr",
                             "--workdir", run, *small)
        if not shared:
            assert code != 0 and "colour differ" in err and "--restart" in err, err
            continue
        assert code == 0 and "0 computed now" in out, err
        fresh = tmp_path / f"fresh_{name}"
        code, out, err = cli("render", source, "-s", style, "-o", tmp_path / f"{name}f.%04d.exr",
                             "--workdir", fresh, *small)
        assert code == 0, err
        for folder in ("content", "frames"):
            assert (run / folder / "000002.png").read_bytes() == (
                fresh / folder / "000002.png").read_bytes()


def test_a_video_tagged_other_than_rec709_is_named_once(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    clip = tmp_path / "hdr.mp4"
    run_ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={SIZE[0]}x{SIZE[1]}:rate=24",
               "-frames:v", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
               "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace",
               "bt2020nc", str(clip))
    code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / "o.mp4", *PASS)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "tagged bt2020" in warnings[0]
    assert "--input-colorspace" in warnings[0]
    code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / "p.mp4",
                       "--input-colorspace", "sRGB Encoded Rec.709 (sRGB)", *PASS)
    assert code == 0 and "warning" not in err, err


# ---- look development -----------------------------------------------------------------------


def png_sequence(folder: Path, first: int = 1001, n: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:SIZE[1], 0:SIZE[0]].astype(np.float32)
    for k in range(n):
        rgb = np.stack([x / SIZE[0], y / SIZE[1], 0.5 + 0.4 * np.sin((x + k) / 3)], axis=2)
        cv2.imwrite(str(folder / f"p.{first + k}.png"),
                    np.rint(rgb[..., ::-1] * 255).astype(np.uint8))
    return folder / "p.%04d.png"


def test_preview_sheet_variants_and_their_render_commands(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    from videostyle.preview import GAP, LABEL_LINE

    source = png_sequence(tmp_path / "src")
    sheet = tmp_path / "look.png"
    look = ("--size", "24", "--iterations", "4")
    code, out, err = cli("preview", source, "-s", style, "--frame", "1002", "-o", sheet,
                         "--vary", "style_weight=0.01,1000", "--vary", "style-scale=0.5,1,2",
                         "--tv-weight", "0", "--chroma-weight", "0", *look)
    assert code == 0, err
    # a note every variant gives, once (it was given six times)
    assert err.count("note: not used at 24x16: the default --start-size 128") == 1, err
    folder = tmp_path / "look.preview"
    images = sorted(folder.glob("*.1002.png"))
    assert len(images) == 6 and len(list(folder.glob("*.videostyle"))) == 6
    tiles = [cv2.imread(str(p))[..., ::-1] for p in images]
    for i, a in enumerate(tiles):
        for b in tiles[i + 1:]:
            assert np.abs(a.astype(int) - b).mean() > 0.5  # every variant looks different
    grid = cv2.imread(str(sheet))[..., ::-1]
    h, w = tiles[0].shape[:2]
    cell_h = h + 2 * LABEL_LINE
    cell_w = (grid.shape[1] - 4 * GAP) // 3
    assert grid.shape[0] == 2 * cell_h + 3 * GAP  # 2 rows (style_weight) x 3 columns
    order = [f"style_weight-{sw}_style_scale-{ss}.1002.png" for sw in (0.01, 1000)
             for ss in ("0.5", 1, 2)]
    for index, name in enumerate(order):
        row, col = divmod(index, 3)
        y, x = GAP + row * (cell_h + GAP), GAP + col * (cell_w + GAP)
        expected = cv2.imread(str(folder / name))[..., ::-1]
        assert np.array_equal(grid[y: y + h, x: x + w], expected)  # the tile in its place
        label = grid[y + h: y + cell_h, x: x + cell_w]
        assert (label < 100).any()  # a label is written under it
    commands = [line.strip() for line in out.splitlines() if line.strip().startswith(
        "videostyle render")]
    assert len(commands) == 6
    assert "--style-weight 1000 --style-scale 2" in commands[-1]
    assert "--tv-weight 0" in commands[-1] and "--size" not in commands[-1]
    # the printed command renders the variant: the same frame, with the preview's size
    argv = commands[-1].split()[1:] + ["--frames", "1002:1002", *look, "-q"]
    argv[argv.index("-o") + 1] = str(tmp_path / "full.%04d.png")
    code, _, err = cli(*argv)
    assert code == 0, err
    full = cv2.imread(str(tmp_path / "full.1002.png"))[..., ::-1]
    assert np.array_equal(full, tiles[images.index(folder / order[-1])])


def test_preview_names_the_variants_of_a_note_not_all_of_them_give() -> None:
    from videostyle.cli.preview import _notes
    from videostyle.preview import Variant

    variants = [Variant((("size", s), ("init", i))) for s in ("24", "48") for i in ("a", "b")]
    notes = [("common", "small"), ("common", "small"), ("common",), ("common", "b", "b")]
    assert _notes(variants, notes) == [
        "common", "size=24 init=a; size=24 init=b: small", "size=48 init=b: b"]


def test_preview_refuses_a_setting_it_cannot_vary(cli: Cli, tmp_path: Path, style: Path) -> None:
    source = png_sequence(tmp_path / "src", n=1)
    code, _, err = cli("preview", source, "-s", style, "--frame", "1001",
                       "--vary", "workdir=a,b", "-o", tmp_path / "s.png")
    assert code == 2
    line = assert_one_error_line(err)
    assert "--vary" in line and "style_weight" in line
    code, _, err = cli("preview", source, "-s", style, "--frame", "1001", "--size", "24",
                       "--vary", "size=16,24", "-o", tmp_path / "s.png")
    assert code == 2 and "--size" in assert_one_error_line(err)


def test_preview_checks_every_variant_before_the_first_renders(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    """A variant that cannot render is refused before any variant is rendered."""
    source = png_sequence(tmp_path / "src", n=1)
    code, _, err = cli("preview", source, "-s", style, "--frame", "1001", "--size", "24",
                       "--iterations", "1", "--vary", "start_size=0,24", "-o",
                       tmp_path / "s.png")
    assert code == 2, err
    assert "--start-size 24 has no effect at an output size of 24" in \
        assert_one_error_line(err)
    assert list((tmp_path / "s.preview").glob("*.png")) == []  # the first variant too


def _with_dpx_headers(path: Path, rate: float, timecode: int) -> None:
    """Give an ffmpeg-written DPX (generic and image headers only) the film and
    television headers, with a frame rate and a packed-BCD timecode (SMPTE 268M)."""
    import struct

    data = bytearray(path.read_bytes())
    order = "<" if data[:4] == b"XPDS" else ">"
    assert struct.unpack_from(order + "I", data, 4)[0] == 1664  # the pixels follow
    extra = bytearray(b"\xff" * 384)  # undefined, as the standard fills them
    struct.pack_into(order + "f", extra, 1724 - 1664, rate)
    struct.pack_into(order + "I", extra, 1920 - 1664, timecode)
    data[1664:1664] = extra
    for offset, value in ((4, 2048), (16, len(data)), (28, 384), (808, 2048)):
        struct.pack_into(order + "I", data, offset, value)  # pixels, size, industry size
    path.write_bytes(bytes(data))


def test_a_dpx_headers_rate_and_timecode_reach_the_video(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    from videostyle.video import probe

    folder = tmp_path / "dpx"
    folder.mkdir()
    run_ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={SIZE[0]}x{SIZE[1]}:rate=25",
               "-frames:v", "3", "-c:v", "dpx", "-pix_fmt", "gbrp10le", "-start_number", "1001",
               str(folder / "d.%04d.dpx"))
    for k, file in enumerate(sorted(folder.glob("*.dpx"))):
        _with_dpx_headers(file, 25.0, 0x10000000 + k)  # 10:00:00:0k
    code, _, err = cli("render", folder / "d.%04d.dpx", "-s", style, "-o", tmp_path / "o.mov",
                       "--codec", "prores", "--frames", "1002:1003", *PASS)
    assert code == 0, err
    assert probe(tmp_path / "o.mov").fps == 25
    assert _timecode(tmp_path / "o.mov") == "10:00:00:01"
    code, _, err = cli("render", folder / "d.%04d.dpx", "-s", style, "-o", tmp_path / "p.mov",
                       "--codec", "prores", "--fps", "24", *PASS)  # what is typed wins
    assert code == 0, err
    assert probe(tmp_path / "p.mov").fps == 24


def test_dpx_timing_reads_the_tv_header_and_drop_frame_despite_flag_bits(
    tmp_path: Path
) -> None:
    import struct

    from videostyle.video.dpx import dpx_timing

    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=24x16:rate=30", "-frames:v", "1", "-c:v",
               "dpx", str(tmp_path / "d.dpx"))
    path = tmp_path / "d.dpx"
    _with_dpx_headers(path, float("nan"), 0x81592969 | 0x00800000)  # 01:59:29;29
    data = bytearray(path.read_bytes())
    order = "<" if data[:4] == b"XPDS" else ">"
    struct.pack_into(order + "f", data, 1940, 29.97)  # the television header's rate
    path.write_bytes(bytes(data))
    assert dpx_timing(path) == (Fraction(30000, 1001), "01:59:29;29")
    struct.pack_into(order + "I", data, 28, 0)  # no industry headers: nothing is read
    path.write_bytes(bytes(data))
    assert dpx_timing(path) == (None, None)


def test_scaled_exr_windows_that_were_equal_stay_equal() -> None:
    from videostyle.video.exr import ExrLayout

    window = (13, 0, 1930, 1079)
    layout = ExrLayout(width=1918, height=1080, prefix="", pixel_type="half",
                       compression="zip", has_alpha=False, data_window=window,
                       display_window=window)
    geometry = layout.geometry_at(959, 540)
    boxes = [tuple(int(v) for part in geometry[k] for v in part)
             for k in ("dataWindow", "displayWindow")]
    assert boxes[0] == boxes[1] == (6, 0, 964, 539)


def test_a_10bit_dpx_sequence_keeps_its_levels(cli: Cli, tmp_path: Path, style: Path) -> None:
    folder = tmp_path / "dpx"
    folder.mkdir()
    run_ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={SIZE[0]}x{SIZE[1]}:rate=24",
               "-frames:v", "2", "-c:v", "dpx", "-pix_fmt", "gbrp10le", "-start_number", "1001",
               str(folder / "d.%04d.dpx"))
    code, _, err = cli("render", folder / "d.%04d.dpx", "-s", style, "-o",
                       tmp_path / "o.%04d.png", "--bit-depth", "16", *PASS)
    assert code == 0, err
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(folder / "d.1002.dpx"), "-f",
                          "rawvideo", "-pix_fmt", "gbrp10le", "-"], capture_output=True,
                         check=True).stdout
    g, b, r = np.frombuffer(raw, "<u2").reshape(3, SIZE[1], SIZE[0])
    out = cv2.imread(str(tmp_path / "o.1002.png"), cv2.IMREAD_UNCHANGED)  # BGR, 16 bit
    levels = out.astype(np.float64) / 65535 * 1023
    assert np.abs(levels - np.stack([b, g, r], axis=2)).max() < 0.05  # no 10-bit level lost
    assert len(np.unique(r)) > 64 and not np.all(r % 4 == 0)  # really 10-bit content


def test_exr_timecode_carries_to_exr_frames_and_to_a_video(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    from videostyle.video.exr import timecode_attribute

    folder = plates(tmp_path / "plate", n=4)
    for k, file in enumerate(sorted(folder.glob("*.exr"))):  # 10:00:00:00 at frame 1001
        rgb, alpha, _ = read_exr(file)
        write_exr(file, rgb, alpha, prefix="beauty.", attributes={
            "timeCode": timecode_attribute(f"10:00:00:{k:02d}")})
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "o.%04d.exr",
                       "--frames", "1002:1004", *PASS)
    assert code == 0, err
    assert str(header(tmp_path / "o.1004.exr")["timeCode"].frame) == "3"
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "p.mov", "--codec",
                       "prores4444", "--frames", "1003:1004", "--output-colorspace",
                       "sRGB Encoded Rec.709 (sRGB)", *PASS)
    assert code == 0, err
    assert _timecode(tmp_path / "p.mov") == "10:00:00:02"


def test_png_alpha_written_into_an_exr_is_scaled_to_one_and_premultiplies(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    source = rgba_sequence(tmp_path / "src", n=1)
    code, _, err = cli("render", source, "-s", style, "-o", tmp_path / "o.%04d.exr", *PASS)
    assert code == 0, err
    rgb, alpha, lay = read_exr(tmp_path / "o.0001.exr")
    src = cv2.imread(str(tmp_path / "src" / "f_0001.png"), cv2.IMREAD_UNCHANGED)
    assert lay.pixel_type == "half" and alpha is not None
    assert np.allclose(alpha, src[..., 3] / 255.0, atol=1e-3)
    # sRGB in, sRGB out; a PNG's straight colour premultiplied, as an EXR stores it
    assert np.allclose(rgb, src[..., 2::-1] / 255.0 * alpha[..., None], atol=2e-3)


def test_a_linear_plate_into_png_says_which_colour_space_it_holds(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    folder = plates(tmp_path / "plate", n=1)
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "o.%04d.png", *PASS)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "ACEScg" in warnings[0] and "--output-colorspace" in warnings[0]
    rgb, alpha, _ = read_exr(folder / "plate.1001.exr")
    out = cv2.imread(str(tmp_path / "o.1001.png"))[..., ::-1] / 255.0
    straight = np.where(alpha[..., None] > 0, rgb / np.maximum(alpha, 1e-12)[..., None], rgb)
    assert np.abs(out - np.clip(straight, 0, 1)).max() <= 0.5 / 255 + 2e-3  # ACEScg, clipped


def test_a_premultiplied_exr_into_png_is_written_straight(
    cli: Cli, tmp_path: Path, style: Path
) -> None:
    """A PNG stores straight colour: where the plate is half covered its colour is the
    plate's straight one, not darkened by the alpha; the alpha is the plate's."""
    folder = tmp_path / "plate"
    y, x = np.mgrid[0:SIZE[1], 0:SIZE[0]].astype(np.float32)
    alpha = np.where(x < 12, 1.0, 0.5).astype(np.float32)
    straight = np.stack([0.1 + x / 30, 0.05 + y / 20, 0.3 + 0 * x], axis=2)
    write_exr(folder / "p.0001.exr", straight * alpha[..., None], alpha, pixel_type="float")
    code, _, err = cli("render", folder, "-s", style, "-o", tmp_path / "o.%04d.png", *PASS)
    assert code == 0, err
    out = cv2.imread(str(tmp_path / "o.0001.png"), cv2.IMREAD_UNCHANGED)
    assert np.abs(out[..., 3] / 255.0 - alpha).max() <= 0.5 / 255 + 1e-6
    assert np.abs(out[..., 2::-1] / 255.0 - straight).max() <= 0.5 / 255 + 1e-3


def test_a_prores4444_source_keeps_its_alpha(cli: Cli, tmp_path: Path, style: Path) -> None:
    source = rgba_sequence(tmp_path / "src")
    clip = tmp_path / "in.mov"
    run_ffmpeg("-framerate", "24", "-i", str(source), "-c:v", "prores_ks", "-profile:v", "4",
               "-pix_fmt", "yuva444p10le", "-alpha_bits", "16", str(clip))
    alpha_in = decode_rgba(clip)[..., 3]
    assert alpha_in.std() > 50  # the random alpha made it into the source
    code, _, err = cli("render", clip, "-s", style, "-o", tmp_path / "o.%04d.png", *PASS)
    assert code == 0, err
    for k in (1, 3):
        out = cv2.imread(str(tmp_path / f"o.{k:04d}.png"), cv2.IMREAD_UNCHANGED)
        assert out.shape[2] == 4
        assert np.abs(out[..., 3].astype(int) - alpha_in[k - 1]).max() <= 1
