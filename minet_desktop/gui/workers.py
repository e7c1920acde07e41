"""Long work off the GUI thread: the one place threads meet Qt.

A :class:`BackgroundJob` runs one task on its own ``QThread``. The task is plain Python,
``task(report, should_cancel) -> result``: it calls ``report(label, done, total)`` to say how far it got and polls
``should_cancel()`` between chunks of work (raising :class:`~minet_desktop.core.errors.Cancelled`, or
returning early). The worker object only emits signals; Qt delivers them to the job, which lives on the GUI
thread, so the window's slots run there and may touch widgets. Cancelling sets a ``threading.Event`` and
returns at once; after it, the job reports nothing but ``cancelled`` and ``finished``: the user has moved on.

* :class:`ExtractionJob` — keypoints for one video (``pose.extract.keypoints_for_video``);
* :class:`GenerationJob` — keypoints if needed, then ``Session.iter_generate``, cancelled between its yields;
* :class:`CallJob` — any other call (loading a model, writing an MP4).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from minet_desktop.core.errors import Cancelled, MinetError

log = logging.getLogger("minet_desktop")

ExtractFn = Callable[..., object]
Report = Callable[[str, int, int], None]
ShouldCancel = Callable[[], bool]
Task = Callable[[Report, ShouldCancel], object]


class _Worker(QObject):
    """Lives on the worker thread; ``run`` is started by the thread's ``started`` signal."""

    # Progress as plain (str, int, int): emitted thousands of times, and PySide6's queued Signal(object)
    # mishandles the refcounts of its arguments (an interpreter crash at exit after many emissions).
    progress = Signal(str, int, int)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, task: Task, cancel_event: threading.Event, describe: str) -> None:
        super().__init__()
        self._task = task
        self._cancel = cancel_event
        self._describe = describe

    @Slot()
    def run(self) -> None:
        try:
            result = self._task(self.progress.emit, self._cancel.is_set)
        except Cancelled:
            self.cancelled.emit()
        except MinetError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # never let a traceback escape the thread; the user gets one line
            log.exception("%s failed", self._describe)
            self.failed.emit(f"{self._describe} failed ({type(exc).__name__}: {exc})")
        else:
            if self._cancel.is_set():
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        finally:
            # Hand the worker back to the GUI thread, which owns (and will delete) it once this thread ends.
            app = QCoreApplication.instance()
            if app is not None:
                self.moveToThread(app.thread())
            self.done.emit()


