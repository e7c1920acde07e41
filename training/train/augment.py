"""Skeleton augmentation for every model that reads skeletons (switched by ``[train] augment_skeleton``).

A training crop of the cache's model-ready skeleton (neck-centred, shoulder-width-scaled, resampled to the
spectrogram frame rate; ``(T, 3, 47)``: x, y, confidence) is changed the ways real videos differ from the
simulator and from each other, each drawn at random per crop:

* a random **similarity** (rotation, scale, shift) and a mild **perspective** (the far side of the body
  smaller), as a camera placed elsewhere would give;
* **limb-length jitter**: each arm segment and each hand longer or shorter, moved down the kinematic tree;
* **joint and hand dropout**: single joints or a whole hand missing for a span, filled the way the cache fills
  a missed joint (:func:`minet_desktop.core.skeleton.interpolate_missing`: following its parent) with zero
  confidence;
* a **frame edge** (off by default; the performance detector's training uses it): everything below a random
  height is outside the camera's frame, as in a close-up, and missed as a tracker misses it (a hand more than
  30 % outside is lost whole);
* **time warping** (a smooth shift of up to a few tens of milliseconds, as a tracker's latency wanders) and
  **frame-rate jitter** (the crop seen through a camera of a random lower frame rate and interpolated back, as
  the cache does for a 12-30 fps source).

Nothing changes the timing of the motion by more than :attr:`SkeletonAugment.max_warp_s`, so the motion
stays aligned with the audio it is trained against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minet_desktop.core.skeleton import (
    L_ELBOW,
    L_HAND,
    L_SHOULDER,
    L_WRIST,
    PARENTS,
    R_ELBOW,
    R_HAND,
    R_SHOULDER,
    R_WRIST,
)


def _depth(j: int) -> int:
    d = 0
    while PARENTS[j] >= 0:
        j = PARENTS[j]
        d += 1
    return d


#: Parents before children (the neck first).
_TOPO = tuple(sorted(range(len(PARENTS)), key=_depth))


@dataclass(frozen=True)
class SkeletonAugment:
    """How strongly each augmentation acts; every one is drawn independently per crop.

    Units: the cache's normalised skeleton (shoulder widths), degrees, seconds.
    """

    #: Spectrogram frames per second of the skeleton (``AudioConfig.frame_rate``).
    frame_rate: float = 62.5
    #: Probability and size of the similarity: in-plane rotation (camera roll, a tilted body), scale (the
    #: normalisation's shoulder width shrinks with camera yaw, so bodies look wider or narrower), shift.
    p_similarity: float = 0.8
    rotate_deg: float = 15.0
    scale: tuple[float, float] = (0.8, 1.25)
    shift: float = 0.2
    #: Horizontal squeeze (a body seen from the side is narrower, not smaller): x scaled in this range.
    squeeze: tuple[float, float] = (0.7, 1.1)
    #: Mild perspective: x, y divided by ``1 + a x + b y`` with |a|, |b| up to this.
    perspective: float = 0.06
    #: Limb-length jitter: each segment group scaled by N(1, sd).
    p_limbs: float = 0.7
    limb_sd: float = 0.08
    #: Joint dropout: probability per crop, spans per crop, frames per span (single joints of the arms).
    p_joint_dropout: float = 0.5
    joint_spans: int = 3
    #: Hand dropout: probability per crop that one hand is lost for a span of up to ``hand_span_s``.
    p_hand_dropout: float = 0.4
    hand_span_s: float = 0.8
    #: Time warp: probability and largest shift of the motion against the audio.
    p_time_warp: float = 0.5
    max_warp_s: float = 0.04
    #: Frame-rate jitter: probability, and the range of source frame rates the crop is seen through.
    p_frame_rate: float = 0.5
    source_fps: tuple[float, float] = (12.0, 30.0)
    #: Frame edge: probability per crop, and the range of the edge's height (shoulder widths below the neck).
    p_frame_edge: float = 0.0
    frame_edge: tuple[float, float] = (0.4, 1.6)

    def __call__(self, k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augmented copy of ``k`` ``(T, 3, 47)`` float32 (x, y normalised; confidence)."""
        out = np.array(k, np.float32, copy=True)
        T = out.shape[0]
        if T < 2:
            return out
        if rng.random() < self.p_limbs:
            out = limb_jitter(out, rng, self.limb_sd)
        if rng.random() < self.p_similarity:
            out = similarity(out, rng, self)
        if rng.random() < self.p_time_warp:
            out = time_warp(out, rng, self.max_warp_s * self.frame_rate)
        if rng.random() < self.p_frame_rate:
            out = through_frame_rate(out, float(rng.uniform(*self.source_fps)), self.frame_rate, rng)
        if rng.random() < self.p_joint_dropout:
            for _ in range(int(rng.integers(1, self.joint_spans + 1))):
                j = int(rng.choice([R_ELBOW, R_WRIST, L_ELBOW, L_WRIST, R_SHOULDER, L_SHOULDER]))
                out = drop(out, [j], *_span(rng, T, 0.3 * self.frame_rate))
        if rng.random() < self.p_hand_dropout:
            hand = list(R_HAND) if rng.random() < 0.5 else list(L_HAND)
            out = drop(out, hand, *_span(rng, T, self.hand_span_s * self.frame_rate))
        if rng.random() < self.p_frame_edge:
            out = frame_edge(out, float(rng.uniform(*self.frame_edge)))
        return out


def _span(rng: np.random.Generator, T: int, max_len: float) -> tuple[int, int]:
    n = int(rng.integers(1, max(2, int(max_len)) + 1))
    s = int(rng.integers(0, max(1, T - n + 1)))
    return s, min(T, s + n)


