"""Live webcam mode: the capture/pose/audio pipeline beside the streaming engine (no Qt).

Two plain threads, and nothing queues between them:

* *capture* reads the camera as fast as it delivers and puts each frame in a :class:`LatestSlot`, replacing
  the one before if nobody took it;
* *process* takes the newest frame, finds the keypoints (MediaPipe, or an injected estimator), pushes them to
  the :class:`~minet_desktop.engine.streaming.LiveGenerator` when there is one, writes the audio it releases
  to the sink, and puts the result (frame + keypoints + timings) in a second :class:`LatestSlot`.

The GUI thread pulls :attr:`LivePipeline.results` from a timer (STYLE: "the newest camera frame wins"): no
Qt signal crosses from these threads, so a slow GUI drops frames instead of building a backlog. A camera that
stops delivering frames ends the capture thread and sets :attr:`LivePipeline.error`, which the GUI reads on
its next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from minet_desktop.core.latest import LatestSlot
from minet_desktop.media.camera import CameraSource
from minet_desktop.pose.keypoint_file import KeypointFile
from minet_desktop.pose.live import PoseEstimator

log = logging.getLogger("minet_desktop")

#: Most audio live mode lets wait in the sink: more (the burst of the calibration second at start-up) is
#: dropped, oldest first. Below it the sink is a jitter buffer: a push that completes two codes at once, or a
#: slow frame, is played late rather than cut (a cap of 0.12 s discarded about 0.2 s every 10 s, audible gaps).
MAX_AUDIO_LAG_S = 0.5
#: Audio still queued when the next block arrives is latency, unless it is what covers the gaps between
#: blocks. Over every SETTLE_WINDOW_S the sink's lowest level just before a write is its slack: a slack above
#: EXCESS_LAG_S is cut down to JITTER_MARGIN_S. After the start-up burst this settles the stream at the
#: least latency that plays without gaps (issue 16: a steady 0.1 s backlog that the former 0.15-s drift level
#: kept was a third of the camera-to-audible latency); later it only acts on a backlog that builds up (a
#: camera delivering frames faster than the rate it reports), not on the arrival jitter it measured.
SETTLE_WINDOW_S = 2.0
#: Windows are this short from the first audio (the calibration second's burst) until one ends without a cut,
#: so that the burst's backlog is gone within start-up (3 cycles of the 128-ms pattern in which 64-ms codes
#: complete on 24-fps camera frames).
FIRST_WINDOW_S = 0.4
JITTER_MARGIN_S = 0.04
EXCESS_LAG_S = 0.08
#: Seconds of the newest keypoints kept for reading the instrument from the live movement (two of detection's
#: 4-s windows).
RECENT_S = 8.0
#: Fewest seconds of keypoints worth reading an instrument from.
MIN_RECENT_S = 2.0


class AudioLag:
    """How much generated audio may wait in a live sink (:data:`MAX_AUDIO_LAG_S`, :data:`EXCESS_LAG_S`).

    :meth:`after_write` is called after every write with the samples written; it trims the sink (counted in
    :attr:`discarded`) only for a burst beyond the cap or for slack beyond what the arrival jitter needs.
    """

    def __init__(self, sample_rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.sample_rate, self._clock = sample_rate, clock
        self.discarded = 0
        self.trims = 0
        self._window_start: float | None = None
        self._window = FIRST_WINDOW_S
        self._slack = float("inf")  # lowest level just before a write in the current window (samples)
        self.queued: deque[int] = deque(maxlen=32)  # the level just before each recent write (samples)

    def after_write(self, sink: Any, written: int) -> None:
        level = sink.buffered()
        before = max(0, level - written)  # what was still queued when this block arrived
        cut = sink.trim(int(MAX_AUDIO_LAG_S * self.sample_rate))
        if cut:
            self.discarded += cut
            self.trims += 1
            before = min(before, sink.buffered())
        now = self._clock()
        if self._window_start is None:  # the first audio: nothing was queued before it, by definition
            self._window_start = now
            return
        self._slack = min(self._slack, before)
        self.queued.append(before)
        if now - self._window_start < self._window:
            return
        excess = self._slack - JITTER_MARGIN_S * self.sample_rate
        n = 0
        if self._slack > EXCESS_LAG_S * self.sample_rate and excess >= 1:
            n = sink.trim(max(0, sink.buffered() - int(excess)))
            self.discarded += n
            self.trims += 1 if n else 0
        if not n:
            self._window = SETTLE_WINDOW_S  # settled
        self._window_start, self._slack = now, float("inf")


@dataclass
class LiveFrame:
    """One processed camera frame."""

    rgb: np.ndarray  # (H, W, 3) uint8
    keypoints: np.ndarray | None  # (3, 47) pixels, or None when no estimator ran
    index: int  # frames captured before this one
    captured_at: float  # time.monotonic() when the camera returned it
    processed_at: float  # ... when its keypoints (and audio) were done


class LiveAudio(Protocol):
    """What live mode needs of :class:`~minet_desktop.engine.streaming.LiveGenerator`."""

    latency_s: float

    def push_frames(self, keypoints: np.ndarray) -> None: ...

    def pull_audio(self, max_samples: int | None = None) -> np.ndarray: ...


class LivePipeline:
    """Camera -> keypoints (-> live audio) on two threads; the GUI pulls :attr:`results`.

    Parameters
    ----------
    camera
        Opened camera; closed by :meth:`stop`.
    pose_factory
        Builds the keypoint estimator on the processing thread (MediaPipe graphs stay on one thread);
        None shows the camera without keypoints.
    generator_factory
        ``generator_factory(fps)`` builds the live audio generator on the processing thread; None: no sound.
        If it raises, :attr:`generation_error` says why and the overlay keeps going.
    sink
        Where the generated audio goes (:class:`~minet_desktop.media.sound_output.AudioSink`), or None.
    """

    def __init__(
        self,
        camera: CameraSource,
        pose_factory: Callable[[], PoseEstimator] | None = None,
        generator_factory: Callable[[float], LiveAudio] | None = None,
        sink: Any | None = None,
    ) -> None:
        self.camera = camera
        self._pose_factory = pose_factory
        self._generator_factory = generator_factory
        self.sink = sink
        self.frames: LatestSlot[tuple[np.ndarray, int, float]] = LatestSlot()
        self.results: LatestSlot[LiveFrame] = LatestSlot()
        self._stop = threading.Event()
        self._times: deque[float] = deque(maxlen=64)  # processed_at of recent frames
        self._latencies: deque[float] = deque(maxlen=16)
        self._stats_lock = threading.Lock()
        self.error: str | None = None  # the camera failed: live mode must end
        self.generation_error: str | None = None  # no live audio, the overlay goes on
        self.generating = False
        self.audio_latency_s = 0.0
        self.audio_lag: AudioLag | None = None  # the sink's trimming (its discarded count), once running
        self.captured = 0
        self.processed = 0
        self._recent: deque[tuple[float, np.ndarray]] = deque()  # (captured_at, (3, 47) keypoints)
        self._frame_size = (0, 0)
        self._generator: LiveAudio | None = None
        self._capture = threading.Thread(target=self._capture_loop, name="live-capture", daemon=True)
        self._process = threading.Thread(target=self._process_loop, name="live-process", daemon=True)

    def start(self) -> None:
        self._capture.start()
        self._process.start()

    def stop(self, timeout: float = 3.0) -> bool:
        """Stop both threads and close the camera; False if a thread did not end within ``timeout``."""
        self._stop.set()
        ok = True
        for thread in (self._capture, self._process):
            if thread.is_alive():
                thread.join(timeout)
                ok = ok and not thread.is_alive()
        if ok:
            self.camera.close()
        else:
            log.warning("live mode: a thread did not stop within %.1f s", timeout)
        return ok

    def is_running(self) -> bool:
        return self._capture.is_alive() or self._process.is_alive()

    # -- statistics (any thread) -------------------------------------------------------------------
    def fps(self) -> float:
        """Frames processed per second over the last ~2 s."""
        with self._stats_lock:
            times = [t for t in self._times if t >= time.monotonic() - 2.0]
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def latency_s(self) -> float:
        """Camera frame -> audible: its keypoints (median of recent frames), and when generating the
        generator's buffering plus the audio still queued in the sink when a new block arrives (median of
        recent blocks: what every sample of the block waits for before it plays)."""
        with self._stats_lock:
            lat = sorted(self._latencies)
        pose = lat[len(lat) // 2] if lat else 0.0
        audio = 0.0
        if self.generating:
            audio = self.audio_latency_s
            lag = self.audio_lag
            if self.sink is not None and lag is not None and lag.queued:
                queued = sorted(lag.queued)
                audio += queued[len(queued) // 2] / self.sink.sample_rate
        return pose + audio

    def recent_keypoints(self, seconds: float = RECENT_S) -> KeypointFile | None:
        """The newest ``seconds`` of keypoints as a keypoint file, at the rate they were processed (the newest
        frame wins, so it can be below the camera's), or None while there are fewer than ``MIN_RECENT_S``."""
        with self._stats_lock:
            recent = list(self._recent)
        if recent:
            recent = [r for r in recent if r[0] >= recent[-1][0] - seconds]
        span = recent[-1][0] - recent[0][0] if len(recent) > 1 else 0.0
        if span < MIN_RECENT_S:
            return None
        keypoints = np.stack([k for _, k in recent]).astype(np.float32)
        detected = float(np.mean([(k[2] > 0).any() for _, k in recent]))
        return KeypointFile(
            keypoints=keypoints,
            fps=(len(recent) - 1) / span,
            frame_size=self._frame_size,
            source_sha256="0" * 64,
            source_name=f"{self.camera.name} (live)",
            detected_fraction=detected,
        )

    def set_instrument(self, code: str | None) -> bool:
        """Play ``code`` from now on (None: the instrument the movement shows); False when no generator that
        can change it runs (yet)."""
        generator = self._generator
        change = getattr(generator, "set_instrument", None)
        if change is None:
            return False
        change(code)
        return True

    # -- threads -----------------------------------------------------------------------------------
    def _capture_loop(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.camera.read()
                if frame is None:
                    if not self._stop.is_set():
                        self.error = f"{self.camera.name}: stopped delivering frames (disconnected?)"
                    break
                self.frames.put((frame, self.captured, time.monotonic()))
                self.captured += 1
        except Exception as exc:
            log.exception("live capture failed")
            self.error = f"{self.camera.name}: {type(exc).__name__}: {exc}"
        finally:
            self._stop.set()  # the processing thread ends too

    def _process_loop(self) -> None:
        pose = generator = None
        try:
            if self._pose_factory is not None:
                pose = self._pose_factory()
            if self._generator_factory is not None:
                try:
                    generator = self._generator_factory(float(self.camera.fps))
                    self._generator = generator
                    self.audio_latency_s = float(generator.latency_s)
                    self.generating = True
                except Exception as exc:
                    log.exception("live generation is unavailable")
                    self.generation_error = f"live generation is unavailable ({exc})"
            lag = AudioLag(self.sink.sample_rate if self.sink is not None else 1)
            self.audio_lag = lag
            while not self._stop.is_set():
                if not self.frames.wait(0.05):
                    continue
                item = self.frames.take()
                if item is None:
                    continue
                rgb, index, captured_at = item
                keypoints = pose(rgb) if pose is not None else None
                if keypoints is not None:
                    with self._stats_lock:
                        self._frame_size = (int(rgb.shape[1]), int(rgb.shape[0]))
                        self._recent.append((captured_at, np.asarray(keypoints, np.float32)))
                        while self._recent and self._recent[0][0] < captured_at - RECENT_S:
                            self._recent.popleft()
                if generator is not None and keypoints is not None:
                    try:
                        generator.push_frames(keypoints[None])
                        audio = generator.pull_audio()
                        if self.sink is not None and audio.size:
                            self.sink.write(audio)
                            lag.after_write(self.sink, int(audio.size))
                    except Exception as exc:
                        log.exception("live generation failed")
                        self.generation_error = f"live generation stopped ({type(exc).__name__}: {exc})"
                        self.generating = False
                        generator = self._generator = None
                done = time.monotonic()
                with self._stats_lock:
                    self._times.append(done)
                    self._latencies.append(done - captured_at)
                self.processed += 1
                self.results.put(LiveFrame(rgb, keypoints, index, captured_at, done))
        except Exception as exc:
            log.exception("live keypoints failed")
            self.error = f"live keypoints failed ({type(exc).__name__}: {exc})"
            self._stop.set()
        finally:
            if pose is not None:
                try:
                    pose.close()
                except Exception:
                    log.exception("closing the pose estimator failed")
