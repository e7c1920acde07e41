"""What a performance can be given as: a video, a keypoint file, Solos skeletons, an OpenPose JSON folder."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from minet_desktop.core.errors import InputError
from minet_desktop.engine.progress import ShouldCancel
from minet_desktop.pose.extract import Progress as ExtractProgress
from minet_desktop.pose.extract import keypoints_for_path
from minet_desktop.pose.formats import SolosSkeletons, read_openpose_folder
from minet_desktop.pose.keypoint_file import KEYPOINT_SUFFIXES, KeypointFile, load_keypoints

SOLOS_FILES = ("skeleton.npy", "skeleton_dict.json", "solos_ids.json")


def load_performance(
    path: str | PathLike[str],
    solos_id: str | None = None,
    fps: float | None = None,
    progress: ExtractProgress | None = None,
    should_cancel: ShouldCancel | None = None,
) -> KeypointFile:
    """Keypoints of a performance from any supported input.

    * a folder with ``skeleton.npy`` / ``skeleton_dict.json`` (the Solos skeletons), or the path of its
      ``skeleton.npy``: the clip ``solos_id``;
    * a folder of OpenPose ``*_keypoints.json`` files (at ``fps``, 30 by default: the JSON does not say);
    * a keypoint file (``.npz``, from ``minet-desktop extract``), or a bare ``(T, 3, 47)`` skeleton ``.npy``
      (at ``fps``, 30 by default);
    * a video or an image: its sidecar keypoints when they match the file, otherwise extracted with
      MediaPipe (``progress(done, total)`` per frame; the sidecar is written for next time).
    """
    p = Path(path)
    solos_root = p if p.is_dir() else p.parent if p.name == "skeleton.npy" else None
    if solos_root is not None and any((solos_root / f).exists() for f in SOLOS_FILES):
        if solos_id is None:
            raise InputError(p, "Solos skeletons hold many clips: name one with --solos-id YOUTUBE_ID")
        return SolosSkeletons(solos_root).keypoints(solos_id)
    if solos_id is not None:
        raise InputError(p, "--solos-id needs the Solos skeleton folder (or its skeleton.npy)")
    if p.is_dir():
        return read_openpose_folder(p, fps=fps if fps is not None else 30.0)
    if not p.exists():
        raise InputError(p, "is a broken link or a link loop" if p.is_symlink() else "no such file or folder")
    if p.suffix.lower() in KEYPOINT_SUFFIXES:
        return load_keypoints(p, fps=fps)
    return keypoints_for_path(p, progress=progress, should_cancel=should_cancel)
