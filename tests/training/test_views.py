"""Camera views of a synthetic corpus (``minet-train views``), multi-view pretraining of the movement encoder
(``minet-train movement``) and the prior's camera views and view contrast."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from minet_desktop.core.errors import InputError
from minet_desktop.pose.keypoint_file import KeypointFile
from training.cli import main

TINY = Path(__file__).resolve().parents[2] / "training" / "recipes" / "tiny.toml"

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus_cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny synthetic corpus (every track in one split is not guaranteed: the split is by piece) and its cache,
    with every track moved to the training split so that the views have something to film."""
    from training.cache import prepare
    from training.synth.corpus import generate

    root = tmp_path_factory.mktemp("views")
    corpus, cache = root / "corpus", root / "cache"
    generate(
        corpus, minutes=4 * 6.5 / 60, instruments="vn,fl,tpt,vc", seed=5, track_seconds=(5.0, 7.0), workers=1
    )
    prepare(corpus, cache, workers=1)
    m = json.loads((cache / "manifest.json").read_text())
    for e in m["tracks"].values():
        e["split"] = "train"
    (cache / "manifest.json").write_text(json.dumps(m))
    return corpus, cache


def test_views_replay_the_performance_and_film_it_again(corpus_cache, capsys) -> None:
    corpus, cache = corpus_cache
    assert main(["views", str(corpus), "--cache", str(cache), "--n", "2", "--quiet"]) == 0
    assert "2 more view(s) each" in capsys.readouterr().out
    index = json.loads((cache / "views.json").read_text())
    man = json.loads((cache / "manifest.json").read_text())["tracks"]
    assert index["n_views"] == 2 and set(index["tracks"]) == set(man)
    for tid, v in index["tracks"].items():
        views = np.load(cache / v["file"])
        skel = np.load(cache / man[tid]["dir"] / "skeleton.npy")
        assert views.shape == (3, *skel.shape) and views.dtype == np.float16
        np.testing.assert_allclose(views[0], skel, atol=2e-2, rtol=1e-2)  # view 0: the cache's own
        for k in (1, 2):  # another camera: the same frames, other coordinates
            assert np.abs(views[k, :, :2].astype(np.float32) - skel[:, :2]).mean() > 0.05
        assert np.isfinite(views.astype(np.float32)).all()
    # The same seed films the same views (every stream is a function of the seeds).
    first = {t: np.load(cache / v["file"]) for t, v in index["tracks"].items()}
    assert main(["views", str(corpus), "--cache", str(cache), "--n", "2", "--quiet"]) == 0
    for t, v in index["tracks"].items():
        assert np.array_equal(np.load(cache / v["file"]), first[t])


def test_views_refuse_a_corpus_whose_keypoints_are_not_what_its_seed_performs(corpus_cache, tmp_path) -> None:
    import shutil

    from training.synth.views import write_views

    corpus, cache = corpus_cache
    other = tmp_path / "corpus"
    shutil.copytree(corpus, other)
    kp_path = sorted(other.rglob("Kp_*.npz"))[0]
    kf = KeypointFile.load(kp_path)
    kp = kf.keypoints.copy()
    kp[:, 0] += 1.0  # another performance than the seed's
    replace(kf, keypoints=kp).save(kp_path)
    cache2 = tmp_path / "cache"
    shutil.copytree(cache, cache2)
    with pytest.raises(InputError) as err:
        write_views(other, cache2, n_views=1)
    assert kp_path.name in str(err.value) and "differs" in str(err.value)
    with pytest.raises(InputError, match="synth.json"):
        write_views(tmp_path / "nowhere", cache2)


