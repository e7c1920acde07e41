"""Opening a performance: a video (with what comes with it) or a ``.npz`` keypoint file on its own.

The video is opened on the GUI thread (a header read: its errors are told at once); what comes with it (the
keypoint sidecar, which is checked against the video's SHA-256, the audio track or reference recording, the
MIDI beside it: :func:`~minet_desktop.engine.performance.companions_of_video`) is read on a worker thread.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from minet_desktop.core.errors import InputError, MinetError
from minet_desktop.core.validation import MAX_FRAME_SIDE
from minet_desktop.gui import settings as app_settings
from minet_desktop.gui.feedback import Feedback
from minet_desktop.gui.workers import CallJob
from minet_desktop.media.frames import CanvasSource, FrameSource, VideoSource

log = logging.getLogger("minet_desktop")

OPEN_FILTER = (
    "Videos and keypoint files (*.mp4 *.mov *.avi *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv *.npz *.npy);;"
    "Videos (*.mp4 *.mov *.avi *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv);;"
    "Keypoint files (*.npz *.npy);;"
    "All files (*)"
)


def canvas_size_for(keypoints: np.ndarray) -> tuple[int, int]:
    """``(width, height)`` of a canvas that holds every found joint of ``keypoints (T, 3, 47)`` with a margin
    (for keypoint files that do not record their video's frame size); 640x480 when nothing was found."""
    found = (keypoints[:, 2, :] > 0) & np.isfinite(keypoints[:, 0, :]) & np.isfinite(keypoints[:, 1, :])
    if not found.any():
        return 640, 480
    xs, ys = keypoints[:, 0, :][found], keypoints[:, 1, :][found]
    if xs.min() < 0 or ys.min() < 0 or xs.max() > 16000 or ys.max() > 16000:
        return 640, 480
    return max(64, int(math.ceil(xs.max() * 1.05)) + 8), max(64, int(math.ceil(ys.max() * 1.05)) + 8)


class OpenController(QObject):
    """Owns the job reading a video's companions. :attr:`opened` ``(source, keypoints)`` fires when a file
    has opened, :attr:`companions_found` ``(source, Companions)`` when what came with a video was read."""

    opened = Signal(object, object)
    companions_found = Signal(object, object)
    state_changed = Signal()

    def __init__(
        self,
        recent_menu: QMenu,
        clear_recent_action: QAction,
        *,
        feedback: Feedback,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._status, self._show_error = feedback.status, feedback.show_error
        self.recent_menu, self.clear_recent_action = recent_menu, clear_recent_action
        self.job: CallJob | None = None
        self._recent_actions: list[QAction] = []
        recent_menu.aboutToShow.connect(self._rebuild_recent_menu)
        clear_recent_action.triggered.connect(self._clear_recent)
        self._rebuild_recent_menu()

    def recent_file_actions(self) -> list[QAction]:
        """The Open Recent menu's file entries (rebuilt from the settings)."""
        self._rebuild_recent_menu()
        # (Not QAction.data() on every action: PySide6 mishandles the reference to the None it returns for
        # the separator and "Clear", which adds up to an interpreter crash at exit.)
        return list(self._recent_actions)

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        self._recent_actions = []
        paths = app_settings.recent_files(app_settings.open_settings())
        for i, path in enumerate(paths):
            action = self.recent_menu.addAction(f"&{i + 1} {Path(path).name}")
            self._recent_actions.append(action)
            action.setData(path)
            action.setToolTip(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_path(p))
        if paths:
            self.recent_menu.addSeparator()
        self.recent_menu.addAction(self.clear_recent_action)
        self.clear_recent_action.setEnabled(bool(paths))

    def _clear_recent(self) -> None:
        app_settings.clear_recent_files(app_settings.open_settings())
        self._rebuild_recent_menu()

    def open_dialog(self) -> None:
        parent = self.parent()
        settings = app_settings.open_settings()
        path, _ = QFileDialog.getOpenFileName(
            parent if isinstance(parent, QWidget) else None,
            "Open video or keypoint file",
            app_settings.last_directory(settings),
            OPEN_FILTER,
        )
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> bool:
        """Open a video, a ``.npz`` keypoint file or a bare ``(T, 3, 47)`` skeleton ``.npy``; False (after
        telling the user why) if it cannot be used, and what was open stays open."""
        from minet_desktop.pose.keypoint_file import KEYPOINT_SUFFIXES

        p = Path(path)
        try:
            if not p.is_file():
                raise InputError(p, "no such file" if not p.exists() else "not a file")
            if p.suffix.lower() in KEYPOINT_SUFFIXES:
                self._open_keypoint_file(p)
            else:
                self._open_video(p)
        except MinetError as exc:
            self._show_error("Cannot open file", str(exc))
            return False
        except Exception as exc:  # an unexpected failure still gets one line, and the log the traceback
            log.exception("opening %s failed", p)
            self._show_error("Cannot open file", f"{p}: cannot be opened ({type(exc).__name__}: {exc})")
            return False
        settings = app_settings.open_settings()
        app_settings.add_recent_file(settings, str(p))
        app_settings.set_last_directory(settings, p.resolve().parent)
        self._rebuild_recent_menu()
        return True

    def _open_video(self, path: Path) -> None:
        source = VideoSource(path)  # raises InputError for non-videos and corrupt files
        if source.frame_count < 1:
            source.close()
            raise InputError(path, "the video has no frames")
        self._cancel()
        self.opened.emit(source, None)
        warnings = "; " + "; ".join(source.warnings) if source.warnings else ""
        self._status(f"{path.name}: looking for its keypoints{warnings}", 0)
        from minet_desktop.engine.performance import companions_of_video

        job = CallJob(lambda: companions_of_video(path), f"reading what comes with {path}", parent=self)
        job.succeeded.connect(lambda found: self._on_companions(source, found, warnings))
        job.failed.connect(lambda message: self._show_error("Cannot open file", message))
        job.finished.connect(lambda: self._on_finished(job))
        self.job = job
        self.state_changed.emit()
        job.start()

    def _on_companions(self, source: FrameSource, found: Any, warnings: str) -> None:
        note = "".join(f"; {problem}" for problem in found.problems) + warnings
        if found.keypoints is not None:
            self._status(f"{source.path.name}: keypoints loaded from its keypoint file{note}", 8000)
        else:
            self._status(
                f"{source.path.name}: no keypoints yet — use Keypoints › Extract Keypoints{note}", 8000
            )
        self.companions_found.emit(source, found)

    def _open_keypoint_file(self, path: Path) -> None:
        from minet_desktop.engine.inputs import load_performance

        # Raises InputError for broken files, the same sentence as the CLI; a bare .npy skeleton takes the frame
        # rate of a video of its name beside it, as on the command line.
        kf = load_performance(path)
        n = int(kf.keypoints.shape[0])
        width, height = (int(v) for v in kf.frame_size)
        if n < 1:
            raise InputError(path, "the keypoint file has no frames")
        if not (math.isfinite(float(kf.fps)) and kf.fps > 0):
            raise InputError(path, f"the keypoint file has an invalid frame rate ({kf.fps})")
        if width == 0 and height == 0:
            width, height = canvas_size_for(kf.keypoints)  # OpenPose / Solos files do not record it
        if width < 1 or height < 1 or width > MAX_FRAME_SIDE or height > MAX_FRAME_SIDE:
            raise InputError(path, f"the keypoint file has an invalid frame size ({width}x{height})")
        self._cancel()
        self.opened.emit(CanvasSource(path, kf.fps, n, (width, height)), kf)
        self._status(
            f"{path.name}: {n} frames of keypoints from {kf.source_name or 'an unknown video'} at {kf.fps:g} fps"
            + "".join(f"; {warning}" for warning in kf.warnings),
            8000,
        )

    def _cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()  # its result belongs to the file being closed

    def _on_finished(self, job: CallJob) -> None:
        if self.job is job:
            self.job = None
        if job.wait():
            job.deleteLater()
        self.state_changed.emit()

    def shutdown(self) -> None:
        job = self.job
        if job is not None:
            job.cancel()
            job.wait()
            job.finished.emit()
