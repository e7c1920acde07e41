"""The side panel: model, generation options, Generate / Cancel with progress, listening (take, A/B), export,
and live webcam mode. Only widgets and their state; the main window does the work when they are used."""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from minet_desktop.core.instruments import INSTRUMENT_CODES, INSTRUMENTS, instrument_name
from minet_desktop.engine import model_types

if TYPE_CHECKING:
    from minet_desktop.engine.instruments import Detection

#: The model list: the types that ship with the app, from the one registry of model types.
MODEL_TYPES = model_types.app_model_types()
#: The instrument list's first entry: play what the movement shows.
AUTO_INSTRUMENT = "Auto (from the movement)"
#: The last entry of the instrument list: Auto without the steer to the detected instrument.
UNSTEERED_INSTRUMENT = "Auto, unsteered (the model's own reading)"
MAX_TAKES = 8
SOUNDS_LIKE_TIP = (
    "The instruments the model reads from the performer's movement (no label needed), most likely first. "
    "Click one to play it: it is chosen in the instrument list."
)


@dataclass(frozen=True)
class GenerateOptions:
    takes: int
    temperature: float
    seed: int | None  # None: a new random seed each time
    instrument: str | None = None  # an instrument code to play; None: the one the movement shows
    keep_octaves: bool = False  # a MIDI model asked for another instrument plays the score as written
    articulate: bool = True  # notes start at the movement's events (MI Net) or the score's onsets (MIDI)
    # Auto steers to the detected instrument as the bundle says (None), or not at all (False: "unsteered").
    auto_steer: bool | None = None


