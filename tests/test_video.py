"""Tests of videostyle.video: probing, decoding, image I/O and encoding with ffmpeg.

Clips are tiny (48x36, up to 30 frames) and made with the bundled ffmpeg, so the whole
file runs in seconds.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from videostyle import video
from videostyle.errors import InputError, VideoError

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SAMPLE_RATE = 48000
BURST_AT = 0.5  # seconds: start of the 1 kHz tone burst in generated clips
N_FRAMES = 30
RATES = [Fraction(24000, 1001), Fraction(25), Fraction(30000, 1001), Fraction(15000, 1001)]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def run_ffmpeg(*args: str) -> None:
    subprocess.run(
        [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def make_clip(
    path: Path,
    fps: Fraction,
    n_frames: int = N_FRAMES,
    size: tuple[int, int] = (48, 36),
    audio: bool = True,
) -> Path:
    """H.264 mp4 test clip; audio is silence with a 1 kHz burst at BURST_AT seconds."""
    rate = f"{fps.numerator}/{fps.denominator}"
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size[0]}x{size[1]}:rate={rate}"]
    if audio:
        seconds = float(n_frames / fps) + 0.5
        tone = (
            f"aevalsrc='if(between(t,{BURST_AT},{BURST_AT + 0.1}),0.8*sin(2*PI*1000*t),0)'"
            f":s={SAMPLE_RATE}:d={seconds:.3f}"
        )
        args += ["-f", "lavfi", "-i", tone, "-c:a", "aac"]
    args += ["-frames:v", str(n_frames), "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    run_ffmpeg(*args)
    return path


def decode_audio(path: Path) -> np.ndarray:
    """First audio stream of ``path`` as mono float samples at SAMPLE_RATE."""
    done = subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1",
         "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"],
        check=True, capture_output=True,
    )  # fmt: skip
    return np.frombuffer(done.stdout, dtype="<i2").astype(np.float32) / 32768.0


def onset_seconds(samples: np.ndarray) -> float:
    level = np.abs(samples)
    assert level.max() > 0.2, "no tone burst in the audio"
    return float(np.argmax(level > 0.25 * level.max())) / SAMPLE_RATE


def ffmpeg_summary(path: Path) -> str:
    done = subprocess.run(
        [FFMPEG, "-nostdin", "-hide_banner", "-i", str(path)], capture_output=True, check=False
    )
    return done.stderr.decode("utf-8", "replace")


def ffmpeg_children() -> list[int]:
    """Live child processes of this test process that run the ffmpeg binary."""
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read().decode()
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().decode("utf-8", "replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # state, ppid, ...
        if fields[1] == me and FFMPEG in cmdline:
            found.append(int(entry))
    return found


def write_frames(folder: Path, frames: list[np.ndarray], bit_depth: int = 8) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, frame in enumerate(frames, start=1):
        path = folder / f"frame_{number:04d}.png"
        video.write_image(path, frame, bit_depth=bit_depth)
        paths.append(path)
    return paths


def smooth_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    """Smooth, moving colour gradients (compress well, decode close to the original)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for k in range(n):
        r = 0.5 + 0.4 * np.sin(x / width * 3.0 + k * 0.3)
        g = 0.5 + 0.4 * np.cos(y / height * 2.5 - k * 0.2)
        b = np.full_like(r, 0.2 + 0.6 * k / max(1, n - 1))
        frames.append(np.stack([r, g, b], axis=2).astype(np.float32))
    return frames


@pytest.fixture
def no_leaked_ffmpeg() -> Iterator[None]:
    assert ffmpeg_children() == []
    yield
    assert ffmpeg_children() == []


