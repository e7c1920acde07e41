"""Skeleton drawing without a window: colours, low-confidence and missing joints, settings helpers."""

from __future__ import annotations

import numpy as np
import pytest

from minet_desktop.core.config import SkeletonConfig
from minet_desktop.core.skeleton import L_ELBOW, L_WRIST, N_JOINTS, NECK, R_WRIST, hand_joint
from minet_desktop.gui import settings as app_settings
from minet_desktop.gui.overlay import (
    BODY_COLOR,
    LEFT_HAND_COLOR,
    RIGHT_HAND_COLOR,
    joint_color,
    qimage_to_rgb,
    render_overlay,
    rgb_to_qimage,
)
from minet_desktop.gui.transport import format_time
from minet_desktop.media.frames import blank_canvas

THRESHOLD = SkeletonConfig().confidence_threshold


def rgb(color):
    return (color.red(), color.green(), color.blue())


def lone_joint(joint, x, y, conf):
    """One frame's keypoints with only ``joint`` found."""
    kp = np.zeros((3, N_JOINTS), np.float32)
    kp[:, joint] = (x, y, conf)
    return kp


def test_three_distinct_colours_by_body_part():
    colours = {rgb(BODY_COLOR), rgb(RIGHT_HAND_COLOR), rgb(LEFT_HAND_COLOR)}
    assert len(colours) == 3
    assert rgb(joint_color(hand_joint("R", 8))) == rgb(RIGHT_HAND_COLOR)
    assert rgb(joint_color(hand_joint("L", 20))) == rgb(LEFT_HAND_COLOR)
    for j in (NECK, R_WRIST, L_WRIST):  # wrists belong to the body (and to both chains)
        assert rgb(joint_color(j)) == rgb(BODY_COLOR)


def test_qimage_round_trip_is_exact():
    frame = np.random.default_rng(0).integers(0, 256, (7, 11, 3), dtype=np.uint8)
    np.testing.assert_array_equal(qimage_to_rgb(rgb_to_qimage(frame)), frame)


def test_no_keypoints_is_the_raw_frame():
    frame = blank_canvas(40, 30)
    np.testing.assert_array_equal(qimage_to_rgb(render_overlay(frame, None, THRESHOLD)), frame)


def test_confident_joint_is_filled_low_confidence_is_hollow_missing_is_absent():
    frame = blank_canvas(60, 40)
    sure = qimage_to_rgb(render_overlay(frame, lone_joint(hand_joint("L", 4), 20, 20, 0.9), THRESHOLD))
    assert tuple(sure[20, 20]) == rgb(LEFT_HAND_COLOR)

    unsure = qimage_to_rgb(
        render_overlay(frame, lone_joint(hand_joint("L", 4), 20, 20, THRESHOLD / 2), THRESHOLD)
    )
    np.testing.assert_array_equal(unsure[20, 20], frame[20, 20])  # hollow centre
    assert not np.array_equal(unsure[17:24, 17:24], frame[17:24, 17:24])  # but a ring is drawn
    ring = unsure[17:24, 17:24].reshape(-1, 3).astype(int)
    # Faded: no ring pixel reaches the full colour.
    assert np.abs(ring - np.array(rgb(LEFT_HAND_COLOR))).sum(axis=1).min() > 30

    for conf, x in ((0.0, 20.0), (0.9, np.nan)):
        missing = qimage_to_rgb(render_overlay(frame, lone_joint(hand_joint("L", 4), x, 20, conf), THRESHOLD))
        np.testing.assert_array_equal(missing, frame)


def test_bones_join_found_joints_only():
    frame = blank_canvas(80, 40)
    kp = np.zeros((3, N_JOINTS), np.float32)
    kp[:, L_ELBOW] = (10, 20, 0.9)
    kp[:, L_WRIST] = (70, 20, 0.9)
    image = qimage_to_rgb(render_overlay(frame, kp, THRESHOLD))
    assert tuple(image[20, 40]) == rgb(BODY_COLOR)  # midway along the forearm
    kp[2, L_WRIST] = 0.0  # wrist not found: no bone, only the elbow
    image = qimage_to_rgb(render_overlay(frame, kp, THRESHOLD))
    np.testing.assert_array_equal(image[:, 30:], frame[:, 30:])


def test_wrong_keypoint_shape_is_rejected():
    with pytest.raises(ValueError, match="3, 47"):
        render_overlay(blank_canvas(10, 10), np.zeros((3, 25)), THRESHOLD)


def test_format_time():
    assert format_time(0) == "0:00.0"
    assert format_time(83.25) == "1:23.2"


def test_updated_recent_dedupes_and_limits(tmp_path):
    paths = [str(tmp_path / f"f{i}") for i in range(10)]
    recent: list[str] = []
    for p in paths:
        recent = app_settings.updated_recent(recent, p)
    assert recent == paths[::-1][: app_settings.MAX_RECENT_FILES]
    assert app_settings.updated_recent(recent, paths[5])[0] == paths[5]
    assert len(app_settings.updated_recent(recent, paths[5])) == app_settings.MAX_RECENT_FILES


def test_settings_live_in_tmp_path(gui_settings_in_tmp_path):
    settings = app_settings.open_settings()
    settings.setValue("probe", 1)
    settings.sync()
    assert str(gui_settings_in_tmp_path) in settings.fileName()