def limb_jitter(k: np.ndarray, rng: np.random.Generator, sd: float) -> np.ndarray:
    """Each segment group (shoulder girdle, upper arms, forearms, hands) scaled about its parent joint."""
    groups = {
        R_SHOULDER: 0, L_SHOULDER: 0,  # shoulder width: the same factor both sides (normalised away mostly)
        R_ELBOW: 1, L_ELBOW: 2, R_WRIST: 3, L_WRIST: 4,
    }  # fmt: skip
    f = np.clip(rng.normal(1.0, sd, 7), 0.7, 1.3)
    factor = np.ones(len(PARENTS))
    for j, g in groups.items():
        factor[j] = f[g]
    factor[list(R_HAND)] = f[5]
    factor[list(L_HAND)] = f[6]
    xy = k[:, :2].astype(np.float64)
    new = xy.copy()
    for j in _TOPO:
        p = PARENTS[j]
        if p >= 0:
            new[:, :, j] = new[:, :, p] + factor[j] * (xy[:, :, j] - xy[:, :, p])
    out = k.copy()
    out[:, :2] = new
    return out


def similarity(k: np.ndarray, rng: np.random.Generator, a: SkeletonAugment) -> np.ndarray:
    """Rotation, scale, horizontal squeeze, shift and a mild perspective of every frame (one per crop)."""
    th = np.radians(rng.uniform(-a.rotate_deg, a.rotate_deg))
    s = rng.uniform(*a.scale)
    sq = rng.uniform(*a.squeeze)
    px, py = rng.uniform(-a.perspective, a.perspective, 2)
    x, y = k[:, 0].astype(np.float64), k[:, 1].astype(np.float64)
    d = np.maximum(1.0 + px * x + py * y, 0.5)
    x, y = x / d * sq, y / d
    c, sn = np.cos(th), np.sin(th)
    x, y = c * x - sn * y, sn * x + c * y
    dx, dy = rng.uniform(-a.shift, a.shift, 2)
    out = k.copy()
    out[:, 0] = s * x + dx
    out[:, 1] = s * y + dy
    return out


def time_warp(k: np.ndarray, rng: np.random.Generator, max_frames: float) -> np.ndarray:
    """Resampled at ``t + w(t)``, ``w`` smooth with ``|w| <= max_frames``."""
    T = k.shape[0]
    knots = max(2, T // 25 + 2)
    w = np.interp(np.arange(T), np.linspace(0, T - 1, knots), rng.uniform(-max_frames, max_frames, knots))
    return _resample(k, np.clip(np.arange(T) + w, 0, T - 1))


def through_frame_rate(
    k: np.ndarray, src_fps: float, frame_rate: float, rng: np.random.Generator
) -> np.ndarray:
    """The crop as a ``src_fps`` camera would have sampled it, interpolated back to ``frame_rate``."""
    T = k.shape[0]
    step = frame_rate / src_fps  # skeleton frames between camera frames
    grid = np.arange(float(rng.uniform(0, step)), T - 1, step)
    if grid.size < 2:
        return k.copy()
    samples = _resample(k, grid)  # what the camera saw
    out = k.copy()
    t = np.clip(np.arange(T), grid[0], grid[-1])
    for c in range(2):
        for j in range(k.shape[2]):
            out[:, c, j] = np.interp(t, grid, samples[:, c, j])
    return out


def _resample(k: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``k`` at fractional frame times ``t`` (linear for x, y; nearest for confidence)."""
    i0 = np.floor(t).astype(int)
    i1 = np.minimum(i0 + 1, k.shape[0] - 1)
    f = (t - i0)[:, None, None].astype(np.float32)
    out = np.empty((t.size, *k.shape[1:]), np.float32)
    out[:, :2] = (1 - f) * k[i0, :2] + f * k[i1, :2]
    out[:, 2] = k[np.round(t).astype(int), 2]
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop)]`` of the runs of True in a bool (T,)."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def frame_edge(k: np.ndarray, edge: float) -> np.ndarray:
    """Everything below ``edge`` (normalised y, down) is outside the frame: body joints there are missed, a
    hand with more than 30 % of its points there is missed whole; filled as :func:`drop` fills them."""
    out = k
    below = k[:, 1] > edge  # (T, 47)
    for j in (R_SHOULDER, L_SHOULDER, R_ELBOW, L_ELBOW, R_WRIST, L_WRIST):
        for s, e in _runs(below[:, j]):
            out = drop(out, [j], s, e)
    for hand in (list(R_HAND), list(L_HAND)):
        for s, e in _runs(below[:, hand].mean(axis=1) > 0.3):
            out = drop(out, hand, s, e)
    return out if out is not k else k.copy()


def drop(k: np.ndarray, joints: list[int], s: int, e: int) -> np.ndarray:
    """Joints missed in frames ``s:e``: confidence 0, filled as the cache fills them (following the parent,
    the offset to it interpolated between the last frame before and the first after the gap)."""
    out = k.copy()
    T = k.shape[0]
    if e <= s:
        return out
    t = np.arange(s, e)
    for j in sorted(joints, key=_depth):
        p = PARENTS[j]
        rel = k[:, :2, j] - (k[:, :2, p] if p >= 0 else 0.0)
        a = rel[s - 1] if s > 0 else rel[e] if e < T else rel[s]
        b = rel[e] if e < T else a
        w = ((t - (s - 1)) / (e - (s - 1)))[:, None] if s > 0 and e < T else np.zeros((t.size, 1))
        fill = (1 - w) * a + w * b
        out[s:e, :2, j] = fill + (out[s:e, :2, p] if p >= 0 else 0.0)
        out[s:e, 2, j] = 0.0
    return out


__all__ = [
    "SkeletonAugment",
    "drop",
    "frame_edge",
    "limb_jitter",
    "similarity",
    "through_frame_rate",
    "time_warp",
]
