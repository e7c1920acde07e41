"""A terminal progress bar driven by the ``progress(done, total)`` callbacks that long work reports."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def progress_bar(desc: str, unit: str, leave: bool = False) -> Iterator[Callable[[int, int], None]]:
    """Yield ``update(done, total)`` for a tqdm bar (hidden when the output is not a terminal); closed on exit."""
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, dynamic_ncols=True, disable=None, leave=leave)

    def update(done: int, total: int) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
