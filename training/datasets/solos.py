"""Solos dataset reader: the published skeletons plus the audio/video the user downloaded.

Solos (Montesinos et al.) publishes OpenPose skeletons of 755 YouTube solo performances as one memory-mapped
array (``skeleton.npy`` (N, 3, 47), ``skeleton_dict.json`` id -> frame range, ``solos_ids.json`` category ->
ids), 25 fps; the recordings themselves must be downloaded by the user. This reader pairs each id with its
file, looked up as (first match wins, audio before video)::

    <audio_dir>/<id>.{wav,flac,mp3,m4a,ogg,mp4,webm,mkv}
    <audio_dir>/<Category>/<id>.{...}                 (the layout of Solos' own download script)

``audio_dir`` defaults to the first of ``<root>/audio``, ``<root>/videos``, ``<root>/video`` that exists, else
``<root>``. Audio is decoded from a video container with PyAV when there is no audio file. Ids without a file
are reported, not fatal. Each video is its own piece: splits are disjoint by recording.
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path

from minet_desktop.core.errors import InputError
from training.datasets.base import INSTRUMENT_CODES, DatasetReport, Track

#: Solos category name (lower case, without spaces/underscores) -> URMP instrument code.
SOLOS_CATEGORIES: dict[str, str] = {
    "violin": "vn",
    "viola": "va",
    "cello": "vc",
    "doublebass": "db",
    "flute": "fl",
    "oboe": "ob",
    "clarinet": "cl",
    "saxophone": "sax",
    "bassoon": "bn",
    "trumpet": "tpt",
    "horn": "hn",
    "trombone": "tbn",
    "tuba": "tba",
}
#: Search order of extensions: audio files first (no video decode needed), then containers.
SOLOS_MEDIA_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".mp4", ".webm", ".mkv")
SOLOS_FPS = 25.0
_AUDIO_DIR_NAMES = ("audio", "videos", "video")


def instrument_of_category(category: str) -> str | None:
    """URMP code for a Solos category ("DoubleBass", "double_bass", "Violin" ...), or None if unknown."""
    key = re.sub(r"[\s_\-]", "", category).lower()
    if key in INSTRUMENT_CODES:
        return key
    return SOLOS_CATEGORIES.get(key)


def is_solos_root(path: str | PathLike[str]) -> bool:
    path = Path(path)
    return (path / "skeleton.npy").is_file() and (path / "skeleton_dict.json").is_file()


def default_audio_dir(root: Path) -> Path:
    for name in _AUDIO_DIR_NAMES:
        if (root / name).is_dir():
            return root / name
    return root


def find_media(audio_dir: Path, clip_id: str, category: str | None = None) -> Path | None:
    """The file holding ``clip_id``'s sound, or None."""
    folders = [audio_dir]
    if category:
        folders.append(audio_dir / category)
    for folder in folders:
        for ext in SOLOS_MEDIA_SUFFIXES:
            p = folder / f"{clip_id}{ext}"
            if p.is_file():
                return p
    return None


def read_solos(
    root: str | PathLike[str], audio_dir: str | PathLike[str] | None = None
) -> tuple[list[Track], DatasetReport]:
    """Tracks for every Solos id whose recording was downloaded; the rest are listed in the report."""
    from minet_desktop.pose.formats import SolosSkeletons

    root = Path(root)
    report = DatasetReport()
    skeletons = SolosSkeletons(root)  # InputError for a broken Solos folder: nothing can be read then
    media_dir = Path(audio_dir) if audio_dir is not None else default_audio_dir(root)
    if not media_dir.is_dir():
        raise InputError(media_dir, "audio/video folder not found")
    tracks: list[Track] = []
    missing: list[str] = []
    # A dict entry pointing outside the memmap loses only that id. `problems` lines start with the id.
    bad = {}
    for msg in skeletons.problems:
        bad[re.split(r"[:\s]", msg, maxsplit=1)[0]] = msg
    for clip_id in skeletons.ids:
        if clip_id in bad:
            report.add(root / "skeleton_dict.json", f"{bad[clip_id]}; skipped")
            continue
        try:
            category = skeletons.category_of(clip_id)
        except (InputError, KeyError) as exc:
            report.add(root / "solos_ids.json", f"id {clip_id}: no category ({exc})")
            continue
        inst = instrument_of_category(category)
        if inst is None:
            report.add(root / "solos_ids.json", f"id {clip_id}: unknown category {category!r}; skipped")
            continue
        media = find_media(media_dir, clip_id, category)
        if media is None:
            missing.append(clip_id)
            report.add(
                media_dir / f"{clip_id}.*",
                f"no audio or video file for Solos id {clip_id} ({category}); skipped "
                f"(expected one of {', '.join(SOLOS_MEDIA_SUFFIXES)})",
            )
            continue
        tracks.append(
            Track(
                track_id=f"solos/{clip_id}",
                dataset="solos",
                piece=f"solos/{clip_id}",
                instrument=inst,
                audio_path=media,
                keypoints_path=root,
                keypoints_kind="solos",
                keypoints_key=clip_id,
                keypoints_fps=SOLOS_FPS,
                video_path=media if media.suffix.lower() in (".mp4", ".webm", ".mkv") else None,
            )
        )
    if missing and not tracks:
        report.add(media_dir, f"none of the {len(missing)} Solos recordings were found here")
    return tracks, report
