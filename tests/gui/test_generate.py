"""Model, Generate, listening, export: open -> overlay -> Generate -> progress -> audio -> spectrogram -> files.

A tiny random-weight bundle (``BundleConfig.tiny()``) makes noise, but every step is the real one: the
engine's session on a worker thread, the audio clock driving the video, the inspector, WAV and MP4 export.
"""

from __future__ import annotations

import threading
import time

import av
import numpy as np
import pytest
import soundfile as sf
import torch
from gui_helpers import VIDEO_FPS, VIDEO_FRAMES, write_test_video
from PySide6.QtCore import Qt

from minet_desktop.core.errors import Cancelled
from minet_desktop.core.skeleton import hand_joint
from minet_desktop.engine.progress import Progress
from minet_desktop.gui import settings as app_settings
from minet_desktop.gui.generation import NO_MODEL
from minet_desktop.gui.overlay import RIGHT_HAND_COLOR, qimage_to_rgb
from minet_desktop.media.export import mux_audio
from minet_desktop.media.midi import Note, write_midi
from minet_desktop.media.sound_output import NoSoundDevice, NullSink
from minet_desktop.model.bundle import build_modules, save_bundle
from minet_desktop.model.config import BundleConfig
from minet_desktop.pose.keypoint_file import sidecar_path

R_TIP = hand_joint("R", 4)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared; the tiny model does not need more
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """``{"minet": path, "minet_midi": path}``: tiny bundles with random weights and a model card."""
    folder = tmp_path_factory.mktemp("bundles")
    out = {}
    for model_type in ("minet", "minet_midi"):
        cfg = BundleConfig.tiny(model_type)
        torch.manual_seed(1)
        out[model_type] = save_bundle(
            folder / f"{model_type}.safetensors",
            cfg,
            *build_modules(cfg),
            model_card=f"# Tiny {model_type}\n\nRandom weights, **for tests**.",
        )
    return out


@pytest.fixture
def model_window(make_window, bundles, qtbot):
    def make(model_type="minet", **kwargs):
        window = make_window(model_path=bundles[model_type], **kwargs)
        qtbot.waitUntil(
            lambda: window.generation.session is not None and window.generation.model_job is None,
            timeout=10_000,
        )
        return window

    return make


@pytest.fixture
def video_with_keypoints(video_path, keypoint_file_for):
    keypoint_file_for(video_path).save(sidecar_path(video_path))
    return video_path


def wait_generated(window, qtbot, timeout=10_000):
    qtbot.waitUntil(lambda: window.generation.job is None, timeout=timeout)
    assert window.errors == []
    assert window.generation.result is not None


class SlowGeneration:
    """Stands in for Session.iter_generate: yields progress forever (until closed), 5 ms apart."""

    def __init__(self):
        self.closed = threading.Event()
        self.steps = 0

    def __call__(self, keypoints, notes=None, **options):
        try:
            while True:
                self.steps += 1
                time.sleep(0.005)
                yield Progress("codes", self.steps, 10_000, min(self.steps / 10_000, 1.0))
        finally:
            self.closed.set()


# ------------------------------------------------------------------ no model, bad model
def test_without_a_model_the_app_says_so_and_generate_explains(window, video_with_keypoints):
    assert window.model_label.text() == NO_MODEL
    assert "no model loaded" in window.panel.model_name.text()
    assert window.panel.model_combo.currentIndex() == -1  # no type shown; choosing one loads a model
    window.open_and_wait(video_with_keypoints)
    assert window.panel.generate_button.isEnabled()
    window.panel.generate_button.click()
    ((title, text),) = window.errors
    assert "No model loaded" in text and "Open Model" in text
    assert window.generation.job is None


def test_a_bundle_that_does_not_load_names_the_file_and_the_app_stays_usable(
    window, qtbot, tmp_path, video_with_keypoints
):
    junk = tmp_path / "broken.safetensors"
    junk.write_bytes(b"this is not a model bundle at all")
    window.generation.open_model(junk)
    qtbot.waitUntil(lambda: window.generation.model_job is None, timeout=5000)
    ((title, text),) = window.errors
    assert "broken.safetensors" in text and "bundle" in text and "Traceback" not in text
    assert window.generation.session is None and window.model_label.text() == NO_MODEL
    assert window.open_and_wait(video_with_keypoints)  # still usable