class BackgroundJob(QObject):
    """One task on a background thread.

    Signals (delivered on the GUI thread): ``progress(label, done, total)``, then exactly one of ``succeeded(result)``,
    ``failed(message)``, ``cancelled()``; then ``finished()`` once the thread has stopped.
    """

    progress = Signal(str, int, int)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, task: Task, describe: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.describe = describe
        self._cancel = threading.Event()
        self._thread = QThread()
        self._thread.setObjectName(describe[:60])
        self._worker = _Worker(task, self._cancel, describe)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        # Worker -> job connections cross threads, so Qt queues them onto the GUI thread.
        self._worker.progress.connect(self._on_progress)
        self._worker.succeeded.connect(self._on_succeeded)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        # Direct: quit() is thread-safe, and a queued call would never arrive while the GUI thread is
        # blocked in wait() (closing the window during a job).
        self._worker.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)
        self._finished = False

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        """Ask the task to stop at its next cancel point; returns at once."""
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the thread has stopped (True) or ``timeout_ms`` passed (False)."""
        if not self._thread.isRunning():
            return True
        return bool(self._thread.wait(timeout_ms))

    def stop_for_close(self, cancel: bool = True) -> None:
        """The window is closing and the event loop may not run again: cancel (unless ``cancel`` is False, to
        let the task finish), wait for the thread, and run the ``finished`` clean-up now."""
        if cancel:
            self.cancel()
        if not self.wait():
            log.warning("%s did not stop within 30 s of closing the window", self.describe)
        self.finished.emit()

    # Slots below run on the GUI thread. After cancel() the result is dropped.
    @Slot(str, int, int)
    def _on_progress(self, label: str, done: int, total: int) -> None:
        if not self._cancel.is_set():
            self.progress.emit(label, done, total)

    @Slot(object)
    def _on_succeeded(self, result: object) -> None:
        if self._cancel.is_set():
            self.cancelled.emit()
        else:
            self.succeeded.emit(result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._cancel.is_set():
            self.cancelled.emit()
        else:
            self.failed.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
        self.cancelled.emit()

    @Slot()
    def _on_thread_finished(self) -> None:
        if not self._finished:
            self._finished = True
            self.finished.emit()


def _keypoints_for_video(path: Path, progress: Callable[[int, int], None], should_cancel: ShouldCancel):
    # Imported here, in the worker thread: pose.extract pulls in MediaPipe, which takes seconds to load and
    # is not needed until the user asks for keypoints.
    from minet_desktop.pose import extract

    return extract.keypoints_for_video(path, progress=progress, should_cancel=should_cancel)


class ExtractionJob(BackgroundJob):
    """Keypoint extraction for one video; ``progress`` carries ``("keypoints", done, total)`` frames."""

    def __init__(
        self, path: str | Path, extract: ExtractFn | None = None, parent: QObject | None = None
    ) -> None:
        self.path = Path(path)
        fn = extract or _keypoints_for_video

        def task(report: Report, should_cancel: ShouldCancel) -> object:
            return fn(
                self.path,
                progress=lambda done, total: report("keypoints", int(done), int(total)),
                should_cancel=should_cancel,
            )

        super().__init__(task, f"keypoint extraction of {self.path}", parent)


class GenerationJob(BackgroundJob):
    """Generation for one performance: ``progress`` carries ``(stage label, permille done, 1000)``; the result
    is ``(keypoints, GenerationResult)``.

    Parameters
    ----------
    make_generator
        ``make_generator(keypoints)`` -> ``Session.iter_generate(keypoints, ...)``: a generator yielding
        ``Progress`` and returning the result. The job stops asking it for more as soon as it is cancelled
        (every yield is a cancel point), and closes it.
    keypoints
        The performance's keypoints, or None to extract them first from ``video`` with ``extract``.
    """

    #: Share of the progress bar given to keypoint extraction when it runs first.
    EXTRACTION_SHARE = 0.5

    def __init__(
        self,
        make_generator: Callable[[Any], Generator[Any, None, Any]],
        keypoints: Any | None,
        video: Path | None = None,
        extract: ExtractFn | None = None,
        parent: QObject | None = None,
    ) -> None:
        self.path = video

        def task(report: Report, should_cancel: ShouldCancel) -> object:
            kf, share = keypoints, 0.0
            if kf is None:
                if video is None:
                    raise MinetError("there are no keypoints to generate from")
                share = self.EXTRACTION_SHARE
                fn = extract or _keypoints_for_video

                def extraction_progress(done: int, total: int) -> None:
                    report("finding keypoints", round(1000 * share * done / max(total, 1)), 1000)

                kf = fn(video, progress=extraction_progress, should_cancel=should_cancel)
            gen = make_generator(kf)
            try:
                while True:
                    if should_cancel():
                        raise Cancelled("generation cancelled")
                    try:
                        p = next(gen)
                    except StopIteration as stop:
                        return kf, stop.value
                    report(p.label, round(1000 * (share + (1.0 - share) * float(p.fraction))), 1000)
            finally:
                gen.close()

        super().__init__(task, f"generation for {video.name if video else 'the keypoints'}", parent)


class CallJob(BackgroundJob):
    """``fn()`` on a background thread (no progress; cancelling only drops its result)."""

    def __init__(self, fn: Callable[[], object], describe: str, parent: QObject | None = None) -> None:
        super().__init__(lambda report, should_cancel: fn(), describe, parent)
