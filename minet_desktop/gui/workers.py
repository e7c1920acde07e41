"""Long work off the GUI thread: the one place threads meet Qt.

:class:`ExtractionJob` runs keypoint extraction for one video on its own ``QThread``. The worker only
calls plain Python (``pose.extract.keypoints_for_video``) and emits signals; Qt delivers them to the job,
which lives on the GUI thread, so the window's slots run there and may touch widgets. Cancelling sets a
``threading.Event`` that the extraction polls through ``should_cancel`` between frames.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from minet_desktop.core.errors import Cancelled, MinetError

log = logging.getLogger("minet_desktop")

ExtractFn = Callable[..., object]


def _keypoints_for_video(path: Path, progress: Callable[[int, int], None], should_cancel: Callable[[], bool]):
    # Imported here, in the worker thread: pose.extract pulls in MediaPipe, which takes seconds to load and
    # is not needed until the user asks for keypoints.
    from minet_desktop.pose import extract

    return extract.keypoints_for_video(path, progress=progress, should_cancel=should_cancel)


class _ExtractionWorker(QObject):
    """Lives on the worker thread; ``run`` is started by the thread's ``started`` signal."""

    progress = Signal(int, int)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()

    def __init__(self, path: Path, cancel_event: threading.Event, extract: ExtractFn) -> None:
        super().__init__()
        self._path = path
        self._cancel = cancel_event
        self._extract = extract

    @Slot()
    def run(self) -> None:
        try:
            result = self._extract(self._path, progress=self._report, should_cancel=self._cancel.is_set)
        except Cancelled:
            self.cancelled.emit()
        except MinetError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # never let a traceback escape the thread; the user gets one line
            log.exception("keypoint extraction failed for %s", self._path)
            self.failed.emit(f"{self._path}: keypoint extraction failed ({type(exc).__name__}: {exc})")
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

    def _report(self, done: int, total: int) -> None:
        self.progress.emit(int(done), int(total))


class ExtractionJob(QObject):
    """Keypoint extraction for one video on a background thread.

    Signals (delivered on the GUI thread): ``progress(done, total)``, then exactly one of
    ``succeeded(KeypointFile)``, ``failed(message)``, ``cancelled()``; then ``finished()`` once the
    thread has stopped.
    """

    progress = Signal(int, int)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(
        self, path: str | Path, extract: ExtractFn | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self._cancel = threading.Event()
        self._thread = QThread()
        self._thread.setObjectName(f"extract-{self.path.name}")
        self._worker = _ExtractionWorker(self.path, self._cancel, extract or _keypoints_for_video)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        # Worker -> job connections cross threads, so Qt queues them onto the GUI thread.
        self._worker.progress.connect(self._on_progress)
        self._worker.succeeded.connect(self._on_succeeded)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        # Direct: quit() is thread-safe, and a queued call would never arrive while the GUI thread is
        # blocked in wait() (closing the window during extraction).
        self._worker.done.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self._on_thread_finished)
        self._finished = False

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        """Ask the extraction to stop at its next frame; returns at once."""
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

    # Slots below run on the GUI thread. After cancel() the result is dropped: the user has moved on.
    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        if not self._cancel.is_set():
            self.progress.emit(done, total)

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
