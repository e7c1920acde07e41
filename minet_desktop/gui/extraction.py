"""Keypoint extraction for the open video: a background job with a progress bar and Cancel in the status bar."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QProgressBar, QPushButton

from minet_desktop.gui.feedback import Feedback
from minet_desktop.gui.transport import TransportController
from minet_desktop.gui.workers import ExtractFn, ExtractionJob
from minet_desktop.media.frames import VideoSource

log = logging.getLogger("minet_desktop")


class ExtractionController(QObject):
    """Owns the extraction job; hands the keypoints it finds to the transport."""

    state_changed = Signal()

    def __init__(
        self,
        transport: TransportController,
        progress_bar: QProgressBar,
        cancel_button: QPushButton,
        *,
        feedback: Feedback,
        extract: ExtractFn | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.transport, self.progress_bar, self.cancel_button = transport, progress_bar, cancel_button
        self._status, self._show_error, self._extract = feedback.status, feedback.show_error, extract
        self.job: ExtractionJob | None = None
        cancel_button.clicked.connect(self.cancel)

    def start(self) -> None:
        """Extract keypoints for the open video on a background thread."""
        source = self.transport.source
        if not isinstance(source, VideoSource) or self.job is not None:
            return
        job = ExtractionJob(source.path, extract=self._extract, parent=self)
        job.progress.connect(self._on_progress)
        job.succeeded.connect(self._on_succeeded)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(lambda: self._status("Keypoint extraction cancelled", 5000))
        job.finished.connect(self._on_finished)
        self.job = job
        self.progress_bar.setRange(0, 0)  # busy until the first progress report gives a total
        self.progress_bar.show()
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self._status(f"Extracting keypoints from {source.path.name}…", 0)
        self.state_changed.emit()
        job.start()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self._status("Cancelling keypoint extraction…", 0)

    def shutdown(self) -> None:
        job = self.job
        if job is not None:
            job.cancel()
            if not job.wait():
                log.warning("keypoint extraction did not stop within 30 s of closing the window")
            self._on_finished()

    @Slot(str, int, int)
    def _on_progress(self, _label: str, done: int, total: int) -> None:
        if total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(min(done, total))

    @Slot(object)
    def _on_succeeded(self, kf: object) -> None:
        source, job = self.transport.source, self.job
        if not isinstance(source, VideoSource) or job is None or job.path != source.path:
            return  # its result belongs to a file that was closed
        self.transport.set_keypoints(kf)
        fraction = getattr(kf, "detected_fraction", 0.0)
        self._status(
            f"{source.path.name}: keypoints extracted, person found in {fraction:.0%} of frames", 8000
        )

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._status("", 0)
        self._show_error("Keypoint extraction failed", message)

    @Slot()
    def _on_finished(self) -> None:
        job, self.job = self.job, None
        self.progress_bar.hide()
        self.cancel_button.hide()
        if job is not None and job.wait():
            job.deleteLater()  # (if its thread would not stop, leaking the job beats destroying a running QThread)
        self.state_changed.emit()
