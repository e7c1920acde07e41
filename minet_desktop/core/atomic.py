"""Atomic file writes: a crash or a full disk never leaves a half-written export or cache file behind."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

from minet_desktop.core.errors import InputError

#: A leftover temporary file of an unknown writer is removed once it is this old (seconds).
STALE_PART_AGE_S = 3600.0


@contextlib.contextmanager
def atomic_path(path: str | PathLike[str], suffix: str | None = None, tidy: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one rename.

    The temporary file keeps ``path``'s suffix (or ``suffix``) so that libraries that pick a format from the
    extension (soundfile, PyAV, numpy) write the right one. On an exception the temporary file is removed
    and ``path`` is left as it was. Its name carries the writer's process id
    (``.NAME.<pid>-<random>.part.EXT``), so that the temporary files a killed run left beside ``path`` are removed
    by the next write (:func:`remove_stale_parts`) while a parallel run's file is left alone. That reads the
    folder once per write: a writer of thousands of files into one folder passes ``tidy=False``.

    A folder that cannot be created or written to, or a ``path`` that is a folder, is an
    :class:`~minet_desktop.core.errors.InputError` naming ``path``.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if tidy:
            remove_stale_parts(target)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.{os.getpid()}-",
            suffix=".part" + (suffix if suffix is not None else target.suffix),
            dir=target.parent,
        )
    except OSError as exc:
        raise InputError(target, f"cannot be written ({exc.strerror or exc})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would have.
        os.chmod(tmp, 0o666 & ~_umask())
        try:
            os.replace(tmp, target)
        except OSError as exc:  # the target is a folder, or the folder became read-only meanwhile
            raise InputError(target, f"cannot be written ({exc.strerror or exc})") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill would terminate the process there; trust the file's age instead
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def remove_stale_parts(target: str | PathLike[str]) -> list[Path]:
    """Remove the temporary files an interrupted write of ``target`` left beside it; returns them.

    A file is stale when the process that wrote it is gone (its id is in the name) or, for a writer that
    cannot be asked, when it is older than :data:`STALE_PART_AGE_S`.
    """
    t = Path(target)
    prefix = f".{t.name}."
    removed: list[Path] = []
    try:
        with os.scandir(t.parent) as it:
            names = [e.name for e in it if e.name.startswith(prefix)]
    except OSError:
        return removed
    for name in names:
        f = t.parent / name
        if not (name.startswith(prefix) and ".part" in name[len(prefix) :]):
            continue
        pid_text = name[len(prefix) :].split("-", 1)[0]
        try:
            stale = not _pid_alive(int(pid_text)) if pid_text.isdigit() else False
            if not stale:
                stale = time.time() - f.lstat().st_mtime > STALE_PART_AGE_S
            if stale and f.is_file():
                f.unlink()
                removed.append(f)
        except OSError:
            continue
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | PathLike[str], data: bytes, tidy: bool = True) -> None:
    with atomic_path(path, tidy=tidy) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | PathLike[str], text: str, tidy: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), tidy=tidy)


def file_sha256(path: str | PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (identifies a video a keypoint file was extracted from)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
