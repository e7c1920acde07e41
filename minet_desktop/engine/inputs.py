"""What a performance can be given as: a video, a keypoint file, Solos skeletons, an OpenPose JSON folder."""

from __future__ import annotations

import dataclasses
import re
from os import PathLike
from pathlib import Path

from minet_desktop.core.errors import InputError, MinetError
from minet_desktop.engine.progress import ShouldCancel
from minet_desktop.pose.extract import Progress as ExtractProgress
from minet_desktop.pose.extract import keypoints_for_path
from minet_desktop.pose.formats import SolosSkeletons, read_openpose_folder
from minet_desktop.pose.keypoint_file import KEYPOINT_SUFFIXES, KeypointFile, load_keypoints

SOLOS_FILES = ("skeleton.npy", "skeleton_dict.json", "solos_ids.json")
#: Frame rate of an OpenPose folder whose video is neither given nor found beside it (OpenPose's JSON has none).
OPENPOSE_FPS = 30.0
#: Videos looked for beside an OpenPose folder to read its frame rate from.
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg")
_OPENPOSE_PREFIX = re.compile(r"^(.+?)_\d+_keypoints\.json$")


def _video_named(stems: list[str], folders: tuple[Path, ...]) -> Path | None:
    for where in folders:
        for stem in stems:
            for suffix in VIDEO_SUFFIXES:
                for candidate in (where / f"{stem}{suffix}", where / f"{stem}{suffix.upper()}"):
                    if candidate.is_file():
                        return candidate
    return None


def openpose_video(folder: Path) -> Path | None:
    """The video an OpenPose JSON folder was made from, when it lies in the folder or beside it: OpenPose
    names its files after the video (``clip_000000000012_keypoints.json`` comes from ``clip.mp4``), and a
    video named like the folder counts too."""
    stems = [folder.name]
    first = next(folder.glob("*_keypoints.json"), None)  # any one: a folder holds one video's frames
    if first is not None and (m := _OPENPOSE_PREFIX.match(first.name)):
        stems.insert(0, m.group(1))
    return _video_named(stems, (folder, folder.parent))


def video_fps(video: Path) -> float | None:
    """The frame rate ``video``'s container states, or None (not a readable video, or no usable rate)."""
    from minet_desktop.media.video import VideoReader

    try:
        with VideoReader(video) as reader:
            return None if reader.warnings else float(reader.fps)
    except (MinetError, OSError):
        return None


def _read_openpose(folder: Path, fps: float | None, video: Path | None) -> KeypointFile:
    """An OpenPose folder at ``fps``; without it, at the frame rate of ``video`` or of the video found beside
    the folder, and only then at :data:`OPENPOSE_FPS`, with a warning that says so."""
    if fps is not None:
        return read_openpose_folder(folder, fps=fps)
    source = video if video is not None else openpose_video(folder)
    rate = video_fps(source) if source is not None else None
    kf = read_openpose_folder(folder, fps=rate if rate is not None else OPENPOSE_FPS)
    if rate is not None:
        return kf
    note = (
        f"the frame rate of {folder.name} is not known (OpenPose's files do not record it"
        + (f" and {source.name} states none" if source is not None else "")
        + f"): {OPENPOSE_FPS:g} fps assumed; give the video's with --fps, or put the video beside the folder"
    )
    return dataclasses.replace(kf, warnings=(*kf.warnings, note))


def load_performance(
    path: str | PathLike[str],
    solos_id: str | None = None,
    fps: float | None = None,
    progress: ExtractProgress | None = None,
    should_cancel: ShouldCancel | None = None,
    video: str | PathLike[str] | None = None,
) -> KeypointFile:
    """Keypoints of a performance from any supported input.

    * a folder with ``skeleton.npy`` / ``skeleton_dict.json`` (the Solos skeletons), or the path of its
      ``skeleton.npy``: the clip ``solos_id``;
    * a folder of OpenPose ``*_keypoints.json`` files, at ``fps``; without it at the frame rate of ``video``
      (the performance's video) or of the video found in or beside the folder, else 30 fps with a warning
      (the JSON does not say);
    * a keypoint file (``.npz``, from ``minet-desktop extract``), or a bare ``(T, 3, 47)`` skeleton ``.npy``
      (at ``fps``; without it at the frame rate of ``video`` or of a video of the same name beside it, else
      30 fps with a warning);
    * a video or an image: its sidecar keypoints when they match the file, otherwise extracted with
      MediaPipe (``progress(done, total)`` per frame; the sidecar is written for next time).
    """
    p = Path(path)
    solos_root = p if p.is_dir() else p.parent if p.name == "skeleton.npy" else None
    # Solos by its index files: a bare skeleton saved as skeleton.npy on its own is not a Solos download.
    if solos_root is not None and any((solos_root / f).exists() for f in SOLOS_FILES[1:]):
        if solos_id is None:
            raise InputError(p, "Solos skeletons hold many clips: name one with --solos-id YOUTUBE_ID")
        return SolosSkeletons(solos_root).keypoints(solos_id)
    if solos_id is not None:
        raise InputError(p, "--solos-id needs the Solos skeleton folder (or its skeleton.npy)")
    if p.is_dir():
        return _read_openpose(p, fps, Path(video) if video is not None else None)
    if not p.exists():
        raise InputError(p, "is a broken link or a link loop" if p.is_symlink() else "no such file or folder")
    if p.suffix.lower() in KEYPOINT_SUFFIXES:
        if fps is None and p.suffix.lower() == ".npy":  # a bare skeleton records no frame rate either
            source = Path(video) if video is not None else _video_named([p.stem], (p.parent,))
            fps = video_fps(source) if source is not None else None
        return load_keypoints(p, fps=fps)
    return keypoints_for_path(p, progress=progress, should_cancel=should_cancel)
