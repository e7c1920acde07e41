"""Screenshot of the main window for the docs: a video made from OpenCV's messi5.jpg, keypoints extracted
by the app itself (MediaPipe), overlay on.

    QT_QPA_PLATFORM=offscreen python scripts/screenshot_gui.py [--out docs/screenshots/main_window.png]

Runs offscreen by default and keeps its settings in a temporary folder (the user's are not touched).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
REPO = Path(__file__).resolve().parents[1]


def make_messi_video(path: Path, n_frames: int = 12, fps: float = 25.0) -> Path:
    """A short MJPG video of messi5.jpg drifting a few pixels per frame (so playback visibly moves)."""
    image = cv2.imread(str(MESSI))
    if image is None:
        raise SystemExit(f"{MESSI}: not found (apt install opencv-doc)")
    h, w = image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for i in range(n_frames):
        shift = np.float32([[1, 0, 2 * i - n_frames], [0, 1, 0]])
        writer.write(cv2.warpAffine(image, shift, (w, h), borderMode=cv2.BORDER_REFLECT))
    writer.release()
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots" / "main_window.png"))
    parser.add_argument("--size", default="1000x680", help="window size, WxH")
    args = parser.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from minet_desktop.gui.main_window import MainWindow, compute_device_name

    with tempfile.TemporaryDirectory(prefix="minet-screenshot-") as tmp:
        tmp_path = Path(tmp)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
        app = QApplication.instance() or QApplication(sys.argv[:1])
        video = make_messi_video(tmp_path / "messi.avi")

        window = MainWindow(device_name=compute_device_name())
        window.show_error = lambda title, text: sys.exit(f"{title}: {text}")
        width, height = (int(v) for v in args.size.lower().split("x"))
        window.resize(width, height)
        window.show()
        if not window.open_path(video):
            return 1
        window.start_extraction()
        deadline = time.monotonic() + 120
        while window.extraction is not None and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.02)
        if window.keypoints is None:
            print("keypoint extraction did not finish", file=sys.stderr)
            return 1
        window.seek(6)
        window.statusBar().showMessage(
            f"{video.name}: keypoints extracted, person found in {window.keypoints.detected_fraction:.0%} of frames"
        )
        for _ in range(5):
            app.processEvents()
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            print(f"could not write {out}", file=sys.stderr)
            return 1
        window.close()
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
