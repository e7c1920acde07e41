"""Half-overlapping windows for backends that predict a long performance window by window (Visually Indicated Music's frame
regressor, the MI Net paper's baselines), blended with triangular weights so no join is audible."""

from __future__ import annotations

from collections.abc import Callable, Generator

import numpy as np
import torch
from torch import Tensor

from minet_desktop.engine.progress import Progress, stage_fraction


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


def iter_windowed(
    predict: Callable[[int, int], Tensor],
    n_frames: int,
    window: int,
    n_rows: int,
    device: torch.device,
    stage: str,
    weights: dict[str, float],
) -> Generator[Progress, None, Tensor]:
    """Run ``predict(a, b) -> (n_rows, b - a)`` over the half-overlapping windows of ``n_frames`` frames and
    cross-fade the outputs into ``(n_rows, n_frames)``; yield :class:`Progress` of ``stage`` after each window."""
    starts = window_starts(n_frames, window)
    acc = torch.zeros(n_rows, n_frames, device=device)
    total = torch.zeros(n_frames, device=device)
    for i, a in enumerate(starts):
        b = min(n_frames, a + window)
        with torch.no_grad():
            out = predict(a, b)
        w = torch.from_numpy(crossfade_weights(b - a)).to(device)
        acc[:, a:b] += out.float() * w
        total[a:b] += w
        yield Progress(stage, i + 1, len(starts), stage_fraction(stage, i + 1, len(starts), weights))
    return acc / total
