"""The live pipeline without Qt: camera -> keypoints -> (no) audio on two threads."""

from __future__ import annotations

import time

import numpy as np

from minet_desktop.engine.live import LivePipeline
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
