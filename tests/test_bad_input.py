"""Bad input, one row per cause: each is rendered correctly (exit 0, with one note where
something is dropped or converted) or refused before any work with one line and a
non-zero exit. Every row checks that no file present before the command changed; a
refused row also checks that nothing was created (no run folder, no output).

Inputs are generated here, tiny (at most 48x36 px, 3 frames, 2 iterations), with the
bundled ffmpeg. Rows run the command in this process (the ``cli`` fixture).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import assert_one_error_line, cache_dir, make_clip, make_style, run_ffmpeg

from videostyle.config import MAX_FRAME_SIDE
from videostyle.flow import write_flo
from videostyle.networks import min_frame_side
from videostyle.video import probe
from videostyle.workdir import default_workdir

Cli = Callable[..., tuple[int, str, str]]
#: Every render row: tiny, two iterations, one scale.
FAST = ("--size", "32", "--iterations", "2", "--quality", "draft", "--start-size", "0", "-q")
IMAGE_FAST = ("--size", "32", "--iterations", "2", "--start-size", "0", "-q")
N_FRAMES = 3


# ---- the media every row copies ------------------------------------------------------------


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad-input-media")
    make_clip(root / "clip.mp4", n_frames=N_FRAMES, size=(48, 36))
    make_style(root / "style.png")
    return root


@pytest.fixture(scope="module")
def finished(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished render of clip.mp4 (folder holding clip.mp4, style.png, out.mp4 and its
    run folder), made by the command every run-folder row repeats."""
    from videostyle.cli import main

    root = tmp_path_factory.mktemp("finished")
    for name in ("clip.mp4", "style.png"):
        shutil.copy(media / name, root / name)
    with pytest.raises(SystemExit) as exc:
        main(["render", str(root / "clip.mp4"), "-s", str(root / "style.png"), "-o",
              str(root / "out.mp4"), *FAST])
    assert exc.value.code in (0, None)
    return root


class Ws:
    """One row's folder, and helpers that make its inputs inside it."""

    def __init__(self, root: Path, media: Path, finished: Callable[[], Path]) -> None:
        self.root = root
        self.media = media
        self._finished = finished

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    def clip(self, name: str = "clip.mp4") -> Path:
        return Path(shutil.copy(self.media / "clip.mp4", self.root / name))

    def style(self, name: str = "style.png") -> Path:
        return Path(shutil.copy(self.media / "style.png", self.root / name))

    def png(self, name: str, array: np.ndarray) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), array)
        return path

    def picture(self, name: str, w: int = 32, h: int = 24, *, channels: int = 3,
                dtype: type = np.uint8) -> Path:
        top = 65535 if dtype == np.uint16 else 255
        y, x = np.mgrid[0:h, 0:w]
        base = ((x * 7 + y * 13) % 32) / 31.0
        planes = [base, 1 - base, (x % 5) / 4.0, np.full((h, w), 0.5)][:channels]
        array = np.rint(np.stack(planes, axis=2) * top).astype(dtype)
        return self.png(name, array[..., 0] if channels == 1 else array)

    def sequence(self, folder: str, n: int = N_FRAMES, w: int = 48, h: int = 36,
                 *, channels: int = 3, start: int = 1) -> Path:
        for k in range(start, start + n):
            self.picture(f"{folder}/f_{k:04d}.png", w, h, channels=channels)
        return self.root / folder / "f_%04d.png"

    def ffmpeg(self, *args: str | Path) -> None:
        run_ffmpeg(*(str(a) for a in args))

    def lavfi_video(self, name: str, graph: str, *encode: str) -> Path:
        path = self.root / name
        self.ffmpeg("-f", "lavfi", "-i", graph, "-frames:v", str(N_FRAMES), *encode, path)
        return path

    def finished(self) -> Path:
        """A copy of the finished render's folder in this row's folder; returns out.mp4."""
        for item in self._finished().iterdir():
            if item.is_dir():
                shutil.copytree(item, self.root / item.name, symlinks=True)
            else:
                shutil.copy(item, self.root / item.name)
        return self.root / "out.mp4"

    def flows(self, folder: str = "flo", w: int = 48, h: int = 36) -> Path:
        """Zero flows for every pair a 3-frame render with offset 1 reads."""
        path = self.root / folder
        for a, b in ((1, 2), (2, 3)):
            write_flo(path / f"forward_{a}_{b}.flo", np.zeros((h, w, 2), np.float32))
            write_flo(path / f"backward_{b}_{a}.flo", np.zeros((h, w, 2), np.float32))
        return path


