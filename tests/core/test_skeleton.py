"""Skeleton layout and geometry: interpolation, normalisation, resampling."""

import numpy as np
import pytest

from minet_desktop.core import skeleton as sk


def _pose(T=10, seed=0):
    """A plausible upper body in pixels, moving slowly to the right."""
    rng = np.random.default_rng(seed)
    kp = np.zeros((T, 3, sk.N_JOINTS), np.float32)
    base = np.zeros((2, sk.N_JOINTS), np.float32)
    base[:, sk.NECK] = (320, 200)
    base[:, sk.R_SHOULDER] = (260, 210)  # performer's right is image left
    base[:, sk.L_SHOULDER] = (380, 210)
    base[:, sk.R_ELBOW] = (240, 290)
    base[:, sk.L_ELBOW] = (400, 290)
    base[:, sk.R_WRIST] = (250, 360)
    base[:, sk.L_WRIST] = (390, 360)
    for side, wrist in (("R", sk.R_WRIST), ("L", sk.L_WRIST)):
        for p in range(1, 21):
            base[:, sk.hand_joint(side, p)] = base[:, wrist] + rng.normal(0, 15, 2)
    for t in range(T):
        kp[t, :2] = base + np.array([[2.0 * t], [0.0]], np.float32)
    kp[:, 2] = 0.9
    return kp


def test_layout_matches_solos():
    assert len(sk.JOINT_NAMES) == 47
    assert sk.JOINT_NAMES[:7] == ("Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist")
    assert sk.hand_joint("R", 1) == 7 and sk.hand_joint("R", 20) == 26
    assert sk.hand_joint("L", 1) == 27 and sk.hand_joint("L", 20) == 46
    assert sk.hand_joint("R", 0) == sk.R_WRIST and sk.hand_joint("L", 0) == sk.L_WRIST
    # Finger bases hang from the wrist; fingertips from the joint before them (OpenPose order).
    assert sk.PARENTS[sk.hand_joint("L", 5)] == sk.L_WRIST
    assert sk.PARENTS[sk.hand_joint("L", 8)] == sk.hand_joint("L", 7)
    assert len(sk.BONES) == 46  # a tree over 47 joints
    order = {j: i for i, j in enumerate(sk.TOPOLOGICAL_ORDER)}
    assert all(order[p] < order[c] for p, c in sk.BONES)


def test_interpolation_is_linear_in_time_for_a_dropped_joint():
    kp = _pose(T=11)
    truth = kp.copy()
    kp[3:8, 2, sk.R_ELBOW] = 0.0  # five frames with the elbow lost
    kp[3:8, :2, sk.R_ELBOW] = 0.0  # the detector reports (0, 0) for lost joints
    filled, mask = sk.interpolate_missing(kp, threshold=0.3)
    assert mask[3:8, sk.R_ELBOW].all() and not mask[:3].any() and not mask[8:].any()
    # The true motion is linear, so linear interpolation recovers it exactly.
    np.testing.assert_allclose(filled[:, :2, sk.R_ELBOW], truth[:, :2, sk.R_ELBOW], atol=1e-4)
    assert (filled[3:8, 2, sk.R_ELBOW] == 0).all(), "confidence stays low so drawings can show guessed joints"


def test_a_lost_hand_follows_its_wrist():
    kp = _pose(T=9)
    lost = list(sk.R_HAND)
    # The wrist and the hand held rigidly to it move non-linearly (a bow stroke).
    shift = np.linspace(0, 80, 9, dtype=np.float32) ** 1.5 / 10
    kp[:, 0, [sk.R_WRIST, *lost]] += shift[:, None]
    truth = kp.copy()
    kp[2:7, 2, 7:27] = 0.0
    kp[2:7, :2, 7:27] = -1.0  # garbage coordinates from the detector
    filled, _ = sk.interpolate_missing(kp, threshold=0.3)
    # Each hand point keeps its offset from the wrist while lost, so it follows the wrist's curve
    # instead of a straight line through the image.
    np.testing.assert_allclose(filled[:, :2, 7:27], truth[:, :2, 7:27], atol=1e-3)


def test_edges_hold_and_never_seen_joints_sit_on_their_parent():
    kp = _pose(T=6)
    kp[:2, 2, sk.L_ELBOW] = 0.0
    kp[:, 2, sk.hand_joint("L", 8)] = 0.0  # never detected
    filled, _ = sk.interpolate_missing(kp)
    off = kp[2, :2, sk.L_ELBOW] - kp[2, :2, sk.L_SHOULDER]
    np.testing.assert_allclose(filled[0, :2, sk.L_ELBOW] - filled[0, :2, sk.L_SHOULDER], off, atol=1e-4)
    np.testing.assert_allclose(filled[:, :2, sk.hand_joint("L", 8)], filled[:, :2, sk.hand_joint("L", 7)])
    assert np.isfinite(filled).all()


