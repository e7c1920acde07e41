"""Errors a user can act on.

Every problem with a file the user brought is an :class:`InputError` that names the file and says
what is wrong with it, so the CLI and the GUI can show one line instead of a traceback.
"""

from __future__ import annotations

import argparse
import sys
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


def report_error(exc: MinetError | OSError) -> int:
    """Print a refusal as the one line ``error: FILE: what is wrong`` on stderr; returns exit status 2.

    An OSError names a file the system would not read or write (permissions, a full disk, a link loop);
    one that names no file is not about the user's input and is raised again, to be reported as a bug.
    """
    if isinstance(exc, OSError):
        if exc.filename is None:
            raise exc
        line = f"{exc.filename}: {exc.strerror or exc}"
    else:
        line = str(exc)
    print(f"error: {line}", file=sys.stderr)
    return 2


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose refusals are one line naming the option (exit status 2), like every other
    refusal of the command line; ``--help`` still shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")
