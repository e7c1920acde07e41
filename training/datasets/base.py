"""The common record every dataset reader produces, and the dispatcher that picks a reader.

A :class:`Track` is one performer playing one instrument in one piece: an audio file, where its keypoints
come from, and (optionally) note annotations. Readers never stop at the first bad file: problems go into a
:class:`DatasetReport` (file + message) and the rest of the dataset is still read, so a user with a
half-downloaded corpus gets a list of what to fix instead of a traceback.

Three layouts are recognised by :func:`read_dataset`:

* **URMP** (``training.datasets.urmp``): piece folders ``NN_Name_i1_i2/``.
* **Solos** (``training.datasets.solos``): ``skeleton.npy`` + ``skeleton_dict.json`` + ``solos_ids.json``
  with the downloaded audio/video in ``audio/`` (or ``videos/``, or next to them).
* **Track list** ("cache-ready" folder): a ``tracks.json`` listing tracks with relative paths, for corpora
  that are neither (see :func:`write_track_list`). Written by hand or by a script, read like the others.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from minet_desktop.core.atomic import atomic_write_text
from minet_desktop.core.errors import InputError
from minet_desktop.core.instruments import (  # the one list of instruments, re-exported for the readers
    INSTRUMENT_CODES as INSTRUMENT_CODES,
)
from minet_desktop.core.instruments import INSTRUMENT_NAMES as INSTRUMENT_NAMES
from minet_desktop.core.instruments import INSTRUMENTS as INSTRUMENTS

if TYPE_CHECKING:  # pragma: no cover
    from minet_desktop.media.midi import Note
    from minet_desktop.pose.keypoint_file import KeypointFile


#: General MIDI programs used when a score is written for an instrument (0-based program numbers).
GM_PROGRAMS: dict[str, int] = {
    "vn": 40, "va": 41, "vc": 42, "db": 43, "fl": 73, "ob": 68, "cl": 71,
    "sax": 65, "bn": 70, "tpt": 56, "hn": 60, "tbn": 57, "tba": 58,
}  # fmt: skip


KEYPOINT_KINDS = ("npz", "openpose", "solos")


def instrument_index(code: str) -> int:
    """Position of ``code`` in :data:`INSTRUMENTS` (the class index models and metrics use)."""
    try:
        return INSTRUMENT_CODES.index(code)
    except ValueError:
        raise ValueError(f"unknown instrument code {code!r} (known: {', '.join(INSTRUMENT_CODES)})") from None


@dataclass(frozen=True)
class Problem:
    """Something wrong with one file of a dataset."""

    path: Path | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path is not None else self.message


@dataclass
class DatasetReport:
    """Problems found while reading a dataset; reading goes on past each one."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, path: str | PathLike[str] | None, message: str) -> None:
        self.problems.append(Problem(Path(path) if path is not None else None, message))

    def add_error(self, exc: InputError) -> None:
        self.problems.append(Problem(exc.path, exc.problem))

    def extend(self, other: DatasetReport) -> None:
        self.problems.extend(other.problems)

    def __len__(self) -> int:
        return len(self.problems)

    def __bool__(self) -> bool:  # a report is truthy when it holds problems
        return bool(self.problems)

    def mentions(self, text: str) -> list[Problem]:
        """Problems whose path or message contains ``text`` (handy for tests and filtering)."""
        return [p for p in self.problems if text in str(p)]

    def format(self) -> str:
        return "\n".join(str(p) for p in self.problems)


