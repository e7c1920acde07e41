"""The live pipeline without Qt: camera -> keypoints -> (no) audio on two threads."""

from __future__ import annotations

import time

import numpy as np

from minet_desktop.engine import live as live_mod
from minet_desktop.engine.live import AudioLag, LivePipeline
from minet_desktop.media.camera import FakeCamera
from minet_desktop.media.sound_output import NullSink


def camera_frames(n=4, size=(160, 120)):
    w, h = size
    return [np.full((h, w, 3), 30 + 40 * i, np.uint8) for i in range(n)]


class FakePose:
    def __call__(self, rgb):
        return np.full((3, 47), 0.5, np.float32)

    def close(self):
        pass


def wait_until(condition, timeout):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_live_pipeline_without_generation_reports_why():
    def broken_generator(fps):
        raise RuntimeError("live mode needs an MI Net model without MIDI conditioning")

    camera = FakeCamera(camera_frames(), fps=100.0)
    live = LivePipeline(camera, FakePose, broken_generator, NullSink(8000))
    live.start()
    try:
        wait_until(lambda: live.processed >= 3, timeout=2.0)
        assert "without MIDI" in live.generation_error and not live.generating
        assert live.results.take().keypoints.shape == (3, 47)
    finally:
        assert live.stop()
    assert camera.closed


def test_the_live_sink_plays_bursts_late_instead_of_cutting_them_and_drops_a_backlog_that_never_drains():
    now = [0.0]
    sink = NullSink(1000, clock=lambda: now[0])
    lag = AudioLag(1000, clock=lambda: now[0])
    # Two codes' audio at once, then nothing for a while: all of it is played, nothing discarded.
    sink.write(np.zeros(250, np.float32))
    lag.after_write(sink)
    assert lag.discarded == 0 and sink.buffered() == 250
    # The start-up burst (a second of audio at once) is cut to the cap.
    sink.write(np.zeros(1000, np.float32))
    lag.after_write(sink)
    assert lag.discarded == 1250 - int(live_mod.MAX_AUDIO_LAG_S * 1000) and sink.buffered() == 500
    # A backlog that stays above the drift level for a whole window is dropped to it, once.
    for _ in range(int(live_mod.DRIFT_WINDOW_S / 0.1) + 1):
        now[0] += 0.1
        sink.write(np.zeros(100, np.float32))  # as fast as it plays: the backlog never drains
        lag.after_write(sink)
    assert sink.buffered() <= live_mod.DRIFT_LAG_S * 1000 + 100
    assert lag.discarded > 1250 - 500
