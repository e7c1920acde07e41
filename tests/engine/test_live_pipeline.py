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


def test_the_live_sink_plays_bursts_late_cuts_the_start_up_burst_and_settles_at_the_least_latency():
    sr = 1000
    now = [0.0]
    sink = NullSink(sr, clock=lambda: now[0])
    lag = AudioLag(sr, clock=lambda: now[0])

    def write(n: int) -> None:
        sink.write(np.zeros(n, np.float32))
        lag.after_write(sink, n)

    # Two codes' audio at once: all of it is played, nothing discarded.
    write(250)
    assert lag.discarded == 0 and sink.buffered() == 250
    # The start-up burst (a second of audio at once) is cut to the cap.
    write(1000)
    assert lag.discarded == 1250 - int(live_mod.MAX_AUDIO_LAG_S * sr) and sink.buffered() == 500
    # Blocks of 64 ms every 64 ms: the backlog never drains. Within start-up (a second and a half) it is cut
    # down to the jitter margin; from then on nothing is cut and nothing runs dry.
    levels, trims_at = [], []
    for _ in range(int(10 / 0.064)):
        now[0] += 0.064
        before = lag.trims
        write(64)
        levels.append(sink.buffered() - 64)  # what was left when the block came: it covered the gap
        trims_at += [now[0]] * (lag.trims - before)
    assert trims_at and max(trims_at) < 1.5 and lag.discarded > 1250 - 500
    settled = levels[int(1.5 / 0.064) :]
    assert min(settled) >= 1 and max(settled) <= live_mod.JITTER_MARGIN_S * sr + 1
    # Arrival jitter that the settled margin covers is not cut: blocks late by 30 ms now and then.
    trims = lag.trims
    for i in range(int(10 / 0.064)):
        now[0] += 0.064 + (0.03 if i % 7 == 0 else 0.0) - (0.03 if i % 7 == 1 else 0.0)
        write(64)
    assert lag.trims == trims
    # A backlog that builds up (frames faster than the rate the camera reports: +4 ms a block, 0.4 s in 6 s)
    # is cut back at the end of every window by what the window's lowest level had gained: it stays within two
    # windows' growth instead of growing without end.
    peak = 0
    for _ in range(int(12 / 0.060)):
        now[0] += 0.060
        write(64)
        peak = max(peak, sink.buffered())
    grows = live_mod.SETTLE_WINDOW_S / 0.060 * 4  # samples a window adds
    assert lag.trims > trims + 3 and peak <= live_mod.JITTER_MARGIN_S * sr + 2 * grows + 64 < 12 / 0.060 * 4


def test_the_pipeline_keeps_the_last_seconds_of_keypoints_and_passes_an_instrument_on(monkeypatch):
    """Live detection reads the newest seconds of movement; the instrument list reaches the generator."""
    monkeypatch.setattr(live_mod, "MIN_RECENT_S", 0.3)

    class Generator:
        latency_s = 0.1
        chosen: list = []

        def push_frames(self, keypoints):
            pass

        def pull_audio(self, max_samples=None):
            return np.zeros(0, np.float32)

        def set_instrument(self, code):
            self.chosen.append(code)

    camera = FakeCamera(camera_frames(size=(160, 120)), fps=100.0)
    live = LivePipeline(camera, FakePose, lambda fps: Generator(), NullSink(8000))
    assert live.recent_keypoints() is None and not live.set_instrument("va")  # nothing runs yet
    live.start()
    try:
        wait_until(lambda: live.recent_keypoints() is not None, timeout=5.0)
        kf = live.recent_keypoints()
        assert kf.keypoints.shape[1:] == (3, 47) and kf.keypoints.shape[0] >= 10
        assert kf.frame_size == (160, 120) and kf.detected_fraction == 1.0
        assert 20.0 < kf.fps < 150.0  # the rate frames were processed at
        assert kf.keypoints.shape[0] / kf.fps <= live_mod.RECENT_S + 0.1
        wait_until(lambda: live.generating, timeout=2.0)
        assert live.set_instrument("va") and live.set_instrument(None)
        assert Generator.chosen == ["va", None]
    finally:
        assert live.stop()
