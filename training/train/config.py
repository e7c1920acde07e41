"""Training recipes: TOML files that map onto the model dataclasses and :class:`TrainConfig`.

A recipe has two tables (``training/recipes/*.toml``)::

    [model]                 BundleConfig fields: audio, skeleton, vqvae, movement, prior, content
    [model.vqvae]           VQVAEConfig fields ...
    [train]                 TrainConfig fields shared by both stages
    [stage.vqvae]           TrainConfig fields that override [train] for `minet-train vqvae`
    [stage.prior]           ... and for `minet-train prior`
    [model.mel]             MelConfig fields (Visually Indicated Music's frame regressor; must match the cache's)
    [model.regressor]       RegressorConfig fields (the frame regressor's sizes; ``midi`` is set by --midi)
    [stage.regressor]       TrainConfig overrides for `minet-train regressor` (its crop_seconds is the window
                            the regressor is trained on and predicts in)
    [model.seq2seq]         Seq2SeqConfig fields (the MI Net paper's RNN Seq2Seq baseline)
    [model.graph_transformer]  GraphTransformerConfig fields (the MI Net paper's Graph-Transformer baseline)
    [model.content_gru]     GRUContentConfig fields (Table 5's GRU seq2seq; the movement encoder is [model.movement])
    [stage.seq2seq], [stage.graph_transformer], [stage.content_gru]
                            TrainConfig overrides for `minet-train seq2seq / graph-transformer / content-gru`
                            (the baselines' crop_seconds is the window they are trained on and predict in)

Every key is checked (``minet_desktop.core.config.from_dict``): a typo is a ConfigError naming the key, never
a silently ignored setting. ``[model.content]`` is used only by ``minet-train prior --content midi``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from os import PathLike
from pathlib import Path
from typing import Any

from minet_desktop.core.config import AudioConfig, MelConfig, SkeletonConfig, from_dict
from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.model.config import (
    BaselineBundleConfig,
    BundleConfig,
    ContentConfig,
    GraphTransformerConfig,
    GRUContentBundleConfig,
    GRUContentConfig,
    MovementEncoderConfig,
    PriorConfig,
    RegressorBundleConfig,
    RegressorConfig,
    Seq2SeqConfig,
    VQVAEConfig,
)

STAGES = ("vqvae", "decoder", "prior", "regressor", "seq2seq", "graph_transformer", "content_gru")
RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


#: Training crops are seconds long (the paper's are 4 s); ten minutes is no crop.
MAX_CROP_SECONDS = 600.0


@dataclass(frozen=True)
class TrainConfig:
    """How one training stage runs. Steps are optimiser steps; ``batch_size`` is per device."""

    batch_size: int = 16
    # Adam(W); 3e-4 is the usual safe value for both a conv autoencoder and a small transformer.
    lr: float = 3e-4
    weight_decay: float = 0.0
    # Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at ``max_steps``.
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    # Gradient norm clipping (0 disables): one bad batch should not throw the weights far.
    grad_clip: float = 1.0
    max_steps: int = 1000
    # Validation every this many steps over at most ``val_batches`` batches of the val split.
    val_every: int = 200
    val_batches: int = 8
    # Checkpoint (RUN_DIR/checkpoints/last.ckpt) every this many steps; --resume continues from it exactly.
    ckpt_every: int = 200
    seed: int = 0
    # "auto": bf16-mixed on CUDA GPUs that support it, else 16-mixed on CUDA, 32-true on the CPU. Or any
    # Lightning precision string ("32-true", "16-mixed", "bf16-mixed").
    precision: str = "auto"
    num_workers: int = 0
    # Lightning's accelerator / devices / strategy / num_nodes; "ddp" with devices > 1 or num_nodes > 1 runs
    # DistributedDataParallel (Lightning's launcher re-runs the command once per device, or use torchrun).
    accelerator: str = "auto"
    devices: int = 1
    strategy: str = "auto"
    num_nodes: int = 1
    # Crop length (seconds); 4 s as in the paper (MI Net paper §4). The prior's crop is cut to prior.block_size codes.
    crop_seconds: float = 4.0
    # Crops per track per epoch, so that one epoch over ~40 URMP tracks is not a handful of steps.
    crops_per_track: int = 16
    # Crops per val track (fixed: the same crops at every validation).
    val_crops_per_track: int = 2
    # torch CPU threads per process (0: leave torch's default); a shared machine wants a small number.
    threads: int = 0
    # Metrics are logged (and the progress bar refreshed) every this many steps.
    log_every: int = 10
    # Skeleton augmentation of the training crops (training.train.augment.SkeletonAugment: similarity and mild
    # perspective, limb lengths, joint and hand dropout, time warp, frame-rate jitter) for every stage that
    # reads skeletons; off by default so that older recipes train as they did.
    augment_skeleton: bool = False
    # Other camera views of the training performances (`minet-train views`; the prior only): each training
    # crop's skeleton is drawn from one of its track's views, the cache's own among them. The audio is the
    # same whichever camera filmed it. Tracks without views keep their own skeleton.
    camera_views: bool = False
    # With camera views: weight of a contrastive term (InfoNCE over the batch's movement vectors) that pairs
    # each crop with a crop of the same performance at another moment seen by another camera; 0: none.
    view_contrast: float = 0.0
    view_temperature: float = 0.1
    # The prior only: keep the movement encoder as it starts (`--init-movement`'s weights): the prior learns to
    # read it, and the movement vector stays what the multi-view pretraining made of it.
    freeze_movement: bool = False

    def __post_init__(self) -> None:
        for name in (
            "batch_size",
            "max_steps",
            "val_every",
            "ckpt_every",
            "devices",
            "num_nodes",
            "log_every",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"TrainConfig: {name} must be >= 1")
        for name in ("crops_per_track", "val_crops_per_track", "val_batches"):
            if getattr(self, name) < 1:
                raise ConfigError(f"TrainConfig: {name} must be >= 1")
        if not self.lr > 0 or self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError("TrainConfig: lr must be > 0, weight_decay and grad_clip >= 0")
        if self.warmup_steps < 0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError("TrainConfig: warmup_steps must be >= 0 and min_lr_ratio in [0, 1]")
        if not 0 < self.crop_seconds <= MAX_CROP_SECONDS:  # also refuses NaN
            raise ConfigError(f"TrainConfig: crop_seconds must be > 0 and at most {MAX_CROP_SECONDS:g}")
        if self.num_workers < 0 or self.threads < 0:
            raise ConfigError("TrainConfig: num_workers and threads must be >= 0")
        if not self.view_contrast >= 0 or not self.view_temperature > 0:
            raise ConfigError("TrainConfig: view_contrast must be >= 0 and view_temperature > 0")
        if self.view_contrast > 0 and not self.camera_views:
            raise ConfigError("TrainConfig: view_contrast needs camera_views = true")
        if self.view_contrast > 0 and self.freeze_movement:
            raise ConfigError(
                "TrainConfig: view_contrast trains the movement encoder; freeze_movement keeps it"
            )


@dataclass(frozen=True)
class ModelRecipe:
    """The ``[model]`` table: the fields of :class:`BundleConfig` a recipe chooses."""

    audio: AudioConfig = field(default_factory=AudioConfig)
    skeleton: SkeletonConfig = field(default_factory=SkeletonConfig)
    vqvae: VQVAEConfig = field(default_factory=VQVAEConfig)
    movement: MovementEncoderConfig = field(default_factory=MovementEncoderConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    content: ContentConfig = field(default_factory=ContentConfig)
    mel: MelConfig = field(default_factory=MelConfig)
    regressor: RegressorConfig = field(default_factory=RegressorConfig)
    seq2seq: Seq2SeqConfig = field(default_factory=Seq2SeqConfig)
    graph_transformer: GraphTransformerConfig = field(default_factory=GraphTransformerConfig)
    content_gru: GRUContentConfig = field(default_factory=GRUContentConfig)

    def baseline_config(self, model_type: str, window_seconds: float) -> BaselineBundleConfig:
        """The bundle config of the MI Net paper's ``seq2seq`` or ``graph_transformer`` baseline."""
        return BaselineBundleConfig(
            model_type=model_type,
            audio=self.audio,
            skeleton=self.skeleton,
            seq2seq=self.seq2seq if model_type == "seq2seq" else None,
            graph_transformer=self.graph_transformer if model_type == "graph_transformer" else None,
            window_seconds=window_seconds,
        )

    def content_gru_config(self, vqvae: BundleConfig) -> GRUContentBundleConfig:
        """Table 5's GRU seq2seq for the codes of the VQ-VAE ``vqvae`` was trained with (its audio, skeleton
        and sizes), with this recipe's movement encoder (the prior's) and GRU sizes."""
        return GRUContentBundleConfig(
            audio=vqvae.audio,
            skeleton=vqvae.skeleton,
            vqvae=vqvae.vqvae,
            movement=self.movement,
            content_gru=self.content_gru,
        )

    def regressor_config(self, midi: bool, window_seconds: float) -> RegressorBundleConfig:
        """The frame regressor's bundle config: vision only, or with the MIDI branch (``midi``)."""
        if self.regressor.midi:
            raise ConfigError(
                "[model.regressor] midi is chosen on the command line (minet-train regressor --midi), "
                "not in the recipe"
            )
        return RegressorBundleConfig(
            model_type="frame_regressor_midi" if midi else "frame_regressor",
            mel=self.mel,
            skeleton=self.skeleton,
            regressor=replace(self.regressor, midi=midi),
            window_seconds=window_seconds,
        )

    def bundle_config(self, content: bool = False) -> BundleConfig:
        """The BundleConfig of the unconditional model, or of the MIDI-conditioned one (``content``)."""
        return BundleConfig(
            model_type="minet_midi" if content else "minet",
            audio=self.audio,
            skeleton=self.skeleton,
            vqvae=self.vqvae,
            movement=self.movement,
            prior=self.prior,
            content=self.content if content else None,
        )


