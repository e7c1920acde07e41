"""Model bundle: bit-exact round trip, and every kind of wrong file is refused with its name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from minet_desktop.core.errors import InputError
from minet_desktop.model.bundle import build_modules, load_bundle, read_bundle_config, save_bundle
from minet_desktop.model.config import BundleConfig
from minet_desktop.model.movement import align_to
from minet_desktop.model.prior import ContentConditionedPrior


def _trained_a_little(cfg: BundleConfig):
    vqvae, movement, prior = build_modules(cfg)
    spec = torch.randn(2, cfg.vqvae.in_bins, 20)
    _, terms, codes = vqvae.train()(spec)  # seeds and moves the EMA codebook (buffers, not parameters)
    vqvae.set_normalization(spec.mean((0, 2)), spec.std((0, 2)))
    h, frames = movement(torch.randn(2, 3, 47, 20))
    notes = torch.randint(0, 129, (2, 20))
    motion = align_to(frames, codes.shape[1], cfg.frames_per_code)
    _, loss = prior(codes, h, motion=motion, notes=notes if cfg.content else None)
    (loss + terms["loss"]).backward()
    with torch.no_grad():
        for m in (vqvae, movement, prior):
            for p in m.parameters():
                p.add_(0.01 * p.grad if p.grad is not None else 0.0)
    return vqvae, movement, prior


@pytest.fixture
def bundle_file(tmp_path: Path) -> Path:
    cfg = BundleConfig.tiny()
    return save_bundle(tmp_path / "model.safetensors", cfg, *build_modules(cfg), model_card="# tiny")


@pytest.mark.parametrize("model_type", ["minet", "minet_midi"])
def test_save_load_is_bit_exact(tmp_path: Path, model_type: str) -> None:
    cfg = BundleConfig.tiny(model_type, per_frame_motion=True)
    modules = _trained_a_little(cfg)
    path = save_bundle(tmp_path / "m.safetensors", cfg, *modules, model_card="# Tiny\ntrained on noise")
    loaded = load_bundle(path)
    assert loaded.cfg == cfg and loaded.model_card == "# Tiny\ntrained on noise"
    assert isinstance(loaded.prior, ContentConditionedPrior) == (model_type == "minet_midi")
    for original, restored in zip(modules, (loaded.vqvae, loaded.movement, loaded.prior), strict=True):
        a, b = original.state_dict(), restored.state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
        assert not restored.training
    assert bool(loaded.vqvae.quantizer.initialized)
    assert read_bundle_config(path) == (cfg, "# Tiny\ntrained on noise")
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary file left behind


def test_saving_over_an_existing_bundle_replaces_it(tmp_path: Path) -> None:
    cfg = BundleConfig.tiny()
    path = tmp_path / "m.safetensors"
    save_bundle(path, cfg, *build_modules(cfg), model_card="first")
    save_bundle(path, cfg, *build_modules(cfg), model_card="second")
    assert load_bundle(path).model_card == "second"


def _rewrite(src: Path, dst: Path, tensors=None, metadata=None) -> Path:
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
    data = load_file(str(src))
    save_file(tensors(data) if tensors else data, str(dst), metadata=metadata(meta) if metadata else meta)
    return dst


def _with_config(meta: dict[str, str], edit) -> dict[str, str]:
    cfg = json.loads(meta["config"])
    edit(cfg)
    return {**meta, "config": json.dumps(cfg)}


def _bigger_codebook(data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    data["vqvae.quantizer.codebook"] = torch.zeros(64, 8)
    return data


CASES = {
    "missing": (None, "no such model bundle"),
    "junk": ("junk", "not a safetensors model bundle"),
    "no metadata": ({"metadata": lambda m: None}, "not an MI Net model bundle"),
    "other format": ({"metadata": lambda m: {**m, "format": "dac"}}, "not an MI Net model bundle"),
    "version": ({"metadata": lambda m: {**m, "format_version": "2"}}, "format version '2' is not supported"),
    "no config": ({"metadata": lambda m: {k: v for k, v in m.items() if k != "config"}}, "no 'config'"),
    "unknown key": (
        {"metadata": lambda m: _with_config(m, lambda c: c["prior"].update(n_layers=2))},
        "unknown key.*n_layers",
    ),
    "shape": (
        {"tensors": _bigger_codebook},
        r"vqvae\.quantizer\.codebook has shape \(64, 8\) but the config builds \(32, 8\)",
    ),
    "dtype": (
        {"tensors": lambda d: {**d, "prior.head.weight": d["prior.head.weight"].half()}},
        "prior.head.weight has dtype torch.float16",
    ),
    "missing tensor": (
        {"tensors": lambda d: {k: v for k, v in d.items() if k != "movement.gru.weight_ih_l0"}},
        r"lacks tensor\(s\) movement\.gru\.weight_ih_l0",
    ),
    "unexpected tensor": (
        {"tensors": lambda d: {**d, "prior.extra": torch.zeros(3)}},
        r"unexpected tensor\(s\) prior\.extra",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_bundles_are_refused_naming_the_file(tmp_path: Path, bundle_file: Path, case: str) -> None:
    how, message = CASES[case]
    bad = tmp_path / "bad.safetensors"
    if how == "junk":
        bad.write_bytes(b"\x80\x04 this is a pickle, not a bundle")
    elif how is not None:
        _rewrite(bundle_file, bad, **how)
    with pytest.raises(InputError, match=message) as info:
        load_bundle(bad)
    assert info.value.path == bad and str(bad) in str(info.value)
