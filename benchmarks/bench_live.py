"""Live mode end to end: a looping performance video as the camera, MediaPipe, the default model, a null sink.

Drives the app's own :class:`~minet_desktop.engine.live.LivePipeline` (capture thread, processing thread with
MediaPipe Holistic and the :class:`~minet_desktop.engine.streaming.LiveGenerator`, the sink and its
newest-wins trimming) with a :class:`~minet_desktop.media.camera.FakeCamera` that plays a demo video in a loop at
``--fps``, and a :class:`~minet_desktop.media.sound_output.NullSink` that consumes samples in real time.

What it reports, after start-up (``--warmup`` seconds, and at least 1 s after the first audio: MediaPipe's
first frames, the normalisation's calibration second and its burst of audio):

* **camera frame -> audible**: for every frame the generator received, the time from the camera handing it
  over to the moment the sink plays the audio sample at that frame's place in the performance (p50 / p95 /
  max). The sink's play times are replayed from its writes and trims with the NullSink's own rule (samples
  leave at the sample rate while there are any; an empty sink plays silence);
* **discarded audio**: samples the sink's trimming dropped (never heard), and the generator's own drops;
* **underruns**: seconds of silence because no audio was there in time (a gap as audible as a discard);
* the app's own latency figure (:meth:`LivePipeline.latency_s`), sampled twice a second, for comparison;
* frames: captured, processed, pushed to the generator; the pose and processing time per frame.

    python benchmarks/bench_live.py --seconds 60                      # the app's settings
    python benchmarks/bench_live.py --seconds 60 --lookahead-frames 8 --max-lag 0.12   # what the app did before
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


class StampedFrame(np.ndarray):
    """A camera frame that remembers when the camera handed it over."""

    captured_at: float = 0.0


def video_frames(path: Path, max_frames: int) -> list[np.ndarray]:
    from minet_desktop.media.video import VideoReader

    with VideoReader(path) as video:
        return list(itertools.islice(video.iter_frames(), max_frames))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(ROOT / "resources/demo/violin.mp4"))
    ap.add_argument("--model", default=str(ROOT / "resources/models/minet.safetensors"))
    ap.add_argument("--fps", type=float, default=24.0, help="camera frame rate the video is played at")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=4.0, help="start-up seconds left out of the statistics")
    ap.add_argument(
        "--lookahead-frames", type=int, default=None, help="LiveGenerator lookahead_frames (default: its)"
    )
    ap.add_argument(
        "--gl-iters", type=int, default=None, help="Griffin-Lim iterations per block (default: its)"
    )
    ap.add_argument("--max-lag", type=float, default=None, help="the sink's cap in s (default: the app's)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()

    import torch

    from minet_desktop.engine import live as live_mod
    from minet_desktop.engine.live import LivePipeline
    from minet_desktop.engine.session import Session
    from minet_desktop.engine.streaming import LiveGenerator
    from minet_desktop.media.camera import FakeCamera
    from minet_desktop.media.sound_output import NullSink
    from minet_desktop.pose.live import MediaPipePose

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.max_lag is not None:
        live_mod.MAX_AUDIO_LAG_S = args.max_lag
    frames = video_frames(Path(args.video), 30 * 30)
    session = Session(args.model, device="cpu")
    sr = session.sample_rate

    class Camera(FakeCamera):
        def read(self) -> np.ndarray | None:
            frame = super().read()
            if frame is None:
                return None
            stamped = frame.view(StampedFrame)
            stamped.captured_at = time.monotonic()
            return stamped

    pushed: list[float] = []  # captured_at of every frame given to the generator, in order
    pose_s: list[float] = []

    class Pose(MediaPipePose):
        def __call__(self, rgb: np.ndarray) -> np.ndarray:
            t0 = time.monotonic()
            out = super().__call__(np.asarray(rgb))
            pose_s.append(time.monotonic() - t0)
            pushed.append(getattr(rgb, "captured_at", float("nan")))
            return out

    events: list[tuple[float, str, int]] = []  # (time, "write" | "trim", samples)

    class Sink(NullSink):
        def write(self, samples: np.ndarray) -> None:
            samples = np.asarray(samples, np.float32).reshape(-1)
            events.append((time.monotonic(), "write", int(samples.size)))
            super().write(samples)

        def trim(self, max_samples: int) -> int:
            n = super().trim(max_samples)
            if n:
                events.append((time.monotonic(), "trim", n))
            return n

    sink = Sink(sr)
    generators: list[LiveGenerator] = []

    def make_generator(fps: float) -> LiveGenerator:
        kw: dict[str, object] = {}
        if args.lookahead_frames is not None:
            kw["lookahead_frames"] = args.lookahead_frames
        if args.gl_iters is not None:
            kw["griffin_lim_iters"] = args.gl_iters
        gen = LiveGenerator(session, fps=fps, seed=0, **kw)  # type: ignore[arg-type]
        generators.append(gen)
        return gen

    pipeline = LivePipeline(Camera(frames, fps=args.fps), Pose, make_generator, sink)
    app_figure: list[float] = []
    t_start = time.monotonic()
    pipeline.start()
    while time.monotonic() - t_start < args.seconds and pipeline.is_running():
        time.sleep(0.5)
        if pipeline.generating and time.monotonic() - t_start > args.warmup:
            app_figure.append(pipeline.latency_s())
    pipeline.stop()
    if pipeline.error or pipeline.generation_error:
        print(f"error: {pipeline.error or pipeline.generation_error}", file=sys.stderr)
        return 1
    gen = generators[0]
    fps = args.fps

    # Replay the sink: which generator sample plays when, which were discarded.
    queries = {n: int(round(n / fps * sr)) for n in range(len(pushed))}
    by_sample = sorted((s, n) for n, s in queries.items())
    play: dict[int, float] = {}
    discarded_at: list[tuple[float, int]] = []
    segments: list[list[int]] = []  # [first generator sample, count] waiting in the sink
    written = 0
    level = 0
    underrun_s: list[tuple[float, float]] = []
    qi = 0
    t_last = events[0][0] if events else t_start

    def consume(t0: float, k: int) -> None:
        nonlocal qi, level
        offset = 0
        while k > 0 and segments:
            a, c = segments[0]
            m = min(k, c)
            while qi < len(by_sample) and by_sample[qi][0] < a:
                qi += 1  # discarded or before the stream
            while qi < len(by_sample) and a <= by_sample[qi][0] < a + m:
                s, n = by_sample[qi]
                play[n] = t0 + (offset + s - a) / sr
                qi += 1
            offset += m
            k -= m
            level -= m
            if m == c:
                segments.pop(0)
            else:
                segments[0] = [a + m, c - m]

    for t, kind, n in [*events, (float("inf"), "end", 0)]:
        if t == float("inf"):
            consume(t_last, level)
            break
        due = int((t - t_last) * sr)
        if due > 0:
            if due > level:
                if level > 0 or written:
                    underrun_s.append((t_last, (due - level) / sr))
                consume(t_last, level)
            else:
                consume(t_last, due)
            t_last += due / sr if due <= level else (t - t_last)
        if kind == "write":
            segments.append([written, n])
            written += n
            level += n
        elif kind == "trim":
            discarded_at.append((t, n))
            k = n
            while k > 0 and segments:
                a, c = segments[0]
                m = min(k, c)
                if m == c:
                    segments.pop(0)
                else:
                    segments[0] = [a + m, c - m]
                k -= m
                level -= m

    # Start-up ends ``warmup`` s after the start and 1 s after the first audio (the calibration second's burst:
    # on a loaded machine it comes late).
    first_audio = next((t for t, kind, _ in events if kind == "write"), t_start)
    t_warm = max(t_start + args.warmup, first_audio + 1.0)
    lat = np.array([play[n] - pushed[n] for n in play if pushed[n] >= t_warm and np.isfinite(pushed[n])])
    lost = sum(n for t, n in discarded_at if t >= t_warm)
    lost_startup = sum(n for t, n in discarded_at if t < t_warm)
    silent = sum(d for t, d in underrun_s if t >= t_warm)
    measured = t_start + args.seconds - t_warm
    pct = (lambda q: float(np.percentile(lat, q)) * 1000) if lat.size else (lambda q: float("nan"))
    print(
        f"live pipeline: {Path(args.video).name} looped at {fps:g} fps for {args.seconds:.0f} s "
        f"({t_warm - t_start:.1f} s start-up left out), {Path(args.model).name}, MediaPipe, null sink, "
        f"torch {torch.get_num_threads()} thread(s)"
    )
    print(
        f"generator: lookahead {gen.lookahead_frames} frames, Griffin-Lim {gen.gl.n_iter} iterations, buffering "
        f"{gen.latency_s * 1000:.0f} ms by construction; sink cap {live_mod.MAX_AUDIO_LAG_S * 1000:.0f} ms"
    )
    print(
        f"frames: {pipeline.captured} captured, {pipeline.processed} processed, {len(pushed)} pushed; pose "
        f"{np.median(pose_s) * 1000:.0f} ms median, {np.percentile(pose_s, 95) * 1000:.0f} ms p95"
    )
    print(
        f"camera frame -> audible: p50 {pct(50):.0f} ms, p95 {pct(95):.0f} ms, max {pct(100):.0f} ms "
        f"({lat.size} frames)"
    )
    print(
        f"discarded audio after start-up: {lost} samples ({lost / sr:.2f} s in {measured:.0f} s, "
        f"{sum(1 for t, _ in discarded_at if t >= t_warm)} trims); at start-up {lost_startup / sr:.2f} s "
        f"(the calibration second's burst and the sink settling); "
        f"generator drops {gen.dropped_samples}"
    )
    print(
        "sink events: first audio at "
        f"{first_audio - t_start:.2f} s, start-up ends at {t_warm - t_start:.2f} s; trims at "
        + (", ".join(f"{t - t_start:.2f} s ({n / sr:.3f} s)" for t, n in discarded_at) or "none")
    )
    print(
        f"underruns after start-up: {silent:.2f} s of silence in {sum(1 for t, _ in underrun_s if t >= t_warm)} gaps"
    )
    if app_figure:
        print(
            f"the app's latency figure (LivePipeline.latency_s): median {np.median(app_figure) * 1000:.0f} ms, "
            f"p95 {np.percentile(app_figure, 95) * 1000:.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
