"""The spectrogram inspector, without a main window."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from minet_desktop.gui.inspector import DB_PER_NEPER, PaneData, SpectrogramInspector, note_name

SR, N_FFT, HOP, BINS = 8000, 64, 16, 32  # BundleConfig.tiny()'s audio
FRAME_RATE = SR / HOP
BIN_HZ = SR / N_FFT  # 125 Hz


@pytest.fixture
def inspector(qtbot):
    widget = SpectrogramInspector()
    qtbot.addWidget(widget)
    widget.resize(700, 500)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def tone_pane(k=4, frames=100):
    """-100 dB everywhere except bin ``k`` (k * 125 Hz) at -6 dB."""
    logspec = np.full((BINS, frames), -100.0 / DB_PER_NEPER, np.float32)
    logspec[k] = -6.0 / DB_PER_NEPER
    return PaneData.from_log_spectrogram("Generated", logspec, FRAME_RATE, SR, N_FFT)


def test_note_names():
    assert note_name(440.0) == "A4"
    assert note_name(261.63) == "C4"
    assert note_name(450.0) == "A4 +39c"
    assert note_name(0.0) == "–"


def test_crosshair_reads_time_hz_db_and_note(inspector):
    inspector.set_panes(tone_pane(k=4), None)
    text = inspector.show_crosshair(0, 0.1, 500.0)  # bin 4 = 500 Hz, the tone
    assert text == "0.100 s   500.0 Hz   B4 +21c   -6.0 dB"
    assert inspector.readout.text() == text
    assert "-100.0 dB" in inspector.show_crosshair(0, 0.1, 1000.0)
    assert inspector.show_crosshair(0, 99.0, 500.0) == ""  # outside the data
    assert inspector.readout_at(1, 0.1, 500.0) == ""  # empty pane
    # Levels follow the data: loudest at the top of an 80 dB range.
    assert inspector.db_range() == (-85.0, -5.0)


def test_log_frequency_maps_hz_to_log10(inspector):
    inspector.set_panes(tone_pane(), None)
    inspector.set_log_frequency(True)
    assert inspector.scale_combo.currentText() == "Log"
    assert inspector.y_of_hz(1000.0) == pytest.approx(3.0)
    assert inspector.hz_of_y(2.0) == pytest.approx(100.0)
    image = inspector.panes[0].image.image
    assert image.shape[0] > BINS  # resampled onto a log grid
    y0, y1 = inspector.panes[0].plot.vb.viewRange()[1]
    assert 10**y0 == pytest.approx(125.0, rel=0.01) and 10**y1 == pytest.approx(31 * 125.0, rel=0.01)


def test_panes_share_the_time_axis_and_zoom_both_ways(inspector, qtbot):
    inspector.set_panes(tone_pane(), tone_pane(k=8))
    top, bottom = (p.plot.vb for p in inspector.panes)
    qtbot.wait(20)  # let the layout give both panes their size
    top.setXRange(0.05, 0.1, padding=0)
    assert bottom.viewRange()[0] == pytest.approx([0.05, 0.1], abs=1e-3)
    top.setYRange(500, 1000, padding=0)
    assert top.viewRange()[1] == pytest.approx([500, 1000], abs=1e-6)
    assert top.state["mouseEnabled"] == [True, True]
    inspector.reset_view()
    assert top.viewRange()[0] == pytest.approx([-0.5 / FRAME_RATE, 99.5 / FRAME_RATE], abs=1e-6)


def test_click_seeks_and_playhead_follows(inspector, qtbot):
    inspector.set_panes(tone_pane(), None)
    vb = inspector.panes[0].plot.vb
    scene = vb.mapViewToScene(vb.mapToView(vb.boundingRect().center()))
    target_t = vb.mapSceneToView(scene).x()
    view_pos = inspector.graphics.mapFromScene(scene)
    with qtbot.waitSignal(inspector.seek_requested, timeout=1000) as blocker:
        qtbot.mouseClick(
            inspector.graphics.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(view_pos.x(), view_pos.y())
        )
    assert blocker.args[0] == pytest.approx(target_t, abs=0.02)
    inspector.set_playhead(0.3)
    assert all(p.playhead.value() == pytest.approx(0.3) for p in inspector.panes)


def test_colormap_and_db_range(inspector):
    inspector.set_panes(tone_pane(), None)
    inspector.colormap_combo.setCurrentIndex(inspector.colormap_combo.findData("viridis"))
    assert inspector.colormap == "viridis"
    inspector.set_db_range(-60, -10)
    assert tuple(inspector.panes[0].image.levels) == (-60, -10)


def test_piano_roll_lines_up_with_the_frequency_bins(inspector):
    roll = np.zeros((50, 128), np.float32)
    roll[10:20, 71] = 1.0  # B4, 493.9 Hz: nearest bin 4 (500 Hz)
    pane = PaneData.from_piano_roll("MIDI", roll, FRAME_RATE, BINS, BIN_HZ)
    inspector.set_panes(None, pane)
    assert inspector.readout_at(1, 15 / FRAME_RATE, 500.0).endswith("note on")
    assert inspector.readout_at(1, 30 / FRAME_RATE, 500.0).endswith("no note")


def test_export_png_writes_a_png(inspector, tmp_path):
    inspector.set_panes(tone_pane(), None)
    out = inspector.export_png(tmp_path / "spec.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
