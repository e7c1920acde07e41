"""Reading training checkpoints without executing code, and turning them into a model bundle.

Lightning checkpoints are ``torch.save`` pickles; every one read here goes through
``torch.load(weights_only=True)``, which unpickles tensors and plain containers only and refuses anything
else, so a checkpoint from someone else cannot run code. The deliverable is the safetensors bundle
(:mod:`minet_desktop.model.bundle`), which involves no pickle at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import Any

import torch

from minet_desktop.core.atomic import atomic_path
from minet_desktop.core.config import from_json
from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.model.bundle import build_modules, load_bundle, save_bundle
from minet_desktop.model.config import BundleConfig
from minet_desktop.model.vqvae import VQVAE
from training.train.data import codes_fingerprint, vqvae_fingerprint

BUNDLE_SUFFIXES = (".safetensors",)


def save_step(path: Path, parts: dict[str, Any], step: int) -> None:
    """A plain training loop's checkpoint: the state dicts of ``parts`` (modules, optimizers) and the step,
    written atomically (tensors and plain containers only, read back by :func:`resume_step`)."""
    state = {name: part.state_dict() for name, part in parts.items()}
    state["step"] = step
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def resume_step(path: Path, parts: dict[str, Any], log: Callable[[str], None]) -> int:
    """Load :func:`save_step`'s checkpoint at ``path`` into ``parts`` and return its step; 0 when there is none
    or it cannot be read (the run starts again rather than fail, and says so)."""
    if not path.is_file():
        return 0
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        for name, part in parts.items():
            part.load_state_dict(state[name])
        step = int(state["step"])
    except Exception as exc:  # an unreadable checkpoint: start again rather than fail
        log(f"{path}: unreadable checkpoint ({exc}); starting from step 0")
        return 0
    log(f"resumed from {path} at step {step}")
    return step


def read_checkpoint(path: str | PathLike[str]) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` on the CPU; InputError naming the file when that fails."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "no such checkpoint")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError (unsafe content), RuntimeError / EOFError (truncated), ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(p, f"not a readable training checkpoint ({first[:200]})") from exc
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise InputError(p, "not a Lightning checkpoint (no state_dict)")
    return ckpt


def checkpoint_config(ckpt: dict[str, Any], path: str | PathLike[str]) -> BundleConfig:
    hp = ckpt.get("hyper_parameters")
    if not isinstance(hp, dict) or not isinstance(hp.get("model_config"), str):
        raise InputError(Path(path), "not an MI Net training checkpoint (no model_config)")
    try:
        return from_json(BundleConfig, hp["model_config"])
    except ConfigError as exc:
        raise InputError(Path(path), f"checkpoint config is not usable: {exc}") from exc


def _part(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) + 1 :]: v for k, v in state.items() if k.startswith(prefix + ".")}


def _load_part(module: torch.nn.Module, state: dict[str, Any], prefix: str, path: Path) -> None:
    part = _part(state, prefix)
    if not part:
        raise InputError(path, f"checkpoint holds no {prefix} weights")
    try:
        module.load_state_dict(part, strict=True)
    except RuntimeError as exc:
        raise InputError(
            path, f"{prefix} weights do not fit the config ({str(exc).splitlines()[0]})"
        ) from exc


def resolve_checkpoint(path: str | PathLike[str], name: str) -> Path:
    """A checkpoint or bundle path; a run folder stands for its ``<name>.ckpt``."""
    p = Path(path)
    if p.is_dir():
        for candidate in (p / f"{name}.ckpt", p / "model.safetensors", p / "checkpoints" / "last.ckpt"):
            if candidate.is_file():
                return candidate
        raise InputError(p, f"no {name}.ckpt, model.safetensors or checkpoints/last.ckpt in this run folder")
    return p


def load_vqvae(path: str | PathLike[str]) -> tuple[BundleConfig, VQVAE]:
    """The trained VQ-VAE (eval mode, CPU) and the config it was trained with, from a ``vqvae.ckpt``, a
    prior checkpoint, a run folder or a model bundle."""
    p = resolve_checkpoint(path, "vqvae")
    if p.suffix in BUNDLE_SUFFIXES:
        bundle = load_bundle(p)
        return bundle.cfg, bundle.vqvae
    ckpt = read_checkpoint(p)
    cfg = checkpoint_config(ckpt, p)
    vqvae = VQVAE(cfg.vqvae)
    _load_part(vqvae, ckpt["state_dict"], "vqvae", p)
    if not bool(vqvae.quantizer.initialized):
        raise InputError(p, "this VQ-VAE was never trained (its codebook is uninitialised)")
    return cfg, vqvae.eval()


def write_bundle_from_checkpoint(
    prior_path: str | PathLike[str],
    out: str | PathLike[str],
    vqvae_path: str | PathLike[str] | None = None,
    model_card: str | None = None,
) -> Path:
    """Write the model bundle of a prior checkpoint (which holds its frozen VQ-VAE too).

    With ``vqvae_path``, that VQ-VAE is used: the one the prior's codes came from, or one whose decoder was
    trained further (``minet-train decoder``: same encoder and codebook, so the same codes). One that would
    give other codes is refused, since the prior's codes would mean nothing to it.
    """
    p = resolve_checkpoint(prior_path, "prior")
    ckpt = read_checkpoint(p)
    cfg = checkpoint_config(ckpt, p)
    hp = ckpt["hyper_parameters"]
    if "vqvae_sha256" not in hp:
        raise InputError(p, "not a prior checkpoint (a VQ-VAE checkpoint? pass the prior's)")
    vqvae, movement, prior = build_modules(cfg)
    state = ckpt["state_dict"]
    _load_part(movement, state, "movement", p)
    _load_part(prior, state, "prior", p)
    _load_part(vqvae, state, "vqvae", p)
    found = vqvae_fingerprint(vqvae)
    if hp["vqvae_sha256"] and found != hp["vqvae_sha256"]:  # pragma: no cover - a damaged checkpoint
        raise InputError(p, "the VQ-VAE inside this prior checkpoint is not the one it was trained with")
    if vqvae_path is not None:
        vcfg, other = load_vqvae(vqvae_path)
        codes_cfg = replace(
            vcfg.vqvae, decoder_head=cfg.vqvae.decoder_head, decoder_context=cfg.vqvae.decoder_context
        )
        if codes_cfg != cfg.vqvae or vcfg.audio != cfg.audio:
            raise InputError(
                Path(vqvae_path), "this VQ-VAE has other sizes or audio settings than the prior's"
            )
        if codes_fingerprint(other) != codes_fingerprint(vqvae):
            raise InputError(
                Path(vqvae_path),
                f"the prior was trained on codes of VQ-VAE {found[:12]}, whose encoder and codebook this "
                "VQ-VAE does not share",
            )
        cfg = replace(cfg, vqvae=vcfg.vqvae)
        vqvae = other
        found = vqvae_fingerprint(vqvae)
    card = model_card
    if card is None:
        card = (
            f"# MI Net ({cfg.model_type})\n\nWritten by `minet-train bundle` from {p.name} "
            f"(step {ckpt.get('global_step', '?')}, VQ-VAE weights sha256 {found[:12]}).\n"
        )
    return save_bundle(out, cfg, vqvae, movement, prior, card)
