"""Training Visually Indicated Music's frame regressor: `minet-train regressor --cache C --out RUN [--midi]`.

Data: crops of ``window_seconds`` (the stage's ``crop_seconds``) from the cache of `minet-train prepare`: the
log-mel frames, the stick figures of the same span drawn on the fly from ``skeleton.npy`` at ``image_fps``
(:func:`minet_desktop.features.pose_image.render_pose_images`, in the DataLoader workers when there are any:
a 96-pixel figure takes ~0.1 ms, far less than the ResNet spends on it), and for the MIDI variant the cache's
notes at the mel frames. Image 0 of a training crop lies a random fraction of an image frame before the first
mel frame, so the model sees every phase between the image grid and the mel grid, as it does in the app.

Loss: mean squared error on the log-mel (Visually Indicated Music §3.4), over the real (unpadded) frames of each crop. The
validation also logs ``val/mean_mse``, the error of always predicting the training set's average spectrum: a
model that does not beat it has learnt nothing from the frames.

The run folder is laid out as the other stages' (:mod:`training.train.run`): ``run.json``,
``checkpoints/last.ckpt`` (``--resume`` continues exactly), ``checkpoints/best.ckpt``, ``logs/``,
``tensorboard/``, ``regressor.ckpt`` and the bundle ``model.safetensors`` the app opens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from minet_desktop.core.config import describe_mismatch, to_json
from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.engine.model_types import REGRESSOR_PAPER
from minet_desktop.features.pose_image import render_pose_images, sample_poses
from minet_desktop.model.config import RegressorBundleConfig
from minet_desktop.model.regressor import FrameRegressor, save_regressor_bundle
from training.cache import MANIFEST_NAME, CropDataset, load_manifest, manifest_config
from training.datasets.base import instrument_index
from training.train.config import Recipe, TrainConfig
from training.train.data import _CropDataModule, _optional_split
from training.train.modules import _TrainingModule
from training.train.stage import Fit, RunResult, Stage, begin_stage, fresh_start, has_val_split, run_stage

STAGE = "regressor"


def check_regressor_cache(cache_dir: str | PathLike[str], cfg: RegressorBundleConfig) -> dict[str, Any]:
    """The cache's manifest, after checking its mel and skeleton settings are the model's (ConfigError)."""
    cache = Path(cache_dir)
    manifest = load_manifest(cache)
    cache_cfg = manifest_config(manifest)
    problems = [f"mel.{m}" for m in describe_mismatch(cfg.mel, cache_cfg.mel)]
    problems += [f"skeleton.{m}" for m in describe_mismatch(cfg.skeleton, cache_cfg.skeleton)]
    if problems:
        raise ConfigError(
            f"{cache}: the cache was prepared with other settings than the model's "
            f"(expected = model, found = cache): {'; '.join(problems)}. "
            "Train with a recipe whose [model.mel] matches the cache."
        )
    if not any(e.get("split") == "train" for e in manifest["tracks"].values()):
        raise InputError(cache / MANIFEST_NAME, "the cache has no tracks in the training split")
    return manifest


def mel_stats(cache_dir: str | PathLike[str], split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and std of every mel frame of the ``split`` tracks: two ``(n_mels,)`` float32 arrays."""
    cache = Path(cache_dir)
    manifest = load_manifest(cache)
    total = sq = None
    count = 0
    for entry in sorted(manifest["tracks"].values(), key=lambda e: e["id"]):
        if entry.get("split") != split:
            continue
        mel = np.asarray(np.load(cache / entry["dir"] / "mel.npy", mmap_mode="r"), np.float64)
        mel = mel[np.isfinite(mel).all(axis=1)]
        if total is None:
            total, sq = np.zeros(mel.shape[1]), np.zeros(mel.shape[1])
        total += mel.sum(0)
        sq += (mel * mel).sum(0)
        count += mel.shape[0]
    if total is None or sq is None or count == 0:
        raise InputError(cache / MANIFEST_NAME, f"the cache has no mel frames in the {split!r} split")
    mean = total / count
    std = np.sqrt(np.maximum(sq / count - mean * mean, 0.0))
    return mean.astype(np.float32), std.astype(np.float32)


def n_crop_images(window_frames: int, frame_rate: float, image_fps: float) -> int:
    """Images per crop: enough to cover ``window_frames`` mel frames whatever the phase of the image grid."""
    return int(math.floor((window_frames - 1) * image_fps / frame_rate)) + 2


