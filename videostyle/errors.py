"""The project's exception types.

Every error raised on purpose by the package derives from :class:`VideostyleError`.
Its message says what was expected, what arrived, and where useful how to fix it;
only the CLI turns these into one line on stderr and an exit code.

Messages name settings with :func:`opt`: ``str(error)`` shows the setting's own name
(``long_term``), as a caller of the package or a shot file writes it, and the command
line shows its flag (``--long-term``, :func:`as_flags`).
"""

from __future__ import annotations

import re

_MARK = "\x1f"
_MARKED = re.compile(_MARK + r"([a-z][a-z0-9_]*)" + _MARK)


def opt(name: str) -> str:
    """A setting's name inside a message (``long_term``), shown as the reader writes it."""
    return f"{_MARK}{name}{_MARK}"


def as_names(text: str) -> str:
    """``text`` with its settings named as the package names them (``long_term``)."""
    return _MARKED.sub(lambda m: m.group(1), text)


def as_flags(text: str) -> str:
    """``text`` with its settings named as command-line flags (``--long-term``)."""
    return _MARKED.sub(lambda m: "--" + m.group(1).replace("_", "-"), text)


class VideostyleError(Exception):
    """Base class of every error the package raises on purpose."""

    def __str__(self) -> str:
        return as_names(super().__str__())

    def flagged(self) -> str:
        """The message with settings named as command-line flags."""
        return as_flags(super().__str__())

    def marked(self) -> str:
        """The message with its settings marked (:func:`opt`), for its reader to name."""
        return super().__str__()

    @property
    def exit_code(self) -> int:
        """The command line's exit status for this error (see :data:`EXIT_CODES`)."""
        for kind in type(self).__mro__:
            if kind in EXIT_CODES:
                return EXIT_CODES[kind]
        return 1


class InputError(VideostyleError):
    """A file or value given by the user cannot be used (missing, unreadable, malformed)."""


class ResourceError(VideostyleError):
    """The machine lacks what the render needs (memory on the device)."""


class WeightsError(VideostyleError):
    """Loss-network weights cannot be found, downloaded or read."""


class VideoError(VideostyleError):
    """Decoding or encoding with ffmpeg failed."""


class FlowError(VideostyleError):
    """Optical flow cannot be computed, read or written."""


class ResumeError(VideostyleError):
    """A run folder holds a render whose pixel-affecting settings differ from the request."""


class OptimizationError(VideostyleError):
    """The optimiser diverged (NaN or Inf loss) and could not recover."""


class Interrupted(VideostyleError):
    """A render was stopped by a signal; finished frames are kept and it can resume."""


#: Exit status of the command line for each kind of error (1 for any other).
EXIT_CODES: dict[type[VideostyleError], int] = {
    InputError: 2, WeightsError: 3, VideoError: 4, FlowError: 5, ResumeError: 6,
    OptimizationError: 7, ResourceError: 8, Interrupted: 130,
}


class DiskFull(InputError):
    """A disk filled up while the package wrote to it; what was finished is kept.

    ``folder``: where the write failed; ``needed``: bytes that write needed.
    """

    def __init__(self, message: str, *, folder: str = "", needed: int = 0) -> None:
        super().__init__(message)
        self.folder = folder
        self.needed = needed


class RunFolderBusy(ResumeError):
    """Another process holds the run folder's lock (a render of it is running)."""
