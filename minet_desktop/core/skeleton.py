"""The canonical skeleton (Solos' 47 joints) and the geometry every other layer relies on.

Layout (arrays are ``(T, 3, 47)``: x, y, confidence)::

    0 Neck, 1 RShoulder, 2 RElbow, 3 RWrist, 4 LShoulder, 5 LElbow, 6 LWrist,
    7-26  right-hand points 1-20, 27-46 left-hand points 1-20

Hand points follow OpenPose's (and MediaPipe's) order without the wrist, which is joint 3 / 6:
1-4 thumb (CMC -> tip), 5-8 index, 9-12 middle, 13-16 ring, 17-20 little finger.
"Right" and "left" are the performer's own, as in OpenPose: the performer's right shoulder is usually on
the left of the image.

This is the MI Net paper's 5 body + 21 per hand point set: the neck and two shoulders, elbows, wrists, with each
wrist shared between the arm and its hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_JOINTS = 47
NECK, R_SHOULDER, R_ELBOW, R_WRIST, L_SHOULDER, L_ELBOW, L_WRIST = range(7)
R_HAND = tuple(range(7, 27))  # hand points 1..20 of the performer's right hand
L_HAND = tuple(range(27, 47))
BODY = tuple(range(7))

_FINGERS = ("thumb", "index", "middle", "ring", "little")


def _hand_names(side: str) -> list[str]:
    return [f"{side}{_FINGERS[(i - 1) // 4]}{(i - 1) % 4 + 1}" for i in range(1, 21)]


JOINT_NAMES: tuple[str, ...] = (
    "Neck",
    "RShoulder",
    "RElbow",
    "RWrist",
    "LShoulder",
    "LElbow",
    "LWrist",
    *_hand_names("RHand_"),
    *_hand_names("LHand_"),
)


def hand_joint(side: str, point: int) -> int:
    """Index of hand point ``point`` (0 = wrist, 1..20 as in OpenPose) of the performer's ``side`` ('R'/'L')."""
    if not 0 <= point <= 20:
        raise ValueError(f"hand point must be 0..20, got {point}")
    if side not in ("R", "L"):
        raise ValueError(f"side must be 'R' or 'L', got {side!r}")
    if point == 0:
        return R_WRIST if side == "R" else L_WRIST
    return (7 if side == "R" else 27) + point - 1


def _parents() -> tuple[int, ...]:
    parent = [-1] * N_JOINTS
    parent[R_SHOULDER] = NECK
    parent[R_ELBOW] = R_SHOULDER
    parent[R_WRIST] = R_ELBOW
    parent[L_SHOULDER] = NECK
    parent[L_ELBOW] = L_SHOULDER
    parent[L_WRIST] = L_ELBOW
    for side in ("R", "L"):
        for finger in range(5):
            base = 1 + 4 * finger
            parent[hand_joint(side, base)] = hand_joint(side, 0)
            for k in range(1, 4):
                parent[hand_joint(side, base + k)] = hand_joint(side, base + k - 1)
    return tuple(parent)


#: Parent of each joint in the kinematic tree rooted at the neck (-1 for the neck).
PARENTS: tuple[int, ...] = _parents()
#: Bones to draw: (parent, child) pairs.
BONES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(PARENTS) if p >= 0)


def _depth(j: int) -> int:
    d = 0
    while PARENTS[j] >= 0:
        j = PARENTS[j]
        d += 1
    return d


#: Joints ordered so that every parent comes before its children.
TOPOLOGICAL_ORDER: tuple[int, ...] = tuple(sorted(range(N_JOINTS), key=_depth))


