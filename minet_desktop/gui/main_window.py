"""The main window: open a performance video (or a keypoint file), play it, see its keypoints.

Playback is paced by a ``QTimer`` on the GUI thread that decodes one frame per tick from the
``VideoReader`` (which stays on the GUI thread). Keypoint extraction, which takes seconds to minutes,
runs on a background thread (:class:`~minet_desktop.gui.workers.ExtractionJob`) with a progress bar and a
Cancel button in the status bar. Every problem with a file the user brought is shown as one line in a
warning box (:meth:`MainWindow.show_error`), never as a traceback, and the window stays usable.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from minet_desktop import __version__
from minet_desktop.core.config import SkeletonConfig
from minet_desktop.core.errors import InputError, MinetError
from minet_desktop.gui import settings as app_settings
from minet_desktop.gui.overlay import render_overlay
from minet_desktop.gui.sources import CanvasSource, FrameSource, VideoSource
from minet_desktop.gui.video_view import VideoView
from minet_desktop.gui.workers import ExtractFn, ExtractionJob

log = logging.getLogger("minet_desktop")

APP_TITLE = "MI Net Desktop"
OPEN_FILTER = (
    "Videos and keypoint files (*.mp4 *.mov *.avi *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv *.npz);;"
    "Videos (*.mp4 *.mov *.avi *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv);;"
    "Keypoint files (*.npz);;"
    "All files (*)"
)


def compute_device_name() -> str:
    """What generation will run on: the first CUDA GPU's name, else "CPU" (imports torch, slow the first time)."""
    try:
        import torch

        if torch.cuda.is_available():
            return str(torch.cuda.get_device_name(0))
    except Exception:  # a broken CUDA install must not keep the app from starting
        log.exception("could not query CUDA devices")
    return "CPU"


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


def format_time(seconds: float) -> str:
    """``83.25`` -> ``"1:23.2"``."""
    seconds = max(0.0, seconds)
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:04.1f}"