@dataclass(frozen=True)
class Recipe:
    model: ModelRecipe
    vqvae_train: TrainConfig
    prior_train: TrainConfig
    source: str = ""
    regressor_train: TrainConfig = field(default_factory=TrainConfig)
    seq2seq_train: TrainConfig = field(default_factory=TrainConfig)
    graph_transformer_train: TrainConfig = field(default_factory=TrainConfig)
    content_gru_train: TrainConfig = field(default_factory=TrainConfig)
    decoder_train: TrainConfig = field(default_factory=TrainConfig)

    def train(self, stage: str) -> TrainConfig:
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        return {
            "vqvae": self.vqvae_train,
            "decoder": self.decoder_train,
            "prior": self.prior_train,
            "regressor": self.regressor_train,
            "seq2seq": self.seq2seq_train,
            "graph_transformer": self.graph_transformer_train,
            "content_gru": self.content_gru_train,
        }[stage]


def parse_recipe(data: dict[str, Any], source: str = "recipe") -> Recipe:
    """Build a :class:`Recipe` from the parsed TOML tables (strict: unknown keys name themselves)."""
    unknown = sorted(set(data) - {"model", "train", "stage"})
    if unknown:
        raise ConfigError(f"{source}: unknown table(s) {', '.join(unknown)} (known: model, train, stage)")
    model = from_dict(ModelRecipe, data.get("model", {}), _where=f"{source}: model")
    base = data.get("train", {})
    stages = data.get("stage", {})
    if not isinstance(base, dict) or not isinstance(stages, dict):
        raise ConfigError(f"{source}: [train] and [stage.*] must be tables")
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ConfigError(f"{source}: unknown stage(s) {', '.join(unknown)} (known: {', '.join(STAGES)})")
    per_stage = {}
    for stage in STAGES:
        override = stages.get(stage, {})
        if not isinstance(override, dict):
            raise ConfigError(f"{source}: [stage.{stage}] must be a table")
        known = {f.name for f in fields(TrainConfig)}
        typos = sorted(set(override) - known)
        if typos:  # named here so that the error points at the table the typo is in
            raise ConfigError(
                f"{source}: stage.{stage}: unknown key(s) {', '.join(typos)} (known: {', '.join(sorted(known))})"
            )
        per_stage[stage] = from_dict(TrainConfig, {**base, **override}, _where=f"{source}: train")
    return Recipe(
        model,
        per_stage["vqvae"],
        per_stage["prior"],
        source,
        per_stage["regressor"],
        seq2seq_train=per_stage["seq2seq"],
        graph_transformer_train=per_stage["graph_transformer"],
        content_gru_train=per_stage["content_gru"],
        decoder_train=per_stage["decoder"],
    )


