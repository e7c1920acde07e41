"""Helpers shared by the engine tests and benchmarks/bench_generate.py: a synthetic performer."""

from __future__ import annotations

import numpy as np

from minet_desktop.pose.keypoint_file import KeypointFile


def performance(seconds: float, fps: float = 30.0, seed: int = 0, detected: bool = True) -> KeypointFile:
    """A performer swaying and bowing: smooth random motion of all 47 joints around a plausible pose."""
    rng = np.random.default_rng(seed)
    T = int(round(seconds * fps))
    t = np.arange(T) / fps
    base = rng.uniform(200, 400, size=(2, 47))
    base[:, 1] = base[:, 0] + [-60, 0]  # right shoulder
    base[:, 4] = base[:, 0] + [60, 0]  # left shoulder
    phase = rng.uniform(0, 2 * np.pi, size=(2, 47))
    freq = rng.uniform(0.3, 2.0, size=(2, 47))
    xy = base[None] + 20 * np.sin(2 * np.pi * freq[None] * t[:, None, None] + phase[None])
    conf = np.full((T, 1, 47), 0.9 if detected else 0.0)
    kp = np.concatenate([xy, conf], axis=1).astype(np.float32)
    return KeypointFile(
        keypoints=kp,
        fps=fps,
        frame_size=(640, 480),
        source_sha256="0" * 64,
        source_name="performance.mp4",
        detected_fraction=1.0 if detected else 0.0,
    )