class MainWindow(QMainWindow):
    """Video player with a keypoint overlay and keypoint extraction.

    Parameters
    ----------
    device_name
        Shown in the status bar; None asks torch once the window is up (:func:`compute_device_name`).
    extract
        ``extract(path, progress=, should_cancel=) -> KeypointFile``; default
        ``pose.extract.keypoints_for_video`` (looked up when extraction starts).
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        device_name: str | None = None,
        extract: ExtractFn | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self._threshold = SkeletonConfig().confidence_threshold
        self._extract = extract
        self._source: FrameSource | None = None
        self._keypoints = None  # KeypointFile | None
        self._frame_index = 0
        self._raw_frame: np.ndarray | None = None
        self._job: ExtractionJob | None = None

        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

        self._build_actions()
        self._build_menus()
        self._build_central()
        self._build_status_bar()

        settings = app_settings.open_settings()
        self.show_keypoints_action.setChecked(app_settings.show_keypoints(settings))
        self.show_keypoints_action.toggled.connect(self._on_show_keypoints_toggled)
        geometry = app_settings.window_geometry(settings)
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(960, 640)
        self._rebuild_recent_menu()
        self._update_actions()

        if device_name is None:
            # Importing torch takes a moment: do it once the window has been painted.
            self.device_label.setText("Device: …")
            QTimer.singleShot(50, self, self._detect_device)
        else:
            self.set_device_name(device_name)

    # ----------------------------------------------------------------- construction
    def _build_actions(self) -> None:
        style = self.style()
        self.open_action = QAction("&Open…", self, shortcut=QKeySequence.StandardKey.Open)
        self.open_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_DialogOpenButton))
        self.open_action.triggered.connect(self.open_dialog)
        self.clear_recent_action = QAction("Clear Recent Files", self)
        self.clear_recent_action.triggered.connect(self._clear_recent)
        self.quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.close)

        self.play_action = QAction("&Play", self, shortcut=QKeySequence(Qt.Key.Key_Space))
        self.play_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_action.triggered.connect(self.toggle_play)
        self.step_back_action = QAction("Previous Frame", self, shortcut=QKeySequence(Qt.Key.Key_Left))
        self.step_back_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekBackward))
        self.step_back_action.triggered.connect(lambda: self.step(-1))
        self.step_forward_action = QAction("Next Frame", self, shortcut=QKeySequence(Qt.Key.Key_Right))
        self.step_forward_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward))
        self.step_forward_action.triggered.connect(lambda: self.step(1))

        self.show_keypoints_action = QAction("Show &Keypoints", self, shortcut=QKeySequence(Qt.Key.Key_K))
        self.show_keypoints_action.setCheckable(True)
        self.show_keypoints_action.setToolTip("Draw the body (gold), right hand (red) and left hand (blue)")
        self.extract_action = QAction("&Extract Keypoints", self, shortcut=QKeySequence("Ctrl+E"))
        self.extract_action.setToolTip("Find body and hand keypoints in this video (MediaPipe)")
        self.extract_action.triggered.connect(self.start_extraction)

        self.about_action = QAction(f"&About {APP_TITLE}", self)
        self.about_action.triggered.connect(self.show_about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.aboutToShow.connect(self._rebuild_recent_menu)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        playback = bar.addMenu("&Playback")
        for action in (self.play_action, self.step_back_action, self.step_forward_action):
            playback.addAction(action)

        keypoints = bar.addMenu("&Keypoints")
        keypoints.addAction(self.show_keypoints_action)
        keypoints.addAction(self.extract_action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about_action)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.setMovable(False)
        toolbar.addAction(self.open_action)
        toolbar.addSeparator()
        toolbar.addAction(self.show_keypoints_action)
        toolbar.addAction(self.extract_action)

    def _build_central(self) -> None:
        self.view = VideoView(self)

        def transport_button(action: QAction) -> QToolButton:
            button = QToolButton(self)
            button.setDefaultAction(action)
            # Keyboard focus stays off the controls so Space and the arrow keys always reach the shortcuts.
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            return button

        self.play_button = transport_button(self.play_action)
        self.step_back_button = transport_button(self.step_back_action)
        self.step_forward_button = transport_button(self.step_forward_action)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.setRange(0, 0)
        self.slider.valueChanged.connect(self._on_slider_moved)
        self.time_label = QLabel(self)
        self.time_label.setMinimumWidth(
            self.time_label.fontMetrics().horizontalAdvance("00:00.0 / 00:00.0  frame 00000/00000")
        )

        transport = QHBoxLayout()
        transport.setContentsMargins(6, 2, 6, 2)
        transport.addWidget(self.step_back_button)
        transport.addWidget(self.play_button)
        transport.addWidget(self.step_forward_button)
        transport.addWidget(self.slider, 1)
        transport.addWidget(self.time_label)

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.view, 1)
        layout.addLayout(transport)
        self.setCentralWidget(central)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setFormat("keypoints %p%")
        self.progress_bar.hide()
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.cancel_button.clicked.connect(self.cancel_extraction)
        self.cancel_button.hide()
        self.model_label = QLabel("no model loaded", self)
        self.device_label = QLabel(self)
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.model_label)
        bar.addPermanentWidget(self.device_label)
        self._update_time_label()

    # ----------------------------------------------------------------- public API
    @property
    def source(self) -> FrameSource | None:
        """What is open (a video, or a keypoint file's canvas), or None."""
        return self._source

    @property
    def keypoints(self):  # -> KeypointFile | None
        """The open file's keypoints (sidecar, extracted, or the opened keypoint file), or None."""
        return self._keypoints

    @property
    def frame_index(self) -> int:
        return self._frame_index

    @property
    def extraction(self) -> ExtractionJob | None:
        """The running extraction job, if any."""
        return self._job

    def is_playing(self) -> bool:
        return self._timer.isActive()

    def show_error(self, title: str, text: str) -> None:
        """The one place the window shows a problem to the user (tests replace it)."""
        QMessageBox.warning(self, title, text)

    def set_device_name(self, name: str) -> None:
        self.device_label.setText(f"Device: {name}")

    def about_text(self) -> str:
        return (
            f"<h3>{APP_TITLE} {__version__}</h3>"
            "<p>Hear the instrument in a performance video: body and hand keypoints are turned into "
            "audio by MI Net.</p>"
            "<p>Keypoints: MediaPipe Holistic, in the 47-joint Solos layout.</p>"
        )

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_TITLE}", self.about_text())

    def open_dialog(self) -> None:
        settings = app_settings.open_settings()
        path, _ = QFileDialog.getOpenFileName(
            self, "Open video or keypoint file", app_settings.last_directory(settings), OPEN_FILTER
        )
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> bool:
        """Open a video (showing its sidecar keypoints, if any) or a ``.npz`` keypoint file.

        Returns False (after telling the user why) if the file cannot be used; what was open stays open.
        """
        p = Path(path)
        try:
            if not p.is_file():
                raise InputError(p, "no such file" if not p.exists() else "not a file")
            if p.suffix.lower() == ".npz":
                self._open_keypoint_file(p)
            else:
                self._open_video(p)
        except MinetError as exc:
            self.show_error("Cannot open file", str(exc))
            return False
        except Exception as exc:  # an unexpected failure still gets one line, and the log the traceback
            log.exception("opening %s failed", p)
            self.show_error("Cannot open file", f"{p}: cannot be opened ({type(exc).__name__}: {exc})")
            return False
        settings = app_settings.open_settings()
        app_settings.add_recent_file(settings, str(p))
        app_settings.set_last_directory(settings, p.resolve().parent)
        self._rebuild_recent_menu()
        return True

    def handle_drop(self, mime: QMimeData) -> bool:
        """Open the first local file among dropped URLs; False if there was none."""
        for url in mime.urls():
            if url.isLocalFile():
                return self.open_path(url.toLocalFile())
        return False

    def recent_file_actions(self) -> list[QAction]:
        """The Open Recent menu's file entries (rebuilt from the settings)."""
        self._rebuild_recent_menu()
        return [a for a in self.recent_menu.actions() if a.data()]

    # ----------------------------------------------------------------- playback
    def toggle_play(self) -> None:
        if self.is_playing():
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self._source is None or self._source.frame_count <= 1:
            return
        if self._frame_index >= self._source.frame_count - 1:
            self.seek(0)
        self._timer.start(max(1, round(1000.0 / self._source.fps)))
        self._update_play_action()

    def pause(self) -> None:
        self._timer.stop()
        self._update_play_action()

    def step(self, delta: int) -> None:
        """Show the frame ``delta`` frames away (pauses playback)."""
        if self._source is None:
            return
        self.pause()
        self.seek(self._frame_index + delta)

    def seek(self, index: int) -> bool:
        """Show frame ``index`` (clamped to the file). False if the frame could not be decoded."""
        if self._source is None:
            return False
        index = int(min(max(index, 0), self._source.frame_count - 1))
        try:
            frame = self._source.frame(index)
        except Exception as exc:
            self.pause()
            if isinstance(exc, InputError) and self._source_ends_before(index):
                return False
            if isinstance(exc, MinetError):
                message = str(exc)
            else:
                log.exception("decoding frame %d of %s failed", index, self._source.path)
                message = (
                    f"{self._source.path}: frame {index + 1} cannot be decoded ({type(exc).__name__}: {exc})"
                )
            self.show_error("Cannot read frame", message)
            return False
        self._frame_index = index
        self._raw_frame = frame
        if self.slider.value() != index:
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
        self._update_time_label()
        self._render()
        return True

    def _source_ends_before(self, index: int) -> bool:
        """Frame ``index`` is within the last few the container claims but could not be decoded: the real
        video is that much shorter (frame counts in headers are estimates). Shorten the timeline to match."""
        source = self._source
        if source is None or index < 1 or index < source.frame_count - 3:
            return False
        source.frame_count = index
        self.slider.blockSignals(True)
        self.slider.setRange(0, index - 1)
        self.slider.setValue(min(self._frame_index, index - 1))
        self.slider.blockSignals(False)
        self._update_time_label()
        return True

    @Slot()
    def _tick(self) -> None:
        if self._source is None or self._frame_index >= self._source.frame_count - 1:
            self.pause()
            return
        if not self.seek(self._frame_index + 1):
            self.pause()

    @Slot(int)
    def _on_slider_moved(self, value: int) -> None:
        if value != self._frame_index:
            self.seek(value)

    # ----------------------------------------------------------------- drawing
    def keypoints_for_frame(self, index: int) -> np.ndarray | None:
        """``(3, 47)`` keypoints shown with video frame ``index`` (matched by time), or None."""
        kf = self._keypoints
        if kf is None or self._source is None:
            return None
        kp = kf.keypoints
        n = kp.shape[0]
        if n == 0:
            return None
        k = int(round(index * float(kf.fps) / self._source.fps))
        if k >= n:
            # Frame counts from video headers are estimates; tolerate one frame of difference at the end.
            if k > n:
                return None
            k = n - 1
        return kp[k]

    def current_image(self):  # -> QImage | None
        """The image on screen (frame plus overlay) at the frame's resolution."""
        return self.view.image()

    def _overlay_on(self) -> bool:
        return self.show_keypoints_action.isChecked()

    def _render(self) -> None:
        if self._raw_frame is None:
            self.view.set_image(None)
            return
        kp = self.keypoints_for_frame(self._frame_index) if self._overlay_on() else None
        self.view.set_image(render_overlay(self._raw_frame, kp, self._threshold), legend=kp is not None)

    @Slot(bool)
    def _on_show_keypoints_toggled(self, on: bool) -> None:
        app_settings.set_show_keypoints(app_settings.open_settings(), on)
        self._render()

    # ----------------------------------------------------------------- opening files
    def _open_video(self, path: Path) -> None:
        source = VideoSource(path)  # raises InputError for non-videos and corrupt files
        if source.frame_count < 1:
            source.close()
            raise InputError(path, "the video has no frames")
        keypoints = None
        note = ""
        try:
            from minet_desktop.pose.keypoint_file import find_sidecar

            keypoints = find_sidecar(path)
        except MinetError as exc:
            note = f"; its keypoint file was ignored ({exc})"
        self._replace_source(source, keypoints)
        if source.warnings:
            note += "; " + "; ".join(source.warnings)
        if keypoints is not None:
            self.statusBar().showMessage(f"{path.name}: keypoints loaded from its keypoint file{note}", 8000)
        else:
            self.statusBar().showMessage(
                f"{path.name}: no keypoints yet — use Keypoints › Extract Keypoints{note}", 8000
            )

    def _open_keypoint_file(self, path: Path) -> None:
        from minet_desktop.pose.keypoint_file import KeypointFile

        kf = KeypointFile.load(path)  # raises InputError for broken files
        n = int(kf.keypoints.shape[0])
        width, height = (int(v) for v in kf.frame_size)
        if n < 1:
            raise InputError(path, "the keypoint file has no frames")
        if not (math.isfinite(float(kf.fps)) and kf.fps > 0):
            raise InputError(path, f"the keypoint file has an invalid frame rate ({kf.fps})")
        if width == 0 and height == 0:
            width, height = canvas_size_for(kf.keypoints)  # OpenPose / Solos files do not record it
        if width < 1 or height < 1 or width > 16384 or height > 16384:
            raise InputError(path, f"the keypoint file has an invalid frame size ({width}x{height})")
        self._replace_source(CanvasSource(path, kf.fps, n, (width, height)), kf)
        self.statusBar().showMessage(
            f"{path.name}: {n} frames of keypoints from {kf.source_name or 'an unknown video'}", 8000
        )

    def _replace_source(self, source: FrameSource, keypoints) -> None:
        self.pause()
        if self._job is not None:
            self._job.cancel()  # its result would belong to the file being closed
        if self._source is not None:
            self._source.close()
        self._source = source
        self._keypoints = keypoints
        self._frame_index = -1
        self.slider.blockSignals(True)
        self.slider.setRange(0, source.frame_count - 1)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.setWindowTitle(f"{source.path.name} — {APP_TITLE}")
        self._update_actions()
        if not self.seek(0):
            self._raw_frame = None
            self._frame_index = 0
            self._render()

    # ----------------------------------------------------------------- extraction
    def start_extraction(self) -> None:
        """Extract keypoints for the open video on a background thread."""
        if not isinstance(self._source, VideoSource) or self._job is not None:
            return
        job = ExtractionJob(self._source.path, extract=self._extract, parent=self)
        job.progress.connect(self._on_extraction_progress)
        job.succeeded.connect(self._on_extraction_succeeded)
        job.failed.connect(self._on_extraction_failed)
        job.cancelled.connect(self._on_extraction_cancelled)
        job.finished.connect(self._on_extraction_finished)
        self._job = job
        self.progress_bar.setRange(0, 0)  # busy until the first progress report gives a total
        self.progress_bar.show()
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self.statusBar().showMessage(f"Extracting keypoints from {self._source.path.name}…")
        self._update_actions()
        job.start()

    def cancel_extraction(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self.cancel_button.setEnabled(False)
            self.statusBar().showMessage("Cancelling keypoint extraction…")

    @Slot(int, int)
    def _on_extraction_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(min(done, total))

    @Slot(object)
    def _on_extraction_succeeded(self, kf) -> None:
        job = self.sender()
        if not isinstance(self._source, VideoSource) or job is None or job.path != self._source.path:
            return
        self._keypoints = kf
        self.statusBar().showMessage(
            f"{self._source.path.name}: keypoints extracted, person found in {kf.detected_fraction:.0%} of frames",
            8000,
        )
        self._render()

    @Slot(str)
    def _on_extraction_failed(self, message: str) -> None:
        self.statusBar().clearMessage()
        self.show_error("Keypoint extraction failed", message)

    @Slot()
    def _on_extraction_cancelled(self) -> None:
        self.statusBar().showMessage("Keypoint extraction cancelled", 5000)

    @Slot()
    def _on_extraction_finished(self) -> None:
        job = self._job
        self._job = None
        self.progress_bar.hide()
        self.cancel_button.hide()
        if job is not None and job.wait():
            job.deleteLater()  # (if its thread would not stop, leaking the job beats destroying a running QThread)
        self._update_actions()

    # ----------------------------------------------------------------- misc
    def _update_actions(self) -> None:
        has_source = self._source is not None
        for action in (self.play_action, self.step_back_action, self.step_forward_action):
            action.setEnabled(has_source)
        self.slider.setEnabled(has_source)
        self.extract_action.setEnabled(
            isinstance(self._source, VideoSource) and self._keypoints is None and self._job is None
        )
        self._update_play_action()

    def _update_play_action(self) -> None:
        playing = self.is_playing()
        self.play_action.setText("&Pause" if playing else "&Play")
        self.play_action.setIcon(
            self.style().standardIcon(
                QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
            )
        )

    def _update_time_label(self) -> None:
        if self._source is None:
            self.time_label.setText("0:00.0 / 0:00.0")
            return
        n, fps = self._source.frame_count, self._source.fps
        i = max(self._frame_index, 0)
        self.time_label.setText(f"{format_time(i / fps)} / {format_time(n / fps)}  frame {i + 1}/{n}")

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = app_settings.recent_files(app_settings.open_settings())
        for i, path in enumerate(paths):
            action = self.recent_menu.addAction(f"&{i + 1} {Path(path).name}")
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

    def _detect_device(self) -> None:
        self.set_device_name(compute_device_name())

    # ----------------------------------------------------------------- Qt events
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
            # Open after the drop returns, so the drag source is not kept waiting (or a dialog shown inside it).
            mime = QMimeData()
            mime.setUrls(event.mimeData().urls())
            QTimer.singleShot(0, lambda: self.handle_drop(mime))
        else:
            event.ignore()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.pause()
        job = self._job
        if job is not None:
            job.cancel()
            if not job.wait():
                log.warning("keypoint extraction did not stop within 30 s of closing the window")
            self._on_extraction_finished()
        app_settings.set_window_geometry(app_settings.open_settings(), self.saveGeometry())
        if self._source is not None:
            self._source.close()
            self._source = None
        super().closeEvent(event)
