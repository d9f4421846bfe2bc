"""Writing outputs: encoding frame files into a video (with audio), or an image sequence.

A video is written under a temporary name in its folder, read back, and renamed only
when it holds every frame; every ffmpeg process is reaped, also on errors and
``KeyboardInterrupt``.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from videostyle import faults
from videostyle.atomic import disk_full, free_bytes, fsync_folder, write_bytes
from videostyle.errors import InputError, VideoError

from .ffmpeg import _ff_path, _run_to_end, ffmpeg_exe
from .images import IMAGE_SUFFIXES, _imread_raw, _png_header, read_image, write_image
from .outputs import _CONTAINERS, CODECS
from .probe import _probe_video
from .rates import parse_fps
from .sequences import is_sequence_pattern
from .streams import _deep_audio, _first_audio

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoTags:
    """How a video file says its pictures are shown: colour primaries and transfer in
    ffmpeg's names (None leaves one unspecified) and the pixels' aspect ratio."""

    primaries: str | None = "bt709"
    transfer: str | None = "bt709"
    pixel_aspect: Fraction = Fraction(1)


def write_sequence(
    frames: Sequence[Path], pattern: str, *, bit_depth: int = 8, start: int = 1
) -> None:
    """Write ``frames`` as an image sequence named by ``pattern``, numbered from ``start``.

    ``pattern`` is a printf pattern such as ``out/shot_%04d.png`` (PNG or TIFF). A PNG
    frame already at ``bit_depth`` is copied byte for byte; others are re-encoded. Each
    file is written atomically; the folder is created when missing. Existing files with
    higher numbers are left alone.

    Raises:
        InputError: not a pattern, no frames, missing frame, or unwritable folder.
    """
    if not is_sequence_pattern(pattern):
        raise InputError(
            f"expected an output pattern with one %d field such as out_%04d.png, but got "
            f"{pattern!r}"
        )
    if not frames:
        raise InputError("expected at least one frame to write, but got none")
    suffix = Path(pattern).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"expected a .png or .tif output pattern, but got {pattern!r}")
    for number, source in enumerate(frames, start=start):
        source = Path(source)
        target = Path(pattern % number)
        if target.resolve() == source.resolve():
            continue
        header = _png_header(source)
        if suffix == ".png" and header is not None and header[2] == bit_depth:
            try:
                data = source.read_bytes()
            except OSError as exc:
                raise InputError(
                    f"expected frame file {source}, but cannot read it ({exc})"
                ) from exc
            write_bytes(target, data, what="frame")
        else:
            write_image(target, read_image(source), bit_depth=bit_depth)


def encode_video(
    frames: Sequence[Path],
    output: Path,
    *,
    fps: Fraction,
    codec: str = "h264",
    audio_source: Path | None = None,
    audio_start: float = 0.0,
    audio_duration: float | None = None,
    crf: int = 16,
    timecode: str | None = None, alpha: bool = False, tags: VideoTags = VideoTags(),
) -> None:
    """Encode frame files into a video at an exact frame rate, optionally with audio.

    Args:
        frames: Lossless frame files (PNG, 8 or 16 bit; TIFF works too), all the same
            size, in display order. Frame ``k`` is shown at ``(k - 1) / fps`` seconds.
        output: ``.mp4``/``.mov``/``.mkv`` for h264, ``.mov`` for prores, ``.mkv``/``.mov``
            for ffv1. Written under a temporary name in the same folder and renamed when
            ffmpeg succeeded, so it never exists half-written.
        fps: Exact frame rate, passed to ffmpeg as a rational (``30000/1001``) for input
            and output; MP4/MOV get a track time scale that represents it exactly.
        codec: ``h264``: libx264, ``crf``, yuv420p, BT.709 matrix; odd sizes padded by
            repeating the last column/row (47x33 gives 48x34). ``prores``: ProRes 422 HQ
            (profile 3, yuv422p10le), ``.mov`` only. ``ffv1``: lossless FFV1 in RGB
            (``bgr0`` for 8-bit frames, ``rgb48le`` for 16-bit), any size.
        audio_source: File whose first audio stream is carried over (e.g. the source
            video). Ignored, with a log message, when it has no audio.
        audio_start: Seconds into ``audio_source`` where the output's audio begins (for
            frames ``s..e``: the video stream's start in the file plus ``(s - 1) / fps``).
        audio_duration: Seconds of audio to take; default and maximum: the video's
            duration ``len(frames) / fps``. Audio that runs out early is padded with
            silence, so no video frame is ever cut. AAC in MP4 (and with h264 in
            MOV/MKV), PCM with ProRes and FFV1 (24-bit from a PCM source of more bits).
        crf: libx264 constant rate factor (0-51, lower is better); h264 only.
        timecode: start timecode ``HH:MM:SS:FF`` for the file's metadata (``tmcd`` track).
        alpha: keep the RGBA frames' alpha (prores4444/prores4444xq, see _video_options).
        tags: colour primaries, transfer and pixel aspect for the file; the YUV codecs'
            matrix is BT.709 whatever the primaries are.

    Any decoding error in the frames or the audio makes ffmpeg stop (``-xerror``) rather
    than silently drop or repeat a frame. The finished file is read back and must hold
    ``len(frames)`` frames before it is renamed to ``output``.

    Raises:
        InputError: unknown codec, codec/container mismatch (ProRes in .mp4), no or
            missing frames, frames of different sizes, bad fps/crf/audio times, or an
            unwritable output folder.
        VideoError: ffmpeg failed (the message ends with the tail of its stderr), or the
            written file does not hold the expected number of frames.
    """
    output = Path(output)
    codec = str(codec).lower()
    container = _container(codec, output)
    rate = parse_fps(fps)
    _check_numbers(crf, audio_start, audio_duration)
    width, height, depth, frame_suffix = _frame_geometry(frames)
    _make_output_folder(output.parent)
    duration = Fraction(len(frames)) / rate
    audio, deep = _audio_input(audio_source, audio_start, audio_duration, duration)
    name = f".{output.stem}.{secrets.token_hex(4)}.partial{output.suffix.lower()}"
    tmp_output = output.parent / name
    with tempfile.TemporaryDirectory(prefix="videostyle-frames-") as link_dir:
        cmd = [
            ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "warning",
            "-xerror", "-y",
            "-f", "image2", "-framerate", _rate_text(rate), "-start_number", "1",
            "-i", _link_frames(frames, Path(link_dir), frame_suffix),
            *audio,
            "-map", "0:v:0", *(["-map", "1:a:0"] if audio else []),
            *_video_options(codec, width, height, depth, crf, alpha, tags),
            *(["-timecode", timecode] if timecode else []),
            "-r", _rate_text(rate), "-fps_mode", "cfr",
            *(_audio_options(codec, container, duration, deep) if audio else []),
            *_container_options(container, rate),
            "-f", container, _ff_path(tmp_output),
        ]  # fmt: skip
        log.debug("encoding %d frames to %s: %s", len(frames), output, cmd)
        _run_encoder(cmd, output, tmp_output, frames)
    _replace_verified(tmp_output, output, len(frames), rate)


def _container(codec: str, output: Path) -> str:
    """The ffmpeg muxer of ``output`` for ``codec``; InputError when the two do not go."""
    if codec not in CODECS:
        raise InputError(
            f"expected a codec from {', '.join(CODECS)}, but got {codec!r}; pick one of those"
        )
    containers = _CONTAINERS[codec]
    suffix = output.suffix.lower()
    if suffix not in containers:
        raise InputError(
            f"expected an output ending in {' or '.join(containers)} for {codec}, but got "
            f"{output.name}; rename the output to {output.stem}{next(iter(containers))}"
        )
    return containers[suffix]


def _check_numbers(crf: int, audio_start: float, audio_duration: float | None) -> None:
    if not 0 <= int(crf) <= 51:
        raise InputError(f"expected crf between 0 and 51, but got {crf}")
    if audio_start < 0:
        raise InputError(f"expected audio_start >= 0 seconds, but got {audio_start}")
    if audio_duration is not None and audio_duration <= 0:
        raise InputError(f"expected audio_duration > 0 seconds, but got {audio_duration}")


def _make_output_folder(folder: Path) -> None:
    """Create ``folder`` when missing; InputError when it cannot be created or written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"expected a writable output folder, but {folder} cannot be created ({exc}); "
            "choose another output location"
        ) from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(
            f"expected a writable output folder, but {folder} is not writable; choose "
            "another output location"
        )