def test_loading_a_model_shows_it_everywhere(model_window, bundles):
    window = model_window()
    assert window.model_label.text() == "Model: minet.safetensors (Multi-Instrumentalist Net)"
    assert window.device_label.text().startswith("Device: CPU")
    combo = window.panel.model_combo
    assert combo.isEnabled() and combo.currentData() == "minet"
    tips = {combo.itemData(i): combo.model().item(i).toolTip() for i in range(combo.count())}
    assert tips["minet"] == "the loaded model"
    assert all("load the app's model of this type" in tips[t] for t in tips if t != "minet")
    about = window.about_text()
    assert "Tiny minet" in about and "for tests" in about and "minet.safetensors" in about
    # Remembered for the next start.
    settings = app_settings.open_settings()
    assert settings.value(app_settings.KEY_MODEL) == str(bundles["minet"])


# ------------------------------------------------------------------ the whole flow
def test_open_overlay_generate_listen_inspect_export(model_window, qtbot, tmp_path, video_with_keypoints):
    window = model_window()
    assert window.open_and_wait(video_with_keypoints)
    image = qimage_to_rgb(window.view.image())
    kp = window.transport.keypoints_for_frame(0)
    assert tuple(image[int(kp[1, R_TIP]), int(kp[0, R_TIP])]) == (
        RIGHT_HAND_COLOR.red(),
        RIGHT_HAND_COLOR.green(),
        RIGHT_HAND_COLOR.blue(),
    )
    assert window.inspector.pane_data(0) is None
    assert not window.panel.export_wav_button.isEnabled()

    window.panel.takes_spin.setValue(2)
    window.panel.seed_spin.setValue(7)
    fractions = []
    window.panel.generate_button.click()
    job = window.generation.job
    assert job is not None
    job.progress.connect(lambda label, done, total: fractions.append(done / total))
    wait_generated(window, qtbot)

    result = window.generation.result
    assert result.takes == 2 and result.seeds == [7, 8]
    assert result.waveform.shape[1] == round(VIDEO_FRAMES / VIDEO_FPS * result.sample_rate)
    assert fractions and fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert window.panel.take_combo.count() == 2 and window.panel.take_combo.isEnabled()
    assert "2 take(s)" in window.panel.stage_label.text()
    assert not window.panel.progress_bar.isVisible()

    pane = window.inspector.pane_data(0)
    assert pane is not None and "take 1" in pane.title
    assert pane.db.shape == result.spectrogram[0].shape
    window.panel.take_combo.setCurrentIndex(1)
    assert "take 2" in window.inspector.pane_data(0).title
    assert window.transport.playback is not None
    np.testing.assert_array_equal(window.transport.playback.wave, result.waveform[1])

    # Play: the audio clock drives the video and the playhead.
    window.transport.play()
    assert window.transport.playback.playing
    qtbot.waitUntil(lambda: window.transport.frame_index >= 3, timeout=2000)
    assert window.inspector.playhead > 0
    assert abs(window.transport.playback.time() - window.transport.frame_index / VIDEO_FPS) < 2.5 / VIDEO_FPS
    qtbot.waitUntil(lambda: not window.transport.is_playing(), timeout=3000)  # stops at the end of the audio
    assert window.transport.frame_index == VIDEO_FRAMES - 1

    wav = tmp_path / "out.wav"
    assert window.exporter.export_wav(wav)
    data, rate = sf.read(str(wav), dtype="float32")
    assert rate == result.sample_rate and data.shape == (result.waveform.shape[1],)

    mp4 = tmp_path / "out.mp4"
    assert window.exporter.export_mp4(mp4)
    qtbot.waitUntil(lambda: window.exporter.job is None, timeout=10_000)
    assert window.errors == []
    with av.open(str(mp4)) as container:
        assert container.streams.video and container.streams.audio
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == VIDEO_FRAMES
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".wav", ".mp4")) == [
        "out.mp4",
        "out.wav",
    ]

    png = tmp_path / "spectrogram.png"
    assert window.exporter.export_png(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_generate_extracts_the_keypoints_first_when_there_are_none(
    model_window, qtbot, monkeypatch, video_path, keypoint_file_for
):
    calls = []

    def fake_extract(path, progress=None, should_cancel=None, use_sidecar=True):
        calls.append(threading.current_thread().name)
        for i in range(5):
            progress(i + 1, 5)
        return keypoint_file_for(video_path)

    monkeypatch.setattr("minet_desktop.pose.extract.keypoints_for_video", fake_extract)
    window = model_window()
    window.open_and_wait(video_path)
    assert window.keypoints is None
    labels = []
    window.generation.start()
    window.generation.job.progress.connect(lambda label, done, total: labels.append(label))
    wait_generated(window, qtbot)
    assert calls and calls[0] != threading.main_thread().name
    assert window.keypoints is not None  # the overlay now has them
    assert labels[0] == "finding keypoints"


# ------------------------------------------------------------------ cancel, close, supersede
def test_cancel_during_generation_lands_fast(model_window, qtbot, video_with_keypoints):
    window = model_window()
    slow = SlowGeneration()
    window.generation.session.iter_generate = slow
    window.open_and_wait(video_with_keypoints)
    window.generation.start()
    qtbot.waitUntil(lambda: window.panel.progress_bar.value() > 0 or slow.steps > 3, timeout=2000)
    assert window.panel.progress_bar.isVisible() and window.panel.cancel_button.isEnabled()
    start = time.monotonic()
    qtbot.mouseClick(window.panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.generation.job is None, timeout=1000)
    assert time.monotonic() - start < 1.0
    assert slow.closed.is_set()
    assert window.generation.result is None and window.errors == []
    assert window.panel.stage_label.text() == "cancelled"
    assert window.panel.generate_button.isEnabled()


def test_closing_during_generation_cancels_and_joins(model_window, qtbot, video_with_keypoints):
    window = model_window()
    slow = SlowGeneration()
    window.generation.session.iter_generate = slow
    window.open_and_wait(video_with_keypoints)
    window.generation.start()
    job = window.generation.job
    qtbot.waitUntil(lambda: slow.steps > 3, timeout=2000)
    start = time.monotonic()
    window.close()
    assert time.monotonic() - start < 1.0
    assert slow.closed.is_set() and not job.is_running()
    assert window.generation.job is None


def test_a_new_request_supersedes_the_running_generation(model_window, qtbot, video_with_keypoints):
    window = model_window()
    slow = SlowGeneration()
    real = window.generation.session.iter_generate
    window.generation.session.iter_generate = slow
    window.open_and_wait(video_with_keypoints)
    window.generation.start()
    first = window.generation.job
    qtbot.waitUntil(lambda: slow.steps > 3, timeout=2000)
    window.generation.session.iter_generate = real
    window.generation.start()  # asks again while running
    qtbot.waitUntil(lambda: window.generation.result is not None, timeout=10_000)
    assert slow.closed.is_set() and first is not window.generation.job
    assert window.errors == []


def test_generation_failure_is_one_line(model_window, qtbot, video_with_keypoints):
    window = model_window()

    def broken(keypoints, notes=None, **options):
        yield Progress("motion", 1, 2, 0.01)
        raise RuntimeError("the prior fell over")

    window.generation.session.iter_generate = broken
    window.open_and_wait(video_with_keypoints)
    window.generation.start()
    qtbot.waitUntil(lambda: window.generation.job is None, timeout=2000)
    ((title, text),) = window.errors
    assert "the prior fell over" in text and "Traceback" not in text
    assert window.panel.generate_button.isEnabled()


# ------------------------------------------------------------------ MIDI
def test_midi_that_does_not_parse_names_the_file(model_window, tmp_path):
    window = model_window()
    bad = tmp_path / "notes.mid"
    bad.write_bytes(b"MThd garbage")
    assert not window.generation.set_midi(bad)
    ((title, text),) = window.errors
    assert "notes.mid" in text
    assert window.panel.midi_label.text() == "none"


def test_midi_model_needs_notes_and_plays_them(model_window, qtbot, tmp_path, video_with_keypoints):
    window = model_window("minet_midi")
    assert window.panel.model_combo.currentData() == "minet_midi"
    window.open_and_wait(video_with_keypoints)
    window.generation.start()
    ((title, text),) = window.errors
    assert "MIDI" in text and window.generation.job is None
    window.errors.clear()

    midi = write_midi(tmp_path / "tune.mid", [Note(0.0, 0.2, 69), Note(0.2, 0.4, 72)])
    assert window.generation.set_midi(midi)
    assert window.panel.midi_label.text() == "tune.mid (2 notes)"
    roll = window.inspector.pane_data(1)
    assert roll is not None and roll.piano_roll and "tune.mid" in roll.title
    window.generation.start()
    wait_generated(window, qtbot)
    assert window.inspector.pane_data(1).piano_roll  # still compared with the notes


# ------------------------------------------------------------------ A/B and no sound device
def test_original_audio_track_is_the_b_side(model_window, qtbot, tmp_path, keypoint_file_for):
    avi = write_test_video(tmp_path / "silent.avi")
    rate = 8000
    t = np.arange(int(VIDEO_FRAMES / VIDEO_FPS * rate)) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    video = mux_audio(avi, tone, rate, tmp_path / "with_sound.mp4")
    keypoint_file_for(video).save(sidecar_path(video))

    window = model_window()
    window.open_and_wait(video)
    assert window.panel.original_radio.isEnabled()
    original = window.inspector.pane_data(1)
    assert original is not None and "Original audio" in original.title
    window.generation.start()
    wait_generated(window, qtbot)
    generated = window.transport.playback.wave
    window.panel.original_radio.setChecked(True)
    assert window.transport.playback.wave.size != generated.size or not np.array_equal(
        window.transport.playback.wave, generated
    )
    assert window.transport.playback.sample_rate == window.comparison.original[1]
    window.panel.generated_radio.setChecked(True)
    np.testing.assert_array_equal(window.transport.playback.wave, generated)


def test_without_a_sound_device_playback_is_disabled_and_export_works(
    model_window, qtbot, tmp_path, video_with_keypoints
):
    def no_device(sample_rate):
        raise NoSoundDevice("no sound output device (PortAudioError: Error querying device -1)")

    window = model_window(sink_factory=no_device)
    window.open_and_wait(video_with_keypoints)
    window.generation.start()
    wait_generated(window, qtbot)
    assert window.transport.playback is None
    assert "Playback disabled" in window.panel.audio_label.text()
    assert "Export still works" in window.panel.audio_label.text()
    window.transport.play()  # the video still plays, on its own clock
    assert window.transport.is_playing()
    window.transport.pause()
    assert window.exporter.export_wav(tmp_path / "still.wav")


def test_generation_settings_are_remembered(make_window):
    window = make_window()
    window.panel.takes_spin.setValue(3)
    window.panel.temperature_spin.setValue(0.8)
    window.panel.random_seed.setChecked(True)
    window.inspector.set_colormap("viridis")
    window.inspector.set_log_frequency(True)
    window._save_inspector_settings()
    window.close()
    again = make_window()
    assert again.panel.options().takes == 3
    assert again.panel.options().temperature == pytest.approx(0.8)
    assert again.panel.options().seed is None
    assert again.inspector.colormap == "viridis" and again.inspector.log_frequency


def test_null_sink_is_what_tests_play_through(model_window):
    window = model_window()
    assert window.transport.sound.sink is None  # opened on first use only
    assert isinstance(window.transport.sound.sink_for(8000), NullSink)


_ = Cancelled  # (imported for readers: SlowGeneration ends by being closed, not by raising)
