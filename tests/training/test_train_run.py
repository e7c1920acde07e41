"""`minet-train vqvae / prior / bundle` on a tiny cache: real config file, exact resume, NaN stop, refusals, DDP."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from test_cache import notes_from, synthetic_keypoints, tone

from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.model.bundle import load_bundle
from minet_desktop.model.vqvae import VQVAE
from training.cache import load_manifest, prepare
from training.cli import main
from training.datasets.urmp import write_urmp_piece
from training.train.callbacks import TrainingDiverged
from training.train.checkpoints import load_vqvae, read_checkpoint
from training.train.config import RECIPES_DIR, load_recipe, with_overrides
from training.train.data import (
    CODES_FILE,
    CODES_INDEX,
    PriorCropDataset,
    TrainingDataWarning,
    check_codes,
    codes_fingerprint,
    precompute_codes,
    vqvae_fingerprint,
)
from training.train.run import train_decoder, train_prior, train_vqvae

TINY = RECIPES_DIR / "tiny.toml"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _make_cache(root: Path, pairs: list[tuple[str, str]]) -> Path:
    for i, (a, b) in enumerate(pairs, start=1):
        write_urmp_piece(
            root / "data",
            i,
            f"Piece{i}",
            [
                (a, tone(2, 440), 16_000, notes_from(69, 2), synthetic_keypoints(2, seed=2 * i)),
                (b, tone(2, 220), 16_000, notes_from(57, 2), synthetic_keypoints(2, seed=2 * i + 1)),
            ],
        )
    prepare(root / "data", root / "cache")
    return root / "cache"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five two-player pieces (2 s each): 4 train tracks, 2 val, 4 test."""
    root = tmp_path_factory.mktemp("train")
    return _make_cache(root, [("vn", "vc"), ("fl", "cl"), ("vn", "fl"), ("vc", "cl"), ("vn", "cl")])


