"""The widget that shows the current frame, scaled to fit with its aspect ratio kept."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from minet_desktop.gui.overlay import BODY_COLOR, LEFT_HAND_COLOR, RIGHT_HAND_COLOR

PLACEHOLDER = "Open a video or keypoint file\n(File \u203a Open, or drop it here)"


class VideoView(QWidget):
    """Shows one ``QImage`` (the frame with its overlay), letterboxed, plus a small colour legend."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._legend = False
        self._info = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 200)
        self.setAutoFillBackground(True)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, QColor(0, 0, 0))
        self.setPalette(palette)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(800, 480)

    def set_image(self, image: QImage | None, legend: bool = False) -> None:
        """Show ``image`` (None: the placeholder); ``legend`` adds the body / right / left hand key."""
        self._image = image
        self._legend = legend
        self.update()

    def set_info(self, text: str) -> None:
        """A line shown in the bottom-left corner over the image (live mode: fps and latency); "" hides it."""
        if text != self._info:
            self._info = text
            self.update()

    def info(self) -> str:
        return self._info

    def image(self) -> QImage | None:
        """The image being shown, at the frame's own resolution."""
        return self._image

    def image_rect(self) -> QRectF:
        """Where the image is drawn in the widget (letterboxed to keep its aspect ratio)."""
        if self._image is None or self._image.isNull():
            return QRectF()
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        try:
            if self._image is None or self._image.isNull():
                painter.setPen(QColor(170, 170, 170))
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, PLACEHOLDER)
                return
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(self.image_rect(), self._image)
            if self._legend:
                self._draw_legend(painter)
            if self._info:
                self._draw_info(painter)
        finally:
            painter.end()

    def _draw_legend(self, painter: QPainter) -> None:
        entries = (("body", BODY_COLOR), ("right hand", RIGHT_HAND_COLOR), ("left hand", LEFT_HAND_COLOR))
        metrics = painter.fontMetrics()
        line = metrics.height() + 2
        width = max(metrics.horizontalAdvance(text) for text, _ in entries) + 30
        box = QRectF(8, 8, width, line * len(entries) + 8)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(box, 4, 4)
        for i, (text, color) in enumerate(entries):
            top = box.top() + 4 + i * line
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(color)
            painter.drawEllipse(QRectF(box.left() + 7, top + line / 2 - 5, 10, 10))
            painter.setPen(QColor(235, 235, 235))
            painter.drawText(QRectF(box.left() + 23, top, width, line), Qt.AlignmentFlag.AlignVCenter, text)

    def _draw_info(self, painter: QPainter) -> None:
        metrics = painter.fontMetrics()
        width = metrics.horizontalAdvance(self._info) + 16
        box = QRectF(8, self.height() - metrics.height() - 16, width, metrics.height() + 8)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 160))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor(235, 235, 235))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self._info)
