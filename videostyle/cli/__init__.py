"""The ``videostyle`` command line: options, settings, progress; the only place that prints.

``app`` is the typer application (one module per command: :mod:`.render`, :mod:`.image`,
:mod:`.preview`, :mod:`.reports`); :func:`main` is the console entry point.
"""

from __future__ import annotations

from . import batch, image, preview, render, reports
from .app import app, main

__all__ = ["app", "batch", "image", "main", "preview", "render", "reports"]
