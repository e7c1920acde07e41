"""`minet-train regressor` on a tiny cache: crops line up, the CLI trains and writes a bundle the app plays,
resume is exact, wrong settings are refused."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_run import _Kill, _losses, _make_cache

from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.engine.session import Session
from minet_desktop.features.pose_image import render_pose_images, sample_poses
from minet_desktop.media.midi import Note
from minet_desktop.model.regressor import load_regressor_bundle
from minet_desktop.pose.keypoint_file import KeypointFile
from training.cache import load_manifest
from training.cli import main
from training.train.checkpoints import read_checkpoint
from training.train.config import RECIPES_DIR, load_recipe, parse_recipe, with_overrides
from training.train.regressor import RegressorCropDataset, mel_stats, train_regressor

TINY = RECIPES_DIR / "tiny.toml"


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five two-player pieces (2 s each, with notes): 4 train tracks, 2 val, 4 test."""
    root = tmp_path_factory.mktemp("regressor")
    return _make_cache(root, [("vn", "vc"), ("fl", "cl"), ("vn", "fl"), ("vc", "cl"), ("vn", "cl")])


def _pixels(cache):
    """A cached (normalised) skeleton as pixel keypoints: x, y scaled into a frame, confidence kept in [0, 1]."""
    kp = np.load(next((cache / "tracks").iterdir()) / "skeleton.npy").copy()
    kp[:, :2] = kp[:, :2] * 100 + 300
    return kp


def test_a_crop_is_the_cached_mel_with_the_figures_and_notes_of_the_same_instants(cache: Path) -> None:
    recipe = load_recipe(TINY)
    cfg = recipe.model.regressor_config(True, window_seconds=0.5)
    ds = RegressorCropDataset(cache, "train", cfg, seed=0, crops_per_track=3)
    manifest = load_manifest(cache)
    rate, spec_rate = cfg.frame_rate, 62.5
    for i in range(len(ds)):
        item = ds[i]
        entry = next(e for e in manifest["tracks"].values() if e["id"] == item["track_id"])
        start, W = int(item["start"]), cfg.window_frames
        mel = np.load(cache / entry["dir"] / "mel.npy")
        np.testing.assert_array_equal(item["mel"].numpy().T, mel[start : start + W].astype(np.float32))
        # The mel frame at position 0 lies `positions[0]` image frames after image 0.
        phase = float(item["phase"])
        assert 0 <= phase < 1 and float(item["positions"][0]) == pytest.approx(phase)
        assert float(item["positions"][1] - item["positions"][0]) == pytest.approx(10.0 / rate)
        skel = np.load(cache / entry["dir"] / "skeleton.npy")
        t_img = start / rate + (np.arange(item["images"].shape[0]) - phase) / 10.0
        expect = render_pose_images(sample_poses(skel, spec_rate, t_img), 32, True, (-0.2, 0.3), 1.6)
        np.testing.assert_array_equal(item["images"].numpy(), expect)
        notes = np.load(cache / entry["dir"] / "notes.npy")
        idx = np.round((start + np.arange(W)) / rate * spec_rate).astype(int)
        np.testing.assert_array_equal(item["notes"].numpy(), notes[idx])
    assert ds[0]["images"].dtype == torch.uint8 and ds[0]["images"].shape[1:] == (1, 32, 32)
    # The same seed gives the same crops; validation crops start their images on a mel frame.
    again = RegressorCropDataset(cache, "train", cfg, seed=0, crops_per_track=3)
    assert torch.equal(again[2]["images"], ds[2]["images"])
    val = RegressorCropDataset(cache, "val", cfg, seed=1, random_phase=False)
    assert float(val[0]["positions"][0]) == 0.0