@dataclass
class Track:
    """One performer, one instrument, one piece.

    Attributes
    ----------
    track_id
        Unique within the dataset, e.g. ``"urmp/01_Jupiter/1_vn"`` or ``"solos/<youtube id>"``.
    dataset
        ``"urmp"``, ``"solos"`` or ``"tracks"``.
    piece
        What train/val/test splits are disjoint by (URMP: the piece folder; Solos: the video id), so that two
        players of one piece never end up on both sides of a split.
    instrument
        URMP code (:data:`INSTRUMENT_CODES`).
    audio_path
        Audio file, or a video file whose audio stream is decoded with PyAV.
    keypoints_path, keypoints_kind, keypoints_key
        Where the keypoints are: ``"npz"`` (a ``pose.keypoint_file`` file), ``"openpose"`` (a folder of
        per-frame JSON, read at ``keypoints_fps``) or ``"solos"`` (``keypoints_path`` is the Solos root and
        ``keypoints_key`` the id). All ``None`` when the track has no keypoints.
    keypoints_loader
        Alternative to the path: a callable returning a KeypointFile. Not picklable in general, so a dataset
        that uses it is prepared with one worker.
    notes_path
        URMP-style Notes text file aligned with the audio.
    midi_path, midi_instrument
        A MIDI file and the index of this track's instrument in it (used only when there is no Notes file).
    """

    track_id: str
    dataset: str
    piece: str
    instrument: str
    audio_path: Path
    keypoints_path: Path | None = None
    keypoints_kind: str | None = None
    keypoints_key: str | None = None
    keypoints_fps: float | None = None
    keypoints_loader: Callable[[], KeypointFile] | None = None
    notes_path: Path | None = None
    midi_path: Path | None = None
    midi_instrument: int | None = None
    f0_path: Path | None = None
    video_path: Path | None = None

    def __post_init__(self) -> None:
        if self.instrument not in INSTRUMENT_CODES:
            raise ValueError(f"{self.track_id}: unknown instrument code {self.instrument!r}")
        if self.keypoints_kind is not None and self.keypoints_kind not in KEYPOINT_KINDS:
            raise ValueError(f"{self.track_id}: unknown keypoints kind {self.keypoints_kind!r}")

    @property
    def has_keypoints(self) -> bool:
        return self.keypoints_loader is not None or self.keypoints_path is not None

    @property
    def has_notes(self) -> bool:
        return self.notes_path is not None or self.midi_path is not None

    def source_files(self) -> list[Path]:
        """Files whose size/mtime decide whether a cached copy of this track is still current."""
        files = [self.audio_path]
        if self.keypoints_path is not None:
            kp = self.keypoints_path
            files.append(kp / "skeleton.npy" if self.keypoints_kind == "solos" else kp)
        for p in (self.notes_path, self.midi_path if self.notes_path is None else None):
            if p is not None:
                files.append(p)
        return files

    def load_keypoints(self) -> KeypointFile | None:
        """The track's keypoints, or ``None`` when it has none. Raises InputError for a bad file."""
        if self.keypoints_loader is not None:
            return self.keypoints_loader()
        if self.keypoints_path is None:
            return None
        if self.keypoints_kind == "npz":
            from minet_desktop.pose.keypoint_file import KeypointFile

            return KeypointFile.load(self.keypoints_path)
        if self.keypoints_kind == "openpose":
            from minet_desktop.pose.formats import read_openpose_folder

            return read_openpose_folder(self.keypoints_path, fps=self.keypoints_fps or 30.0)
        if self.keypoints_kind == "solos":
            from minet_desktop.pose.formats import SolosSkeletons

            return SolosSkeletons(self.keypoints_path).keypoints(self.keypoints_key or "")
        raise InputError(self.keypoints_path, f"unknown keypoints kind {self.keypoints_kind!r}")

    def load_audio(self, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
        """Mono float32 audio (at ``sample_rate`` if given) and its rate; InputError for unreadable/empty files."""
        return load_audio_file(self.audio_path, sample_rate)

    def load_notes(self) -> list[Note] | None:
        """Notes aligned with the audio: the Notes file, else this track's part of the MIDI file, else None."""
        if self.notes_path is not None:
            from minet_desktop.media.midi import read_notes_txt

            return read_notes_txt(self.notes_path)
        if self.midi_path is not None:
            return read_midi_part(self.midi_path, self.midi_instrument)
        return None


# --------------------------------------------------------------------------------------------------------
# Loading helpers shared by the readers and the cache


def load_audio_file(path: str | PathLike[str], sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read a track's sound as mono float32 ``(wave, sample_rate)``.

    ``media.audio_io.read_audio`` reads what libsndfile can (wav, flac, ogg, mp3) and decodes the audio stream
    of anything else (mp4, webm, mkv: a downloaded video) with PyAV; InputError for unreadable/empty files.
    """
    from minet_desktop.media.audio_io import read_audio

    return read_audio(path, sample_rate)


def read_midi_part(path: str | PathLike[str], instrument: int | None) -> list[Note]:
    """Notes of one instrument (by index among the file's non-drum instruments) of a MIDI file."""
    from minet_desktop.media.midi import Note, read_midi_notes

    if instrument is None:
        return read_midi_notes(path)
    import pretty_midi

    path = Path(path)
    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # pretty_midi/mido raise many types for a bad file
        raise InputError(path, f"not a readable MIDI file ({exc})") from exc
    parts = [i for i in pm.instruments if not i.is_drum]
    if not 0 <= instrument < len(parts):
        raise InputError(path, f"has {len(parts)} instrument part(s), no part {instrument + 1}")
    notes = [
        Note(float(n.start), float(n.end), int(n.pitch), int(n.velocity)) for n in parts[instrument].notes
    ]
    if not notes:
        raise InputError(path, f"instrument part {instrument + 1} has no notes")
    return sorted(notes, key=lambda n: (n.onset, n.pitch))


# --------------------------------------------------------------------------------------------------------
# The track-list layout ("cache-ready" folder)

TRACK_LIST = "tracks.json"
_TRACK_LIST_FORMAT = "minet-tracks"


def write_track_list(root: str | PathLike[str], tracks: Sequence[Track]) -> Path:
    """Write ``root/tracks.json`` describing ``tracks`` (paths made relative to ``root`` where possible)."""
    root = Path(root)

    def rel(p: Path | None) -> str | None:
        if p is None:
            return None
        try:
            return Path(os.path.relpath(p, root)).as_posix()
        except ValueError:  # another drive on Windows
            return str(p)

    entries: list[dict[str, Any]] = []
    for t in tracks:
        if t.keypoints_loader is not None:
            raise ValueError(f"{t.track_id}: a keypoints_loader cannot be written to a track list")
        entry: dict[str, Any] = {
            "id": t.track_id,
            "piece": t.piece,
            "instrument": t.instrument,
            "audio": rel(t.audio_path),
        }
        if t.keypoints_path is not None:
            entry["keypoints"] = rel(t.keypoints_path)
            entry["keypoints_kind"] = t.keypoints_kind
            if t.keypoints_key is not None:
                entry["keypoints_key"] = t.keypoints_key
            if t.keypoints_fps is not None:
                entry["keypoints_fps"] = t.keypoints_fps
        if t.notes_path is not None:
            entry["notes"] = rel(t.notes_path)
        if t.midi_path is not None:
            entry["midi"] = rel(t.midi_path)
            if t.midi_instrument is not None:
                entry["midi_instrument"] = t.midi_instrument
        entries.append(entry)
    path = root / TRACK_LIST
    atomic_write_text(
        path, json.dumps({"format": _TRACK_LIST_FORMAT, "version": 1, "tracks": entries}, indent=1)
    )
    return path


def read_track_list(root: str | PathLike[str]) -> tuple[list[Track], DatasetReport]:
    """Read a ``tracks.json`` folder (see :func:`write_track_list`)."""
    root = Path(root)
    path = root / TRACK_LIST
    report = DatasetReport()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not a readable track list ({exc})") from exc
    if (
        not isinstance(data, dict)
        or data.get("format") != _TRACK_LIST_FORMAT
        or not isinstance(data.get("tracks"), list)
    ):
        raise InputError(
            path, f'expected an object with "format": "{_TRACK_LIST_FORMAT}" and a "tracks" list'
        )
    tracks: list[Track] = []
    for i, e in enumerate(data["tracks"]):
        where = f"track {i + 1}"
        if not isinstance(e, dict):
            report.add(path, f"{where}: expected an object")
            continue
        missing = [k for k in ("id", "piece", "instrument", "audio") if not isinstance(e.get(k), str)]
        if missing:
            report.add(path, f"{where}: missing or non-string {', '.join(missing)}")
            continue
        if e["instrument"] not in INSTRUMENT_CODES:
            report.add(path, f"{where} ({e['id']}): unknown instrument code {e['instrument']!r}")
            continue
        audio = root / e["audio"]
        if not audio.is_file():
            report.add(audio, f"audio of {e['id']} not found")
            continue
        kp = root / e["keypoints"] if isinstance(e.get("keypoints"), str) else None
        kind = e.get("keypoints_kind") or ("openpose" if kp is not None and kp.is_dir() else "npz")
        if kp is not None and kind not in KEYPOINT_KINDS:
            report.add(path, f"{where} ({e['id']}): unknown keypoints_kind {kind!r}")
            kp = None
        if kp is not None and not kp.exists():
            report.add(kp, f"keypoints of {e['id']} not found")
            kp = None
        notes = root / e["notes"] if isinstance(e.get("notes"), str) else None
        midi = root / e["midi"] if isinstance(e.get("midi"), str) else None
        tracks.append(
            Track(
                track_id=e["id"],
                dataset="tracks",
                piece=e["piece"],
                instrument=e["instrument"],
                audio_path=audio,
                keypoints_path=kp,
                keypoints_kind=kind if kp is not None else None,
                keypoints_key=e.get("keypoints_key"),
                keypoints_fps=e.get("keypoints_fps"),
                notes_path=notes,
                midi_path=midi,
                midi_instrument=e.get("midi_instrument"),
            )
        )
    return tracks, report
