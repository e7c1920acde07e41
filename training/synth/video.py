"""Drawing a skeleton with OpenCV, and the optional 224x224 performer video (``--render-video``).

The video is what a frame-based model (Visually Indicated Music) sees of a synthetic performer: the tracked skeleton drawn as a
stick figure (head, thick limbs, hand bones) with the instrument as grey lines, cropped around the performer.
It is drawn from the *clean* pose (what a camera would film), not from the tracker output. The drawing itself
(:func:`draw_skeleton`, :func:`crop_box`) lives in :mod:`minet_desktop.features.pose_image`, where Visually Indicated Music's
frame regressor draws the same stick figure from keypoints at training and at inference time.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from os import PathLike
from pathlib import Path

import numpy as np

from minet_desktop.core.atomic import atomic_path
from minet_desktop.features.pose_image import crop_box, draw_skeleton

__all__ = ["VIDEO_SIZE", "crop_box", "draw_skeleton", "render_frames", "write_video"]

VIDEO_SIZE = 224


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
                    # 29.97 stays 30000/1001, not 30
                    stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
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
