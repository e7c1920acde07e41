"""The performer as a picture: a stick figure drawn from body and hand keypoints (OpenCV).

Visually Indicated Music's frame regressor looks at images, but our training corpus has no camera video and a user's video
would differ from any synthetic render anyway (lighting, clothes, background, instrument). So the image the
regressor sees is **not** the video: it is the stick figure drawn from the keypoints, the same drawing the
synthetic corpus renders (``training/synth/video.py`` imports :func:`draw_skeleton` and :func:`crop_box` from
here, so ``minet-train synth --render-video`` is unchanged). Training draws it on the fly from the cache's
``skeleton.npy``, inference from the keypoints extracted from any video: both paths go through
:func:`render_pose_images` with the same arguments, so what the model sees at inference is exactly what it saw
in training, whatever the camera filmed.

Choices that keep training and inference identical:

* The input is the *normalised* skeleton (neck-centred, in shoulder widths: ``core.skeleton.model_frames``),
  which the training cache and the generation engine compute the same way, and the view is a fixed square
  in those units (:data:`VIEW_CENTER`, :data:`VIEW_HALF`) instead of a crop fitted to the clip, so the
  picture of a pose does not depend on how long the clip or the training crop is.
* Every joint is drawn whatever its detector confidence: missing joints were already interpolated, and
  confidences differ between detectors (OpenPose in Solos, MediaPipe in the app), so drawing them would teach
  the model a detector rather than a movement (the movement encoder leaves confidence out for the same reason).
* Poses between skeleton frames are linearly interpolated (:func:`sample_poses`), so images can be drawn at
  any frame rate from a skeleton at any other.

Images are ``uint8`` ``(T, C, S, S)``: RGB (C = 3) on a light grey background, or its luminance (C = 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from minet_desktop.core.skeleton import BONES, L_SHOULDER, N_JOINTS, NECK, R_SHOULDER

#: Background grey of the drawing (as the synthetic corpus's 224x224 performer video).
BACKGROUND = 245
_BODY = {(NECK, 1), (1, 2), (2, 3), (NECK, 4), (4, 5), (5, 6)}
_COLOR_R = (60, 90, 230)  # RGB: the performer's right side blue, left side green
_COLOR_L = (40, 170, 60)
#: Centre of the regressor's view in normalised units (shoulder widths from the median neck): left of and
#: below the neck, since the performer's right arm (image left) and the instruments reach further that way.
VIEW_CENTER = (-0.2, 0.3)
#: Half the side of the regressor's square view, in shoulder widths. On the 180-minute synthetic corpus 99% of
#: joints lie within x -1.2..0.9 and y -0.9..1.5 (the head's top at about -0.9), and 99.99% inside the view
#: x -1.8..1.4, y -1.3..1.9: the whole performer with room for sway, and the hands as large as that allows.
VIEW_HALF = 1.6
#: Line thickness relative to a 224-pixel image (the corpus video's 0.6 at 224).
LINE_SCALE_224 = 0.6


def draw_skeleton(
    img: np.ndarray,
    kp: np.ndarray,
    lines: Sequence[np.ndarray] = (),
    threshold: float = 0.3,
    scale: float = 1.0,
) -> np.ndarray:
    """Draw one frame's ``(3, 47)`` keypoints (pixels of ``img``) onto an RGB image in place.

    ``lines`` are instrument segments ``(2, 2)`` in the same pixels, drawn first in grey. Joints whose
    confidence is below ``threshold`` (or not finite) are left out, with their bones.
    """
    th = max(1, int(round(2 * scale)))
    for seg in lines:
        a, b = (int(round(v)) for v in seg[0]), (int(round(v)) for v in seg[1])
        cv2.line(img, tuple(a), tuple(b), (150, 150, 150), max(2, int(round(5 * scale))), cv2.LINE_AA)
    ok = (kp[2] >= threshold) & np.isfinite(kp[0]) & np.isfinite(kp[1])
    pts = np.round(np.nan_to_num(kp[:2].T)).astype(int)
    if ok[R_SHOULDER] and ok[L_SHOULDER] and ok[NECK]:
        width = np.hypot(*(kp[:2, R_SHOULDER] - kp[:2, L_SHOULDER]))
        head = (int(pts[NECK][0]), int(round(kp[1, NECK] - 0.55 * width)))
        cv2.ellipse(
            img, head, (int(0.24 * width), int(0.31 * width)), 0, 0, 360, (90, 90, 90), th, cv2.LINE_AA
        )
    for p, c in BONES:
        if not (ok[p] and ok[c]):
            continue
        right = c in (1, 2, 3) or 7 <= c < 27
        color = _COLOR_R if right else _COLOR_L
        t = th * 2 if (p, c) in _BODY else th
        cv2.line(img, tuple(pts[p]), tuple(pts[c]), color, t, cv2.LINE_AA)
    for j in range(N_JOINTS):
        if ok[j]:
            cv2.circle(img, tuple(pts[j]), th if j >= 7 else th + 1, (20, 20, 20), -1, cv2.LINE_AA)
    return img


def crop_box(kp: np.ndarray, margin: float = 0.25) -> tuple[float, float, float]:
    """Square crop (x0, y0, side) around all confidently tracked joints of a ``(T, 3, 47)`` track."""
    ok = kp[:, 2] > 0.3
    xs, ys = kp[:, 0][ok], kp[:, 1][ok]
    if xs.size == 0:
        return 0.0, 0.0, 1.0
    x0, x1 = np.percentile(xs, [1, 99])
    y0, y1 = np.percentile(ys, [1, 99])
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return float(cx - side / 2), float(cy - side / 2), float(max(side, 1.0))


def sample_poses(frames: np.ndarray, fps: float, times: np.ndarray) -> np.ndarray:
    """Poses at arbitrary ``times`` (s) from skeleton frames at ``fps``: ``(T, 3, 47)`` -> ``(len(times), 3, 47)``.

    Frame ``k`` is the pose at ``k / fps``; in between, x and y are interpolated linearly (confidence too);
    before the first frame and after the last the end poses are held.
    """
    if frames.ndim != 3 or frames.shape[1:] != (3, N_JOINTS):
        raise ValueError(f"frames must have shape (T, 3, {N_JOINTS}), got {tuple(frames.shape)}")
    if frames.shape[0] == 0:
        raise ValueError("no skeleton frames to draw")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    pos = np.clip(np.asarray(times, np.float64) * fps, 0.0, frames.shape[0] - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, frames.shape[0] - 1)
    w = (pos - lo).astype(np.float32)[:, None, None]
    a = np.asarray(frames[lo], np.float32)
    b = np.asarray(frames[hi], np.float32)
    return a * (1 - w) + b * w


def render_pose_images(
    frames: np.ndarray,
    size: int,
    grayscale: bool = False,
    center: tuple[float, float] = VIEW_CENTER,
    half: float = VIEW_HALF,
) -> np.ndarray:
    """Stick-figure images of normalised skeleton frames: ``(T, 3, 47)`` -> ``(T, C, size, size)`` uint8.

    Parameters
    ----------
    frames
        Normalised keypoints (``core.skeleton.model_frames``): x, y in shoulder widths from the neck.
    size
        Side of the square image in pixels.
    grayscale
        One luminance channel instead of RGB (cheaper for a CNN on a CPU).
    center, half
        The view: the square ``center ± half`` of normalised space fills the image.

    Deterministic: the same frames give the same bytes (OpenCV's anti-aliased drawing has no randomness).
    """
    if frames.ndim != 3 or frames.shape[1:] != (3, N_JOINTS):
        raise ValueError(f"frames must have shape (T, 3, {N_JOINTS}), got {tuple(frames.shape)}")
    if size < 8:
        raise ValueError(f"image size must be at least 8 pixels, got {size}")
    if not half > 0:
        raise ValueError(f"view half-side must be positive, got {half}")
    scale = size / (2 * half)
    x0, y0 = center[0] - half, center[1] - half
    line = LINE_SCALE_224 * size / 224
    T = frames.shape[0]
    out = np.empty((T, 1 if grayscale else 3, size, size), np.uint8)
    img = np.empty((size, size, 3), np.uint8)
    pix = np.empty((3, N_JOINTS), np.float32)
    for t in range(T):
        f = frames[t]
        # Clipped far outside the image so that a wild pose cannot overflow OpenCV's integer coordinates.
        pix[0] = np.clip((f[0] - x0) * scale, -4 * size, 5 * size)
        pix[1] = np.clip((f[1] - y0) * scale, -4 * size, 5 * size)
        # Interpolated joints are real positions: draw every finite joint (see the module docstring).
        pix[2] = 1.0
        img.fill(BACKGROUND)
        draw_skeleton(img, pix, scale=line)
        if grayscale:
            out[t, 0] = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        else:
            out[t] = img.transpose(2, 0, 1)
    return out