def _audio_input(
    audio_source: Path | None,
    audio_start: float,
    audio_duration: float | None,
    video_duration: Fraction,
) -> tuple[list[str], bool]:
    """ffmpeg arguments of the audio input (none when there is no audio to carry over), and
    whether its audio is PCM of more than 16 bits (the source is inspected once)."""
    if audio_source is None:
        return [], False
    audio_path = Path(audio_source)
    if not audio_path.is_file():
        raise InputError(f"expected an audio source file, but {audio_path} does not exist")
    stream = _first_audio(audio_path)
    if stream is None:
        log.info("%s has no audio stream; the video is written without audio", audio_path)
        return [], False
    take = (
        video_duration
        if audio_duration is None
        else min(Fraction(audio_duration).limit_denominator(10**6), video_duration)
    )
    return (["-ss", _seconds(audio_start), "-t", _seconds(take), "-i", _ff_path(audio_path)],
            _deep_audio(stream))


def _audio_options(codec: str, container: str, video_duration: Fraction,
                   deep: bool = False) -> list[str]:
    """Audio padded or cut to the video's duration, and its codec: PCM of 24 bits when the
    source's has more than 16 (``deep``), else of 16."""
    length = _seconds(video_duration)
    options = ["-af", f"apad=whole_dur={length},atrim=end={length}"]
    if container == "mp4" or codec == "h264":
        return [*options, "-c:a", "aac", "-b:a", "192k"]
    return [*options, "-c:a", "pcm_s24le" if deep else "pcm_s16le"]


