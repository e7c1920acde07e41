"""What the program accepts from the outside: the one list of plausible ranges, and the checks that use it.

Every file or option that enters (keypoint files, skeleton folders, notes, model bundles, recipes, caches,
output paths, command-line and GUI options) is checked here before anything is allocated or written, so that
a hostile or broken input ends in one :class:`~minet_desktop.core.errors.InputError` line naming the file,
never in a traceback, a hang, the kernel's out-of-memory killer, or an overwritten input. The CLI and the
GUI call the same functions (the GUI through the engine), so they refuse the same things with the same
sentence.
"""

from __future__ import annotations

import ast
import math
import os
import struct
import zipfile
from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import BinaryIO

import numpy as np

from minet_desktop.core.errors import InputError, MinetError

# ------------------------------------------------------------------------------------------------------
# Plausible ranges (one documented place)
# ------------------------------------------------------------------------------------------------------

#: Frame rates of real cameras and trackers lie well inside this (slow-motion phones reach 960 fps).
MIN_FPS = 1.0
MAX_FPS = 1000.0
#: A performance shorter than this has no movement to follow (a tenth of a second: three frames at 30 fps).
MIN_PERFORMANCE_S = 0.1
#: Longer than a concert: generating it would take hours and tens of GB; cut the video instead.
MAX_PERFORMANCE_S = 3 * 3600.0
#: Frame sizes (pixels) of real videos and images; 0 x 0 means "not recorded" (OpenPose, Solos).
MAX_FRAME_SIDE = 16384
#: Keypoint coordinates beyond this many pixels (or normalised units) are not a tracker's output.
MAX_COORDINATE = 1e6
#: Sampling options: the ranges the GUI's controls offer, and a little more for the command line.
MAX_TAKES = 16
MAX_TEMPERATURE = 10.0
MAX_GRIFFIN_LIM_ITERS = 1000
#: Never plan on more than this share of the computer's memory for one input.
MEMORY_SHARE = 0.5
#: Used when the operating system does not say how much memory there is.
FALLBACK_MEMORY_BYTES = 8 << 30


def require_file(path: str | PathLike[str], what: str) -> Path:
    """``path`` when it is a regular file (through links); else InputError saying what it is instead.

    A FIFO or a device would block a reader forever, a link loop raises deep inside a library: both are
    refused here, by what they are, before anything opens them.
    """
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        raise InputError(p, f"is a folder, not {what}")
    if p.is_symlink() and not p.exists():
        raise InputError(p, "is a broken link or a link loop")
    if p.exists():
        raise InputError(p, f"is not a regular file (expected {what})")
    raise InputError(p, "file not found")


def memory_budget() -> int:
    """Bytes one input may make the program allocate: :data:`MEMORY_SHARE` of the physical memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        total = FALLBACK_MEMORY_BYTES
    return int(max(total, 1 << 30) * MEMORY_SHARE)


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover - loop always returns


def check_allocation(path: str | PathLike[str] | None, nbytes: float, what: str) -> None:
    """Refuse before allocating ``nbytes`` for ``what`` when that is more than :func:`memory_budget`."""
    budget = memory_budget()
    if not math.isfinite(nbytes) or nbytes > budget:
        raise InputError(
            path,
            f"{what} would need {format_bytes(nbytes)} of memory, more than the {format_bytes(budget)} "
            "this computer can spare",
        )


def describe_seconds(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} hours"
    if seconds >= 60:
        return f"{seconds / 60:.3g} minutes"
    return f"{seconds:.3g} s"


def check_fps(path: str | PathLike[str] | None, fps: float) -> float:
    """``fps`` as a float when it is a plausible frame rate, else InputError naming ``path``."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise InputError(path, f"the frame rate must be a number, got {fps!r}") from None
    if not (math.isfinite(value) and MIN_FPS <= value <= MAX_FPS):
        raise InputError(
            path, f"{value:g} fps is not a plausible frame rate (expected {MIN_FPS:g} to {MAX_FPS:g} fps)"
        )
    return value


def check_duration(path: str | PathLike[str] | None, n_frames: int, fps: float) -> float:
    """Seconds of a performance of ``n_frames`` at ``fps``; InputError when too short or too long to generate."""
    seconds = n_frames / fps
    if seconds < MIN_PERFORMANCE_S:
        raise InputError(
            path,
            f"the performance lasts {seconds:.3g} s ({n_frames} frame(s) at {fps:g} fps); "
            f"at least {MIN_PERFORMANCE_S:g} s of movement is needed",
        )
    if seconds > MAX_PERFORMANCE_S:
        raise InputError(
            path,
            f"the performance would last {describe_seconds(seconds)} ({n_frames} frames at {fps:g} fps); "
            f"the most this program generates at once is {describe_seconds(MAX_PERFORMANCE_S)}",
        )
    return seconds


