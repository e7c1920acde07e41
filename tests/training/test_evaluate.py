"""`minet-train evaluate` end to end on a tiny cache: the report, its numbers, resuming, refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_run import TINY, _make_cache

from minet_desktop.core.errors import InputError
from training.cli import main
from training.evaluate.run import INSTRUMENT_NAMES, EvalOptions, Evaluation, load_test_tracks

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny cache, a VQ-VAE and an MI Net bundle trained for a few steps through the CLI."""
    root = tmp_path_factory.mktemp("eval")
    cache = _make_cache(root, [("vn", "vc"), ("fl", "cl"), ("vn", "fl"), ("vc", "cl"), ("vn", "cl")])
    vq, prior, bundle = root / "vq", root / "prior", root / "minet.safetensors"
    common = ["--config", str(TINY), "--max-steps", "2", "--no-progress"]
    assert main(["vqvae", "--cache", str(cache), "--out", str(vq), *common]) == 0
    assert main(["prior", "--cache", str(cache), "--vqvae", str(vq), "--out", str(prior), *common]) == 0
    assert main(["bundle", "--prior", str(prior), "--vqvae", str(vq), "-o", str(bundle)]) == 0
    return {"root": root, "cache": cache, "vq": vq, "bundle": bundle}


def _evaluate(trained: dict[str, Path], out: Path) -> dict:
    argv = [
        "evaluate",
        str(trained["bundle"]),
        "--cache",
        str(trained["cache"]),
        "--out",
        str(out),
        "--ndb-k",
        "3",
        "--takes",
        "2",
        "--griffin-lim-iters",
        "4",
        "--audio-seconds",
        "2",
        "--vqvae-ablation",
        str(trained["vq"]),
        str(trained["vq"]),
    ]
    assert main(argv) == 0
    return json.loads((out / "results.json").read_text())


