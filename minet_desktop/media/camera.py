"""Cameras: :class:`OpenCVCamera` for a webcam, :class:`FakeCamera` for tests and screenshots, and
:func:`list_cameras`. A camera's :meth:`read` blocks until the next frame (live mode calls it on its own thread)."""

from __future__ import annotations

import glob
import sys
import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from minet_desktop.core.errors import InputError


class CameraSource(Protocol):
    """A camera: :meth:`read` blocks until the next frame and returns it as ``(H, W, 3)`` uint8 RGB, or None
    once the camera is gone (unplugged, taken by another program)."""

    name: str
    fps: float

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class OpenCVCamera:
    """A webcam through ``cv2.VideoCapture``."""

    def __init__(self, index: int) -> None:
        import cv2

        self.name = f"camera {index}"
        self._cap = cv2.VideoCapture(index)
        if not self._cap.isOpened():
            self._cap.release()
            raise InputError(self.name, "cannot be opened (unplugged, or in use by another program?)")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 1.0 <= fps <= 240.0 else 30.0  # many drivers report 0 or nonsense

    def read(self) -> np.ndarray | None:
        import cv2

        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            return None
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._cap.release()


def list_cameras() -> list[tuple[int, str]]:
    """``(index, name)`` of the cameras that seem present (Linux: ``/dev/video*``; elsewhere indices 0-3)."""
    if sys.platform.startswith("linux"):
        indices = sorted(int(p[len("/dev/video") :]) for p in glob.glob("/dev/video[0-9]*"))
        return [(i, f"Camera {i} (/dev/video{i})") for i in indices]
    import cv2

    found = []
    for i in range(4):
        cap = cv2.VideoCapture(i)
        if cap.isOpened():
            found.append((i, f"Camera {i}"))
        cap.release()
    return found


class FakeCamera:
    """Frames from a list, paced at ``fps`` (tests, screenshots); returns None after ``fail_after`` frames."""

    def __init__(
        self,
        frames: Sequence[np.ndarray],
        fps: float = 30.0,
        fail_after: int | None = None,
        name: str = "fake camera",
    ) -> None:
        self.frames = list(frames)
        self.fps = float(fps)
        self.fail_after = fail_after
        self.name = name
        self.reads = 0
        self.closed = False
        self._next_at = time.monotonic()

    def read(self) -> np.ndarray | None:
        if self.closed or (self.fail_after is not None and self.reads >= self.fail_after):
            return None
        delay = self._next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next_at = max(self._next_at + 1.0 / self.fps, time.monotonic())
        frame = self.frames[self.reads % len(self.frames)]
        self.reads += 1
        return frame.copy()

    def close(self) -> None:
        self.closed = True
