"""MediaPipe -> canonical mapping on hand-made results (fast; the real model is in test_extract_mediapipe.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from minet_desktop.core import skeleton as sk
from minet_desktop.pose.mediapipe_map import HAND_CONFIDENCE, hand_points_px, map_holistic

W, H = 200, 100


def _lms(points):
    return SimpleNamespace(landmark=[SimpleNamespace(x=x, y=y, visibility=v) for x, y, v in points])


def _pose(vis=0.9):
    pts = [(0.0, 0.0, 0.0)] * 33
    pts = list(pts)
    # performer facing the camera: their right side is on the image's left
    pts[12] = (0.30, 0.30, 0.8)  # right shoulder
    pts[11] = (0.70, 0.30, 0.6)  # left shoulder
    pts[14] = (0.25, 0.50, vis)
    pts[13] = (0.75, 0.50, vis)
    pts[16] = (0.20, 0.70, vis)  # right wrist
    pts[15] = (0.80, 0.70, vis)
    return _lms(pts)


def _hand(cx, cy):
    return _lms([(cx + 0.001 * i, cy + 0.002 * i, 0.0) for i in range(21)])


def test_body_joints_neck_and_hands():
    res = SimpleNamespace(
        pose_landmarks=_pose(), right_hand_landmarks=_hand(0.18, 0.72), left_hand_landmarks=_hand(0.82, 0.72)
    )
    kp = map_holistic(res, W, H)
    assert kp.shape == (3, sk.N_JOINTS) and kp.dtype == np.float32
    np.testing.assert_allclose(kp[:, sk.R_SHOULDER], (60, 30, 0.8), atol=1e-4)
    np.testing.assert_allclose(kp[:, sk.L_SHOULDER], (140, 30, 0.6), atol=1e-4)
    np.testing.assert_allclose(kp[:, sk.NECK], (100, 30, 0.6), atol=1e-4)  # midpoint, min visibility
    np.testing.assert_allclose(kp[:, sk.R_WRIST], (40, 70, 0.9), atol=1e-4)
    np.testing.assert_allclose(kp[:, sk.L_ELBOW], (150, 50, 0.9), atol=1e-4)
    # hand point k (1..20) -> canonical hand_joint(side, k); point 0 (the hand's wrist) is not copied
    for k in (1, 8, 20):
        np.testing.assert_allclose(
            kp[:2, sk.hand_joint("R", k)], ((0.18 + 0.001 * k) * W, (0.72 + 0.002 * k) * H), atol=1e-3
        )
        np.testing.assert_allclose(
            kp[:2, sk.hand_joint("L", k)], ((0.82 + 0.001 * k) * W, (0.72 + 0.002 * k) * H), atol=1e-3
        )
    assert (kp[2, 7:] == HAND_CONFIDENCE).all()


def test_missing_hand_and_missing_body_are_zero():
    res = SimpleNamespace(
        pose_landmarks=_pose(), right_hand_landmarks=None, left_hand_landmarks=_hand(0.8, 0.7)
    )
    kp = map_holistic(res, W, H)
    assert (kp[:, list(sk.R_HAND)] == 0).all()
    assert (kp[2, list(sk.L_HAND)] == HAND_CONFIDENCE).all()
    nobody = map_holistic(
        SimpleNamespace(pose_landmarks=None, right_hand_landmarks=None, left_hand_landmarks=None), W, H
    )
    assert (nobody == 0).all()


def test_hand_wrist_replaces_a_hidden_pose_wrist():
    res = SimpleNamespace(
        pose_landmarks=_pose(vis=0.1), right_hand_landmarks=_hand(0.18, 0.72), left_hand_landmarks=None
    )
    kp = map_holistic(res, W, H)
    np.testing.assert_allclose(kp[:, sk.R_WRIST], (36, 72, HAND_CONFIDENCE), atol=1e-3)  # hand point 0
    np.testing.assert_allclose(kp[:, sk.L_WRIST], (160, 70, 0.1), atol=1e-4)  # no hand: pose kept


def test_nan_landmark_counts_as_missing():
    pose = _pose()
    pose.landmark[16] = SimpleNamespace(x=float("nan"), y=0.5, visibility=0.9)
    kp = map_holistic(
        SimpleNamespace(pose_landmarks=pose, right_hand_landmarks=None, left_hand_landmarks=None), W, H
    )
    assert np.isfinite(kp).all()
    assert kp[2, sk.R_WRIST] == 0 and kp[0, sk.R_WRIST] == 0


def test_hand_points_px_keeps_the_wrist():
    res = SimpleNamespace(pose_landmarks=None, right_hand_landmarks=_hand(0.5, 0.5), left_hand_landmarks=None)
    pts = hand_points_px(res, W, H)
    assert pts["L"] is None
    assert pts["R"].shape == (21, 2)
    assert pts["R"][0] == pytest.approx((100, 50))
