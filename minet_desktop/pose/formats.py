"""Other skeleton formats: OpenPose JSON folders and the Solos dataset's skeleton memmap.

Both are converted to (and from) the canonical 47-joint layout of :mod:`minet_desktop.core.skeleton`, which
*is* Solos' layout and OpenPose's body + hand points without the nose and the hand wrists.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from minet_desktop.core.atomic import atomic_path, atomic_write_text
from minet_desktop.core.errors import InputError
from minet_desktop.core.skeleton import L_HAND, L_WRIST, N_JOINTS, R_HAND, R_WRIST
from minet_desktop.core.validation import (
    check_allocation,
    check_fps,
    check_keypoint_values,
    check_max_frames,
    declared_nbytes,
    require_file,
)
from minet_desktop.pose.keypoint_file import KeypointFile

# --------------------------------------------------------------------------------------------------------
# OpenPose
# --------------------------------------------------------------------------------------------------------

#: OpenPose body index of each canonical body joint 0..6 (Neck, RShoulder, RElbow, RWrist, LShoulder, LElbow,
#: LWrist). BODY_25 and COCO-18 share indices 0..7, so both models read the same way.
OPENPOSE_BODY_INDEX: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
_BODY_LENGTHS = {75: "BODY_25", 54: "COCO", 45: "MPI"}
_HAND_LENGTH = 63  # 21 points x (x, y, c)
_FRAME_NUMBER = re.compile(r"(\d+)_keypoints\.json$")
#: One frame's JSON is a few kB (a crowded frame with faces a few hundred kB); larger is not OpenPose's.
MAX_JSON_BYTES = 16 << 20


def _read_json_file(path: Path, what: str) -> tuple[Any, bytes]:
    """The parsed JSON of ``path`` and its bytes; InputError naming it when it cannot be read or parsed (never a traceback:
    not for a folder, a link loop, no permission, 10^5 nested brackets or a file of gigabytes)."""
    require_file(path, what)
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise InputError(path, f"{size} bytes is too large for {what}")
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        return json.loads(raw), raw
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not valid JSON ({exc})") from None
    except RecursionError:
        raise InputError(path, "not plausible JSON (nested too deeply)") from None


def _number_list(
    path: Path, person: Mapping[str, Any], key: str, lengths: tuple[int, ...]
) -> np.ndarray | None:
    """``person[key]`` as float64 ``(n/3, 3)``; ``None`` when absent or empty; InputError when malformed."""
    values = person.get(key)
    if values is None or (isinstance(values, list) and len(values) == 0):
        return None
    if not isinstance(values, list) or not all(isinstance(v, int | float) for v in values):
        raise InputError(path, f"'{key}' must be a list of numbers")
    if len(values) not in lengths:
        raise InputError(path, f"'{key}' has {len(values)} numbers, expected one of {sorted(lengths)}")
    return np.asarray(values, np.float64).reshape(-1, 3)


def _person_to_canonical(path: Path, person: Mapping[str, Any]) -> np.ndarray:
    """One OpenPose person -> ``(3, 47)`` float32."""
    kp = np.zeros((3, N_JOINTS), np.float64)
    body = _number_list(path, person, "pose_keypoints_2d", tuple(_BODY_LENGTHS))
    if body is not None:
        for joint, idx in enumerate(OPENPOSE_BODY_INDEX):
            kp[:, joint] = body[idx]
    for key, joints in (("hand_right_keypoints_2d", R_HAND), ("hand_left_keypoints_2d", L_HAND)):
        hand = _number_list(path, person, key, (_HAND_LENGTH,))
        if hand is not None:
            kp[:, list(joints)] = hand[1:21].T
    kp[:2, ~(kp[2] > 0)] = 0.0  # OpenPose writes 0,0,0 for missing points; NaN-safe the same way
    check_keypoint_values(path, kp[None])  # before the cast: 1e39 would overflow float32
    return kp.astype(np.float32)


def _upper_body_score(kp: np.ndarray) -> float:
    """Sum of confidences of neck, shoulders, elbows, wrists: picks the performer among several people."""
    return float(kp[2, :7].sum())


def _frame_files(folder: Path) -> list[tuple[int, Path]]:
    files: dict[int, Path] = {}
    for f in folder.glob("*_keypoints.json"):
        m = _FRAME_NUMBER.search(f.name)
        if m is None:
            raise InputError(f, "has no frame number before '_keypoints.json'")
        n = int(m.group(1))
        if n in files:
            raise InputError(
                folder,
                f"frame {n} appears twice ({files[n].name}, {f.name}): the folder holds more than one video",
            )
        files[n] = f
    return sorted(files.items())


def read_openpose_folder(
    folder: str | PathLike[str], fps: float = 30.0, frame_size: tuple[int, int] = (0, 0)
) -> KeypointFile:
    """Read OpenPose's per-frame ``*_keypoints.json`` files (``--write_json``) as one :class:`KeypointFile`.

    Files are ordered by the frame number before ``_keypoints.json`` (``clip_000000000012_keypoints.json`` is
    frame 12). A frame with no people, or a missing frame number, gets zero confidence; when several people
    are found the one with the most confident upper body (neck, shoulders, elbows, wrists) is kept.
    BODY_25, COCO and MPI body models are accepted (their indices 1..7 agree); hands are OpenPose's 21 points,
    of which the wrist (point 0) is dropped because the body's wrist stands for it.

    Parameters
    ----------
    fps
        Frame rate of the video OpenPose ran on (the JSON files do not record it).
    frame_size
        ``(width, height)`` of that video if known.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(root, "not a folder (expected a folder of OpenPose *_keypoints.json files)")
    fps = check_fps(root, fps)
    try:
        files = _frame_files(root)
    except OSError as exc:
        raise InputError(root, f"cannot be read ({exc.strerror or exc})") from None
    if not files:
        raise InputError(root, "no OpenPose *_keypoints.json files in this folder")
    first, last = files[0][0], files[-1][0]
    # Frame numbers come from file names: a gap of 10^12 must not become a 10^12-frame array.
    check_max_frames(root, last - first + 1, fps, f"frame numbers {first} to {last}")
    check_allocation(
        root, declared_nbytes((last - first + 1, 3, N_JOINTS), np.dtype(np.float32)), "the skeleton"
    )
    keypoints = np.zeros((last - first + 1, 3, N_JOINTS), np.float32)
    detected = 0
    digest = hashlib.sha256()
    for n, f in files:
        doc, raw = _read_json_file(f, "an OpenPose keypoint file")
        digest.update(f.name.encode() + b"\0" + raw)
        if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
            raise InputError(f, "not an OpenPose keypoint file (no 'people' list)")
        people = [p for p in doc["people"] if isinstance(p, dict)]
        if len(people) != len(doc["people"]):
            raise InputError(f, "'people' must be a list of objects")
        if not people:
            continue
        candidates = [_person_to_canonical(f, p) for p in people]
        best = max(candidates, key=_upper_body_score)  # max keeps the first of equals
        keypoints[n - first] = best
        detected += bool((best[2] > 0).any())
    missing = len(keypoints) - len(files)
    warnings = (
        (f"{missing} frame number(s) missing between {first} and {last}; filled with no detection",)
        if missing
        else ()
    )
    return KeypointFile(
        keypoints=keypoints,
        fps=fps,
        frame_size=frame_size,
        source_sha256=digest.hexdigest(),
        source_name=root.name,
        detected_fraction=detected / len(keypoints),
        warnings=warnings,
    )


