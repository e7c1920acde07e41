"""Errors a user can act on.

Every problem with a file the user brought is an :class:`InputError` that names the file and says
what is wrong with it, so the CLI and the GUI can show one line instead of a traceback.
"""

from __future__ import annotations

import argparse
from os import PathLike
from pathlib import Path
from typing import NoReturn


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


def os_error_line(exc: OSError) -> str | None:
    """``"FILE: what the system said"`` for an OSError about a file (no permission, disk full, a link loop);
    None when it names no file (then it is not the user's input, and stays a bug to report)."""
    if exc.filename is None:
        return None
    return f"{exc.filename}: {exc.strerror or exc}"


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose refusals are one line naming the option (exit status 2), like every other
    refusal of the command line; ``--help`` still shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")
