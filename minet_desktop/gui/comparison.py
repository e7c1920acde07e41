"""What the spectrogram inspector compares: the generated take above, the original (the video's own audio or
the reference recording beside it) or the MIDI notes as a piano roll below.

The original's spectrogram is computed on a worker thread, with the loaded model's audio settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject

from minet_desktop.gui.generation import GenerationController
from minet_desktop.gui.inspector import PaneData, SpectrogramInspector
from minet_desktop.gui.workers import CallJob

log = logging.getLogger("minet_desktop")


class ComparisonController(QObject):
    """Owns the original audio of the open file, its spectrogram (and the job computing it), and the
    inspector's two panes."""

    def __init__(
        self,
        inspector: SpectrogramInspector,
        generation: GenerationController,
        current_take: Callable[[], int],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.inspector, self.generation, self._current_take = inspector, generation, current_take
        self.original: tuple[np.ndarray, int] | None = None
        self.original_path: Path | None = None
        self._spec: tuple[Any, np.ndarray] | None = None  # (AudioConfig, log-spectrogram)
        self.job: CallJob | None = None

    def set_original(self, audio: tuple[np.ndarray, int] | None, path: Path | None) -> None:
        self.original, self.original_path, self._spec = audio, path, None
        self.update()

    def _audio_config(self) -> Any:
        g = self.generation
        if g.result is not None and g.result_audio is not None:
            return g.result_audio
        return g.session.cfg.audio if g.session is not None else None

    def update(self) -> None:
        """Show the current take and what it is compared with."""
        g, audio = self.generation, self._audio_config()
        generated = reference = None
        result = g.result
        if result is not None and audio is not None:
            take = min(self._current_take(), result.takes - 1)
            generated = PaneData.from_log_spectrogram(
                f"Generated — take {take + 1} (seed {result.seeds[take]})",
                result.spectrogram[take],
                result.frame_rate,
                result.sample_rate,
                audio.n_fft,
            )
        if audio is not None and self.original is not None:
            reference = self._original_pane(audio)
        if reference is None and audio is not None and g.notes is not None:
            reference = self._piano_roll(audio, generated)
        hint = (
            "No model loaded — File › Open Model…"
            if g.session is None and result is None
            else "Press Generate to see the generated spectrogram here"
        )
        self.inspector.set_panes(
            generated, reference, (hint, "No original audio track or MIDI to compare with")
        )

    def _piano_roll(self, audio: Any, generated: PaneData | None) -> PaneData:
        from minet_desktop.media.midi import notes_to_piano_roll

        notes = self.generation.notes or []
        source = self.generation.transport.source
        if generated is not None:
            n_frames = generated.n_frames
        elif source is not None:
            n_frames = int(source.frame_count / source.fps * audio.frame_rate) + 1
        else:
            n_frames = int(max(n.offset for n in notes) * audio.frame_rate) + 1
        roll = notes_to_piano_roll(notes, audio.frame_rate, n_frames)
        name = self.generation.midi_path.name if self.generation.midi_path else "MIDI"
        return PaneData.from_piano_roll(
            f"MIDI — {name}", roll, audio.frame_rate, audio.n_bins, audio.sample_rate / audio.n_fft
        )

    def _original_pane(self, audio: Any) -> PaneData | None:
        if self._spec is None or self._spec[0] != audio:
            self._compute_spectrogram(audio)
            return None  # the piano roll (or nothing) until it is ready
        path = self.original_path
        source = self.generation.transport.source
        if path is not None and source is not None and path != source.path:
            title = f"Reference recording — {path.name}"
        else:
            title = f"Original audio — {path.name if path is not None else ''}"
        return PaneData.from_log_spectrogram(
            title, self._spec[1], audio.frame_rate, audio.sample_rate, audio.n_fft
        )

    def _compute_spectrogram(self, audio: Any) -> None:
        if self.job is not None or self.original is None:
            return  # the running one calls update() when it is done, which asks again if needed
        from minet_desktop.engine.performance import reference_spectrogram

        original = self.original
        job = CallJob(
            lambda: reference_spectrogram(original, audio), "spectrogram of the original audio", self
        )

        def done(spec: object) -> None:
            if self.original is original:
                self._spec = (audio, np.asarray(spec))

        job.succeeded.connect(done)
        job.failed.connect(
            lambda message: log.warning("spectrogram of the original audio failed: %s", message)
        )
        job.finished.connect(lambda: self._on_finished(original))
        self.job = job
        job.start()

    def _on_finished(self, original: object) -> None:
        job, self.job = self.job, None
        if job is not None and job.wait():
            job.deleteLater()
        # Ready, or another file was opened meanwhile (a failure for this one is not tried again and again).
        if self._spec is not None or (self.original is not None and self.original is not original):
            self.update()

    def shutdown(self) -> None:
        job = self.job
        if job is not None:
            job.cancel()
            job.wait()
            self.job = None
            job.deleteLater()
