"""Shot files: a render's options written in TOML, one ``[[shot]]`` per render.

A shot file holds a ``[defaults]`` table and ``[[shot]]`` entries. Keys are ``render``'s
long option names with underscores, plus ``source`` and ``output``; values are written as
the command line writes them (``iterations = "400,150"``, ``size = 512``, ``independent =
true``, ``style = ["a.jpg", "b.jpg"]``; a number is also taken where the text form is a
number). A shot's keys override the defaults, and options typed on the command line
override both. Relative paths resolve against the file's folder.

Every key written in the file counts as given by the user, exactly like a typed option:
the shot's settings come from :func:`videostyle.settings.resolve_render` with the same
``given`` mapping the equivalent command line would produce, so a shot renders the same
from a file as from that command line.

The caller passes the option types (``{name: annotation}``, the command line's own
table), so the file accepts exactly the options ``render`` has.
"""

from __future__ import annotations

import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from . import flow as flowmod
from .errors import InputError, VideostyleError
from .settings import RenderSettings, Resolved, resolve_render
from .stylize import INIT_CHOICES
from .workdir import default_workdir

#: Keys that name files: relative values resolve against the shot file's folder.
PATH_KEYS = ("source", "output", "style", "style_mask", "workdir", "weights")
#: Keys that name a file only when they are not one of these names.
MAYBE_PATH_KEYS: dict[str, tuple[str, ...]] = {
    "first_frame_init": tuple(INIT_CHOICES),
    "flow": tuple(flowmod.ESTIMATOR_NAMES),
}
#: Keys of a shot that are not settings of the render (they pick what is rendered and how).
SHOT_KEYS = ("source", "style", "output", "quality", "device")


@dataclass(frozen=True)
class Shot:
    """One render of a shot file (or of the command line): its inputs and given values.

    ``given`` holds the settings the user gave (file keys and typed options), as
    :func:`~videostyle.settings.resolve_render` takes them.
    """

    label: str
    source: Path
    styles: tuple[Path, ...]
    output: Path
    given: dict[str, Any]
    quality: str | None = None
    device: str = "auto"

    def resolve(self) -> Resolved:
        """The shot's settings, from the one resolution code of the command line."""
        kwargs = {} if self.quality is None else {"quality": self.quality}
        try:
            return resolve_render(self.source, self.styles, self.output, given=self.given,
                                  **kwargs)
        except VideostyleError as exc:
            raise type(exc)(f"{self.label}: {exc.args[0]}") from None

    @property
    def workdir(self) -> Path:
        workdir = self.given.get("workdir")
        return Path(workdir) if workdir is not None else default_workdir(self.output)


def read_shot_file(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``[defaults]`` table and the ``[[shot]]`` tables of a shot file, unchecked."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"shot file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the shot file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}") from None
    extra = sorted(set(data) - {"defaults", "shot"})
    if extra:
        raise InputError(f"{path}: unknown table {extra[0]!r}; a shot file holds [defaults] "
                         f"and [[shot]] entries")
    defaults, shots = data.get("defaults", {}), data.get("shot", [])
    if not isinstance(defaults, dict):
        raise InputError(f"{path}: defaults must be a table ([defaults])")
    if not isinstance(shots, list) or not all(isinstance(s, dict) for s in shots):
        raise InputError(f"{path}: shots are written as [[shot]] tables")
    if not shots:
        raise InputError(f"{path} holds no [[shot]] entry")
    return defaults, shots


def load_shots(
    path: Path,
    *,
    types: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
) -> list[Shot]:
    """The shots of a shot file, each with its defaults and ``overrides`` applied.

    ``types`` maps each accepted key to its command-line annotation (``int | None``,
    ``list[Path]``, a choice enum, ...); ``overrides`` are the options typed on the
    command line, which win over the file. Refuses unknown keys, wrong types, missing
    inputs and two shots sharing a run folder, naming the shot and the key.
    """
    path = Path(path)
    folder = path.parent.absolute()
    defaults, tables = read_shot_file(path)
    base = _convert(defaults, types, folder, f"{path}: [defaults]")
    shots = []
    for index, table in enumerate(tables, start=1):
        where = f"{path}: shot {index}"
        values = {**base, **_convert(table, types, folder, where), **(overrides or {})}
        shots.append(make_shot(values, label=_label(index, values), where=where))
    _check_distinct(shots)
    return shots


def make_shot(values: Mapping[str, Any], *, label: str, where: str | None = None) -> Shot:
    """A shot from the values given (file keys and typed options, by option name)."""
    where = where or label
    for key in ("source", "style", "output"):
        if not values.get(key):
            raise InputError(f"{where}: {key} is missing; every shot needs source, style and "
                             f"output")
    given = {k: v for k, v in values.items() if k not in SHOT_KEYS}
    return Shot(
        label=label, source=Path(values["source"]),
        styles=tuple(Path(p) for p in values["style"]), output=Path(values["output"]),
        given=given, quality=values.get("quality"), device=str(values.get("device", "auto")),
    )


