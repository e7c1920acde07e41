"""Guards the Qt binding pin: PySide6 6.12.0 on Python 3.11 drops a reference to None on most calls
(QPainter.save/restore, currentData, ...), and the interpreter aborts with "none_dealloc" after a few minutes of
playback. requirements/lock.txt pins 6.11.3, which does not; this test fails if a binding with the bug comes back."""

import sys

from PySide6.QtGui import QImage, QPainter


def test_qt_calls_do_not_leak_references_to_none(qapp):
    image = QImage(8, 8, QImage.Format.Format_RGB888)
    painter = QPainter(image)
    try:
        before = sys.getrefcount(None)
        for _ in range(200):
            painter.save()
            painter.restore()
        after = sys.getrefcount(None)
    finally:
        painter.end()
    assert abs(after - before) < 50, f"None lost {before - after} references in 200 save/restore pairs"
