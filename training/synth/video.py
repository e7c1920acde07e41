"""Drawing a skeleton with OpenCV, and the optional 224x224 performer video (``--render-video``).

The video is what a frame-based model (seed 003) sees of a synthetic performer: the tracked skeleton drawn as a
stick figure (head, thick limbs, hand bones) with the instrument as grey lines, cropped around the performer.
It is drawn from the *clean* pose (what a camera would film), not from the tracker output.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np

from minet_desktop.core.atomic import atomic_path
from minet_desktop.core.skeleton import BONES, L_SHOULDER, N_JOINTS, NECK, R_SHOULDER

VIDEO_SIZE = 224
_BODY = {(NECK, 1), (1, 2), (2, 3), (NECK, 4), (4, 5), (5, 6)}
_COLOR_R = (60, 90, 230)  # BGR-free: images here are RGB
_COLOR_L = (40, 170, 60)


def draw_skeleton(
    img: np.ndarray,
    kp: np.ndarray,
    lines: Sequence[np.ndarray] = (),
    threshold: float = 0.3,
    scale: float = 1.0,
) -> np.ndarray:
    """Draw one frame's ``(3, 47)`` keypoints (pixels of ``img``) onto an RGB image in place.

    ``lines`` are instrument segments ``(2, 2)`` in the same pixels, drawn first in grey.
    """
    import cv2

    th = max(1, int(round(2 * scale)))
    for seg in lines:
        a, b = (int(round(v)) for v in seg[0]), (int(round(v)) for v in seg[1])
        cv2.line(img, tuple(a), tuple(b), (150, 150, 150), max(2, int(round(5 * scale))), cv2.LINE_AA)
    ok = (kp[2] >= threshold) & np.isfinite(kp[0]) & np.isfinite(kp[1])
    pts = np.round(kp[:2].T).astype(int)
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


def render_frames(
    kp_list: Sequence[np.ndarray], lines_list: Sequence[Sequence[np.ndarray]], size: int = VIDEO_SIZE
):
    """Yield RGB frames ``(size, size * n_players, 3)``: each player in a ``size``-square tile, left to right."""
    boxes = [crop_box(kp) for kp in kp_list]
    T = max(kp.shape[0] for kp in kp_list)
    for t in range(T):
        frame = np.full((size, size * len(kp_list), 3), 245, np.uint8)
        for k, (kp, lines, (x0, y0, side)) in enumerate(zip(kp_list, lines_list, boxes, strict=False)):
            f = kp[min(t, kp.shape[0] - 1)].copy()
            s = size / side
            f[0] = (f[0] - x0) * s
            f[1] = (f[1] - y0) * s
            segs = [(ln[min(t, ln.shape[0] - 1)] - np.array([x0, y0])) * s for ln in lines]
            tile = np.ascontiguousarray(frame[:, k * size : (k + 1) * size])
            draw_skeleton(tile, f, segs, scale=0.6)
            frame[:, k * size : (k + 1) * size] = tile
        yield frame


def write_video(path: str | PathLike[str], frames, fps: float = 30.0) -> Path:
    """Encode RGB frames as H.264 mp4 (atomically); deterministic single-threaded encoding."""
    import av

    target = Path(path)
    with atomic_path(target, suffix=".mp4") as tmp:
        with av.open(str(tmp), "w", format="mp4") as out:
            stream = None
            for frame in frames:
                if stream is None:
                    stream = out.add_stream("libx264", rate=int(round(fps)))
                    stream.width, stream.height = frame.shape[1], frame.shape[0]
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": "23", "preset": "veryfast", "threads": "1"}
                    stream.thread_count = 1
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    out.mux(packet)
            if stream is not None:
                for packet in stream.encode():
                    out.mux(packet)
    return target
