"""Half-overlapping windows for backends that predict a long performance window by window (seed 003's frame
regressor, seed 000's baselines), blended with triangular weights so no join is audible."""

from __future__ import annotations

import numpy as np


def window_starts(n_frames: int, window: int) -> list[int]:
    """First frames of the half-overlapping windows covering ``n_frames`` (the last one ends at the end)."""
    if n_frames <= window:
        return [0]
    hop = max(1, window // 2)
    starts = list(range(0, n_frames - window + 1, hop))
    if starts[-1] != n_frames - window:
        starts.append(n_frames - window)
    return starts


def crossfade_weights(length: int) -> np.ndarray:
    """Triangular weights of one window (``length``,): low at the edges, where a recurrent model has just
    started or a neighbouring window takes over; overlaps are normalised by the sum of the weights."""
    i = np.arange(length)
    return np.minimum(i + 1, length - i).astype(np.float32)