#: Recipes are a page of settings; a larger file is not one.
MAX_RECIPE_BYTES = 1 << 20


def load_recipe(path: str | PathLike[str] | None = None) -> Recipe:
    """Read a recipe file; None or a bare name ("tiny", "cpu_small", "default", "paper") picks a bundled recipe.

    Raises InputError for a missing or unparsable file, ConfigError for an unknown key or a bad value.
    """
    if path is None:
        path = "cpu_small"
    p = Path(path)
    if not p.suffix and not p.exists():
        p = RECIPES_DIR / f"{p.name}.toml"
    if not p.is_file():
        raise InputError(p, "no such recipe file" if not p.is_dir() else "is a folder, not a recipe file")
    try:
        if p.stat().st_size > MAX_RECIPE_BYTES:
            raise InputError(p, f"{p.stat().st_size} bytes is too large for a recipe")
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(p, f"not a valid TOML recipe ({exc})") from None
    except RecursionError:
        raise InputError(p, "not a plausible recipe (nested too deeply)") from None
    if not data:
        # A recipe that sets nothing would silently train the built-in sizes.
        raise InputError(
            p,
            "the recipe sets nothing (empty, or only comments); start from a bundled one (training/recipes/)",
        )
    return parse_recipe(data, str(p))  # ConfigError naming the file, the table and the key


def with_overrides(cfg: TrainConfig, **overrides: Any) -> TrainConfig:
    """``cfg`` with the command-line overrides that were given (None = not given)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return replace(cfg, **given)
    except ConfigError as exc:  # name the option the user typed, not only the field
        options = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in given.items() if k in str(exc))
        raise ConfigError(f"{options or 'the command line'}: {exc}") from None
    except TypeError as exc:  # pragma: no cover - programming error in the CLI
        raise ConfigError(str(exc)) from exc


def resolve_precision(cfg: TrainConfig, accelerator: str) -> str:
    """Lightning precision for ``cfg.precision`` on the accelerator that will run (AMP only on CUDA)."""
    if cfg.precision != "auto":
        return cfg.precision
    if accelerator != "gpu":
        return "32-true"
    import torch

    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def resolve_accelerator(cfg: TrainConfig) -> str:
    """ "cpu" or "gpu" (Lightning's names) for ``cfg.accelerator``; "auto" picks CUDA when there is one."""
    if cfg.accelerator in ("cpu", "gpu", "cuda"):
        return "gpu" if cfg.accelerator == "cuda" else cfg.accelerator
    if cfg.accelerator != "auto":
        raise ConfigError(f"TrainConfig: accelerator {cfg.accelerator!r} (auto, cpu, gpu)")
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"
