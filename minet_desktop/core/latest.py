"""A single-slot "newest wins" holder between threads (live mode: camera -> processing -> GUI timer)."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds one item; :meth:`put` replaces whatever was not taken yet (counted in :attr:`replaced`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: T | None = None
        self._ready = threading.Event()
        self.replaced = 0

    def put(self, item: T) -> None:
        with self._lock:
            if self._item is not None:
                self.replaced += 1
            self._item = item
            self._ready.set()

    def take(self) -> T | None:
        """The newest item (and empty the slot), or None."""
        with self._lock:
            item, self._item = self._item, None
            self._ready.clear()
            return item

    def wait(self, timeout: float) -> bool:
        """Block until an item is there (True) or ``timeout`` s passed (False)."""
        return self._ready.wait(timeout)
