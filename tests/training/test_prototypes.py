"""`minet-train prototypes` on a tiny cache: labels of the training split only, calibrated on validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_run import _make_cache

from minet_desktop.core.config import AudioConfig
from minet_desktop.engine.instruments import movement_windows
from minet_desktop.engine.motion import window_frames
from minet_desktop.model.bundle import build_modules, load_bundle, save_bundle
from minet_desktop.model.config import BundleConfig
from training.cache import load_manifest
from training.cli import main


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("protos")
    return _make_cache(root, [("vn", "vc"), ("fl", "cl"), ("vn", "fl"), ("vc", "cl"), ("vn", "cl")])


def test_prototypes_are_the_training_windows_mean_and_the_bundle_keeps_generating(
    cache: Path, tmp_path: Path
):
    cfg = BundleConfig.tiny(audio=AudioConfig())
    torch.manual_seed(0)
    bundle = save_bundle(tmp_path / "m.safetensors", cfg, *build_modules(cfg), model_card="# tiny")
    report = tmp_path / "report.json"
    argv = ["prototypes", "--bundle", str(bundle), "--cache", str(cache), "--report", str(report)]
    assert main(argv) == 0
    b = load_bundle(bundle)
    assert b.instruments is not None and b.cfg.instruments is not None
    manifest = load_manifest(cache)
    train = [e for e in manifest["tracks"].values() if e["split"] == "train"]
    assert set(b.instruments.codes) == {e["instrument"] for e in train}
    # The prototype of an instrument is the mean movement vector of its training windows: labels used here only.
    code = b.instruments.codes[0]
    window = window_frames(cfg.prior.block_size, cfg.frames_per_code)
    hs = [
        movement_windows(b.movement, np.load(cache / e["dir"] / "skeleton.npy"), window)[0]
        for e in train
        if e["instrument"] == code
    ]
    assert torch.allclose(b.instruments.prototypes[0], torch.cat(hs).mean(0), atol=1e-5)
    d = json.loads(report.read_text())
    assert 0.0 <= d["test_track_accuracy"] <= 1.0 and d["test_tracks"] == 4 and d["temperature"] > 0
    assert b.cfg.instruments.max_distance > 0 and np.isfinite(b.cfg.instruments.max_distance)
    assert b.model_card == "# tiny"