# --------------------------------------------------------------------------------------
# round trips with exact rates and audio
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fps", RATES, ids=lambda r: f"{r.numerator}_{r.denominator}")
def test_round_trip_exact_rate_frames_and_audio(
    tmp_path: Path, fps: Fraction, no_leaked_ffmpeg: None
) -> None:
    source = make_clip(tmp_path / "source.mp4", fps)
    info = video.probe(source)
    assert info.kind == "video"
    assert info.fps == fps and isinstance(info.fps, Fraction)
    assert info.n_frames == N_FRAMES
    assert (info.width, info.height) == (48, 36)
    assert info.has_audio and info.bit_depth == 8
    assert len(info.fingerprint) == 64

    decoded = list(video.read_frames(info))
    assert [n for n, _ in decoded] == list(range(1, N_FRAMES + 1))
    for _, frame in decoded:
        assert frame.dtype == np.float32 and frame.shape == (36, 48, 3)
        assert 0.0 <= frame.min() and frame.max() <= 1.0
    frames = write_frames(tmp_path / "frames", [f for _, f in decoded])

    output = tmp_path / "out" / "render.mp4"
    video.encode_video(frames, output, fps=fps, codec="h264", audio_source=source)
    assert sorted(p.name for p in output.parent.iterdir()) == ["render.mp4"]

    out = video.probe(output)
    assert out.fps == fps
    assert out.n_frames == N_FRAMES
    assert (out.width, out.height) == (48, 36)
    assert out.has_audio

    samples = decode_audio(output)
    video_seconds = N_FRAMES / float(fps)
    assert abs(len(samples) / SAMPLE_RATE - video_seconds) <= 1 / float(fps)
    assert abs(onset_seconds(samples) - BURST_AT) <= 0.01

    again = [f for _, f in video.read_frames(out)]
    assert len(again) == N_FRAMES
    error = np.mean([np.abs(a - f).mean() for a, (_, f) in zip(again, decoded, strict=True)])
    assert error < 0.03


def test_trimmed_render_shifts_audio(tmp_path: Path, no_leaked_ffmpeg: None) -> None:
    fps = Fraction(30000, 1001)
    source = make_clip(tmp_path / "source.mp4", fps)
    info = video.probe(source)
    full = [f for _, f in video.read_frames(info)]
    part = list(video.read_frames(info, start=6))
    assert [n for n, _ in part] == list(range(6, N_FRAMES + 1))
    assert np.array_equal(part[0][1], full[5])
    assert np.array_equal(part[-1][1], full[-1])
    assert [n for n, _ in video.read_frames(info, start=3, end=4)] == [3, 4]
    ((_, small),) = list(video.read_frames(info, start=7, end=7, size=(24, 18)))
    assert small.shape == (18, 24, 3) and small.dtype == np.float32
    assert np.allclose(small, cv2.resize(full[6], (24, 18), interpolation=cv2.INTER_AREA))
    assert video.probe(source, fps=Fraction(10)).fps == fps  # a video keeps its own rate

    frames = write_frames(tmp_path / "frames", [f for _, f in part])
    output = tmp_path / "trimmed.mp4"
    video.encode_video(frames, output, fps=fps, audio_source=source, audio_start=float(5 / fps))
    out = video.probe(output)
    assert out.n_frames == N_FRAMES - 5 and out.fps == fps
    samples = decode_audio(output)
    assert abs(len(samples) / SAMPLE_RATE - (N_FRAMES - 5) / float(fps)) <= 1 / float(fps)
    assert abs(onset_seconds(samples) - (BURST_AT - 5 / float(fps))) <= 0.01


def test_audio_shorter_than_video_is_padded_not_cutting_frames(tmp_path: Path) -> None:
    fps = Fraction(25)
    source = make_clip(tmp_path / "source.mp4", fps)
    frames = write_frames(tmp_path / "frames", smooth_frames(N_FRAMES, 48, 36))
    output = tmp_path / "short_audio.mp4"
    video.encode_video(frames, output, fps=fps, audio_source=source, audio_duration=0.4)
    out = video.probe(output)
    assert out.n_frames == N_FRAMES and out.has_audio
    samples = decode_audio(output)
    assert abs(len(samples) / SAMPLE_RATE - N_FRAMES / 25) <= 1 / 25
    # the tone at 0.5 s lies outside the 0.4 s taken: only (padded) silence remains
    assert np.abs(samples).max() < 0.05