def _container_options(container: str, rate: Fraction) -> list[str]:
    """A MP4/MOV time scale that holds ``rate`` exactly, and the index at the front."""
    if container not in ("mp4", "mov"):
        return []
    return ["-video_track_timescale", str(_track_timescale(rate)), "-movflags", "+faststart"]


def _rate_text(rate: Fraction) -> str:
    return f"{rate.numerator}/{rate.denominator}"


def _unlink_quietly(path: Path) -> None:
    """Remove ``path`` if it exists, ignoring errors."""
    if path.exists():
        try:
            path.unlink()
        except OSError:
            pass


def _seconds(value: float | Fraction) -> str:
    return f"{float(value):.6f}"


def _frame_geometry(frames: Sequence[Path]) -> tuple[int, int, int, str]:
    """(width, height, bit_depth, suffix) of the frame files; InputError on mismatch."""
    if not frames:
        raise InputError("expected at least one frame to encode, but got none")
    paths = [Path(f) for f in frames]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise InputError(
            f"expected {len(paths)} frame files, but {len(missing)} are missing (first: "
            f"{missing[0]}); render the missing frames again"
        )
    suffixes = {p.suffix.lower() for p in paths}
    if len(suffixes) != 1:
        raise InputError(f"expected frames of one file type, but got {sorted(suffixes)}")
    suffix = suffixes.pop()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"expected PNG (or TIFF) frame files, but got {suffix} files")
    header = _png_header(paths[0])
    if header is not None:
        width, height, depth = header
    else:
        raw = _imread_raw(paths[0])
        height, width = raw.shape[:2]
        depth = 16 if raw.dtype != np.uint8 else 8
    for path in paths[1:]:
        other = _png_header(path)
        if other is not None and other[:2] != (width, height):
            raise InputError(
                f"expected every frame to be {width}x{height} like {paths[0].name}, but "
                f"{path.name} is {other[0]}x{other[1]}; render all frames at one size"
            )
    return width, height, (16 if depth > 8 else 8), suffix


def _link_frames(frames: Sequence[Path], folder: Path, suffix: str) -> str:
    """Expose ``frames`` as folder/00000001<suffix>...; return the ffmpeg input pattern."""
    for number, frame in enumerate(frames, start=1):
        link = folder / f"{number:08d}{suffix}"
        source = Path(frame).resolve()
        try:
            link.symlink_to(source)
        except OSError:
            shutil.copyfile(source, link)
    return str(folder / f"%08d{suffix}")


def _track_timescale(fps: Fraction) -> int:
    """A MP4/MOV time scale in which one frame lasts a whole number of ticks."""
    numerator = fps.numerator
    return numerator * max(1, math.ceil(10000 / numerator))


def _tagged(chain: list[str], tags: VideoTags) -> str:
    """The filter chain, ending by naming the colour primaries, the transfer and the pixel
    aspect in the frames (ffmpeg takes a video's tags from its frames, not from
    ``-color_primaries``)."""
    names = [f"{key}={tag}" for key, tag in (("color_primaries", tags.primaries),
                                             ("color_trc", tags.transfer)) if tag]
    aspect = tags.pixel_aspect
    return ",".join(chain + ([f"setparams={':'.join(names)}"] if names else [])
                    + ([f"setsar={aspect.numerator}/{aspect.denominator}"] if aspect != 1
                       else []))


