"""The live ring buffer: FIFO order across the wrap, newest wins on overflow, fixed storage."""

from __future__ import annotations

import numpy as np
import pytest

from minet_desktop.core.ringbuffer import RingBuffer


def test_fifo_across_the_wrap() -> None:
    rb = RingBuffer(5)
    rb.write(np.arange(3))
    assert rb.read(2).tolist() == [0, 1]
    rb.write(np.arange(3, 7))  # wraps around
    assert len(rb) == 5 and rb.peek().tolist() == [2, 3, 4, 5, 6]
    assert rb.latest(2).tolist() == [5, 6]
    assert rb.read().tolist() == [2, 3, 4, 5, 6] and len(rb) == 0


def test_overflow_drops_the_oldest_and_counts_them() -> None:
    rb = RingBuffer(4, (2,), np.int64)
    rb.write(np.arange(6).reshape(3, 2))
    rb.write(np.arange(6, 12).reshape(3, 2))
    assert rb.read().tolist() == [[4, 5], [6, 7], [8, 9], [10, 11]]
    assert rb.dropped == 2
    rb.write(np.arange(20).reshape(10, 2))  # more than fits in one go
    assert rb.read()[:, 0].tolist() == [12, 14, 16, 18] and rb.dropped == 8


def test_storage_is_fixed_and_shapes_checked() -> None:
    rb = RingBuffer(100, (3, 47))
    before = rb.nbytes
    for _ in range(50):
        rb.write(np.zeros((7, 3, 47), np.float32))
        rb.discard(3)
    assert rb.nbytes == before and len(rb) == 97  # full after each write, 3 read
    with pytest.raises(ValueError):
        rb.write(np.zeros((1, 3, 46)))
    with pytest.raises(ValueError):
        RingBuffer(0)