def check_keypoints(kp: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``kp`` is a ``(T, 3, 47)`` float array."""
    if kp.ndim != 3 or kp.shape[1] != 3 or kp.shape[2] != N_JOINTS:
        raise ValueError(f"keypoints must have shape (T, 3, {N_JOINTS}), got {tuple(kp.shape)}")


def valid_mask(kp: np.ndarray, threshold: float) -> np.ndarray:
    """``(T, 47)`` bool: joint detected with confidence >= threshold and finite coordinates."""
    check_keypoints(kp)
    return (kp[:, 2, :] >= threshold) & np.isfinite(kp[:, 0, :]) & np.isfinite(kp[:, 1, :])


def _interp_series(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Linear interpolation over time of ``values (T, C)`` from rows where ``ok``; edges hold the nearest."""
    t = np.arange(len(values))
    out = np.empty_like(values)
    for c in range(values.shape[1]):
        out[:, c] = np.interp(t, t[ok], values[ok, c])
    return out


def interpolate_missing(kp: np.ndarray, threshold: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Fill joints that were missed or detected with low confidence (MI Net paper §3).

    The neck is interpolated linearly in time between the previous and next frames where it was detected.
    Every other joint is interpolated *relative to its parent* (elbow relative to shoulder, fingertip relative
    to the previous finger joint): when a hand drops out for a few frames its points follow the wrist instead
    of drifting in a straight line through the image. A joint never detected in the clip sits on its parent.
    Confidence values are kept, so a drawing can still show which joints were guessed.

    Parameters
    ----------
    kp
        ``(T, 3, 47)`` keypoints.
    threshold
        Confidence below which a joint counts as missing.

    Returns
    -------
    filled
        ``(T, 3, 47)`` float32 copy with finite x, y everywhere (zeros if the neck is never found).
    filled_mask
        ``(T, 47)`` bool, True where a value was filled in.
    """
    check_keypoints(kp)
    out = np.array(kp, dtype=np.float32, copy=True)
    ok = valid_mask(out, threshold)
    T = out.shape[0]
    if T == 0:
        return out, ok.copy()
    xy = out[:, :2, :]
    for j in TOPOLOGICAL_ORDER:
        good = ok[:, j]
        p = PARENTS[j]
        if p < 0:
            if good.any():
                if not good.all():
                    xy[:, :, j] = _interp_series(xy[:, :, j], good)
            else:
                xy[:, :, j] = 0.0
            continue
        if good.all():
            continue
        if good.any():
            offset = xy[:, :, j] - xy[:, :, p]
            offset = _interp_series(np.where(good[:, None], offset, 0.0), good)
            xy[:, :, j] = np.where(good[:, None], xy[:, :, j], xy[:, :, p] + offset)
        else:
            xy[:, :, j] = xy[:, :, p]
    return out, ~ok


class CausalGapFiller:
    """:func:`interpolate_missing` for a stream, one frame at a time (live mode): a missing joint keeps its
    last offset from its parent (the neck: its last place), which is what the offline interpolation holds
    after a joint's last detection. A joint not seen yet sits on its parent."""

    def __init__(self, threshold: float = 0.3) -> None:
        self.threshold = threshold
        self._last = np.zeros((2, N_JOINTS), np.float32)  # last filled x, y of each joint
        self._seen = np.zeros(N_JOINTS, bool)

    def fill(self, frame: np.ndarray) -> np.ndarray:
        """``(3, 47)`` keypoints -> a filled float32 copy (confidences kept)."""
        out = frame.astype(np.float32, copy=True)
        ok = (out[2] >= self.threshold) & np.isfinite(out[0]) & np.isfinite(out[1])
        for j in TOPOLOGICAL_ORDER:
            p = PARENTS[j]
            if ok[j]:
                continue
            if p < 0:
                out[:2, j] = self._last[:, j]
            elif self._seen[j]:
                out[:2, j] = out[:2, p] + (self._last[:, j] - self._last[:, p])
            else:
                out[:2, j] = out[:2, p]
        self._last = out[:2].copy()
        self._seen |= ok
        return out


@dataclass(frozen=True)
class NormStats:
    """What :func:`normalize` removed: ``pixel = normalised * scale + center``."""

    center_x: float
    center_y: float
    scale: float


def normalize(kp: np.ndarray, threshold: float = 0.3) -> tuple[np.ndarray, NormStats]:
    """Neck-centred, shoulder-width-scaled keypoints.

    One centre and one scale per clip (the median neck position and median shoulder width over frames where
    both shoulders were detected), not per frame: per-frame centring would erase the body sway and the
    instrument lifts that carry the rhythm of a performance.

    Returns ``(normalised (T, 3, 47) float32, stats)``; confidence is copied unchanged.
    """
    check_keypoints(kp)
    ok = valid_mask(kp, threshold)
    both = ok[:, NECK] & ok[:, R_SHOULDER] & ok[:, L_SHOULDER]
    if both.any():
        rows = kp[both]
        cx = float(np.median(rows[:, 0, NECK]))
        cy = float(np.median(rows[:, 1, NECK]))
        width = np.hypot(
            rows[:, 0, R_SHOULDER] - rows[:, 0, L_SHOULDER], rows[:, 1, R_SHOULDER] - rows[:, 1, L_SHOULDER]
        )
        scale = float(np.median(width))
    else:
        any_ok = ok.any(axis=0)
        pts = kp[:, :2, :][:, :, any_ok] if any_ok.any() else np.zeros((1, 2, 1), np.float32)
        mask = ok[:, any_ok] if any_ok.any() else np.ones((1, 1), bool)
        xs, ys = pts[:, 0][mask], pts[:, 1][mask]
        cx, cy = float(np.median(xs)), float(np.median(ys))
        scale = float(max(np.ptp(xs), np.ptp(ys)) / 2) if xs.size > 1 else 0.0
    if not np.isfinite(scale) or scale < 1e-6:
        scale = 1.0
    stats = NormStats(cx, cy, scale)
    out = np.array(kp, dtype=np.float32, copy=True)
    out[:, 0, :] = (out[:, 0, :] - cx) / scale
    out[:, 1, :] = (out[:, 1, :] - cy) / scale
    return out, stats


def denormalize(kp: np.ndarray, stats: NormStats) -> np.ndarray:
    """Inverse of :func:`normalize`, for drawing on the video."""
    check_keypoints(kp)
    out = np.array(kp, dtype=np.float32, copy=True)
    out[:, 0, :] = out[:, 0, :] * stats.scale + stats.center_x
    out[:, 1, :] = out[:, 1, :] * stats.scale + stats.center_y
    return out


def resample(kp: np.ndarray, src_fps: float, dst_fps: float, n_out: int | None = None) -> np.ndarray:
    """Resample keypoints in time, e.g. video fps -> the spectrogram frame rate (62.5 Hz).

    Output frame ``i`` is the pose at time ``i / dst_fps``, linearly interpolated between the two nearest
    source frames (times ``k / src_fps``); past the last source frame the last pose is held. Confidence
    takes the smaller of the two neighbours, so a dropped frame is not hidden by interpolation.

    Parameters
    ----------
    n_out
        Number of output frames; default ``round(T * dst_fps / src_fps)``.
    """
    check_keypoints(kp)
    if src_fps <= 0 or dst_fps <= 0:
        raise ValueError(f"frame rates must be positive, got {src_fps} -> {dst_fps}")
    T = kp.shape[0]
    if n_out is None:
        n_out = int(round(T * dst_fps / src_fps))
    if T == 0 or n_out <= 0:
        return np.zeros((max(n_out, 0), 3, N_JOINTS), np.float32)
    pos = np.arange(n_out, dtype=np.float64) * (src_fps / dst_fps)
    pos = np.clip(pos, 0, T - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, T - 1)
    w = (pos - lo).astype(np.float32)[:, None]
    a, b = kp[lo].astype(np.float32), kp[hi].astype(np.float32)
    out = np.empty((n_out, 3, N_JOINTS), np.float32)
    out[:, :2, :] = a[:, :2, :] * (1 - w[:, :, None]) + b[:, :2, :] * w[:, :, None]
    exact = w[:, 0] == 0
    out[:, 2, :] = np.where(exact[:, None], a[:, 2, :], np.minimum(a[:, 2, :], b[:, 2, :]))
    return out


def model_frames(
    kp: np.ndarray, src_fps: float, frame_rate: float, n_out: int, threshold: float = 0.3
) -> tuple[np.ndarray, NormStats]:
    """The skeleton a model sees: fill missing joints, normalise, resample to the spectrogram frame rate.

    This is the one place that turns pixel keypoints into model input, shared by the training cache
    (``training/cache.py``) and the generation engine so that training crops and inference windows match.

    Parameters
    ----------
    kp
        ``(T, 3, 47)`` keypoints in pixels at ``src_fps``.
    frame_rate
        Spectrogram frames per second (``AudioConfig.frame_rate``, 62.5).
    n_out
        Output frames (the spectrogram's ``T``).
    threshold
        Confidence below which a joint counts as missing (``SkeletonConfig.confidence_threshold``).

    Returns
    -------
    frames
        ``(n_out, 3, 47)`` float32: normalised x, y and confidence.
    stats
        What :func:`normalize` removed.
    """
    filled, _ = interpolate_missing(kp, threshold)
    normed, stats = normalize(filled, threshold)
    return resample(normed, src_fps, frame_rate, n_out=n_out), stats
