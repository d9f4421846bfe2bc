"""The project's exception types.

Every error raised on purpose by the package derives from :class:`VideostyleError`.
Its message says what was expected, what arrived, and where useful how to fix it;
only the CLI turns these into one line on stderr and an exit code.
"""

from __future__ import annotations


class VideostyleError(Exception):
    """Base class of every error the package raises on purpose."""

    exit_code: int = 1


class InputError(VideostyleError):
    """A file or value given by the user cannot be used (missing, unreadable, malformed)."""

    exit_code = 2


class WeightsError(VideostyleError):
    """Loss-network weights cannot be found, downloaded or read."""

    exit_code = 3


class VideoError(VideostyleError):
    """Decoding or encoding with ffmpeg failed."""

    exit_code = 4


class FlowError(VideostyleError):
    """Optical flow cannot be computed, read or written."""

    exit_code = 5


class ResumeError(VideostyleError):
    """A run folder holds a render whose pixel-affecting settings differ from the request."""

    exit_code = 6


class OptimizationError(VideostyleError):
    """The optimiser diverged (NaN or Inf loss) and could not recover."""

    exit_code = 7


class Interrupted(VideostyleError):
    """A render was stopped by a signal; finished frames are kept and it can resume."""

    exit_code = 130