def render(ws: Ws, source: Path, *extra: str | Path, style: Path | None = None,
           out: str = "out.mp4") -> list[str | Path]:
    return ["render", source, "-s", style or ws.style(), "-o", ws / out, *FAST, *extra]


def image(ws: Ws, content: Path | None = None, *extra: str | Path, style: Path | None = None,
          out: str = "out.png") -> list[str | Path]:
    return ["image", content or ws.picture("content.png"), "-s", style or ws.style(),
            "-o", ws / out, *IMAGE_FAST, *extra]


# ---- row builders that need more than one line -------------------------------------------


def truncated_clip(ws: Ws) -> list[str | Path]:
    data = ws.clip("whole.mp4").read_bytes()
    (ws / "whole.mp4").unlink()
    (ws / "cut.mp4").write_bytes(data[: len(data) // 3])
    return render(ws, ws / "cut.mp4")


def cut_frames(ws: Ws) -> list[str | Path]:
    """An 8-frame Matroska clip cut at 70 %: its header is whole, its last frames are not."""
    ws.ffmpeg("-f", "lavfi", "-i", "testsrc2=size=48x36:rate=25", "-frames:v", "8", "-c:v",
              "ffv1", ws / "whole.mkv")
    data = (ws / "whole.mkv").read_bytes()
    (ws / "whole.mkv").unlink()
    (ws / "cut.mkv").write_bytes(data[: len(data) * 7 // 10])
    return render(ws, ws / "cut.mkv")


def whole_frames_rendered(ws: Ws) -> None:
    readable = probe(ws / "cut.mkv").n_frames
    assert 0 < readable < 8 and probe(ws / "out.mp4").n_frames == readable


def audio_only(ws: Ws) -> list[str | Path]:
    ws.ffmpeg("-f", "lavfi", "-i", "sine=d=0.3", "-c:a", "aac", ws / "sound.mp4")
    return render(ws, ws / "sound.mp4")


def variable_rate(ws: Ws) -> list[str | Path]:
    # Timestamps 0, 0.04, 0.2 s: frame durations differ.
    ws.ffmpeg("-f", "lavfi", "-i", "testsrc2=size=48x36:rate=25", "-vf",
              "setpts='if(eq(N,2),0.2/TB,N*0.04/TB)'", "-fps_mode", "vfr", "-frames:v", "3",
              "-c:v", "libx264", "-pix_fmt", "yuv420p", ws / "vfr.mkv")
    return render(ws, ws / "vfr.mkv")


def rotated(ws: Ws) -> list[str | Path]:
    ws.ffmpeg("-display_rotation", "90", "-i", ws.clip("upright.mp4"), "-c", "copy",
              ws / "phone.mp4")
    return render(ws, ws / "phone.mp4")


def portrait_output(ws: Ws) -> None:
    info = probe(ws / "out.mp4")
    assert (info.width, info.height) == (24, 32), "the display matrix was not honoured"


def output_is_video(ws: Ws) -> None:
    info = probe(ws / "out.mp4")
    assert info.n_frames == N_FRAMES and (info.width, info.height) == (32, 24)


def still(ws: Ws, depth: int, name: str = "out.png") -> None:
    """The still was painted and written at 32x24 and ``depth`` bits."""
    data = cv2.imread(str(ws / name), cv2.IMREAD_UNCHANGED)
    assert data.shape == (24, 32, 3) and data.dtype == (np.uint16 if depth == 16 else np.uint8)


def sized(ws: Ws, size: tuple[int, int]) -> None:
    info = probe(ws / "out.mp4")
    assert (info.width, info.height) == size and info.n_frames == N_FRAMES


def readonly_folder(ws: Ws, command: str = "render") -> list[str | Path]:
    folder = ws / "ro"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.strip()}")
    ws.mounts.append(folder)  # type: ignore[attr-defined]
    if command == "image":
        return image(ws, None, out="ro/out.png")
    return render(ws, ws.clip(), out="ro/out.mp4")


def unrelated_output(ws: Ws) -> Path:
    (ws / "out.mp4").write_bytes(b"someone else's film")
    return ws / "out.mp4"


def output_replaced(ws: Ws) -> None:
    assert (ws / "out.mp4").read_bytes() != b"someone else's film"
    output_is_video(ws)


def resumed(ws: Ws) -> list[str | Path]:
    ws.finished()
    return render(ws, ws / "clip.mp4")


def edited_output(ws: Ws) -> list[str | Path]:
    out = ws.finished()
    out.write_bytes(out.read_bytes() + b"edited")
    return render(ws, ws / "clip.mp4")


def grown_range(ws: Ws) -> list[str | Path]:
    from videostyle.cli import main

    args = render(ws, ws.clip(), "--frames", "1:2")
    with pytest.raises(SystemExit):
        main([str(a) for a in args])
    assert probe(ws / "out.mp4").n_frames == 2
    return render(ws, ws / "clip.mp4", "--frames", "1:3")


def manifest_edit(change: Callable[[dict], object]) -> Callable[[Ws], list[str | Path]]:
    def make(ws: Ws) -> list[str | Path]:
        ws.finished()
        path = default_workdir(ws / "out.mp4") / "manifest.json"
        data = json.loads(path.read_text())
        result = change(data)
        path.write_text(result if isinstance(result, str) else json.dumps(data))
        return render(ws, ws / "clip.mp4")
    return make


def frame_link_outside(ws: Ws) -> list[str | Path]:
    ws.finished()
    frames = default_workdir(ws / "out.mp4") / "frames"
    outside = ws / "elsewhere.png"
    shutil.copy(frames / "000002.png", outside)
    (frames / "000002.png").unlink()
    (frames / "000002.png").symlink_to(outside)
    return render(ws, ws / "clip.mp4")


def frame_recomputed(ws: Ws) -> None:
    frame = default_workdir(ws / "out.mp4") / "frames" / "000002.png"
    assert frame.is_file() and not frame.is_symlink()
    output_is_video(ws)


def frames_folder_outside(ws: Ws) -> list[str | Path]:
    ws.finished()
    frames = default_workdir(ws / "out.mp4") / "frames"
    shutil.move(frames, ws / "elsewhere")
    frames.symlink_to(ws / "elsewhere")
    return render(ws, ws / "clip.mp4", "--restart")


def flo_folder(damage: Callable[[Path], None], w: int = 48, h: int = 36) -> Callable[
    [Ws], list[str | Path]
]:
    def make(ws: Ws) -> list[str | Path]:
        folder = ws.flows(w=w, h=h)
        damage(folder / "forward_2_3.flo")
        return render(ws, ws.clip(), "--flow", folder)
    return make


def bad_magic(path: Path) -> None:
    path.write_bytes(b"XXXX" + path.read_bytes()[4:])


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def status_record_edit(ws: Ws) -> list[str | Path]:
    ws.finished()
    record = default_workdir(ws / "out.mp4") / "frames" / "000001.json"
    data = json.loads(record.read_text())
    data["seconds"] = "soon"
    record.write_text(json.dumps(data))
    return ["status", ws / "out.mp4"]


def sequence_output_taken(ws: Ws) -> list[str | Path]:
    (ws / "out").mkdir()
    (ws / "out" / "o_0002.png").write_bytes(b"a frame of another shot")
    return render(ws, ws.clip(), out="out/o_%04d.png")


# ---- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    id: str
    make: Callable[[Ws], list[str | Path]]
    code: int
    phrase: str
    check: Callable[[Ws], None] | None = None
    changes: tuple[str, ...] = ()  # files present before that a successful row may rewrite


_MIN = min_frame_side()
ROWS = [
    # sources
    Row("source-missing", lambda ws: render(ws, ws / "nothing.mp4"), 2, "does not exist"),
    Row("source-empty", lambda ws: render(ws, (ws / "e.mp4", (ws / "e.mp4").touch())[0]), 2,
        "empty"),
    Row("source-truncated", truncated_clip, 2, "cut.mp4"),
    Row("source-cut-after-the-header", cut_frames, 0, "ends early",
        check=whole_frames_rendered),
    Row("source-not-media", lambda ws: render(
        ws, (ws / "notes.mp4", (ws / "notes.mp4").write_text("not a video\n" * 50))[0]), 2,
        "cannot read"),
    Row("source-audio-only", audio_only, 2, "no video stream"),
    Row("source-variable-rate", variable_rate, 0, "variable frame rate",
        check=output_is_video),
    Row("source-rotated-phone", rotated, 0, "", check=portrait_output),
    Row("source-10-bit", lambda ws: render(ws, ws.lavfi_video(
        "ten.mkv", "testsrc2=size=48x36:rate=25", "-c:v", "ffv1", "-pix_fmt", "yuv420p10le")),
        0, "", check=output_is_video),
    Row("source-alpha", lambda ws: render(ws, ws.lavfi_video(
        "alpha.mkv", "testsrc2=size=48x36:rate=25,format=yuva420p", "-c:v", "ffv1",
        "-pix_fmt", "yuva420p")), 0, "alpha", check=output_is_video),
    Row("source-gray", lambda ws: render(ws, ws.lavfi_video(
        "gray.mkv", "testsrc2=size=48x36:rate=25,format=gray", "-c:v", "ffv1", "-pix_fmt",
        "gray")), 0, "gray", check=output_is_video),
    Row("source-rgba-sequence", lambda ws: render(ws, ws.sequence("rgba", channels=4),
                                                  "--fps", "24"), 0, "alpha",
        check=output_is_video),
    Row("source-1x1", lambda ws: render(ws, ws.picture("dot.png", 1, 1)), 2,
        f"at least {_MIN}x{_MIN}"),
    Row("source-2x3", lambda ws: render(ws, ws.lavfi_video(
        "tiny.mkv", "testsrc2=size=2x3:rate=25", "-c:v", "ffv1", "-pix_fmt", "yuv444p")), 2,
        f"at least {_MIN}x{_MIN}"),
    Row("source-smallest-accepted", lambda ws: render(ws, ws.sequence("small", w=_MIN, h=_MIN),
                                                      "--fps", "24", "--size", str(_MIN)), 0,
        "", check=lambda ws: sized(ws, (_MIN, _MIN))),
    Row("source-one-pixel-too-narrow", lambda ws: render(
        ws, ws.sequence("narrow", w=_MIN - 1, h=2 * _MIN), "--fps", "24"), 2,
        f"at least {_MIN}x{_MIN}"),
    Row("source-beyond-maximum", lambda ws: [
        "render", ws.picture("wide.png", MAX_FRAME_SIDE + 8, 20), "-s", ws.style(), "-o",
        ws / "out.mp4", "--quality", "final", "--iterations", "2", "-q"], 2,
        f"at most {MAX_FRAME_SIDE}"),
    Row("source-sequence-gap", lambda ws: render(
        ws, (ws.sequence("gap"), (ws / "gap" / "f_0002.png").unlink())[0], "--fps", "24"), 2,
        "missing"),
    # style images
    Row("style-missing", lambda ws: render(ws, ws.clip(), style=ws / "none.png"), 2,
        "does not exist"),
    Row("style-corrupt", lambda ws: image(ws, style=(
        ws / "s.png", (ws / "s.png").write_bytes(b"\x89PNG\r\n\x1a\n broken"))[0]), 2,
        "cannot be decoded"),
    Row("style-gray", lambda ws: image(ws, style=ws.picture("g.png", 32, 32, channels=1)), 0,
        "gray", check=lambda ws: still(ws, 8)),
    Row("style-rgba", lambda ws: render(ws, ws.clip(),
                                        style=ws.picture("a.png", 32, 32, channels=4)),
        0, "alpha", check=output_is_video),
    Row("style-16-bit", lambda ws: image(ws, style=ws.picture("d.png", 32, 32,
                                                              dtype=np.uint16)), 0, "",
        check=lambda ws: still(ws, 8)),
    Row("style-1x1", lambda ws: image(ws, style=ws.picture("p.png", 1, 1)), 2,
        f"at least {_MIN}x{_MIN}"),
    Row("style-is-a-video", lambda ws: render(ws, ws.clip(), style=ws.clip("s.mp4")), 2,
        "cannot be decoded"),
    # masks
    Row("mask-count", lambda ws: render(ws, ws.clip(), "--style-mask", ws.picture("m.png"),
                                        "--style-mask", ws.picture("n.png")), 2,
        "one mask per style"),
    Row("mask-shape", lambda ws: render(ws, ws.clip(), "--style-mask",
                                        ws.picture("m.png", 20, 40)), 0, "stretched",
        check=output_is_video),
    Row("mask-sequence-short", lambda ws: render(
        ws, ws.clip(), "--style-mask", ws.sequence("masks", n=2)), 2, "has no mask"),
    Row("mask-corrupt", lambda ws: render(ws, ws.clip(), "--style-mask", (
        ws / "m.png", (ws / "m.png").write_bytes(b"garbage"))[0]), 2, "cannot be decoded"),
    # .flo files
    Row("flo-bad-magic", flo_folder(bad_magic), 5, "not a Middlebury"),
    Row("flo-truncated", flo_folder(truncate), 5, "truncated"),
    Row("flo-wrong-size", flo_folder(lambda p: None, w=10, h=30), 5, "48x36"),
    Row("flo-missing", flo_folder(lambda p: p.unlink()), 2, "lacks forward_2_3.flo"),
    # option values
    Row("frames-reversed", lambda ws: render(ws, ws.clip(), "--frames", "5:2"), 2,
        "start > end"),
    Row("frames-not-numbers", lambda ws: render(ws, ws.clip(), "--frames", "abc"), 2,
        "START:END"),
    Row("style-weights-count", lambda ws: render(ws, ws.clip(), "-s", ws.style("t.png"),
                                                 "--style-weights", "1,2,3"), 2,
        "one weight per style"),
    Row("style-weights-negative", lambda ws: render(ws, ws.clip(), "-s", ws.style("t.png"),
                                                    "--style-weights", "1,-1"), 2, ">= 0"),
    Row("style-weights-nan", lambda ws: render(ws, ws.clip(), "-s", ws.style("t.png"),
                                               "--style-weights", "nan,1"), 2, ">= 0"),
    Row("content-weight-nan", lambda ws: render(ws, ws.clip(), "--content-weight", "nan"), 2,
        "--content-weight"),
    Row("temporal-weight-inf", lambda ws: render(ws, ws.clip(), "--temporal-weight", "inf"), 2,
        "--temporal-weight"),
    Row("style-scale-nan", lambda ws: render(ws, ws.clip(), "--style-scale", "nan"), 2,
        "--style-scale"),
    Row("size-0", lambda ws: render(ws, ws.clip(), "--size", "0"), 2, "--size"),
    Row("size-below-minimum", lambda ws: render(ws, ws.clip(), "--size", "16"), 2,
        f"at least {_MIN}x{_MIN}"),
    Row("size-beyond-maximum", lambda ws: image(ws, None, "--size", str(MAX_FRAME_SIDE + 1)),
        2, f"at most {MAX_FRAME_SIDE}"),
    Row("long-term-0", lambda ws: render(ws, ws.clip(), "--long-term", "0"), 2, ">= 1"),
    Row("iterations-negative", lambda ws: render(ws, ws.clip(), "--iterations", "-1"), 2,
        "--iterations"),
    Row("iterations-three-values", lambda ws: render(ws, ws.clip(), "--iterations", "1,2,3"),
        2, "FIRST,REST"),
    Row("fps-0", lambda ws: render(ws, ws.sequence("seq"), "--fps", "0"), 2, "positive"),
    Row("fps-1/0", lambda ws: render(ws, ws.sequence("seq"), "--fps", "1/0"), 2,
        "frame rate such as"),
    Row("fps-with-a-video", lambda ws: render(ws, ws.clip(), "--fps", "24"), 2,
        "no effect on a video source"),
    Row("bit-depth-12", lambda ws: render(ws, ws.clip(), "--bit-depth", "12",
                                          out="o_%04d.png"), 2, "8 or 16"),
    Row("first-frame-init-missing", lambda ws: render(
        ws, ws.clip(), "--first-frame-init", ws / "nope.png"), 2, "is neither"),
    # outputs
    Row("output-folder-missing", lambda ws: render(ws, ws.clip(), out="no/out.mp4"), 2,
        "does not exist"),
    Row("output-folder-read-only", readonly_folder, 2, "not writable"),
    Row("output-unrelated", lambda ws: (unrelated_output(ws), render(ws, ws.clip()))[1], 2,
        "--overwrite"),
    Row("output-unrelated-overwrite", lambda ws: (unrelated_output(ws),
                                                  render(ws, ws.clip(), "--overwrite"))[1],
        0, "", check=output_replaced, changes=("out.mp4",)),
    Row("output-is-input-overwrite", lambda ws: render(ws, ws.clip("out.mp4"), "--overwrite"),
        2, "is the input"),
    Row("output-own-resumed", resumed, 0, "", check=output_is_video,
        changes=("out.mp4", "out.videostyle/")),
    Row("output-own-edited", edited_output, 2, "--overwrite"),
    Row("output-own-grown-range", grown_range, 0, "", check=output_is_video,
        changes=("out.mp4", "out.videostyle/")),
    Row("output-sequence-file-taken", sequence_output_taken, 2, "--overwrite"),
    Row("image-output-exists", lambda ws: image(ws, None, out=(
        ws / "o.png", ws.picture("o.png"))[0].name), 2, "--overwrite"),
    Row("image-output-overwrite", lambda ws: image(ws, None, "--overwrite", "--bit-depth", "16",
                                                   out=(ws.picture("o.png")).name), 0, "",
        check=lambda ws: still(ws, 16, "o.png"), changes=("o.png",)),
    Row("image-output-read-only", lambda ws: readonly_folder(ws, "image"), 2, "not writable"),
    Row("image-output-is-content", lambda ws: image(ws, ws.picture("c.png"), "--overwrite",
                                                    out="c.png"), 2, "is the input"),
    Row("flow-output-exists", lambda ws: ["flow", ws.clip(), "-o", ws.clip("other.mp4")], 2,
        "--overwrite"),
    Row("flow-output-is-source", lambda ws: ["flow", ws.clip(), "-o", ws / "clip.mp4"], 2,
        "is the input"),
    # run folders
    Row("run-folder-older-version", manifest_edit(lambda d: d.update(format=0)), 6,
        "another version"),
    Row("run-folder-truncated-manifest", manifest_edit(
        lambda d: json.dumps(d)[:40]), 6, "unreadable"),
    Row("run-folder-edited-manifest-shape", manifest_edit(
        lambda d: d.update(pixels=[1, 2])), 6, "--restart"),
    Row("run-folder-edited-setting", manifest_edit(
        lambda d: d["pixels"].update(iterations=[9, 9])), 6, "iterations differ"),
    Row("run-folder-frame-outside", frame_link_outside, 0, "", check=frame_recomputed,
        changes=("out.mp4", "out.videostyle/")),
    Row("run-folder-frames-folder-outside", frames_folder_outside, 6, "link"),
    # status, evaluate, flow
    Row("status-missing", lambda ws: ["status", ws / "never.mp4"], 2, "not a run folder"),
    Row("status-truncated-manifest", lambda ws: ["status", (
        ws.finished(), (ws / "out.videostyle" / "manifest.json").write_text('{"form'))[0]],
        6, "unreadable"),
    Row("status-edited-manifest", lambda ws: ["status", (
        ws.finished(), (ws / "out.videostyle" / "manifest.json").write_text(
            '{"format": 1, "pixels": {"frames": "all"}}'))[0]], 6, "--restart"),
    Row("status-edited-record", status_record_edit, 0, f"{N_FRAMES} done"),
    Row("evaluate-missing", lambda ws: ["evaluate", ws / "none.mp4", "--source", ws.clip()],
        2, "does not exist"),
    Row("evaluate-other-size", lambda ws: [
        "evaluate", ws.lavfi_video("big.mkv", "testsrc2=size=64x64:rate=25", "-c:v", "ffv1"),
        "--source", ws.clip()], 2, "64x64"),
    Row("evaluate-start-beyond", lambda ws: ["evaluate", ws.clip("a.mp4"), "--source",
                                             ws.clip(), "--start", "9"], 2, "9"),
    Row("evaluate-one-frame", lambda ws: ["evaluate", ws.picture("one.png", 48, 36),
                                          "--source", ws.clip()], 2, "two frames"),
    Row("flow-one-frame", lambda ws: ["flow", ws.picture("one.png", 48, 36), "-o",
                                      ws / "f.mp4"], 2, "two frames"),
    Row("flow-1x1", lambda ws: ["flow", ws.sequence("dots", w=1, h=1), "-o", ws / "f.mp4"], 5,
        "1x1"),
    Row("flow-frames-reversed", lambda ws: ["flow", ws.clip(), "-o", ws / "f.mp4",
                                            "--frames", "3:1"], 2, "start > end"),
    Row("flow-output-picture", lambda ws: ["flow", ws.clip(), "-o", ws / "f.png"], 2,
        "the flow visualisation is a video"),
    Row("flow-output-sequence", lambda ws: ["flow", ws.clip(), "-o", ws / "f_%04d.png"], 2,
        "give --output a name such as f.mp4"),
    Row("flow-output-folder-missing", lambda ws: ["flow", ws.clip(), "-o",
                                                  ws / "none" / "f.mp4"], 2, "create it first"),
    Row("flow-fps-of-a-video", lambda ws: ["flow", ws.clip(), "-o", ws / "f.mp4", "--fps",
                                           "5"], 2, "--fps has no effect on a video source"),
]


# ---- the test ------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, str]:
    """Every file, folder and link under ``root`` -> its sha256, 'folder' or its target."""
    seen: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                seen[key] = "link " + os.readlink(path)
            elif path.is_dir():
                seen[key] = "folder"
            else:
                seen[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return seen


@pytest.fixture
def ws(tmp_path: Path, media: Path, request: pytest.FixtureRequest) -> Ws:
    space = Ws(tmp_path / "row", media, lambda: request.getfixturevalue("finished"))
    space.root.mkdir()
    space.mounts = []  # type: ignore[attr-defined]
    yield space  # type: ignore[misc]
    for folder in space.mounts:  # type: ignore[attr-defined]
        subprocess.run(["umount", str(folder)], check=False)


def test_table_has_forty_distinct_causes() -> None:
    assert len({row.id for row in ROWS}) == len(ROWS) >= 40


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input(cli: Cli, ws: Ws, row: Row) -> None:
    args = row.make(ws)
    before = snapshot(ws.root)
    code, out, err = cli(*args)
    after = snapshot(ws.root)
    assert "Traceback" not in err, err
    assert code == row.code, f"exit {code}, expected {row.code}:\n{err}"
    if code != 0:
        line = assert_one_error_line(err)
        assert row.phrase in line, line
        assert after == before, "a refused command changed or created files"
        return
    lines = [line for line in err.splitlines() if line.strip()]
    notes = ("videostyle: note:", "videostyle: warning:")
    assert all(line.startswith(notes) for line in lines), err
    assert len(lines) <= 2, err
    assert row.phrase in err + out, err + out
    for key, digest in before.items():
        if any(key == c or key.startswith(c) for c in row.changes):
            continue
        assert after.get(key) == digest, f"{key} changed"
    if row.check is not None:
        row.check(ws)


def test_smallest_frame_is_what_the_loss_network_needs(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """16 px reaches relu5_1 with one pixel; 15 px leaves it none (the pooling fails)."""
    import torch

    from videostyle.config import CONTENT_LAYERS, STYLE_LAYERS
    from videostyle.networks import load_network

    monkeypatch.setenv("VIDEOSTYLE_CACHE", str(cache_dir(tmp_path_factory)))  # the rows' one
    net = load_network("vgg16")
    layers = list(STYLE_LAYERS + CONTENT_LAYERS)
    with torch.no_grad():
        assert tuple(net(torch.rand(1, 3, _MIN, _MIN), layers)["relu5_1"].shape[-2:]) == (1, 1)
        with pytest.raises(RuntimeError):
            net(torch.rand(1, 3, _MIN - 1, _MIN - 1), layers)
