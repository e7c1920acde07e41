"""Export: the current take as WAV, the video with it as MP4 (on a worker thread), the spectrogram as PNG."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QPushButton, QWidget

from minet_desktop.core.errors import MinetError
from minet_desktop.core.validation import check_output_path
from minet_desktop.gui import settings as app_settings
from minet_desktop.gui.feedback import Feedback
from minet_desktop.gui.generation import GenerationController
from minet_desktop.gui.inspector import SpectrogramInspector
from minet_desktop.gui.workers import CallJob
from minet_desktop.media.frames import VideoSource

log = logging.getLogger("minet_desktop")


class ExportController(QObject):
    """Owns the MP4 export job and the export actions (WAV, MP4, PNG) and buttons; asks where to write
    (dialogs parented to ``window``)."""

    state_changed = Signal()

    def __init__(
        self,
        window: QWidget,
        generation: GenerationController,
        inspector: SpectrogramInspector,
        current_take: Callable[[], int],
        actions: tuple[QAction, QAction, QAction],
        buttons: tuple[QPushButton, QPushButton],
        *,
        feedback: Feedback,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.window, self.generation, self.inspector = window, generation, inspector
        self._current_take, self._status, self._show_error = (
            current_take,
            feedback.status,
            feedback.show_error,
        )
        self.job: CallJob | None = None
        self.wav_action, self.mp4_action, self.png_action = actions
        self.wav_button, self.mp4_button = buttons
        for trigger, dialog in (
            (self.wav_action.triggered, self.wav_dialog),
            (self.mp4_action.triggered, self.mp4_dialog),
            (self.png_action.triggered, self.png_dialog),
            (self.wav_button.clicked, self.wav_dialog),
            (self.mp4_button.clicked, self.mp4_dialog),
            (inspector.export_button.clicked, self.png_dialog),
        ):
            trigger.connect(dialog)

    def update_actions(self) -> None:
        has_result = self.generation.result is not None
        has_spectrogram = any(self.inspector.pane_data(i) is not None for i in (0, 1))
        for widget, on in (
            (self.wav_action, has_result),
            (self.wav_button, has_result),
            (self.mp4_action, self.can_export_mp4()),
            (self.mp4_button, self.can_export_mp4()),
            (self.png_action, has_spectrogram),
            (self.inspector.export_button, has_spectrogram),
        ):
            widget.setEnabled(on)

    def can_export_mp4(self) -> bool:
        return (
            self.generation.result is not None
            and isinstance(self.generation.transport.source, VideoSource)
            and self.job is None
        )

    # ----------------------------------------------------------------- dialogs
    def _export_name(self, suffix: str) -> str:
        settings = app_settings.open_settings()
        folder = app_settings.get_str(settings, app_settings.KEY_EXPORT_DIR)
        folder = folder if folder and Path(folder).is_dir() else app_settings.last_directory(settings)
        source, result = self.generation.transport.source, self.generation.result
        stem = source.path.stem if source is not None else "minet"
        take = f"-take{self._current_take() + 1}" if result is not None and result.takes > 1 else ""
        return str(Path(folder) / f"{stem}-minet{take}{suffix}")

    def _save_dialog(self, title: str, suffix: str, file_filter: str) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(self.window, title, self._export_name(suffix), file_filter)
        if not path:
            return None
        p = Path(path)
        if p.suffix.lower() != suffix:
            p = p.with_name(p.name + suffix)
        app_settings.open_settings().setValue(app_settings.KEY_EXPORT_DIR, str(p.parent))
        return p

    def wav_dialog(self) -> None:
        if self.generation.result is not None:
            path = self._save_dialog("Export WAV", ".wav", "WAV audio (*.wav)")
            if path is not None:
                self.export_wav(path)

    def mp4_dialog(self) -> None:
        if self.can_export_mp4():
            path = self._save_dialog("Export MP4", ".mp4", "MP4 video (*.mp4)")
            if path is not None:
                self.export_mp4(path)

    def png_dialog(self) -> None:
        path = self._save_dialog("Export spectrogram", ".png", "PNG image (*.png)")
        if path is not None:
            self.export_png(path)

    # ----------------------------------------------------------------- writing
    def _input_paths(self) -> list[Path | None]:
        """The files the current result was made from: an export must never overwrite one of them."""
        g = self.generation
        source = getattr(g.transport.source, "path", None)
        return [Path(source) if source else None, g.model_path, g.midi_path]

    def export_wav(self, path: str | Path) -> bool:
        """Write the current take as a WAV file (atomically); False (after a message) if it failed."""
        wave_rate = self.generation.take_wave(self._current_take())
        if wave_rate is None:
            return False
        from minet_desktop.media.audio_io import write_wav

        try:
            check_output_path(path, self._input_paths())
            write_wav(path, *wave_rate)
        except (MinetError, OSError) as exc:
            self._show_error("Cannot export WAV", f"{path}: {exc}" if isinstance(exc, OSError) else str(exc))
            return False
        self._status(f"Wrote {path}", 8000)
        return True

    def export_mp4(self, path: str | Path) -> bool:
        """Write the video with the current take as its sound, on a worker thread (atomically)."""
        source = self.generation.transport.source
        wave_rate = self.generation.take_wave(self._current_take())
        if wave_rate is None or not isinstance(source, VideoSource) or self.job is not None:
            return False
        from minet_desktop.media.export import mux_audio

        video, out = source.path, Path(path)
        try:
            check_output_path(out, self._input_paths())
        except MinetError as exc:  # writing onto the video being played would destroy it
            self._show_error("Cannot export MP4", str(exc))
            return False
        wave, rate = wave_rate
        job = CallJob(lambda: mux_audio(video, wave, rate, out), f"writing {out}", parent=self)
        job.succeeded.connect(lambda _p: self._status(f"Wrote {out}", 8000))
        job.failed.connect(lambda message: self._show_error("Cannot export MP4", message))
        job.finished.connect(self._on_finished)
        self.job = job
        self._status(f"Writing {out.name}…", 0)
        self.state_changed.emit()
        job.start()
        return True

    def export_png(self, path: str | Path) -> bool:
        try:
            self.inspector.export_png(path)
        except (MinetError, OSError) as exc:
            self._show_error("Cannot export PNG", str(exc))
            return False
        self._status(f"Wrote {path}", 8000)
        return True

    def shutdown(self) -> None:
        """Let an MP4 being written finish (rather than leave it half-done)."""
        if self.job is not None:
            self.job.stop_for_close(cancel=False)

    def _on_finished(self) -> None:
        job, self.job = self.job, None
        if job is not None and job.wait():
            job.deleteLater()
        self.state_changed.emit()
