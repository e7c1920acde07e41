"""Reading performance videos and still images as RGB frames.

OpenCV's FFmpeg backend decodes; everything a user can get wrong (a text file renamed ``.mp4``, a download
that stopped half-way, a still image picked instead of a video) becomes an :class:`InputError` that names
the file, never a ``None`` frame three layers down.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator
from os import PathLike
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from minet_desktop.core.errors import InputError
from minet_desktop.core.validation import MAX_FPS, check_allocation, check_frame_size

#: Frame rate assumed when the container reports none (0, NaN or an absurd value such as a 90 kHz timebase).
FALLBACK_FPS = 30.0
#: Frame rates above this are a container's timebase, not a real frame rate.
_MAX_PLAUSIBLE_FPS = MAX_FPS


def _truncation_tolerance(reported: int) -> int:
    """Frames a container's count may overstate without the file being truncated.

    FFmpeg derives the count from the stream header when it has one (exact) or from duration x fps (can be
    off by a frame or two), so a shortfall of up to 2 frames or 2 % is rounding, anything more is a cut file.
    """
    return max(2, int(0.02 * reported))


class VideoReader:
    """Sequential reader of a video's frames as RGB ``uint8`` arrays ``(H, W, 3)``.

    Opening checks that the file is a video and that its first frame decodes. ``frame_count`` is what the
    container claims (FFmpeg estimates it for some formats); :meth:`iter_frames` reads until decoding stops and
    raises if the file ends well before its own count says it should (a truncated download). After a complete
    pass ``frame_count`` is the number of frames actually decoded.

    Attributes
    ----------
    fps
        Frames per second (``FALLBACK_FPS`` when the container has none; see ``warnings``).
    frame_count
        Number of frames (container's claim until a full :meth:`iter_frames` pass has counted them).
    size
        ``(width, height)`` in pixels, of the decoded (orientation-corrected) frames.
    warnings
        Human-readable notes about guesses made while opening (e.g. the fps fallback).

    Examples
    --------
    >>> with VideoReader("performance.mp4") as video:         # doctest: +SKIP
    ...     for frame in video.iter_frames():
    ...         ...
    """

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = Path(path)
        self.warnings: list[str] = []
        if not self.path.exists():
            raise InputError(self.path, "file not found")
        if self.path.is_dir():
            raise InputError(self.path, "is a folder, not a video file")
        if self.path.stat().st_size == 0:
            raise InputError(self.path, "file is empty, not a video file")
        if is_image_file(self.path):
            # FFmpeg would happily play a JPEG as a one-frame "video"; say what is going on instead.
            raise InputError(self.path, "is a still image, not a video file")
        # The FFmpeg backend only: OpenCV's image-sequence backend would read "%03d" in a name as a pattern.
        self._cap: cv2.VideoCapture | None = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            self._cap.release()
            raise InputError(
                self.path, "not a video file (or a video whose index is missing, e.g. a cut-off mp4)"
            )
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise InputError(self.path, "video has no decodable frames")
        self._first: np.ndarray | None = first
        # Index of the frame the decoder returns next (0: the buffered first frame); -1 when unknown.
        self._position = 0
        h, w = first.shape[:2]
        self.size: tuple[int, int] = (int(w), int(h))
        fps = float(self._cap.get(cv2.CAP_PROP_FPS))
        if not math.isfinite(fps) or fps <= 0 or fps > _MAX_PLAUSIBLE_FPS:
            self.warnings.append(
                f"the video reports no usable frame rate ({fps:g}); assuming {FALLBACK_FPS:g} fps"
            )
            fps = FALLBACK_FPS
        self.fps: float = fps
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count: int = int(count) if math.isfinite(count) and count > 0 else 0
        self._reported_count = self.frame_count

    # -- context manager -------------------------------------------------------------------------------------
    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the decoder (idempotent)."""
        cap = getattr(self, "_cap", None)
        if cap is not None:
            cap.release()
            self._cap = None

    def __del__(self) -> None:  # a forgotten close must not keep the file locked on Windows
        self.close()

    @property
    def duration(self) -> float:
        """Length in seconds (``frame_count / fps``)."""
        return self.frame_count / self.fps

    # -- reading ---------------------------------------------------------------------------------------------
    def _require_open(self) -> cv2.VideoCapture:
        if self._cap is None:
            raise ValueError(f"{self.path}: VideoReader is closed")
        return self._cap

    def iter_frames(self) -> Generator[np.ndarray, None, None]:
        """Yield every frame from the first, RGB ``uint8 (H, W, 3)``.

        Raises
        ------
        InputError
            "truncated after frame N" when decoding stops well before the container's frame count.
        """
        cap = self._require_open()
        if self._first is not None and self._position == 0:
            first = self._first
        else:  # a second pass, or after read(): rewind
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, first = cap.read()
            if not ok:
                raise InputError(self.path, "video has no decodable frames")
        self._first = None
        # While (and after) iterating, the decoder's position is not tracked: read() seeks next time.
        self._position = -1
        n = 0
        frame: np.ndarray | None = first
        while frame is not None:
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            n += 1
            ok, frame = cap.read()
            if not ok:
                frame = None
        reported = self._reported_count
        if reported and reported - n > _truncation_tolerance(reported):
            raise InputError(
                self.path,
                f"truncated after frame {n} (the file says it has {reported} frames; is it a partial copy?)",
            )
        self.frame_count = n

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.iter_frames()

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based) as RGB ``uint8 (H, W, 3)``; seeks, so prefer :meth:`iter_frames` for runs."""
        cap = self._require_open()
        if index < 0:
            raise IndexError(f"frame index must be >= 0, got {index}")
        if index == 0 and self._first is not None and self._position == 0:
            ok, frame = True, self._first  # decoded when the file was opened
        elif index == self._position and self._first is None:
            ok, frame = cap.read()  # the next frame: no seek, so sequential reads stay cheap for H.264
        else:
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = cap.read()
        self._first = None
        self._position = index + 1
        if not ok or frame is None:
            raise InputError(
                self.path, f"cannot decode frame {index} (the video has {self.frame_count} frames)"
            )
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def image_header_size(head: bytes) -> tuple[int, int] | None:
    """``(width, height)`` a PNG or JPEG header declares (from the first bytes of the file), else None."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24 and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:2] == b"\xff\xd8":
        i = 2
        while i + 9 <= len(head):
            if head[i] != 0xFF:
                return None
            marker = head[i + 1]
            length = int.from_bytes(head[i + 2 : i + 4], "big")
            # SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return int.from_bytes(head[i + 7 : i + 9], "big"), int.from_bytes(head[i + 5 : i + 7], "big")
            i += 2 + length
    return None


def is_image_file(path: str | PathLike[str]) -> bool:
    """True when OpenCV recognises the file's content (not its name) as a still image."""
    return bool(cv2.haveImageReader(str(path)))


def read_image(path: str | PathLike[str]) -> np.ndarray:
    """Read a still image as RGB ``uint8 (H, W, 3)`` (grey and alpha images are converted).

    Raises
    ------
    InputError
        If the file is missing or is not an image OpenCV can decode.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "file not found")
    # np.fromfile + imdecode instead of imread: imread cannot open non-ASCII paths on Windows.
    data = np.fromfile(str(p), dtype=np.uint8)
    size = image_header_size(data[: 1 << 16].tobytes())
    if size is not None:  # a 100000 x 100000 header must be refused before the decoder allocates it
        check_frame_size(p, *size)
        check_allocation(p, 6.0 * size[0] * size[1], "decoding the image")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error as exc:
        raise InputError(p, f"not a readable image ({str(exc).strip().splitlines()[-1][:200]})") from None
    if image is None:
        raise InputError(p, "not an image file (or an image format OpenCV cannot read)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
