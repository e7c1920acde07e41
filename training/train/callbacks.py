"""Stop on a NaN or infinite loss before it reaches the weights or a checkpoint."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from minet_desktop.core.errors import MinetError


class TrainingDiverged(MinetError):
    """The loss became NaN or infinite; the message names the step, the batch and its tracks."""


def _nonfinite_items(batch: dict[str, Any]) -> set[int]:
    bad: set[int] = set()
    for value in batch.values():
        if isinstance(value, Tensor) and value.is_floating_point() and value.dim() > 0:
            flat = value.detach().reshape(value.shape[0], -1)
            bad.update(int(i) for i in torch.nonzero(~torch.isfinite(flat).all(1)).flatten())
    return bad


class StopOnNonFiniteLoss(Callback):
    """Raise :class:`TrainingDiverged` when a training loss is not finite, before backward.

    Checking before the backward pass means the bad step never changes the weights, and raising before
    ``on_train_batch_end`` means no checkpoint is written after it: ``last.ckpt`` stays the last good one.
    Under DDP the decision is all-reduced, so every rank stops at the same step instead of one rank waiting
    forever in the gradient all-reduce.
    """

    def __init__(self) -> None:
        self._batch: dict[str, Any] | None = None
        self._batch_idx = -1

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._batch, self._batch_idx = batch, batch_idx

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: Tensor) -> None:
        finite = bool(torch.isfinite(loss.detach()).all())
        if trainer.strategy.reduce_boolean_decision(finite, all=True):
            return
        batch = self._batch if isinstance(self._batch, dict) else {}
        ids = [str(t) for t in batch.get("track_id", [])]
        bad = sorted(_nonfinite_items(batch))
        where = (
            f"non-finite input in {', '.join(ids[i] for i in bad if i < len(ids))}"
            if bad
            else "inputs are finite: the model diverged (lower the learning rate, or keep grad_clip on)"
        )
        value = "not finite on another process" if finite else f"{loss.detach().float().item()}"
        raise TrainingDiverged(
            f"training stopped: loss is {value} at step {trainer.global_step} (epoch {trainer.current_epoch}, "
            f"batch {self._batch_idx}; tracks {', '.join(ids) or '?'}); {where}. Nothing was saved after this "
            "step: the last checkpoint is the last good one"
        )
