"""The main window as a user drives it: open, play, step, overlay, drop, recent files, bad files, extraction."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gui_helpers import VIDEO_FPS, VIDEO_FRAMES, VIDEO_SIZE, write_test_video
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from minet_desktop.core.errors import Cancelled, InputError
from minet_desktop.core.skeleton import R_WRIST, hand_joint
from minet_desktop.gui import settings as app_settings
from minet_desktop.gui.overlay import LEFT_HAND_COLOR, RIGHT_HAND_COLOR, qimage_to_rgb
from minet_desktop.media.frames import CANVAS_RGB
from minet_desktop.media.video import VideoReader
from minet_desktop.pose.keypoint_file import sidecar_path

R_TIP = hand_joint("R", 4)
L_TIP = hand_joint("L", 4)


def rgb(color):
    return (color.red(), color.green(), color.blue())


def shown(window) -> np.ndarray:
    image = window.view.image()
    assert image is not None
    return qimage_to_rgb(image)


def decoded(video, index) -> np.ndarray:
    with VideoReader(video) as reader:
        return reader.read(index)


def joint_pixel(window, joint, frame=None):
    kp = window.transport.keypoints_for_frame(window.transport.frame_index if frame is None else frame)
    return int(kp[1, joint]), int(kp[0, joint])  # (row, col)


# ------------------------------------------------------------------ opening and playback
def test_open_video_shows_first_frame_and_sets_up_transport(window, video_path):
    assert window.open_and_wait(video_path)
    assert window.errors == []
    assert window.transport.frame_index == 0
    assert window.slider.minimum() == 0 and window.slider.maximum() == VIDEO_FRAMES - 1
    np.testing.assert_array_equal(shown(window), decoded(video_path, 0))
    assert f"frame 1/{VIDEO_FRAMES}" in window.time_label.text()
    assert video_path.name in window.windowTitle()
    assert window.extract_action.isEnabled()  # no sidecar yet


def test_arrow_keys_step_frames_and_slider_seeks(window, qtbot, video_path):
    window.open_and_wait(video_path)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.transport.frame_index == 2
    assert window.slider.value() == 2
    np.testing.assert_array_equal(shown(window), decoded(video_path, 2))
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert window.transport.frame_index == 1
    window.slider.setValue(7)  # what dragging the slider does
    assert window.transport.frame_index == 7
    np.testing.assert_array_equal(shown(window), decoded(video_path, 7))
    assert f"frame 8/{VIDEO_FRAMES}" in window.time_label.text()
    qtbot.keyClick(window, Qt.Key.Key_Left)
    np.testing.assert_array_equal(shown(window), decoded(video_path, 6))


def test_space_plays_at_the_video_fps_and_stops_at_the_end(window, qtbot, video_path):
    window.open_and_wait(video_path)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.transport.is_playing()
    assert window.transport._timer.interval() == round(1000 / VIDEO_FPS)
    qtbot.waitUntil(lambda: window.transport.frame_index >= 3, timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.transport.is_playing()
    paused_at = window.transport.frame_index
    qtbot.wait(100)
    assert window.transport.frame_index == paused_at
    np.testing.assert_array_equal(shown(window), decoded(video_path, paused_at))
    window.transport.play()
    qtbot.waitUntil(lambda: not window.transport.is_playing(), timeout=2000)
    assert window.transport.frame_index == VIDEO_FRAMES - 1
    window.transport.play()  # at the end, play starts over
    assert window.transport.frame_index == 0 and window.transport.is_playing()
    window.transport.pause()


# ------------------------------------------------------------------ keypoint overlay
def test_sidecar_keypoints_are_drawn_in_hand_colours(window, video_path, keypoint_file_for):
    keypoint_file_for(video_path).save(sidecar_path(video_path))
    window.open_and_wait(video_path)
    assert window.keypoints is not None
    assert not window.extract_action.isEnabled()
    window.transport.seek(4)
    raw, image = decoded(video_path, 4), shown(window)
    r_row, r_col = joint_pixel(window, R_TIP)
    l_row, l_col = joint_pixel(window, L_TIP)
    assert r_col < l_col  # the performer's right hand is on the image's left
    assert tuple(image[r_row, r_col]) == rgb(RIGHT_HAND_COLOR)
    assert tuple(image[l_row, l_col]) == rgb(LEFT_HAND_COLOR)
    assert not np.array_equal(image[r_row, r_col], raw[r_row, r_col])
    # Away from the skeleton the frame is untouched.
    np.testing.assert_array_equal(image[100:, :], raw[100:, :])


def test_overlay_toggle_shows_raw_frame_and_is_remembered(make_window, video_path, keypoint_file_for):
    keypoint_file_for(video_path).save(sidecar_path(video_path))
    window = make_window()
    assert window.show_keypoints_action.isChecked()  # on by default
    window.open_and_wait(video_path)
    window.transport.seek(3)
    assert not np.array_equal(shown(window), decoded(video_path, 3))
    window.show_keypoints_action.trigger()
    assert not window.show_keypoints_action.isChecked()
    np.testing.assert_array_equal(shown(window), decoded(video_path, 3))
    window.close()
    assert not app_settings.show_keypoints(app_settings.open_settings())
    assert not make_window().show_keypoints_action.isChecked()


def test_keypoint_file_alone_animates_on_a_blank_canvas(
    window, qtbot, tmp_path, video_path, keypoint_file_for
):
    kp_path = tmp_path / "performance.npz"
    keypoint_file_for(video_path).save(kp_path)
    assert window.open_and_wait(kp_path)
    image = shown(window)
    assert image.shape == (VIDEO_SIZE[1], VIDEO_SIZE[0], 3)
    assert tuple(image[-1, -1]) == CANVAS_RGB
    row, col = joint_pixel(window, R_TIP)
    assert tuple(image[row, col]) == rgb(RIGHT_HAND_COLOR)
    assert window.slider.maximum() == VIDEO_FRAMES - 1
    assert not window.extract_action.isEnabled()
    window.transport.play()
    qtbot.waitUntil(lambda: window.transport.frame_index >= 2, timeout=2000)
    window.transport.pause()
    assert not np.array_equal(shown(window), image)  # the skeleton moved


# ------------------------------------------------------------------ drag and drop, recent files
def test_dropping_a_file_opens_it(window, qtbot, video_path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(video_path))])
    event = QDropEvent(
        QPointF(50, 50),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    assert event.isAccepted()
    qtbot.waitUntil(lambda: window.source is not None, timeout=1000)
    assert window.source.path == video_path
    assert window.errors == []


def test_drop_handler_ignores_non_file_urls(window):
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.org/video.mp4")])
    assert not window.handle_drop(mime)
    assert window.source is None


def test_recent_files_newest_first_persisted_and_pruned(make_window, tmp_path, video_path):
    other = write_test_video(tmp_path / "other.avi", n_frames=3)
    window = make_window()
    window.open_and_wait(video_path)
    window.open_and_wait(other)
    window.open_and_wait(video_path)  # reopened: moves to the front, no duplicate
    expected = [str(video_path.resolve()), str(other.resolve())]
    assert [a.data() for a in window.opener.recent_file_actions()] == expected
    assert app_settings.recent_files(app_settings.open_settings()) == expected
    assert app_settings.last_directory(app_settings.open_settings()) == str(tmp_path.resolve())

    # A new session sees them; a file deleted meanwhile disappears from the menu and the settings.
    window.close()
    other.unlink()
    second = make_window()
    assert [a.data() for a in second.opener.recent_file_actions()] == [str(video_path.resolve())]
    assert app_settings.recent_files(app_settings.open_settings()) == [str(video_path.resolve())]
    # Choosing an entry opens it.
    second.opener.recent_file_actions()[0].trigger()
    assert second.source is not None and second.source.path == video_path


def test_recent_files_keep_at_most_eight(window, tmp_path, video_path):
    for i in range(10):
        shutil.copy(video_path, tmp_path / f"copy{i}.avi")
        assert window.open_and_wait(tmp_path / f"copy{i}.avi")
    names = [Path(a.data()).name for a in window.opener.recent_file_actions()]
    assert names == [f"copy{i}.avi" for i in range(9, 1, -1)]


# ------------------------------------------------------------------ bad input
def _text_as_mp4(tmp_path):
    p = tmp_path / "notes.mp4"
    p.write_text("this is not a video\n")
    return p


def _truncated_avi(tmp_path):
    good = write_test_video(tmp_path / "good.avi")
    p = tmp_path / "cut.avi"
    p.write_bytes(good.read_bytes()[:600])
    return p


def _broken_npz(tmp_path):
    p = tmp_path / "broken.npz"
    p.write_bytes(b"PK\x03\x04 definitely not a zip archive")
    return p


def _wrong_npz(tmp_path):
    p = tmp_path / "wrong.npz"
    np.savez(p, keypoints=np.zeros((4, 3, 10), np.float32))
    return p


def _missing(tmp_path):
    return tmp_path / "gone.mp4"


@pytest.mark.parametrize("make_bad", [_text_as_mp4, _truncated_avi, _broken_npz, _wrong_npz, _missing])
def test_bad_files_show_one_line_naming_the_file_and_window_stays_usable(
    window, tmp_path, video_path, make_bad
):
    assert window.open_and_wait(video_path)
    window.transport.seek(2)
    bad = make_bad(tmp_path)
    assert not window.open_and_wait(bad)
    assert len(window.errors) == 1
    title, text = window.errors[0]
    assert bad.name in text
    assert "Traceback" not in text and "\n" not in text
    # What was open stays open and keeps working; the bad file is not remembered.
    assert window.source.path == video_path and window.transport.frame_index == 2
    window.transport.step(1)
    assert window.transport.frame_index == 3
    assert str(bad.resolve()) not in app_settings.recent_files(app_settings.open_settings())
    assert window.open_and_wait(tmp_path / "clip.avi")


# ------------------------------------------------------------------ extraction in the background
class FakeExtraction:
    """Stands in for pose.extract.keypoints_for_video: reports progress, polls should_cancel."""

    def __init__(self, result=None, frames=400, delay=0.005, error=None):
        self.result, self.frames, self.delay, self.error = result, frames, delay, error
        self.cancelled = threading.Event()
        self.thread_names: list[str] = []

    def __call__(self, path, progress=None, should_cancel=None, use_sidecar=True):
        self.thread_names.append(threading.current_thread().name)
        for i in range(self.frames):
            if should_cancel is not None and should_cancel():
                self.cancelled.set()
                raise Cancelled(f"{path}: cancelled")
            if progress is not None:
                progress(i + 1, self.frames)
            time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def fake_extraction(monkeypatch):
    def install(**kwargs):
        fake = FakeExtraction(**kwargs)
        monkeypatch.setattr("minet_desktop.pose.extract.keypoints_for_video", fake)
        return fake

    return install


def test_extraction_runs_in_background_and_shows_overlay(
    window, qtbot, video_path, keypoint_file_for, fake_extraction
):
    fake = fake_extraction(result=keypoint_file_for(video_path), frames=20, delay=0.002)
    window.open_and_wait(video_path)
    raw = shown(window)
    with qtbot.waitSignal(window.extract_action.changed, timeout=1000):
        window.extract_action.trigger()
    job = window.extraction.job
    assert job is not None and window.progress_bar.isVisible() and window.cancel_button.isVisible()
    assert not window.extract_action.isEnabled()  # one extraction at a time
    qtbot.waitUntil(lambda: window.extraction.job is None, timeout=2000)
    assert fake.thread_names and fake.thread_names[0] != threading.main_thread().name
    assert window.keypoints is not None
    assert not window.progress_bar.isVisible() and not window.cancel_button.isVisible()
    image = shown(window)
    row, col = joint_pixel(window, R_TIP)
    assert tuple(image[row, col]) == rgb(RIGHT_HAND_COLOR)
    assert not np.array_equal(image, raw)
    assert window.errors == []


def test_cancel_stops_extraction_within_a_second(
    window, qtbot, video_path, keypoint_file_for, fake_extraction
):
    fake = fake_extraction(result=keypoint_file_for(video_path), frames=100_000, delay=0.005)
    window.open_and_wait(video_path)
    window.extraction.start()
    qtbot.waitUntil(lambda: window.progress_bar.value() >= 5, timeout=2000)
    first = window.progress_bar.value()
    qtbot.waitUntil(lambda: window.progress_bar.value() > first, timeout=2000)  # the bar moves
    assert window.progress_bar.maximum() == 100_000
    start = time.monotonic()
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.extraction.job is None, timeout=1000)
    assert time.monotonic() - start < 1.0
    assert fake.cancelled.is_set()
    assert window.keypoints is None
    assert window.extract_action.isEnabled()  # can try again
    assert not window.progress_bar.isVisible()
    assert window.errors == []


def test_closing_during_extraction_cancels_and_joins_the_thread(
    make_window, qtbot, video_path, fake_extraction
):
    fake = fake_extraction(frames=100_000, delay=0.005)
    window = make_window()
    window.open_and_wait(video_path)
    window.extraction.start()
    job = window.extraction.job
    qtbot.waitUntil(lambda: window.progress_bar.value() >= 2, timeout=2000)
    start = time.monotonic()
    window.close()
    assert time.monotonic() - start < 1.0
    assert fake.cancelled.is_set()
    assert not job.is_running()
    assert window.extraction.job is None


def test_extraction_failure_is_reported_not_raised(window, qtbot, video_path, fake_extraction):
    fake_extraction(frames=3, error=InputError(video_path, "no person could be tracked"))
    window.open_and_wait(video_path)
    window.extraction.start()
    qtbot.waitUntil(lambda: window.extraction.job is None, timeout=2000)
    assert len(window.errors) == 1
    assert "clip.avi" in window.errors[0][1] and "no person" in window.errors[0][1]
    assert window.keypoints is None and window.extract_action.isEnabled()


def test_unexpected_extraction_crash_gives_one_line(window, qtbot, video_path, fake_extraction):
    fake_extraction(frames=1, error=RuntimeError("mediapipe graph exploded"))
    window.open_and_wait(video_path)
    window.extraction.start()
    qtbot.waitUntil(lambda: window.extraction.job is None, timeout=2000)
    ((title, text),) = window.errors
    assert "clip.avi" in text and "mediapipe graph exploded" in text and "Traceback" not in text


def test_opening_another_file_drops_the_running_extraction(
    window, qtbot, tmp_path, video_path, keypoint_file_for, fake_extraction
):
    fake = fake_extraction(result=keypoint_file_for(video_path), frames=100_000, delay=0.005)
    other = write_test_video(tmp_path / "other.avi", n_frames=4)
    window.open_and_wait(video_path)
    window.extraction.start()
    window.open_and_wait(other)
    qtbot.waitUntil(lambda: window.extraction.job is None, timeout=1000)
    assert fake.cancelled.is_set()
    assert window.source.path == other and window.keypoints is None


# ------------------------------------------------------------------ status bar, about, app
def test_status_bar_shows_device_and_model(window):
    assert window.device_label.text() == "Device: CPU"
    assert window.model_label.text() == "no model loaded"


def test_about_names_the_version(window):
    from minet_desktop import __version__

    assert __version__ in window.about_text()


def test_window_geometry_is_remembered(make_window):
    window = make_window()
    window.resize(760, 560)
    window.close()
    assert make_window().size().toTuple() == (760, 560)


def test_run_app_logs_init_finished_and_opens_the_file(qapp, monkeypatch, caplog, video_path):
    from minet_desktop.gui import app as gui_app
    from minet_desktop.gui.main_window import MainWindow

    opened = []
    monkeypatch.setenv(gui_app.EXIT_AFTER_INIT_ENV, "1")
    monkeypatch.setattr(MainWindow, "open_path", lambda self, p: opened.append(p) or True)
    monkeypatch.setattr("minet_desktop.gui.main_window.compute_device_name", lambda: "CPU")
    with caplog.at_level(logging.INFO, logger="minet_desktop"):
        assert gui_app.run_app(str(video_path)) == 0
    assert "init finished" in caplog.messages
    assert opened == [str(video_path)]
    assert qapp.organizationName() == "MINet" and qapp.applicationName() == "MI Net Desktop"


@pytest.mark.slow
def test_real_extraction_ends_with_the_overlay_shown(window, qtbot, tmp_path):
    from gui_helpers import write_messi_video

    video = write_messi_video(tmp_path / "messi.avi", n_frames=3)
    assert window.open_and_wait(video)
    raw = shown(window)
    window.extraction.start()
    qtbot.waitUntil(lambda: window.extraction.job is None, timeout=60_000)
    assert window.errors == []
    kf = window.keypoints
    assert kf is not None and kf.keypoints.shape[0] == 3 and kf.detected_fraction > 0
    assert sidecar_path(video).is_file()  # the next open reuses it
    image = shown(window)
    assert not np.array_equal(image, raw)
    # The performer's right hand (red) is on the image's left of the left hand (blue), as in the screenshot.
    kp = window.transport.keypoints_for_frame(0)
    r_x, l_x = np.nanmean(kp[0, 7:27]), np.nanmean(kp[0, 27:47])
    assert r_x < l_x
    row, col = int(kp[1, R_WRIST]), int(kp[0, R_WRIST])
    assert not np.array_equal(image[row, col], raw[row, col])


def test_run_app_smoke_mode_logs_a_bad_file_and_exits_1(qapp, monkeypatch, caplog, tmp_path):
    from minet_desktop.gui import app as gui_app

    monkeypatch.setenv(gui_app.EXIT_AFTER_INIT_ENV, "1")
    monkeypatch.setattr("minet_desktop.gui.main_window.compute_device_name", lambda: "CPU")
    with caplog.at_level(logging.INFO, logger="minet_desktop"):
        assert gui_app.run_app(str(tmp_path / "missing.mp4")) == 1
    assert "init finished" in caplog.messages
    assert any("missing.mp4" in m and "no such file" in m for m in caplog.messages)


def test_keypoint_file_without_frame_size_gets_a_canvas_that_fits(
    window, tmp_path, video_path, keypoint_file_for
):
    kf = keypoint_file_for(video_path)
    kf.frame_size = (0, 0)  # as read from OpenPose or Solos
    kf.save(tmp_path / "openpose.npz")
    assert window.open_and_wait(tmp_path / "openpose.npz"), window.errors
    w, h = window.source.size
    assert w > kf.keypoints[:, 0].max() and h > kf.keypoints[:, 1].max()
    row, col = joint_pixel(window, L_TIP)
    assert tuple(shown(window)[row, col]) == rgb(LEFT_HAND_COLOR)


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
def test_the_inspector_is_visible_at_first_launch(make_window, qtbot, size):
    window = make_window()
    window.resize(*size)
    qtbot.waitUntil(lambda: window.inspector.height() > 0.3 * window.height(), timeout=2000)
    assert window.view.height() > 0.3 * window.height()  # and the video keeps its share


def test_what_comes_with_a_video_is_read_off_the_gui_thread(
    window, video_path, keypoint_file_for, monkeypatch
):
    from minet_desktop.engine import performance

    threads = []
    real = performance.companions_of_video

    def spy(path):
        threads.append(threading.current_thread())
        return real(path)

    monkeypatch.setattr(performance, "companions_of_video", spy)
    keypoint_file_for(video_path).save(sidecar_path(video_path))
    assert window.open_and_wait(video_path)
    assert threads and threads[0] is not threading.main_thread()
    assert window.keypoints is not None


def test_a_demo_opens_with_its_reference_recording_and_midi(window):
    from minet_desktop.engine.paths import demo_dir

    demo = demo_dir() / "violin.mp4"
    assert window.open_and_wait(demo)
    assert window.keypoints is not None
    assert window.comparison.original is not None and window.comparison.original_path == demo.with_suffix(
        ".wav"
    )
    assert window.generation.midi_path == demo.with_suffix(".mid") and window.generation.notes
    assert window.panel.original_radio.isEnabled()


def test_closing_asks_every_controller_to_shut_down(make_window, monkeypatch):
    window = make_window()
    stopped = []
    for name in ("opener", "transport", "extraction", "generation", "comparison", "exporter", "live"):
        controller = getattr(window, name)
        monkeypatch.setattr(controller, "shutdown", lambda name=name: stopped.append(name))
    window.close()
    assert sorted(stopped) == sorted(
        ["opener", "transport", "extraction", "generation", "comparison", "exporter", "live"]
    )
