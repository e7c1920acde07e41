"""Model configs: strict JSON round trips, cross-checks between parts, and no torch at import."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from minet_desktop.core.config import AudioConfig, from_dict, from_json, to_dict, to_json
from minet_desktop.core.errors import ConfigError
from minet_desktop.model.config import BundleConfig, ContentConfig, PriorConfig, VQVAEConfig


@pytest.mark.parametrize(
    "cfg",
    [
        BundleConfig(),
        BundleConfig(model_type="minet_midi", content=ContentConfig()),
        BundleConfig.tiny(),
        BundleConfig.tiny("minet_midi", per_frame_motion=True),
    ],
)
def test_json_round_trip_is_exact(cfg: BundleConfig) -> None:
    assert from_json(BundleConfig, to_json(cfg)) == cfg


def test_paper_sizes_are_the_defaults() -> None:
    cfg = BundleConfig()
    assert (cfg.vqvae.channels, cfg.vqvae.code_dim, cfg.vqvae.codebook_size) == (512, 64, 1024)
    assert cfg.vqvae.encoder_bands == (8, 4, 2, 1) and cfg.vqvae.n_res_blocks == 2
    assert (cfg.movement.hidden_size, cfg.movement.n_layers, cfg.movement.bidirectional) == (32, 3, True)
    assert (cfg.prior.n_layer, cfg.prior.n_embd, cfg.prior.n_head) == (2, 128, 8)
    # A 4-second crop (251 frames) is 63 codes: BOS + 63 fill one prior window.
    assert cfg.prior.block_size == -(-251 // cfg.vqvae.downsample) + 1
    assert cfg.code_rate == pytest.approx(15.625)


def test_unknown_key_is_refused_with_its_name() -> None:
    data = to_dict(BundleConfig.tiny())
    data["prior"]["n_layers"] = 3  # typo of n_layer
    with pytest.raises(ConfigError, match="n_layers"):
        from_dict(BundleConfig, data)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: VQVAEConfig(channels=512, encoder_bands=(3,)), "3 equal bands"),
        (lambda: VQVAEConfig(downsample=3), "power of two"),
        (lambda: PriorConfig(n_embd=100, n_head=8), "divisible"),
        (lambda: PriorConfig(block_size=16, window_keep=15), "window_keep"),
        (lambda: BundleConfig(model_type="minet_midi"), "content"),
        (lambda: BundleConfig(content=ContentConfig()), "content"),
        (lambda: BundleConfig(audio=AudioConfig(n_fft=1024, n_bins=512)), "in_bins"),
        (lambda: BundleConfig(model_type="minet_midi", content=ContentConfig(max_len=100)), "max_len"),
        (lambda: BundleConfig(format_version=2), "format_version"),
    ],
)
def test_inconsistent_configs_are_refused(make, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()


def test_tiny_follows_a_given_audio_config() -> None:
    cfg = BundleConfig.tiny(audio=AudioConfig())
    assert cfg.vqvae.in_bins == 1024 and cfg.audio == AudioConfig()
    assert (
        dataclasses.replace(cfg.prior, per_frame_motion=True)
        == BundleConfig.tiny(audio=AudioConfig(), per_frame_motion=True).prior
    )


def test_model_config_imports_without_torch() -> None:
    code = "import sys, minet_desktop.model.config; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
