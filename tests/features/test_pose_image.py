"""The stick figure the frame regressor sees: deterministic, in a fixed view, at any frame rate."""

from __future__ import annotations

import numpy as np
import pytest

from minet_desktop.core.skeleton import L_SHOULDER, L_WRIST, NECK, R_SHOULDER, R_WRIST
from minet_desktop.features import pose_image
from minet_desktop.features.pose_image import BACKGROUND, render_pose_images, sample_poses


def pose(dx: float = 0.0) -> np.ndarray:
    """A normalised ``(3, 47)`` pose: neck at 0, shoulders at ±0.5, every other joint near the chest."""
    rng = np.random.default_rng(0)
    f = np.zeros((3, 47), np.float32)
    f[0] = rng.uniform(-0.8, 0.8, 47)
    f[1] = rng.uniform(0.2, 1.2, 47)
    f[:2, NECK] = 0.0, 0.0
    f[:2, R_SHOULDER] = -0.5, 0.0
    f[:2, L_SHOULDER] = 0.5, 0.0
    f[0] += dx
    f[2] = 0.05  # confidence is ignored: interpolated joints are drawn too
    return f


def test_same_frames_same_bytes_and_a_moved_arm_changes_the_picture() -> None:
    frames = np.stack([pose(), pose(0.1)])
    a = render_pose_images(frames, 64)
    b = render_pose_images(frames.copy(), 64)
    assert a.dtype == np.uint8 and a.shape == (2, 3, 64, 64)
    assert np.array_equal(a, b)
    assert not np.array_equal(a[0], a[1])
    moved = frames[:1].copy()
    moved[0, :2, R_WRIST] += 0.4
    assert not np.array_equal(render_pose_images(moved, 64)[0], a[0])
    gray = render_pose_images(frames, 64, grayscale=True)
    assert gray.shape == (2, 1, 64, 64) and np.array_equal(
        gray, render_pose_images(frames, 64, grayscale=True)
    )


def test_the_view_is_fixed_in_shoulder_widths() -> None:
    size, center, half = 200, (0.0, 0.0), 2.0
    img = render_pose_images(pose()[None], size, center=center, half=half)[0]
    # The neck (0, 0) is drawn at the image centre; far corners stay background.
    assert (img[:, 100, 100] < BACKGROUND).any()
    assert (img[:, :10, :10] == BACKGROUND).all()
    # Shifting the view by one shoulder width moves the drawing by size / (2 * half) = 50 pixels (an even
    # number, so that numpy's round-half-to-even moves every joint by the same amount).
    shifted = render_pose_images(pose()[None], size, center=(1.0, 0.0), half=half)[0]
    assert np.array_equal(shifted[:, :, :150], img[:, :, 50:])
    # The defaults keep a whole performer in view.
    frame = pose()[None]
    frame[0, :2, L_WRIST] = 1.2, 1.7  # further right and down than 99.9% of the corpus' joints reach
    default = render_pose_images(frame, 96)[0]
    (cx, cy), half = pose_image.VIEW_CENTER, pose_image.VIEW_HALF
    x, y = (int(round((v - c + half) * 96 / (2 * half))) for v, c in ((1.2, cx), (1.7, cy)))
    assert (default[:, y, x] < BACKGROUND).any()  # the wrist is in the picture
    assert (default[:, -2:, :] == BACKGROUND).all() and (default[:, :, -2:] == BACKGROUND).all()


def test_wild_or_missing_joints_do_not_break_the_drawing() -> None:
    frame = pose()[None]
    frame[0, :2, 20] = 1e9, -1e9
    frame[0, :2, 30] = np.nan
    img = render_pose_images(frame, 32)
    assert img.shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="shape"):
        render_pose_images(np.zeros((2, 3, 10), np.float32), 32)


def test_poses_are_interpolated_at_any_time() -> None:
    frames = np.stack([pose(), pose(1.0)])  # at 0 s and 0.5 s (2 frames/s)
    out = sample_poses(frames, 2.0, np.array([-1.0, 0.0, 0.25, 0.5, 9.0]))
    np.testing.assert_allclose(out[0], frames[0])
    np.testing.assert_allclose(out[1], frames[0])
    np.testing.assert_allclose(out[2, 0], frames[0, 0] + 0.5, atol=1e-6)
    np.testing.assert_allclose(out[3], frames[1])
    np.testing.assert_allclose(out[4], frames[1])


def test_the_synthetic_corpus_draws_with_the_same_function() -> None:
    from training.synth import report, video

    assert video.draw_skeleton is pose_image.draw_skeleton and video.crop_box is pose_image.crop_box
    assert report is not None
