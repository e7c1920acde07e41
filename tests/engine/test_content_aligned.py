"""The engine hands a content prior with aligned notes (ContentConfig.aligned_dim) each code's notes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import performance

from minet_desktop.engine.sampling import CodeSampler
from minet_desktop.engine.session import Session
from minet_desktop.media.midi import Note
from minet_desktop.model.bundle import build_modules, save_bundle
from minet_desktop.model.config import BundleConfig

H, BLOCK, FPC = 16, 16, 2  # BundleConfig.tiny


def _aligned_config() -> BundleConfig:
    cfg = BundleConfig.tiny("minet_midi")
    assert cfg.content is not None
    return dataclasses.replace(cfg, content=dataclasses.replace(cfg.content, aligned_dim=8))


def test_step_by_step_sampling_matches_generate_with_aligned_notes() -> None:
    """CodeSampler, given ``Prior.condition``'s per-code conditions, draws what Prior.generate draws."""
    torch.manual_seed(3)
    _, _, prior = build_modules(_aligned_config())
    with torch.no_grad():
        prior.head.weight.mul_(20)
    prior.eval()
    n = int(3.5 * BLOCK)
    h = torch.randn(1, n, H)
    notes = torch.randint(0, 129, (1, n * FPC))
    expected = prior.generate(h, n, generator=torch.Generator().manual_seed(7), notes=notes)
    cond = prior.condition(h, None, 0, n, notes)
    sampler = CodeSampler(
        prior, [7], memory_fn=lambda start, span: prior.cross_memory(notes, h, start, span), n_total=n
    )
    got = torch.stack([sampler.step(cond[:, t]) for t in range(n)], dim=1)
    assert torch.equal(got, expected)


def test_session_generates_with_an_aligned_notes_bundle(tmp_path: Path) -> None:
    cfg = _aligned_config()
    torch.manual_seed(1)
    vqvae, movement, prior = build_modules(cfg)
    with torch.no_grad():
        prior.head.weight.mul_(20)
    path = save_bundle(tmp_path / "aligned.safetensors", cfg, vqvae, movement, prior, model_card="# tiny")
    s = Session(path)
    kf = performance(1.0)
    notes = [Note(0.1 * i, 0.1 * i + 0.1, 60 + i % 12, 80) for i in range(10)]
    r = s.generate(kf, notes=notes, seed=0)
    assert r.duration > 0.9
    assert not np.array_equal(r.codes, s.generate(kf, notes=[Note(0, 1, 40, 80)], seed=0).codes)


@pytest.mark.gpu
def test_cuda_graph_steps_take_the_aligned_notes() -> None:
    """The captured step reads each code's condition, aligned notes included: graph = eager at temperature 0."""
    torch.manual_seed(3)
    _, _, prior = build_modules(_aligned_config())
    with torch.no_grad():
        prior.head.weight.mul_(20)
    prior = prior.cuda().eval()
    n, dev = int(3.5 * BLOCK), torch.device("cuda")
    h = torch.randn(2, n, H, device=dev)
    notes = torch.randint(0, 129, (2, n * FPC), device=dev)
    kw = {"temperature": 0.0, "notes": notes}
    graphed = prior.generate(h, n, graph=True, **kw)
    assert torch.equal(graphed, prior.generate(h, n, graph=False, **kw))
    other = prior.generate(h, n, graph=True, temperature=0.0, notes=(notes + 7) % 129)
    assert not torch.equal(graphed, other)
