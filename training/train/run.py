"""The two training stages as `minet-train vqvae` and `minet-train prior` run them.

A run folder holds everything of one stage::

    RUN_DIR/run.json                 the model and training configs, the cache, the data summary
    RUN_DIR/checkpoints/last.ckpt    written every ckpt_every steps; --resume continues from it exactly
    RUN_DIR/checkpoints/best.ckpt    the weights of the lowest val/loss so far (`minet-train bundle --prior` it)
    RUN_DIR/logs/                    CSV metrics (metrics.csv)
    RUN_DIR/tensorboard/             TensorBoard events (`tensorboard --logdir RUN_DIR/tensorboard`)
    RUN_DIR/vqvae.ckpt | prior.ckpt  the final weights (no optimiser state)
    RUN_DIR/model.safetensors        prior stage: the model bundle the app loads

Seeds: ``L.seed_everything(seed)`` before the modules are built, crops drawn from ``(seed, epoch, index)``
and batches from ``(seed, epoch, step)``, the global RNG state saved in checkpoints: the same command gives
the same run, and a resumed run continues exactly where the killed one stopped (on the CPU; cuDNN kernels
on a GPU are not bit-reproducible unless made deterministic).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, Logger

from minet_desktop.core.atomic import atomic_write_text
from minet_desktop.core.config import describe_mismatch, from_dict, to_dict, to_json
from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.model.bundle import build_modules, check_model_size, save_bundle
from minet_desktop.model.config import BundleConfig
from training.train.callbacks import StopOnNonFiniteLoss
from training.train.checkpoints import load_vqvae, read_checkpoint
from training.train.config import Recipe, TrainConfig, resolve_accelerator, resolve_precision
from training.train.data import (
    PriorDataModule,
    VQVAEDataModule,
    check_cache,
    codes_fingerprint,
    spectrogram_stats,
    split_summary,
    vqvae_fingerprint,
)
from training.train.modules import PriorModule, VQVAEModule

RUN_INFO = "run.json"
CKPT_DIR = "checkpoints"
LAST = "last.ckpt"


def tensorboard_available() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        try:
            import tensorboardX  # noqa: F401
        except ImportError:
            return False
    return True


@dataclass
class RunResult:
    """What a finished stage left behind, and its losses (for the CLI's summary and the model card)."""

    run_dir: Path
    checkpoint: Path
    bundle: Path | None = None
    global_step: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    is_global_zero: bool = True

    def summary(self) -> str:
        rows = [("run folder", str(self.run_dir)), ("steps", f"{self.global_step} ({self.seconds:.0f} s)")]
        rows += [(k, f"{v:.4f}") for k, v in sorted(self.metrics.items())]
        rows.append(("checkpoint", str(self.checkpoint)))
        if self.bundle is not None:
            rows.append(("model bundle", str(self.bundle)))
        lines = [f"{k:<18} {v}" for k, v in rows]
        return "\n".join(lines)


def _check_run_dir(run_dir: Path, stage: str, cfg: Any, resume: bool, source: str | None = None) -> None:
    """Refuse to mix runs: a folder with a run needs --resume, and --resume needs the same model and a
    checkpoint to continue from (checked here, before any training machinery starts)."""
    if isinstance(cfg, BundleConfig):  # a recipe may ask for sizes no computer holds: refused before building
        check_model_size(source, lambda: build_modules(cfg), "the recipe's")
    if resume:
        resume_checkpoint(run_dir / CKPT_DIR, say=False)
    info_path = run_dir / RUN_INFO
    has_run = (run_dir / CKPT_DIR / LAST).is_file()
    if has_run and not resume:
        raise InputError(
            run_dir, "this folder holds a run already: pass --resume to continue it, or choose another --out"
        )
    if resume and info_path.is_file():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
            old = from_dict(type(cfg), info["model_config"])
        except (OSError, ValueError, KeyError, ConfigError) as exc:
            raise InputError(info_path, f"unreadable run description ({exc})") from exc
        if info.get("stage") != stage:
            raise InputError(run_dir, f"this folder holds a {info.get('stage')} run, not a {stage} run")
        if old != cfg:
            raise ConfigError(
                f"{run_dir}: --resume with another model config than the run's: "
                + "; ".join(describe_mismatch(old, cfg))
            )


def _write_run_info(run_dir: Path, info: dict[str, Any]) -> None:
    atomic_write_text(run_dir / RUN_INFO, json.dumps(info, indent=1, sort_keys=True))


def make_trainer(
    run_dir: Path,
    train: TrainConfig,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    validate: bool = True,
) -> L.Trainer:
    """A Trainer for ``train``: checkpoints every ``ckpt_every`` steps, validation every ``val_every``
    (``validate=False``: the cache has no val split)."""
    accelerator = resolve_accelerator(train)
    loggers: list[Logger] = [CSVLogger(save_dir=str(run_dir), name="logs")]
    if tensorboard_available():
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", default_hp_metric=False))
    checkpoint = ModelCheckpoint(
        dirpath=str(run_dir / CKPT_DIR),
        filename="step{step:07d}",
        auto_insert_metric_name=False,
        every_n_train_steps=train.ckpt_every,
        save_top_k=1,  # no monitor: keeps the newest step checkpoint besides last.ckpt
        save_last=True,
    )
    cbs: list[Callback] = [StopOnNonFiniteLoss(), checkpoint, *callbacks]
    if validate:  # small corpora overfit: keep the weights of the best validation loss too
        best = ModelCheckpoint(
            dirpath=str(run_dir / CKPT_DIR), filename="best", monitor="val/loss", mode="min", save_top_k=1
        )
        cbs.insert(2, best)
    if progress:
        cbs.append(TQDMProgressBar(refresh_rate=train.log_every))
    return L.Trainer(
        accelerator=accelerator,
        devices=train.devices,
        num_nodes=train.num_nodes,
        strategy=train.strategy,
        precision=resolve_precision(train, accelerator),  # type: ignore[arg-type]
        max_steps=train.max_steps,
        max_epochs=-1,
        val_check_interval=train.val_every,
        check_val_every_n_epoch=None,
        limit_val_batches=train.val_batches if validate else 0,
        num_sanity_val_steps=1 if validate else 0,
        log_every_n_steps=train.log_every,
        gradient_clip_val=train.grad_clip or None,
        logger=loggers,
        callbacks=cbs,
        enable_progress_bar=progress,
        enable_model_summary=progress,
        # Batches are sharded by our own sampler (StepBatchSampler), which is what makes resume exact.
        use_distributed_sampler=False,
        default_root_dir=str(run_dir),
    )


def _metrics(trainer: L.Trainer) -> dict[str, float]:
    out = {}
    for k, v in trainer.callback_metrics.items():
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            out[k] = float(v)
    return out


def _setup(train: TrainConfig) -> None:
    # The prior stage holds its frozen VQ-VAE in eval mode on purpose.
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode", category=UserWarning)
    # Batches are a function of the step (StepBatchSampler), so a mid-epoch checkpoint resumes exactly even
    # though the DataLoader has no state_dict; and --resume is meant to find its checkpoint folder full.
    warnings.filterwarnings(
        "ignore", message=r"You're resuming from a checkpoint that ended before the epoch"
    )
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    if train.threads:
        torch.set_num_threads(train.threads)
    L.seed_everything(train.seed, workers=True, verbose=False)


def resume_checkpoint(folder: Path, say: bool = True) -> Path:
    """The checkpoint ``--resume`` continues from: ``last.ckpt``, or, when that cannot be read (a crash while it
    was written, a full disk), the newest checkpoint that can, which is said on stderr.

    Raises
    ------
    InputError
        Naming the folder when it holds no readable checkpoint: ``--resume`` never silently starts again.
    """
    import sys

    candidates = []
    if folder.is_dir():
        for p in folder.glob("*.ckpt"):
            if p.name == "best.ckpt" or not p.is_file():  # best holds weights of another step
                continue
            try:
                candidates.append((p.stat().st_mtime, p.name == LAST, p))
            except OSError:
                continue
    unreadable: list[InputError] = []
    for _mtime, _is_last, path in sorted(candidates, key=lambda c: (c[0], c[1]), reverse=True):
        try:
            read_checkpoint(path)
        except InputError as exc:
            unreadable.append(exc)
            continue
        if unreadable and say:
            print(
                f"warning: {'; '.join(str(e) for e in unreadable)}; resuming from {path.name} instead",
                file=sys.stderr,
            )
        return path
    if unreadable:
        raise InputError(
            folder, f"--resume: no readable checkpoint ({unreadable[0].problem} in {unreadable[0].path.name})"
        )
    raise InputError(
        folder, "--resume: no checkpoint to continue from (start without --resume, or name the run's folder)"
    )


def _fit(trainer: L.Trainer, module: L.LightningModule, data: L.LightningDataModule, resume: bool) -> None:
    ckpt = None
    if resume:
        checkpoint = trainer.checkpoint_callback
        assert isinstance(checkpoint, ModelCheckpoint) and checkpoint.dirpath is not None
        ckpt = str(resume_checkpoint(Path(checkpoint.dirpath)))
    trainer.fit(module, datamodule=data, ckpt_path=ckpt, weights_only=True)


def train_vqvae(
    cache_dir: str | PathLike[str],
    run_dir: str | PathLike[str],
    recipe: Recipe,
    train: TrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train the VQ-VAE of ``recipe`` on the cache; returns where RUN_DIR/vqvae.ckpt was written.

    The decoder is the paper's: a recipe's ``decoder_head`` and ``decoder_context`` are trained afterwards, on
    this VQ-VAE's frozen codes, by :func:`train_decoder`.
    """
    t0 = time.monotonic()
    cache, run = Path(cache_dir), Path(run_dir)
    train = train or recipe.train("vqvae")
    cfg = recipe.model.bundle_config()
    cfg = replace(cfg, vqvae=replace(cfg.vqvae, decoder_head=0, decoder_context=0))
    manifest = check_cache(cache, cfg)
    _check_run_dir(run, "vqvae", cfg, resume, recipe.source or None)
    _setup(train)
    module = VQVAEModule(to_json(cfg), to_json(train))
    if not (resume and (run / CKPT_DIR / LAST).is_file()):
        mean, std = spectrogram_stats(cache, "train")
        module.vqvae.set_normalization(torch.from_numpy(mean), torch.from_numpy(std))
    info = {"stage": "vqvae", "cache": str(cache.resolve())}
    return _fit_vqvae(run, module, cfg, train, cache, manifest, info, resume, progress, callbacks, t0)


def _fit_vqvae(
    run: Path,
    module: VQVAEModule,
    cfg: BundleConfig,
    train: TrainConfig,
    cache: Path,
    manifest: dict[str, Any],
    info: dict[str, Any],
    resume: bool,
    progress: bool,
    callbacks: Sequence[Callback],
    t0: float,
) -> RunResult:
    """The VQ-VAE and decoder stages' common part: run description, fit on spectrogram crops, RUN/vqvae.ckpt."""
    data = VQVAEDataModule(cache, cfg, train)
    trainer = make_trainer(run, train, callbacks, progress, _has_val(manifest, False))
    if trainer.is_global_zero:
        run.mkdir(parents=True, exist_ok=True)
        _write_run_info(
            run,
            {
                **info,
                "model_config": to_dict(cfg),
                "train_config": to_dict(train),
                "data": split_summary(manifest),
            },
        )
    _fit(trainer, module, data, resume)
    out = run / "vqvae.ckpt"
    trainer.save_checkpoint(out, weights_only=True)
    return RunResult(
        run, out, None, trainer.global_step, _metrics(trainer), time.monotonic() - t0, trainer.is_global_zero
    )


def train_decoder(
    cache_dir: str | PathLike[str],
    vqvae_path: str | PathLike[str],
    run_dir: str | PathLike[str],
    recipe: Recipe,
    train: TrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train the decoder of a trained VQ-VAE further, with the recipe's ``decoder_head`` and
    ``decoder_context``; the encoder and codebook stay frozen.

    The encoder, codebook and input normalisation come from ``vqvae_path`` and never change, so every
    recording keeps its codes: priors trained on that VQ-VAE's codes are bundled with this one unchanged
    (``minet-train bundle --prior PRIOR --vqvae RUN_DIR``). Everything else of the architecture comes from
    ``vqvae_path`` too; the recipe contributes ``[model.vqvae] decoder_head``, ``decoder_context`` and
    ``[stage.decoder]``.
    Writes RUN_DIR/vqvae.ckpt, which every command that takes a VQ-VAE accepts.
    """
    t0 = time.monotonic()
    cache, run = Path(cache_dir), Path(run_dir)
    train = train or recipe.train("decoder")
    src_cfg, src = load_vqvae(vqvae_path)
    want = recipe.model.vqvae
    cfg = replace(
        src_cfg,
        vqvae=replace(src_cfg.vqvae, decoder_head=want.decoder_head, decoder_context=want.decoder_context),
    )
    manifest = check_cache(cache, cfg)
    _check_run_dir(run, "decoder", cfg, resume, recipe.source or None)
    _setup(train)
    for key in ("decoder_head", "decoder_context"):
        have, asked = getattr(src.cfg, key), getattr(cfg.vqvae, key)
        if have not in (0, asked):
            raise InputError(
                Path(vqvae_path),
                f"this VQ-VAE's decoder has {key} = {have} and the recipe asks for {asked}: "
                f"use a recipe with {key} = {have}, or train from a VQ-VAE without it",
            )
    module = VQVAEModule(to_json(cfg), to_json(train), freeze_codes=True)
    missing, unexpected = module.vqvae.load_state_dict(src.state_dict(), strict=False)
    if unexpected or any(not k.startswith(("decoder.head.", "decoder.context.")) for k in missing):
        raise InputError(  # pragma: no cover - load_vqvae built src from the same config
            Path(vqvae_path), f"weights do not fit the decoder ({sorted(unexpected or missing)[:3]})"
        )
    codes = codes_fingerprint(module.vqvae)
    info = {
        "stage": "decoder",
        "cache": str(cache.resolve()),
        "vqvae_checkpoint": str(Path(vqvae_path).resolve()),
        "codes_sha256": codes,
    }
    result = _fit_vqvae(run, module, cfg, train, cache, manifest, info, resume, progress, callbacks, t0)
    if codes_fingerprint(module.vqvae) != codes:  # pragma: no cover - the freeze is the stage's contract
        raise RuntimeError("the decoder stage changed the encoder or codebook")
    return result


def model_card(cfg: BundleConfig, info: dict[str, Any], metrics: dict[str, float], steps: int) -> str:
    """A short markdown card: what the model is, what it was trained on, how far the losses got."""
    data = info.get("data", {}).get("train", {})
    lines = [
        f"# MI Net ({cfg.model_type})",
        "",
        "Trained with `minet-train` (seed 000: multi-band residual VQ-VAE, bi-GRU movement encoder, GPT prior"
        + (", MIDI content conditioning" if cfg.content is not None else "")
        + ").",
        "",
        f"- training data: {data.get('tracks', '?')} tracks, {data.get('minutes', '?')} min, instruments "
        f"{', '.join(data.get('instruments', [])) or '?'} (cache {info.get('cache', '?')})",
        f"- VQ-VAE: {info.get('vqvae_checkpoint', '?')} (weights sha256 {str(info.get('vqvae_sha256', ''))[:12]})",
        f"- prior: {steps} steps; " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items())),
    ]
    return "\n".join(lines) + "\n"


def train_prior(
    cache_dir: str | PathLike[str],
    vqvae_path: str | PathLike[str],
    run_dir: str | PathLike[str],
    recipe: Recipe,
    train: TrainConfig | None = None,
    content: bool = False,
    resume: bool = False,
    card: str | None = None,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train the movement encoder and the prior on codes of the frozen VQ-VAE; write RUN_DIR/model.safetensors.

    The VQ-VAE and the audio settings come from ``vqvae_path``; the movement encoder, prior and content
    encoder sizes from ``recipe``.
    """
    t0 = time.monotonic()
    cache, run = Path(cache_dir), Path(run_dir)
    train = train or recipe.train("prior")
    vq_cfg, vqvae = load_vqvae(vqvae_path)
    m = recipe.model
    cfg = BundleConfig(
        model_type="minet_midi" if content else "minet",
        audio=vq_cfg.audio,
        skeleton=vq_cfg.skeleton,
        vqvae=vq_cfg.vqvae,
        movement=m.movement,
        prior=m.prior,
        content=m.content if content else None,
    )
    manifest = check_cache(cache, cfg)
    _check_run_dir(run, "prior", cfg, resume, recipe.source or None)
    _setup(train)
    fingerprint = vqvae_fingerprint(vqvae)
    module = PriorModule(to_json(cfg), to_json(train), fingerprint)
    module.vqvae.load_state_dict(vqvae.state_dict())
    data = PriorDataModule(cache, cfg, train, vqvae, codes_fingerprint(vqvae))
    trainer = make_trainer(run, train, callbacks, progress, _has_val(manifest, content))
    info = {
        "stage": "prior",
        "cache": str(cache.resolve()),
        "vqvae_checkpoint": str(Path(vqvae_path).resolve()),
        "vqvae_sha256": fingerprint,
        "codes_sha256": codes_fingerprint(vqvae),
        "model_config": to_dict(cfg),
        "train_config": to_dict(train),
        "data": split_summary(manifest),
    }
    if trainer.is_global_zero:
        run.mkdir(parents=True, exist_ok=True)
        _write_run_info(run, info)
    # The codes are computed before the datasets are opened (prepare_data runs on one process per node).
    _fit(trainer, module, data, resume)
    out = run / "prior.ckpt"
    trainer.save_checkpoint(out, weights_only=True)
    metrics = _metrics(trainer)
    bundle = None
    if trainer.is_global_zero:
        text = card if card is not None else model_card(cfg, info, metrics, trainer.global_step)
        bundle = save_bundle(
            run / "model.safetensors", cfg, module.vqvae, module.movement, module.prior, text
        )
    return RunResult(
        run, out, bundle, trainer.global_step, metrics, time.monotonic() - t0, trainer.is_global_zero
    )


def _has_val(manifest: dict[str, Any], content: bool) -> bool:
    return any(
        e.get("split") == "val" and (e.get("has_notes") or not content) for e in manifest["tracks"].values()
    )