def test_training_through_the_cli_writes_a_bundle_the_app_generates_with(cache: Path, tmp_path: Path, capsys):
    run = tmp_path / "run"
    argv = ["regressor", "--cache", str(cache), "--out", str(run), "--config", str(TINY), "--max-steps", "3"]
    assert main([*argv, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "model bundle" in out and "train/loss" in out and "val/mean_mse" in out
    metrics = (run / "logs" / "version_0" / "metrics.csv").read_text()
    assert "train/loss" in metrics and "val/loss" in metrics
    for name in ("run.json", "regressor.ckpt", "model.safetensors", "checkpoints/last.ckpt"):
        assert (run / name).is_file(), name
    bundle = load_regressor_bundle(run / "model.safetensors")
    assert bundle.cfg.model_type == "frame_regressor" and bundle.cfg.window_seconds == 0.5
    assert "4 tracks" in bundle.model_card and "3 steps" in bundle.model_card
    mean, _ = mel_stats(cache)
    assert np.allclose(bundle.model.mel_mean.numpy(), mean)  # the output statistics travel in the bundle
    # The checkpoint's weights are the bundle's, key for key.
    state = read_checkpoint(run / "regressor.ckpt")["state_dict"]
    assert all(torch.equal(state[f"regressor.{k}"], v) for k, v in bundle.model.state_dict().items())
    kf = KeypointFile(_pixels(cache), 62.5, (640, 480), "", "track", 1.0)
    r = Session(run / "model.safetensors", device="cpu").generate(kf, seed=0, griffin_lim_iters=2)
    assert r.waveform.shape == (1, round(kf.n_frames / 62.5 * 22050))
    # A run folder is not reused by accident.
    assert main([*argv, "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_the_midi_variant_trains_on_the_notes_and_needs_them(cache: Path, tmp_path: Path) -> None:
    run = tmp_path / "midi"
    argv = ["regressor", "--midi", "--cache", str(cache), "--out", str(run), "--config", str(TINY)]
    assert main([*argv, "--max-steps", "1", "--no-progress"]) == 0
    bundle = load_regressor_bundle(run / "model.safetensors")
    assert bundle.cfg.model_type == "frame_regressor_midi" and bundle.model.midi_encoder is not None
    kf = KeypointFile(_pixels(cache), 62.5, (640, 480), "", "track", 1.0)
    s = Session(run / "model.safetensors", device="cpu")
    r = s.generate(kf, notes=[Note(0.0, 1.0, 64, 90)], seed=0, griffin_lim_iters=1)
    assert r.waveform.shape[1] == round(kf.n_frames / 62.5 * 22050)
    with pytest.raises(InputError, match="conditioned on MIDI"):
        s.generate(kf)


def test_resuming_after_a_kill_continues_exactly(cache: Path, tmp_path: Path) -> None:
    recipe = load_recipe(TINY)
    model = replace(recipe.model, regressor=replace(recipe.model.regressor, dropout=0.1))
    recipe = replace(recipe, model=model)
    train = with_overrides(recipe.train("regressor"), batch_size=2, max_steps=5, ckpt_every=2, val_every=3)
    whole = train_regressor(cache, tmp_path / "whole", recipe, train, progress=False)
    with pytest.raises(RuntimeError, match="killed"):
        train_regressor(cache, tmp_path / "cut", recipe, train, progress=False, callbacks=[_Kill(3)])
    resumed = train_regressor(cache, tmp_path / "cut", recipe, train, progress=False, resume=True)
    assert whole.global_step == resumed.global_step == 5
    a, b = _losses(tmp_path / "whole"), _losses(tmp_path / "cut")
    assert sorted(b) == list(range(5)) and all(a[s] == b[s] for s in range(2, 5)), (a, b)
    wa = read_checkpoint(whole.checkpoint)["state_dict"]
    wb = read_checkpoint(resumed.checkpoint)["state_dict"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    wider = replace(
        recipe, model=replace(recipe.model, regressor=replace(recipe.model.regressor, lstm_hidden=24))
    )
    with pytest.raises(ConfigError, match="regressor.lstm_hidden: expected 16, found 24"):
        train_regressor(cache, tmp_path / "cut", wider, train, progress=False, resume=True)


def test_recipes_choose_the_regressor_and_refuse_what_does_not_fit(cache: Path, tmp_path: Path) -> None:
    for name in ("tiny", "cpu_small", "paper"):
        recipe = load_recipe(name)
        cfg = recipe.model.regressor_config(False, recipe.train("regressor").crop_seconds)
        assert cfg.regressor.n_mels == cfg.mel.n_mels == 80
    assert load_recipe("paper").model.regressor.image_size == 224
    with pytest.raises(ConfigError, match="regressor: unknown key"):
        parse_recipe({"model": {"regressor": {"hidden": 3}}}, "r.toml")
    with pytest.raises(ConfigError, match="stage.regressor: unknown key"):
        parse_recipe({"stage": {"regressor": {"steps": 3}}}, "r.toml")
    with pytest.raises(ConfigError, match="--midi"):
        parse_recipe({"model": {"regressor": {"midi": True}}}, "r.toml").model.regressor_config(False, 1.0)
    data = tomllib.loads(TINY.read_text())
    data["model"]["mel"] = {"n_mels": 64}
    data["model"]["regressor"]["n_mels"] = 64
    with pytest.raises(ConfigError, match="mel.n_mels: expected 64, found 80"):
        train_regressor(cache, tmp_path / "r", parse_recipe(data, "mel64"), progress=False)


def test_augmented_stick_figures_are_drawn_from_the_same_instants(cache: Path) -> None:
    from training.train.augment import SkeletonAugment

    cfg = load_recipe(TINY).model.regressor_config(False, window_seconds=0.5)
    plain = RegressorCropDataset(cache, "train", cfg, seed=0, crops_per_track=2)
    same = RegressorCropDataset(cache, "train", cfg, seed=0, crops_per_track=2)
    same.augment = lambda k, rng: k  # an augmentation that changes nothing changes no image
    aug = RegressorCropDataset(cache, "train", cfg, seed=0, crops_per_track=2)
    aug.augment = SkeletonAugment(p_similarity=1.0)
    differ = 0
    for i in range(len(plain)):
        a, b, c = plain[i], same[i], aug[i]
        assert torch.equal(a["images"], b["images"]) and torch.equal(a["mel"], c["mel"])
        differ += int(not torch.equal(a["images"], c["images"]))
    assert differ == len(plain)
