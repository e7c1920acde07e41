"""Errors a user can act on.

Every problem with a file the user brought is an :class:`InputError` that names the file and says
what is wrong with it, so the CLI and the GUI can show one line instead of a traceback.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path


class MinetError(Exception):
    """Base class for errors that are shown to the user as a message."""


class InputError(MinetError):
    """A file or folder the user gave cannot be used.

    Parameters
    ----------
    path
        The offending file (or folder).
    problem
        What is wrong with it, in the user's words ("no video stream", "line 3: expected 3 numbers").
    """

    def __init__(self, path: str | PathLike[str] | None, problem: str) -> None:
        self.path = Path(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


class ConfigError(MinetError):
    """A configuration (from a file, a checkpoint or a cache) is invalid or does not match."""


class Cancelled(MinetError):
    """Long work stopped because the user asked it to."""