def check_max_frames(path: str | PathLike[str] | None, n_frames: int, fps: float, what: str = "") -> None:
    """Refuse, before allocating them, more frames than :data:`MAX_PERFORMANCE_S` at ``fps``."""
    if n_frames / fps > MAX_PERFORMANCE_S:
        lead = f"{what}: " if what else ""
        raise InputError(
            path,
            f"{lead}{n_frames} frames at {fps:g} fps would last {describe_seconds(n_frames / fps)}; "
            f"the most this program reads at once is {describe_seconds(MAX_PERFORMANCE_S)}",
        )


def check_frame_size(path: str | PathLike[str] | None, width: int, height: int) -> None:
    """Frame size in pixels: both 0 (unknown) or both in 1..:data:`MAX_FRAME_SIDE`."""
    if (width, height) == (0, 0):
        return
    if not (1 <= width <= MAX_FRAME_SIDE and 1 <= height <= MAX_FRAME_SIDE):
        raise InputError(
            path, f"frame size {width}x{height} is not plausible (1 to {MAX_FRAME_SIDE} pixels a side)"
        )


def check_keypoint_values(path: str | PathLike[str] | None, kp: np.ndarray) -> None:
    """Values a tracker can produce in a ``(T, 3, 47)`` array: confidence in [0, 1] (NaN = not detected),
    coordinates NaN (missing) or within +-:data:`MAX_COORDINATE`; never infinite."""
    if kp.size == 0:
        return
    xy, conf = kp[:, :2, :], kp[:, 2, :]
    with np.errstate(invalid="ignore"):
        bad_conf = ~np.isnan(conf) & ~((conf >= 0) & (conf <= 1))
        bad_xy = ~np.isnan(xy) & ~(np.abs(xy) <= MAX_COORDINATE)
    if bad_conf.any():
        t, j = (int(v[0]) for v in np.nonzero(bad_conf))
        raise InputError(
            path,
            f"confidence {float(conf[t, j]):g} at frame {t}, joint {j} is not in [0, 1] "
            f"({int(bad_conf.sum())} value(s) like it): not a skeleton",
        )
    if bad_xy.any():
        t, c, j = (int(v[0]) for v in np.nonzero(bad_xy))
        raise InputError(
            path,
            f"coordinate {float(xy[t, c, j]):g} at frame {t}, joint {j} is not a position "
            f"(finite and within +-{MAX_COORDINATE:g}; {int(bad_xy.sum())} value(s) like it)",
        )


def tracked_fractions(kp: np.ndarray, threshold: float) -> dict[str, float]:
    """Share of frames in which the body (neck and both shoulders), each hand (any hand point) and anything
    at all was tracked with confidence >= ``threshold`` and finite coordinates: how much of a performance the
    model really sees."""
    if kp.shape[0] == 0:
        return {"any": 0.0, "body": 0.0, "right hand": 0.0, "left hand": 0.0}
    with np.errstate(invalid="ignore"):
        ok = (kp[:, 2, :] >= threshold) & np.isfinite(kp[:, 0, :]) & np.isfinite(kp[:, 1, :])
    # Joint indices of the canonical skeleton (core.skeleton): 0-2 neck and right shoulder... see there.
    return {
        "any": float(ok.any(axis=1).mean()),
        "body": float(ok[:, [0, 1, 4]].all(axis=1).mean()),
        "right hand": float(ok[:, 7:27].any(axis=1).mean()),
        "left hand": float(ok[:, 27:47].any(axis=1).mean()),
    }


# ------------------------------------------------------------------------------------------------------
# Sampling options (CLI flags and GUI controls)
# ------------------------------------------------------------------------------------------------------


def check_sampling_options(
    takes: int = 1,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    griffin_lim_iters: int | None = None,
) -> None:
    """Refuse sampling options outside their meaning (MinetError naming the option)."""
    if isinstance(takes, bool) or not isinstance(takes, int | np.integer) or not 1 <= takes <= MAX_TAKES:
        raise MinetError(f"--takes must be a whole number from 1 to {MAX_TAKES}, got {takes}")
    if not (isinstance(temperature, int | float) and math.isfinite(temperature)):
        raise MinetError(f"--temperature must be a finite number, got {temperature}")
    if not 0 <= temperature <= MAX_TEMPERATURE:
        raise MinetError(
            f"--temperature must be from 0 (most likely) to {MAX_TEMPERATURE:g}, got {temperature:g}"
        )
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1
    ):
        raise MinetError(
            f"--top-k must be a whole number >= 1 (omit it to sample from all codes), got {top_k}"
        )
    if top_p is not None and not (isinstance(top_p, int | float) and math.isfinite(top_p) and 0 < top_p <= 1):
        raise MinetError(f"--top-p must be a probability in (0, 1], got {top_p}")
    if griffin_lim_iters is not None:
        check_griffin_lim_iters(griffin_lim_iters)


def check_griffin_lim_iters(iters: int, option: str = "--griffin-lim-iters") -> None:
    """Griffin-Lim iterations: 1 to :data:`MAX_GRIFFIN_LIM_ITERS` (10^9 would run for days)."""
    if (
        isinstance(iters, bool)
        or not isinstance(iters, int | np.integer)
        or not 1 <= iters <= MAX_GRIFFIN_LIM_ITERS
    ):
        raise MinetError(f"{option} must be a whole number from 1 to {MAX_GRIFFIN_LIM_ITERS}, got {iters}")