def _triples(xs: np.ndarray, ys: np.ndarray, cs: np.ndarray) -> list[float]:
    return [float(v) for triple in zip(xs, ys, cs, strict=True) for v in triple]


def write_openpose_folder(folder: str | PathLike[str], kf: KeypointFile, prefix: str = "video") -> None:
    """Write ``kf`` as OpenPose BODY_25 JSON files ``<prefix>_<frame:012d>_keypoints.json``.

    Frames with no detected joint get an empty ``people`` list; the nose and legs are written as not detected
    and each hand's wrist point repeats the body's wrist. :func:`read_openpose_folder` reads it back exactly.
    """
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(kf.keypoints.astype(np.float64)):
        people = []
        if (frame[2] > 0).any():
            body = np.zeros((25, 3))
            for joint, idx in enumerate(OPENPOSE_BODY_INDEX):
                body[idx] = frame[:, joint]
            person: dict[str, Any] = {"person_id": [-1], "pose_keypoints_2d": _triples(*body.T)}
            for key, joints, wrist in (
                ("hand_left_keypoints_2d", L_HAND, L_WRIST),
                ("hand_right_keypoints_2d", R_HAND, R_WRIST),
            ):
                hand = np.concatenate([frame[:, [wrist]], frame[:, list(joints)]], axis=1)
                person[key] = _triples(*hand)
            person["face_keypoints_2d"] = []
            people.append(person)
        doc = {"version": 1.3, "people": people}
        # One file per frame: tidying leftovers would read the growing folder once per frame.
        atomic_write_text(root / f"{prefix}_{t:012d}_keypoints.json", json.dumps(doc), tidy=False)


