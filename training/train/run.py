"""MI Net's training stages as `minet-train vqvae`, `decoder` and `prior` run them (the template they fill:
:mod:`training.train.stage`).

What a run folder holds, and how seeds make a run repeatable: :mod:`training.train.stage`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from os import PathLike
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from minet_desktop.core.config import to_json
from minet_desktop.core.errors import InputError
from minet_desktop.engine.model_types import MINET_PAPER
from minet_desktop.model.bundle import save_bundle
from minet_desktop.model.config import BundleConfig
from training.train.checkpoints import load_vqvae
from training.train.config import Recipe, TrainConfig
from training.train.data import (
    PriorDataModule,
    VQVAEDataModule,
    check_cache,
    codes_fingerprint,
    spectrogram_stats,
    vqvae_fingerprint,
)
from training.train.modules import PriorModule, VQVAEModule
from training.train.stage import (
    Fit,
    RunResult,
    Stage,
    begin_stage,
    fresh_start,
    has_val_split,
    run_stage,
)


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
    fit = Fit(Path(cache_dir), Path(run_dir), train or recipe.train("vqvae"), resume, progress, callbacks)
    cache, train = fit.cache, fit.train
    cfg = recipe.model.bundle_config()
    cfg = replace(cfg, vqvae=replace(cfg.vqvae, decoder_head=0, decoder_context=0))
    manifest = check_cache(cache, cfg)
    begin_stage(fit, "vqvae", cfg, recipe.source or None)
    module = VQVAEModule(to_json(cfg), to_json(train))
    if fresh_start(fit):
        mean, std = spectrogram_stats(cache, "train")
        module.vqvae.set_normalization(torch.from_numpy(mean), torch.from_numpy(std))
    stage = Stage("vqvae", cfg, module, VQVAEDataModule(cache, cfg, train), has_val_split(manifest, False))
    return run_stage(stage, fit, manifest)


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
    fit = Fit(Path(cache_dir), Path(run_dir), train or recipe.train("decoder"), resume, progress, callbacks)
    cache, train = fit.cache, fit.train
    src_cfg, src = load_vqvae(vqvae_path)
    want = recipe.model.vqvae
    cfg = replace(
        src_cfg,
        vqvae=replace(src_cfg.vqvae, decoder_head=want.decoder_head, decoder_context=want.decoder_context),
    )
    manifest = check_cache(cache, cfg)
    begin_stage(fit, "decoder", cfg, recipe.source or None)
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
    info = {"vqvae_checkpoint": str(Path(vqvae_path).resolve()), "codes_sha256": codes}
    data = VQVAEDataModule(cache, cfg, train)
    # Written as RUN_DIR/vqvae.ckpt, which every command that takes a VQ-VAE accepts.
    stage = Stage("decoder", cfg, module, data, has_val_split(manifest, False), info, checkpoint="vqvae")
    result = run_stage(stage, fit, manifest)
    if codes_fingerprint(module.vqvae) != codes:  # pragma: no cover - the freeze is the stage's contract
        raise RuntimeError("the decoder stage changed the encoder or codebook")
    return result


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
    init_movement: str | PathLike[str] | None = None,
) -> RunResult:
    """Train the movement encoder and the prior on codes of the frozen VQ-VAE; write RUN_DIR/model.safetensors.

    The VQ-VAE and the audio settings come from ``vqvae_path``; the movement encoder, prior and content
    encoder sizes from ``recipe``. ``init_movement``: start the movement encoder from these weights
    (``minet-train movement``'s ``movement.safetensors`` or an MI Net bundle); a resumed run ignores it.
    """
    fit = Fit(Path(cache_dir), Path(run_dir), train or recipe.train("prior"), resume, progress, callbacks)
    cache, train = fit.cache, fit.train
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
    begin_stage(fit, "prior", cfg, recipe.source or None)
    fingerprint = vqvae_fingerprint(vqvae)
    module = PriorModule(to_json(cfg), to_json(train), fingerprint)
    module.vqvae.load_state_dict(vqvae.state_dict())
    if init_movement is not None:
        from training.train.multiview import load_movement_into

        load_movement_into(module.movement, init_movement)
    # The codes are computed before the datasets are opened (prepare_data runs on one process per node).
    data = PriorDataModule(cache, cfg, train, vqvae, codes_fingerprint(vqvae))
    stage = Stage(
        "prior",
        cfg,
        module,
        data,
        has_val_split(manifest, content),
        info={
            "vqvae_checkpoint": str(Path(vqvae_path).resolve()),
            "vqvae_sha256": fingerprint,
            "codes_sha256": codes_fingerprint(vqvae),
        },
        save_bundle=lambda path, text: save_bundle(
            path, cfg, module.vqvae, module.movement, module.prior, text
        ),
        title=f"{MINET_PAPER} ({cfg.model_type})",
        description=(
            "Trained with `minet-train` (multi-band residual VQ-VAE, bi-GRU movement encoder, GPT prior"
            + (", MIDI content conditioning" if cfg.content is not None else "")
            + ")."
        ),
        details=[f"VQ-VAE: {Path(vqvae_path).resolve()} (weights sha256 {fingerprint[:12]})"]
        + ([f"Movement encoder started from: {Path(init_movement).resolve()}"] if init_movement else []),
    )
    return run_stage(stage, fit, manifest, card)
