"""Tests of videostyle.workdir: the run folder, its manifest, frame commits and resume checks."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from videostyle.atomic import write_bytes
from videostyle.config import EngineSettings
from videostyle.errors import InputError, ResumeError
from videostyle.workdir import (
    FORMAT_VERSION,
    FrameRecord,
    RunFolder,
    default_workdir,
    diff_settings,
    sha256_bytes,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # only bytes matter to the run folder


def record(frame: int, data: bytes = PNG, seconds: float = 1.5) -> FrameRecord:
    return FrameRecord(
        frame=frame, sha256=sha256_bytes(data), seconds=seconds, iterations=7,
        losses={"total": 2.5, "style": 1.25},
    )


def manifest(**pixels: Any) -> dict[str, Any]:
    """A manifest in JSON form (lists, not tuples), as a render would build it."""
    base: dict[str, Any] = {
        "source": "ab" * 32,
        "frames": [1, 4],
        "size": [40, 30],
        "iterations": [8, 6],
        "init": "prev",
        "engine": {"seed": 1, "weights": {"style": 3.0}},
    }
    base.update(pixels)
    return {
        "package_version": "0.1.0",
        "pixels": base,
        "environment": {"device": "cpu", "threads": 1, "torch": "2.x", "machine": "x86_64"},
    }


def opened(tmp_path: Path, **pixels: Any) -> RunFolder:
    run = RunFolder(tmp_path / "out.videostyle")
    assert run.open(manifest(**pixels)) == []
    return run


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# ---- layout and names ---------------------------------------------------------------------


def test_default_workdir_names() -> None:
    assert default_workdir(Path("/x/out.mp4")) == Path("/x/out.videostyle")
    assert default_workdir(Path("clips/a.b.mkv")) == Path("clips/a.b.videostyle")
    # a change of container (and codec) finds the same run folder
    assert default_workdir(Path("/x/out.mov")) == default_workdir(Path("/x/out.mp4"))
    assert default_workdir(Path("/x/out_%04d.png")) == Path("/x/out.videostyle")
    assert default_workdir(Path("render/shot-%d.tif")) == Path("render/shot.videostyle")
    assert default_workdir(Path("render/%06d.png")) == Path("render/frames.videostyle")


def test_creating_a_run_folder_object_touches_nothing(tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "w")
    assert not run.exists()
    assert not (tmp_path / "w").exists()
    assert run.frame_path(3) == tmp_path / "w" / "frames" / "000003.png"
    assert run.record_path(12) == tmp_path / "w" / "frames" / "000012.json"
    assert run.content_path(1) == tmp_path / "w" / "content" / "000001.png"


def test_open_creates_layout_and_manifest(tmp_path: Path) -> None:
    run = opened(tmp_path)
    assert run.exists()
    for folder in (run.content_dir, run.frames_dir, run.flow_dir):
        assert folder.is_dir()
    stored = json.loads(run.manifest_path.read_text())
    assert stored["format"] == FORMAT_VERSION
    assert stored["pixels"] == manifest()["pixels"]
    assert run.read_manifest() == stored
    assert [p.name for p in run.root.iterdir() if p.name.startswith(".")] == []


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "file.bin"
    write_bytes(target, b"first")
    write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert files_under(tmp_path) == ["deep/file.bin"]


# ---- frames ------------------------------------------------------------------------------


def test_an_atomic_write_gets_the_permissions_open_would_give(tmp_path: Path) -> None:
    """A new file: what the umask leaves of 0666 (not mkstemp's 0600, which would hide a
    render's frames from the rest of a farm's group); a replaced file keeps its own."""
    import os

    saved = os.umask(0o022)
    try:
        for mask, mode in ((0o022, 0o644), (0o007, 0o660)):
            os.umask(mask)
            write_bytes(tmp_path / f"new{mask}.png", b"x")
            assert (tmp_path / f"new{mask}.png").stat().st_mode & 0o777 == mode
    finally:
        os.umask(saved)
    (tmp_path / "old.png").write_bytes(b"old")
    (tmp_path / "old.png").chmod(0o640)
    write_bytes(tmp_path / "old.png", b"new")
    assert (tmp_path / "old.png").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "old.png").read_bytes() == b"new"


def test_commit_frame_then_is_done(tmp_path: Path) -> None:
    run = opened(tmp_path)
    assert not run.is_done(2)
    run.commit_frame(2, PNG, record(2))
    assert run.is_done(2)
    assert not run.is_done(1) and not run.is_done(3)
    assert run.frame_path(2).read_bytes() == PNG
    assert run.frame_record(2) == record(2)
    assert json.loads(run.record_path(2).read_text())["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert run.done_frames(range(1, 5)) == [2]
    assert run.records(range(1, 5)) == [record(2)]
    assert files_under(run.frames_dir) == ["000002.json", "000002.png"]


def test_truncated_png_is_not_done(tmp_path: Path) -> None:
    run = opened(tmp_path)
    run.commit_frame(1, PNG, record(1))
    run.frame_path(1).write_bytes(PNG[: len(PNG) // 2])
    assert not run.is_done(1)
    run.frame_path(1).write_bytes(b"")
    assert not run.is_done(1)
    run.frame_path(1).unlink()
    assert not run.is_done(1)


def test_png_without_record_or_mismatching_record_is_not_done(tmp_path: Path) -> None:
    run = opened(tmp_path)
    run.commit_frame(1, PNG, record(1))
    other = PNG[:-1] + b"\x00"
    run.frame_path(1).write_bytes(other)  # same size, other bytes
    assert not run.is_done(1)
    run.commit_frame(2, PNG, record(2, data=other))  # record of other bytes
    assert not run.is_done(2)
    run.commit_frame(3, PNG, record(3))
    run.record_path(3).write_text('{"frame": 3, "sha2')  # torn record
    assert not run.is_done(3)
    assert run.frame_record(3) is None
    run.commit_frame(4, PNG, record(4))
    run.record_path(4).unlink()
    assert not run.is_done(4)
    assert run.done_frames(range(1, 5)) == []


def test_recommit_replaces_frame(tmp_path: Path) -> None:
    run = opened(tmp_path)
    run.commit_frame(1, PNG, record(1))
    new = PNG + b"more"
    run.commit_frame(1, new, record(1, data=new, seconds=3.0))
    assert run.is_done(1)
    assert run.frame_path(1).read_bytes() == new
    assert run.frame_record(1).seconds == 3.0  # type: ignore[union-attr]


# ---- resume checks -----------------------------------------------------------------------


def test_reopen_with_same_settings_keeps_frames(tmp_path: Path) -> None:
    run = opened(tmp_path)
    run.commit_frame(1, PNG, record(1))
    again = RunFolder(run.root)
    assert again.open(manifest()) == []
    assert again.is_done(1)


def test_reopen_with_dataclass_settings_resumes(tmp_path: Path) -> None:
    """Tuples (dataclasses.asdict) compare equal to the lists manifest.json gives back."""
    engine = dataclasses.asdict(EngineSettings())  # holds tuples, as pixel_settings does
    assert isinstance(engine["content_layers"], tuple)
    run = RunFolder(tmp_path / "w")
    run.open(manifest(engine=engine))
    run.commit_frame(1, PNG, record(1))
    assert RunFolder(run.root).open(manifest(engine=engine)) == []
    assert run.is_done(1)


def test_changed_pixel_settings_refuse_and_name_them(tmp_path: Path) -> None:
    run = opened(tmp_path)
    run.commit_frame(1, PNG, record(1))
    before = run.manifest_path.read_bytes()
    changed = manifest(engine={"seed": 1, "weights": {"style": 10.0}}, size=[48, 36])
    with pytest.raises(ResumeError) as caught:
        RunFolder(run.root).open(changed)
    message = str(caught.value)
    assert "engine, size" in message
    assert "--restart" in caught.value.flagged()  # the command line names the flag
    for same in ("iterations", "init", "source", "frames"):
        assert same not in message
    assert run.manifest_path.read_bytes() == before  # refused before touching anything
    assert run.is_done(1)


def test_new_pixel_setting_key_refuses(tmp_path: Path) -> None:
    run = opened(tmp_path)
    with pytest.raises(ResumeError, match="multipass"):
        RunFolder(run.root).open(manifest(multipass=[2, 1, 1.0, 0.0]))


def test_environment_change_warns_and_proceeds(tmp_path: Path) -> None:
    run = opened(tmp_path)
    run.commit_frame(1, PNG, record(1))
    other = manifest()
    other["environment"]["threads"] = 8
    other["environment"]["torch"] = "9.9"
    warnings = RunFolder(run.root).open(other)
    assert len(warnings) == 1
    assert "threads" in warnings[0] and "torch" in warnings[0]
    assert "device" not in warnings[0]
    assert run.is_done(1)
    assert run.read_manifest()["environment"]["threads"] == 8


def test_restart_clears_frames_flow_and_content(tmp_path: Path) -> None:
    run = opened(tmp_path)
    run.commit_frame(1, PNG, record(1))
    run.content_path(1).write_bytes(PNG)
    (run.flow_dir / "forward_1_2.flo").write_bytes(b"PIEH")
    run.pass_path(1, 1).parent.mkdir(parents=True)
    run.pass_path(1, 1).write_bytes(PNG)
    changed = manifest(init="content")
    assert RunFolder(run.root).open(changed, restart=True) == []
    assert not run.is_done(1)
    assert files_under(run.root) == ["manifest.json"]
    assert run.read_manifest()["pixels"]["init"] == "content"
    for folder in (run.content_dir, run.frames_dir, run.flow_dir):
        assert folder.is_dir()


def test_restart_of_a_new_folder_creates_it(tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "fresh")
    assert run.open(manifest(), restart=True) == []
    assert run.exists()


def test_manifest_errors(tmp_path: Path) -> None:
    missing = RunFolder(tmp_path / "nothing")
    with pytest.raises(InputError, match="not a run folder"):
        missing.read_manifest()
    run = opened(tmp_path)
    run.manifest_path.write_text("{ torn")
    with pytest.raises(ResumeError, match="restart"):
        run.read_manifest()
    with pytest.raises(ResumeError, match="restart"):
        RunFolder(run.root).open(manifest())
    run.manifest_path.write_text(json.dumps({"format": FORMAT_VERSION + 1}))
    with pytest.raises(ResumeError, match="another version"):
        run.read_manifest()
    assert RunFolder(run.root).open(manifest(), restart=True) == []  # the fix it suggests
    assert run.read_manifest()["format"] == FORMAT_VERSION


def test_run_folder_where_a_file_is(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot create the run folder"):
        RunFolder(blocker / "w").open(manifest())


def test_diff_settings() -> None:
    assert diff_settings({"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 2]}) == []
    assert diff_settings({"a": 1, "b": 2}, {"b": 3, "c": 4}) == ["a", "b", "c"]