def test_the_report_holds_every_table_with_sane_numbers(trained: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report"
    res = _evaluate(trained, out)
    rows = {r["name"]: r for r in res["rows"]}
    assert set(rows) == {
        "Test set (ground-truth renders)",
        "Test set through Griffin-Lim",
        "Test set through the VQ-VAE",
        "Multi-Instrumentalist Net",
        "Instrument judge on a soundfont it never heard",
    }
    real, oracle, minet = (
        rows["Test set (ground-truth renders)"],
        rows["Test set through Griffin-Lim"],
        rows["Multi-Instrumentalist Net"],
    )
    vq = rows["Test set through the VQ-VAE"]
    # The recording against itself: no log-mel error, every segment the classifier saw in training is a tone
    # of a different pitch per instrument, so the real audio is identified.
    assert real["logmel_mse"] == pytest.approx(0.0, abs=1e-3)
    assert oracle["logmel_mse"] > real["logmel_mse"]
    # The VQ-VAE row: the recording's own codes decoded, one sample per segment, the same tracks as the real row.
    assert vq["n_samples"] == real["n_samples"] and vq["bundle"] and 0 <= vq["ndb"] <= 3
    assert vq["logmel_mse"] > real["logmel_mse"] and 0.0 <= vq["instrument_accuracy"] <= 1.0
    assert 0 <= minet["ndb"] <= 3 and 0 <= real["ndb"] <= 3
    # 4 test tracks x 2 s, 1-s segments: 8 real samples, 2 takes of each for the model.
    assert real["n_samples"] == 8 and minet["n_samples"] == 16
    assert 0.0 <= minet["knn_accuracy"] <= 1.0 and set(minet["knn_per_class"]) <= {"vn", "vc", "fl", "cl"}
    # The cached "recordings" are steady tones under a rising score: voiced throughout, in tune with some notes.
    assert real["voicing_recall"] > 0.8 and 0.0 < real["pitch_accuracy"] < 0.6
    assert 0.0 <= minet["instrument_accuracy"] <= 1.0
    # The judge scores the same segments beside the previous classifier, and brings its own reference row.
    assert 0.0 <= minet["judge_accuracy"] <= 1.0 and 0.0 <= real["judge_accuracy"] <= 1.0
    assert rows["Instrument judge on a soundfont it never heard"]["judge_accuracy"] >= 0.8
    assert minet["rtf"] > 0
    l2 = res["extra"]["vqvae_l2"]
    assert l2["with MBR"]["l2"] == pytest.approx(l2["without MBR"]["l2"])  # the same run twice
    assert (
        np.isfinite(res["extra"]["prior_nll"]["Multi-Instrumentalist Net"])
        and res["extra"]["prior_nll"]["Multi-Instrumentalist Net"] > 0
    )
    readme = (out / "README.md").read_text()
    for heading in ("## Main table", "## Movement embeddings", "## VQ-VAE", "## Prior NLL"):
        assert heading in readme
    assert "minet-train evaluate" in readme  # the command that reproduces it
    assert (out / "tsne_minet.png").stat().st_size > 1000

    # A second run resumes from the work folder and reproduces the numbers.
    again = _evaluate(trained, out)
    assert [r["ndb"] for r in again["rows"]] == [r["ndb"] for r in res["rows"]]
    again_rows = {r["name"]: r for r in again["rows"]}
    assert again_rows["Multi-Instrumentalist Net"]["logmel_mse"] == pytest.approx(minet["logmel_mse"])
    assert again_rows["Test set through the VQ-VAE"]["logmel_mse"] == pytest.approx(vq["logmel_mse"])


def test_a_cache_whose_recordings_are_gone_is_refused_naming_the_track(
    trained: dict[str, Path], tmp_path: Path
):
    cache = trained["cache"]
    manifest = json.loads((cache / "manifest.json").read_text())
    test_ids = [k for k, e in manifest["tracks"].items() if e["split"] == "test"]
    e = manifest["tracks"][test_ids[0]]
    for s in e["sources"]:
        if s["path"].endswith(".wav"):
            s["path"] = str(tmp_path / "gone.wav")
    broken = tmp_path / "cache"
    broken.mkdir()
    for item in cache.iterdir():
        (broken / item.name).symlink_to(item)
    (broken / "manifest.json").unlink()
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="recording"):
        load_test_tracks(broken)
    assert len(load_test_tracks(cache)) == 4


def test_options_bound_the_work(trained: dict[str, Path], tmp_path: Path) -> None:
    ev = Evaluation(trained["cache"], tmp_path / "r", EvalOptions(max_tracks=1, ndb_k=2))
    assert len(ev.tracks) == 1


