"""Engine tests run tiny bundles with random weights on the CPU, one thread each (the machine is shared)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
    """``make_bundle(model_type="minet", **prior_overrides) -> path`` of a tiny random-weight bundle."""

    def make(model_type: str = "minet", name: str | None = None, **prior: object) -> Path:
        cfg = BundleConfig.tiny(model_type, **prior)
        torch.manual_seed(1)
        vqvae, movement, prior_m = build_modules(cfg)
        # Random weights give near-uniform logits; sharpen the prior a little so codes vary with h.
        with torch.no_grad():
            prior_m.head.weight.mul_(20)
        path = tmp_path / (name or f"{model_type}.safetensors")
        return save_bundle(
            path, cfg, vqvae, movement, prior_m, model_card=f"# Tiny {model_type}\nrandom weights"
        )

    return make
