"""Engine tests run tiny bundles with random weights on the CPU, one thread each (the machine is shared)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from minet_desktop.model.bundle import build_modules, save_bundle
from minet_desktop.model.config import BundleConfig


@pytest.fixture(autouse=True)
def _one_thread_seeded() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def make_bundle(tmp_path: Path) -> Callable[..., Path]:
    """``make_bundle(model_type="minet", vqvae={...}, **prior_overrides) -> path`` of a tiny random-weight
    bundle (``vqvae``: overrides of its VQ-VAE config)."""

    def make(
        model_type: str = "minet", name: str | None = None, vqvae: dict | None = None, **prior: object
    ) -> Path:
        cfg = BundleConfig.tiny(model_type, **prior)
        if vqvae:
            cfg = replace(cfg, vqvae=replace(cfg.vqvae, **vqvae))
        torch.manual_seed(1)
        vqvae_m, movement, prior_m = build_modules(cfg)
        # Random weights give near-uniform logits; sharpen the prior a little so codes vary with h.
        with torch.no_grad():
            prior_m.head.weight.mul_(20)
            for branch in (vqvae_m.decoder.context, vqvae_m.decoder.head):  # they start at zero: no effect
                if branch is not None:
                    branch.conv2.weight.normal_(0.0, 0.5)
        path = tmp_path / (name or f"{model_type}.safetensors")
        return save_bundle(
            path, cfg, vqvae_m, movement, prior_m, model_card=f"# Tiny {model_type}\nrandom weights"
        )

    return make
