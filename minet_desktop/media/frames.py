"""What the player shows frames from: a video file, or a blank canvas for a keypoint file on its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

#: The dark grey a keypoint file without its video is drawn on.
CANVAS_RGB = (28, 28, 32)


def blank_canvas(width: int, height: int) -> np.ndarray:
    """A dark ``(height, width, 3)`` RGB frame to draw a keypoint file on when there is no video."""
    canvas = np.empty((int(height), int(width), 3), dtype=np.uint8)
    canvas[:] = CANVAS_RGB
    return canvas


class FrameSource(Protocol):
    path: Path
    fps: float
    frame_count: int
    size: tuple[int, int]  # (width, height)

    def frame(self, index: int) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB frame ``index`` (0-based)."""
        ...

    def close(self) -> None: ...


class VideoSource:
    """Frames decoded from a video file by ``media.video.VideoReader`` (on the GUI thread).

    ``VideoReader.read(i)`` seeks, which for inter-frame codecs means decoding from the previous keyframe
    for every frame. Playback asks for frames in order, so runs that start at frame 0 are served from one
    ``iter_frames()`` pass instead; any other request falls back to ``read(i)``.
    """

    def __init__(self, path: str | Path) -> None:
        from minet_desktop.media.video import VideoReader

        self.path = Path(path)
        self._reader = VideoReader(self.path)
        self._run: Iterator[np.ndarray] | None = None
        self._run_next = 0  # index of the frame next(self._run) returns
        try:
            if self._reader.frame_count < 1:
                # The container does not say how many frames it has: count them once.
                for _ in self._reader.iter_frames():
                    pass
            self.fps = float(self._reader.fps)
            self.frame_count = int(self._reader.frame_count)
            self.size = (int(self._reader.size[0]), int(self._reader.size[1]))
            self.warnings: list[str] = list(getattr(self._reader, "warnings", []))
        except Exception:
            self.close()
            raise

    def frame(self, index: int) -> np.ndarray:
        if index == 0:
            self._run = self._reader.iter_frames()
            self._run_next = 0
        if self._run is not None and index == self._run_next:
            try:
                frame = next(self._run)
            except StopIteration:
                frame = None
            if frame is not None:
                self._run_next += 1
                return frame
        # Out of order (a seek or a step back), or the run ended early: random access.
        self._run = None
        return self._reader.read(index)

    def close(self) -> None:
        self._run = None
        self._reader.close()


class CanvasSource:
    """A keypoint file without its video: the same dark canvas (the file's frame size) for every frame."""

    def __init__(self, path: str | Path, fps: float, frame_count: int, size: tuple[int, int]) -> None:
        self.path = Path(path)
        self.fps = float(fps)
        self.frame_count = int(frame_count)
        self.size = (int(size[0]), int(size[1]))
        self._canvas = blank_canvas(*self.size)

    def frame(self, index: int) -> np.ndarray:
        return self._canvas

    def close(self) -> None:
        pass
