"""Visually Indicated Music's frame regressor: ResNet-18 and LSTM shapes, the MIDI branch, its config and its bundle."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from minet_desktop.core.config import from_json, to_json
from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.model.bundle import build_modules, load_bundle, save_bundle
from minet_desktop.model.config import BundleConfig, RegressorBundleConfig, RegressorConfig
from minet_desktop.model.regressor import (
    FrameRegressor,
    MidiEncoder,
    ResNet18,
    image_positions,
    load_regressor_bundle,
    read_regressor_config,
    resample_features,
    save_regressor_bundle,
)


def test_resnet18_is_resnet18_and_pools_any_image_size_to_one_vector() -> None:
    full = ResNet18(3, 64)
    # torchvision's resnet18 has 11,689,512 parameters, 513,000 of them in its 1000-class classifier.
    assert sum(p.numel() for p in full.parameters()) == 11_689_512 - 513_000
    convs = [m for m in full.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
    assert len(convs) == 17  # the stem + 16 in the blocks: the "18" with the classifier
    small = ResNet18(1, 8)
    for size in (16, 32, 96):
        out = small(torch.rand(3, 1, size, size))
        assert out.shape == (3, 64) and torch.isfinite(out).all()


@pytest.mark.parametrize("midi", [False, True])
def test_regressor_window_shapes_and_every_parameter_learns(midi: bool) -> None:
    cfg = RegressorBundleConfig.tiny(midi).regressor
    model = FrameRegressor(cfg)
    N, T_img, T = 2, 6, 22
    images = torch.randint(
        0, 256, (N, T_img, cfg.channels, cfg.image_size, cfg.image_size), dtype=torch.uint8
    )
    positions = image_positions(T, 43.07, cfg.image_fps).float()
    notes = torch.randint(0, 129, (N, T)) if midi else None
    mel = model(images, positions, notes)
    assert mel.shape == (N, cfg.n_mels, T)
    # Residual branches start at zero (their last BatchNorm scale is 0), so their convolutions get gradients
    # from the second step on: after one step every parameter learns.
    for _ in range(2):  # plain SGD (torch.optim's first import costs seconds)
        model.zero_grad()
        model(images, positions, notes).pow(2).mean().backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    if midi:
        with pytest.raises(ValueError, match="needs notes"):
            model(images, positions)


def test_output_starts_at_the_training_mean_spectrum() -> None:
    cfg = RegressorBundleConfig.tiny().regressor
    model = FrameRegressor(cfg)
    mean, std = torch.linspace(-10, 0, 80), torch.full((80,), 2.0)
    model.set_normalization(mean, std)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    out = model.decode(torch.zeros(1, 5, cfg.feature_dim))
    torch.testing.assert_close(out[0], mean[:, None].expand(-1, 5))


def test_images_are_interpolated_to_the_mel_frames() -> None:
    feats = torch.tensor([[[0.0], [10.0], [20.0]]])  # 3 images
    pos = torch.tensor([[0.0, 0.5, 1.25, 2.0, 7.0, -1.0]])
    out = resample_features(feats, pos)[0, :, 0]
    torch.testing.assert_close(out, torch.tensor([0.0, 5.0, 12.5, 20.0, 20.0, 0.0]))
    # 30 images/s against 22050 / 512 mel frames/s: mel frame 43 is ~1 s, image 30.
    p = image_positions(44, 22050 / 512, 30.0)
    assert p[0] == 0 and abs(float(p[43]) - 43 * 30 * 512 / 22050) < 1e-9


def test_piano_roll_marks_the_sounding_pitch_only() -> None:
    enc = MidiEncoder(128, 4)
    # rest, middle C (pitch 60 -> index 61), G9 (pitch 127, the highest), and indices beyond MIDI's range.
    roll = enc.piano_roll(torch.tensor([[0, 61, 128, 129, 200]]))
    assert roll.shape == (1, 5, 128)
    assert roll[0, 0].sum() == 0 and roll[0, 1, 60] == 1 and roll[0, 1].sum() == 1
    assert roll[0, 2, 127] == 1 and roll[0, 2].sum() == 1
    assert roll[0, 3].sum() == 0 and roll[0, 4].sum() == 0


def test_config_validates_and_round_trips() -> None:
    cfg = RegressorBundleConfig.tiny(True)
    assert from_json(RegressorBundleConfig, to_json(cfg)) == cfg
    default = RegressorBundleConfig()
    assert default.regressor.feature_dim == 512 and default.regressor.image_size == 224
    assert default.window_frames == 92  # 64 frames at 30 fps = 2.13 s of 22.05 kHz / hop 512
    assert default.audio.frame_rate == default.mel.frame_rate and default.audio.n_bins == 513
    for bad in (
        lambda: RegressorConfig(image_size=8),
        lambda: RegressorConfig(width=0.01),
        lambda: RegressorConfig(image_fps=0),
        lambda: RegressorConfig(dropout=1.0),
        lambda: RegressorBundleConfig(model_type="frame_regressor_midi"),
        lambda: RegressorBundleConfig(regressor=RegressorConfig(midi=True)),
        lambda: RegressorBundleConfig(regressor=RegressorConfig(n_mels=64)),
        lambda: RegressorBundleConfig(window_seconds=0.01),
        lambda: RegressorBundleConfig(model_type="minet"),
    ):
        with pytest.raises(ConfigError):
            bad()
    with pytest.raises(ConfigError, match="unknown key"):
        from_json(RegressorBundleConfig, json.dumps({"regressor": {"imagesize": 64}}))


@pytest.fixture
def bundle_file(tmp_path: Path) -> Path:
    cfg = RegressorBundleConfig.tiny(True)
    model = FrameRegressor(cfg.regressor)
    model.set_normalization(torch.randn(80), torch.rand(80) + 0.5)
    return save_regressor_bundle(tmp_path / "reg.safetensors", cfg, model, "# card")


def test_bundle_round_trip_is_exact(bundle_file: Path) -> None:
    b = load_regressor_bundle(bundle_file)
    assert b.cfg == RegressorBundleConfig.tiny(True) and b.model_card == "# card" and not b.model.training
    cfg, card = read_regressor_config(bundle_file)
    assert cfg == b.cfg and card == "# card"
    with safe_open(str(bundle_file), framework="pt") as f:
        for k, v in b.model.state_dict().items():
            assert torch.equal(f.get_tensor(f"regressor.{k}"), v)
    again = load_regressor_bundle(
        save_regressor_bundle(bundle_file.with_name("again.safetensors"), b.cfg, b.model)
    )
    images = torch.randint(0, 256, (1, 4, 1, 32, 32), dtype=torch.uint8)
    pos, notes = torch.linspace(0, 3, 10), torch.full((1, 10), 70)
    with torch.no_grad():
        assert torch.equal(b.model(images, pos, notes), again.model(images, pos, notes))


def _rewrite(src: Path, dst: Path, tensors=None, config=None) -> Path:
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
        data = {k: f.get_tensor(k) for k in f.keys()}
    if tensors is not None:
        data = tensors(data)
    if config is not None:
        meta["config"] = config(meta["config"])
    save_file(data, str(dst), metadata=meta)
    return dst


def test_bad_regressor_bundles_are_refused_naming_the_file(bundle_file: Path, tmp_path: Path) -> None:
    cases = {
        "missing.safetensors": ("no such model bundle", None),
        "lacks.safetensors": (
            "lacks tensor",
            lambda p: _rewrite(
                bundle_file, p, tensors=lambda d: {k: v for k, v in d.items() if "head" not in k}
            ),
        ),
        "shape.safetensors": (
            "has shape",
            lambda p: _rewrite(
                bundle_file,
                p,
                config=lambda c: to_json(
                    replace(
                        from_json(RegressorBundleConfig, c),
                        regressor=replace(from_json(RegressorBundleConfig, c).regressor, lstm_hidden=12),
                    )
                ),
            ),
        ),
        "typo.safetensors": (
            "unknown key",
            lambda p: _rewrite(bundle_file, p, config=lambda c: c[:-1] + ',"x":1}'),
        ),
    }
    for name, (message, make) in cases.items():
        path = tmp_path / name
        if make is not None:
            make(path)
        with pytest.raises(InputError, match=message) as err:
            load_regressor_bundle(path)
        assert name in str(err.value)
    # An MI Net bundle is not a regressor, and a regressor is not an MI Net bundle.
    cfg = BundleConfig.tiny()
    minet = save_bundle(tmp_path / "minet.safetensors", cfg, *build_modules(cfg))
    with pytest.raises(InputError, match="not a frame regressor bundle"):
        load_regressor_bundle(minet)
    with pytest.raises(InputError, match="reg.safetensors"):
        load_bundle(bundle_file)
    with pytest.raises(ValueError, match="other sizes"):
        save_regressor_bundle(
            tmp_path / "x.safetensors", RegressorBundleConfig.tiny(), FrameRegressor(cfg_big())
        )


def cfg_big() -> RegressorConfig:
    return replace(RegressorBundleConfig.tiny().regressor, lstm_hidden=24)
