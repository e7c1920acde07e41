"""Starting the desktop app: ``run_app(path)`` is what ``minet-desktop`` (no subcommand) calls."""

from __future__ import annotations

import logging
import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from minet_desktop import __version__
from minet_desktop.gui import settings as app_settings
from minet_desktop.gui.main_window import MainWindow

log = logging.getLogger("minet_desktop")

#: Set to 1 to quit right after "init finished" and opening the file given (smoke tests of installed or
#: frozen builds); problems opening it are logged instead of shown, and make the exit status 1.
EXIT_AFTER_INIT_ENV = "MINET_DESKTOP_EXIT_AFTER_INIT"


def _configure_logging() -> None:
    # Only when nothing else has: the CLI or a test may already have set up logging.
    if not logging.getLogger().handlers and not log.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)


def _application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setOrganizationName(app_settings.ORGANIZATION)
    app.setApplicationName(app_settings.APPLICATION)
    app.setApplicationDisplayName(app_settings.APPLICATION)
    app.setApplicationVersion(__version__)
    return app  # type: ignore[return-value]


def run_app(path: str | None = None) -> int:
    """Show the main window (opening ``path``, a video or ``.npz`` keypoint file, if given) until it closes.

    Logs "init finished" on the ``minet_desktop`` logger once the window is on screen. Returns the exit
    status of the Qt event loop.
    """
    _configure_logging()
    app = _application()
    window = MainWindow()
    smoke_test = os.environ.get(EXIT_AFTER_INIT_ENV) == "1"
    errors: list[str] = []
    if smoke_test:
        # No one is there to close a message box: log problems instead, and report them in the exit status.
        def log_error(title: str, text: str) -> None:
            errors.append(text)
            log.error("%s: %s", title, text)

        window.show_error = log_error  # type: ignore[method-assign]
    window.show()

    def init_finished() -> None:
        # Queued behind the first show/paint events, so the window really is up when this is logged.
        log.info("init finished")
        if path:
            window.open_path(path)
        if smoke_test:
            window.close()

    QTimer.singleShot(0, init_finished)
    try:
        status = int(app.exec())
    finally:
        window.deleteLater()
    return 1 if errors and status == 0 else status
