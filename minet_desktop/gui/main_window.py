"""The main window: open a performance video (or a keypoint file), see its keypoints, generate its music,
listen, inspect, export; or play live from a webcam.

Layout: the video (with the keypoint overlay) and its transport on top, the spectrogram inspector below
(:mod:`~minet_desktop.gui.inspector`), the generation / listening / live panel on the right
(:mod:`~minet_desktop.gui.generate_panel`).

The window only lays out and wires: each concern has one controller that owns its state and its jobs —
opening files (:mod:`~minet_desktop.gui.opening`), transport and playback (:mod:`~minet_desktop.gui.transport`),
keypoint extraction (:mod:`~minet_desktop.gui.extraction`), the model and generation
(:mod:`~minet_desktop.gui.generation`), the inspector's comparison (:mod:`~minet_desktop.gui.comparison`),
export (:mod:`~minet_desktop.gui.export`) and live mode (:mod:`~minet_desktop.gui.live_mode`). Closing the
window asks each of them to shut down.

Every problem with a file the user brought is shown as one line in a warning box
(:meth:`MainWindow.show_error`), never as a traceback, and the window stays usable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from minet_desktop import __version__
from minet_desktop.core.config import SkeletonConfig
from minet_desktop.engine.devices import compute_device_name
from minet_desktop.engine.paths import default_model_path
from minet_desktop.gui import settings as app_settings
from minet_desktop.gui.comparison import ComparisonController
from minet_desktop.gui.export import ExportController
from minet_desktop.gui.extraction import ExtractionController
from minet_desktop.gui.feedback import Feedback
from minet_desktop.gui.generate_panel import GeneratePanel
from minet_desktop.gui.generation import NO_MODEL, GenerationController
from minet_desktop.gui.inspector import SpectrogramInspector
from minet_desktop.gui.live_mode import LiveController
from minet_desktop.gui.opening import OpenController
from minet_desktop.gui.transport import TransportBar, TransportController
from minet_desktop.gui.video_view import VideoView
from minet_desktop.gui.workers import ExtractFn
from minet_desktop.media.camera import CameraSource
from minet_desktop.media.frames import FrameSource, VideoSource
from minet_desktop.media.sound_output import SinkFactory, SoundOutput
from minet_desktop.pose.live import MediaPipePose, PoseEstimator

log = logging.getLogger("minet_desktop")

APP_TITLE = "MI Net Desktop"
#: Share of the window's height the spectrogram inspector gets at first launch.
INSPECTOR_SHARE = 0.42


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
        ``sink_factory(sample_rate) -> AudioSink``, raising :class:`~minet_desktop.media.sound_output.NoSoundDevice`
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
        open_session: Callable[[Path], Any] | None = None,
        sink_factory: SinkFactory | None = None,
        camera_factory: Callable[[int], CameraSource] | None = None,
        camera_list: Callable[[], list[tuple[int, str]]] | None = None,
        pose_factory: Callable[[], PoseEstimator] | None = MediaPipePose,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self._build_actions()
        self._build_menus()
        self._build_central()
        self._build_status_bar()

        fb = Feedback(self)
        self.opener = OpenController(self.recent_menu, self.clear_recent_action, feedback=fb, parent=self)
        self.transport = TransportController(
            self.view,
            self.slider,
            self.time_label,
            self.play_action,
            SoundOutput(sink_factory),
            threshold=SkeletonConfig().confidence_threshold,
            overlay_on=self.show_keypoints_action.isChecked,
            feedback=fb,
            parent=self,
        )
        self.extraction = ExtractionController(
            self.transport,
            self.progress_bar,
            self.cancel_button,
            feedback=fb,
            extract=extract,
            parent=self,
        )
        self.generation = GenerationController(
            self.panel,
            self.model_label,
            self.transport,
            feedback=fb,
            open_session=open_session,
            extract=extract,
            parent=self,
        )
        self.comparison = ComparisonController(self.inspector, self.generation, self.panel.current_take, self)
        self.exporter = ExportController(
            self,
            self.generation,
            self.inspector,
            self.panel.current_take,
            (self.export_wav_action, self.export_mp4_action, self.export_png_action),
            (self.panel.export_wav_button, self.panel.export_mp4_button),
            feedback=fb,
            parent=self,
        )
        self.live = LiveController(
            self.panel,
            self.live_action,
            self.transport,
            self.generation,
            feedback=fb,
            overlay_on=self.show_keypoints_action.isChecked,
            camera_factory=camera_factory,
            camera_list=camera_list,
            pose_factory=pose_factory,
            parent=self,
        )
        self.generation.blocked = lambda: self.live.pipeline is not None
        self._connect()

        settings = app_settings.open_settings()
        self.show_keypoints_action.setChecked(app_settings.show_keypoints(settings))
        self.show_keypoints_action.toggled.connect(self._on_show_keypoints_toggled)
        self._restoring = True
        app_settings.restore_generate_options(settings, self.panel)
        app_settings.restore_inspector(settings, self.inspector)
        self._restoring = False
        geometry = app_settings.window_geometry(settings)
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(self._first_launch_size())
        self._give_inspector_its_share()

        if device_name is None:
            # Importing torch takes a moment: do it once the window has been painted.
            self.device_label.setText("Device: …")
            QTimer.singleShot(50, self, lambda: self.set_device_name(compute_device_name()))
        else:
            self.set_device_name(device_name)
        if model_path is None:
            remembered = app_settings.get_str(settings, app_settings.KEY_MODEL)
            candidate = Path(remembered) if remembered else default_model_path()
            model_path = candidate if candidate.is_file() else ""
        if model_path:
            QTimer.singleShot(0, self, lambda: self.generation.open_model(model_path))
        QTimer.singleShot(0, self, self.live.refresh_cameras)
        self.comparison.update()
        self._update_actions()

    # ----------------------------------------------------------------- construction
    def _build_actions(self) -> None:
        style = self.style()

        def action(
            text: str, shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None
        ) -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            return a

        self.open_action = action("&Open…", QKeySequence.StandardKey.Open)
        self.open_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_DialogOpenButton))
        self.clear_recent_action = action("Clear Recent Files")
        self.quit_action = action("&Quit", QKeySequence.StandardKey.Quit)
        self.play_action = action("&Play", QKeySequence(Qt.Key.Key_Space))
        self.play_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.step_back_action = action("Previous Frame", QKeySequence(Qt.Key.Key_Left))
        self.step_back_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekBackward))
        self.step_forward_action = action("Next Frame", QKeySequence(Qt.Key.Key_Right))
        self.step_forward_action.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward))
        self.show_keypoints_action = action("Show &Keypoints", QKeySequence(Qt.Key.Key_K))
        self.show_keypoints_action.setCheckable(True)
        self.show_keypoints_action.setToolTip("Draw the body (gold), right hand (red) and left hand (blue)")
        self.extract_action = action("&Extract Keypoints", "Ctrl+E")
        self.extract_action.setToolTip("Find body and hand keypoints in this video (MediaPipe)")
        self.about_action = action(f"&About {APP_TITLE}")
        self.open_model_action = action("Open &Model…", "Ctrl+M")
        self.open_midi_action = action("Open M&IDI…")
        self.open_midi_action.setToolTip("Notes for MIDI-conditioned generation (shown as a piano roll)")
        self.export_wav_action = action("Export &WAV…", "Ctrl+Shift+W")
        self.export_mp4_action = action("Export M&P4…", "Ctrl+Shift+E")
        self.export_png_action = action("Export Spectrogram &PNG…")
        self.generate_action = action("&Generate", "Ctrl+G")
        self.cancel_generation_action = action("&Cancel Generation", "Esc")
        self.live_action = action("&Live Camera", "Ctrl+L")
        self.live_action.setCheckable(True)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = QMenu("Open &Recent", self)
        file_menu.addMenu(self.recent_menu)
        for a in (self.open_model_action, self.open_midi_action, None, self.export_wav_action):
            file_menu.addAction(a) if a is not None else file_menu.addSeparator()
        for a in (self.export_mp4_action, self.export_png_action, None, self.quit_action):
            file_menu.addAction(a) if a is not None else file_menu.addSeparator()
        bar.addMenu("&Playback").addActions(
            [self.play_action, self.step_back_action, self.step_forward_action]
        )
        bar.addMenu("&Keypoints").addActions([self.show_keypoints_action, self.extract_action])
        generate = bar.addMenu("&Generate")
        generate.addActions([self.generate_action, self.cancel_generation_action])
        generate.addSeparator()
        generate.addAction(self.live_action)
        bar.addMenu("&Help").addAction(self.about_action)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.setMovable(False)
        toolbar.addAction(self.open_action)
        toolbar.addSeparator()
        toolbar.addActions([self.show_keypoints_action, self.extract_action])
        toolbar.addSeparator()
        toolbar.addActions([self.generate_action, self.live_action])

    def _build_central(self) -> None:
        self.view = VideoView(self)

        self.transport_bar = TransportBar(
            [self.step_back_action, self.play_action, self.step_forward_action], self
        )
        self.slider, self.time_label = self.transport_bar.slider, self.transport_bar.time_label
        player = QWidget(self)
        layout = QVBoxLayout(player)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.transport_bar)

        self.inspector = SpectrogramInspector(self)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(player)
        self.splitter.addWidget(self.inspector)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.setCentralWidget(self.splitter)

        self.panel = GeneratePanel(self)
        scroll = QScrollArea(self)
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # The panel's lines wrap: when a long one needs the vertical bar, no horizontal bar comes with it.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
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
        self.cancel_button.hide()
        self.model_label = QLabel(NO_MODEL, self)
        self.device_label = QLabel(self)
        for widget in (self.progress_bar, self.cancel_button, self.model_label, self.device_label):
            bar.addPermanentWidget(widget)

    def _first_launch_size(self) -> QSize:
        """1200 x 800, or 85 % of a larger screen's free area (a 1920 x 1080 screen gets 1632 x 870)."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            return QSize(1200, 800)
        free = screen.availableGeometry().size()
        # Never smaller than before (small screens clamp it themselves); larger screens get their share.
        return QSize(max(1200, int(free.width() * 0.85)), max(800, int(free.height() * 0.85)))

    def _give_inspector_its_share(self) -> None:
        """The inspector gets :data:`INSPECTOR_SHARE` of the height, however the splitter would divide it."""
        total = max(self.height() - 120, 200)
        below = int(total * INSPECTOR_SHARE / (1.0 - 0.08))
        self.splitter.setSizes([total - below, below])

    def _connect(self) -> None:
        """Wire actions and panel signals to the controllers, and the controllers to each other."""
        t, g, x = self.transport, self.generation, self.extraction
        e, live, c = self.exporter, self.live, self.comparison
        self.open_action.triggered.connect(self.opener.open_dialog)
        self.quit_action.triggered.connect(self.close)
        self.play_action.triggered.connect(t.toggle_play)
        self.step_back_action.triggered.connect(lambda: t.step(-1))
        self.step_forward_action.triggered.connect(lambda: t.step(1))
        self.extract_action.triggered.connect(x.start)
        self.about_action.triggered.connect(
            lambda: QMessageBox.about(self, f"About {APP_TITLE}", self.about_text())
        )
        self.open_model_action.triggered.connect(g.open_model_dialog)
        self.open_midi_action.triggered.connect(g.open_midi_dialog)
        self.generate_action.triggered.connect(g.start)
        self.cancel_generation_action.triggered.connect(g.cancel)
        self.live_action.toggled.connect(live.set_live)

        self.inspector.seek_requested.connect(t.seek_time)
        self.inspector.colormap_combo.currentIndexChanged.connect(self._save_inspector_settings)
        self.inspector.scale_combo.currentIndexChanged.connect(self._save_inspector_settings)
        t.position_changed.connect(self.inspector.set_playhead)

        p = self.panel
        p.open_model_requested.connect(g.open_model_dialog)
        p.model_type_chosen.connect(g.choose_model_type)
        p.choose_midi_requested.connect(g.open_midi_dialog)
        p.clear_midi_requested.connect(lambda: g.set_midi(None))
        p.generate_requested.connect(g.start)
        p.cancel_requested.connect(g.cancel)
        p.take_changed.connect(lambda _take: (self._choose_sound(), c.update()))
        p.listen_original_changed.connect(lambda _on: self._choose_sound())
        p.live_toggled.connect(self.live_action.setChecked)
        p.refresh_cameras_requested.connect(live.refresh_cameras)
        for control in (p.takes_spin, p.seed_spin, p.temperature_spin):
            control.valueChanged.connect(self._save_panel_settings)
        p.random_seed.toggled.connect(self._save_panel_settings)

        self.opener.opened.connect(self._on_opened)
        self.opener.companions_found.connect(self._on_companions_found)
        g.model_changed.connect(self._on_model_changed)
        g.result_changed.connect(lambda: (self._choose_sound(), c.update()))
        for controller in (self.opener, t, x, g, e, live):
            controller.state_changed.connect(self._update_actions)

    # ----------------------------------------------------------------- public API
    @property
    def source(self) -> FrameSource | None:
        """What is open (a video, or a keypoint file's canvas), or None."""
        return self.transport.source

    @property
    def keypoints(self) -> Any:  # -> KeypointFile | None
        """The open file's keypoints (sidecar, extracted, or the opened keypoint file), or None."""
        return self.transport.keypoints

    def show_error(self, title: str, text: str) -> None:
        """The one place the window shows a problem to the user (tests replace it)."""
        QMessageBox.warning(self, title, text)

    def set_device_name(self, name: str) -> None:
        self.device_label.setText(f"Device: {name}")

    def about_text(self) -> str:
        text = (
            f"<h3>{APP_TITLE} {__version__}</h3>"
            "<p>Hear the instrument in a performance video: body and hand keypoints are turned into "
            "audio by MI Net (Multi-Instrumentalist Net).</p>"
            "<p>Keypoints: MediaPipe Holistic, in the 47-joint Solos layout.</p>"
        )
        return text + self.generation.about_model()

    def open_path(self, path: str | Path) -> bool:
        """Open a video (with its sidecar keypoints, audio and MIDI, read in the background) or a ``.npz``
        keypoint file. Returns False (after telling the user why) if the file cannot be used."""
        return self.opener.open_path(path)

    def handle_drop(self, mime: QMimeData) -> bool:
        """Open the first local file among dropped URLs; False if there was none."""
        for url in mime.urls():
            if url.isLocalFile():
                return self.open_path(url.toLocalFile())
        return False

    # ----------------------------------------------------------------- wiring
    def _on_opened(self, source: FrameSource, keypoints: Any) -> None:
        self.live.shutdown()
        self.extraction.cancel()  # its result would belong to the file being closed
        self.generation.forget()
        self.transport.open(source, keypoints)
        self.setWindowTitle(f"{source.path.name} — {APP_TITLE}")
        self.panel.set_original_available(False)
        self.comparison.set_original(None, None)
        self.inspector.set_playhead(0.0)
        self._update_actions()

    def _on_companions_found(self, source: FrameSource, found: Any) -> None:
        if source is not self.transport.source:
            return  # another file was opened meanwhile
        if found.keypoints is not None and self.transport.keypoints is None:
            self.transport.set_keypoints(found.keypoints)
        if found.notes is not None:
            self.generation.use_notes(found.midi_path, found.notes)
        self.panel.set_original_available(found.audio is not None)
        self.comparison.set_original(found.audio, found.audio_path)
        self._choose_sound()
        self._update_actions()

    def _on_model_changed(self) -> None:
        session = self.generation.session
        self.set_device_name(session.device_name)
        app_settings.open_settings().setValue(app_settings.KEY_MODEL, str(self.generation.model_path))
        self.comparison.update()

    def _choose_sound(self) -> None:
        """Point Play at the chosen sound (a generated take, or the original track), keeping the position."""
        if self.panel.listening_to_original():
            wave_rate = self.comparison.original
        else:
            wave_rate = self.generation.take_wave(self.panel.current_take())
        self.transport.set_sound(wave_rate)
        problem = self.transport.sound.problem
        if problem is not None and wave_rate is not None:
            self.panel.audio_label.setText(problem)
            self.statusBar().showMessage(problem, 10000)
        elif self.transport.playback is not None:
            self.panel.audio_label.setText("Space plays the video with this sound")
        else:
            self.panel.audio_label.setText(" ")

    def _on_show_keypoints_toggled(self, on: bool) -> None:
        app_settings.set_show_keypoints(app_settings.open_settings(), on)
        self.transport.render()

    def _save_inspector_settings(self) -> None:
        app_settings.save_inspector(app_settings.open_settings(), self.inspector)

    def _save_panel_settings(self) -> None:
        if not self._restoring:
            app_settings.save_generate_options(app_settings.open_settings(), self.panel)

    def _update_actions(self) -> None:
        if not hasattr(self, "live"):
            return  # still being built
        source, g = self.transport.source, self.generation
        live = self.live.pipeline is not None
        busy_opening = self.opener.job is not None
        has_source = source is not None and not live
        for action in (self.play_action, self.step_back_action, self.step_forward_action):
            action.setEnabled(has_source)
        self.slider.setEnabled(has_source)
        self.extract_action.setEnabled(
            isinstance(source, VideoSource)
            and self.transport.keypoints is None
            and self.extraction.job is None
            and g.job is None
            and not busy_opening
            and not live
        )
        generating = g.job is not None
        can_generate = (
            source is not None
            and self.extraction.job is None
            and g.model_job is None
            and not busy_opening
            and not live
            and (self.transport.keypoints is not None or isinstance(source, VideoSource))
        )
        # Without a model, Generate stays clickable and explains what is missing.
        self.generate_action.setEnabled(can_generate)
        self.cancel_generation_action.setEnabled(generating)
        self.panel.set_running(generating, can_generate)
        self.exporter.update_actions()
        self.open_model_action.setEnabled(g.model_job is None and not generating and not live)
        self.panel.open_model_button.setEnabled(self.open_model_action.isEnabled())
        self.panel.model_combo.setEnabled(self.open_model_action.isEnabled())

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
        """Ask each controller to shut down (live mode, then the jobs; an MP4 being written is finished)."""
        self.transport.pause()
        for controller in (
            self.live,
            self.extraction,
            self.opener,
            self.generation,
            self.exporter,
            self.comparison,
            self.transport,
        ):
            controller.shutdown()
        app_settings.set_window_geometry(app_settings.open_settings(), self.saveGeometry())
        super().closeEvent(event)