# --------------------------------------------------------------------------------------------------------
# Solos
# --------------------------------------------------------------------------------------------------------

#: Solos' 13 instrument categories -> URMP instrument codes.
SOLOS_TO_URMP: dict[str, str] = {
    "Violin": "vn",
    "Viola": "va",
    "Cello": "vc",
    "DoubleBass": "db",
    "Flute": "fl",
    "Oboe": "ob",
    "Clarinet": "cl",
    "Saxophone": "sax",
    "Bassoon": "bn",
    "Trumpet": "tpt",
    "Horn": "hn",
    "Trombone": "tbn",
    "Tuba": "tba",
}
#: Frame rate of the Solos skeletons.
SOLOS_FPS = 25.0
_ROW_BYTES = 3 * N_JOINTS * 4  # one float32 (3, 47) frame
_NPY_MAGIC = b"\x93NUMPY"


def _read_json(path: Path) -> Any:
    if not path.exists():
        raise InputError(path, "file not found (expected as part of the Solos skeletons)")
    return _read_json_file(path, "a part of the Solos skeletons")[0]


class SolosSkeletons:
    """The Solos dataset's skeletons: ``skeleton.npy``, ``skeleton_dict.json`` and ``solos_ids.json`` in ``root``.

    ``skeleton.npy`` holds every video's frames stacked, ``(N, 3, 47)`` float32; the Solos release writes it as a
    raw headerless ``np.memmap`` (its row count is ``_counter`` in ``skeleton_dict.json``), but a real ``.npy``
    file is read too. ``skeleton_dict.json`` maps each YouTube id to its ``[start_row, stop_row]``;
    ``solos_ids.json`` lists the ids of each instrument category. Nothing is read into memory until
    :meth:`keypoints` is asked for one id.

    A dict entry pointing outside the memmap makes only that id fail (with an InputError naming
    ``skeleton_dict.json``); :attr:`problems` lists every such entry up front.
    """

    def __init__(self, root: str | PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, "not a folder (expected the Solos skeleton folder)")
        self._dict_path = self.root / "skeleton_dict.json"
        self._ids_path = self.root / "solos_ids.json"
        self._npy_path = self.root / "skeleton.npy"
        ranges = _read_json(self._dict_path)
        if not isinstance(ranges, dict):
            raise InputError(self._dict_path, "expected an object {youtube_id: [start_row, stop_row]}")
        counter = ranges.get("_counter")
        if counter is not None and (not isinstance(counter, int) or counter < 0):
            raise InputError(self._dict_path, f"'_counter' must be a non-negative integer, got {counter!r}")
        self._ranges: dict[str, tuple[int, int]] = {}
        for key, value in ranges.items():
            if key == "_counter":
                continue
            if (
                not isinstance(value, list)
                or len(value) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            ):
                raise InputError(self._dict_path, f"{key}: expected [start_row, stop_row], got {value!r}")
            self._ranges[key] = (value[0], value[1])
        categories = _read_json(self._ids_path)
        if not isinstance(categories, dict) or not all(
            isinstance(v, list) and all(isinstance(i, str) for i in v) for v in categories.values()
        ):
            raise InputError(self._ids_path, "expected an object {Category: [youtube_id, ...]}")
        self._category: dict[str, str] = {i: cat for cat, ids in categories.items() for i in ids}
        self._array = self._open_array(counter)

    def _open_array(self, counter: int | None) -> np.ndarray:
        p = self._npy_path
        if not p.is_file():
            raise InputError(p, "file not found (expected as part of the Solos skeletons)")
        with open(p, "rb") as fh:
            magic = fh.read(len(_NPY_MAGIC))
        if magic == _NPY_MAGIC:
            try:
                arr = np.load(p, mmap_mode="r", allow_pickle=False)
            except ValueError as exc:
                raise InputError(p, f"not a readable .npy file ({exc})") from None
            if arr.dtype != np.float32 or arr.ndim != 3 or arr.shape[1:] != (3, N_JOINTS):
                raise InputError(p, f"expected float32 (N, 3, {N_JOINTS}), got {arr.dtype} {arr.shape}")
            return arr
        size = p.stat().st_size
        rows = size // _ROW_BYTES
        if counter is not None:
            # The release sizes the memmap from _counter; a shorter file (a partial download) keeps what is
            # there, and ids whose rows lie past its end fail one by one in keypoints().
            rows = min(rows, counter)
        elif size % _ROW_BYTES:
            raise InputError(p, f"size {size} bytes is not a whole number of float32 (3, {N_JOINTS}) frames")
        if rows == 0:
            return np.zeros((0, 3, N_JOINTS), np.float32)
        return np.memmap(p, dtype=np.float32, mode="r", shape=(rows, 3, N_JOINTS))

    @property
    def n_rows(self) -> int:
        """Frames in ``skeleton.npy``."""
        return int(self._array.shape[0])

    @property
    def ids(self) -> list[str]:
        """YouTube ids that have skeletons, sorted."""
        return sorted(self._ranges)

    def category_of(self, youtube_id: str) -> str:
        """Instrument category of ``youtube_id`` (``"Violin"``...); see :data:`SOLOS_TO_URMP`."""
        try:
            return self._category[youtube_id]
        except KeyError:
            raise InputError(self._ids_path, f"{youtube_id} is not listed under any instrument") from None

    def _check_range(self, youtube_id: str) -> tuple[int, int]:
        try:
            start, stop = self._ranges[youtube_id]
        except KeyError:
            raise InputError(self._dict_path, f"{youtube_id} has no skeleton entry") from None
        if not 0 <= start < stop <= self.n_rows:
            raise InputError(
                self._dict_path,
                f"{youtube_id}: rows {start}..{stop} lie outside skeleton.npy, which has {self.n_rows} rows",
            )
        return start, stop

    @property
    def problems(self) -> list[str]:
        """One line per dict entry that cannot be read (empty when every id is usable)."""
        out = []
        for i in self.ids:
            try:
                self._check_range(i)
            except InputError as exc:
                out.append(exc.problem)
        return out

    def keypoints(self, youtube_id: str) -> KeypointFile:
        """The skeleton of one video at :data:`SOLOS_FPS`, copied out of the memmap."""
        start, stop = self._check_range(youtube_id)
        check_max_frames(self._dict_path, stop - start, SOLOS_FPS, f"{youtube_id}: rows {start}..{stop}")
        try:
            kp = np.array(self._array[start:stop], dtype=np.float32)
        except OSError as exc:
            raise InputError(self._npy_path, f"cannot be read ({exc.strerror or exc})") from None
        # A raw memmap takes any bytes as floats: random bytes must not pass for a performance.
        check_keypoint_values(self._npy_path, kp)
        conf = np.nan_to_num(kp[:, 2, :], nan=0.0)
        return KeypointFile(
            keypoints=kp,
            fps=SOLOS_FPS,
            frame_size=(0, 0),
            source_sha256=hashlib.sha256(kp.tobytes()).hexdigest(),
            source_name=youtube_id,
            detected_fraction=float((conf > 0).any(axis=1).mean()),
        )


