"""Generation: the loaded model, the MIDI notes it may play, the running generation and its result.

Model loading and generation run as :mod:`~minet_desktop.gui.workers` jobs with progress and Cancel. One
generation at a time: asking again cancels the running one and starts over when it stopped (STYLE: "a new
request supersedes the old one"). Which instrument the open performance's movement shows ("Sounds like" next
to Generate) is found on a worker thread too, whenever the keypoints or the model change; the instrument list
overrides it for generation and live mode.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QFileDialog, QLabel, QWidget

from minet_desktop.core.errors import MinetError
from minet_desktop.core.instruments import instrument_name
from minet_desktop.engine import model_types
from minet_desktop.engine.paths import bundled_model_path
from minet_desktop.gui import settings as app_settings
from minet_desktop.gui.feedback import Feedback
from minet_desktop.gui.generate_panel import GeneratePanel
from minet_desktop.gui.transport import TransportController
from minet_desktop.gui.workers import CallJob, ExtractFn, GenerationJob
from minet_desktop.media.frames import VideoSource

log = logging.getLogger("minet_desktop")

NO_MODEL = "no model loaded"
MODEL_FILTER = "MI Net model bundles (*.safetensors);;All files (*)"
MIDI_FILTER = "MIDI files (*.mid *.midi);;All files (*)"
NO_MODEL_HELP = (
    "No model loaded: use File › Open Model… to choose an MI Net model bundle (.safetensors). "
    "Without a model the app shows videos and keypoints only."
)


def _open_session(path: Path) -> Any:  # -> Session (imports torch: call it off the GUI thread)
    from minet_desktop.engine.session import Session

    return Session(path)


class GenerationController(QObject):
    """Owns the session (loaded model), the MIDI notes, the generation job and its result.

    File dialogs open over the parent window. :attr:`model_changed` fires when a model has loaded,
    :attr:`result_changed` when the result or the notes change, :attr:`state_changed` when a job starts or ends.
    """

    model_changed = Signal()
    result_changed = Signal()
    state_changed = Signal()

    def __init__(
        self,
        panel: GeneratePanel,
        model_label: QLabel,
        transport: TransportController,
        *,
        feedback: Feedback,
        open_session: Callable[[Path], Any] | None = None,
        extract: ExtractFn | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel, self.model_label, self.transport = panel, model_label, transport
        self._status, self._show_error = feedback.status, feedback.show_error
        self._open_session = open_session or _open_session
        self._extract = extract
        self.session: Any = None  # engine.session.Session | None
        self.model_path: Path | None = None
        self.model_job: CallJob | None = None
        self._requested_type: str | None = None  # the type the user chose in the panel, while it loads
        self.job: GenerationJob | None = None
        self._generate_again = False
        self.result: Any = None  # engine.session.GenerationResult | None
        self.result_audio: Any = None  # the AudioConfig the result was made with
        self._job_audio: Any = None
        self._job_source: object | None = None
        self.midi_path: Path | None = None
        self.notes: list[Any] | None = None
        self.blocked: Callable[[], bool] = lambda: False  # live mode on: no model switching, no generating
        self.detection: CallJob | None = None  # which instrument the open performance's movement shows
        self._detect_again = False
        transport.keypoints_changed.connect(self.detect_instrument)

    # ----------------------------------------------------------------- model
    def _dialog_parent(self) -> QWidget | None:
        parent = self.parent()
        return parent if isinstance(parent, QWidget) else None

    def ask_model_file(self, title: str = "Open model bundle") -> str:
        """A model bundle the user picks in a file dialog ("" if cancelled; tests replace it)."""
        settings = app_settings.open_settings()
        start = str(self.model_path.parent) if self.model_path else app_settings.last_directory(settings)
        path, _ = QFileDialog.getOpenFileName(self._dialog_parent(), title, start, MODEL_FILTER)
        return path

    def open_model_dialog(self) -> None:
        path = self.ask_model_file()
        if path:
            self.open_model(path)

    def open_midi_dialog(self) -> None:
        settings = app_settings.open_settings()
        path, _ = QFileDialog.getOpenFileName(
            self._dialog_parent(), "Open MIDI file", app_settings.last_directory(settings), MIDI_FILTER
        )
        if path:
            self.set_midi(path)

    def kind(self) -> str:
        return model_types.label(self.session.model_type) if self.session is not None else NO_MODEL

    def about_model(self) -> str:
        """HTML: the loaded bundle, its type and device, and its model card."""
        session, path = self.session, self.model_path
        if session is None:
            return f"<p><b>Model:</b> {NO_MODEL}.</p>"
        doc = QTextDocument()
        doc.setMarkdown(session.model_card.strip() or "(this bundle has no model card)")
        body = doc.toHtml()
        start, end = body.find("<body"), body.rfind("</body>")
        if start >= 0 and end > start:
            body = body[body.find(">", start) + 1 : end]
        name = path.name if path else ""
        return f"<hr><p><b>Model:</b> {name} ({self.kind()}), on {session.device_name}</p>" + body

    def choose_model_type(self, model_type: str) -> None:
        """Switch to a model of ``model_type`` (chosen in the panel's list): the one that ships with the app
        when there is one, else a bundle the user picks; if there is none, say how to make one."""
        if self.model_job is not None or self.job is not None or self.blocked():
            self.panel.show_loaded_type()
            return
        entry = model_types.model_type(model_type)
        label = model_types.label(model_type)
        path = bundled_model_path(model_type)
        if not path.is_file():
            chosen = self.ask_model_file(f"Open a {label} model bundle (none ships with the app)")
            if not chosen:
                self.panel.show_loaded_type()
                hint = entry.how_to_train if entry is not None else "Train one"
                self._show_error(
                    f"No {label} model",
                    f"{path}: no {label} model ships with this installation. {hint}, "
                    "then choose it here or with File › Open Model….",
                )
                return
            path = Path(chosen)
        self._requested_type = model_type
        self.open_model(path)

    def open_model(self, path: str | Path) -> None:
        """Load a model bundle on a worker thread; the one loaded so far stays until the new one is ready."""
        if self.model_job is not None or self.job is not None:
            return
        p = Path(path)
        job = CallJob(lambda: self._open_session(p), f"loading the model {p}", parent=self)
        job.succeeded.connect(lambda session: self._on_model_loaded(p, session))
        job.failed.connect(lambda message: self._show_error("Cannot open model", message))
        job.finished.connect(self._on_model_job_finished)
        self.model_job = job
        self.model_label.setText(f"loading {p.name}…")
        self.state_changed.emit()
        job.start()

    def _on_model_loaded(self, path: Path, session: Any) -> None:
        self.session, self.model_path = session, path
        kind = self.kind()
        self.panel.set_model(
            f"{path.name}<br><small>{kind}, {session.sample_rate} Hz</small>", session.model_type
        )
        self.panel.set_instruments(session.instruments)
        self.detect_instrument()
        requested = self._requested_type
        if requested is not None and requested != session.model_type:
            wanted = model_types.label(requested)
            self._status(f"{path.name} is a {kind} model, not a {wanted} model", 8000)
        else:
            self._status(f"Model {path.name} loaded ({kind})", 5000)
        self.model_changed.emit()

    def _on_model_job_finished(self) -> None:
        job, self.model_job = self.model_job, None
        self._requested_type = None
        if job is not None:
            job.deleteLater()
        if self.session is None or self.model_path is None:
            self.model_label.setText(NO_MODEL)
            self.panel.set_model(None, None)
            self.panel.set_instruments(())
        else:
            self.model_label.setText(f"Model: {self.model_path.name} ({self.kind()})")
        self.panel.show_loaded_type()  # a model that failed to load leaves the list on the loaded one
        self.state_changed.emit()

    # ----------------------------------------------------------------- MIDI
    def set_midi(self, path: str | Path | None) -> bool:
        """Use the notes of a MIDI file for generation (and show them); None forgets them. False if unusable."""
        if path is None:
            self.midi_path, self.notes = None, None
            self.panel.set_midi(None)
            self.result_changed.emit()
            return True
        p = Path(path)
        try:
            from minet_desktop.media.midi import read_midi_notes

            notes = read_midi_notes(p)
        except MinetError as exc:
            self._show_error("Cannot open MIDI file", str(exc))
            return False
        except Exception as exc:
            log.exception("reading %s failed", p)
            self._show_error("Cannot open MIDI file", f"{p}: cannot be read ({type(exc).__name__}: {exc})")
            return False
        self.use_notes(p, notes)
        return True

    def use_notes(self, path: Path, notes: list[Any]) -> None:
        """Notes already read (from ``path``) for generation and the piano roll."""
        self.midi_path, self.notes = path, notes
        self.panel.set_midi(path, len(notes))
        self.result_changed.emit()

    # ----------------------------------------------------------------- generation
    def start(self) -> None:
        """Generate music for the open performance (extracting its keypoints first if needed)."""
        source = self.transport.source
        if source is None or self.blocked():
            return
        session = self.session
        if session is None:
            self._show_error("No model loaded", NO_MODEL_HELP)
            return
        if self.job is not None:  # a new request supersedes the running one
            self.job.cancel()
            self._generate_again = True
            self.panel.stage_label.setText("starting over…")
            return
        keypoints = self.transport.keypoints
        if keypoints is None and not isinstance(source, VideoSource):
            return
        if session.backend.needs_notes and self.notes is None:
            self._show_error(
                "MIDI needed",
                f"{self.model_path}: this model plays the notes of a MIDI file: choose one under "
                "Generate › MIDI (or File › Open MIDI…)",
            )
            return
        options = self.panel.options()
        # Notes a model does not take are shown in the inspector only.
        notes = self.notes if session.backend.needs_notes else None
        instrument = self.instrument(options.instrument)

        def make_generator(kf: Any) -> Any:
            return session.iter_generate(
                kf,
                notes,
                takes=options.takes,
                temperature=options.temperature,
                seed=options.seed,
                instrument=instrument,
                keep_octaves=options.keep_octaves,
                **({} if options.articulate else {"articulation": None}),
                auto_steer=options.auto_steer,
            )

        video = source.path if isinstance(source, VideoSource) else None
        self.transport.pause()
        job = GenerationJob(make_generator, keypoints, video=video, extract=self._extract, parent=self)
        job.progress.connect(lambda label, done, total: self.panel.set_progress(label, done / max(total, 1)))
        job.succeeded.connect(self._on_succeeded)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(lambda: self.panel.stage_label.setText("cancelled"))
        job.finished.connect(self._on_finished)
        self.job = job
        self._job_audio = session.cfg.audio
        self._job_source = source
        self.panel.stage_label.setText(
            "finding keypoints, then generating…" if keypoints is None else "generating…"
        )
        self.state_changed.emit()
        job.start()

    def cancel(self) -> None:
        if self.job is not None:
            self._generate_again = False
            self.job.cancel()
            self.panel.cancel_button.setEnabled(False)
            self.panel.stage_label.setText("cancelling…")

    def forget(self) -> None:
        """Another file was opened: cancel what runs for the old one and drop its result."""
        if self.job is not None:
            self.job.cancel()
            self._generate_again = False
        self.result = None
        self.panel.set_result(0, [])

    def instrument(self, chosen: str | None) -> str | None:
        """The instrument the loaded model is to play: ``chosen`` (a code from the panel) when the model can
        play it, else None (the one the movement shows)."""
        return chosen if self.session is not None and chosen in self.session.instruments else None

    def take_wave(self, take: int) -> tuple[np.ndarray, int] | None:
        """``(mono wave, rate)`` of generated take ``take`` (clamped), or None without a result."""
        if self.result is None:
            return None
        take = min(take, self.result.takes - 1)
        return self.result.waveform[take], self.result.sample_rate

    def _on_succeeded(self, value: object) -> None:
        keypoints, result = value  # type: ignore[misc]
        if self.transport.source is not self._job_source:
            return
        if self.transport.keypoints is None:
            self.transport.set_keypoints(keypoints)  # (and find which instrument they show)
        self.result, self.result_audio = result, self._job_audio
        self.panel.set_result(result.takes, list(result.seeds))
        self.panel.generated_radio.setChecked(True)
        took = result.timings.get("total") or sum(result.timings.values())
        text = f"{result.takes} take(s), {result.duration:.1f} s of audio, in {took:.1f} s on {result.device}"
        if result.steered_to:
            text += (
                f"\nplayed as {instrument_name(result.steered_to)} (the instrument detected in the movement)"
            )
        if result.warnings:
            text += "\n⚠ " + "\n⚠ ".join(result.warnings)
            self._status("; ".join(result.warnings), 10000)
        else:
            self._status("Generated audio ready: press Space to listen", 8000)
        self.panel.stage_label.setText(text)
        self.result_changed.emit()

    def _on_failed(self, message: str) -> None:
        self.panel.stage_label.setText("failed")
        self._show_error("Generation failed", message)

    def _on_finished(self) -> None:
        job, self.job = self.job, None
        if job is not None and job.wait():
            job.deleteLater()
        self.state_changed.emit()
        if self._generate_again:
            self._generate_again = False
            QTimer.singleShot(0, self, self.start)

    # ----------------------------------------------------------------- which instrument
    def detect_instrument(self) -> None:
        """Find which instruments the open performance's movement looks like, on a worker thread, and show
        them next to Generate; a request while one runs starts again when it ends (the newest wins)."""
        session, keypoints = self.session, self.transport.keypoints
        if session is None or not session.instruments or keypoints is None:
            self.panel.set_detection(
                "" if session is None or keypoints is None else "this model cannot tell the instrument"
            )
            return
        if self.detection is not None:
            self._detect_again = True
            return
        source = self.transport.source
        job = CallJob(lambda: session.detect(keypoints), "finding the instrument", parent=self)
        job.succeeded.connect(lambda det: self._on_instrument_detected(source, session, det))
        job.failed.connect(lambda message: self.panel.set_detection(f"unknown ({message})"))
        job.finished.connect(self._on_detection_finished)
        self.detection = job
        self.panel.set_detection("listening to the movement…")
        job.start()

    def _on_instrument_detected(self, source: object, session: Any, detection: Any) -> None:
        if source is self.transport.source and session is self.session and not self._detect_again:
            self.panel.show_detection(detection)

    def _on_detection_finished(self) -> None:
        job, self.detection = self.detection, None
        if job is not None and job.wait():
            job.deleteLater()
        if self._detect_again:
            self._detect_again = False
            self.detect_instrument()

    def shutdown(self) -> None:
        """Cancel generation, model loading and instrument detection and wait for them (the event loop may
        not run again)."""
        self._generate_again = False
        self._detect_again = False
        for job in (self.job, self.model_job, self.detection):
            if job is not None:
                job.stop_for_close()
