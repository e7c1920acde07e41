"""Body and hand keypoints from a video or an image with MediaPipe Holistic.

One Holistic graph per call (building it costs about a second), always closed, ``model_complexity=1``:
complexity 2 needs a model file the wheel does not ship and would try to download it. Videos run in tracking
mode (``static_image_mode=False``: landmarks follow the performer from frame to frame and are smoothed),
images in detection mode.

Long extractions report ``progress(done, total)`` after every frame and check ``should_cancel()`` before
every frame; cancelling raises :class:`~minet_desktop.core.errors.Cancelled` and writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from minet_desktop.core.atomic import file_sha256
from minet_desktop.core.errors import Cancelled, InputError
from minet_desktop.core.skeleton import N_JOINTS
from minet_desktop.media.video import VideoReader, is_image_file, read_image
from minet_desktop.pose.keypoint_file import KeypointFile, find_sidecar, sidecar_path
from minet_desktop.pose.mediapipe_map import map_holistic

#: MediaPipe Holistic model complexity. 2 is never used: its model is not bundled and would be downloaded.
MODEL_COMPLEXITY = 1
#: Frame rate recorded for a still image (one frame; nothing downstream should time-stretch it).
IMAGE_FPS = 30.0

Progress = Callable[[int, int], None]
ShouldCancel = Callable[[], bool]


@dataclass
class ExtractionStats:
    """Where the time of one extraction went (seconds), for benchmarks and the log."""

    frames: int = 0
    hash_s: float = 0.0
    decode_s: float = 0.0
    mediapipe_s: float = 0.0
    map_s: float = 0.0
    total_s: float = 0.0

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.total_s if self.total_s > 0 else 0.0


@contextmanager
def holistic(static_image_mode: bool) -> Iterator[Any]:
    """A MediaPipe Holistic graph with our settings, closed on exit.

    Imported lazily: importing mediapipe takes a second or two, which the CLI's ``--help`` and the GUI's
    start-up should not pay.
    """
    import mediapipe as mp

    graph = mp.solutions.holistic.Holistic(
        static_image_mode=static_image_mode,
        model_complexity=MODEL_COMPLEXITY,
        smooth_landmarks=True,
        enable_segmentation=False,
        refine_face_landmarks=False,
    )
    try:
        yield graph
    finally:
        graph.close()


def _process(graph: Any, rgb: np.ndarray) -> Any:
    rgb.flags.writeable = False  # lets MediaPipe wrap the buffer instead of copying it
    return graph.process(rgb)


def extract_video(
    path: str | PathLike[str],
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
    *,
    stats: ExtractionStats | None = None,
    max_frames: int | None = None,
    source_sha256: str | None = None,
) -> KeypointFile:
    """Keypoints of every frame of a video.

    Parameters
    ----------
    path
        The video file.
    progress
        Called as ``progress(done, total)`` after every frame; ``total`` is the container's frame count (never
        less than ``done``), and the last call is ``(T, T)``.
    should_cancel
        Polled before every frame; when it returns True, :class:`Cancelled` is raised.
    stats
        Filled in with timings when given.
    max_frames
        Stop after this many frames (previews, benchmarks).
    source_sha256
        The video's SHA-256 when the caller already computed it.

    Returns
    -------
    KeypointFile
        ``(T, 3, 47)`` keypoints in pixels at the video's fps. Frames without a person have zero confidence;
        ``detected_fraction`` says how many had one (a video with nobody in it is not an error).

    Raises
    ------
    InputError
        The file is not a video, has no decodable frames, or is truncated.
    Cancelled
        ``should_cancel()`` returned True.
    """
    st = stats if stats is not None else ExtractionStats()
    t_start = time.perf_counter()
    path = Path(path)
    with VideoReader(path) as video:  # opens and validates before the (slower) hashing
        t0 = time.perf_counter()
        digest = source_sha256 if source_sha256 is not None else file_sha256(path)
        st.hash_s += time.perf_counter() - t0
        width, height = video.size
        rows: list[np.ndarray] = []
        detected = 0
        last_reported: tuple[int, int] | None = None
        with holistic(static_image_mode=False) as graph:
            frames = video.iter_frames()
            try:
                while max_frames is None or len(rows) < max_frames:
                    if should_cancel is not None and should_cancel():
                        raise Cancelled(f"keypoint extraction of {path.name} cancelled")
                    t0 = time.perf_counter()
                    frame = next(frames, None)
                    t1 = time.perf_counter()
                    st.decode_s += t1 - t0
                    if frame is None:
                        break
                    results = _process(graph, frame)
                    t2 = time.perf_counter()
                    rows.append(map_holistic(results, width, height))
                    st.map_s += time.perf_counter() - t2
                    st.mediapipe_s += t2 - t1
                    detected += results.pose_landmarks is not None
                    if progress is not None:
                        last_reported = (len(rows), max(video.frame_count, len(rows)))
                        progress(*last_reported)
            finally:
                frames.close()
        T = len(rows)
        if progress is not None and last_reported != (T, T):
            progress(T, T)
        st.frames += T
        st.total_s += time.perf_counter() - t_start
        keypoints = np.stack(rows) if rows else np.zeros((0, 3, N_JOINTS), np.float32)
        return KeypointFile(
            keypoints=keypoints,
            fps=video.fps,
            frame_size=video.size,
            source_sha256=digest,
            source_name=path.name,
            detected_fraction=detected / T if T else 0.0,
            warnings=tuple(video.warnings),
        )


def extract_image(path: str | PathLike[str]) -> KeypointFile:
    """Keypoints of a still image: a one-frame :class:`KeypointFile` (``fps`` = :data:`IMAGE_FPS`).

    Raises
    ------
    InputError
        If the file is not an image.
    """
    path = Path(path)
    rgb = read_image(path)
    height, width = rgb.shape[:2]
    with holistic(static_image_mode=True) as graph:
        results = _process(graph, rgb)
    return KeypointFile(
        keypoints=map_holistic(results, width, height)[None],
        fps=IMAGE_FPS,
        frame_size=(width, height),
        source_sha256=file_sha256(path),
        source_name=path.name,
        detected_fraction=1.0 if results.pose_landmarks is not None else 0.0,
    )


def keypoints_for_video(
    path: str | PathLike[str],
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
    use_sidecar: bool = True,
) -> KeypointFile:
    """Keypoints of a video, reusing ``<video>.keypoints.npz`` when it was extracted from these exact bytes.

    With ``use_sidecar`` (the default) a matching sidecar is returned without running MediaPipe (``progress``
    gets one ``(T, T)`` call), otherwise the video is extracted and the sidecar (re)written; a folder that
    cannot be written to only adds a note to ``warnings``. ``use_sidecar=False`` neither reads nor writes it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    digest = file_sha256(path)
    if use_sidecar:
        cached = find_sidecar(path, video_sha256=digest)
        if cached is not None:
            if progress is not None:
                progress(cached.n_frames, cached.n_frames)
            return cached
    kf = extract_video(path, progress, should_cancel, source_sha256=digest)
    if use_sidecar:
        target = sidecar_path(path)
        try:
            kf.save(target)
        except (OSError, InputError) as exc:  # a read-only folder: the keypoints are still good
            kf.warnings = (*kf.warnings, f"could not save the keypoints next to the video ({exc})")
    return kf


def keypoints_for_path(
    path: str | PathLike[str],
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
    use_sidecar: bool = True,
) -> KeypointFile:
    """:func:`extract_image` for a still image, :func:`keypoints_for_video` for anything else."""
    if Path(path).is_file() and is_image_file(path):
        kf = extract_image(path)
        if progress is not None:
            progress(1, 1)
        return kf
    return keypoints_for_video(path, progress, should_cancel, use_sidecar)