class RegressorCropDataset(CropDataset):
    """Crops for the regressor: one window of mel frames, its stick figures and its notes.

    ============= ================================ ===================================================
    key           shape                            meaning
    ============= ================================ ===================================================
    images        (T_img, C, S, S) uint8           stick figures at ``image_fps``
    positions     (T,) float32                     each mel frame's place on the image axis
    mel           (n_mels, T) float32              log-mel target (padded with log(log_floor))
    notes         (T,) int64                       0 rest, pitch + 1, at the mel frames
    length        () int64                         real mel frames
    start         () int64                         first mel frame of the crop in the track
    phase         () float64                       image frames from image 0 to mel frame 0, in [0, 1)
    ============= ================================ ===================================================

    ``T = cfg.window_frames``. Starts and phases are drawn from ``(seed, epoch, index)`` like
    :class:`~training.cache.CropDataset`'s; ``random_phase=False`` (validation) puts image 0 on mel frame 0.
    """

    def __init__(
        self,
        cache_dir: str | PathLike[str],
        split: str,
        cfg: RegressorBundleConfig,
        seed: int = 0,
        *,
        crops_per_track: int = 1,
        require_notes: bool = False,
        random_phase: bool = True,
    ) -> None:
        super().__init__(
            cache_dir, split, fields=("skeleton", "notes", "mel"), seed=seed, crops_per_track=crops_per_track
        )
        if require_notes:
            self.entries = [e for e in self.entries if e.get("has_notes")]
            if not self.entries:
                raise InputError(
                    self.cache_dir / MANIFEST_NAME,
                    f"no track of the {split!r} split has notes: the MIDI variant needs them",
                )
        self.cfg = cfg
        self.random_phase = random_phase
        self.window = cfg.window_frames
        self.n_images = n_crop_images(self.window, cfg.frame_rate, cfg.regressor.image_fps)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        ti = index % len(self.entries)
        entry = self.entries[ti]
        cfg, rc = self.cfg, self.cfg.regressor
        W, rate, fps = self.window, cfg.frame_rate, rc.image_fps
        spec_rate = self.config.audio.frame_rate
        mel_all = self._array(ti, "mel")
        n_mel = int(mel_all.shape[0])
        rng = np.random.default_rng((self.seed, self.epoch, index))
        start = int(rng.integers(0, n_mel - W + 1)) if n_mel > W else 0
        phase = float(rng.random()) if self.random_phase else 0.0
        length = min(W, n_mel - start)

        mel = np.full((W, mel_all.shape[1]), self.mel_pad_value, np.float32)
        mel[:length] = mel_all[start : start + length]

        # Stick figures: image k at start / rate + (k - phase) / fps, drawn from the skeleton at spec_rate.
        # (Indexing the memory map with the frames' indices reads only those rows.)
        times = start / rate + (np.arange(self.n_images) - phase) / fps
        skel_all = self._array(ti, "skeleton")
        if self.augment is None:
            poses = sample_poses(skel_all, spec_rate, times)
        else:  # augment the frames the images are drawn from (and one either side)
            f0 = max(0, int(np.floor(times.min() * spec_rate)) - 1)
            f1 = min(int(skel_all.shape[0]), int(np.ceil(times.max() * spec_rate)) + 2)
            window = self._augmented(np.asarray(skel_all[f0:f1], np.float32), index)
            poses = sample_poses(window, spec_rate, times - f0 / spec_rate)
        images = render_pose_images(poses, rc.image_size, rc.grayscale, rc.view_center, rc.view_half)

        # Notes at the mel frames' times (the cache holds them at the spectrogram rate); rest past the end.
        notes_all = self._array(ti, "notes")
        idx = np.round((start + np.arange(W)) / rate * spec_rate).astype(np.int64)
        notes = np.zeros(W, np.int64)
        ok = idx < notes_all.shape[0]
        notes[ok] = notes_all[idx[ok]]
        notes[length:] = 0

        return {
            "images": torch.from_numpy(images),
            "positions": torch.from_numpy((phase + np.arange(W) * (fps / rate)).astype(np.float32)),
            "mel": torch.from_numpy(np.ascontiguousarray(mel.T)),
            "notes": torch.from_numpy(notes),
            "length": torch.tensor(length, dtype=torch.long),
            "start": torch.tensor(start, dtype=torch.long),
            "phase": torch.tensor(phase, dtype=torch.float64),
            "has_notes": torch.tensor(bool(entry.get("has_notes", False))),
            "instrument": torch.tensor(instrument_index(entry["instrument"]), dtype=torch.long),
            "track_id": entry["id"],
        }


