"""`minet-train seq2seq / graph-transformer / content-gru` on a tiny cache: the CLI end to end, exact resume,
refusals, and the GRU's test NLL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_cache import synthetic_keypoints
from test_train_run import TINY, _Kill, _losses, _make_cache

from minet_desktop.core.errors import InputError
from minet_desktop.engine.session import Session
from minet_desktop.model.baselines import load_baseline_bundle
from training.cache import load_manifest
from training.cli import main
from training.train.baselines import (
    content_gru_test_nll,
    load_content_gru,
    train_baseline,
    train_content_gru,
)
from training.train.checkpoints import read_checkpoint
from training.train.config import load_recipe, with_overrides
from training.train.data import CODES_FILE


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five two-player pieces (2 s each): 4 train tracks, 2 val, 4 test."""
    root = tmp_path_factory.mktemp("baselines")
    return _make_cache(root, [("vn", "vc"), ("fl", "cl"), ("vn", "fl"), ("vc", "cl"), ("vn", "cl")])


@pytest.fixture(scope="module")
def vqvae_run(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("vq") / "vq"
    argv = ["vqvae", "--cache", str(cache), "--out", str(run), "--config", str(TINY), "--max-steps", "2"]
    assert main([*argv, "--no-progress"]) == 0
    return run


@pytest.mark.parametrize("command", ["seq2seq", "graph-transformer"])
def test_a_baseline_trains_through_the_cli_and_its_bundle_generates(
    cache: Path, tmp_path: Path, capsys, command: str
) -> None:
    run = tmp_path / "run"
    argv = [command, "--cache", str(cache), "--out", str(run), "--config", str(TINY), "--max-steps", "2"]
    assert main([*argv, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "model bundle" in out and "train/loss" in out and "val/loss" in out
    model_type = command.replace("-", "_")
    assert (run / f"{model_type}.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    metrics = (run / "logs" / "version_0" / "metrics.csv").read_text()
    assert "val/mean_mse" in metrics and ("val/free_running_mse" in metrics) == (model_type == "seq2seq")
    assert list((run / "tensorboard").rglob("events.out.tfevents.*"))
    bundle = load_baseline_bundle(run / "model.safetensors")
    assert bundle.cfg.model_type == model_type and "4 tracks" in bundle.model_card
    assert bundle.cfg.audio.n_bins == 1024 and bundle.cfg.window_frames == 32  # tiny: 0.5-s crops
    # The spectrogram statistics of the training split travel in the bundle.
    assert float(bundle.model.spec_std.min()) > 1e-3 and float(bundle.model.spec_mean.abs().max()) > 0
    # A second run into the same folder needs --resume.
    assert main([*argv, "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err
    # The app's engine plays it: 1 s of keypoints, 1 s of audio (several windows of 32 frames).
    kf = synthetic_keypoints(1.0)
    result = Session(run / "model.safetensors", device="cpu").generate(kf, griffin_lim_iters=2)
    assert result.waveform.shape == (1, 16000) and result.spectrogram.shape == (1, 1024, 63)


@pytest.mark.parametrize("stage", ["seq2seq", "graph_transformer", "content_gru"])
def test_resuming_after_a_kill_continues_exactly(cache: Path, vqvae_run: Path, tmp_path: Path, stage: str):
    recipe = load_recipe(TINY)
    # Dropout draws from the global RNG (the Seq2Seq's pre-net always, the others when > 0).
    model = replace(
        recipe.model,
        graph_transformer=replace(recipe.model.graph_transformer, dropout=0.1),
        content_gru=replace(recipe.model.content_gru, dropout=0.1),
    )
    recipe = replace(recipe, model=model)
    train = with_overrides(recipe.train(stage), batch_size=2, max_steps=7, ckpt_every=2, val_every=3)

    def run(out: Path, **kw):
        if stage == "content_gru":
            return train_content_gru(cache, vqvae_run, out, recipe, train, progress=False, **kw)
        return train_baseline(cache, out, recipe, stage, train, progress=False, **kw)

    whole = run(tmp_path / "whole")
    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path / "cut", callbacks=[_Kill(3)])
    resumed = run(tmp_path / "cut", resume=True)
    assert whole.global_step == resumed.global_step == 7
    a, b = _losses(tmp_path / "whole"), _losses(tmp_path / "cut")
    assert sorted(b) == list(range(7)) and all(a[s] == b[s] for s in range(2, 7)), (a, b)
    wa = read_checkpoint(whole.checkpoint)["state_dict"]
    wb = read_checkpoint(resumed.checkpoint)["state_dict"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_content_gru_trains_through_the_cli_and_scores_the_test_split(
    cache: Path, vqvae_run: Path, tmp_path: Path, capsys
) -> None:
    run = tmp_path / "gru"
    argv = ["content-gru", "--cache", str(cache), "--vqvae", str(vqvae_run), "--out", str(run)]
    assert main([*argv, "--config", str(TINY), "--max-steps", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "train/loss" in out and "val/loss" in out and "content_gru.ckpt" in out
    assert not (run / "model.safetensors").exists()  # an evaluation model, not one for the app

    nll = content_gru_test_nll(run, cache)
    cfg, model, sha = load_content_gru(run / "content_gru.ckpt")
    assert np.isfinite(nll) and 0 < nll < 2 * np.log(cfg.vqvae.codebook_size)
    # The same number, computed another way: every window of every test track in one padded batch.
    manifest = load_manifest(cache)
    tests = sorted((e for e in manifest["tracks"].values() if e["split"] == "test"), key=lambda e: e["id"])
    L, fpc = cfg.content_gru.window_codes, cfg.frames_per_code
    total, count = 0.0, 0
    for e in tests:
        codes = np.load(cache / e["dir"] / CODES_FILE).astype(np.int64)
        skel = np.load(cache / e["dir"] / "skeleton.npy")
        notes = np.load(cache / e["dir"] / "notes.npy").astype(np.int64)
        n_win = -(-len(codes) // L)
        c = np.zeros((n_win, L), np.int64)
        k = np.repeat(skel[-1:], n_win * L * fpc, axis=0)
        k[: len(skel)] = skel[: n_win * L * fpc]
        m = np.zeros(n_win * L * fpc, np.int64)
        m[: len(notes)] = notes[: n_win * L * fpc]
        c.reshape(-1)[: len(codes)] = codes
        lengths = np.minimum(L, len(codes) - L * np.arange(n_win))
        sk = torch.from_numpy(k.reshape(n_win, L * fpc, 3, 47).transpose(0, 2, 3, 1).copy())
        with torch.no_grad():
            logits, _ = model(torch.from_numpy(c), sk, torch.from_numpy(m.reshape(n_win, -1)))
        logp = torch.log_softmax(logits, -1).gather(-1, torch.from_numpy(c)[..., None])[..., 0]
        real = torch.arange(L)[None] < torch.from_numpy(lengths)[:, None]
        total += float(-(logp * real).sum())
        count += int(real.sum())
    assert nll == pytest.approx(total / count, rel=1e-5)
    assert content_gru_test_nll(run, cache, track_ids=[tests[0]["id"]]) != pytest.approx(nll)

    # Codes of another VQ-VAE in the cache: refused, not scored.
    index = cache / "codes.json"
    saved = index.read_text()
    try:
        index.write_text(saved.replace(sha, "0" * 64))
        with pytest.raises(InputError, match="another VQ-VAE"):
            content_gru_test_nll(run, cache)
    finally:
        index.write_text(saved)
    with pytest.raises(InputError, match="not a content-gru checkpoint"):
        content_gru_test_nll(vqvae_run / "vqvae.ckpt", cache)