def test_nan_coordinates_count_as_missing():
    kp = _pose(T=5)
    kp[2, :2, sk.NECK] = np.nan
    filled, mask = sk.interpolate_missing(kp)
    assert mask[2, sk.NECK] and np.isfinite(filled).all()
    np.testing.assert_allclose(filled[2, :2, sk.NECK], (kp[1, :2, sk.NECK] + kp[3, :2, sk.NECK]) / 2)


def test_normalise_centres_on_the_neck_and_scales_by_shoulder_width_and_inverts():
    kp = _pose(T=7)
    norm, stats = sk.normalize(kp)
    assert stats.scale == pytest.approx(120.0)
    assert np.median(norm[:, 0, sk.NECK]) == pytest.approx(0.0, abs=1e-6)
    width = np.hypot(*(norm[:, :2, sk.R_SHOULDER] - norm[:, :2, sk.L_SHOULDER]).T)
    np.testing.assert_allclose(width, 1.0, rtol=1e-5)
    # One centre per clip: the sway to the right survives normalisation.
    assert norm[-1, 0, sk.NECK] - norm[0, 0, sk.NECK] == pytest.approx(12.0 / 120.0, rel=1e-4)
    np.testing.assert_allclose(sk.denormalize(norm, stats), kp, atol=1e-3)
    np.testing.assert_array_equal(norm[:, 2], kp[:, 2])


def test_normalise_without_a_detected_body_does_not_divide_by_zero():
    kp = np.zeros((4, 3, 47), np.float32)
    norm, stats = sk.normalize(kp)
    assert np.isfinite(norm).all() and stats.scale == 1.0


def test_resample_video_fps_to_spectrogram_rate():
    T = 30  # one second at 30 fps
    kp = _pose(T=T)
    out = sk.resample(kp, 30.0, 62.5)
    assert out.shape == (62, 3, 47) or out.shape == (63, 3, 47)
    assert out.shape[0] == round(T * 62.5 / 30)
    # Neck x moves 2 px per video frame -> 2 * 30 / 62.5 px per spectrogram frame.
    np.testing.assert_allclose(np.diff(out[:50, 0, sk.NECK]), 2 * 30 / 62.5, atol=1e-4)
    exact = sk.resample(kp, 30.0, 62.5, n_out=100)
    assert exact.shape[0] == 100
    np.testing.assert_array_equal(exact[-1, :2], kp[-1, :2])  # past the end: hold the last pose


def test_resample_round_trip_and_low_confidence_propagates():
    kp = _pose(T=25)
    kp[10, 2, sk.R_WRIST] = 0.0
    up = sk.resample(kp, 25.0, 62.5)
    back = sk.resample(up, 62.5, 25.0, n_out=25)
    np.testing.assert_allclose(back[:, :2], kp[:, :2], atol=1e-3)
    # Output frames between 9/25 s and 11/25 s touch the dropped frame and must not look confident.
    t = np.arange(up.shape[0]) / 62.5
    near = (t > 9 / 25) & (t < 11 / 25)
    assert (up[near, 2, sk.R_WRIST] == 0).all()


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\(T, 3, 47\)"):
        sk.interpolate_missing(np.zeros((5, 2, 47)))
    with pytest.raises(ValueError):
        sk.resample(_pose(3), 0.0, 62.5)


def test_live_gap_filling_agrees_with_the_offline_one_once_a_joint_is_lost_for_good():
    """Live mode fills causally; after a joint's last detection the offline interpolation holds the same
    offset from its parent, so both give the same skeleton."""
    kp = _pose(T=12)
    shift = np.linspace(0, 60, 12, dtype=np.float32) ** 1.3 / 5  # the wrist moves on a curve
    kp[:, 0, [sk.R_WRIST, *sk.R_HAND]] += shift[:, None]
    kp[6:, 2, [sk.R_ELBOW, *sk.R_HAND]] = 0.0  # elbow and hand lost from frame 6 to the end
    kp[6:, :2, [sk.R_ELBOW, *sk.R_HAND]] = 0.0
    kp[:, 2, sk.hand_joint("L", 8)] = 0.0  # a fingertip never seen: it sits on its parent
    offline, _ = sk.interpolate_missing(kp, threshold=0.3)
    live = sk.CausalGapFiller(threshold=0.3)
    online = np.stack([live.fill(frame) for frame in kp])
    np.testing.assert_allclose(online[:, :2], offline[:, :2], atol=1e-3)
    assert not np.allclose(online[6:, :2, sk.hand_joint("R", 4)], 0.0)  # the hand follows the wrist
