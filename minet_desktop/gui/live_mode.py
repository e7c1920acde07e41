"""Live camera mode: a webcam performer's keypoints on screen and generated audio as they move.

The pipeline (:class:`~minet_desktop.engine.live.LivePipeline`) runs two plain threads; a timer here pulls
its newest frame (STYLE: "the newest camera frame wins"), so no Qt signal crosses from those threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QAction

from minet_desktop.core.errors import MinetError
from minet_desktop.engine.live import LivePipeline
from minet_desktop.gui import settings as app_settings
from minet_desktop.gui.feedback import Feedback
from minet_desktop.gui.generate_panel import GeneratePanel
from minet_desktop.gui.generation import GenerationController
from minet_desktop.gui.overlay import render_overlay
from minet_desktop.gui.transport import TransportController
from minet_desktop.gui.workers import CallJob
from minet_desktop.media.camera import CameraSource, OpenCVCamera, list_cameras
from minet_desktop.pose.live import MediaPipePose, PoseEstimator

log = logging.getLogger("minet_desktop")

LIVE_TICK_MS = 15
#: How often live mode reads the instrument from the last seconds of movement (the model's detection, on a
#: worker thread: about 0.1 s of one core each time).
LIVE_DETECT_MS = 4000


def _live_generator(
    session: Any, fps: float, seed: int, instrument: str | None = None
) -> Any:  # -> LiveGenerator (imports torch)
    from minet_desktop.engine.streaming import LiveGenerator

    return LiveGenerator(session, fps=fps, seed=seed, instrument=instrument)


class LiveController(QObject):
    """Owns the live pipeline, its camera and its timer; takes the video view while it runs."""

    state_changed = Signal()

    def __init__(
        self,
        panel: GeneratePanel,
        live_action: QAction,
        transport: TransportController,
        generation: GenerationController,
        *,
        feedback: Feedback,
        overlay_on: Callable[[], bool],
        camera_factory: Callable[[int], CameraSource] | None = None,
        camera_list: Callable[[], list[tuple[int, str]]] | None = None,
        pose_factory: Callable[[], PoseEstimator] | None = MediaPipePose,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel, self.live_action, self.transport, self.generation = (
            panel,
            live_action,
            transport,
            generation,
        )
        self._show_error, self._overlay_on = feedback.show_error, overlay_on
        self._camera_factory = camera_factory or OpenCVCamera
        self._camera_list = camera_list or list_cameras
        self._pose_factory = pose_factory
        self.pipeline: LivePipeline | None = None
        self._camera_name = ""
        self._note = ""
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._detect_timer = QTimer(self)
        self._detect_timer.setInterval(LIVE_DETECT_MS)
        self._detect_timer.timeout.connect(self.detect_instrument)
        self.detection: CallJob | None = None
        #: What the live generator plays (None: Auto, unsteered); read by its factory on the processing thread.
        self._instrument: str | None = None
        panel.instrument_combo.currentIndexChanged.connect(lambda _i: self._instrument_chosen())

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
        if on != (self.pipeline is not None):
            if on:
                self._start()
            else:
                self._stop()
        on = self.pipeline is not None
        self.transport.locked = on
        self.live_action.blockSignals(True)
        self.live_action.setChecked(on)
        self.live_action.blockSignals(False)
        self.panel.set_live(on)
        self.state_changed.emit()

    def shutdown(self) -> None:
        if self.pipeline is not None:
            self.set_live(False)
        if self.detection is not None:
            self.detection.stop_for_close()

    # ----------------------------------------------------------------- which instrument, live
    def detect_instrument(self) -> None:
        """Read the instrument from the last seconds of live movement on a worker thread and show it under
        Sounds like (its links choose an instrument, which the live audio then plays)."""
        live, session = self.pipeline, self.generation.session
        if live is None or session is None or not session.instruments or self.detection is not None:
            return
        kf = live.recent_keypoints()
        if kf is None:
            return
        job = CallJob(lambda: session.detect(kf), "finding the instrument (live)", parent=self)
        seconds = kf.keypoints.shape[0] / kf.fps
        job.succeeded.connect(lambda det: self._on_live_detection(live, session, det, seconds))
        job.finished.connect(self._on_detection_finished)
        self.detection = job
        job.start()

    def _on_live_detection(self, live: LivePipeline, session: Any, detection: Any, seconds: float) -> None:
        if live is self.pipeline and session is self.generation.session:
            self.panel.show_detection(
                detection,
                heading="Sounds like (live)",
                tooltip=f"The instruments the model reads from the last {seconds:.0f} s of live movement, most "
                "likely first. Click one to play it from now on.",
            )

    def _on_detection_finished(self) -> None:
        job, self.detection = self.detection, None
        if job is not None and job.wait():
            job.deleteLater()

    def _instrument_chosen(self) -> None:
        """The instrument list changed: live audio plays the new choice from its next code on."""
        self._instrument = self.generation.instrument(self.panel.options().instrument)
        if self.pipeline is not None:
            self.pipeline.set_instrument(self._instrument)

    def _start(self) -> None:
        if self.generation.job is not None:
            self._show_error("Live camera", "a generation is running: wait for it or cancel it first")
            return
        if self.panel.camera_combo.count() == 0:
            self.refresh_cameras()
        index = self.panel.camera_index()
        if index is None:
            self._show_error("Live camera", "no camera found (plug one in and press ↻)")
            return
        self.transport.pause()
        try:
            camera = self._camera_factory(index)
        except MinetError as exc:
            self._show_error("Cannot open camera", str(exc))
            return
        except Exception as exc:
            log.exception("opening camera %s failed", index)
            self._show_error("Cannot open camera", f"camera {index}: {type(exc).__name__}: {exc}")
            return
        app_settings.open_settings().setValue(app_settings.KEY_CAMERA, index)
        session, generator_factory, sink, note = self.generation.session, None, None, ""
        if session is None:
            note = "generation unavailable: no model loaded"
        else:
            sound = self.transport.sound
            sink = sound.sink_for(session.sample_rate)
            if sink is None:
                note = "no sound: " + (sound.problem or "no sound device")
            else:
                sink.clear()
                options = self.panel.options()
                seed = options.seed or 0
                self._instrument = self.generation.instrument(options.instrument)
                # Built on the processing thread: the instrument chosen by then (the list may change meanwhile).
                generator_factory = lambda fps: _live_generator(session, fps, seed, self._instrument)  # noqa: E731
        self.pipeline = LivePipeline(camera, self._pose_factory, generator_factory, sink)
        self._camera_name, self._note = camera.name, note
        self.panel.live_label.setText(f"{camera.name}: starting…" + (f"\n{note}" if note else ""))
        self.transport.view.set_info(f"{camera.name}: starting…")
        self.pipeline.start()
        self._timer.start(LIVE_TICK_MS)
        if session is not None and session.instruments:
            self.panel.set_detection("listening to the live movement…")
            self._detect_timer.start()

    def _stop(self, error: str | None = None) -> None:
        live, self.pipeline = self.pipeline, None
        self._timer.stop()
        self._detect_timer.stop()
        if live is None:
            return
        live.stop()
        if live.sink is not None:
            live.sink.clear()
        self.transport.view.set_info("")
        self.panel.live_label.setText(error or "stopped")
        self.transport.render()  # back to the open file's current frame (or the placeholder)
        self.generation.detect_instrument()  # and to what the open file sounds like

    @Slot()
    def _tick(self) -> None:
        live = self.pipeline
        if live is None:
            return
        if live.error is not None:
            error = live.error
            self.set_live(False)
            self.panel.live_label.setText(error)
            self._show_error("Live camera stopped", error)
            return
        frame = live.results.take()
        if frame is None:
            return
        kp = frame.keypoints if self._overlay_on() else None
        view = self.transport.view
        view.set_image(render_overlay(frame.rgb, kp, self.transport.threshold), legend=kp is not None)
        info = f"{live.fps():.1f} fps · latency {1000.0 * live.latency_s():.0f} ms"
        if live.generating:
            info += " · sound on"
        view.set_info(info)
        note = live.generation_error or self._note
        self.panel.live_label.setText(f"{self._camera_name}: {info}" + (f"\n{note}" if note else ""))
