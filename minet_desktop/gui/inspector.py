"""Spectrogram inspector (pyqtgraph): generated audio above, the original audio (or the MIDI piano roll) below.

In the spirit of Sonic Visualiser: both panes share the time axis (zooming or panning one moves the other),
each zooms and pans on both axes with the mouse wheel and drag, the frequency axis is linear or logarithmic,
the colour map and the dB range are chosen in the tool bar, a crosshair reads time, frequency, level and the
nearest note, a playhead follows playback, and a click seeks there. The whole view exports as a PNG.

Levels: a spectrogram holds natural-log magnitudes (``log |STFT|``); shown in dB re full scale,
``20 log10 |X| = (20 / ln 10) log |X|``. Frequencies: bin ``k`` of an ``n_fft``-point STFT is ``k sr / n_fft`` Hz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from minet_desktop.core.atomic import atomic_path

DB_PER_NEPER = 20.0 / math.log(10.0)
COLORMAPS = ("inferno", "viridis", "magma", "plasma", "cividis", "CET-L1")
COLORMAP_LABELS = {"CET-L1": "grey"}
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
#: Rows of the resampled image in log-frequency mode.
LOG_ROWS = 384
#: Level of "no note" in a piano roll drawn as a spectrogram, and of a sounding note.
ROLL_OFF_DB, ROLL_ON_DB = -100.0, 0.0


def note_name(hz: float) -> str:
    """Nearest equal-tempered note with its cents offset: 440 -> ``"A4"``, 450 -> ``"A4 +39c"``."""
    if not (hz > 0 and math.isfinite(hz)):
        return "–"
    midi = 69.0 + 12.0 * math.log2(hz / 440.0)
    nearest = int(round(midi))
    cents = int(round(100 * (midi - nearest)))
    name = f"{NOTE_NAMES[nearest % 12]}{nearest // 12 - 1}"
    return name if cents == 0 else f"{name} {cents:+d}c"


def format_hz(hz: float) -> str:
    return f"{hz / 1000:.2f} kHz" if hz >= 1000 else f"{hz:.1f} Hz"


@dataclass
class PaneData:
    """What one pane shows: ``db (F, T)`` at ``frame_rate`` frames/s over bins ``k * bin_hz``."""

    title: str
    db: np.ndarray
    frame_rate: float
    bin_hz: float
    piano_roll: bool = False

    @property
    def n_bins(self) -> int:
        return int(self.db.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.db.shape[1])

    @property
    def duration(self) -> float:
        return self.n_frames / self.frame_rate

    @property
    def max_hz(self) -> float:
        return (self.n_bins - 1) * self.bin_hz

    @classmethod
    def from_log_spectrogram(
        cls, title: str, logspec: np.ndarray, frame_rate: float, sample_rate: int, n_fft: int
    ) -> PaneData:
        """From natural-log magnitudes ``(F, T)`` (MI Net's representation)."""
        return cls(title, np.asarray(logspec, np.float32) * DB_PER_NEPER, frame_rate, sample_rate / n_fft)

    @classmethod
    def from_piano_roll(
        cls, title: str, roll: np.ndarray, frame_rate: float, n_bins: int, bin_hz: float
    ) -> PaneData:
        """A ``(T, 128)`` piano roll drawn on the spectrogram's frequency bins (each bin lights up while the
        note nearest to its frequency sounds), so both panes line up in frequency too."""
        freqs = np.arange(n_bins) * bin_hz
        with np.errstate(divide="ignore"):
            pitch = np.round(69 + 12 * np.log2(np.maximum(freqs, 1e-6) / 440.0)).astype(int)
        valid = (pitch >= 0) & (pitch < 128) & (freqs > 0)
        on = np.zeros((n_bins, roll.shape[0]), bool)
        on[valid] = roll[:, pitch[valid]].T > 0
        db = np.where(on, ROLL_ON_DB, ROLL_OFF_DB).astype(np.float32)
        return cls(title, db, frame_rate, bin_hz, piano_roll=True)


class FrequencyAxis(pg.AxisItem):
    """Left axis in Hz; in log mode the view's y is ``log10(Hz)`` and ticks sit at 1-2-5 steps."""

    def __init__(self) -> None:
        super().__init__("left")
        self.log_frequency = False

    def tickValues(self, minVal, maxVal, size):  # noqa: N802,N803 (pyqtgraph override)
        if not self.log_frequency:
            return super().tickValues(minVal, maxVal, size)
        major, minor = [], []
        for decade in range(int(math.floor(minVal)) - 1, int(math.ceil(maxVal)) + 1):
            for m in (1, 2, 5):
                v = decade + math.log10(m)
                if minVal <= v <= maxVal:
                    major.append(v)
            for m in (3, 4, 6, 7, 8, 9):
                v = decade + math.log10(m)
                if minVal <= v <= maxVal:
                    minor.append(v)
        return [(1.0, major), (0.1, minor)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph override)
        if not self.log_frequency:
            return [f"{v / 1000:g}k" if abs(v) >= 1000 else f"{v:g}" for v in values]
        out = []
        for v in values:
            hz = 10.0**v
            out.append(f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:.0f}")
        return out


class _Pane:
    """One plot of the inspector: image, crosshair lines and playhead."""

    def __init__(self, plot: pg.PlotItem, axis: FrequencyAxis) -> None:
        self.plot = plot
        self.axis = axis
        self.data: PaneData | None = None
        self.image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(self.image)
        dash = pg.mkPen((255, 255, 255, 140), width=1, style=Qt.PenStyle.DashLine)
        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=dash)
        self.hline = pg.InfiniteLine(angle=0, movable=False, pen=dash)
        self.playhead = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((255, 230, 60), width=2))
        for item in (self.vline, self.hline, self.playhead):
            item.setZValue(10)
            plot.addItem(item, ignoreBounds=True)
        self.vline.hide()
        self.hline.hide()
        self.placeholder = pg.TextItem("", color=(170, 170, 170), anchor=(0.5, 0.5))
        plot.addItem(self.placeholder, ignoreBounds=True)

    def contains_scene(self, pos: QPointF) -> bool:
        return self.data is not None and self.plot.vb.sceneBoundingRect().contains(pos)