class GeneratePanel(QWidget):
    """Controls for generation, listening, export and live mode (signals say what the user asked for)."""

    open_model_requested = Signal()
    #: The user picked another model type in the list: load a bundle of that type (``model_type``).
    model_type_chosen = Signal(str)
    choose_midi_requested = Signal()
    clear_midi_requested = Signal()
    generate_requested = Signal()
    cancel_requested = Signal()
    take_changed = Signal(int)
    listen_original_changed = Signal(bool)
    live_toggled = Signal(bool)
    refresh_cameras_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self._build_model_box())
        layout.addWidget(self._build_generate_box())
        layout.addWidget(self._build_listen_box())
        layout.addWidget(self._build_live_box())
        layout.addStretch(1)
        self.set_model(None, None)
        self.set_result(0, [])
        self.set_running(False)

    # ------------------------------------------------------------------ construction
    def _build_model_box(self) -> QGroupBox:
        box = QGroupBox("Model", self)
        self.model_name = QLabel(self)
        self.model_name.setWordWrap(True)
        self.model_combo = QComboBox(self)
        for entry in MODEL_TYPES:
            self.model_combo.addItem(entry.label, entry.key)
        self.model_combo.setToolTip(
            "What the loaded bundle is; choose another type to load the app's model of that type "
            "(or a bundle you pick)"
        )
        self.model_combo.activated.connect(self._on_model_type_activated)
        self._loaded_type: str | None = None
        self.open_model_button = QPushButton("Open Model…", self)
        self.open_model_button.clicked.connect(self.open_model_requested)
        form = QFormLayout(box)
        form.addRow(self.model_name)
        form.addRow("Type:", self.model_combo)
        form.addRow(self.open_model_button)
        return box

    def _build_generate_box(self) -> QGroupBox:
        box = QGroupBox("Generate", self)
        self.takes_spin = QSpinBox(self)
        self.takes_spin.setRange(1, MAX_TAKES)
        self.takes_spin.setToolTip("How many different performances to generate at once")
        self.temperature_spin = QDoubleSpinBox(self)
        self.temperature_spin.setRange(0.05, 2.0)
        self.temperature_spin.setSingleStep(0.05)
        self.temperature_spin.setValue(1.0)
        self.temperature_spin.setToolTip("Lower: safer, more repetitive; higher: more varied, noisier")
        self.seed_spin = QSpinBox(self)
        self.seed_spin.setRange(0, 2**31 - 1)
        self.random_seed = QCheckBox("random", self)
        self.random_seed.setToolTip("A new seed every time (the seed used is shown with the result)")
        self.random_seed.toggled.connect(lambda on: self.seed_spin.setEnabled(not on))
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(self.random_seed)

        self.midi_label = QLabel("none", self)
        self.midi_label.setWordWrap(True)
        self.midi_button = QPushButton("Choose…", self)
        self.midi_button.setToolTip("Notes to play (MIDI file), for models conditioned on MIDI")
        self.midi_button.clicked.connect(self.choose_midi_requested)
        self.midi_clear_button = QPushButton("Clear", self)
        self.midi_clear_button.clicked.connect(self.clear_midi_requested)
        midi_row = QHBoxLayout()
        midi_row.addWidget(self.midi_label, 1)
        midi_row.addWidget(self.midi_button)
        midi_row.addWidget(self.midi_clear_button)

        self.instrument_combo = QComboBox(self)
        self.instrument_combo.addItem(AUTO_INSTRUMENT)
        self.instrument_combo.setItemData(
            0,
            "The instrument the movement shows. A model whose bundle asks for it (the bundled MI Net) steers "
            "toward the instrument under Sounds like, unless it is uncertain; live mode is not steered",
            Qt.ItemDataRole.ToolTipRole,
        )
        for _code, name in INSTRUMENTS:
            self.instrument_combo.addItem(name.capitalize())
        self.instrument_combo.insertSeparator(self.instrument_combo.count())
        self.instrument_combo.addItem(UNSTEERED_INSTRUMENT)
        self.instrument_combo.setItemData(
            self.instrument_combo.count() - 1,
            "The instrument as the model reads it from the movement alone. Auto (the default) plays the "
            "instrument shown under Sounds like, where the model's bundle asks for it",
            Qt.ItemDataRole.ToolTipRole,
        )
        self.keep_octaves_check = QCheckBox("Keep octaves", self)
        self.keep_octaves_check.setToolTip(
            "Keep the score's octaves. Off: with a chosen instrument, a MIDI model's notes move by whole octaves "
            "into that instrument's range (a violin part asked of a tuba is played two octaves down). On: the "
            "notes as written."
        )
        self.instrument_combo.currentIndexChanged.connect(lambda _i: self._update_keep_octaves())
        self.articulate_check = QCheckBox("Notes on the beat", self)
        self.articulate_check.setChecked(True)
        self.articulate_check.setToolTip(
            "On: a note starts where the performer's movement says it does: a bow change, a finger, valve or "
            "slide change (with a MIDI file, at its notes), with a short breath of silence before it as a "
            "player's tonguing or bow change makes. Off: the notes as the model drew them, legato. Live mode "
            "plays them as drawn."
        )
        self.sounds_like_label = QLabel(" ", self)
        self.sounds_like_label.setWordWrap(True)
        self.sounds_like_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        self.sounds_like_label.linkActivated.connect(self._sounds_like_chosen)
        self.sounds_like_label.setToolTip(SOUNDS_LIKE_TIP)
        self._sounds_like = ""
        self.set_instruments(())

        self.generate_button = QPushButton("Generate", self)
        self.generate_button.setDefault(True)
        self.generate_button.clicked.connect(self.generate_requested)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.cancel_button)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(True)
        self.stage_label = QLabel(" ", self)
        self.stage_label.setWordWrap(True)

        form = QFormLayout(box)
        form.addRow("Takes:", self.takes_spin)
        form.addRow("Temperature:", self.temperature_spin)
        form.addRow("Seed:", seed_row)
        form.addRow("MIDI:", midi_row)
        form.addRow("Instrument:", self.instrument_combo)
        checks = QHBoxLayout()
        checks.addWidget(self.articulate_check)
        checks.addWidget(self.keep_octaves_check)
        checks.addStretch(1)
        form.addRow("", checks)
        form.addRow(self.sounds_like_label)
        form.addRow(buttons)
        form.addRow(self.progress_bar)
        form.addRow(self.stage_label)
        return box

    def _build_listen_box(self) -> QGroupBox:
        box = QGroupBox("Listen and export", self)
        self.take_combo = QComboBox(self)
        self.take_combo.currentIndexChanged.connect(lambda i: self.take_changed.emit(max(i, 0)))
        self.generated_radio = QRadioButton("A: generated", self)
        self.original_radio = QRadioButton("B: original", self)
        self.generated_radio.setChecked(True)
        self._ab = QButtonGroup(self)
        self._ab.addButton(self.generated_radio)
        self._ab.addButton(self.original_radio)
        self.original_radio.toggled.connect(self.listen_original_changed)
        ab_row = QHBoxLayout()
        ab_row.addWidget(self.generated_radio)
        ab_row.addWidget(self.original_radio)
        self.audio_label = QLabel(" ", self)
        self.audio_label.setWordWrap(True)
        self.export_wav_button = QPushButton("Export WAV…", self)
        self.export_mp4_button = QPushButton("Export MP4…", self)
        self.export_mp4_button.setToolTip("The video with the generated audio")
        export_row = QHBoxLayout()
        export_row.addWidget(self.export_wav_button)
        export_row.addWidget(self.export_mp4_button)
        form = QFormLayout(box)
        form.addRow("Take:", self.take_combo)
        form.addRow("Hear:", ab_row)
        form.addRow(self.audio_label)
        form.addRow(export_row)
        return box

    def _build_live_box(self) -> QGroupBox:
        box = QGroupBox("Live camera", self)
        self.camera_combo = QComboBox(self)
        self._cameras: list[int] = []
        self.refresh_cameras_button = QPushButton("↻", self)
        self.refresh_cameras_button.setToolTip("Look for cameras again")
        self.refresh_cameras_button.setFixedWidth(32)
        self.refresh_cameras_button.clicked.connect(self.refresh_cameras_requested)
        camera_row = QHBoxLayout()
        camera_row.addWidget(self.camera_combo, 1)
        camera_row.addWidget(self.refresh_cameras_button)
        self.live_button = QPushButton("Start Live", self)
        self.live_button.setCheckable(True)
        self.live_button.toggled.connect(self._on_live_toggled)
        self.live_label = QLabel(" ", self)
        self.live_label.setWordWrap(True)
        form = QFormLayout(box)
        form.addRow("Camera:", camera_row)
        form.addRow(self.live_button)
        form.addRow(self.live_label)
        return box

    # ------------------------------------------------------------------ state
    def options(self) -> GenerateOptions:
        return GenerateOptions(
            takes=self.takes_spin.value(),
            temperature=round(self.temperature_spin.value(), 4),
            seed=None if self.random_seed.isChecked() else self.seed_spin.value(),
            instrument=self.instrument(),
            keep_octaves=self.keep_octaves_check.isEnabled() and self.keep_octaves_check.isChecked(),
            articulate=self.articulate_check.isChecked(),
            auto_steer=False if self.unsteered() else None,
        )

    def _update_keep_octaves(self) -> None:
        """The octave choice applies to a MIDI model asked for an instrument; otherwise it is greyed out."""
        loaded = model_types.model_type(self._loaded_type) if self._loaded_type else None
        self.keep_octaves_check.setEnabled(
            loaded is not None and loaded.needs_notes and self.instrument() is not None
        )

    def instrument(self) -> str | None:
        """The instrument code chosen to play, or None for "Auto" (and for models that cannot take one)."""
        i = self.instrument_combo.currentIndex()
        if not self.instrument_combo.isEnabled() or i <= 0 or i > len(INSTRUMENTS):
            return None
        code = INSTRUMENTS[i - 1][0]
        return code if code in self._instrument_codes else None

    def unsteered(self) -> bool:
        """True for "Auto, unsteered": the instrument as the model reads the movement, not steered to the
        detected one."""
        return (
            self.instrument_combo.isEnabled()
            and self.instrument_combo.currentIndex() == self.instrument_combo.count() - 1
        )

    def set_instruments(self, codes: tuple[str, ...]) -> None:
        """The instruments the loaded model can be told to play (none: the list shows Auto, disabled)."""
        self._instrument_codes = tuple(codes)
        model = self.instrument_combo.model()
        for i, (code, _name) in enumerate(INSTRUMENTS, start=1):
            model.item(i).setEnabled(code in codes)  # type: ignore[attr-defined]
        if not codes:
            self.instrument_combo.setCurrentIndex(0)
        self.instrument_combo.setEnabled(bool(codes))
        self.instrument_combo.setToolTip(
            "Play this instrument; the timing still follows the performer's movement"
            if codes
            else "This model cannot be told which instrument to play"
        )
        self._update_keep_octaves()

    def select_instrument(self, code: str | None) -> None:
        codes = [c for c, _ in INSTRUMENTS]
        self.instrument_combo.setCurrentIndex(codes.index(code) + 1 if code in codes else 0)

    def set_detection(self, text: str) -> None:
        """Show a line about what the movement sounds like as plain text: why it is not known, or progress."""
        self._sounds_like = f"Sounds like: {text}" if text else ""
        self.sounds_like_label.setTextFormat(Qt.TextFormat.PlainText)
        self.sounds_like_label.setText(self._sounds_like or " ")
        self.sounds_like_label.setToolTip(SOUNDS_LIKE_TIP)
        self.sounds_like_label.setAccessibleName(self._sounds_like)

    def show_detection(
        self, detection: Detection, heading: str = "Sounds like", tooltip: str = SOUNDS_LIKE_TIP
    ) -> None:
        """Show what the movement sounds like ("viola 56 % - cello 20 % - oboe 11 %"); each instrument the
        model can be told to play is a link that chooses it in the instrument list."""
        self.sounds_like_label.setToolTip(tooltip)

        def link(code: str) -> str:
            name = html.escape(instrument_name(code))
            return f'<a href="{code}">{name}</a>' if self._can_choose(code) else name

        self._sounds_like = f"{heading}: {detection.summary()}"
        rich = replace(detection, reason=html.escape(detection.reason)).summary(name=link)
        self.sounds_like_label.setTextFormat(Qt.TextFormat.RichText)
        self.sounds_like_label.setText(f"{html.escape(heading)}: {rich}")
        self.sounds_like_label.setAccessibleName(self._sounds_like)

    def sounds_like_text(self) -> str:
        """The "Sounds like" line as plain text (what a screen reader says)."""
        return self._sounds_like

    def _can_choose(self, code: str) -> bool:
        return self.instrument_combo.isEnabled() and code in self._instrument_codes

    def _sounds_like_chosen(self, code: str) -> None:
        if code in INSTRUMENT_CODES and self._can_choose(code):
            self.select_instrument(code)

    def set_model(self, name: str | None, model_type: str | None) -> None:
        """Show the loaded bundle and select its type; choosing another type asks for a model of that type."""
        self._loaded_type = model_type
        self.model_name.setText(name if name else "<i>no model loaded</i>")
        model = self.model_combo.model()
        for i, entry in enumerate(MODEL_TYPES):
            item = model.item(i)  # type: ignore[attr-defined]
            item.setToolTip(
                "the loaded model"
                if entry.key == model_type
                else "load the app's model of this type, or choose a bundle of this type"
            )
        index = self.model_combo.findData(model_type) if model_type else -1
        self.model_combo.setCurrentIndex(index)
        loaded = model_types.model_type(model_type) if model_type else None
        self.midi_button.setToolTip(
            "Notes to play (MIDI file): this model needs them"
            if loaded is not None and loaded.needs_notes
            else "Notes to play (MIDI file); shown in the inspector, used by MIDI-conditioned models"
        )
        self._update_keep_octaves()

    def show_loaded_type(self) -> None:
        """Select the loaded model's type again (after a choice that did not load anything)."""
        index = self.model_combo.findData(self._loaded_type) if self._loaded_type else -1
        self.model_combo.setCurrentIndex(index)

    def _on_model_type_activated(self, index: int) -> None:
        if not 0 <= index < len(MODEL_TYPES):
            return
        model_type = MODEL_TYPES[index].key
        if model_type != self._loaded_type:
            self.model_type_chosen.emit(model_type)

    def model_type(self) -> str | None:
        # (Not currentData(): PySide6 drops a reference to None each time it returns None, and enough of
        # those crash the interpreter at exit. Item data here is never None, and is read by index.)
        i = self.model_combo.currentIndex()
        return MODEL_TYPES[i].key if 0 <= i < len(MODEL_TYPES) else None

    def set_midi(self, path: Path | None, n_notes: int = 0) -> None:
        self.midi_label.setText(f"{path.name} ({n_notes} notes)" if path else "none")
        self.midi_label.setToolTip(str(path) if path else "")
        self.midi_clear_button.setEnabled(path is not None)

    def set_running(self, running: bool, can_generate: bool = True) -> None:
        self.generate_button.setEnabled(can_generate)
        self.cancel_button.setEnabled(running)
        self.progress_bar.setVisible(running)
        if running:
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("starting…")

    def set_progress(self, label: str, fraction: float) -> None:
        self.progress_bar.setValue(int(round(1000 * min(max(fraction, 0.0), 1.0))))
        self.progress_bar.setFormat(f"{label} %p%")

    def set_result(self, takes: int, seeds: list[int]) -> None:
        """List the takes of the latest result (none: listening and export are disabled)."""
        self.take_combo.blockSignals(True)
        self.take_combo.clear()
        for k in range(takes):
            seed = f" (seed {seeds[k]})" if k < len(seeds) else ""
            self.take_combo.addItem(f"Take {k + 1}{seed}")
        self.take_combo.blockSignals(False)
        self.take_combo.setEnabled(takes > 1)
        self.export_wav_button.setEnabled(takes > 0)

    def current_take(self) -> int:
        return max(self.take_combo.currentIndex(), 0)

    def set_original_available(self, available: bool) -> None:
        self.original_radio.setEnabled(available)
        if not available and self.original_radio.isChecked():
            self.generated_radio.setChecked(True)

    def listening_to_original(self) -> bool:
        return self.original_radio.isChecked()

    def set_cameras(self, cameras: list[tuple[int, str]]) -> None:
        current = self.camera_index()
        self._cameras = [int(index) for index, _name in cameras]
        self.camera_combo.clear()
        for _index, name in cameras:
            self.camera_combo.addItem(name)
        if not cameras:
            self.camera_combo.addItem("no camera found")
        self.select_camera(current)
        self.live_button.setEnabled(bool(cameras) or self.live_button.isChecked())

    def select_camera(self, index: int | None) -> bool:
        """Choose camera ``index`` (its device number) if it is listed."""
        if index in self._cameras:
            self.camera_combo.setCurrentIndex(self._cameras.index(index))
            return True
        return False

    def camera_index(self) -> int | None:
        """Device number of the chosen camera (None: there is none); read by position, see :meth:`model_type`."""
        i = self.camera_combo.currentIndex()
        return self._cameras[i] if 0 <= i < len(self._cameras) else None

    def set_live(self, on: bool) -> None:
        """Reflect live mode without asking for it again."""
        self.live_button.blockSignals(True)
        self.live_button.setChecked(on)
        self.live_button.blockSignals(False)
        self.live_button.setText("Stop Live" if on else "Start Live")
        self.camera_combo.setEnabled(not on)
        self.refresh_cameras_button.setEnabled(not on)

    def _on_live_toggled(self, on: bool) -> None:
        self.live_button.setText("Stop Live" if on else "Start Live")
        self.live_toggled.emit(on)
