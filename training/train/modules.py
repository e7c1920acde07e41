"""LightningModules that train the plain ``nn.Module``s of :mod:`minet_desktop.model`.

Their attribute names (``vqvae``, ``movement``, ``prior``) are the bundle's prefixes, so a checkpoint's
``state_dict`` maps onto a model bundle key for key. Hyperparameters are stored as JSON strings (no
dataclasses, nothing to unpickle), so checkpoints load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import Tensor

from minet_desktop.core.config import from_json
from minet_desktop.model.config import BundleConfig
from minet_desktop.model.movement import MovementEncoder, align_to
from minet_desktop.model.prior import build_prior
from minet_desktop.model.vqvae import VQVAE
from training.train.config import TrainConfig
from training.train.multiview import info_nce, projection_head


def lr_lambda(cfg: TrainConfig) -> Any:
    """Linear warm-up over ``warmup_steps``, then cosine decay to ``min_lr_ratio`` at ``max_steps``."""

    def f(step: int) -> float:
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        span = max(1, cfg.max_steps - cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / span)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


class _TrainingModule(L.LightningModule):
    """Shared parts: configs from JSON, AdamW with the schedule, and the RNG state in checkpoints.

    Lightning restores weights, optimiser, schedule and loop counters on resume but not the global torch
    RNG, which dropout and the codebook's dead-code restarts draw from; it is saved with every checkpoint
    and put back just before the first resumed step, so a resumed run continues bit for bit.
    """

    #: The config dataclass ``model_config`` holds (the frame regressor has its own).
    config_class: type[Any] = BundleConfig

    def __init__(self, model_config: str, train_config: str) -> None:
        super().__init__()
        self.cfg = from_json(self.config_class, model_config)
        self.train_cfg = from_json(TrainConfig, train_config)
        self._rng_to_restore: dict[str, Any] | None = None

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def configure_optimizers(self) -> Any:
        t = self.train_cfg
        opt = torch.optim.AdamW(self.trainable_parameters(), lr=t.lr, weight_decay=t.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(t))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["rng"] = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._rng_to_restore = checkpoint.get("rng")

    def on_train_start(self) -> None:
        rng, self._rng_to_restore = self._rng_to_restore, None
        if rng is not None:
            torch.set_rng_state(rng["torch"])
            if rng.get("cuda") and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])


class VQVAEModule(_TrainingModule):
    """Trains :class:`VQVAE` with L2 reconstruction + β commitment (its ``forward``'s ``loss``).

    Batch: ``spec`` (B, F, T) log-magnitudes, ``length`` (B,) real frames. The per-bin normalisation
    statistics must be set (``module.vqvae.set_normalization``) before training; they are buffers and travel
    in checkpoints and bundles.
    """

    def __init__(self, model_config: str, train_config: str, freeze_codes: bool = False) -> None:
        super().__init__(model_config, train_config)
        self.save_hyperparameters()
        self.vqvae = VQVAE(self.cfg.vqvae)
        # The decoder stage: encoder and codebook stay as loaded (no gradients, no EMA updates, no restarts),
        # so every recording keeps its codes and priors trained on them stay valid; only the decoder learns.
        self.freeze_codes = freeze_codes
        if freeze_codes:  # eval from the start too: Lightning restores each submodule's mode after validation
            self.vqvae.encoder.requires_grad_(False).eval()
            self.vqvae.quantizer.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> VQVAEModule:
        super().train(mode)
        if self.freeze_codes:
            self.vqvae.encoder.eval()
            self.vqvae.quantizer.eval()
        return self

    def _terms(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        _, terms, _ = self.vqvae(batch["spec"], batch["length"])
        return terms

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        terms = self._terms(batch)
        bs = batch["spec"].shape[0]
        self.log("train/loss", terms["loss"].detach(), prog_bar=True, batch_size=bs)
        for k in ("recon", "commit", "perplexity", "used_codes"):
            self.log(f"train/{k}", terms[k].detach(), prog_bar=k == "used_codes", batch_size=bs)
        return terms["loss"]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        terms = self._terms(batch)
        bs = batch["spec"].shape[0]
        for k in ("loss", "recon", "perplexity"):
            self.log(f"val/{k}", terms[k], prog_bar=k == "loss", sync_dist=True, batch_size=bs)


class PriorModule(_TrainingModule):
    """Trains the movement encoder jointly with the prior on codes of a frozen VQ-VAE.

    Batch: ``codes`` (B, N) long, ``skeleton`` (B, 3, 47, N * fpc), ``notes`` (B, N * fpc) (content prior),
    ``length`` (B,) real codes. The VQ-VAE is held (frozen, in eval mode, outside the optimiser) only so that
    checkpoints hold the whole model and the bundle can be written from them; ``vqvae_sha256`` names the
    weights the codes came from.
    """

    def __init__(self, model_config: str, train_config: str, vqvae_sha256: str = "") -> None:
        super().__init__(model_config, train_config)
        self.save_hyperparameters()
        c = self.cfg
        self.vqvae = VQVAE(c.vqvae).requires_grad_(False).eval()
        self.movement = MovementEncoder(c.movement)
        self.prior = build_prior(
            c.prior, c.vqvae.codebook_size, c.movement.out_features, c.content, c.frames_per_code
        )
        if self.train_cfg.freeze_movement:
            self.movement.requires_grad_(False)
        # The camera-view contrast's projection head: trained here, never part of a bundle.
        self.view_head = (
            projection_head(c.movement.out_features) if self.train_cfg.view_contrast > 0 else None
        )

    def train(self, mode: bool = True) -> PriorModule:
        super().train(mode)
        self.vqvae.eval()  # frozen: its codebook must never move
        if self.train_cfg.freeze_movement:
            self.movement.eval()
        return self

    def _loss(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        codes = batch["codes"]
        pair = batch.get("skeleton_pair")
        if self.view_head is not None and pair is not None:
            B = codes.shape[0]
            h_all, frames_all = self.movement(torch.cat([batch["skeleton"], pair]))
            h, frames = h_all[:B], frames_all[:B]
            z = self.view_head(h_all)
            contrast = info_nce(z[:B], z[B:], self.train_cfg.view_temperature)
            self.log("train/view_contrast", contrast.detach(), batch_size=B)
        else:
            h, frames = self.movement(batch["skeleton"])
            contrast = None
        motion = (
            align_to(frames, codes.shape[1], self.cfg.frames_per_code)
            if self.cfg.prior.per_frame_motion
            else None
        )
        notes = batch["notes"] if self.cfg.content is not None else None
        logits, loss = self.prior(codes, h, motion=motion, notes=notes, lengths=batch["length"])
        if contrast is not None:
            self.log("train/nll", loss.detach(), batch_size=codes.shape[0])
            loss = loss + self.train_cfg.view_contrast * contrast
        with torch.no_grad():
            real = torch.arange(codes.shape[1], device=codes.device)[None] < batch["length"][:, None]
            acc = ((logits.argmax(-1) == codes) & real).sum() / real.sum().clamp_min(1)
        return loss, acc

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        loss, acc = self._loss(batch)
        bs = batch["codes"].shape[0]
        self.log("train/loss", loss.detach(), prog_bar=True, batch_size=bs)
        self.log("train/accuracy", acc, prog_bar=True, batch_size=bs)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        loss, acc = self._loss(batch)
        bs = batch["codes"].shape[0]
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=bs)
        self.log("val/accuracy", acc, sync_dist=True, batch_size=bs)