class RegressorDataModule(_CropDataModule):
    """Regressor crops of the train and val splits (batches a function of the step, as the other stages)."""

    cfg: RegressorBundleConfig  # type: ignore[assignment]

    def _datasets(self) -> tuple[CropDataset, CropDataset | None]:
        t, c = self.train_cfg, self.cfg
        midi = c.regressor.midi
        train = RegressorCropDataset(
            self.cache_dir, "train", c, t.seed, crops_per_track=t.crops_per_track, require_notes=midi
        )
        val = _optional_split(
            lambda: RegressorCropDataset(
                self.cache_dir,
                "val",
                c,
                t.seed + 1,
                crops_per_track=t.val_crops_per_track,
                require_notes=midi,
                random_phase=False,
            )
        )
        return train, val


def masked_mse(pred: Tensor, target: Tensor, length: Tensor) -> Tensor:
    """Mean squared error over the real frames: ``pred``, ``target`` ``(B, n_mels, T)``, ``length`` ``(B,)``."""
    real = (torch.arange(pred.shape[-1], device=pred.device)[None] < length[:, None]).to(pred.dtype)
    err = ((pred.float() - target.float()) ** 2).mean(dim=1)  # (B, T)
    return (err * real).sum() / real.sum().clamp_min(1)


class RegressorModule(_TrainingModule):
    """Trains :class:`~minet_desktop.model.regressor.FrameRegressor` with MSE on log-mel (Visually Indicated Music §3.4).

    Batch: ``images`` (B, T_img, C, S, S) uint8, ``positions`` (B, T), ``mel`` (B, n_mels, T), ``notes`` (B, T),
    ``length`` (B,). The attribute ``regressor`` is the bundle's prefix, so a checkpoint's weights map onto the
    bundle key for key. Set the output statistics (``module.regressor.set_normalization``) before training.
    """

    config_class = RegressorBundleConfig

    def __init__(self, model_config: str, train_config: str) -> None:
        super().__init__(model_config, train_config)
        self.save_hyperparameters()
        self.regressor = FrameRegressor(self.cfg.regressor)

    def _predict(self, batch: dict[str, Any]) -> Tensor:
        notes = batch["notes"] if self.cfg.regressor.midi else None
        return self.regressor(batch["images"], batch["positions"], notes)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        loss = masked_mse(self._predict(batch), batch["mel"], batch["length"])
        self.log("train/loss", loss.detach(), prog_bar=True, batch_size=batch["mel"].shape[0])
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        bs = batch["mel"].shape[0]
        loss = masked_mse(self._predict(batch), batch["mel"], batch["length"])
        mean = self.regressor.mel_mean[None, :, None].expand_as(batch["mel"])
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=bs)
        self.log(
            "val/mean_mse", masked_mse(mean, batch["mel"], batch["length"]), sync_dist=True, batch_size=bs
        )


def train_regressor(
    cache_dir: str | PathLike[str],
    run_dir: str | PathLike[str],
    recipe: Recipe,
    train: TrainConfig | None = None,
    midi: bool = False,
    resume: bool = False,
    card: str | None = None,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train the frame regressor (``midi``: with the piano-roll branch); write RUN_DIR/model.safetensors."""
    fit = Fit(Path(cache_dir), Path(run_dir), train or recipe.train(STAGE), resume, progress, callbacks)
    cache, train = fit.cache, fit.train
    cfg = recipe.model.regressor_config(midi, window_seconds=train.crop_seconds)
    manifest = check_regressor_cache(cache, cfg)
    begin_stage(fit, STAGE, cfg)
    module = RegressorModule(to_json(cfg), to_json(train))
    if fresh_start(fit):
        mean, std = mel_stats(cache, "train")
        module.regressor.set_normalization(torch.from_numpy(mean), torch.from_numpy(std))
    r = cfg.regressor
    stage = Stage(
        STAGE,
        cfg,
        module,
        RegressorDataModule(cache, cfg, train),  # type: ignore[arg-type]
        has_val_split(manifest, midi),
        save_bundle=lambda path, text: save_regressor_bundle(path, cfg, module.regressor, text),
        title=f"Frame regressor, {REGRESSOR_PAPER} ({cfg.model_type})",
        description=(
            f"Trained with `minet-train regressor`: ResNet-18 (x{r.width:g}) over {r.image_size}x{r.image_size} "
            f"{'grey' if r.grayscale else 'RGB'} stick figures drawn from the keypoints at {r.image_fps:g} "
            f"images/s, a {r.lstm_layers}-layer LSTM of {r.lstm_hidden}"
            + (f", a MIDI piano-roll branch (LSTM {r.midi_hidden})" if r.midi else "")
            + f", {r.n_mels}-band log-mel, Griffin-Lim. MSE on log-mel."
        ),
    )
    return run_stage(stage, fit, manifest, card)


__all__ = [
    "RegressorCropDataset",
    "RegressorDataModule",
    "RegressorModule",
    "check_regressor_cache",
    "mel_stats",
    "train_regressor",
]
