"""Screenshots of the desktop app's main states for the docs, made by driving the real window.

    QT_QPA_PLATFORM=offscreen python scripts/screenshot_gui.py [--out-dir docs/screenshots]

Writes, under ``--out-dir``:

* ``main_window.png`` — a video made from OpenCV's messi5.jpg with a violin melody (FluidSynth) as its sound
  track, keypoints extracted by the app itself (MediaPipe), overlay on;
* ``inspector.png`` — after Generate on the violin demo with the bundled default model (two takes): the generated
  spectrogram above the demo's own recording, log frequency, crosshair and playhead. A checkout without the
  bundled model or demos uses a small random-weight bundle at the paper's audio settings on the messi video
  instead (its top pane is then noise, drawn by the real pipeline);
* ``live_mode.png`` — live mode on a fake camera showing messi5.jpg, with MediaPipe keypoints, fps and latency,
  and what the live movement sounds like (a still photo: uncertain, and why).

Runs offscreen by default, keeps its settings in a temporary folder, and plays into a null sound device.
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
FPS = 25.0


def make_messi_video(path: Path, n_frames: int = 12, fps: float = FPS) -> Path:
    """A short MJPG video of messi5.jpg drifting a few pixels per frame (so playback visibly moves)."""
    image = cv2.imread(str(MESSI))
    if image is None:
        raise SystemExit(f"{MESSI}: not found (apt install opencv-doc)")
    h, w = image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for i in range(n_frames):
        shift = np.float32([[1, 0, (2 * i) % 24 - 12], [0, 1, 0]])
        writer.write(cv2.warpAffine(image, shift, (w, h), borderMode=cv2.BORDER_REFLECT))
    writer.release()
    return path


def with_melody(video: Path, out: Path, seconds: float) -> Path:
    """``video`` with a violin melody (FluidSynth) as its sound track, as an MP4."""
    from minet_desktop.media.export import mux_audio
    from minet_desktop.media.midi import Note, synthesize_notes

    pitches = [67, 69, 71, 72, 74, 72, 71, 69, 67, 74, 76, 79]
    step = seconds / len(pitches)
    notes = [Note(i * step, (i + 0.9) * step, p, 90) for i, p in enumerate(pitches)]
    rate = 16_000
    wave = synthesize_notes(notes, 40, rate, length=int(seconds * rate))
    return mux_audio(video, wave, rate, out)


def random_bundle(path: Path) -> Path:
    """A small random-weight bundle at the paper's audio settings (1024 bins, 16 kHz)."""
    import torch

    from minet_desktop.core.config import AudioConfig
    from minet_desktop.model.bundle import build_modules, save_bundle
    from minet_desktop.model.config import BundleConfig

    torch.manual_seed(0)
    cfg = BundleConfig.tiny(audio=AudioConfig(griffin_lim_iters=16))
    card = "# Untrained demo model\n\nRandom weights at the paper's audio settings, for screenshots only."
    return save_bundle(path, cfg, *build_modules(cfg), model_card=card)


def wait(app, condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.02)
    for _ in range(5):
        app.processEvents()


def save(window, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        raise SystemExit(f"could not write {out}")
    print(f"wrote {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--size", default="1280x860", help="window size, WxH")
    args = parser.parse_args()
    out_dir = Path(args.out_dir)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from minet_desktop.gui.main_window import MainWindow, compute_device_name
    from minet_desktop.media.camera import FakeCamera
    from minet_desktop.media.sound_output import NullSink
    from minet_desktop.pose.live import MediaPipePose

    with tempfile.TemporaryDirectory(prefix="minet-screenshot-") as tmp:
        tmp_path = Path(tmp)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
        app = QApplication.instance() or QApplication(sys.argv[:1])
        seconds = 3.0
        silent = make_messi_video(tmp_path / "messi.avi", n_frames=int(seconds * FPS))
        video = with_melody(silent, tmp_path / "messi.mp4", seconds)
        bundle = random_bundle(tmp_path / "demo.safetensors")
        messi = cv2.cvtColor(cv2.imread(str(MESSI)), cv2.COLOR_BGR2RGB)

        window = MainWindow(
            device_name=compute_device_name(),
            model_path="",
            sink_factory=NullSink,
            camera_factory=lambda index: FakeCamera([messi], fps=15.0, name=f"camera {index}"),
            camera_list=lambda: [(0, "Camera 0 (/dev/video0)")],
            pose_factory=MediaPipePose,
        )
        window.show_error = lambda title, text: sys.exit(f"{title}: {text}")
        width, height = (int(v) for v in args.size.lower().split("x"))
        window.resize(width, height)
        window.show()
        if not window.open_path(video):
            return 1
        wait(app, lambda: window.opener.job is None, 60, "the video's keypoints and audio")

        # 1. Video with its keypoints (extracted by the app).
        window.extraction.start()
        wait(app, lambda: window.extraction.job is None, 300, "keypoint extraction")
        if window.keypoints is None:
            print("keypoint extraction did not finish", file=sys.stderr)
            return 1
        window.transport.seek(30)
        window.statusBar().showMessage(
            f"{video.name}: keypoints extracted, person found in {window.keypoints.detected_fraction:.0%} of frames"
        )
        window.splitter.setSizes([height, 0])
        save(window, out_dir / "main_window.png")

        # 2. Generate on a demo performance with the bundled model (a random one if none ships), then the inspector.
        from minet_desktop.engine.paths import default_model_path, demo_dir

        demo = demo_dir() / "violin.mp4"
        if default_model_path().is_file() and demo.is_file():
            bundle = default_model_path()
            if not window.open_path(demo):
                return 1
            wait(app, lambda: window.opener.job is None, 60, "the demo's keypoints, recording and MIDI")
        window.generation.open_model(bundle)
        wait(
            app,
            lambda: window.generation.session is not None and window.generation.model_job is None,
            60,
            "the model",
        )
        window.panel.takes_spin.setValue(2)
        window.panel.seed_spin.setValue(3)
        window.generation.start()
        wait(app, lambda: window.generation.job is None, 300, "generation")
        window.splitter.setSizes([int(height * 0.42), int(height * 0.58)])
        window.inspector.set_log_frequency(True)
        window.transport.seek_time(4.0)
        for _ in range(5):
            app.processEvents()
        window.inspector.show_crosshair(0, 3.5, 659.3)
        save(window, out_dir / "inspector.png")

        # 3. Live mode on a fake camera.
        window.splitter.setSizes([height, 0])
        window.live.set_live(True)
        wait(
            app,
            lambda: window.live.pipeline is not None and window.live.pipeline.processed >= 20,
            120,
            "live frames",
        )
        wait(app, lambda: "fps" in window.view.info(), 10, "the live fps")
        if window.generation.session is not None and window.generation.session.instruments:
            wait(
                app,
                lambda: window.panel.sounds_like_text().startswith("Sounds like (live"),
                60,
                "what the live movement sounds like",
            )
        save(window, out_dir / "live_mode.png")
        window.live.set_live(False)
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
