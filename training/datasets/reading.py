"""Any supported dataset folder (URMP, Solos, a track list) -> Tracks: which format it is, and its reader.

Apart from :mod:`training.datasets.base` so that the readers can use base's Track without an import cycle.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from minet_desktop.core.errors import InputError
from training.datasets.base import TRACK_LIST, DatasetReport, Track, read_track_list
from training.datasets.solos import is_solos_root, read_solos
from training.datasets.urmp import is_urmp_root, read_urmp


def detect_format(path: str | PathLike[str]) -> str:
    """``"urmp"``, ``"solos"`` or ``"tracks"`` for a dataset folder; InputError if it is none of them."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "dataset folder not found")
    if not path.is_dir():
        raise InputError(path, "expected a dataset folder, got a file")
    if (path / "manifest.json").is_file() and not (path / TRACK_LIST).is_file():
        raise InputError(
            path, "this is a prepared cache (manifest.json), not a dataset; give the dataset folder"
        )
    if (path / TRACK_LIST).is_file():
        return "tracks"
    if is_solos_root(path):
        return "solos"
    if is_urmp_root(path):
        return "urmp"
    raise InputError(
        path,
        "not a recognised dataset: expected URMP piece folders (NN_Name_inst_inst/), a Solos folder "
        "(skeleton.npy, skeleton_dict.json, solos_ids.json) or a tracks.json track list",
    )


def read_dataset(
    path: str | PathLike[str], audio_dir: str | PathLike[str] | None = None
) -> tuple[list[Track], DatasetReport]:
    """Read any supported dataset folder into Tracks plus a report of the problems found.

    ``audio_dir`` is only used for Solos (where the downloaded audio/video lives, when it is not inside the
    Solos folder). Raises InputError only when the folder itself cannot be used.
    """
    kind = detect_format(path)
    if kind == "tracks":
        tracks, report = read_track_list(path)
    elif kind == "solos":
        tracks, report = read_solos(path, audio_dir=audio_dir)
    else:
        tracks, report = read_urmp(path)
    seen: set[str] = set()
    unique: list[Track] = []
    for t in tracks:
        if t.track_id in seen:
            report.add(t.audio_path, f"duplicate track id {t.track_id!r}; the second one is ignored")
            continue
        seen.add(t.track_id)
        unique.append(t)
    return unique, report
