"""Media made in tmp_path for the GUI tests: small videos and synthetic keypoints."""

from __future__ import annotations

import cv2
import numpy as np

from minet_desktop.core.skeleton import N_JOINTS, hand_joint

VIDEO_SIZE = (160, 120)  # (w, h)
VIDEO_FPS = 25.0
VIDEO_FRAMES = 10


def write_test_video(path, n_frames=VIDEO_FRAMES, size=VIDEO_SIZE, fps=VIDEO_FPS):
    """An MJPG .avi whose frames differ (grey level and a moving square), so a test can tell them apart."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for i in range(n_frames):
        frame = np.full((h, w, 3), 40 + 15 * i, np.uint8)
        x = 5 + 12 * i
        cv2.rectangle(frame, (x, 90), (x + 10, 110), (255, 255, 255), -1)
        writer.write(frame)
    writer.release()
    return path


def synthetic_keypoints(n_frames=VIDEO_FRAMES, size=VIDEO_SIZE, confidence=0.9):
    """``(T, 3, 47)`` keypoints laid out so that no two joints' circles overlap.

    Body across the top, the performer's right hand as a 5x4 grid on the image's left, the left hand on
    its right (a performer facing the camera).
    """
    w, h = size
    kp = np.zeros((n_frames, 3, N_JOINTS), np.float32)
    body = [(80, 20), (60, 25), (45, 35), (30, 40), (100, 25), (115, 35), (130, 40)]
    for j, (x, y) in enumerate(body):
        kp[:, 0, j], kp[:, 1, j] = x, y
    for side, x0 in (("R", 10), ("L", 110)):
        for point in range(1, 21):
            j = hand_joint(side, point)
            kp[:, 0, j] = x0 + 9 * ((point - 1) // 4)
            kp[:, 1, j] = 55 + 8 * ((point - 1) % 4)
    kp[:, 2, :] = confidence
    kp[:, 0, :] += np.arange(n_frames, dtype=np.float32)[:, None]  # moves 1 px per frame
    return kp


MESSI = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg"


def write_messi_video(path, n_frames=3, fps=VIDEO_FPS):
    """A short MJPG video of OpenCV's messi5.jpg (a person with both hands visible)."""
    image = cv2.imread(MESSI)
    assert image is not None, f"{MESSI} missing (apt install opencv-doc)"
    h, w = image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for _ in range(n_frames):
        writer.write(image)
    writer.release()
    return path
