"""The main window: open a performance video (or a keypoint file), see its keypoints, generate its music,
listen, inspect, export; or play live from a webcam.

Layout: the video (with the keypoint overlay) and its transport on top, the spectrogram inspector below
(:mod:`~minet_desktop.gui.inspector`), the generation / listening / live panel on the right
(:mod:`~minet_desktop.gui.generate_panel`).

Threads: the ``VideoReader`` stays on the GUI thread, paced by a ``QTimer``. With generated (or original)
audio playing, the timer follows the audio clock (:class:`~minet_desktop.gui.audio.Playback`: what the sound
device has consumed), so picture and sound stay in sync; without audio it steps one frame per tick. Model
loading, keypoint extraction, generation and MP4 export run as :mod:`~minet_desktop.gui.workers` jobs with
progress and Cancel; live mode runs its own two plain threads (:mod:`~minet_desktop.gui.live`) that the
GUI polls. One generation at a time: asking again cancels the running one and starts over when it stopped.

Every problem with a file the user brought is shown as one line in a warning box
(:meth:`MainWindow.show_error`), never as a traceback, and the window stays usable.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QTextDocument
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSplitter,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from minet_desktop import __version__
from minet_desktop.core.config import SkeletonConfig
from minet_desktop.core.errors import InputError, MinetError
from minet_desktop.core.validation import MAX_FRAME_SIDE, check_output_path
from minet_desktop.engine.paths import bundled_model_path, default_model_path
from minet_desktop.gui import settings as app_settings
from minet_desktop.gui.audio import AudioSink, NoSoundDevice, Playback, SinkFactory, open_sound_device
from minet_desktop.gui.generate_panel import MODEL_TYPES, GeneratePanel
from minet_desktop.gui.inspector import PaneData, SpectrogramInspector
from minet_desktop.gui.live import CameraSource, LivePipeline, MediaPipePose, OpenCVCamera, list_cameras
from minet_desktop.gui.overlay import render_overlay
from minet_desktop.gui.sources import CanvasSource, FrameSource, VideoSource
from minet_desktop.gui.video_view import VideoView
from minet_desktop.gui.workers import BackgroundJob, CallJob, ExtractFn, ExtractionJob, GenerationJob

log = logging.getLogger("minet_desktop")

APP_TITLE = "MI Net Desktop"
OPEN_FILTER = (
    "Videos and keypoint files (*.mp4 *.mov *.avi *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv *.npz *.npy);;"
    "Videos (*.mp4 *.mov *.avi *.mkv *.webm *.m4v *.mpg *.mpeg *.wmv);;"
    "Keypoint files (*.npz *.npy);;"
    "All files (*)"
)
MODEL_FILTER = "MI Net model bundles (*.safetensors);;All files (*)"
MIDI_FILTER = "MIDI files (*.mid *.midi);;All files (*)"
NO_MODEL = "no model loaded"
NO_MODEL_HELP = (
    "No model loaded: use File › Open Model… to choose an MI Net model bundle (.safetensors). "
    "Without a model the app shows videos and keypoints only."
)
MODEL_TYPE_LABELS = dict(MODEL_TYPES)
#: How to make a model of each type that does not ship with the app.
MODEL_TYPE_HINTS = {
    "minet": "Train one with `minet-train vqvae` and `minet-train prior` (see the README)",
    "minet_midi": "Train one with `minet-train vqvae` and `minet-train prior --content midi` (see the README)",
    "frame_regressor": "Train one with `minet-train regressor --cache CACHE --out RUN` (RUN/model.safetensors)",
    "frame_regressor_midi": (
        "Train one with `minet-train regressor --midi --cache CACHE --out RUN` (RUN/model.safetensors)"
    ),
}
#: Timer interval while audio drives the video: fine enough that a frame is never more than ~15 ms late.
AUDIO_CLOCK_TICK_MS = 15
LIVE_TICK_MS = 15


def _open_session(path: Path):  # -> Session (imports torch: call it off the GUI thread)
    from minet_desktop.engine.session import Session

    return Session(path)


def _live_generator(session, fps: float, seed: int, instrument: str | None = None):  # -> LiveGenerator
    from minet_desktop.engine.streaming import LiveGenerator

    return LiveGenerator(session, fps=fps, seed=seed, instrument=instrument)


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
    """Video player with a keypoint overlay, generation, playback, inspector, export and live mode.

    Parameters
    ----------
    device_name
        Shown in the status bar; None asks torch once the window is up (:func:`compute_device_name`).
    extract
        ``extract(path, progress=, should_cancel=) -> KeypointFile``; default
        ``pose.extract.keypoints_for_video`` (looked up when extraction starts).
    model_path
        Bundle to load once the window is up; None: the last one opened, else :func:`default_model_path`
        when it exists; ``""``: none.
    open_session
        ``open_session(path) -> Session`` (run on a worker thread); default ``engine.session.Session``.
    sink_factory
        ``sink_factory(sample_rate) -> AudioSink``, raising :class:`~minet_desktop.gui.audio.NoSoundDevice`
        when there is no sound; default: the sound device.
    camera_factory, camera_list, pose_factory
        Live mode: ``camera_factory(index) -> CameraSource``, ``camera_list() -> [(index, name)]``, and the
        keypoint estimator (built on the live thread; None: camera only). Defaults: OpenCV, MediaPipe.
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        device_name: str | None = None,
        extract: ExtractFn | None = None,
        model_path: str | Path | None = None,
        open_session=None,
        sink_factory: SinkFactory | None = None,
        camera_factory=None,
        camera_list=None,
        pose_factory=MediaPipePose,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self._threshold = SkeletonConfig().confidence_threshold
        self._extract = extract
        self._open_session = open_session or _open_session
        self._sink_factory: SinkFactory = sink_factory or open_sound_device
        self._camera_factory = camera_factory or OpenCVCamera
        self._camera_list = camera_list or list_cameras
        self._pose_factory = pose_factory
        self._source: FrameSource | None = None
        self._keypoints = None  # KeypointFile | None
        self._frame_index = 0
        self._raw_frame: np.ndarray | None = None
        self._job: ExtractionJob | None = None
        # Model, generation, playback, export, live.
        self._session = None  # engine.session.Session | None
        self._model_path: Path | None = None
        self._model_job: CallJob | None = None
        self._requested_type: str | None = None  # the model type the user chose in the panel, while it loads
        self._gen_job: GenerationJob | None = None
        self._generate_again = False  # a request arrived while one was running: start it when that stops
        self._export_job: CallJob | None = None
        self._detect_job: CallJob | None = None  # which instrument the open performance's movement shows
        self._detect_again = False
        self._result = None  # engine.session.GenerationResult | None
        self._result_audio = None  # the AudioConfig it was made with
        self._original: tuple[np.ndarray, int] | None = None  # the video's own audio (mono, rate)
        self._original_spec: tuple[object, np.ndarray] | None = None  # (AudioConfig, log-spectrogram)
        self._midi_path: Path | None = None
        self._notes = None  # list[Note] | None
        self._sink: AudioSink | None = None
        self._sink_problem: str | None = None
        self._playback: Playback | None = None
        self._gen_audio = None  # AudioConfig of the model the running generation uses
        self._gen_source: FrameSource | None = None  # what the running generation is for
        self._live: LivePipeline | None = None
        self._live_camera_name = ""
        self._live_note = ""
        self._restoring = False

        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._live_timer = QTimer(self)
        self._live_timer.timeout.connect(self._live_tick)

        self._build_actions()
        self._build_menus()
        self._build_central()
        self._build_status_bar()

        settings = app_settings.open_settings()
        self.show_keypoints_action.setChecked(app_settings.show_keypoints(settings))
        self.show_keypoints_action.toggled.connect(self._on_show_keypoints_toggled)
        self._restore_panel_settings(settings)
        geometry = app_settings.window_geometry(settings)
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1200, 800)
        self._rebuild_recent_menu()
        self._update_actions()

        if device_name is None:
            # Importing torch takes a moment: do it once the window has been painted.
            self.device_label.setText("Device: …")
            QTimer.singleShot(50, self, self._detect_device)
        else:
            self.set_device_name(device_name)
        if model_path is None:
            remembered = app_settings.get_str(settings, app_settings.KEY_MODEL)
            candidate = Path(remembered) if remembered else default_model_path()
            model_path = candidate if candidate.is_file() else ""
        if model_path:
            QTimer.singleShot(0, self, lambda: self.open_model(model_path))
        QTimer.singleShot(0, self, self.refresh_cameras)
        self._update_inspector()

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

        self.open_model_action = QAction("Open &Model…", self, shortcut=QKeySequence("Ctrl+M"))
        self.open_model_action.triggered.connect(self.open_model_dialog)
        self.open_midi_action = QAction("Open M&IDI…", self)
        self.open_midi_action.setToolTip("Notes for MIDI-conditioned generation (shown as a piano roll)")
        self.open_midi_action.triggered.connect(self.open_midi_dialog)
        self.export_wav_action = QAction("Export &WAV…", self, shortcut=QKeySequence("Ctrl+Shift+W"))
        self.export_wav_action.triggered.connect(self.export_wav_dialog)
        self.export_mp4_action = QAction("Export M&P4…", self, shortcut=QKeySequence("Ctrl+Shift+E"))
        self.export_mp4_action.triggered.connect(self.export_mp4_dialog)
        self.export_png_action = QAction("Export Spectrogram &PNG…", self)
        self.export_png_action.triggered.connect(self.export_png_dialog)
        self.generate_action = QAction("&Generate", self, shortcut=QKeySequence("Ctrl+G"))
        self.generate_action.triggered.connect(self.start_generation)
        self.cancel_generation_action = QAction("&Cancel Generation", self, shortcut=QKeySequence("Esc"))
        self.cancel_generation_action.triggered.connect(self.cancel_generation)
        self.live_action = QAction("&Live Camera", self, shortcut=QKeySequence("Ctrl+L"))
        self.live_action.setCheckable(True)
        self.live_action.toggled.connect(self.set_live)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.aboutToShow.connect(self._rebuild_recent_menu)
        file_menu.addMenu(self.recent_menu)
        file_menu.addAction(self.open_model_action)
        file_menu.addAction(self.open_midi_action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_wav_action)
        file_menu.addAction(self.export_mp4_action)
        file_menu.addAction(self.export_png_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        playback = bar.addMenu("&Playback")
        for action in (self.play_action, self.step_back_action, self.step_forward_action):
            playback.addAction(action)

        keypoints = bar.addMenu("&Keypoints")
        keypoints.addAction(self.show_keypoints_action)
        keypoints.addAction(self.extract_action)

        generate = bar.addMenu("&Generate")
        generate.addAction(self.generate_action)
        generate.addAction(self.cancel_generation_action)
        generate.addSeparator()
        generate.addAction(self.live_action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about_action)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.setMovable(False)
        toolbar.addAction(self.open_action)
        toolbar.addSeparator()
        toolbar.addAction(self.show_keypoints_action)
        toolbar.addAction(self.extract_action)
        toolbar.addSeparator()
        toolbar.addAction(self.generate_action)
        toolbar.addAction(self.live_action)

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

        player = QWidget(self)
        layout = QVBoxLayout(player)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.view, 1)
        layout.addLayout(transport)

        self.inspector = SpectrogramInspector(self)
        self.inspector.seek_requested.connect(self.seek_time)
        self.inspector.export_button.clicked.connect(self.export_png_dialog)
        self.inspector.colormap_combo.currentIndexChanged.connect(self._save_inspector_settings)
        self.inspector.scale_combo.currentIndexChanged.connect(self._save_inspector_settings)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(player)
        self.splitter.addWidget(self.inspector)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.setCentralWidget(self.splitter)

        self.panel = GeneratePanel(self)
        self.panel.open_model_requested.connect(self.open_model_dialog)
        self.panel.model_type_chosen.connect(self.choose_model_type)
        self.panel.choose_midi_requested.connect(self.open_midi_dialog)
        self.panel.clear_midi_requested.connect(lambda: self.set_midi(None))
        self.panel.generate_requested.connect(self.start_generation)
        self.panel.cancel_requested.connect(self.cancel_generation)
        self.panel.take_changed.connect(self._on_take_changed)
        self.panel.listen_original_changed.connect(lambda _on: self._rebuild_playback())
        self.panel.export_wav_requested.connect(self.export_wav_dialog)
        self.panel.export_mp4_requested.connect(self.export_mp4_dialog)
        self.panel.live_toggled.connect(self.live_action.setChecked)
        self.panel.refresh_cameras_requested.connect(self.refresh_cameras)
        for control in (self.panel.takes_spin, self.panel.seed_spin):
            control.valueChanged.connect(self._save_panel_settings)
        self.panel.temperature_spin.valueChanged.connect(self._save_panel_settings)
        self.panel.random_seed.toggled.connect(self._save_panel_settings)
        scroll = QScrollArea(self)
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.panel_dock = QDockWidget("Generate", self)
        self.panel_dock.setObjectName("generate_dock")
        self.panel_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.panel_dock.setWidget(scroll)
        self.panel_dock.setMinimumWidth(250)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.panel_dock)

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
        self.model_label = QLabel(NO_MODEL, self)
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
        text = (
            f"<h3>{APP_TITLE} {__version__}</h3>"
            "<p>Hear the instrument in a performance video: body and hand keypoints are turned into "
            "audio by MI Net.</p>"
            "<p>Keypoints: MediaPipe Holistic, in the 47-joint Solos layout.</p>"
        )
        session = self._session
        if session is None:
            return text + f"<p><b>Model:</b> {NO_MODEL}.</p>"
        card = session.model_card.strip() or "(this bundle has no model card)"
        doc = QTextDocument()
        doc.setMarkdown(card)
        body = doc.toHtml()
        start, end = body.find("<body"), body.rfind("</body>")
        if start >= 0 and end > start:
            body = body[body.find(">", start) + 1 : end]
        kind = MODEL_TYPE_LABELS.get(session.model_type, session.model_type)
        return (
            text + f"<hr><p><b>Model:</b> {self._model_path.name if self._model_path else ''} ({kind}), "
            f"on {session.device_name}</p>" + body
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
        """Open a video (showing its sidecar keypoints, if any), a ``.npz`` keypoint file or a bare
        ``(T, 3, 47)`` skeleton ``.npy``.

        Returns False (after telling the user why) if the file cannot be used; what was open stays open.
        """
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
        # (Not QAction.data() on every action: PySide6 mishandles the reference to the None it returns for
        # the separator and "Clear", which adds up to an interpreter crash at exit.)
        return list(self._recent_actions)

    # ----------------------------------------------------------------- playback
    def toggle_play(self) -> None:
        if self.is_playing():
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self._source is None or self._source.frame_count <= 1 or self._live is not None:
            return
        if self._frame_index >= self._source.frame_count - 1:
            self.seek(0)
        if self._playback is not None:
            # The audio is the clock: start it where the picture is, and let the video follow it.
            self._playback.seek(self._frame_index / self._source.fps)
            self._playback.play()
            self._timer.start(AUDIO_CLOCK_TICK_MS)
        else:
            self._timer.start(max(1, round(1000.0 / self._source.fps)))
        self._update_play_action()

    def pause(self) -> None:
        self._timer.stop()
        if self._playback is not None:
            self._playback.pause()
        self._update_play_action()

    def seek_time(self, seconds: float) -> None:
        """Go to ``seconds`` (picture, sound and playhead); playback goes on if it was playing."""
        if self._source is None:
            return
        index = int(min(max(seconds, 0.0), 1e9) * self._source.fps)
        self.seek(index)
        if self._playback is not None:
            self._playback.seek(seconds)
        self.inspector.set_playhead(max(0.0, seconds))

    def step(self, delta: int) -> None:
        """Show the frame ``delta`` frames away (pauses playback)."""
        if self._source is None or self._live is not None:
            return
        self.pause()
        if self.seek(self._frame_index + delta):
            self.inspector.set_playhead(self._frame_index / self._source.fps)

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
        if self._source is None:
            self.pause()
            return
        playback = self._playback
        if playback is not None and playback.playing:
            playback.pump()
            t = playback.time()
            self.inspector.set_playhead(t)
            target = min(int(t * self._source.fps), self._source.frame_count - 1)
            if target > self._frame_index and target - self._frame_index <= 8:
                # Decode the frames in between in order (cheap for the sequential reader) and show the last.
                for i in range(self._frame_index + 1, target):
                    try:
                        self._source.frame(i)
                    except Exception:
                        break
                    self._frame_index = i
            if target != self._frame_index and not self.seek(target):
                self.pause()
            if playback.finished():
                self.pause()
            return
        if self._frame_index >= self._source.frame_count - 1:
            self.pause()
            return
        if not self.seek(self._frame_index + 1):
            self.pause()
        else:
            self.inspector.set_playhead(self._frame_index / self._source.fps)

    @Slot(int)
    def _on_slider_moved(self, value: int) -> None:
        if value != self._frame_index and self._source is not None:
            self.seek_time(value / self._source.fps)

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
        from minet_desktop.pose.keypoint_file import load_keypoints

        kf = load_keypoints(path)  # raises InputError for broken files, the same sentence as the CLI
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
        self._replace_source(CanvasSource(path, kf.fps, n, (width, height)), kf)
        self.statusBar().showMessage(
            f"{path.name}: {n} frames of keypoints from {kf.source_name or 'an unknown video'}", 8000
        )

    def _replace_source(self, source: FrameSource, keypoints) -> None:
        if self._live is not None:
            self.set_live(False)
        self.pause()
        if self._job is not None:
            self._job.cancel()  # its result would belong to the file being closed
        if self._gen_job is not None:
            self._gen_job.cancel()
            self._generate_again = False
        self._result = None
        self._original_spec = None
        self._original = self._read_original_audio(source)
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
        self.panel.set_result(0, [])
        self.panel.set_original_available(self._original is not None)
        self._rebuild_playback()
        self._update_inspector()
        self.inspector.set_playhead(0.0)
        self._update_actions()
        self.detect_instrument()
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

    @Slot(str, int, int)
    def _on_extraction_progress(self, _label: str, done: int, total: int) -> None:
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
        self.detect_instrument()

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

    # ----------------------------------------------------------------- model
    @property
    def session(self):  # -> engine.session.Session | None
        """The loaded model (None: "no model loaded")."""
        return self._session

    @property
    def generation(self) -> GenerationJob | None:
        """The running generation job, if any."""
        return self._gen_job

    @property
    def result(self):  # -> engine.session.GenerationResult | None
        """The latest generation for the open file."""
        return self._result

    @property
    def playback(self) -> Playback | None:
        """What Play plays with the video (generated take or original track), None without sound."""
        return self._playback

    @property
    def live(self) -> LivePipeline | None:
        return self._live

    def ask_model_file(self, title: str = "Open model bundle") -> str:
        """A model bundle the user picks in a file dialog ("" if cancelled; tests replace it)."""
        settings = app_settings.open_settings()
        start = str(self._model_path.parent) if self._model_path else app_settings.last_directory(settings)
        path, _ = QFileDialog.getOpenFileName(self, title, start, MODEL_FILTER)
        return path

    def open_model_dialog(self) -> None:
        path = self.ask_model_file()
        if path:
            self.open_model(path)

    def choose_model_type(self, model_type: str) -> None:
        """Switch to a model of ``model_type`` (chosen in the panel's list): the one that ships with the app
        (``resources/models/``) when there is one, else a bundle the user picks; if there is none, say how to
        make one and keep the loaded model."""
        if self._model_job is not None or self._gen_job is not None or self._live is not None:
            self.panel.show_loaded_type()
            return
        label = MODEL_TYPE_LABELS.get(model_type, model_type)
        path = bundled_model_path(model_type)
        if not path.is_file():
            chosen = self.ask_model_file(f"Open a {label} model bundle (none ships with the app)")
            if not chosen:
                self.panel.show_loaded_type()
                self.show_error(
                    f"No {label} model",
                    f"{path}: no {label} model ships with this installation. {MODEL_TYPE_HINTS[model_type]}, "
                    "then choose it here or with File › Open Model….",
                )
                return
            path = Path(chosen)
        self._requested_type = model_type
        self.open_model(path)

    def open_model(self, path: str | Path) -> None:
        """Load a model bundle on a worker thread; the one loaded so far stays until the new one is ready."""
        if self._model_job is not None or self._gen_job is not None:
            return
        p = Path(path)
        job = CallJob(lambda: self._open_session(p), f"loading the model {p}", parent=self)
        job.succeeded.connect(lambda session: self._on_model_loaded(p, session))
        job.failed.connect(lambda message: self.show_error("Cannot open model", message))
        job.finished.connect(self._on_model_job_finished)
        self._model_job = job
        self.model_label.setText(f"loading {p.name}…")
        self._update_actions()
        job.start()

    def _on_model_loaded(self, path: Path, session) -> None:
        self._session = session
        self._model_path = path
        kind = MODEL_TYPE_LABELS.get(session.model_type, session.model_type)
        self.set_device_name(session.device_name)
        self.panel.set_model(
            f"{path.name}<br><small>{kind}, {session.sample_rate} Hz</small>", session.model_type
        )
        self.panel.set_instruments(session.instruments)
        self.detect_instrument()
        app_settings.open_settings().setValue(app_settings.KEY_MODEL, str(path))
        requested = self._requested_type
        if requested is not None and requested != session.model_type:
            wanted = MODEL_TYPE_LABELS.get(requested, requested)
            self.statusBar().showMessage(f"{path.name} is a {kind} model, not a {wanted} model", 8000)
        else:
            self.statusBar().showMessage(f"Model {path.name} loaded ({kind})", 5000)
        self._original_spec = None
        self._update_inspector()

    def _on_model_job_finished(self) -> None:
        job, self._model_job = self._model_job, None
        self._requested_type = None
        if job is not None:
            job.deleteLater()
        self._update_model_label()
        self.panel.show_loaded_type()  # a model that failed to load leaves the list on the loaded one
        self._update_actions()

    def _update_model_label(self) -> None:
        if self._session is None or self._model_path is None:
            self.model_label.setText(NO_MODEL)
            self.panel.set_model(None, None)
            self.panel.set_instruments(())
            return
        kind = MODEL_TYPE_LABELS.get(self._session.model_type, self._session.model_type)
        self.model_label.setText(f"Model: {self._model_path.name} ({kind})")

    # ----------------------------------------------------------------- MIDI
    def open_midi_dialog(self) -> None:
        settings = app_settings.open_settings()
        path, _ = QFileDialog.getOpenFileName(
            self, "Open MIDI file", app_settings.last_directory(settings), MIDI_FILTER
        )
        if path:
            self.set_midi(path)

    def set_midi(self, path: str | Path | None) -> bool:
        """Use the notes of a MIDI file for generation (and show them); None forgets them. False if unusable."""
        if path is None:
            self._midi_path, self._notes = None, None
            self.panel.set_midi(None)
            self._update_inspector()
            return True
        p = Path(path)
        try:
            from minet_desktop.media.midi import read_midi_notes

            notes = read_midi_notes(p)
        except MinetError as exc:
            self.show_error("Cannot open MIDI file", str(exc))
            return False
        except Exception as exc:
            log.exception("reading %s failed", p)
            self.show_error("Cannot open MIDI file", f"{p}: cannot be read ({type(exc).__name__}: {exc})")
            return False
        self._midi_path, self._notes = p, notes
        self.panel.set_midi(p, len(notes))
        self._update_inspector()
        return True

    # ----------------------------------------------------------------- generation
    def start_generation(self) -> None:
        """Generate music for the open performance (extracting its keypoints first if needed)."""
        if self._source is None or self._live is not None:
            return
        session = self._session
        if session is None:
            self.show_error("No model loaded", NO_MODEL_HELP)
            return
        if self._gen_job is not None:  # a new request supersedes the running one
            self._gen_job.cancel()
            self._generate_again = True
            self.panel.stage_label.setText("starting over…")
            return
        if self._keypoints is None and not isinstance(self._source, VideoSource):
            return
        if session.backend.needs_notes and self._notes is None:
            self.show_error(
                "MIDI needed",
                f"{self._model_path}: this model plays the notes of a MIDI file: choose one under "
                "Generate › MIDI (or File › Open MIDI…)",
            )
            return
        options = self.panel.options()
        notes = self._notes if self._notes is not None else None
        if notes is not None and not session.backend.needs_notes:
            notes = None  # shown in the inspector only; the model does not take notes

        instrument = options.instrument if options.instrument in session.instruments else None

        def make_generator(keypoints):
            return session.iter_generate(
                keypoints,
                notes,
                takes=options.takes,
                temperature=options.temperature,
                seed=options.seed,
                instrument=instrument,
            )

        video = self._source.path if isinstance(self._source, VideoSource) else None
        self.pause()
        job = GenerationJob(make_generator, self._keypoints, video=video, extract=self._extract, parent=self)
        job.progress.connect(self._on_generation_progress)
        job.succeeded.connect(self._on_generation_succeeded)
        job.failed.connect(self._on_generation_failed)
        job.cancelled.connect(lambda: self.panel.stage_label.setText("cancelled"))
        job.finished.connect(self._on_generation_finished)
        self._gen_job = job
        self._gen_audio = session.cfg.audio
        self._gen_source = self._source
        self.panel.stage_label.setText(
            "finding keypoints, then generating…" if self._keypoints is None else "generating…"
        )
        self._update_actions()
        job.start()

    def cancel_generation(self) -> None:
        if self._gen_job is not None:
            self._generate_again = False
            self._gen_job.cancel()
            self.panel.cancel_button.setEnabled(False)
            self.panel.stage_label.setText("cancelling…")

    @Slot(str, int, int)
    def _on_generation_progress(self, label: str, done: int, total: int) -> None:
        self.panel.set_progress(label, done / max(total, 1))

    @Slot(object)
    def _on_generation_succeeded(self, value: object) -> None:
        keypoints, result = value  # type: ignore[misc]
        if self._source is not self._gen_source:
            return
        if self._keypoints is None:
            self._keypoints = keypoints
            self._render()
            self.detect_instrument()
        self._result = result
        self._result_audio = self._gen_audio
        self.panel.set_result(result.takes, list(result.seeds))
        self.panel.generated_radio.setChecked(True)
        took = result.timings.get("total") or sum(result.timings.values())
        self.panel.stage_label.setText(
            f"{result.takes} take(s), {result.duration:.1f} s of audio, in {took:.1f} s on {result.device}"
        )
        if result.warnings:
            self.panel.stage_label.setText(
                self.panel.stage_label.text() + "\n⚠ " + "\n⚠ ".join(result.warnings)
            )
            self.statusBar().showMessage("; ".join(result.warnings), 10000)
        else:
            self.statusBar().showMessage("Generated audio ready: press Space to listen", 8000)
        self._rebuild_playback()
        self._update_inspector()

    @Slot(str)
    def _on_generation_failed(self, message: str) -> None:
        self.panel.stage_label.setText("failed")
        self.show_error("Generation failed", message)

    @Slot()
    def _on_generation_finished(self) -> None:
        job, self._gen_job = self._gen_job, None
        if job is not None and job.wait():
            job.deleteLater()
        self._update_actions()
        if self._generate_again:
            self._generate_again = False
            QTimer.singleShot(0, self, self.start_generation)

    # ----------------------------------------------------------------- which instrument
    @property
    def detection(self) -> CallJob | None:
        """The running instrument detection, if any."""
        return self._detect_job

    def detect_instrument(self) -> None:
        """Find which instruments the open performance's movement looks like, on a worker thread, and show
        them next to Generate; a request while one runs starts again when it ends (the newest wins)."""
        session, keypoints = self._session, self._keypoints
        if session is None or not session.instruments or keypoints is None:
            self.panel.set_detection(
                "" if session is None or keypoints is None else "this model cannot tell the instrument"
            )
            return
        if self._detect_job is not None:
            self._detect_again = True
            return
        source = self._source
        job = CallJob(lambda: session.detect(keypoints), "finding the instrument", parent=self)
        job.succeeded.connect(lambda det: self._on_instrument_detected(source, session, det))
        job.failed.connect(lambda message: self.panel.set_detection(f"unknown ({message})"))
        job.finished.connect(self._on_detection_finished)
        self._detect_job = job
        self.panel.set_detection("listening to the movement…")
        job.start()

    def _on_instrument_detected(self, source, session, detection) -> None:
        if source is self._source and session is self._session and not self._detect_again:
            self.panel.set_detection(detection.summary())

    def _on_detection_finished(self) -> None:
        job, self._detect_job = self._detect_job, None
        if job is not None and job.wait():
            job.deleteLater()
        if self._detect_again:
            self._detect_again = False
            self.detect_instrument()

    # ----------------------------------------------------------------- listening
    def _read_original_audio(self, source: FrameSource) -> tuple[np.ndarray, int] | None:
        """The video's own audio track (mono), or None when it has none."""
        if not isinstance(source, VideoSource):
            return None
        try:
            from minet_desktop.media.audio_io import read_audio

            return read_audio(source.path)
        except MinetError:
            return None  # no audio stream: nothing to compare with
        except Exception:
            log.exception("reading the audio of %s failed", source.path)
            return None

    def _sink_for(self, sample_rate: int) -> AudioSink | None:
        if self._sink is not None and self._sink.sample_rate == sample_rate:
            return self._sink
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        if self._sink_problem is not None:
            return None  # already told the user; do not try the device again and again
        try:
            self._sink = self._sink_factory(sample_rate)
        except NoSoundDevice as exc:
            self._sink_problem = f"Playback disabled: {exc}. Export still works."
            self.statusBar().showMessage(self._sink_problem, 10000)
            log.warning("%s", self._sink_problem)
        except Exception as exc:
            log.exception("opening the sound device failed")
            self._sink_problem = f"Playback disabled: the sound device failed ({exc}). Export still works."
            self.statusBar().showMessage(self._sink_problem, 10000)
        return self._sink

    def _rebuild_playback(self) -> None:
        """Point Play at the chosen sound (a generated take, or the original track), keeping the position."""
        was_playing = self.is_playing()
        if was_playing:
            self.pause()
        self._playback = None
        wave_rate: tuple[np.ndarray, int] | None = None
        if self.panel.listening_to_original():
            wave_rate = self._original
        elif self._result is not None:
            take = min(self.panel.current_take(), self._result.takes - 1)
            wave_rate = (self._result.waveform[take], self._result.sample_rate)
        if wave_rate is not None:
            sink = self._sink_for(wave_rate[1])
            if sink is not None:
                self._playback = Playback(sink, wave_rate[0], wave_rate[1])
        if self._sink_problem is not None and wave_rate is not None:
            self.panel.audio_label.setText(self._sink_problem)
        elif self._playback is not None:
            self.panel.audio_label.setText("Space plays the video with this sound")
        else:
            self.panel.audio_label.setText(" ")
        if was_playing:
            self.play()

    def _on_take_changed(self, take: int) -> None:
        self._rebuild_playback()
        self._update_inspector()

    # ----------------------------------------------------------------- inspector
    def _update_inspector(self) -> None:
        generated = reference = None
        result = self._result
        audio = self._result_audio if result is not None else None
        if audio is None and self._session is not None:
            audio = self._session.cfg.audio
        if result is not None and audio is not None:
            take = min(self.panel.current_take(), result.takes - 1)
            generated = PaneData.from_log_spectrogram(
                f"Generated — take {take + 1} (seed {result.seeds[take]})",
                result.spectrogram[take],
                result.frame_rate,
                result.sample_rate,
                audio.n_fft,
            )
        if audio is not None and self._original is not None:
            reference = self._original_pane(audio)
        if reference is None and audio is not None and self._notes is not None:
            from minet_desktop.media.midi import notes_to_piano_roll

            if generated is not None:
                n_frames = generated.n_frames
            elif self._source is not None:
                n_frames = int(self._source.frame_count / self._source.fps * audio.frame_rate) + 1
            else:
                n_frames = int(max(n.offset for n in self._notes) * audio.frame_rate) + 1
            roll = notes_to_piano_roll(self._notes, audio.frame_rate, n_frames)
            name = self._midi_path.name if self._midi_path else "MIDI"
            reference = PaneData.from_piano_roll(
                f"MIDI — {name}", roll, audio.frame_rate, audio.n_bins, audio.sample_rate / audio.n_fft
            )
        if self._session is None and result is None:
            hint = "No model loaded — File › Open Model…"
        else:
            hint = "Press Generate to see the generated spectrogram here"
        self.inspector.set_panes(
            generated, reference, (hint, "No original audio track or MIDI to compare with")
        )
        self._update_actions()

    def _original_pane(self, audio) -> PaneData | None:
        if self._original_spec is None or self._original_spec[0] != audio:
            try:
                from minet_desktop.features.audio import log_spectrogram
                from minet_desktop.media.audio_io import resample_audio

                wave, rate = self._original  # type: ignore[misc]
                if rate != audio.sample_rate:
                    wave = resample_audio(wave, rate, audio.sample_rate)
                self._original_spec = (audio, log_spectrogram(wave, audio))
            except Exception:
                log.exception("spectrogram of the original audio failed")
                return None
        name = self._source.path.name if self._source is not None else ""
        return PaneData.from_log_spectrogram(
            f"Original audio — {name}",
            self._original_spec[1],
            audio.frame_rate,
            audio.sample_rate,
            audio.n_fft,
        )

    def _save_inspector_settings(self) -> None:
        settings = app_settings.open_settings()
        settings.setValue(app_settings.KEY_COLORMAP, self.inspector.colormap)
        settings.setValue(app_settings.KEY_LOG_FREQUENCY, self.inspector.log_frequency)

    def _save_panel_settings(self) -> None:
        if self._restoring:
            return
        settings = app_settings.open_settings()
        options = self.panel.options()
        settings.setValue(app_settings.KEY_TAKES, options.takes)
        settings.setValue(app_settings.KEY_TEMPERATURE, float(self.panel.temperature_spin.value()))
        settings.setValue(app_settings.KEY_SEED, self.panel.seed_spin.value())
        settings.setValue(app_settings.KEY_RANDOM_SEED, self.panel.random_seed.isChecked())

    def _restore_panel_settings(self, settings) -> None:
        self._restoring = True
        try:
            self._restore_panel_settings_now(settings)
        finally:
            self._restoring = False

    def _restore_panel_settings_now(self, settings) -> None:
        panel = self.panel
        panel.takes_spin.setValue(app_settings.get_int(settings, app_settings.KEY_TAKES, 1, 1, 8))
        panel.temperature_spin.setValue(app_settings.get_float(settings, app_settings.KEY_TEMPERATURE, 1.0))
        panel.seed_spin.setValue(app_settings.get_int(settings, app_settings.KEY_SEED, 0, 0, 2**31 - 1))
        panel.random_seed.setChecked(app_settings.get_bool(settings, app_settings.KEY_RANDOM_SEED, False))
        panel.seed_spin.setEnabled(not panel.random_seed.isChecked())
        self.inspector.set_colormap(app_settings.get_str(settings, app_settings.KEY_COLORMAP, "inferno"))
        self.inspector.set_log_frequency(
            app_settings.get_bool(settings, app_settings.KEY_LOG_FREQUENCY, False)
        )

    # ----------------------------------------------------------------- export
    def _export_dir(self) -> str:
        settings = app_settings.open_settings()
        folder = app_settings.get_str(settings, app_settings.KEY_EXPORT_DIR)
        return folder if folder and Path(folder).is_dir() else app_settings.last_directory(settings)

    def _export_name(self, suffix: str) -> str:
        stem = self._source.path.stem if self._source is not None else "minet"
        take = (
            f"-take{self.panel.current_take() + 1}"
            if self._result is not None and self._result.takes > 1
            else ""
        )
        return str(Path(self._export_dir()) / f"{stem}-minet{take}{suffix}")

    def _input_paths(self) -> list[Path | None]:
        """The files the current result was made from: an export must never overwrite one of them."""
        source = getattr(self._source, "path", None)
        return [Path(source) if source else None, self._model_path, self._midi_path]

    def _save_dialog(self, title: str, suffix: str, file_filter: str) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(self, title, self._export_name(suffix), file_filter)
        if not path:
            return None
        p = Path(path)
        if p.suffix.lower() != suffix:
            p = p.with_name(p.name + suffix)
        app_settings.open_settings().setValue(app_settings.KEY_EXPORT_DIR, str(p.parent))
        return p

    def _take_wave(self) -> tuple[np.ndarray, int]:
        assert self._result is not None
        take = min(self.panel.current_take(), self._result.takes - 1)
        return self._result.waveform[take], self._result.sample_rate

    def export_wav_dialog(self) -> None:
        if self._result is None:
            return
        path = self._save_dialog("Export WAV", ".wav", "WAV audio (*.wav)")
        if path is not None:
            self.export_wav(path)

    def export_wav(self, path: str | Path) -> bool:
        """Write the current take as a WAV file (atomically); False (after a message) if it failed."""
        if self._result is None:
            return False
        from minet_desktop.media.audio_io import write_wav

        wave, rate = self._take_wave()
        try:
            check_output_path(path, self._input_paths())
            write_wav(path, wave, rate)
        except (MinetError, OSError) as exc:
            self.show_error("Cannot export WAV", f"{path}: {exc}" if isinstance(exc, OSError) else str(exc))
            return False
        self.statusBar().showMessage(f"Wrote {path}", 8000)
        return True

    def export_mp4_dialog(self) -> None:
        if self._result is None or not isinstance(self._source, VideoSource):
            return
        path = self._save_dialog("Export MP4", ".mp4", "MP4 video (*.mp4)")
        if path is not None:
            self.export_mp4(path)

    def export_mp4(self, path: str | Path) -> bool:
        """Write the video with the current take as its sound, on a worker thread (atomically)."""
        if self._result is None or not isinstance(self._source, VideoSource) or self._export_job is not None:
            return False
        from minet_desktop.media.export import mux_audio

        video, out = self._source.path, Path(path)
        try:
            check_output_path(out, self._input_paths())
        except MinetError as exc:  # writing onto the video being played would destroy it
            self.show_error("Cannot export MP4", str(exc))
            return False
        wave, rate = self._take_wave()
        job = CallJob(lambda: mux_audio(video, wave, rate, out), f"writing {out}", parent=self)
        job.succeeded.connect(lambda _p: self.statusBar().showMessage(f"Wrote {out}", 8000))
        job.failed.connect(lambda message: self.show_error("Cannot export MP4", message))
        job.finished.connect(self._on_export_finished)
        self._export_job = job
        self.statusBar().showMessage(f"Writing {out.name}…")
        self._update_actions()
        job.start()
        return True

    @property
    def export_job(self) -> CallJob | None:
        return self._export_job

    def _on_export_finished(self) -> None:
        job, self._export_job = self._export_job, None
        if job is not None and job.wait():
            job.deleteLater()
        self._update_actions()

    def export_png_dialog(self) -> None:
        path = self._save_dialog("Export spectrogram", ".png", "PNG image (*.png)")
        if path is not None:
            self.export_png(path)

    def export_png(self, path: str | Path) -> bool:
        try:
            self.inspector.export_png(path)
        except (MinetError, OSError) as exc:
            self.show_error("Cannot export PNG", str(exc))
            return False
        self.statusBar().showMessage(f"Wrote {path}", 8000)
        return True

    # ----------------------------------------------------------------- live mode
    def refresh_cameras(self) -> None:
        try:
            cameras = list(self._camera_list())
        except Exception:
            log.exception("listing cameras failed")
            cameras = []
        self.panel.set_cameras(cameras)
        self.panel.select_camera(
            app_settings.get_int(app_settings.open_settings(), app_settings.KEY_CAMERA, -1)
        )

    def set_live(self, on: bool) -> None:
        """Start or stop live webcam mode."""
        if on == (self._live is not None):
            self.live_action.setChecked(on)
            self.panel.set_live(on)
            return
        if on:
            self._start_live()
        else:
            self._stop_live()
        on = self._live is not None
        self.live_action.blockSignals(True)
        self.live_action.setChecked(on)
        self.live_action.blockSignals(False)
        self.panel.set_live(on)
        self._update_actions()

    def _start_live(self) -> None:
        if self._gen_job is not None:
            self.show_error("Live camera", "a generation is running: wait for it or cancel it first")
            return
        if self.panel.camera_combo.count() == 0:
            self.refresh_cameras()
        index = self.panel.camera_index()
        if index is None:
            self.show_error("Live camera", "no camera found (plug one in and press ↻)")
            return
        self.pause()
        try:
            camera: CameraSource = self._camera_factory(index)
        except MinetError as exc:
            self.show_error("Cannot open camera", str(exc))
            return
        except Exception as exc:
            log.exception("opening camera %s failed", index)
            self.show_error("Cannot open camera", f"camera {index}: {type(exc).__name__}: {exc}")
            return
        app_settings.open_settings().setValue(app_settings.KEY_CAMERA, index)
        session, generator_factory, sink, note = self._session, None, None, ""
        if session is None:
            note = "generation unavailable: no model loaded"
        else:
            sink = self._sink_for(session.sample_rate)
            if sink is None:
                note = "no sound: " + (self._sink_problem or "no sound device")
            else:
                sink.clear()
                options = self.panel.options()
                seed = options.seed or 0
                instrument = options.instrument if options.instrument in session.instruments else None
                generator_factory = lambda fps: _live_generator(session, fps, seed, instrument)  # noqa: E731
        self._live = LivePipeline(camera, self._pose_factory, generator_factory, sink)
        self._live_camera_name = camera.name
        self._live_note = note
        self.panel.live_label.setText(f"{camera.name}: starting…" + (f"\n{note}" if note else ""))
        self.view.set_info(f"{camera.name}: starting…")
        self._live.start()
        self._live_timer.start(LIVE_TICK_MS)

    def _stop_live(self, error: str | None = None) -> None:
        live, self._live = self._live, None
        self._live_timer.stop()
        if live is None:
            return
        live.stop()
        if live.sink is not None:
            live.sink.clear()
        self.view.set_info("")
        self.panel.live_label.setText(error or "stopped")
        # Back to the open file's current frame (or the placeholder).
        if self._source is not None and self._raw_frame is not None:
            self._render()
        else:
            self.view.set_image(None)

    @Slot()
    def _live_tick(self) -> None:
        live = self._live
        if live is None:
            return
        if live.error is not None:
            error = live.error
            self.set_live(False)
            self.panel.live_label.setText(error)
            self.show_error("Live camera stopped", error)
            return
        frame = live.results.take()
        if frame is None:
            return
        kp = frame.keypoints if self._overlay_on() else None
        self.view.set_image(render_overlay(frame.rgb, kp, self._threshold), legend=kp is not None)
        latency_ms = 1000.0 * live.latency_s()
        info = f"{live.fps():.1f} fps · latency {latency_ms:.0f} ms"
        if live.generating:
            info += " · sound on"
        self.view.set_info(info)
        note = live.generation_error or self._live_note
        self.panel.live_label.setText(f"{self._live_camera_name}: {info}" + (f"\n{note}" if note else ""))

    # ----------------------------------------------------------------- misc
    def _update_actions(self) -> None:
        live = self._live is not None
        has_source = self._source is not None and not live
        for action in (self.play_action, self.step_back_action, self.step_forward_action):
            action.setEnabled(has_source)
        self.slider.setEnabled(has_source)
        self.extract_action.setEnabled(
            isinstance(self._source, VideoSource)
            and self._keypoints is None
            and self._job is None
            and self._gen_job is None
            and not live
        )
        generating = self._gen_job is not None
        can_generate = (
            self._source is not None
            and self._job is None
            and self._model_job is None
            and not live
            and (self._keypoints is not None or isinstance(self._source, VideoSource))
        )
        # Without a model, Generate stays clickable and explains what is missing.
        self.generate_action.setEnabled(can_generate)
        self.cancel_generation_action.setEnabled(generating)
        self.panel.set_running(generating, can_generate)
        has_result = self._result is not None
        self.export_wav_action.setEnabled(has_result)
        self.export_mp4_action.setEnabled(
            has_result and isinstance(self._source, VideoSource) and self._export_job is None
        )
        self.panel.export_wav_button.setEnabled(has_result)
        self.panel.export_mp4_button.setEnabled(self.export_mp4_action.isEnabled())
        has_spectrogram = any(self.inspector.pane_data(i) is not None for i in (0, 1))
        self.export_png_action.setEnabled(has_spectrogram)
        self.inspector.export_button.setEnabled(has_spectrogram)
        self.open_model_action.setEnabled(self._model_job is None and not generating and not live)
        self.panel.open_model_button.setEnabled(self.open_model_action.isEnabled())
        self.panel.model_combo.setEnabled(self.open_model_action.isEnabled())
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
        self._recent_actions: list[QAction] = []
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
        if self._live is not None:
            self.set_live(False)
        job = self._job
        if job is not None:
            job.cancel()
            if not job.wait():
                log.warning("keypoint extraction did not stop within 30 s of closing the window")
            self._on_extraction_finished()
        self._generate_again = False
        self._detect_again = False
        for name in ("_gen_job", "_model_job", "_export_job", "_detect_job"):
            other: BackgroundJob | None = getattr(self, name)
            if other is None:
                continue
            if name != "_export_job":  # an MP4 being written is finished rather than left half-done
                other.cancel()
            if not other.wait():
                log.warning("%s did not stop within 30 s of closing the window", other.describe)
            other.finished.emit()  # run its clean-up now: the event loop may not run again
        app_settings.set_window_geometry(app_settings.open_settings(), self.saveGeometry())
        if self._source is not None:
            self._source.close()
            self._source = None
        self._playback = None
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        super().closeEvent(event)