def write_solos(
    root: str | PathLike[str], clips: Mapping[str, tuple[str, np.ndarray]], raw: bool = True
) -> None:
    """Write ``{youtube_id: (category, (T, 3, 47) keypoints)}`` in the Solos layout (for tests and round trips).

    ``raw=True`` writes ``skeleton.npy`` headerless, as the Solos release does; ``raw=False`` a real ``.npy``.
    """
    out = Path(root)
    out.mkdir(parents=True, exist_ok=True)
    ranges: dict[str, Any] = {}
    categories: dict[str, list[str]] = {}
    arrays = []
    row = 0
    for youtube_id, (category, kp) in clips.items():
        a = np.asarray(kp, np.float32)
        if a.ndim != 3 or a.shape[1:] != (3, N_JOINTS):
            raise ValueError(f"{youtube_id}: keypoints must be (T, 3, {N_JOINTS}), got {a.shape}")
        ranges[youtube_id] = [row, row + len(a)]
        row += len(a)
        categories.setdefault(category, []).append(youtube_id)
        arrays.append(a)
    ranges["_counter"] = row
    stacked = np.concatenate(arrays) if arrays else np.zeros((0, 3, N_JOINTS), np.float32)
    with atomic_path(out / "skeleton.npy") as tmp:
        if raw:
            stacked.tofile(tmp)
        else:
            np.save(tmp, stacked)
    atomic_write_text(out / "skeleton_dict.json", json.dumps(ranges))
    atomic_write_text(out / "solos_ids.json", json.dumps(categories))
