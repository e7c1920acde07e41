"""A fixed-capacity FIFO of numpy rows: live mode's memory never grows, however long it runs.

Writers append at the tail, readers take from the head; when a write would overflow, the oldest rows are
dropped (and counted), so the newest data always wins, as in friture's ring buffer. Rows may have any
trailing shape: ``RingBuffer(4096, dtype=np.float32)`` holds audio samples, ``RingBuffer(256, (3, 47))``
skeleton frames.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike


class RingBuffer:
    """FIFO of up to ``capacity`` rows of shape ``row_shape``.

    Parameters
    ----------
    capacity
        Rows kept at most; the storage is allocated once.
    row_shape
        Shape of one row (``()`` for scalars such as audio samples).
    dtype
        Element type.
    """

    def __init__(self, capacity: int, row_shape: tuple[int, ...] = (), dtype: DTypeLike = np.float32) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._data = np.zeros((capacity, *row_shape), dtype=dtype)
        self._head = 0  # index of the oldest row
        self._size = 0
        self.dropped = 0  # rows overwritten before anyone read them
        self.total_written = 0

    @property
    def capacity(self) -> int:
        return int(self._data.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes of storage (constant for the buffer's lifetime)."""
        return int(self._data.nbytes)

    def __len__(self) -> int:
        return self._size

    def write(self, rows: np.ndarray) -> None:
        """Append ``rows`` (n, *row_shape); the oldest rows go when the buffer is full."""
        rows = np.asarray(rows, dtype=self._data.dtype)
        if rows.shape[1:] != self._data.shape[1:]:
            raise ValueError(f"rows of shape {rows.shape[1:]} do not fit a buffer of {self._data.shape[1:]}")
        n = rows.shape[0]
        self.total_written += n
        cap = self.capacity
        if n >= cap:  # only the newest `cap` rows survive
            self.dropped += self._size + n - cap
            self._data[:] = rows[n - cap :]
            self._head, self._size = 0, cap
            return
        overflow = max(self._size + n - cap, 0)
        if overflow:
            self.dropped += overflow
            self._head = (self._head + overflow) % cap
            self._size -= overflow
        tail = (self._head + self._size) % cap
        first = min(n, cap - tail)
        self._data[tail : tail + first] = rows[:first]
        self._data[: n - first] = rows[first:]
        self._size += n

    def peek(self, n: int | None = None) -> np.ndarray:
        """Copy of the oldest ``n`` rows (all by default) without removing them."""
        n = self._size if n is None else min(n, self._size)
        idx = (self._head + np.arange(n)) % self.capacity
        return self._data[idx].copy()

    def latest(self, n: int) -> np.ndarray:
        """Copy of the newest ``n`` rows (fewer if fewer are held), oldest first."""
        n = min(n, self._size)
        idx = (self._head + self._size - n + np.arange(n)) % self.capacity
        return self._data[idx].copy()

    def read(self, n: int | None = None) -> np.ndarray:
        """Remove and return the oldest ``n`` rows (all by default; fewer if fewer are held)."""
        out = self.peek(n)
        self.discard(out.shape[0])
        return out

    def discard(self, n: int) -> None:
        """Drop the oldest ``n`` rows."""
        n = min(max(n, 0), self._size)
        self._head = (self._head + n) % self.capacity
        self._size -= n

    def clear(self) -> None:
        self._head, self._size = 0, 0
