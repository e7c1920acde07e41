"""MediaPipe Holistic results -> the canonical 47-joint skeleton, in pixels.

Which side is which (checked on ``messi5.jpg`` and ``basketball1.png``, see ``tests/pose/test_extract_mediapipe.py``):
MediaPipe Pose landmark 12 is the performer's *right* shoulder, 14 the right elbow, 16 the right wrist
(odd indices are the left side), exactly like OpenPose's RShoulder/RElbow/RWrist; and Holistic's
``right_hand_landmarks`` is the performer's right hand, whose wrist (hand point 0) lands on pose landmark 16.
So no mirroring is needed anywhere: pose 12/14/16 and ``right_hand_landmarks`` fill canonical joints 1-3 and
7-26, pose 11/13/15 and ``left_hand_landmarks`` fill 4-6 and 27-46.

Confidence: the pose joints carry MediaPipe's ``visibility``; the neck, which MediaPipe does not have, is the
shoulders' midpoint with the smaller of their two visibilities. MediaPipe hands have no per-point score (a hand
is reported only once its presence score passed the detector's threshold), so every point of a found hand gets
:data:`HAND_CONFIDENCE`; a missing hand or body gives zero confidence and zero coordinates.

Wrists come from the pose. Only when the pose wrist's visibility is below :data:`WRIST_FROM_HAND_BELOW` and
that hand was found is the hand's own wrist point used (with :data:`HAND_CONFIDENCE`): the hand model looked at
a crop of that hand, so it is the better estimate when the body model thinks the wrist is hidden, and it keeps
the hand attached to its wrist.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minet_desktop.core.skeleton import (
    L_ELBOW,
    L_HAND,
    L_SHOULDER,
    L_WRIST,
    N_JOINTS,
    NECK,
    R_ELBOW,
    R_HAND,
    R_SHOULDER,
    R_WRIST,
)

#: MediaPipe Pose landmark index of each canonical body joint (the neck is derived from 11 and 12).
POSE_INDEX: dict[int, int] = {
    R_SHOULDER: 12,
    R_ELBOW: 14,
    R_WRIST: 16,
    L_SHOULDER: 11,
    L_ELBOW: 13,
    L_WRIST: 15,
}
#: Confidence given to every point of a hand MediaPipe found.
HAND_CONFIDENCE = 1.0
#: Below this pose-wrist visibility the found hand's own wrist point replaces the pose wrist.
WRIST_FROM_HAND_BELOW = 0.5


def _landmarks_px(landmarks: Any, width: int, height: int, with_visibility: bool) -> np.ndarray:
    """``(N, 3)`` float64 of (x px, y px, visibility or 1) from a MediaPipe NormalizedLandmarkList."""
    pts = landmarks.landmark
    out = np.empty((len(pts), 3), np.float64)
    for i, p in enumerate(pts):
        out[i] = (p.x * width, p.y * height, p.visibility if with_visibility else 1.0)
    # MediaPipe can return NaN for points it did not solve; such a point is "not detected".
    bad = ~np.isfinite(out).all(axis=1)
    out[bad] = 0.0
    return out


def hand_points_px(results: Any, width: int, height: int) -> dict[str, np.ndarray | None]:
    """The raw 21 hand points ``(21, 2)`` in pixels per side (``'R'``/``'L'``), ``None`` where not found.

    Includes hand point 0 (the hand model's own wrist), which the canonical layout leaves out; used to check
    that each hand is attached to the right arm.
    """
    out: dict[str, np.ndarray | None] = {}
    for side, lms in (("R", results.right_hand_landmarks), ("L", results.left_hand_landmarks)):
        out[side] = None if lms is None else _landmarks_px(lms, width, height, False)[:, :2]
    return out


def map_holistic(results: Any, width: int, height: int) -> np.ndarray:
    """Canonical keypoints ``(3, 47)`` float32 (x px, y px, confidence) from one Holistic result.

    Parameters
    ----------
    results
        What ``mediapipe.solutions.holistic.Holistic.process`` returned for one RGB frame.
    width, height
        Size of that frame in pixels (MediaPipe's coordinates are normalised to it).
    """
    kp = np.zeros((3, N_JOINTS), np.float64)
    pose = results.pose_landmarks
    if pose is not None:
        p = _landmarks_px(pose, width, height, True)
        for joint, idx in POSE_INDEX.items():
            kp[:, joint] = p[idx]
        rs, ls = p[12], p[11]
        kp[0, NECK] = (rs[0] + ls[0]) / 2
        kp[1, NECK] = (rs[1] + ls[1]) / 2
        kp[2, NECK] = min(rs[2], ls[2])
    for lms, hand_joints, wrist in (
        (results.right_hand_landmarks, R_HAND, R_WRIST),
        (results.left_hand_landmarks, L_HAND, L_WRIST),
    ):
        if lms is None:
            continue
        h = _landmarks_px(lms, width, height, False)
        kp[0, list(hand_joints)] = h[1:21, 0]
        kp[1, list(hand_joints)] = h[1:21, 1]
        kp[2, list(hand_joints)] = HAND_CONFIDENCE
        if kp[2, wrist] < WRIST_FROM_HAND_BELOW:
            kp[:, wrist] = (h[0, 0], h[0, 1], HAND_CONFIDENCE)
    # Zero-confidence joints carry no position (so files compare equal and nothing draws them at a stale spot).
    kp[:2, kp[2] <= 0] = 0.0
    return kp.astype(np.float32)
