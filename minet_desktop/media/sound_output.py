"""Sound out: an :class:`AudioSink` that plays float32 samples, and :class:`Playback`, a clip played through one.

The sink is a ring buffer that the audio side drains. :class:`SoundDeviceSink` drains it from the
sounddevice (PortAudio) callback, which does nothing but copy samples out under a lock, never emits Qt
signals and never allocates much. Writers (the GUI thread's :class:`Playback` timer, live mode's generation
thread) keep a fraction of a second buffered ahead. The number of samples the device has consumed is the
clock the video follows (:meth:`AudioSink.played`).

:class:`NullSink` consumes samples in real time against ``time.monotonic`` without any device: tests use it,
and so does anything that wants the clock without the sound. :func:`open_sound_device` says why there is no
sound (no PortAudio, no output device) instead of raising, so the app can disable playback with a message
and keep everything else working.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from minet_desktop.core.ringbuffer import RingBuffer

log = logging.getLogger("minet_desktop")

#: Seconds of audio the sink can hold; writers stay well below (:data:`Playback.LEAD_S`).
SINK_CAPACITY_S = 4.0


class AudioSink(ABC):
    """Plays mono float32 samples at one sample rate, written from any thread.

    Subclasses drain :attr:`buffer` (under :attr:`lock`) as the samples are played and count them in
    ``_played``.
    """

    def __init__(self, sample_rate: int) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample rate must be positive, got {sample_rate}")
        self.sample_rate = int(sample_rate)
        self.lock = threading.Lock()
        self.buffer = RingBuffer(int(SINK_CAPACITY_S * sample_rate), (), np.float32)
        self._played = 0  # samples handed to the device since the last clear()
        self.underruns = 0  # callbacks that found fewer samples than asked for while playing

    def write(self, samples: np.ndarray) -> None:
        """Queue ``samples`` (1-D float32) after what is already buffered (the oldest go if it overflows)."""
        samples = np.asarray(samples, np.float32).reshape(-1)
        if samples.size:
            with self.lock:
                self.buffer.write(samples)

    def trim(self, max_samples: int) -> int:
        """Drop the oldest buffered samples beyond ``max_samples`` (live mode: newest wins); returns how many."""
        with self.lock:
            excess = len(self.buffer) - max(0, int(max_samples))
            if excess > 0:
                self.buffer.discard(excess)
                return excess
        return 0

    def buffered(self) -> int:
        """Samples written but not played yet."""
        with self.lock:
            return len(self.buffer)

    def played(self) -> int:
        """Samples played since the sink was opened or last cleared."""
        self._advance()
        with self.lock:
            return self._played

    def clear(self) -> None:
        """Drop everything buffered and restart the played-sample count (a seek)."""
        with self.lock:
            self.buffer.clear()
            self._played = 0

    def _take(self, n: int) -> np.ndarray:
        """``n`` samples for the device, zero-padded when the buffer runs dry (call with the lock held)."""
        got = self.buffer.read(n)
        self._played += got.size
        if got.size == n:
            return got
        out = np.zeros(n, np.float32)
        out[: got.size] = got
        return out

    def _advance(self) -> None:  # noqa: B027 (a hook most sinks leave empty)
        """Hook for sinks whose clock is not driven by a callback (:class:`NullSink`)."""

    @abstractmethod
    def close(self) -> None:
        """Stop playing and release the device."""


class NullSink(AudioSink):
    """Plays into nothing, in real time: samples are consumed as ``clock()`` advances.

    ``clock`` defaults to ``time.monotonic``; tests may pass their own to step time by hand.
    """

    def __init__(self, sample_rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(sample_rate)
        self._clock = clock
        self._last = clock()
        self._debt = 0.0
        self.written: list[np.ndarray] = []  # everything ever written, for tests (live mode)
        self.closed = False

    def write(self, samples: np.ndarray) -> None:
        self._advance()  # time spent with an empty buffer is silence, not credit for later samples
        samples = np.asarray(samples, np.float32).reshape(-1)
        if samples.size:
            self.written.append(samples.copy())
        super().write(samples)

    def clear(self) -> None:
        super().clear()
        self._last = self._clock()
        self._debt = 0.0

    def _advance(self) -> None:
        now = self._clock()
        with self.lock:
            self._debt += (now - self._last) * self.sample_rate
            self._last = now
            n = int(self._debt)
            if n <= 0:
                return
            self._debt -= n
            take = min(n, len(self.buffer))
            self.buffer.discard(take)
            self._played += take
            if take < n:
                self._debt = 0.0  # the device would have played silence meanwhile

    def close(self) -> None:
        self.closed = True


class SoundDeviceSink(AudioSink):
    """The default output device through sounddevice (PortAudio), started at once."""

    BLOCK = 256  # frames per callback: 16 ms at 16 kHz, so the clock the video follows is fine-grained

    def __init__(self, sample_rate: int) -> None:
        super().__init__(sample_rate)
        import sounddevice as sd

        self._stream = sd.OutputStream(
            samplerate=self.sample_rate,
            channels=1,
            dtype="float32",
            blocksize=self.BLOCK,
            latency="low",
            callback=self._callback,
        )
        self._stream.start()

    def _callback(self, outdata: np.ndarray, frames: int, time_info: object, status: object) -> None:
        # The audio thread: copy out of the ring buffer under the lock, nothing else (no Qt, no logging).
        with self.lock:
            if 0 < len(self.buffer) < frames:
                self.underruns += 1
            outdata[:, 0] = self._take(frames)

    def close(self) -> None:
        try:
            self._stream.stop()
            self._stream.close()
        except Exception:  # a device unplugged while playing must not break closing the window
            log.exception("closing the sound device failed")


SinkFactory = Callable[[int], AudioSink]


def open_sound_device(sample_rate: int) -> AudioSink:
    """A :class:`SoundDeviceSink` on the default output; :class:`NoSoundDevice` (saying why) if there is none."""
    try:
        import sounddevice as sd

        sd.query_devices(kind="output")  # raises when PortAudio has no default output device
        return SoundDeviceSink(sample_rate)
    except Exception as exc:  # OSError (no PortAudio library), sd.PortAudioError, ...
        raise NoSoundDevice(f"no sound output device ({type(exc).__name__}: {exc})") from None


class NoSoundDevice(Exception):
    """There is no way to play sound on this computer; the message says why."""


class Playback:
    """A clip (mono float32) played through a sink, with play / pause / seek and a clock.

    Lives on the GUI thread: :meth:`pump`, called from a timer, keeps :data:`LEAD_S` seconds queued in the
    sink. :meth:`time` is where the listener is (start of the last seek plus what the device has played),
    the clock the video follows.
    """

    LEAD_S = 0.25

    def __init__(self, sink: AudioSink, wave: np.ndarray, sample_rate: int) -> None:
        if sample_rate != sink.sample_rate:
            raise ValueError(f"clip at {sample_rate} Hz for a sink at {sink.sample_rate} Hz")
        self.sink = sink
        self.wave = np.ascontiguousarray(wave, np.float32).reshape(-1)
        self.sample_rate = int(sample_rate)
        self._origin = 0  # sample where playback (re)started
        self._next = 0  # next sample to queue
        self.playing = False

    @property
    def duration(self) -> float:
        return self.wave.size / self.sample_rate

    def position(self) -> int:
        """Sample being heard now."""
        if not self.playing:
            return self._origin
        return min(self._origin + self.sink.played(), self.wave.size)

    def time(self) -> float:
        return self.position() / self.sample_rate

    def finished(self) -> bool:
        return self.position() >= self.wave.size

    def play(self) -> None:
        if self.playing:
            return
        if self._origin >= self.wave.size:
            self._origin = 0
        self.sink.clear()
        self._next = self._origin
        self.playing = True
        self.pump()

    def pause(self) -> None:
        if not self.playing:
            return
        self._origin = self.position()
        self.playing = False
        self.sink.clear()

    def seek(self, seconds: float) -> None:
        was_playing = self.playing
        if was_playing:
            self.playing = False
            self.sink.clear()
        self._origin = int(min(max(seconds, 0.0), self.duration) * self.sample_rate)
        if was_playing:
            self.play()

    def pump(self) -> None:
        """Queue samples up to :data:`LEAD_S` ahead of what is being heard."""
        if not self.playing:
            return
        want = self.position() + int(self.LEAD_S * self.sample_rate)
        end = min(want, self.wave.size)
        if end > self._next:
            self.sink.write(self.wave[self._next : end])
            self._next = end


class SoundOutput:
    """The one sound device the app plays through, reopened when the sample rate changes.

    When there is no sound (no device, a broken driver) :attr:`problem` says so once, and the device is not
    tried again and again; playback is then disabled and everything else keeps working.
    """

    def __init__(self, sink_factory: SinkFactory | None = None) -> None:
        self._factory: SinkFactory = sink_factory or open_sound_device
        self.sink: AudioSink | None = None
        self.problem: str | None = None

    def sink_for(self, sample_rate: int) -> AudioSink | None:
        """A sink at ``sample_rate`` (the open one when it matches), or None when there is no sound."""
        if self.sink is not None and self.sink.sample_rate == sample_rate:
            return self.sink
        self.close()
        if self.problem is not None:
            return None
        try:
            self.sink = self._factory(sample_rate)
        except NoSoundDevice as exc:
            self.problem = f"Playback disabled: {exc}. Export still works."
            log.warning("%s", self.problem)
        except Exception as exc:
            log.exception("opening the sound device failed")
            self.problem = f"Playback disabled: the sound device failed ({exc}). Export still works."
        return self.sink

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()
            self.sink = None