def test_audio_source_without_audio_gives_silent_video(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "mute.mp4", Fraction(25), n_frames=5, audio=False)
    assert not video.probe(source).has_audio
    frames = write_frames(tmp_path / "frames", smooth_frames(5, 48, 36))
    output = tmp_path / "mute_out.mp4"
    video.encode_video(frames, output, fps=Fraction(25), audio_source=source)
    out = video.probe(output)
    assert out.n_frames == 5 and not out.has_audio


# --------------------------------------------------------------------------------------
# codecs and sizes
# --------------------------------------------------------------------------------------


def test_h264_and_prores_keep_colours(tmp_path: Path) -> None:
    colours = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.2, 0.5, 0.8)]
    solid = [np.full((16, 16, 3), c, np.float32) for c in colours]
    frames = write_frames(tmp_path / "frames", solid)
    for codec, name in (("h264", "c.mp4"), ("prores", "c.mov")):
        video.encode_video(frames, tmp_path / name, fps=Fraction(25), codec=codec)
        decoded = [f for _, f in video.read_frames(video.probe(tmp_path / name))]
        for frame, colour in zip(decoded, colours, strict=True):
            assert np.abs(frame[8, 8] - np.array(colour)).max() < 0.015, (codec, colour)


def test_rotated_video_reports_display_size(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "s.mp4", Fraction(25), n_frames=4, audio=False)
    rotated = tmp_path / "rotated.mp4"
    run_ffmpeg("-display_rotation", "90", "-i", str(source), "-c", "copy", str(rotated))
    info = video.probe(rotated)
    assert (info.width, info.height, info.n_frames) == (36, 48, 4)
    frames = [f for _, f in video.read_frames(info)]
    assert len(frames) == 4 and frames[0].shape == (48, 36, 3)


def test_variable_rate_video_gets_mean_rate_and_warning(tmp_path: Path) -> None:
    vfr = tmp_path / "vfr.mp4"
    # frames 0..9 at 25 fps, then every other 25 fps slot
    run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=48x36:rate=25", "-frames:v", "20",
        "-vf", "setpts='(N+if(gt(N,9),N-9,0))/25/TB'", "-fps_mode", "passthrough",
        "-c:v", "libx264", str(vfr),
    )  # fmt: skip
    info = video.probe(vfr)
    assert "variable frame rate" in info.notes[0]  # the commands print it as a note
    assert info.n_frames == 20
    assert 16 < float(info.fps) < 19  # 20 frames over 30 slots of 1/25 s
    assert len(list(video.read_frames(info))) == 20


def test_awkward_file_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "a:b"
    folder.mkdir()
    make_clip(folder / "-clip.mp4", Fraction(25), n_frames=3)
    monkeypatch.chdir(tmp_path)
    source = Path("a:b") / "-clip.mp4"  # relative: looks like a protocol to ffmpeg
    info = video.probe(source)
    assert info.n_frames == 3 and info.has_audio
    frames = write_frames(Path("a:b") / "frames", [f for _, f in video.read_frames(info)])
    frames = [frame.absolute() for frame in frames]
    monkeypatch.chdir(folder)
    output = Path("-out.mp4")  # relative: looks like an option to ffmpeg
    video.encode_video(frames, output, fps=info.fps, audio_source=Path("-clip.mp4"))
    assert video.probe(output).n_frames == 3