@pytest.fixture(scope="module")
def vqvae_run(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VQ-VAE trained for 2 steps from the real tiny recipe, through the CLI."""
    run = tmp_path_factory.mktemp("vq") / "vq"
    argv = ["vqvae", "--cache", str(cache), "--out", str(run), "--config", str(TINY), "--max-steps", "2"]
    assert main([*argv, "--no-progress"]) == 0
    return run


def test_one_training_step_of_each_stage_runs_from_the_real_config_file(
    cache: Path, vqvae_run: Path, tmp_path: Path, capsys
):
    assert (vqvae_run / "vqvae.ckpt").is_file() and (vqvae_run / "checkpoints" / "last.ckpt").is_file()
    metrics = (vqvae_run / "logs" / "version_0" / "metrics.csv").read_text()
    assert "train/recon" in metrics and "train/perplexity" in metrics and "val/loss" in metrics
    assert list((vqvae_run / "tensorboard").rglob("events.out.tfevents.*")), "no TensorBoard log written"
    capsys.readouterr()
    run = tmp_path / "prior"
    argv = [
        "prior",
        "--cache",
        str(cache),
        "--vqvae",
        str(vqvae_run),
        "--out",
        str(run),
        "--config",
        str(TINY),
    ]
    assert main([*argv, "--max-steps", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "model bundle" in out and "train/loss" in out
    bundle = load_bundle(run / "model.safetensors")
    assert bundle.cfg.model_type == "minet" and "4 tracks" in bundle.model_card
    # The bundle's VQ-VAE is the trained one, bit for bit, and the prior generates codes for it.
    _, vq = load_vqvae(vqvae_run / "vqvae.ckpt")
    assert vqvae_fingerprint(bundle.vqvae) == vqvae_fingerprint(vq)
    h, _ = bundle.movement(torch.zeros(1, 3, 47, 16))
    codes = bundle.prior.generate(h, 12, generator=torch.Generator().manual_seed(0))
    assert codes.shape == (1, 12) and int(codes.max()) < bundle.cfg.vqvae.codebook_size
    assert bundle.vqvae.decode(codes).shape == (1, 1024, 24)

    # minet-train bundle writes the same tensors from the checkpoint; a different VQ-VAE is refused.
    other = tmp_path / "other.safetensors"
    assert main(["bundle", "--prior", str(run), "--vqvae", str(vqvae_run), "-o", str(other)]) == 0
    again = load_bundle(other)
    for name, module in bundle.modules().items():
        mine = again.modules()[name].state_dict()
        assert all(torch.equal(v, mine[k]) for k, v in module.state_dict().items())
    assert (
        main(["bundle", "--prior", str(run), "--vqvae", str(run / "model.safetensors"), "-o", str(other)])
        == 0
    )
    capsys.readouterr()
    code = main(["bundle", "--prior", str(vqvae_run / "vqvae.ckpt"), "-o", str(tmp_path / "x.safetensors")])
    assert code == 2 and "not a prior checkpoint" in capsys.readouterr().err


def test_midi_content_prior_trains_on_the_notes(cache: Path, vqvae_run: Path, tmp_path: Path):
    recipe = load_recipe(TINY)
    train = with_overrides(recipe.train("prior"), max_steps=1)
    result = train_prior(cache, vqvae_run, tmp_path / "midi", recipe, train, content=True, progress=False)
    bundle = load_bundle(result.bundle)
    assert bundle.cfg.model_type == "minet_midi" and bundle.cfg.content is not None
    assert bundle.cfg.content.aligned_dim > 0  # the recipes give each code its own notes (CodeNotes)


def test_codes_are_precomputed_once_and_recomputed_for_another_vqvae(cache: Path, vqvae_run: Path):
    cfg, vq = load_vqvae(vqvae_run)
    fp = codes_fingerprint(vq)
    precompute_codes(cache, vq, fp)
    assert precompute_codes(cache, vq, fp) == 0  # up to date
    entry = next(iter(load_manifest(cache)["tracks"].values()))
    codes = np.load(cache / entry["dir"] / CODES_FILE)
    assert codes.shape == (-(-entry["n_frames"] // cfg.frames_per_code),)
    spec = torch.from_numpy(np.load(cache / entry["dir"] / "spec.npy").T.astype(np.float32))[None]
    assert torch.equal(torch.from_numpy(codes.astype(np.int64)), vq.encode(spec)[0])
    # Crops line up: n codes, n * frames_per_code skeleton and note frames from the same instant.
    ds = PriorCropDataset(cache, "train", 16, cfg.frames_per_code, seed=3)
    item = ds[0]
    assert (
        item["codes"].shape == (16,)
        and item["skeleton"].shape == (3, 47, 32)
        and item["notes"].shape == (32,)
    )
    tid = ds.entries[0]
    start = int(item["start"])
    full = np.load(cache / tid["dir"] / CODES_FILE)
    assert np.array_equal(
        item["codes"][: int(item["length"])].numpy(), full[start : start + int(item["length"])]
    )
    kp = np.load(cache / tid["dir"] / "skeleton.npy")
    assert np.array_equal(item["skeleton"][..., 0].numpy(), kp[start * cfg.frames_per_code])

    # Another decoder, same encoder and codebook: the codes stay, and both VQ-VAEs are known to give them.
    redecoded = load_vqvae(vqvae_run)[1]
    with torch.no_grad():
        redecoded.decoder.conv_out.bias.add_(1.0)
    assert codes_fingerprint(redecoded) == fp != vqvae_fingerprint(redecoded)
    assert precompute_codes(cache, redecoded, fp) == 0
    for known in (fp, vqvae_fingerprint(vq), vqvae_fingerprint(redecoded)):
        check_codes(cache, known)
    # An index written before the codes fingerprint existed (named by the whole VQ-VAE) is still good.
    index = json.loads((cache / CODES_INDEX).read_text())
    legacy = {"vqvae_sha256": vqvae_fingerprint(vq), "frames_per_code": index["frames_per_code"]}
    (cache / CODES_INDEX).write_text(json.dumps({**legacy, "tracks": index["tracks"]}))
    assert precompute_codes(cache, vq, fp) == 0

    other = load_vqvae(vqvae_run)[1]
    with torch.no_grad():
        other.quantizer.codebook.mul_(-1.0)
    assert precompute_codes(cache, other, codes_fingerprint(other)) == len(load_manifest(cache)["tracks"])
    with pytest.raises(InputError, match="another VQ-VAE"):
        check_codes(cache, fp)
    precompute_codes(cache, vq, fp)  # leave the fixture's codes as they were


class _Kill(Callback):
    """Dies like a killed process: an exception at the start of step ``at``, no clean-up, no save."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.at:
            raise RuntimeError("killed")


def _losses(run: Path) -> dict[int, float]:
    out = {}
    for csv in sorted((run / "logs").glob("version_*/metrics.csv")):
        lines = csv.read_text().splitlines()
        cols = lines[0].split(",")
        for line in lines[1:]:
            row = dict(zip(cols, line.split(","), strict=True))
            if row.get("train/loss"):
                out[int(row["step"])] = float(row["train/loss"])
    return out


def _with_head(recipe, width: int):
    return replace(recipe, model=replace(recipe.model, vqvae=replace(recipe.model.vqvae, decoder_head=width)))


def test_the_decoder_stage_keeps_every_code_and_the_prior_bundles_with_it(
    cache: Path, vqvae_run: Path, tmp_path: Path, capsys
):
    recipe = _with_head(load_recipe(TINY), 16)
    (tmp_path / "head.toml").write_text(
        TINY.read_text().replace("[model.vqvae]", "[model.vqvae]\ndecoder_head = 16", 1)
    )
    # The VQ-VAE stage trains the paper's decoder whatever the recipe's head: the head is the decoder stage's.
    one_step = with_overrides(recipe.train("vqvae"), max_steps=1)
    plain = train_vqvae(cache, tmp_path / "vq", recipe, one_step, progress=False)
    assert load_vqvae(plain.checkpoint)[0].vqvae.decoder_head == 0
    argv = ["decoder", "--cache", str(cache), "--vqvae", str(vqvae_run), "--out", str(tmp_path / "dec")]
    assert main([*argv, "--config", str(tmp_path / "head.toml"), "--max-steps", "3", "--no-progress"]) == 0
    _, before = load_vqvae(vqvae_run)
    cfg, after = load_vqvae(tmp_path / "dec")
    assert cfg.vqvae.decoder_head == 16 and after.decoder.head is not None
    assert cfg.vqvae == replace(before.cfg, decoder_head=16)
    # Encoder, codebook and normalisation untouched (EMA and restarts off), the decoder and its head trained.
    assert codes_fingerprint(after) == codes_fingerprint(before)
    assert vqvae_fingerprint(after) != vqvae_fingerprint(before)
    assert after.decoder.head.conv2.weight.abs().sum() > 0
    assert not torch.equal(after.decoder.conv_out.weight, before.decoder.conv_out.weight)
    entry = next(iter(load_manifest(cache)["tracks"].values()))
    spec = torch.from_numpy(np.load(cache / entry["dir"] / "spec.npy").T.astype(np.float32))[None]
    assert torch.equal(after.encode(spec), before.encode(spec))

    # A prior trained on the old VQ-VAE's codes is bundled with the new decoder, and its codes decode with it.
    recipe_prior = load_recipe(TINY)
    one_step = with_overrides(recipe_prior.train("prior"), max_steps=1)
    prior = train_prior(cache, vqvae_run, tmp_path / "prior", recipe_prior, one_step, progress=False)
    out = tmp_path / "new.safetensors"
    capsys.readouterr()
    assert (
        main(["bundle", "--prior", str(prior.run_dir), "--vqvae", str(tmp_path / "dec"), "-o", str(out)]) == 0
    )
    bundle = load_bundle(out)
    assert bundle.cfg.vqvae.decoder_head == 16 and vqvae_fingerprint(bundle.vqvae) == vqvae_fingerprint(after)
    codes = after.encode(spec)
    assert torch.allclose(bundle.vqvae.decode(codes), after.decode(codes))
    # A VQ-VAE with another encoder and codebook would give the prior's codes another meaning: refused.
    code = main(["bundle", "--prior", str(prior.run_dir), "--vqvae", str(tmp_path / "vq"), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "vq" in err and "does not share" in err
    # A source with another head width than the recipe's is named, not half-loaded.
    with pytest.raises(InputError, match="decoder_head = 16"):
        train_decoder(cache, tmp_path / "dec", tmp_path / "dec2", _with_head(recipe, 8), progress=False)


def test_an_output_head_added_to_a_trained_decoder_changes_nothing_until_it_learns(vqvae_run: Path):
    _, vq = load_vqvae(vqvae_run)
    wider = VQVAE(replace(vq.cfg, decoder_head=32)).eval()
    missing, unexpected = wider.load_state_dict(vq.state_dict(), strict=False)
    assert not unexpected and sorted(missing) == [
        "decoder.head.conv1.bias",
        "decoder.head.conv1.weight",
        "decoder.head.conv2.bias",
        "decoder.head.conv2.weight",
    ]
    codes = torch.randint(0, vq.cfg.codebook_size, (2, 5))
    assert torch.equal(wider.decode(codes), vq.decode(codes))
    with pytest.raises(ConfigError, match="decoder_head"):
        replace(vq.cfg, decoder_head=-1)


@pytest.mark.parametrize("stage", ["vqvae", "decoder", "prior"])
def test_resuming_after_a_kill_continues_exactly(cache: Path, vqvae_run: Path, tmp_path: Path, stage: str):
    recipe = load_recipe(TINY)
    # Dropout draws from the global RNG, as the codebook's dead-code restarts do: both must resume exactly.
    model = replace(recipe.model, prior=replace(recipe.model.prior, dropout=0.1))
    recipe = _with_head(replace(recipe, model=model), 8)
    # 2 steps per epoch would put every checkpoint on an epoch boundary: batch 2 gives 4, so the checkpoint
    # at step 2 is mid-epoch; validation at step 3 runs in between.
    train = with_overrides(recipe.train(stage), batch_size=2, max_steps=7, ckpt_every=2, val_every=3)

    def run(out: Path, **kw):
        if stage == "vqvae":
            return train_vqvae(cache, out, recipe, train, progress=False, **kw)
        if stage == "decoder":
            return train_decoder(cache, vqvae_run, out, recipe, train, progress=False, **kw)
        return train_prior(cache, vqvae_run, out, recipe, train, progress=False, **kw)

    whole = run(tmp_path / "whole")
    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path / "cut", callbacks=[_Kill(3)])
    with pytest.raises(InputError, match="--resume"):
        run(tmp_path / "cut")
    resumed = run(tmp_path / "cut", resume=True)
    assert whole.global_step == resumed.global_step == 7
    a, b = _losses(tmp_path / "whole"), _losses(tmp_path / "cut")
    assert sorted(b) == list(range(7)) and all(a[s] == b[s] for s in range(2, 7)), (a, b)
    wa = read_checkpoint(whole.checkpoint)["state_dict"]
    wb = read_checkpoint(resumed.checkpoint)["state_dict"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_falls_back_to_the_newest_readable_checkpoint(cache: Path, tmp_path: Path, capsys):
    """A kill while last.ckpt was written leaves it corrupt: --resume continues from the step checkpoint and
    says so; with no checkpoint at all it is an error, never a silent restart from step 0."""
    recipe = load_recipe(TINY)
    train = with_overrides(recipe.train("vqvae"), batch_size=2, max_steps=5, ckpt_every=2, val_every=3)
    whole = train_vqvae(cache, tmp_path / "whole", recipe, train, progress=False)
    with pytest.raises(RuntimeError, match="killed"):
        train_vqvae(cache, tmp_path / "cut", recipe, train, progress=False, callbacks=[_Kill(3)])
    ckpts = tmp_path / "cut" / "checkpoints"
    last = ckpts / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])  # cut off mid-write
    capsys.readouterr()
    resumed = train_vqvae(cache, tmp_path / "cut", recipe, train, resume=True, progress=False)
    err = capsys.readouterr().err
    assert "last.ckpt" in err and "resuming from step" in err
    assert resumed.global_step == whole.global_step == 5
    wa = read_checkpoint(whole.checkpoint)["state_dict"]
    wb = read_checkpoint(resumed.checkpoint)["state_dict"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)

    for f in ckpts.glob("*.ckpt"):
        f.unlink()
    with pytest.raises(InputError, match="no checkpoint to continue from"):
        train_vqvae(cache, tmp_path / "cut", recipe, train, resume=True, progress=False)


def test_resume_with_another_model_is_refused(cache: Path, tmp_path: Path):
    recipe = load_recipe(TINY)
    train = with_overrides(recipe.train("vqvae"), max_steps=1)
    train_vqvae(cache, tmp_path / "run", recipe, train, progress=False)
    wider = replace(recipe, model=replace(recipe.model, vqvae=replace(recipe.model.vqvae, channels=64)))
    with pytest.raises(ConfigError, match="vqvae.channels: expected 32, found 64"):
        train_vqvae(cache, tmp_path / "run", wider, train, resume=True, progress=False)


def test_a_nan_loss_stops_naming_step_and_tracks_and_keeps_the_last_good_checkpoint(tmp_path: Path):
    cache = _make_cache(tmp_path, [("vn", "vc"), ("fl", "cl"), ("vn", "fl"), ("vc", "cl"), ("vn", "cl")])
    recipe = load_recipe(TINY)
    train = with_overrides(recipe.train("vqvae"), max_steps=2, ckpt_every=2)
    run = tmp_path / "run"
    train_vqvae(cache, run, recipe, train, progress=False)
    last = run / "checkpoints" / "last.ckpt"
    good = last.read_bytes()
    # A damaged cache: every training track's spectrogram turns to NaN.
    train_ids = []
    for e in load_manifest(cache)["tracks"].values():
        if e["split"] == "train":
            spec = np.load(cache / e["dir"] / "spec.npy", mmap_mode="r+")
            spec[:] = np.nan
            spec.flush()
            del spec
            train_ids.append(e["id"])
    more = with_overrides(train, max_steps=4)
    with pytest.raises(TrainingDiverged) as err:
        train_vqvae(cache, run, recipe, more, resume=True, progress=False)
    msg = str(err.value)
    assert "loss is nan at step 2" in msg and "batch 0" in msg
    assert "non-finite input in" in msg and any(t in msg for t in train_ids)
    assert last.read_bytes() == good and read_checkpoint(last)["global_step"] == 2
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["best.ckpt", "last.ckpt", "step0000002.ckpt"]


def test_a_cache_with_other_audio_settings_is_refused_naming_them(cache: Path, tmp_path: Path, capsys):
    recipe = tmp_path / "hop512.toml"
    recipe.write_text(TINY.read_text() + "\n[model.audio]\nhop_length = 512\n")
    argv = ["vqvae", "--cache", str(cache), "--out", str(tmp_path / "r"), "--config", str(recipe)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(cache) in err and "audio.hop_length: expected 512, found 256" in err
    assert not (tmp_path / "r").exists()
    with pytest.raises(ConfigError, match="hop_length"):
        train_vqvae(cache, tmp_path / "r", load_recipe(recipe), progress=False)


def test_one_instrument_trains_with_a_warning(tmp_path: Path):
    cache = _make_cache(tmp_path, [("vn", "vn"), ("vn", "vn"), ("vn", "vn")])
    recipe = load_recipe(TINY)
    train = with_overrides(recipe.train("vqvae"), max_steps=1)
    with pytest.warns(TrainingDataWarning, match=r"one instrument only \(vn\)"):
        result = train_vqvae(cache, tmp_path / "run", recipe, train, progress=False)
    assert result.global_step == 1 and result.checkpoint.is_file()


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.ckpt"
    with open(evil, "wb") as fh:
        pickle.dump({"state_dict": {}, "x": _Payload()}, fh, protocol=2)
    with pytest.raises(InputError, match="evil.ckpt: not a readable training checkpoint"):
        load_vqvae(evil)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.slow
def test_two_process_ddp_on_cpu_finishes_and_yields_a_loadable_bundle(
    cache: Path, vqvae_run: Path, tmp_path: Path
):
    run = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "training.cli", "prior", "--cache", str(cache), "--vqvae", str(vqvae_run),
        "--out", str(run), "--config", str(TINY), "--max-steps", "2", "--devices", "2", "--strategy", "ddp",
        "--accelerator", "cpu", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "Starting with 2 processes" in proc.stderr + proc.stdout
    bundle = load_bundle(run / "model.safetensors")
    h, _ = bundle.movement(torch.zeros(1, 3, 47, 8))
    assert bundle.prior.generate(h, 4).shape == (1, 4)
    assert read_checkpoint(run / "prior.ckpt")["global_step"] == 2
