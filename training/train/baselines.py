"""Training the MI Net paper's baselines, and the test NLL of Table 5's GRU seq2seq.

- `minet-train seq2seq --cache C --out RUN`: the RNN Seq2Seq (teacher-forced MSE on the standardised
  log-spectrogram); writes ``RUN/seq2seq.ckpt`` and the bundle ``RUN/model.safetensors``.
- `minet-train graph-transformer --cache C --out RUN`: the Graph-Transformer (MSE, non-autoregressive); writes
  ``RUN/graph_transformer.ckpt`` and ``RUN/model.safetensors``.
- `minet-train content-gru --cache C --vqvae VQVAE_RUN --out RUN`: the GRU seq2seq from notes and movement to
  the codes of a trained VQ-VAE (cross-entropy, as the prior); writes ``RUN/content_gru.ckpt``. It is scored
  by :func:`content_gru_test_nll`, not used by the app.

Data: crops of the stage's ``crop_seconds`` from the cache of `minet-train prepare` (``spec`` + ``skeleton``
for the baselines; for the GRU, :class:`~training.train.data.PriorCropDataset` crops of ``window_codes``
codes with their skeleton and notes, the codes precomputed with the frozen VQ-VAE as for the prior). The
spectrogram models predict the log-spectrogram standardised per bin with the training split's statistics
(as the VQ-VAE); their validation also logs ``val/mean_mse``, the error of always predicting the average
spectrum (1.0 by construction up to the val split's own statistics), and the Seq2Seq's
``val/free_running_mse``, its error when it feeds itself its own frames, as it does in the app.

Run folders are laid out as the other stages' (:mod:`training.train.run`): ``run.json``,
``checkpoints/last.ckpt`` (``--resume`` continues exactly), ``checkpoints/best.ckpt``, ``logs/``
(metrics.csv), ``tensorboard/``; a non-finite loss stops the run without saving.
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

from minet_desktop.core.config import from_json, to_json
from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.engine import model_types
from minet_desktop.engine.model_types import MINET_PAPER
from minet_desktop.model.baselines import (
    ContentGRU,
    Seq2Seq,
    build_baseline,
    masked_mse,
    save_baseline_bundle,
)
from minet_desktop.model.config import BASELINE_TYPES, BaselineBundleConfig, GRUContentBundleConfig
from training.cache import CropDataset, load_manifest, manifest_config, n_crop_frames
from training.train.checkpoints import load_vqvae, read_checkpoint, resolve_checkpoint
from training.train.config import Recipe, TrainConfig
from training.train.data import (
    CODES_FILE,
    PriorCropDataset,
    _CropDataModule,
    _optional_split,
    check_cache,
    check_codes,
    codes_fingerprint,
    precompute_codes,
    spectrogram_stats,
    vqvae_fingerprint,
)
from training.train.modules import _TrainingModule
from training.train.stage import Fit, RunResult, Stage, begin_stage, fresh_start, has_val_split, run_stage

CONTENT_GRU = "content_gru"


# --------------------------------------------------------------------------------------------------------
# RNN Seq2Seq and Graph-Transformer


class BaselineDataModule(_CropDataModule):
    """Spectrogram + skeleton crops of ``crop_seconds`` (the baseline's window) of the train and val splits."""

    def _datasets(self) -> tuple[CropDataset, CropDataset | None]:
        t = self.train_cfg
        kw: dict[str, Any] = {"crop_seconds": t.crop_seconds, "fields": ("spec", "skeleton")}
        train = CropDataset(self.cache_dir, "train", seed=t.seed, crops_per_track=t.crops_per_track, **kw)
        val = _optional_split(
            lambda: CropDataset(
                self.cache_dir, "val", seed=t.seed + 1, crops_per_track=t.val_crops_per_track, **kw
            )
        )
        return train, val


class BaselineModule(_TrainingModule):
    """Trains :class:`Seq2Seq` or :class:`GraphTransformer` with MSE on the standardised log-spectrogram.

    Batch: ``spec`` (B, F, T) log-magnitudes, ``skeleton`` (B, 3, 47, T), ``length`` (B,) real frames. Set
    the spectrogram statistics (``module.model.set_normalization``) before training; they are buffers and
    travel in checkpoints and the bundle.
    """

    config_class = BaselineBundleConfig

    def __init__(self, model_config: str, train_config: str) -> None:
        super().__init__(model_config, train_config)
        self.save_hyperparameters()
        self.model = build_baseline(self.cfg)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        loss = self.model.loss(batch["skeleton"], batch["spec"], batch["length"])
        self.log("train/loss", loss.detach(), prog_bar=True, batch_size=batch["spec"].shape[0])
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        spec, skeleton, length = batch["spec"], batch["skeleton"], batch["length"]
        bs = spec.shape[0]
        target = self.model.normalize(spec)
        self.log(
            "val/loss", self.model.loss(skeleton, spec, length), prog_bar=True, sync_dist=True, batch_size=bs
        )
        self.log(
            "val/mean_mse",
            masked_mse(torch.zeros_like(target), target, length),
            sync_dist=True,
            batch_size=bs,
        )
        if isinstance(self.model, Seq2Seq):
            free = self.model.normalize(self.model.generate(skeleton))
            self.log("val/free_running_mse", masked_mse(free, target, length), sync_dist=True, batch_size=bs)


def train_baseline(
    cache_dir: str | PathLike[str],
    run_dir: str | PathLike[str],
    recipe: Recipe,
    model_type: str,
    train: TrainConfig | None = None,
    resume: bool = False,
    card: str | None = None,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train the ``seq2seq`` or ``graph_transformer`` baseline of ``recipe``; write RUN_DIR/model.safetensors."""
    if model_type not in BASELINE_TYPES:
        raise ValueError(f"model_type must be one of {BASELINE_TYPES}, got {model_type!r}")
    fit = Fit(Path(cache_dir), Path(run_dir), train or recipe.train(model_type), resume, progress, callbacks)
    cache, train = fit.cache, fit.train
    cfg = recipe.model.baseline_config(model_type, window_seconds=train.crop_seconds)
    manifest = check_cache(cache, cfg)  # type: ignore[arg-type]  # reads .audio and .skeleton only
    begin_stage(fit, model_type, cfg)
    module = BaselineModule(to_json(cfg), to_json(train))
    if fresh_start(fit):
        mean, std = spectrogram_stats(cache, "train")
        module.model.set_normalization(torch.from_numpy(mean), torch.from_numpy(std))
    name = model_types.label(model_type)
    what = (
        "a bi-GRU encoder over the keypoints and a GRU decoder that emits one log-spectrogram frame per step "
        "from its previous frame"
        if model_type == "seq2seq"
        else "an ST-GCN encoder over the 47-joint skeleton graph and a Transformer decoder (self-attention, "
        "cross-attention to the pose features, feed-forward) that predicts a window of log-spectrogram frames"
    )
    stage = Stage(
        model_type,
        cfg,
        module,
        BaselineDataModule(cache, cfg, train),  # type: ignore[arg-type]
        has_val_split(manifest, False),
        save_bundle=lambda path, text: save_baseline_bundle(path, cfg, module.model, text),
        title=f"{name} baseline ({model_type})",
        description=(
            f"The {name} baseline of the {MINET_PAPER} paper, trained with `minet-train`: {what}. MSE on the "
            "log-spectrogram standardised per bin; Griffin-Lim. Deterministic: every take is the same audio."
        ),
        details=[f"window {cfg.window_seconds:g} s ({cfg.window_frames} frames)"],
    )
    return run_stage(stage, fit, manifest, card)


# --------------------------------------------------------------------------------------------------------
# Table 5: GRU seq2seq over the codes


def content_crop_codes(
    cfg: GRUContentBundleConfig, train: TrainConfig, cache_dir: str | PathLike[str]
) -> int:
    """Codes per crop: the codes of ``crop_seconds``, at most one window (``window_codes``)."""
    a = manifest_config(load_manifest(cache_dir)).audio
    frames = n_crop_frames(train.crop_seconds, a.sample_rate, a.hop_length)
    return max(1, min(cfg.content_gru.window_codes, math.ceil(frames / cfg.frames_per_code)))


def _codes_up_to_date(cache: Path, fingerprint: str) -> bool:
    """True when every track already has codes of the VQ-VAE ``fingerprint`` (nothing to write)."""
    try:
        check_codes(cache, fingerprint)
    except InputError:
        return False
    tracks = load_manifest(cache)["tracks"].values()
    return all((cache / e["dir"] / CODES_FILE).is_file() for e in tracks)


class ContentGRUDataModule(_CropDataModule):
    """Code crops (``window_codes``) with their skeleton and notes, tracks with notes only; the codes are
    precomputed in ``prepare_data`` unless the cache already holds this VQ-VAE's (then nothing is written)."""

    def __init__(
        self,
        cache_dir: str | PathLike[str],
        cfg: GRUContentBundleConfig,
        train: TrainConfig,
        vqvae: Any,
        fingerprint: str,
    ) -> None:
        super().__init__(cache_dir, cfg, train)  # type: ignore[arg-type]
        self.vqvae, self.fingerprint = vqvae, fingerprint
        self.prepare_data_per_node = True

    def prepare_data(self) -> None:
        if _codes_up_to_date(self.cache_dir, self.fingerprint):
            return
        device = "cuda" if torch.cuda.is_available() else "cpu"
        n = precompute_codes(self.cache_dir, self.vqvae, self.fingerprint, device)
        if n:
            print(f"encoded {n} track(s) with the frozen VQ-VAE into {self.cache_dir}/*/{CODES_FILE}")

    def _datasets(self) -> tuple[CropDataset, CropDataset | None]:
        check_codes(self.cache_dir, self.fingerprint)
        t, c = self.train_cfg, self.cfg
        assert isinstance(c, GRUContentBundleConfig)
        n = content_crop_codes(c, t, self.cache_dir)
        train = PriorCropDataset(
            self.cache_dir, "train", n, c.frames_per_code, t.seed, crops_per_track=t.crops_per_track,
            require_notes=True,
        )  # fmt: skip
        val = _optional_split(
            lambda: PriorCropDataset(
                self.cache_dir,
                "val",
                n,
                c.frames_per_code,
                t.seed + 1,
                crops_per_track=t.val_crops_per_track,
                require_notes=True,
            )  # fmt: skip
        )
        return train, val


class ContentGRUModule(_TrainingModule):
    """Trains :class:`ContentGRU` (with its movement encoder) on codes of a frozen VQ-VAE.

    Batch: ``codes`` (B, N), ``skeleton`` (B, 3, 47, N * fpc), ``notes`` (B, N * fpc), ``length`` (B,) real
    codes. ``vqvae_sha256`` names the VQ-VAE whose codes it learns, ``codes_sha256`` its encoder and codebook
    (:func:`~training.train.data.codes_fingerprint`); :func:`content_gru_test_nll` checks the codes by it.
    """

    config_class = GRUContentBundleConfig

    def __init__(
        self, model_config: str, train_config: str, vqvae_sha256: str = "", codes_sha256: str = ""
    ) -> None:
        super().__init__(model_config, train_config)
        self.save_hyperparameters()
        self.content_gru = ContentGRU(self.cfg)

    def _loss(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        codes = batch["codes"]
        logits, loss = self.content_gru(codes, batch["skeleton"], batch["notes"], batch["length"])
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


def train_content_gru(
    cache_dir: str | PathLike[str],
    vqvae_path: str | PathLike[str],
    run_dir: str | PathLike[str],
    recipe: Recipe,
    train: TrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train Table 5's GRU seq2seq on codes of the frozen VQ-VAE at ``vqvae_path``; writes RUN_DIR/content_gru.ckpt.

    The VQ-VAE (its codes, audio settings, codebook size and downsampling) comes from ``vqvae_path``; the
    movement encoder and GRU sizes from ``recipe`` (``[model.movement]``, ``[model.content_gru]``).
    """
    fit = Fit(Path(cache_dir), Path(run_dir), train or recipe.train(CONTENT_GRU), resume, progress, callbacks)
    cache, train = fit.cache, fit.train
    vq_cfg, vqvae = load_vqvae(vqvae_path)
    cfg = recipe.model.content_gru_config(vq_cfg)
    manifest = check_cache(cache, cfg)  # type: ignore[arg-type]  # reads .audio and .skeleton only
    begin_stage(fit, CONTENT_GRU, cfg)
    fingerprint = codes_fingerprint(vqvae)
    module = ContentGRUModule(to_json(cfg), to_json(train), vqvae_fingerprint(vqvae), fingerprint)
    stage = Stage(
        CONTENT_GRU,
        cfg,
        module,
        ContentGRUDataModule(cache, cfg, train, vqvae, fingerprint),
        has_val_split(manifest, True),
        info={
            "vqvae_checkpoint": str(Path(vqvae_path).resolve()),
            "vqvae_sha256": vqvae_fingerprint(vqvae),
            "codes_sha256": fingerprint,
        },
    )
    return run_stage(stage, fit, manifest)


def load_content_gru(path: str | PathLike[str]) -> tuple[GRUContentBundleConfig, ContentGRU, str]:
    """The trained GRU (eval mode, CPU), its config and the fingerprint of the codes it learnt,
    from a ``content_gru.ckpt``, any checkpoint of a content-gru run, or the run folder."""
    p = resolve_checkpoint(path, CONTENT_GRU)
    ckpt = read_checkpoint(p)
    hp = ckpt.get("hyper_parameters")
    if not isinstance(hp, dict) or not isinstance(hp.get("model_config"), str) or "vqvae_sha256" not in hp:
        raise InputError(p, "not a content-gru checkpoint (no GRU content config and VQ-VAE hash)")
    try:
        cfg = from_json(GRUContentBundleConfig, hp["model_config"])
    except ConfigError as exc:
        raise InputError(p, f"not a content-gru checkpoint ({exc})") from exc
    model = ContentGRU(cfg)
    prefix = CONTENT_GRU + "."
    state = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(p, f"weights do not fit the config ({str(exc).splitlines()[0]})") from exc
    # Runs made before the codes fingerprint existed name their codes by the whole VQ-VAE's hash.
    return cfg, model.eval(), str(hp.get("codes_sha256") or hp["vqvae_sha256"])


@torch.no_grad()
def content_gru_test_nll(
    path: str | PathLike[str],
    cache_dir: str | PathLike[str],
    split: str = "test",
    track_ids: Sequence[str] | None = None,
) -> float:
    """Teacher-forced NLL per code (nats) of a content-gru run on the ``split`` tracks that have notes.

    Every track is cut into consecutive windows of ``window_codes`` codes, each starting from BOS with a fresh
    state (the last one shorter); the codes are the cache's ``codes.npy`` (checked to come from the VQ-VAE
    the GRU was trained on), the skeleton is padded with its last pose and the notes with rests, as in
    training. The same windows and padding as the evaluation's prior NLL (``training.evaluate.run.
    prior_test_nll``) when ``window_codes`` equals the prior's ``block_size``, so the two numbers compare
    (Table 5). ``track_ids`` restricts the tracks (e.g. to the evaluation's subset).
    """
    cfg, model, sha = load_content_gru(path)
    cache = Path(cache_dir)
    check_codes(cache, sha)
    manifest = load_manifest(cache)
    entries = sorted(
        (e for e in manifest["tracks"].values() if e.get("split") == split and e.get("has_notes")),
        key=lambda e: e["id"],
    )
    if track_ids is not None:
        wanted = set(track_ids)
        entries = [e for e in entries if e["id"] in wanted]
    if not entries:
        raise InputError(cache, f"no track of the {split!r} split has notes and codes to score")
    L, fpc = cfg.content_gru.window_codes, cfg.frames_per_code
    total, n_codes = 0.0, 0
    for e in entries:
        tdir = cache / e["dir"]
        codes_all = np.load(tdir / CODES_FILE).astype(np.int64)
        skel_all = np.load(tdir / "skeleton.npy", mmap_mode="r")
        notes_all = np.load(tdir / "notes.npy", mmap_mode="r")
        for s in range(0, len(codes_all), L):
            length = min(L, len(codes_all) - s)
            codes = np.zeros(L, np.int64)
            codes[:length] = codes_all[s : s + length]
            k = np.asarray(skel_all[s * fpc : (s + L) * fpc], np.float32)
            if k.shape[0] < L * fpc:
                k = np.concatenate([k, np.repeat(k[-1:], L * fpc - k.shape[0], axis=0)])
            notes = np.zeros(L * fpc, np.int64)
            seg = np.asarray(notes_all[s * fpc : (s + L) * fpc], np.int64)
            notes[: len(seg)] = seg
            skel = torch.from_numpy(np.ascontiguousarray(k.transpose(1, 2, 0)))[None]
            _, loss = model(
                torch.from_numpy(codes)[None], skel, torch.from_numpy(notes)[None], torch.tensor([length])
            )
            total += float(loss) * length
            n_codes += length
    return total / n_codes


__all__ = [
    "BaselineDataModule",
    "BaselineModule",
    "ContentGRUDataModule",
    "ContentGRUModule",
    "content_gru_test_nll",
    "load_content_gru",
    "train_baseline",
    "train_content_gru",
]
