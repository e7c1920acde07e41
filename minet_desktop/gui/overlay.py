"""Drawing the 47-joint skeleton over a video frame.

Pure functions of (painter or frame, keypoints) so tests can check pixels without a window:
:func:`draw_skeleton` paints one frame's keypoints with any ``QPainter``; :func:`render_overlay` returns
an RGB frame with the skeleton drawn on it as a ``QImage`` at the frame's own resolution.

Colours: body (neck, shoulders, arms) in gold, the performer's *right* hand in red and *left* hand in
blue. "Right" is the performer's own (OpenPose convention), so for a performer facing the camera the
red hand is on the left of the image. Joints the detector was unsure of (confidence below the threshold)
are drawn as hollow, faded circles joined by dashed bones; joints it did not find at all (confidence 0
or coordinates NaN) are not drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen

from minet_desktop.core.skeleton import BONES, L_HAND, N_JOINTS, R_HAND

BODY_COLOR = QColor(255, 200, 0)
RIGHT_HAND_COLOR = QColor(255, 50, 50)
LEFT_HAND_COLOR = QColor(40, 150, 255)
#: Alpha (0-255) of joints and bones below the confidence threshold.
LOW_CONFIDENCE_ALPHA = 110
#: Radius of hand joints relative to body joints.
HAND_JOINT_SCALE = 0.75
#: Background of the canvas a keypoint file without its video is drawn on.

_R_HAND = frozenset(R_HAND)
_L_HAND = frozenset(L_HAND)


def joint_color(joint: int) -> QColor:
    """Colour of a joint: red for the performer's right hand, blue for the left, gold for the body."""
    if joint in _R_HAND:
        return QColor(RIGHT_HAND_COLOR)
    if joint in _L_HAND:
        return QColor(LEFT_HAND_COLOR)
    return QColor(BODY_COLOR)


@dataclass(frozen=True)
class OverlayStyle:
    """Sizes in frame pixels; :meth:`for_frame` scales them with the frame so a 4K video is not all thin lines."""

    line_width: float = 2.0
    joint_radius: float = 3.0

    @classmethod
    def for_frame(cls, width: int, height: int) -> OverlayStyle:
        scale = max(1.0, max(width, height) / 640.0)
        return cls(line_width=2.0 * scale, joint_radius=3.0 * scale)


def draw_skeleton(
    painter: QPainter,
    keypoints: np.ndarray,
    threshold: float,
    style: OverlayStyle | None = None,
) -> None:
    """Draw one frame's skeleton in the painter's coordinates (frame pixels).

    Parameters
    ----------
    painter
        An active painter whose coordinates are the frame's pixels.
    keypoints
        ``(3, 47)``: x, y (pixels) and detector confidence of each joint.
    threshold
        Joints with confidence below this are drawn hollow and faded
        (``SkeletonConfig().confidence_threshold``).
    style
        Line width and joint radius; default :class:`OverlayStyle`.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape != (3, N_JOINTS):
        raise ValueError(f"keypoints for one frame must have shape (3, {N_JOINTS}), got {kp.shape}")
    style = style or OverlayStyle()
    x, y, conf = kp
    found = np.isfinite(x) & np.isfinite(y) & np.isfinite(conf) & (conf > 0)
    sure = found & (conf >= threshold)

    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for parent, child in BONES:
        if not (found[parent] and found[child]):
            continue
        color = joint_color(child)  # the wrist -> finger bones take the hand's colour
        pen = QPen(color, style.line_width)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        if not (sure[parent] and sure[child]):
            color.setAlpha(LOW_CONFIDENCE_ALPHA)
            pen.setColor(color)
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawLine(QPointF(x[parent], y[parent]), QPointF(x[child], y[child]))

    for j in np.flatnonzero(found):
        color = joint_color(int(j))
        centre = QPointF(x[j], y[j])
        # Finger joints sit a few pixels apart: smaller dots keep a hand readable instead of one blob.
        r = style.joint_radius * (HAND_JOINT_SCALE if (j in _R_HAND or j in _L_HAND) else 1.0)
        if sure[j]:
            painter.setPen(QPen(color.darker(250), max(1.0, style.line_width / 2)))
            painter.setBrush(QBrush(color))
            painter.drawEllipse(centre, r, r)
        else:
            color.setAlpha(LOW_CONFIDENCE_ALPHA)
            painter.setPen(QPen(color, max(1.0, style.line_width / 2)))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(centre, r, r)
    painter.restore()


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """``(H, W, 3)`` uint8 RGB array -> ``QImage`` (RGB32) that owns its pixels."""
    frame = np.ascontiguousarray(rgb, dtype=np.uint8)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB frame, got shape {frame.shape}")
    h, w, _ = frame.shape
    view = QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    # convertToFormat copies, so the image no longer points into the numpy buffer.
    return view.convertToFormat(QImage.Format.Format_RGB32)


def qimage_to_rgb(image: QImage) -> np.ndarray:
    """``QImage`` -> ``(H, W, 3)`` uint8 RGB array (a copy)."""
    img = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w = img.height(), img.width()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.bytesPerLine() * h)
    return buf.reshape(h, img.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


def render_overlay(
    rgb_frame: np.ndarray,
    keypoints: np.ndarray | None,
    threshold: float,
    style: OverlayStyle | None = None,
) -> QImage:
    """The frame with the skeleton drawn on it (or just the frame, if ``keypoints`` is None).

    Parameters
    ----------
    rgb_frame
        ``(H, W, 3)`` uint8 RGB.
    keypoints
        ``(3, 47)`` for this frame, in the frame's pixel coordinates, or None.
    threshold
        Confidence below which joints are drawn hollow.
    """
    image = rgb_to_qimage(rgb_frame)
    if keypoints is None:
        return image
    painter = QPainter(image)
    try:
        draw_skeleton(
            painter, keypoints, threshold, style or OverlayStyle.for_frame(image.width(), image.height())
        )
    finally:
        painter.end()
    return image
