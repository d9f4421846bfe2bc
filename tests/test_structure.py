"""Limits that keep the package readable: no function over 80 lines, no class over 250,
measured from ``def``/``class`` to the last line (signature, docstring and nested
functions included), over all of ``videostyle/``."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "videostyle"
MAX_FUNCTION, MAX_CLASS = 80, 250


def sizes() -> list[tuple[int, str, str]]:
    """``(lines, kind, place)`` of every function and class in the package."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                place = f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}"
                out.append((lines, kind, place))
    return out


def test_functions_and_classes_stay_small() -> None:
    found = sizes()
    assert any(kind == "class" for _, kind, _ in found)  # the walk sees the package
    too_long = [
        (lines, place) for lines, kind, place in found
        if lines > (MAX_CLASS if kind == "class" else MAX_FUNCTION)
    ]
    assert too_long == []
