"""Keypoint files: the ``(T, 3, 47)`` skeleton of one video plus what is needed to trust it later.

A keypoint file is an ``.npz`` of plain arrays (loaded with ``allow_pickle=False``, so opening one never runs
code). Extraction writes one next to the video as ``<video>.keypoints.npz`` (the *sidecar*); it is reused only
while the video's SHA-256 still matches, so editing or replacing the video re-extracts.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np

from minet_desktop.core.atomic import atomic_path, file_sha256
from minet_desktop.core.errors import InputError
from minet_desktop.core.skeleton import N_JOINTS
from minet_desktop.core.validation import (
    check_allocation,
    check_fps,
    check_frame_size,
    check_keypoint_values,
    declared_nbytes,
    npy_file_header,
    npz_member_headers,
    require_file,
)

#: Bumped when the file layout changes; files with another version are refused.
FORMAT_VERSION = 1
_REQUIRED_KEYS = (
    "format_version",
    "keypoints",
    "fps",
    "frame_size",
    "source_sha256",
    "source_name",
    "detected_fraction",
)
SIDECAR_SUFFIX = ".keypoints.npz"
#: Suffixes of the files :func:`load_keypoints` reads: a keypoint file, or a bare ``(T, 3, 47)`` skeleton array.
KEYPOINT_SUFFIXES = (".npz", ".npy")
#: Frame rate assumed for a bare skeleton array, which does not record one.
BARE_SKELETON_FPS = 30.0


@dataclass
class KeypointFile:
    """Keypoints of one video (or image) in pixels.

    Attributes
    ----------
    keypoints
        ``(T, 3, 47)`` float32: x, y in pixels of the source frame, confidence in [0, 1] (0 = not detected).
    fps
        Frames per second of ``keypoints`` (the video's frame rate).
    frame_size
        ``(width, height)`` of the source frames in pixels; ``(0, 0)`` when unknown (OpenPose, Solos).
    source_sha256
        SHA-256 of the source file's bytes (ties a sidecar to its video).
    source_name
        File name of the source, for messages.
    detected_fraction
        Fraction of frames in which a person was found (0 for a video with nobody in it).
    warnings
        Notes about guesses made while producing the keypoints (e.g. an assumed frame rate).
    """

    keypoints: np.ndarray
    fps: float
    frame_size: tuple[int, int]
    source_sha256: str
    source_name: str
    detected_fraction: float
    warnings: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints)
        if kp.ndim != 3 or kp.shape[1] != 3 or kp.shape[2] != N_JOINTS:
            raise ValueError(f"keypoints must have shape (T, 3, {N_JOINTS}), got {kp.shape}")
        self.keypoints = np.ascontiguousarray(kp, dtype=np.float32)
        self.fps = float(self.fps)
        self.frame_size = (int(self.frame_size[0]), int(self.frame_size[1]))
        self.detected_fraction = float(self.detected_fraction)
        self.warnings = tuple(str(w) for w in self.warnings)

    @property
    def n_frames(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def duration(self) -> float:
        """Seconds covered (``n_frames / fps``)."""
        return self.n_frames / self.fps if self.fps > 0 else 0.0

    def save(self, path: str | PathLike[str]) -> None:
        """Write an uncompressed ``.npz`` atomically (a crash never leaves a half-written file)."""
        arrays = {
            "format_version": np.array(FORMAT_VERSION, np.int64),
            "keypoints": self.keypoints,
            "fps": np.array(self.fps, np.float64),
            "frame_size": np.array(self.frame_size, np.int64),
            "source_sha256": np.array(self.source_sha256, dtype=np.str_),
            "source_name": np.array(self.source_name, dtype=np.str_),
            "detected_fraction": np.array(self.detected_fraction, np.float64),
            # Always 1-D of str (possibly empty): a plain unicode array, never object/pickle.
            "warnings": np.array(list(self.warnings), dtype=np.str_).reshape(-1),
        }
        # Written member by member with fixed zip timestamps, so the same keypoints always give the same bytes
        # (reproducible corpora and caches); stored uncompressed, plain arrays, never pickle.
        with atomic_path(path, suffix=".npz") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
            for key, arr in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=False)  # type: ignore[no-untyped-call]
                info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                zf.writestr(info, buf.getvalue())

    @classmethod
    def load(cls, path: str | PathLike[str]) -> KeypointFile:
        """Read a file written by :meth:`save`.

        Raises
        ------
        InputError
            Naming the file: missing, not a keypoint file, a missing key, wrong shape or dtype, bad values.
        """
        p = require_file(path, "a keypoint file")
        # The archive's headers first: a file that declares 10^12 frames is refused before numpy allocates them.
        headers = npz_member_headers(p, "a keypoint file")
        kp_header = headers.get("keypoints")
        if kp_header is not None and (len(kp_header[0]) != 3 or kp_header[0][1:] != (3, N_JOINTS)):
            raise InputError(p, f"'keypoints' has wrong shape {kp_header[0]}, expected (T, 3, {N_JOINTS})")
        try:
            # Our own handle, so a file numpy cannot parse is closed too.
            with open(p, "rb") as fh:
                loaded = np.load(fh, allow_pickle=False)
                if not isinstance(loaded, np.lib.npyio.NpzFile):  # a plain .npy gives one array
                    raise InputError(p, "not a keypoint file (a single array, expected an .npz archive)")
                with loaded as npz:
                    data = {k: npz[k] for k in npz.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise InputError(p, f"not a keypoint file ({exc.__class__.__name__}: {exc})") from None
        missing = [k for k in _REQUIRED_KEYS if k not in data]
        if missing:
            raise InputError(p, f"not a keypoint file: missing key(s) {', '.join(missing)}")

        def scalar(key: str, kinds: str) -> np.ndarray:
            a = data[key]
            if a.shape != () or a.dtype.kind not in kinds:
                raise InputError(p, f"'{key}' must be a scalar of kind {kinds!r}, got {a.dtype} {a.shape}")
            return a

        version = int(scalar("format_version", "iu"))
        if version != FORMAT_VERSION:
            raise InputError(
                p, f"keypoint file format version {version}; this program reads version {FORMAT_VERSION}"
            )
        kp = data["keypoints"]
        if kp.dtype != np.float32:
            raise InputError(p, f"'keypoints' must be float32, got {kp.dtype}")
        if kp.ndim != 3 or kp.shape[1] != 3 or kp.shape[2] != N_JOINTS:
            raise InputError(p, f"'keypoints' has wrong shape {kp.shape}, expected (T, 3, {N_JOINTS})")
        fps = check_fps(p, float(scalar("fps", "f")))
        size = data["frame_size"]
        if size.shape != (2,) or size.dtype.kind not in "iu":
            raise InputError(p, f"'frame_size' must be two integers (w, h), got {size.dtype} {size.shape}")
        check_frame_size(p, int(size[0]), int(size[1]))
        check_keypoint_values(p, kp)
        frac = float(scalar("detected_fraction", "f"))
        if not 0.0 <= frac <= 1.0:
            raise InputError(p, f"'detected_fraction' must be in [0, 1], got {frac}")
        warnings = data.get("warnings", np.zeros(0, np.str_))
        if warnings.ndim != 1 or (warnings.size and warnings.dtype.kind != "U"):
            raise InputError(p, "'warnings' must be a 1-D array of strings")
        return cls(
            keypoints=kp,
            fps=fps,
            frame_size=(int(size[0]), int(size[1])),
            source_sha256=str(scalar("source_sha256", "U")),
            source_name=str(scalar("source_name", "U")),
            detected_fraction=frac,
            warnings=tuple(str(w) for w in warnings),
        )


def load_bare_skeleton(path: str | PathLike[str], fps: float | None = None) -> KeypointFile:
    """A bare ``(T, 3, 47)`` skeleton array (``.npy``: x, y in pixels, confidence) as a performance.

    The array records no frame rate: ``fps`` when given, else :data:`BARE_SKELETON_FPS` with a warning.
    """
    p = require_file(path, "a skeleton file")
    shape, dtype = npy_file_header(p)
    if len(shape) != 3 or shape[1:] != (3, N_JOINTS) or dtype.kind != "f":
        raise InputError(p, f"expected a float (T, 3, {N_JOINTS}) skeleton array, got {dtype} {shape}")
    check_allocation(p, declared_nbytes(shape, np.dtype(np.float32)) * 2, "its skeleton")
    try:
        kp = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(p, f"not a readable skeleton array ({exc.__class__.__name__}: {exc})") from None
    kp = np.asarray(kp, np.float32)
    check_keypoint_values(p, kp)
    warnings: tuple[str, ...] = ()
    if fps is None:
        fps = BARE_SKELETON_FPS
        warnings = (f"{p.name} does not record its frame rate; assuming {fps:g} fps (--fps to set it)",)
    fps = check_fps(p, fps)
    with np.errstate(invalid="ignore"):
        seen = (kp[:, 2, :] > 0) & np.isfinite(kp[:, 0, :]) & np.isfinite(kp[:, 1, :])
    return KeypointFile(
        keypoints=kp,
        fps=fps,
        frame_size=(0, 0),
        source_sha256=file_sha256(p),
        source_name=p.name,
        detected_fraction=float(seen.any(axis=1).mean()) if len(kp) else 0.0,
        warnings=warnings,
    )


def load_keypoints(path: str | PathLike[str], fps: float | None = None) -> KeypointFile:
    """A keypoint file (``.npz``) or a bare skeleton array (``.npy``, at ``fps``), by its suffix."""
    p = Path(path)
    if p.suffix.lower() == ".npy":
        return load_bare_skeleton(p, fps)
    return KeypointFile.load(p)


def sidecar_path(video: str | PathLike[str]) -> Path:
    """``<video>.keypoints.npz`` next to the video (``clip.mp4`` -> ``clip.mp4.keypoints.npz``)."""
    v = Path(video)
    return v.with_name(v.name + SIDECAR_SUFFIX)


def find_sidecar(video: str | PathLike[str], video_sha256: str | None = None) -> KeypointFile | None:
    """The sidecar of ``video`` if there is one and it was extracted from these exact bytes, else ``None``.

    An unreadable or stale sidecar is ignored (it will be overwritten by the next extraction), never an error:
    the video itself is what the user chose. Pass ``video_sha256`` when it is already known, to hash only once.
    """
    sc = sidecar_path(video)
    if not sc.is_file():
        return None
    try:
        kf = KeypointFile.load(sc)
    except InputError:
        return None
    digest = video_sha256 if video_sha256 is not None else file_sha256(video)
    return kf if kf.source_sha256 == digest else None
