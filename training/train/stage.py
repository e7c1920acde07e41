"""The training-stage template: every stage (`minet-train vqvae`, `decoder`, `prior`, `regressor`, the baselines,
`content-gru`) checks its cache and run folder, seeds, fits a LightningModule, writes its run description,
checkpoint, model card and bundle the same way; :func:`begin_stage` and :func:`run_stage` do that, and a stage
fills in only what differs (:class:`Stage`).

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, Logger

from minet_desktop.core.atomic import atomic_write_text
from minet_desktop.core.config import describe_mismatch, from_dict, to_dict
from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.model.bundle import build_modules, check_model_size
from minet_desktop.model.config import BundleConfig
from training.train.callbacks import StopOnNonFiniteLoss
from training.train.checkpoints import read_checkpoint
from training.train.config import TrainConfig, resolve_accelerator, resolve_precision
from training.train.data import split_summary

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


def check_run_dir(run_dir: Path, stage: str, cfg: Any, resume: bool, source: str | None = None) -> None:
    """Refuse to mix runs: a folder with a run needs --resume, and --resume needs the same model and a
    checkpoint to continue from (checked here, before any training machinery starts). ``source``: the recipe
    file, named when its sizes are refused."""
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


def write_run_info(run_dir: Path, info: dict[str, Any]) -> None:
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


def final_metrics(trainer: L.Trainer) -> dict[str, float]:
    out = {}
    for k, v in trainer.callback_metrics.items():
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            out[k] = float(v)
    return out


def setup(train: TrainConfig) -> None:
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


def fit_module(
    trainer: L.Trainer, module: L.LightningModule, data: L.LightningDataModule, resume: bool
) -> None:
    ckpt = None
    if resume:
        checkpoint = trainer.checkpoint_callback
        assert isinstance(checkpoint, ModelCheckpoint) and checkpoint.dirpath is not None
        ckpt = str(resume_checkpoint(Path(checkpoint.dirpath)))
    trainer.fit(module, datamodule=data, ckpt_path=ckpt, weights_only=True)


def has_val_split(manifest: dict[str, Any], needs_notes: bool) -> bool:
    """The cache has validation tracks (with notes, when the stage needs them)."""
    return any(
        e.get("split") == "val" and (e.get("has_notes") or not needs_notes)
        for e in manifest["tracks"].values()
    )


@dataclass
class Fit:
    """Where and how a stage runs (each stage function makes one from its arguments first)."""

    cache: Path
    run: Path
    train: TrainConfig
    resume: bool = False
    progress: bool = True
    callbacks: Sequence[Callback] = ()
    t0: float = field(default_factory=time.monotonic)


def begin_stage(fit: Fit, name: str, cfg: Any, source: str | None = None) -> None:
    """Before the modules are built: refuse to mix runs in the run folder (and sizes no computer holds; ``source``
    names the recipe), set the seed and the threads."""
    check_run_dir(fit.run, name, cfg, fit.resume, source)
    setup(fit.train)


def fresh_start(fit: Fit) -> bool:
    """True unless the stage resumes from a checkpoint (whose normalisation statistics it keeps)."""
    return not (fit.resume and (fit.run / CKPT_DIR / LAST).is_file())


@dataclass
class Stage:
    """What differs between stages; :func:`run_stage` does the rest."""

    name: (
        str  # run.json's "stage", and the checkpoint's name (RUN_DIR/<name>.ckpt) unless ``checkpoint`` says
    )
    cfg: Any  # the model config, saved in run.json
    module: L.LightningModule
    data: L.LightningDataModule
    has_val: bool
    #: run.json entries besides the cache, the configs and the data summary (checkpoints, fingerprints)
    info: dict[str, Any] = field(default_factory=dict)
    #: ``save_bundle(path, card) -> path``: writes RUN_DIR/model.safetensors; None: no bundle (VQ-VAE stages)
    save_bundle: Callable[[Path, str], Path] | None = None
    #: The card's title and its sentence saying what the model is (with a bundle).
    title: str = ""
    description: str = ""
    details: list[str] = field(default_factory=list)  # more card lines (a window, a VQ-VAE)
    checkpoint: str = ""  # RUN_DIR/<checkpoint>.ckpt; "": the stage's name


def model_card(stage: Stage, info: dict[str, Any], metrics: dict[str, float], steps: int) -> str:
    """The one card writer: what the model is, what it was trained on, how far the losses got (markdown)."""
    data = info.get("data", {}).get("train", {})
    lines = [
        f"# {stage.title}",
        "",
        stage.description,
        "",
        f"- training data: {data.get('tracks', '?')} tracks, {data.get('minutes', '?')} min, instruments "
        f"{', '.join(data.get('instruments', [])) or '?'} (cache {info.get('cache', '?')})",
        *(f"- {line}" for line in stage.details),
        f"- {steps} steps; " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items())),
    ]
    return "\n".join(lines) + "\n"


def run_stage(stage: Stage, fit: Fit, manifest: dict[str, Any], card: str | None = None) -> RunResult:
    """Fit ``stage`` and leave RUN_DIR/run.json, RUN_DIR/<name>.ckpt and (with a bundle) the model card
    inside RUN_DIR/model.safetensors (``card`` replaces the generated one)."""
    cache, run, train = fit.cache, fit.run, fit.train
    trainer = make_trainer(run, train, fit.callbacks, fit.progress, stage.has_val)
    info = {
        "stage": stage.name,
        "cache": str(cache.resolve()),
        **stage.info,
        "model_config": to_dict(stage.cfg),
        "train_config": to_dict(train),
        "data": split_summary(manifest),
    }
    if trainer.is_global_zero:
        run.mkdir(parents=True, exist_ok=True)
        write_run_info(run, info)
    fit_module(trainer, stage.module, stage.data, fit.resume)
    out = run / f"{stage.checkpoint or stage.name}.ckpt"
    trainer.save_checkpoint(out, weights_only=True)
    metrics = final_metrics(trainer)
    bundle = None
    if trainer.is_global_zero and stage.save_bundle is not None:
        text = card if card is not None else model_card(stage, info, metrics, trainer.global_step)
        bundle = stage.save_bundle(run / "model.safetensors", text)
    return RunResult(
        run, out, bundle, trainer.global_step, metrics, time.monotonic() - fit.t0, trainer.is_global_zero
    )