def test_odd_size_h264_is_padded_with_edge_pixels(tmp_path: Path) -> None:
    originals = smooth_frames(10, 47, 33)
    frames = write_frames(tmp_path / "frames", originals)
    output = tmp_path / "odd.mp4"
    video.encode_video(frames, output, fps=Fraction(30000, 1001), codec="h264")
    info = video.probe(output)
    assert (info.width, info.height) == (48, 34)
    assert info.n_frames == 10 and info.fps == Fraction(30000, 1001)
    decoded = [f for _, f in video.read_frames(info)]
    for frame, original in zip(decoded, originals, strict=True):
        assert np.abs(frame[:33, :47] - original).mean() < 0.02
        # the added column / row repeat the edge instead of being black
        assert np.abs(frame[:33, 47] - original[:, 46]).mean() < 0.04
        assert np.abs(frame[33, :47] - original[32, :]).mean() < 0.04


def test_odd_size_ffv1_is_lossless_and_rate_exact_in_mkv(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    levels = [rng.integers(0, 256, size=(33, 47, 3), dtype=np.uint8) for _ in range(6)]
    frames = write_frames(tmp_path / "frames", [lv.astype(np.float32) / 255 for lv in levels])
    for name in ("lossless.mkv", "lossless.mov"):
        output = tmp_path / name
        video.encode_video(frames, output, fps=Fraction(30000, 1001), codec="ffv1")
        info = video.probe(output)
        assert (info.width, info.height, info.n_frames) == (47, 33, 6)
        assert info.fps == Fraction(30000, 1001)  # Matroska stores milliseconds
        assert info.bit_depth == 8
        decoded = [f for _, f in video.read_frames(info)]
        for frame, expected in zip(decoded, levels, strict=True):
            assert np.array_equal(np.rint(frame * 255).astype(np.uint8), expected)


def test_prores_mov_and_not_mp4(tmp_path: Path) -> None:
    frames = write_frames(tmp_path / "frames", smooth_frames(5, 48, 36))
    output = tmp_path / "master.mov"
    video.encode_video(frames, output, fps=Fraction(24000, 1001), codec="prores")
    info = video.probe(output)
    assert info.n_frames == 5 and info.fps == Fraction(24000, 1001)
    assert info.bit_depth == 16  # 10-bit 4:2:2 is read at 16 bits
    summary = ffmpeg_summary(output)
    assert "prores" in summary and "yuv422p10le" in summary
    decoded = [f for _, f in video.read_frames(info)]
    assert np.abs(decoded[2] - smooth_frames(5, 48, 36)[2]).mean() < 0.01

    with pytest.raises(InputError, match=r"\.mov"):
        video.encode_video(frames, tmp_path / "master.mp4", fps=Fraction(24), codec="prores")
    assert not (tmp_path / "master.mp4").exists()


def test_unknown_codec_and_bad_encode_arguments(tmp_path: Path) -> None:
    frames = write_frames(tmp_path / "frames", smooth_frames(2, 8, 8))
    with pytest.raises(InputError, match="h264, prores, ffv1"):
        video.encode_video(frames, tmp_path / "x.mp4", fps=Fraction(25), codec="vp9")
    with pytest.raises(InputError):
        video.encode_video(frames, tmp_path / "x.avi", fps=Fraction(25))
    with pytest.raises(InputError):
        video.encode_video([], tmp_path / "x.mp4", fps=Fraction(25))
    with pytest.raises(InputError, match="missing"):
        video.encode_video(frames + [tmp_path / "nope.png"], tmp_path / "x.mp4", fps=Fraction(25))
    with pytest.raises(InputError):
        video.encode_video(frames, tmp_path / "x.mp4", fps=Fraction(0))
    other = tmp_path / "big.png"
    video.write_image(other, np.zeros((10, 10, 3), np.float32))
    with pytest.raises(InputError, match="10x10"):
        video.encode_video(frames + [other], tmp_path / "x.mp4", fps=Fraction(25))
    assert not (tmp_path / "x.mp4").exists()


# --------------------------------------------------------------------------------------
# image sequences and 16-bit
# --------------------------------------------------------------------------------------


def gradient16(k: int, width: int = 512, height: int = 4) -> np.ndarray:
    """Smooth 16-bit horizontal gradient (width distinct levels), shifted by frame ``k``."""
    ramp = (np.arange(width, dtype=np.float64) / (width - 1)) * 0.8 + 0.01 * k
    image = np.repeat(ramp[None, :, None], 3, axis=2).repeat(height, axis=0)
    image[..., 1] = 1.0 - image[..., 1]
    return image.astype(np.float32)


def test_sixteen_bit_sequence_directory_sorting_and_pattern(tmp_path: Path) -> None:
    folder = tmp_path / "seq"
    for k in range(1, 13):  # frame_1 .. frame_12: numeric, not lexical, order
        video.write_image(folder / f"frame_{k}.png", gradient16(k), bit_depth=16)
    stored = cv2.imread(str(folder / "frame_1.png"), cv2.IMREAD_UNCHANGED)
    assert stored is not None and stored.dtype == np.uint16
    (folder / "notes.txt").write_text("not a frame")

    assert [p.name for p in video.list_sequence(folder)][8:10] == ["frame_9.png", "frame_10.png"]
    info = video.probe(folder)
    assert info.kind == "sequence" and info.n_frames == 12
    assert (info.width, info.height, info.bit_depth) == (512, 4, 16)
    assert info.fps == Fraction(24) and not info.has_audio
    assert video.probe(folder, fps=Fraction(30000, 1001)).fps == Fraction(30000, 1001)
    assert video.probe(folder).fingerprint == info.fingerprint

    decoded = list(video.read_frames(info))
    assert [n for n, _ in decoded] == list(range(1, 13))
    for number, frame in decoded:
        assert np.abs(frame - gradient16(number)).max() <= 1 / 65535 + 1e-6
    levels = np.unique(np.rint(decoded[8][1][..., 0] * 65535))
    assert len(levels) > 256

    out = tmp_path / "roundtrip16.png"
    video.write_image(out, decoded[8][1], bit_depth=16)
    back = video.read_image(out)
    assert len(np.unique(back[..., 0])) > 256
    assert np.abs(back - decoded[8][1]).max() <= 1 / 65535 + 1e-6

    pattern = str(tmp_path / "shots" / "shot_%04d.png")
    assert video.is_sequence_pattern(pattern)
    video.write_sequence(video.list_sequence(folder), pattern, bit_depth=16)
    names = sorted(p.name for p in (tmp_path / "shots").iterdir())
    assert names == [f"shot_{k:04d}.png" for k in range(1, 13)]
    by_pattern = video.probe(pattern)
    assert by_pattern.kind == "sequence" and by_pattern.n_frames == 12
    assert by_pattern.bit_depth == 16
    middle = list(video.read_frames(by_pattern, start=10, end=11))
    assert [n for n, _ in middle] == [10, 11]
    assert np.abs(middle[0][1] - gradient16(10)).max() <= 1 / 65535 + 1e-6

    half = list(video.read_frames(by_pattern, start=12, size=(256, 2)))
    assert half[0][1].shape == (2, 256, 3)


def test_sixteen_bit_ffv1_keeps_all_levels(tmp_path: Path) -> None:
    frames = [gradient16(k) for k in range(1, 4)]
    paths = write_frames(tmp_path / "frames", frames, bit_depth=16)
    output = tmp_path / "deep.mkv"
    video.encode_video(paths, output, fps=Fraction(25), codec="ffv1")
    info = video.probe(output)
    assert info.bit_depth == 16 and info.n_frames == 3 and info.fps == 25
    decoded = [f for _, f in video.read_frames(info)]
    assert len(np.unique(decoded[0][..., 0])) > 256
    for frame, original in zip(decoded, frames, strict=True):
        assert np.abs(frame - original).max() <= 1 / 65535 + 1e-6


def test_write_sequence_eight_bit_and_still_image(tmp_path: Path) -> None:
    frames = write_frames(tmp_path / "frames", smooth_frames(3, 20, 10))
    pattern = str(tmp_path / "out" / "out_%04d.png")
    video.write_sequence(frames, pattern)
    assert (tmp_path / "out" / "out_0001.png").read_bytes() == frames[0].read_bytes()
    still = video.probe(frames[1])
    assert still.kind == "sequence" and still.n_frames == 1
    (_, only), *_ = list(video.read_frames(still))
    assert np.abs(only - smooth_frames(3, 20, 10)[1]).max() <= 0.5 / 255 + 1e-6


def test_is_sequence_pattern() -> None:
    assert video.is_sequence_pattern("shot_%04d.png")
    assert video.is_sequence_pattern("dir/f%d.tif")
    assert not video.is_sequence_pattern("shot_0001.png")
    assert not video.is_sequence_pattern("a%04d_%04d.png")
    assert not video.is_sequence_pattern("100%%.png")
    assert not video.is_sequence_pattern("shot_%s.png")


# --------------------------------------------------------------------------------------
# images and sizes
# --------------------------------------------------------------------------------------


def test_read_image_gray_rgba_and_depths(tmp_path: Path) -> None:
    gray = np.arange(0, 256, dtype=np.uint8).reshape(16, 16)
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    image = video.read_image(tmp_path / "gray.png")
    assert image.shape == (16, 16, 3) and image.dtype == np.float32
    assert image[0, 1, 0] == pytest.approx(1 / 255) and image.max() == 1.0

    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., 2] = 255  # red in OpenCV's BGRA order
    bgra[..., 3] = 128
    cv2.imwrite(str(tmp_path / "rgba.png"), bgra)
    rgba = video.read_image(tmp_path / "rgba.png")
    assert rgba.shape == (4, 5, 3)
    assert np.allclose(rgba[0, 0], [1.0, 0.0, 0.0])

    deep = (np.linspace(0, 65535, 1000).astype(np.uint16)).reshape(10, 100)
    cv2.imwrite(str(tmp_path / "deep.tif"), deep)
    assert len(np.unique(video.read_image(tmp_path / "deep.tif"))) == 1000

    video.write_image(tmp_path / "photo.jpg", image)
    assert video.read_image(tmp_path / "photo.jpg").shape == (16, 16, 3)