# ------------------------------------------------------------------------------------------------------
# Arrays in .npy / .npz files: their declared size, read before anything is allocated
# ------------------------------------------------------------------------------------------------------

_NPY_MAGIC = b"\x93NUMPY"
#: Longest header numpy writes (version 2/3 headers are padded to a multiple of 64 bytes).
_MAX_NPY_HEADER = 1 << 16


def read_npy_header(fh: BinaryIO, path: str | PathLike[str] | None) -> tuple[tuple[int, ...], np.dtype]:
    """``(shape, dtype)`` declared by the header of the ``.npy`` stream ``fh``, without reading its data.

    InputError naming ``path`` when it is not an ``.npy`` header, or declares an object (pickle) dtype.
    """
    magic = fh.read(8)
    if len(magic) < 8 or magic[:6] != _NPY_MAGIC:
        raise InputError(path, "not a numpy array file (no .npy header)" if magic else "file is empty")
    major = magic[6]
    raw_len = fh.read(2 if major == 1 else 4)
    if len(raw_len) not in (2, 4) or major not in (1, 2, 3):
        raise InputError(path, f"unsupported .npy header version {major}")
    (length,) = struct.unpack("<H" if major == 1 else "<I", raw_len)
    if length > _MAX_NPY_HEADER:
        raise InputError(path, f".npy header of {length} bytes is not plausible")
    header = fh.read(length)
    if len(header) < length:
        raise InputError(path, "truncated .npy header")
    try:
        text = header.decode("utf-8" if major == 3 else "latin1")
        info = ast.literal_eval(text)
        shape = tuple(int(s) for s in info["shape"])
        descr = info["descr"]
        dtype = np.dtype(descr) if isinstance(descr, str) else None
    except (ValueError, SyntaxError, KeyError, TypeError, MemoryError, RecursionError):
        raise InputError(path, "unreadable .npy header") from None
    if dtype is None or dtype.hasobject:
        raise InputError(path, "holds Python objects (pickle), which this program never loads")
    if any(s < 0 for s in shape):
        raise InputError(path, f".npy header declares a negative shape {shape}")
    return shape, dtype


def declared_nbytes(shape: Iterable[int], dtype: np.dtype) -> float:
    """Bytes an array of ``shape`` and ``dtype`` takes (a float, so absurd shapes do not overflow)."""
    return float(math.prod(float(s) for s in shape)) * dtype.itemsize


def npy_file_header(path: str | PathLike[str]) -> tuple[tuple[int, ...], np.dtype]:
    """Declared ``(shape, dtype)`` of an ``.npy`` file, also checking that the file holds that many bytes."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            shape, dtype = read_npy_header(fh, p)
            data_start = fh.tell()
        size = p.stat().st_size
    except OSError as exc:
        raise InputError(p, f"cannot be read ({exc.strerror or exc})") from None
    need = declared_nbytes(shape, dtype)
    if size - data_start < need:
        raise InputError(
            p,
            f"truncated: its header declares {shape} {dtype} ({format_bytes(need)}) but it holds "
            f"{format_bytes(size - data_start)}",
        )
    return shape, dtype


def npz_member_headers(
    path: str | PathLike[str], what: str = "a readable .npz archive"
) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Declared ``(shape, dtype)`` of every array in an ``.npz`` (name without ``.npy``), read from the
    archive's headers only; the memory budget is checked against their total before any array is loaded."""
    p = Path(path)
    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    try:
        with zipfile.ZipFile(p) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as fh:
                    try:
                        out[info.filename[:-4]] = read_npy_header(fh, p)  # type: ignore[arg-type]
                    except InputError as exc:
                        raise InputError(p, f"not {what}: '{info.filename}' {exc.problem}") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise InputError(p, f"not {what} ({type(exc).__name__}: {exc})") from None
    total = sum(declared_nbytes(s, d) for s, d in out.values())
    check_allocation(p, total, "its arrays")
    return out


# ------------------------------------------------------------------------------------------------------
# Output paths
# ------------------------------------------------------------------------------------------------------


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except (OSError, RuntimeError):  # a symlink loop: not the same as anything we can write
        return False


def check_output_path(
    output: str | PathLike[str], inputs: Iterable[str | PathLike[str] | None] = (), what: str = "output"
) -> Path:
    """Refuse an output path that would overwrite an input or cannot be written; returns it as a Path.

    Checked up front (before any work): the path is not one of ``inputs`` (nor the same file through a link),
    not a folder, its folder is not a file and can be written to.
    """
    out = Path(output)
    for src in inputs:
        if src is not None and _same_file(out, Path(src)):
            raise InputError(out, f"the {what} would overwrite an input ({src}); choose another file name")
    if out.is_dir():
        raise InputError(out, f"is a folder; the {what} must be a file name")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:  # the first folder that exists
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(out, f"cannot be created: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(out, f"cannot be written: no permission to write in {parent}")
    return out
