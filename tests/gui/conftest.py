"""Fixtures for the GUI tests: offscreen Qt, settings in tmp_path, no leaked windows.

Set before any QApplication exists (pytest-qt creates it lazily in the ``qapp`` fixture), so the tests run
on machines without a display.
"""

from __future__ import annotations

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEvent, QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from minet_desktop.gui import settings as app_settings  # noqa: E402


@pytest.fixture(autouse=True)
def gui_settings_in_tmp_path(tmp_path, qapp):
    """Every test starts with empty settings, stored under its own tmp_path (never the user's config)."""
    folder = tmp_path / "settings"
    folder.mkdir()
    QCoreApplication.setOrganizationName(app_settings.ORGANIZATION)
    QCoreApplication.setApplicationName(app_settings.APPLICATION)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(folder))
    yield folder


def _flush_deletes() -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    # pyqtgraph's items form reference cycles; collect them while Qt is alive, not at interpreter exit
    # (where PySide6 may crash deallocating wrappers of objects Qt already destroyed).
    gc.collect()


@pytest.fixture(autouse=True)
def fail_on_leaked_widgets(qapp):
    """Fail a test that leaves a top-level widget (window, dialog, popup menu) behind (as napari does)."""
    _flush_deletes()
    before = set(QApplication.topLevelWidgets())
    yield
    _flush_deletes()
    leaked = set(QApplication.topLevelWidgets()) - before
    if leaked:
        names = ", ".join(sorted(f"{type(w).__name__}({w.objectName()!r})" for w in leaked))
        for widget in leaked:
            widget.close()
            widget.deleteLater()
        _flush_deletes()
        pytest.fail(f"test leaked top-level widgets: {names}")


from gui_helpers import VIDEO_FPS, VIDEO_FRAMES, VIDEO_SIZE, synthetic_keypoints, write_test_video  # noqa: E402


@pytest.fixture
def video_path(tmp_path):
    return write_test_video(tmp_path / "clip.avi")


@pytest.fixture
def keypoint_file_for(tmp_path):
    """``keypoint_file_for(video)``: a KeypointFile of synthetic keypoints tied to ``video``'s bytes."""
    from minet_desktop.core.atomic import file_sha256
    from minet_desktop.pose.keypoint_file import KeypointFile

    def make(video, n_frames=VIDEO_FRAMES):
        return KeypointFile(
            keypoints=synthetic_keypoints(n_frames),
            fps=VIDEO_FPS,
            frame_size=VIDEO_SIZE,
            source_sha256=file_sha256(video),
            source_name=video.name,
            detected_fraction=1.0,
        )

    return make


@pytest.fixture
def make_window(qtbot):
    """``make_window()``: a shown MainWindow whose error boxes are recorded in ``window.errors``, with
    ``window.open_and_wait(path)``."""
    from minet_desktop.gui.main_window import MainWindow

    windows = []

    def make(**kwargs):
        from minet_desktop.media.sound_output import NullSink

        kwargs.setdefault("device_name", "CPU")  # skip importing torch in every test
        kwargs.setdefault("model_path", "")  # no model unless a test loads one
        kwargs.setdefault("sink_factory", NullSink)  # no sound card in tests
        kwargs.setdefault("camera_list", lambda: [])
        kwargs.setdefault("pose_factory", None)
        window = MainWindow(**kwargs)
        window.errors = []
        window.show_error = lambda title, text: window.errors.append((title, text))

        def open_and_wait(path):
            """open_path, then wait for what is read in the background (keypoints, audio, MIDI, spectrogram)."""
            ok = window.open_path(path)
            qtbot.waitUntil(
                lambda: window.opener.job is None and window.comparison.job is None, timeout=10_000
            )
            return ok

        window.open_and_wait = open_and_wait
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
        window.deleteLater()
    _flush_deletes()


@pytest.fixture
def window(make_window):
    return make_window()