def _video_options(
    codec: str, width: int, height: int, depth: int, crf: int, alpha: bool = False,
    tags: VideoTags = VideoTags(),
) -> list[str]:
    bt709 = ["-colorspace", "bt709", "-color_range", "tv"]  # the matrix to_yuv applies
    rgb = "gbrp16le" if depth > 8 else "gbrp"
    to_yuv = "scale=out_color_matrix=bt709:out_range=tv:flags=accurate_rnd+full_chroma_int"
    if codec == "h264":
        chain = [f"format={rgb}"]
        pad_w, pad_h = width % 2, height % 2
        if pad_w or pad_h:
            chain += [
                f"pad={width + pad_w}:{height + pad_h}:0:0",
                f"fillborders=right={pad_w}:bottom={pad_h}:mode=smear",
            ]
        chain += [to_yuv, "format=yuv420p"]
        return [
            "-vf", _tagged(chain, tags),
            "-c:v", "libx264", "-preset", "medium", "-crf", str(int(crf)),
            "-pix_fmt", "yuv420p", *bt709,
        ]  # fmt: skip
    if codec in ("prores4444", "prores4444xq"):  # profile 4 / 5, 16-bit alpha when kept
        pix = "yuva444p10le" if alpha else "yuv444p10le"
        return [
            "-vf", _tagged([to_yuv, f"format={pix}"], tags),
            "-c:v", "prores_ks", "-profile:v", "4" if codec == "prores4444" else "5",
            "-vendor", "apl0", "-pix_fmt", pix, *(["-alpha_bits", "16"] if alpha else []),
            *bt709,
        ]  # fmt: skip
    if codec == "prores":
        return [
            "-vf", _tagged([to_yuv, "format=yuv422p10le"], tags),
            "-c:v", "prores_ks", "-profile:v", "3", "-vendor", "apl0",
            "-pix_fmt", "yuv422p10le", *bt709,
        ]  # fmt: skip
    pix_fmt = "rgb48le" if depth > 8 else "bgr0"
    return [
        "-vf", _tagged([f"format={pix_fmt}"], tags),
        "-c:v", "ffv1", "-level", "3", "-g", "1", "-slicecrc", "1", "-pix_fmt", pix_fmt,
    ]  # fmt: skip


def _run_encoder(cmd: list[str], output: Path, tmp_output: Path,
                 frames: Sequence[Path]) -> None:
    """Run an encoding ffmpeg; VideoError with its stderr tail when it fails, DiskFull
    (naming the folder and about the frames' size as the space needed) when the disk is.

    When it fails or is interrupted, the partial ``tmp_output`` is removed.
    """
    try:
        _run_to_end(
            cmd,
            f"encode {output}",
            "; check the frames and the audio source. ffmpeg said",
        )
    except VideoError as exc:
        written = tmp_output.stat().st_size if tmp_output.exists() else 0
        _unlink_quietly(tmp_output)
        free = free_bytes(output.parent)
        if "No space left on device" in str(exc) or (free is not None and free <= written):
            need = sum(Path(f).stat().st_size for f in frames)  # lossless frames: more
            raise disk_full(output.parent, max(need, written), f"the video {output}") from exc
        raise
    except BaseException:
        _unlink_quietly(tmp_output)
        raise


def remove_partials(output: Path) -> None:
    """Remove the temporary files that an encode of ``output`` killed midway left beside
    it (``.NAME.XXXXXXXX.partial.EXT``); call it only where no encode of it is running."""
    pattern = f".{output.stem}.*.partial{output.suffix.lower()}"
    for path in Path(output).parent.glob(pattern):
        _unlink_quietly(path)


def _replace_verified(tmp_output: Path, output: Path, n_frames: int, rate: Fraction) -> None:
    """Rename the finished ``tmp_output`` to ``output`` once it reads back whole; the
    partial file is removed in any case."""
    try:
        _verify_output(tmp_output, output, n_frames, rate)
        fd = os.open(tmp_output, os.O_RDONLY)  # on the disk before it takes the final name
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        faults.point("encode-before-rename")  # a kill here (tests) leaves only the partial
        os.replace(tmp_output, output)
        fsync_folder(output.parent)
    finally:
        _unlink_quietly(tmp_output)


def _verify_output(tmp_output: Path, output: Path, n_frames: int, rate: Fraction) -> None:
    """Read the new file back: it must hold every frame (and should have the rate)."""
    try:
        info = _probe_video(tmp_output)
    except InputError as exc:
        raise VideoError(f"expected ffmpeg to write a readable {output}, but: {exc}") from exc
    if info.n_frames != n_frames:
        raise VideoError(
            f"expected {output} to hold {n_frames} frames, but ffmpeg wrote "
            f"{info.n_frames}; this is a bug, please report it with the ffmpeg version"
        )
    if info.fps != rate:
        log.warning("%s: wrote %s fps but the file reads back as %s fps", output, rate, info.fps)
