"""Live webcam mode with a fake camera and a fake pose estimator: overlay, fps, latency, sound, disconnects."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from gui_helpers import VIDEO_SIZE, synthetic_keypoints

from minet_desktop.core.skeleton import hand_joint
from minet_desktop.engine.live import MAX_AUDIO_LAG_S
from minet_desktop.gui.overlay import RIGHT_HAND_COLOR, qimage_to_rgb
from minet_desktop.media.camera import FakeCamera
from minet_desktop.media.sound_output import NullSink
from minet_desktop.model.bundle import build_modules, save_bundle
from minet_desktop.model.config import BundleConfig

R_TIP = hand_joint("R", 4)


def camera_frames(n=4):
    w, h = VIDEO_SIZE
    return [np.full((h, w, 3), 30 + 40 * i, np.uint8) for i in range(n)]


class FakePose:
    """The synthetic performer of gui_helpers, moving a pixel per frame; records its thread."""

    threads: list[str] = []

    def __init__(self):
        self.n = 0
        FakePose.threads.append(threading.current_thread().name)

    def __call__(self, rgb):
        self.n += 1
        kp = synthetic_keypoints(1)[0]
        kp[0] += self.n % 5
        return kp

    def close(self):
        pass


@pytest.fixture
def live_window(make_window):
    cameras = {}

    def make(fail_after=None, fps=60.0, **kwargs):
        def factory(index):
            cameras[index] = FakeCamera(
                camera_frames(), fps=fps, fail_after=fail_after, name=f"fake camera {index}"
            )
            return cameras[index]

        window = make_window(
            camera_factory=factory,
            camera_list=lambda: [(0, "Fake camera 0"), (2, "Fake camera 2")],
            pose_factory=FakePose,
            **kwargs,
        )
        window.live.refresh_cameras()
        window.cameras = cameras
        return window

    return make


def test_live_mode_shows_overlay_frames_fps_and_latency(live_window, qtbot):
    window = live_window()
    assert window.panel.camera_combo.count() == 2
    window.panel.camera_combo.setCurrentIndex(1)
    window.panel.live_button.click()
    assert window.live.pipeline is not None and window.live_action.isChecked()
    assert window.panel.live_button.text() == "Stop Live"
    assert not window.play_action.isEnabled() and not window.generate_action.isEnabled()
    qtbot.waitUntil(
        lambda: "fps" in window.view.info() and window.live.pipeline.processed >= 10, timeout=3000
    )
    assert 2 in window.cameras  # the chosen camera
    assert FakePose.threads[-1] == "live-process"
    image = qimage_to_rgb(window.view.image())
    kp = window.live.pipeline.results.take() or None
    assert image.shape[:2] == (VIDEO_SIZE[1], VIDEO_SIZE[0])
    tip = synthetic_keypoints(1)[0][:, R_TIP]
    row = int(tip[1])
    colours = {tuple(image[row, c]) for c in range(int(tip[0]), int(tip[0]) + 6)}
    assert (RIGHT_HAND_COLOR.red(), RIGHT_HAND_COLOR.green(), RIGHT_HAND_COLOR.blue()) in colours
    assert window.live.pipeline.fps() > 10
    assert "latency" in window.view.info() and "ms" in window.view.info()
    assert "generation unavailable: no model loaded" in window.panel.live_label.text()
    del kp
    window.panel.live_button.click()
    assert window.live.pipeline is None and not window.live_action.isChecked()
    assert window.cameras[2].closed
    assert window.view.info() == ""
    assert window.errors == []


def test_a_camera_that_disappears_ends_live_mode_with_a_message(live_window, qtbot):
    window = live_window(fail_after=5)
    window.live.set_live(True)
    qtbot.waitUntil(lambda: window.live.pipeline is None, timeout=3000)
    ((title, text),) = window.errors
    assert "fake camera 0" in text and "stopped delivering frames" in text
    assert not window.live_action.isChecked() and window.panel.live_button.text() == "Start Live"
    assert window.cameras[0].closed
    window.errors.clear()
    window.live.set_live(True)  # the app is still usable: try again
    assert window.live.pipeline is not None
    window.live.set_live(False)


def test_a_camera_that_cannot_be_opened_gives_a_message(make_window):
    from minet_desktop.core.errors import InputError

    def refuse(index):
        raise InputError(f"camera {index}", "cannot be opened (unplugged, or in use by another program?)")

    window = make_window(camera_factory=refuse, camera_list=lambda: [(0, "Camera 0")])
    window.live.refresh_cameras()
    window.live.set_live(True)
    ((title, text),) = window.errors
    assert "camera 0" in text and "cannot be opened" in text
    assert window.live.pipeline is None and not window.live_action.isChecked()


def test_no_camera_found(make_window):
    window = make_window()
    window.live.refresh_cameras()
    assert window.panel.camera_combo.currentText() == "no camera found"
    assert not window.panel.live_button.isEnabled()


def test_closing_the_window_stops_live_mode(live_window, qtbot):
    window = live_window()
    window.live.set_live(True)
    live = window.live.pipeline
    qtbot.waitUntil(lambda: live.processed >= 2, timeout=2000)
    start = time.monotonic()
    window.close()
    assert time.monotonic() - start < 1.0
    assert not live.is_running() and window.cameras[0].closed


@pytest.mark.slow
def test_live_audio_is_generated_with_a_model(live_window, qtbot, tmp_path):
    torch.set_num_threads(1)
    cfg = BundleConfig.tiny()
    torch.manual_seed(1)
    bundle = save_bundle(tmp_path / "tiny.safetensors", cfg, *build_modules(cfg), model_card="# Tiny")
    sinks = []

    def sink_factory(rate):
        sinks.append(NullSink(rate))
        return sinks[-1]

    window = live_window(fps=120.0, model_path=bundle, sink_factory=sink_factory)
    qtbot.waitUntil(lambda: window.generation.session is not None, timeout=10_000)
    window.live.set_live(True)
    qtbot.waitUntil(
        lambda: bool(window.live.pipeline.generating and sinks and sinks[0].written), timeout=8000
    )
    assert "sound on" in window.view.info()
    assert sinks[0].sample_rate == cfg.audio.sample_rate
    assert window.live.pipeline.latency_s() > window.live.pipeline.audio_latency_s > 0
    # The burst after calibration is not kept as a backlog: what waits in the sink stays short.
    qtbot.wait(100)
    assert sinks[0].buffered() <= MAX_AUDIO_LAG_S * sinks[0].sample_rate + 1
    window.live.set_live(False)
