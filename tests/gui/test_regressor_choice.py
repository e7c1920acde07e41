"""Choosing "Frame regressor (Visually Indicated Music)" in the model list: the bundled one loads, or the user picks one, or the app
explains how to make one; then Generate runs the regressor (random tiny weights: noise, but the real path)."""

from __future__ import annotations

import pytest
import torch
from gui_helpers import VIDEO_FPS, VIDEO_FRAMES

from minet_desktop.gui import generation as generation_module
from minet_desktop.media.midi import Note, write_midi
from minet_desktop.model.bundle import build_modules, save_bundle
from minet_desktop.model.config import BundleConfig, RegressorBundleConfig
from minet_desktop.model.regressor import FrameRegressor, save_regressor_bundle
from minet_desktop.pose.keypoint_file import sidecar_path


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """Tiny random-weight bundles: ``minet``, ``frame_regressor`` and ``frame_regressor_midi``."""
    folder = tmp_path_factory.mktemp("regressor_bundles")
    torch.manual_seed(0)
    cfg = BundleConfig.tiny()
    out = {"minet": save_bundle(folder / "minet.safetensors", cfg, *build_modules(cfg), model_card="tiny")}
    for midi in (False, True):
        rcfg = RegressorBundleConfig.tiny(midi)
        name = rcfg.model_type
        out[name] = save_regressor_bundle(
            folder / f"{name}.safetensors", rcfg, FrameRegressor(rcfg.regressor), f"# Tiny {name}"
        )
    return out


@pytest.fixture
def shipped(monkeypatch, tmp_path):
    """``shipped({type: path})``: the app's resources/models/ holds exactly these bundles."""

    def install(available):
        monkeypatch.setattr(
            generation_module,
            "bundled_model_path",
            lambda model_type: available.get(model_type, tmp_path / "absent" / f"{model_type}.safetensors"),
        )

    return install


@pytest.fixture
def minet_window(make_window, bundles, qtbot, video_path, keypoint_file_for):
    keypoint_file_for(video_path).save(sidecar_path(video_path))
    window = make_window(model_path=bundles["minet"])
    qtbot.waitUntil(
        lambda: window.generation.session is not None and window.generation.model_job is None, timeout=10_000
    )
    assert window.open_and_wait(video_path)
    return window


def choose(window, model_type):
    """What the user does: pick the type in the panel's list."""
    combo = window.panel.model_combo
    index = combo.findData(model_type)
    assert index >= 0 and combo.isEnabled()
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def wait_loaded(window, qtbot, model_type):
    qtbot.waitUntil(
        lambda: window.generation.model_job is None and window.generation.session.model_type == model_type,
        timeout=10_000,
    )


def test_choosing_the_regressor_loads_the_shipped_one_and_generates_with_it(
    minet_window, shipped, bundles, qtbot
):
    window = minet_window
    shipped({"frame_regressor": bundles["frame_regressor"]})
    window.generation.ask_model_file = lambda title="": pytest.fail(
        "the shipped regressor needs no file dialog"
    )
    choose(window, "frame_regressor")
    wait_loaded(window, qtbot, "frame_regressor")
    assert window.errors == []
    assert (
        window.model_label.text()
        == "Model: frame_regressor.safetensors (Frame regressor (Visually Indicated Music))"
    )
    assert window.panel.model_combo.currentData() == "frame_regressor"
    assert "22050 Hz" in window.panel.model_name.text()

    window.generation.start()
    qtbot.waitUntil(lambda: window.generation.job is None, timeout=10_000)
    assert window.errors == []
    result = window.generation.result
    assert result.sample_rate == 22050
    assert result.waveform.shape[1] == round(VIDEO_FRAMES / VIDEO_FPS * 22050)
    pane = window.inspector.pane_data(0)
    assert pane is not None and pane.db.shape == result.spectrogram[0].shape == (
        513,
        result.spectrogram.shape[2],
    )


def test_without_a_shipped_regressor_the_user_picks_one_and_the_midi_variant_asks_for_notes(
    minet_window, shipped, bundles, qtbot, tmp_path
):
    window = minet_window
    shipped({})
    titles = []
    window.generation.ask_model_file = lambda title="": (
        titles.append(title) or str(bundles["frame_regressor_midi"])
    )
    choose(window, "frame_regressor_midi")
    wait_loaded(window, qtbot, "frame_regressor_midi")
    assert (
        titles
        and "Frame regressor + MIDI (Visually Indicated Music)" in titles[0]
        and "none ships" in titles[0]
    )
    assert window.panel.model_combo.currentData() == "frame_regressor_midi"

    window.generation.start()
    ((_, text),) = window.errors
    assert "MIDI" in text and window.generation.job is None
    window.errors.clear()
    assert window.generation.set_midi(
        write_midi(tmp_path / "tune.mid", [Note(0.0, 0.2, 69), Note(0.2, 0.4, 72)])
    )
    window.generation.start()
    qtbot.waitUntil(lambda: window.generation.job is None, timeout=10_000)
    assert window.errors == [] and window.generation.result.sample_rate == 22050


def test_without_a_regressor_cancelling_the_dialog_explains_and_keeps_the_loaded_model(
    minet_window, shipped, qtbot
):
    window = minet_window
    shipped({})
    window.generation.ask_model_file = lambda title="": ""
    choose(window, "frame_regressor")
    ((title, text),) = window.errors
    assert "Frame regressor (Visually Indicated Music)" in title
    assert "regressor.safetensors" in text and "minet-train regressor" in text
    assert window.generation.session.model_type == "minet" and window.generation.model_job is None
    assert window.panel.model_combo.currentData() == "minet"  # the list shows what is loaded


def test_a_bundle_of_another_type_loads_as_what_it_is(minet_window, shipped, bundles, qtbot):
    window = minet_window
    shipped({})
    window.generation.ask_model_file = lambda title="": str(bundles["frame_regressor"])
    choose(window, "frame_regressor_midi")
    wait_loaded(window, qtbot, "frame_regressor")
    assert window.panel.model_combo.currentData() == "frame_regressor"
    assert (
        "not a Frame regressor + MIDI (Visually Indicated Music) model" in window.statusBar().currentMessage()
    )

    # Back to MI Net: it ships with the app.
    shipped({"minet": bundles["minet"]})
    choose(window, "minet")
    wait_loaded(window, qtbot, "minet")
    assert window.errors == [] and window.panel.model_combo.currentData() == "minet"