class SpectrogramInspector(QWidget):
    """Two stacked spectrogram panes with linked time axes.

    Signals
    -------
    seek_requested(float)
        The user clicked a pane at this time (seconds).
    """

    seek_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.log_frequency = False
        self._colormap = COLORMAPS[0]
        self._playhead_s = 0.0

        self.scale_combo = QComboBox(self)
        self.scale_combo.addItems(["Linear", "Log"])
        self.scale_combo.setToolTip("Frequency axis")
        self.scale_combo.currentIndexChanged.connect(lambda i: self.set_log_frequency(i == 1))
        self.colormap_combo = QComboBox(self)
        for name in COLORMAPS:
            self.colormap_combo.addItem(COLORMAP_LABELS.get(name, name), name)
        self.colormap_combo.currentIndexChanged.connect(lambda i: self.set_colormap(COLORMAPS[max(i, 0)]))
        self.db_min = QDoubleSpinBox(self)
        self.db_max = QDoubleSpinBox(self)
        for box, value in ((self.db_min, -100.0), (self.db_max, 0.0)):
            box.setRange(-200.0, 100.0)
            box.setSingleStep(5.0)
            box.setDecimals(0)
            box.setSuffix(" dB")
            box.setValue(value)
            box.valueChanged.connect(self._apply_levels)
        self.db_min.setToolTip("Level shown darkest")
        self.db_max.setToolTip("Level shown brightest")
        self.reset_button = QPushButton("Fit", self)
        self.reset_button.setToolTip("Show everything (undo zoom and pan)")
        self.reset_button.clicked.connect(self.reset_view)
        self.export_button = QPushButton("PNG…", self)

        self.scale_combo.setToolTip("Frequency axis: linear or logarithmic")
        self.colormap_combo.setToolTip("Colour map")
        self.export_button.setToolTip("Save the panes as a PNG image")
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(self.scale_combo)
        bar.addWidget(self.colormap_combo)
        bar.addWidget(self.db_min)
        bar.addWidget(QLabel("–", self))
        bar.addWidget(self.db_max)
        bar.addWidget(self.reset_button)
        bar.addStretch(1)
        bar.addWidget(self.export_button)
        # The readout goes under the panes, where it can be as wide as it likes.
        self.readout = QLabel(" ", self)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readout.setMinimumWidth(10)

        menus_before = set(QApplication.topLevelWidgets())
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setBackground((20, 20, 24))
        self.panes: list[_Pane] = []
        for row in range(2):
            axis = FrequencyAxis()
            axis.setWidth(52)  # the same in both panes, so their time axes line up exactly
            plot = self.graphics.addPlot(row=row, col=0, axisItems={"left": axis})
            plot.setLabel("left", "Hz")
            plot.hideButtons()
            plot.setMenuEnabled(False)
            self.panes.append(_Pane(plot, axis))
        # pyqtgraph builds its context menus without a parent (they would outlive the window): adopt them.
        for widget in set(QApplication.topLevelWidgets()) - menus_before:
            if isinstance(widget, QMenu) and widget.parent() is None:
                widget.setParent(self, widget.windowFlags())
        self.panes[1].plot.setXLink(self.panes[0].plot)
        self.panes[1].plot.setLabel("bottom", "time", units="s")
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.scene().sigMouseClicked.connect(self._on_mouse_clicked)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.readout)
        self.set_colormap(self._colormap)
        self.set_panes(None, None)

    # ------------------------------------------------------------------ data
    def set_panes(
        self,
        generated: PaneData | None,
        reference: PaneData | None,
        placeholder: tuple[str, str] = ("Generate to see the spectrogram here", "No original audio or MIDI"),
    ) -> None:
        """Show ``generated`` on top and ``reference`` (original audio or piano roll) below; None empties a pane."""
        for pane, data, text in zip(self.panes, (generated, reference), placeholder, strict=True):
            pane.data = data
            pane.plot.setTitle(data.title if data is not None else "")
            pane.placeholder.setText("" if data is not None else text)
        spectra = [d for d in (generated, reference) if d is not None and not d.piano_roll]
        if spectra:  # levels from the data: the loudest bin at the top, 80 dB of range below it
            top = math.ceil(max(float(np.max(d.db)) for d in spectra) / 5.0) * 5.0
            self.db_max.blockSignals(True)
            self.db_min.blockSignals(True)
            self.db_max.setValue(top)
            self.db_min.setValue(top - 80.0)
            self.db_max.blockSignals(False)
            self.db_min.blockSignals(False)
        self._redraw()
        self.reset_view()

    def pane_data(self, index: int) -> PaneData | None:
        return self.panes[index].data

    def set_log_frequency(self, on: bool) -> None:
        if on == self.log_frequency:
            return
        self.log_frequency = on
        self.scale_combo.blockSignals(True)
        self.scale_combo.setCurrentIndex(1 if on else 0)
        self.scale_combo.blockSignals(False)
        self._redraw()
        self.reset_view()

    def set_colormap(self, name: str) -> None:
        if name not in COLORMAPS:
            name = COLORMAPS[0]
        self._colormap = name
        index = COLORMAPS.index(name)
        if index != self.colormap_combo.currentIndex():
            self.colormap_combo.blockSignals(True)
            self.colormap_combo.setCurrentIndex(index)
            self.colormap_combo.blockSignals(False)
        cmap = pg.colormap.get(name)
        for pane in self.panes:
            pane.image.setColorMap(cmap)

    @property
    def colormap(self) -> str:
        return self._colormap

    def set_db_range(self, low: float, high: float) -> None:
        self.db_min.setValue(low)
        self.db_max.setValue(high)

    def db_range(self) -> tuple[float, float]:
        return self.db_min.value(), self.db_max.value()

    # ------------------------------------------------------------------ coordinates
    def y_of_hz(self, hz: float) -> float:
        """View y coordinate of a frequency (Hz, or log10 Hz in log mode)."""
        return math.log10(max(hz, 1e-3)) if self.log_frequency else hz

    def hz_of_y(self, y: float) -> float:
        return 10.0**y if self.log_frequency else y

    def _log_range(self, data: PaneData) -> tuple[float, float]:
        lo = max(data.bin_hz, 20.0) if data.max_hz > 40.0 else data.bin_hz
        return math.log10(lo), math.log10(max(data.max_hz, lo * 1.01))

    def _redraw(self) -> None:
        for pane in self.panes:
            data = pane.data
            pane.axis.log_frequency = self.log_frequency
            if data is None:
                pane.image.clear()
                pane.playhead.hide()
                continue
            x0, width = -0.5 / data.frame_rate, data.n_frames / data.frame_rate
            if self.log_frequency:
                y_lo, y_hi = self._log_range(data)
                rows = np.linspace(y_lo, y_hi, LOG_ROWS)
                bins = np.clip(np.round(10.0**rows / data.bin_hz).astype(int), 0, data.n_bins - 1)
                image = data.db[bins]
                step = (y_hi - y_lo) / (LOG_ROWS - 1)
                rect = QRectF(x0, y_lo - step / 2, width, y_hi - y_lo + step)
            else:
                image = data.db
                rect = QRectF(x0, -data.bin_hz / 2, width, data.n_bins * data.bin_hz)
            pane.image.setImage(image, autoLevels=False)
            pane.image.setRect(rect)
            pane.plot.vb.setLimits(
                xMin=rect.left(), xMax=rect.right(), yMin=rect.top(), yMax=rect.bottom(), minYRange=1e-3
            )
            pane.playhead.show()
            pane.playhead.setValue(self._playhead_s)
        self._apply_levels()

    def _apply_levels(self) -> None:
        low, high = self.db_range()
        if high <= low:
            high = low + 1.0
        for pane in self.panes:
            if pane.data is None:
                continue
            if pane.data.piano_roll:
                pane.image.setLevels((ROLL_OFF_DB, ROLL_ON_DB))
            else:
                pane.image.setLevels((low, high))

    def reset_view(self) -> None:
        shown = [p.data for p in self.panes if p.data is not None]
        # The panes share one time axis: fit it to the longest pane, so an empty pane never shrinks it.
        if shown:
            x0 = -0.5 / shown[0].frame_rate  # frame i is centred on i / frame_rate
            x_range = (x0, x0 + max(d.duration for d in shown))
        else:
            x_range = (0.0, 1.0)
        for pane in self.panes:
            data = pane.data
            if data is None:
                pane.plot.vb.setRange(xRange=x_range, yRange=(0, 1), padding=0)
                pane.placeholder.setPos(sum(x_range) / 2, 0.5)
                continue
            if self.log_frequency:
                y_range = self._log_range(data)
            else:
                y_range = (0.0, data.max_hz)
            pane.plot.vb.setRange(xRange=x_range, yRange=y_range, padding=0)

    # ------------------------------------------------------------------ crosshair, playhead, seek
    def readout_at(self, pane_index: int, seconds: float, hz: float) -> str:
        """What the crosshair says at ``seconds`` and ``hz`` over pane ``pane_index`` ("" outside its data)."""
        data = self.panes[pane_index].data
        if data is None:
            return ""
        frame = int(round(seconds * data.frame_rate))
        k = int(round(hz / data.bin_hz))
        if not (0 <= frame < data.n_frames and 0 <= k < data.n_bins) or hz < 0:
            return ""
        level = (
            ("note on" if data.db[k, frame] > ROLL_OFF_DB else "no note")
            if data.piano_roll
            else f"{data.db[k, frame]:.1f} dB"
        )
        return f"{seconds:.3f} s   {format_hz(hz)}   {note_name(hz)}   {level}"

    def show_crosshair(self, pane_index: int, seconds: float, hz: float) -> str:
        """Put the crosshair at ``seconds`` / ``hz`` over a pane and update the readout (as the mouse does)."""
        text = self.readout_at(pane_index, seconds, hz)
        for i, pane in enumerate(self.panes):
            pane.vline.setValue(seconds)
            pane.vline.setVisible(pane.data is not None and bool(text))
            pane.hline.setValue(self.y_of_hz(hz))
            pane.hline.setVisible(i == pane_index and bool(text))
        self.readout.setText(text or " ")
        return text

    def set_playhead(self, seconds: float) -> None:
        self._playhead_s = float(seconds)
        for pane in self.panes:
            pane.playhead.setValue(self._playhead_s)

    @property
    def playhead(self) -> float:
        return self._playhead_s

    def _pane_at(self, scene_pos: QPointF) -> int | None:
        for i, pane in enumerate(self.panes):
            if pane.contains_scene(scene_pos):
                return i
        return None

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        i = self._pane_at(scene_pos)
        if i is None:
            for pane in self.panes:
                pane.vline.hide()
                pane.hline.hide()
            self.readout.setText(" ")
            return
        p = self.panes[i].plot.vb.mapSceneToView(scene_pos)
        self.show_crosshair(i, p.x(), self.hz_of_y(p.y()))

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        i = self._pane_at(event.scenePos())
        if i is None:
            return
        t = self.panes[i].plot.vb.mapSceneToView(event.scenePos()).x()
        data = self.panes[i].data
        assert data is not None
        self.seek_requested.emit(float(min(max(t, 0.0), data.duration)))

    # ------------------------------------------------------------------ export
    def export_png(self, path: str | Path) -> Path:
        """Write what the panes show (at screen resolution) as a PNG, atomically."""
        target = Path(path)
        with atomic_path(target) as tmp:
            if not self.graphics.grab().save(str(tmp), "PNG"):
                raise OSError(f"{target}: the image could not be written")
        return target