def _label(index: int, values: Mapping[str, Any]) -> str:
    output = values.get("output")
    return f"shot {index} ({Path(output).name})" if output else f"shot {index}"


def _check_distinct(shots: list[Shot]) -> None:
    seen: dict[Path, Shot] = {}
    for shot in shots:
        root = shot.workdir.absolute()
        if root in seen:
            raise InputError(f"{seen[root].label} and {shot.label} share the run folder {root}; "
                             f"give each shot its own output or workdir")
        seen[root] = shot


# ---- values as the command line writes them -----------------------------------------------


def _convert(table: Mapping[str, Any], types: Mapping[str, Any], folder: Path,
             where: str) -> dict[str, Any]:
    out = {}
    for key, value in table.items():
        if key not in types:
            raise InputError(f"{where}: unknown key {key!r}; keys are render's option names "
                             f"with underscores (e.g. style_weight), source and output")
        out[key] = _value(key, value, types[key], folder, f"{where}: {key}")
    return out


def _value(key: str, value: Any, annotation: Any, folder: Path, where: str) -> Any:
    """``value`` as typer would hand it over for an option of type ``annotation``."""
    kind, inner = _kind(annotation)
    if kind == "list":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise InputError(f"{where} must be an array of file names, got {value!r}")
        items = [_value(key, v, inner, folder, where) for v in value]
        return [_path(key, v, folder, inner) for v in items]
    if kind is bool:
        if not isinstance(value, bool):
            raise InputError(f"{where} is a flag: write true or false, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InputError(f"{where} must be a {_kind_name(kind)}, got {value!r}")
    if kind is int:
        if not isinstance(value, int):
            raise InputError(f"{where} must be an integer, got {value!r}")
        return value
    if kind is float:
        if not isinstance(value, int | float):
            raise InputError(f"{where} must be a number, got {value!r}")
        return float(value)
    text = str(value)
    if isinstance(kind, type) and issubclass(kind, Enum):
        choices = [str(m.value) for m in kind]
        if text not in choices:
            raise InputError(f"{where} must be one of {', '.join(choices)}, got {value!r}")
        return text
    return _path(key, text, folder, kind)


def _path(key: str, text: Any, folder: Path, kind: Any) -> Any:
    """A file name resolved against the shot file's folder (other values unchanged)."""
    if key in MAYBE_PATH_KEYS and text in MAYBE_PATH_KEYS[key]:
        return text
    if key not in PATH_KEYS and key not in MAYBE_PATH_KEYS:
        return text
    path = Path(text).expanduser()
    path = path if path.is_absolute() else folder / path
    return path if kind is Path else str(path)


def _kind(annotation: Any) -> tuple[Any, Any]:
    """``int | None`` -> ``(int, None)``; ``list[Path] | None`` -> ``("list", Path)``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0]
    if typing.get_origin(annotation) is list:
        return "list", typing.get_args(annotation)[0]
    return annotation, None


def _kind_name(kind: Any) -> str:
    if kind in (int, float):
        return "number"
    return "string"


@dataclass(frozen=True)
class Planned:
    """A shot with its resolved settings and its notes: preset values dropped, and (when
    planned with the checks) what the checks adapted to the inputs."""

    shot: Shot
    settings: RenderSettings
    notes: tuple[str, ...] = ()


def plan(shots: list[Shot], *, check: bool = True) -> list[Planned]:
    """Every shot's settings, with ``check`` every check of a render that needs no device
    before any shot starts (naming the shot): inputs present and readable, the source's
    frames and sizes, output writable, enough frames for the chunks. The notes are the
    settings' and the checks': every shot's are known before any starts, here or on a
    farm, so a shot's render gives none (without ``check``, as ``status`` plans, the
    checks' notes are not known)."""
    planned = []
    for shot in shots:
        resolved = shot.resolve()
        try:
            notes = _check(resolved.settings) if check else ()
        except VideostyleError as exc:
            raise type(exc)(f"{shot.label}: {exc.args[0]}") from None
        planned.append(Planned(shot, resolved.settings, (*resolved.notes, *notes)))
    return planned


def _check(s: RenderSettings) -> tuple[str, ...]:
    """A shot's checks before any work, and their notes (the device's memory and compiler
    are checked where it renders)."""
    import torch

    from .chunked import check_chunked
    from .pipeline import check_render

    if s.chunks > 1:
        return tuple(check_chunked(s).notes)
    return tuple(check_render(s, torch.device("cpu"), computes=False).notes)
