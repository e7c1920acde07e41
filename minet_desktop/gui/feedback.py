"""How a controller talks to the user: one line in the window's status bar, or a warning box."""

from __future__ import annotations

from PySide6.QtWidgets import QMainWindow


class Feedback:
    """The window's status bar and its :meth:`show_error` (looked up at each call: tests replace it)."""

    def __init__(self, window: QMainWindow) -> None:
        self._window = window

    def status(self, text: str, ms: int) -> None:
        """``text`` in the status bar for ``ms`` milliseconds (0: until replaced; "" clears it)."""
        if text:
            self._window.statusBar().showMessage(text, ms)
        else:
            self._window.statusBar().clearMessage()

    def show_error(self, title: str, text: str) -> None:
        """A problem, as one line in a warning box."""
        self._window.show_error(title, text)  # type: ignore[attr-defined]