def test_the_demo_check_hears_each_demo_and_its_recording_through_the_vqvae(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    """The demo table: what the model's rendering of each demo is heard as, and (the ceiling) what the demo's own
    recording is heard as once it has been through the model's VQ-VAE."""
    import dataclasses

    import soundfile as sf

    from minet_desktop.core.atomic import file_sha256
    from minet_desktop.pose.keypoint_file import KeypointFile, sidecar_path

    ev = Evaluation(
        trained["cache"], tmp_path / "out", EvalOptions(ndb_k=3, griffin_lim_iters=4), log=lambda s: None
    )
    track = next(t for t in ev.tracks if t.instrument == "vn")
    demos = tmp_path / "demos"
    demos.mkdir()
    video = demos / "violin.mp4"
    video.write_bytes(b"stands in for the rendered video: the keypoint sidecar is what is read")
    kf = KeypointFile.load(track.keypoints)
    dataclasses.replace(kf, source_sha256=file_sha256(video)).save(sidecar_path(video))
    wave, sr = sf.read(track.audio, dtype="float32")
    sf.write(demos / "violin.wav", wave, sr)
    (demos / "notes.txt").write_text("not a demo: ignored")

    out = ev.demo_check([trained["bundle"]], demos)
    assert len(out) == 1
    d = out[0]
    assert (
        d["demo"] == "violin.mp4"
        and d["instrument"] == "violin"
        and d["model"] == "Multi-Instrumentalist Net"
    )
    assert 0.0 <= d["share"] <= 1.0 and 0.0 <= d["vqvae_share"] <= 1.0
    # The previous classifier only knows the tiny cache's instruments; the shipped judge knows all 13.
    names = {"violin", "cello", "flute", "clarinet"}
    assert d["classifier_heard"] in names and d["vqvae_classifier_heard"] in names
    assert d["heard"] in INSTRUMENT_NAMES.values() and d["vqvae_heard"] in INSTRUMENT_NAMES.values()
    assert 0.0 <= d["classifier_share"] <= 1.0
    assert ev.extra["demos"] == out


def test_hard_views_rows_use_every_track_of_the_second_cache(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    hard = _make_cache(tmp_path / "hard", [("vc", "vn"), ("cl", "fl")])
    out = tmp_path / "hard_report"
    base = ["evaluate", str(trained["bundle"]), "--cache", str(trained["cache"]), "--out", str(out)]
    assert main([*base, "--hard-views-only"]) != 0  # needs the second cache
    assert main([*base, "--griffin-lim-iters", "4", "--hard-views", str(hard), "--hard-views-only"]) == 0
    res = json.loads((out / "results.json").read_text())
    rows = {r["name"]: r for r in res["rows"]}
    assert set(rows) == {"Hard views (ground-truth renders)", "Multi-Instrumentalist Net"}
    minet, real = rows["Multi-Instrumentalist Net"], rows["Hard views (ground-truth renders)"]
    # all four tracks of the hard cache are queries, whatever split its own prepare gave them
    assert res["extra"]["hard_views"]["n_tracks"] == 4
    assert set(minet["hard_knn_per_class"]) == {"vn", "vc", "fl", "cl"}
    assert set(minet["hard_instrument_per_class"]) == {"vn", "vc", "fl", "cl"}
    assert 0.0 <= minet["hard_knn_accuracy"] <= 1.0 and 0.0 <= minet["hard_instrument_accuracy"] <= 1.0
    assert real["hard_instrument_accuracy"] is not None and real["hard_knn_accuracy"] is None
    assert minet["ndb"] is None and minet["instrument_accuracy"] is None  # the test split was skipped
    readme = (out / "README.md").read_text()
    assert "## Hard views (synthetic)" in readme and "KNN hard" in readme
    # A re-run reads the generated tracks back.
    work = sorted((out / "work").glob("hard-minet-*/*.npy"))
    assert len(work) == 4
    assert main([*base, "--griffin-lim-iters", "4", "--hard-views", str(hard), "--hard-views-only"]) == 0
    again = {r["name"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    assert again["Multi-Instrumentalist Net"]["hard_instrument_accuracy"] == minet["hard_instrument_accuracy"]


def test_the_validation_split_can_be_evaluated_to_choose_a_setting(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    """`--split val`: a setting is chosen on the validation split without looking at the test split."""
    from training.cache import load_manifest

    tracks = load_manifest(trained["cache"])["tracks"]
    val = {t for t, e in tracks.items() if e["split"] == "val"}
    test = {t for t, e in tracks.items() if e["split"] == "test"}
    assert val and test and len(val) != len(test)  # 2 and 4: the counts tell the splits apart
    ev = Evaluation(trained["cache"], tmp_path / "r", EvalOptions(), split="val")
    assert {t.id for t in ev.tracks} == val
    out = tmp_path / "val_report"
    argv = ["evaluate", str(trained["bundle"]), "--cache", str(trained["cache"]), "--out", str(out)]
    assert main([*argv, "--split", "val", "--ndb-k", "2", "--takes", "1", "--griffin-lim-iters", "2"]) == 0
    assert json.loads((out / "results.json").read_text())["n_test_tracks"] == len(val)
