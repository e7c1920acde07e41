"""Keypoints of a stream of camera frames, one frame at a time (live mode)."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class PoseEstimator(Protocol):
    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """``(3, 47)`` keypoints (pixels, confidence) of one RGB frame."""
        ...

    def close(self) -> None: ...


class MediaPipePose:
    """MediaPipe Holistic in tracking mode, for a stream of frames (build and use it on one thread)."""

    def __init__(self) -> None:
        from minet_desktop.pose.extract import holistic

        self._context = holistic(static_image_mode=False)
        self._graph: Any = self._context.__enter__()

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        from minet_desktop.pose.mediapipe_map import map_holistic

        frame = np.ascontiguousarray(rgb)
        frame.flags.writeable = False
        h, w = frame.shape[:2]
        return map_holistic(self._graph.process(frame), w, h).astype(np.float32)

    def close(self) -> None:
        self._context.__exit__(None, None, None)