def test_write_image_is_atomic_and_rounds(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "img.png"
    image = np.array([[[0.0, 0.5, 1.0], [-1.0, 2.0, np.nan]]], dtype=np.float32)
    video.write_image(target, image)
    video.write_image(target, image)  # overwrite in place
    assert sorted(p.name for p in target.parent.iterdir()) == ["img.png"]
    raw = cv2.imread(str(target), cv2.IMREAD_UNCHANGED)
    assert raw is not None
    assert raw[..., ::-1].tolist() == [[[0, 128, 255], [0, 255, 0]]]
    with pytest.raises(InputError):
        video.write_image(tmp_path / "img.bmp", image)
    with pytest.raises(InputError):
        video.write_image(tmp_path / "img.png", image, bit_depth=12)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_write_image_unwritable_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(InputError, match="writable"):
            video.write_image(locked / "x.png", np.zeros((2, 2, 3), np.float32))
    finally:
        locked.chmod(0o700)


def test_write_image_folder_that_cannot_exist(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="writable"):
        video.write_image(blocker / "x.png", np.zeros((2, 2, 3), np.float32))
    frames = write_frames(tmp_path / "frames", smooth_frames(2, 8, 8))
    with pytest.raises(InputError, match="writable"):
        video.encode_video(frames, blocker / "x.mp4", fps=Fraction(25))


def test_fit_size() -> None:
    assert video.fit_size(1920, 1080, None) == (1920, 1080)
    assert video.fit_size(1920, 1080, 512) == (512, 288)
    assert video.fit_size(1080, 1920, 512) == (288, 512)
    assert video.fit_size(47, 33, 94) == (94, 66)
    assert video.fit_size(1000, 1, 10) == (10, 1)
    with pytest.raises(InputError):
        video.fit_size(10, 10, 0)


def test_parse_fps() -> None:
    assert video.parse_fps("30000/1001") == Fraction(30000, 1001)
    assert video.parse_fps("29.97") == Fraction(30000, 1001)
    assert video.parse_fps("23.976") == Fraction(24000, 1001)
    assert video.parse_fps(25) == Fraction(25)
    assert video.parse_fps("12.5") == Fraction(25, 2)
    for bad in ("fast", "-1", "0", "1/0"):
        with pytest.raises(InputError):
            video.parse_fps(bad)


# --------------------------------------------------------------------------------------
# bad inputs
# --------------------------------------------------------------------------------------


def test_bad_sources_raise_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        video.probe(tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError, match="cannot read"):
        video.probe(text)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        video.probe(empty)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(InputError, match="found none"):
        video.probe(tmp_path / "nothing")
    with pytest.raises(InputError, match="found none"):
        video.probe(tmp_path / "shot_%04d.png")
    with pytest.raises(InputError):
        video.probe(tmp_path / "no_such_dir" / "shot_%04d.png")
    with pytest.raises(InputError):
        video.read_image(tmp_path / "missing.png")
    with pytest.raises(InputError):
        video.read_image(text)

    tone = tmp_path / "tone.wav"
    run_ffmpeg("-f", "lavfi", "-i", "sine=d=0.2", str(tone))
    with pytest.raises(InputError, match="no video stream"):
        video.probe(tone)


def test_zero_frame_video_and_bad_ranges(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "source.mp4", Fraction(25), n_frames=5, audio=False)
    zero = tmp_path / "zero.mp4"
    run_ffmpeg("-i", str(source), "-map", "0:v", "-c", "copy", "-frames:v", "0", str(zero))
    with pytest.raises(InputError):
        video.probe(zero)

    info = video.probe(source)
    for start, end in ((0, 3), (4, 3), (1, 6), (6, None)):
        with pytest.raises(InputError, match="1..5"):
            list(video.read_frames(info, start=start, end=end))


# --------------------------------------------------------------------------------------
# process hygiene
# --------------------------------------------------------------------------------------


def test_closing_frame_generator_early_leaves_no_ffmpeg(
    tmp_path: Path, no_leaked_ffmpeg: None
) -> None:
    source = make_clip(tmp_path / "big.mp4", Fraction(25), size=(160, 120), audio=False)
    info = video.probe(source)
    frames = video.read_frames(info)
    for number, _ in frames:
        assert ffmpeg_children() != []  # decoder still streaming (pipe is full)
        if number == 2:
            break
    frames.close()
    assert ffmpeg_children() == []


def test_failed_encode_raises_video_error_and_cleans_up(
    tmp_path: Path, no_leaked_ffmpeg: None
) -> None:
    frames = write_frames(tmp_path / "frames", smooth_frames(6, 48, 36))
    data = frames[3].read_bytes()
    frames[3].write_bytes(data[:40] + b"\0" * 200)  # valid PNG header, corrupt body
    out_dir = tmp_path / "out"
    with pytest.raises(VideoError, match="ffmpeg"):
        video.encode_video(frames, out_dir / "broken.mp4", fps=Fraction(25))
    assert list(out_dir.iterdir()) == []


def test_interrupted_encode_kills_ffmpeg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_leaked_ffmpeg: None
) -> None:
    frames = write_frames(tmp_path / "frames", smooth_frames(6, 48, 36))
    seen: list[list[int]] = []

    def interrupted_wait(proc: subprocess.Popen[bytes]) -> int:
        seen.append(ffmpeg_children())
        raise KeyboardInterrupt

    monkeypatch.setattr(video.ffmpeg, "_wait_process", interrupted_wait)
    out_dir = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        video.encode_video(frames, out_dir / "stopped.mp4", fps=Fraction(25))
    assert seen and seen[0] != []
    assert list(out_dir.iterdir()) == []
