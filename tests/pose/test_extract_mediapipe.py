"""Real MediaPipe Holistic on real photos: the performer's hands end up on the performer's own wrists.

Slow (Holistic builds its graph in about a second per call), so kept to a handful of calls.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from minet_desktop.core import skeleton as sk
from minet_desktop.core.errors import Cancelled, InputError
from minet_desktop.media.video import read_image
from minet_desktop.pose.extract import extract_image, extract_video, holistic, keypoints_for_video
from minet_desktop.pose.keypoint_file import KeypointFile, sidecar_path
from minet_desktop.pose.mediapipe_map import hand_points_px, map_holistic

pytestmark = pytest.mark.slow


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.hypot(*(np.asarray(a) - np.asarray(b))))


def _assert_wrists_on_own_hands(kp: np.ndarray) -> None:
    """Each canonical wrist lies near its own hand's points and far from the other hand's."""
    r_hand = kp[:2, list(sk.R_HAND)].mean(axis=1)
    l_hand = kp[:2, list(sk.L_HAND)].mean(axis=1)
    for wrist, own, other in ((sk.R_WRIST, r_hand, l_hand), (sk.L_WRIST, l_hand, r_hand)):
        d_own, d_other = _dist(kp[:2, wrist], own), _dist(kp[:2, wrist], other)
        assert d_own < 0.3 * d_other, (
            f"joint {wrist}: {d_own:.0f} px to its own hand, {d_other:.0f} to the other"
        )


def _write_video(path: Path, frames: list[np.ndarray], fps: float, fourcc: str = "mp4v") -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def messi_video(opencv_data, tmp_path_factory) -> Path:
    """Six frames of messi5.jpg panning slightly, 10 fps."""
    rgb = read_image(opencv_data / "messi5.jpg")
    frames = [np.roll(rgb, 4 * i, axis=1) for i in range(6)]
    return _write_video(tmp_path_factory.mktemp("messi") / "messi.mp4", frames, fps=10.0)


def test_messi_image_pose_and_both_hands_on_their_own_wrists(opencv_data):
    kf = extract_image(opencv_data / "messi5.jpg")
    assert kf.n_frames == 1 and kf.frame_size == (548, 342) and kf.detected_fraction == 1.0
    kp = kf.keypoints[0]
    assert (kp[2, :7] > 0.5).all(), "neck, shoulders, elbows, wrists all found"
    assert (kp[2, 7:] > 0).all(), "both hands found"
    _assert_wrists_on_own_hands(kp)
    # Messi faces the camera: his right shoulder is on the image's left (OpenPose's convention too).
    assert kp[0, sk.R_SHOULDER] < kp[0, sk.NECK] < kp[0, sk.L_SHOULDER]


def test_holistic_right_hand_is_the_performers_right(opencv_data):
    """MediaPipe's own hand wrist (hand point 0) sits on the canonical wrist of the same side."""
    checked = []
    with holistic(static_image_mode=True) as graph:
        for name in ("messi5.jpg", "basketball1.png"):
            rgb = read_image(opencv_data / name)
            h, w = rgb.shape[:2]
            results = graph.process(rgb)
            kp = map_holistic(results, w, h)
            for side, hand in hand_points_px(results, w, h).items():
                if hand is None:
                    continue
                own, other = (sk.R_WRIST, sk.L_WRIST) if side == "R" else (sk.L_WRIST, sk.R_WRIST)
                assert _dist(hand[0], kp[:2, own]) < 0.5 * _dist(hand[0], kp[:2, other]), (name, side)
                checked.append((name, side))
    # basketball1 shows only the right hand clearly (both hands are on the ball, close together).
    assert {("messi5.jpg", "R"), ("messi5.jpg", "L"), ("basketball1.png", "R")} <= set(checked)


def test_video_extraction_progress_and_sidecar(messi_video):
    calls: list[tuple[int, int]] = []
    kf = keypoints_for_video(messi_video, progress=lambda d, t: calls.append((d, t)))
    assert kf.n_frames == 6 and kf.fps == pytest.approx(10.0) and kf.frame_size == (548, 342)
    assert kf.detected_fraction == 1.0 and kf.source_name == "messi.mp4"
    assert calls == [(i, 6) for i in range(1, 7)]
    for t in range(6):
        _assert_wrists_on_own_hands(kf.keypoints[t])
    saved = KeypointFile.load(sidecar_path(messi_video))
    assert saved.keypoints.tobytes() == kf.keypoints.tobytes()
    sidecar_path(messi_video).unlink()


def test_cancel_raises_and_writes_nothing(messi_video, tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(messi_video.read_bytes())
    polls = []

    def should_cancel() -> bool:
        polls.append(1)
        return len(polls) > 2

    with pytest.raises(Cancelled):
        keypoints_for_video(video, should_cancel=should_cancel)
    assert len(polls) == 3, "polled before every frame, stopped at the first True"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"], "no sidecar, no temp file"


def test_video_without_a_person_is_not_an_error(tmp_path):
    frames = [np.full((120, 160, 3), 90 + 10 * i, np.uint8) for i in range(8)]
    video = _write_video(tmp_path / "empty_room.avi", frames, fps=15.0, fourcc="MJPG")
    kf = extract_video(video)
    assert kf.n_frames == 8 and kf.detected_fraction == 0.0
    assert (kf.keypoints == 0).all()


def test_truncated_video_raises_and_leaves_no_sidecar(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(30)]
    full = _write_video(tmp_path / "full.avi", frames, fps=15.0, fourcc="MJPG")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated after frame") as err:
        keypoints_for_video(cut)
    assert "cut.avi" in str(err.value)
    assert not sidecar_path(cut).exists()
