"""The audio clock: sinks that count what they played, and Playback that keeps a little ahead of them."""

from __future__ import annotations

import numpy as np
import pytest

from minet_desktop.media.sound_output import NullSink, Playback


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_playback_clock_follows_what_the_sink_played():
    clock = Clock()
    sink = NullSink(1000, clock=clock)
    wave = np.arange(2000, dtype=np.float32)
    playback = Playback(sink, wave, 1000)
    playback.seek(0.5)
    playback.play()
    assert sink.buffered() == int(Playback.LEAD_S * 1000)  # only a little ahead, never the whole clip
    clock.now = 0.2
    assert playback.time() == pytest.approx(0.7)
    playback.pump()
    clock.now = 0.4
    assert playback.time() == pytest.approx(0.9)
    playback.pause()
    clock.now = 5.0
    assert playback.time() == pytest.approx(0.9) and sink.buffered() == 0
    playback.play()
    clock.now = 7.0
    playback.pump()
    clock.now = 9.0
    assert playback.finished() or playback.time() < 2.0
    np.testing.assert_array_equal(np.concatenate(sink.written)[:3], [500, 501, 502])


def test_sink_drops_the_oldest_when_full_and_counts_played():
    clock = Clock()
    sink = NullSink(100, clock=clock)
    sink.write(np.ones(1000, np.float32))  # more than its 4 s
    assert sink.buffered() == 400
    clock.now = 1.0
    assert sink.played() == 100 and sink.buffered() == 300
    sink.clear()
    assert sink.played() == 0 and sink.buffered() == 0
