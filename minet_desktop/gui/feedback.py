"""How a controller talks to the user: one line in the status bar, or a warning box."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Feedback:
    #: ``status(text, ms)``: a status-bar line for ``ms`` milliseconds (0: until replaced; "" clears it).
    status: Callable[[str, int], None]
    #: ``show_error(title, text)``: a problem, as one line in a warning box.
    show_error: Callable[[str, str], None]
