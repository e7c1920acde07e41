"""Transport: the open performance's frames and keypoints on screen, play / pause / step / seek, and the sound
that plays with them.

The ``FrameSource`` stays on the GUI thread, paced by a ``QTimer``. With a sound chosen (a generated take or
the original track), the timer follows the audio clock (:class:`~minet_desktop.media.sound_output.Playback`:
what the sound device has consumed), so picture and sound stay in sync; without one it steps a frame per tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QStyle, QToolButton, QWidget

from minet_desktop.core.errors import InputError, MinetError
from minet_desktop.gui.feedback import Feedback
from minet_desktop.gui.overlay import render_overlay
from minet_desktop.gui.video_view import VideoView
from minet_desktop.media.frames import FrameSource
from minet_desktop.media.sound_output import Playback, SoundOutput

log = logging.getLogger("minet_desktop")

#: Timer interval while audio drives the video: fine enough that a frame is never more than ~15 ms late.
AUDIO_CLOCK_TICK_MS = 15


def format_time(seconds: float) -> str:
    """``83.25`` -> ``"1:23.2"``."""
    seconds = max(0.0, seconds)
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:04.1f}"


class TransportBar(QWidget):
    """Step back, play / pause, step forward, the seek slider and the time."""

    def __init__(self, actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        for action in actions:
            button = QToolButton(self)
            button.setDefaultAction(action)
            # Keyboard focus stays off the controls so Space and the arrow keys always reach the shortcuts.
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            layout.addWidget(button)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.time_label = QLabel(self)
        self.time_label.setMinimumWidth(
            self.time_label.fontMetrics().horizontalAdvance("00:00.0 / 00:00.0  frame 00000/00000")
        )
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.time_label)


class TransportController(QObject):
    """Owns what is open (:attr:`source`, :attr:`keypoints`), the position in it, and its playback.

    ``show_error(title, text)`` reports a frame that cannot be decoded; ``overlay_on()`` says whether the
    keypoints are drawn. :attr:`position_changed` carries the playhead in seconds; :attr:`state_changed`
    fires when playing starts or stops.
    """

    position_changed = Signal(float)
    state_changed = Signal()
    keypoints_changed = Signal()  # another file's keypoints, or the open file's found later

    def __init__(
        self,
        view: VideoView,
        slider: QSlider,
        time_label: QLabel,
        play_action: QAction,
        sound: SoundOutput,
        *,
        threshold: float,
        overlay_on: Callable[[], bool],
        feedback: Feedback,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.view, self.slider, self.time_label, self.play_action = view, slider, time_label, play_action
        self.sound = sound
        self.threshold = threshold
        self._overlay_on = overlay_on
        self._show_error = feedback.show_error
        self.source: FrameSource | None = None
        self.keypoints: Any = None  # KeypointFile | None
        self.frame_index = 0
        self.raw_frame: np.ndarray | None = None
        self.playback: Playback | None = None
        self.locked = False  # live mode has the view: no playing, stepping or seeking
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        slider.setRange(0, 0)
        slider.valueChanged.connect(self._on_slider_moved)
        self._update_time_label()

    # ----------------------------------------------------------------- what is open
    def open(self, source: FrameSource, keypoints: Any) -> None:
        """Show ``source`` (closing what was open) from its first frame."""
        self.pause()
        if self.source is not None:
            self.source.close()
        self.source, self.keypoints = source, keypoints
        self.frame_index = -1
        self.slider.blockSignals(True)
        self.slider.setRange(0, source.frame_count - 1)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.set_sound(None)
        if not self.seek(0):
            self.raw_frame = None
            self.frame_index = 0
            self.render()
        self.keypoints_changed.emit()

    def set_keypoints(self, keypoints: Any) -> None:
        self.keypoints = keypoints
        self.render()
        self.keypoints_changed.emit()

    def keypoints_for_frame(self, index: int) -> np.ndarray | None:
        """``(3, 47)`` keypoints shown with video frame ``index`` (matched by time), or None."""
        kf = self.keypoints
        if kf is None or self.source is None:
            return None
        kp = kf.keypoints
        n = kp.shape[0]
        if n == 0:
            return None
        k = int(round(index * float(kf.fps) / self.source.fps))
        if k >= n:
            # Frame counts from video headers are estimates; tolerate one frame of difference at the end.
            if k > n:
                return None
            k = n - 1
        return kp[k]

    def render(self) -> None:
        """Draw the current frame (with its keypoints when they are shown)."""
        if self.raw_frame is None:
            self.view.set_image(None)
            return
        kp = self.keypoints_for_frame(self.frame_index) if self._overlay_on() else None
        self.view.set_image(render_overlay(self.raw_frame, kp, self.threshold), legend=kp is not None)

    # ----------------------------------------------------------------- sound
    def set_sound(self, wave_rate: tuple[np.ndarray, int] | None) -> None:
        """Play ``(mono wave, rate)`` with the video from now on (None: silent), keeping the position."""
        was_playing = self.is_playing()
        if was_playing:
            self.pause()
        self.playback = None
        if wave_rate is not None:
            sink = self.sound.sink_for(wave_rate[1])
            if sink is not None:
                self.playback = Playback(sink, wave_rate[0], wave_rate[1])
        if was_playing:
            self.play()

    # ----------------------------------------------------------------- transport
    def is_playing(self) -> bool:
        return self._timer.isActive()

    def toggle_play(self) -> None:
        if self.is_playing():
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.source is None or self.source.frame_count <= 1 or self.locked:
            return
        if self.frame_index >= self.source.frame_count - 1:
            self.seek(0)
        if self.playback is not None:
            # The audio is the clock: start it where the picture is, and let the video follow it.
            self.playback.seek(self.frame_index / self.source.fps)
            self.playback.play()
            self._timer.start(AUDIO_CLOCK_TICK_MS)
        else:
            self._timer.start(max(1, round(1000.0 / self.source.fps)))
        self._update_play_action()

    def pause(self) -> None:
        self._timer.stop()
        if self.playback is not None:
            self.playback.pause()
        self._update_play_action()

    def seek_time(self, seconds: float) -> None:
        """Go to ``seconds`` (picture, sound and playhead); playback goes on if it was playing."""
        if self.source is None:
            return
        self.seek(int(min(max(seconds, 0.0), 1e9) * self.source.fps))
        if self.playback is not None:
            self.playback.seek(seconds)
        self.position_changed.emit(max(0.0, seconds))

    def step(self, delta: int) -> None:
        """Show the frame ``delta`` frames away (pauses playback)."""
        if self.source is None or self.locked:
            return
        self.pause()
        if self.seek(self.frame_index + delta):
            self.position_changed.emit(self.frame_index / self.source.fps)

    def seek(self, index: int) -> bool:
        """Show frame ``index`` (clamped to the file). False if the frame could not be decoded."""
        source = self.source
        if source is None:
            return False
        index = int(min(max(index, 0), source.frame_count - 1))
        try:
            frame = source.frame(index)
        except Exception as exc:
            self.pause()
            if isinstance(exc, InputError) and self._source_ends_before(index):
                return False
            if isinstance(exc, MinetError):
                message = str(exc)
            else:
                log.exception("decoding frame %d of %s failed", index, source.path)
                message = f"{source.path}: frame {index + 1} cannot be decoded ({type(exc).__name__}: {exc})"
            self._show_error("Cannot read frame", message)
            return False
        self.frame_index = index
        self.raw_frame = frame
        if self.slider.value() != index:
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
        self._update_time_label()
        self.render()
        return True

    def shutdown(self) -> None:
        """Stop playing and close the file and the sound device."""
        self.pause()
        if self.source is not None:
            self.source.close()
            self.source = None
        self.playback = None
        self.sound.close()

    def _source_ends_before(self, index: int) -> bool:
        """Frame ``index`` is within the last few the container claims but could not be decoded: the real
        video is that much shorter (frame counts in headers are estimates). Shorten the timeline to match."""
        source = self.source
        if source is None or index < 1 or index < source.frame_count - 3:
            return False
        source.frame_count = index
        self.slider.blockSignals(True)
        self.slider.setRange(0, index - 1)
        self.slider.setValue(min(self.frame_index, index - 1))
        self.slider.blockSignals(False)
        self._update_time_label()
        return True

    @Slot()
    def _tick(self) -> None:
        source = self.source
        if source is None:
            self.pause()
            return
        playback = self.playback
        if playback is not None and playback.playing:
            playback.pump()
            t = playback.time()
            self.position_changed.emit(t)
            target = min(int(t * source.fps), source.frame_count - 1)
            if target > self.frame_index and target - self.frame_index <= 8:
                # Decode the frames in between in order (cheap for the sequential reader) and show the last.
                for i in range(self.frame_index + 1, target):
                    try:
                        source.frame(i)
                    except Exception:
                        break
                    self.frame_index = i
            if target != self.frame_index and not self.seek(target):
                self.pause()
            if playback.finished():
                self.pause()
            return
        if self.frame_index >= source.frame_count - 1:
            self.pause()
            return
        if not self.seek(self.frame_index + 1):
            self.pause()
        else:
            self.position_changed.emit(self.frame_index / source.fps)

    @Slot(int)
    def _on_slider_moved(self, value: int) -> None:
        if value != self.frame_index and self.source is not None:
            self.seek_time(value / self.source.fps)

    def _update_play_action(self) -> None:
        playing = self.is_playing()
        self.play_action.setText("&Pause" if playing else "&Play")
        self.play_action.setIcon(
            self.view.style().standardIcon(
                QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
            )
        )
        self.state_changed.emit()

    def _update_time_label(self) -> None:
        if self.source is None:
            self.time_label.setText("0:00.0 / 0:00.0")
            return
        n, fps = self.source.frame_count, self.source.fps
        i = max(self.frame_index, 0)
        self.time_label.setText(f"{format_time(i / fps)} / {format_time(n / fps)}  frame {i + 1}/{n}")
