"""Model tests run on tiny configs on the CPU: one thread each, so that parallel jobs on a shared machine
do not oversubscribe the cores (two threads on two busy cores made a 1 s toy training take 30 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_seeded() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
