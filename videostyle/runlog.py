"""The run folder's log: one JSON object a line in ``log.jsonl``, appended as things happen.

It holds what a render had to recover from (a frame whose optimisation gave NaN and was
retried, a lock taken over from a killed render), so ``videostyle status`` can report it
after the render's own output is gone. Each line is written with one ``write`` and
fsynced; a line torn by a crash is skipped when the log is read.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

LOG_NAME = "log.jsonl"


def append(root: Path, event: str, **fields: Any) -> None:
    """Add one line ``{"time", "event", **fields}`` to the log of the run folder ``root``.

    A log that cannot be written (a full disk, say) is no reason to stop a render: the
    error is left to the render's next write, which names it.
    """
    line = json.dumps({"time": round(time.time(), 3), "event": event, **fields},
                      sort_keys=True) + "\n"
    try:
        fd = os.open(Path(root) / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read(root: Path) -> list[dict[str, Any]]:
    """The log's entries, oldest first (none when it is absent); torn lines are skipped."""
    try:
        text = (Path(root) / LOG_NAME).read_text()
    except OSError:
        return []
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries
