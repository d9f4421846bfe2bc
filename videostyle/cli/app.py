"""The typer application, the console entry point, and how errors become one line.

This package is the only place that prints or exits. Errors raised on purpose by the
package (:class:`~videostyle.errors.VideostyleError`) become one line on stderr and a
non-zero exit code; so do usage errors (unknown options, bad values).
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer

try:  # typer >= 0.2x vendors click; older releases depend on it
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as click_exc  # type: ignore[no-redef]

from .. import __version__
from ..errors import VideostyleError, as_flags

app = typer.Typer(
    name="videostyle",
    help="Repaint a video (or an image) in the style of an image, without flicker.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def echo(message: str, *, err: bool = False) -> None:
    typer.echo(message, err=err)


def note(message: str) -> None:
    typer.echo(f"videostyle: note: {as_flags(message)}", err=True)


def warn(message: str) -> None:
    typer.echo(f"videostyle: warning: {as_flags(message)}", err=True)


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"videostyle: error: {' '.join(message.split())}", err=True)
    raise typer.Exit(code)


@contextmanager
def errors() -> Iterator[None]:
    """Turn the package's errors into one line on stderr and an exit code."""
    try:
        yield
    except VideostyleError as exc:
        fail(exc.flagged(), exc.exit_code)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        typer.echo(f"videostyle {__version__}")
        raise typer.Exit(0)


class Terminated(BaseException):
    """SIGTERM, raised where the command is so that its clean-ups (``finally``, context
    managers) run; no ``except Exception`` takes it. ``render`` and ``batch`` install their
    own handler: they stop after the iteration."""


def _terminate(_signum: int, _frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one does not cut the clean-up
    raise Terminated


def main(argv: list[str] | None = None) -> NoReturn:
    """Console entry point: one line on stderr for usage errors, exit codes kept."""
    logging.basicConfig(level=logging.WARNING, format="videostyle: %(message)s")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        _run(argv)
    finally:  # past the command (shutdown, finalisers) SIGTERM ends the process as usual
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run(argv: list[str] | None) -> NoReturn:
    try:
        code = app(args=argv, standalone_mode=False)
    except click_exc.UsageError as exc:
        hint = f" (see: videostyle {exc.ctx.info_name} --help)" if exc.ctx else ""
        _print_error(f"{exc.format_message()}{hint}")
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Terminated:
        _print_error("terminated")
        sys.exit(143)
    except (typer.Abort, KeyboardInterrupt):
        _print_error("interrupted")
        sys.exit(130)
    except click_exc.ClickException as exc:
        _print_error(exc.format_message())
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def _print_error(message: str) -> None:
    print(f"videostyle: error: {' '.join(message.split())}", file=sys.stderr)
