"""What a running generation reports: the stage it is in and how far it got."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

R = TypeVar("R")

#: Stages in order, with their rough share of the work on a CPU at the paper's size (for a single progress
#: bar): the prior and Griffin-Lim dominate, the movement encoder and the VQ-VAE decoder are quick.
STAGE_WEIGHTS: dict[str, float] = {"motion": 0.05, "codes": 0.4, "decode": 0.15, "waveform": 0.4}
STAGE_LABELS: dict[str, str] = {
    "motion": "following the movement",
    "codes": "sampling codes",
    "decode": "decoding the spectrogram",
    "waveform": "Griffin-Lim",
    # Visually Indicated Music's frame regressor (minet_desktop.engine.regressor has its stage weights).
    "vision": "looking at the performer",
    "mel": "predicting the mel spectrogram",
    # The MI Net paper's baselines (minet_desktop.engine.baselines has their stage weights).
    "spectrogram": "predicting the spectrogram",
}


@dataclass(frozen=True)
class Progress:
    """One progress report, yielded by :meth:`Session.iter_generate` after every chunk of work.

    Attributes
    ----------
    stage
        ``"motion"``, ``"codes"``, ``"decode"`` or ``"waveform"`` (:data:`STAGE_LABELS` has words for them).
    done, total
        Units of this stage (windows, codes, code chunks, Griffin-Lim iterations).
    fraction
        Of the whole generation, 0..1 (stage shares from :data:`STAGE_WEIGHTS`; several batches of takes,
        as after a CUDA out-of-memory fallback, share the bar).
    """

    stage: str
    done: int
    total: int
    fraction: float = 0.0

    @property
    def label(self) -> str:
        return STAGE_LABELS.get(self.stage, self.stage)


ProgressCallback = Callable[[Progress], None]
ShouldCancel = Callable[[], bool]


def stage_fraction(stage: str, done: int, total: int, weights: dict[str, float] = STAGE_WEIGHTS) -> float:
    """Overall fraction 0..1 when ``done`` of ``total`` units of ``stage`` are finished.

    ``weights``: the stages in order with their shares (MI Net's by default; other backends pass theirs).
    """
    before = 0.0
    for name, weight in weights.items():
        if name == stage:
            return before + weight * (done / total if total else 1.0)
        before += weight
    return min(before, 1.0)


def staged(
    stage: str, gen: Generator[tuple[int, int], None, R], weights: dict[str, float] = STAGE_WEIGHTS
) -> Generator[Progress, None, R]:
    """Re-yield a ``(done, total)`` generator as :class:`Progress` of ``stage``; return its value.

    Every backend drains its stages (Griffin-Lim, decoding, the movement encoder) through this one loop;
    ``weights`` are the backend's stage shares.
    """
    while True:
        try:
            done, total = next(gen)
        except StopIteration as stop:
            return stop.value
        yield Progress(stage, done, total, stage_fraction(stage, done, total, weights))
