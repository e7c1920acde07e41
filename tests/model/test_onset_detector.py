"""The onset detector: what it reads, how it travels in a bundle, and what a bundle may not make it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.model.bundle import build_modules, load_bundle, save_bundle
from minet_desktop.model.config import BundleConfig, OnsetDetectorConfig
from minet_desktop.model.onsets import OnsetDetector, onset_features

SMALL = OnsetDetectorConfig(hidden=16, dilations=(1, 2))


def test_features_are_positions_velocities_and_confidences_per_frame() -> None:
    frames = torch.zeros(1, 4, 3, 47)
    frames[0, :, 0, 3] = torch.tensor([0.0, 0.1, 0.3, 0.3])  # the right wrist moves right, then stops
    frames[0, :, 2] = 1.0
    f = onset_features(frames)
    assert f.shape == (1, 5 * 47, 4)
    assert torch.allclose(f[0, 3, :], frames[0, :, 0, 3])  # x of joint 3 (then the 47 y)
    assert torch.allclose(f[0, 94 + 3, :], torch.tensor([0.0, 1.0, 2.0, 0.0]))  # 10 x its velocity
    assert torch.equal(f[0, 188:, :], torch.ones(47, 4))


def test_each_frame_sees_only_its_receptive_field() -> None:
    torch.manual_seed(0)
    det = OnsetDetector(SMALL).eval()
    x = torch.randn(1, SMALL.in_channels, 80)
    y = det(x)
    x2 = x.clone()
    x2[..., 60:] += 5.0
    y2 = det(x2)
    half = SMALL.receptive_field // 2
    assert y.shape == (1, 80)
    assert torch.allclose(y[..., : 60 - half], y2[..., : 60 - half])  # frames far before the change
    assert not torch.allclose(y[..., 60 - half :], y2[..., 60 - half :])
    p = det.probabilities(np.zeros((0, 3, 47), np.float32))
    assert p.shape == (0,)


def test_a_bundle_carries_its_detector_bit_exact(tmp_path: Path) -> None:
    cfg = dataclasses.replace(BundleConfig.tiny(), onsets=SMALL)
    torch.manual_seed(3)
    det = OnsetDetector(SMALL)
    path = save_bundle(tmp_path / "m.safetensors", cfg, *build_modules(cfg), onsets=det)
    b = load_bundle(path)
    assert b.onsets is not None and b.cfg.onsets == SMALL and not b.onsets.training
    for k, v in det.state_dict().items():
        assert torch.equal(b.onsets.state_dict()[k], v)
    frames = np.random.default_rng(0).normal(size=(50, 3, 47)).astype(np.float32)
    assert np.allclose(b.onsets.probabilities(frames), det.eval().probabilities(frames))
    with pytest.raises(ValueError, match="onset detector and cfg.onsets disagree"):
        save_bundle(
            tmp_path / "x.safetensors", BundleConfig.tiny(), *build_modules(BundleConfig.tiny()), onsets=det
        )


def test_a_bundle_whose_detector_would_not_fit_in_memory_is_refused(tmp_path: Path) -> None:
    cfg = dataclasses.replace(BundleConfig.tiny(), onsets=SMALL)
    path = save_bundle(tmp_path / "m.safetensors", cfg, *build_modules(cfg), onsets=OnsetDetector(SMALL))
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    c = json.loads(meta["config"])
    c["onsets"]["hidden"] = 1 << 20  # a trillion-weight detector: refused before anything is allocated
    bad = tmp_path / "bad.safetensors"
    save_file(load_file(str(path)), str(bad), metadata={**meta, "config": json.dumps(c)})
    with pytest.raises(InputError, match="memory") as info:
        load_bundle(bad)
    assert info.value.path == bad


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kernel": 4}, "must be odd"),
        ({"threshold": 1.0}, "threshold"),
        ({"dilations": ()}, "positive"),
        ({"min_gap_s": -1.0}, "min_gap_s"),
    ],
)
def test_bad_detector_configs_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OnsetDetectorConfig(**kwargs)
    with pytest.raises(ConfigError, match="onsets.n_joints"):
        dataclasses.replace(BundleConfig.tiny(), onsets=OnsetDetectorConfig(n_joints=25))