@pytest.fixture(scope="module")
def vq_run(corpus_cache, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The views written (two per track) and a VQ-VAE trained for one step on the tiny cache."""
    corpus, cache = corpus_cache
    if not (cache / "views.json").is_file():
        assert main(["views", str(corpus), "--cache", str(cache), "--n", "2", "--quiet"]) == 0
    vq = tmp_path_factory.mktemp("vq") / "vq"
    argv = ["vqvae", "--cache", str(cache), "--out", str(vq), "--config", str(TINY), "--max-steps", "1"]
    assert main([*argv, "--no-progress"]) == 0
    return vq


def test_movement_pretraining_resumes_and_starts_the_prior(corpus_cache, vq_run, tmp_path, capsys) -> None:
    from training.train.multiview import CKPT_NAME, OUT_NAME

    corpus, cache = corpus_cache
    out = tmp_path / "movement"
    argv = ["movement", "--cache", str(cache), "--out", str(out), "--config", str(TINY), "--batch", "4"]
    assert main([*argv, "--steps", "2"]) == 0
    state = torch.load(out / CKPT_NAME, weights_only=True)
    assert state["step"] == 2
    assert main([*argv, "--steps", "3", "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert torch.load(out / CKPT_NAME, weights_only=True)["step"] == 3
    from safetensors.torch import load_file

    tensors = load_file(str(out / OUT_NAME))
    assert tensors and all(k.startswith("movement.") for k in tensors)

    # The prior starts from it, trains with camera views and the view contrast; the head stays out of the bundle.
    vq = vq_run
    run = tmp_path / "prior"
    base = ["prior", "--cache", str(cache), "--vqvae", str(vq), "--config", str(TINY), "--out"]
    argv = [*base, str(run)]
    assert (
        main(
            [
                *argv,
                "--init-movement",
                str(out / OUT_NAME),
                "--view-contrast",
                "0.5",
                "--max-steps",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    metrics = next(run.rglob("metrics.csv")).read_text()
    assert "train/view_contrast" in metrics and "train/nll" in metrics
    from safetensors import safe_open

    with safe_open(str(run / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert not any(k.startswith("view_head") for k in keys) and any(k.startswith("movement.") for k in keys)
    # Frozen: the bundle's movement encoder is the pretrained one, tensor for tensor; the prior alone learnt.
    frozen = tmp_path / "frozen"
    flags = ["--init-movement", str(out / OUT_NAME), "--camera-views", "--freeze-movement"]
    assert main([*base, str(frozen), *flags, "--max-steps", "1", "--no-progress"]) == 0
    got = load_file(str(frozen / "model.safetensors"))
    assert all(torch.equal(got[k], v) for k, v in tensors.items())
    capsys.readouterr()
    assert main([*base, str(tmp_path / "p5"), *flags, "--view-contrast", "1", "--max-steps", "1"]) == 2
    assert "freeze_movement" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "p6"), "--freeze-movement", "--max-steps", "1"]) == 2
    assert "--init-movement" in capsys.readouterr().err
    # A file without a movement encoder of this size is refused, naming it.
    capsys.readouterr()
    assert (
        main(
            [
                *argv[:-1],
                str(tmp_path / "p2"),
                "--init-movement",
                str(run / "model.safetensors"),
                "--max-steps",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                *argv[:-1],
                str(tmp_path / "p3"),
                "--init-movement",
                str(vq / "vqvae.ckpt"),
                "--max-steps",
                "1",
                "--no-progress",
            ]
        )
        == 2
    )
    assert "vqvae.ckpt" in capsys.readouterr().err


def test_prior_crops_are_drawn_from_the_views(corpus_cache, vq_run, tmp_path) -> None:
    import shutil

    from training.train.data import PriorCropDataset, precompute_codes
    from training.train.run import load_vqvae

    corpus, cache = corpus_cache
    vq = vq_run
    from training.train.data import vqvae_fingerprint

    cfg, model = load_vqvae(vq / "vqvae.ckpt")
    fpc = cfg.frames_per_code
    precompute_codes(cache, model, vqvae_fingerprint(model))
    plain = PriorCropDataset(cache, "train", 8, fpc, seed=1)
    viewed = PriorCropDataset(cache, "train", 8, fpc, seed=1, camera_views=True, pairs=True)
    n = len(plain)
    same = [np.array_equal(plain[i]["skeleton"], viewed[i]["skeleton"]) for i in range(n)]
    assert any(same) and not all(same)  # view 0 is the cache's own; the others another camera's
    for i in range(n):
        a, b = plain[i], viewed[i]
        assert torch.equal(a["codes"], b["codes"]) and torch.equal(a["notes"], b["notes"])
        assert b["skeleton"].shape == (3, 47, 8 * fpc) == a["skeleton"].shape
        assert b["skeleton_pair"].shape == b["skeleton"].shape and "skeleton_pair" not in a
    # Without views the crops keep their own skeleton, with a warning.
    bare = tmp_path / "bare"
    shutil.copytree(cache, bare, ignore=shutil.ignore_patterns("views*"))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ds = PriorCropDataset(bare, "train", 8, fpc, seed=1, camera_views=True)
    assert any("no views" in str(x.message) for x in w)
    assert all(np.array_equal(plain[i]["skeleton"], ds[i]["skeleton"]) for i in range(n))


def test_movement_without_views_names_the_missing_index(corpus_cache, tmp_path, capsys) -> None:
    import shutil

    _, cache = corpus_cache
    bare = tmp_path / "bare"
    shutil.copytree(cache, bare, ignore=shutil.ignore_patterns("views*"))
    argv = [
        "movement",
        "--cache",
        str(bare),
        "--out",
        str(tmp_path / "m"),
        "--config",
        str(TINY),
        "--steps",
        "1",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "views.json" in err and "minet-train views" in err and "Traceback" not in err
    assert not (tmp_path / "m" / "movement.safetensors").exists()
