"""`prepare` and CropDataset: aligned arrays, resumable runs, refused configs, piece splits, exact crops."""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from minet_desktop.core.config import AudioConfig, CacheConfig, to_dict
from minet_desktop.core.errors import Cancelled, ConfigError, InputError
from minet_desktop.media.audio_io import write_wav
from minet_desktop.media.midi import Note, synthesize_notes
from minet_desktop.pose.formats import write_solos
from minet_desktop.pose.keypoint_file import KeypointFile
from training.cache import (
    FORMAT_VERSION,
    CropDataset,
    load_manifest,
    n_crop_frames,
    prepare,
    split_pieces,
)
from training.datasets.base import GM_PROGRAMS, INSTRUMENT_CODES
from training.datasets.urmp import write_urmp_piece

SR = 16_000
LOG_FLOOR = math.log(AudioConfig().log_floor)


def synthetic_keypoints(seconds: float, fps: float = 30.0, seed: int = 0) -> KeypointFile:
    """Neck at (320, 200), shoulders at x = 270 / 370 (100 px apart), swaying; everything detected."""
    rng = np.random.default_rng(seed)
    T = int(round(seconds * fps))
    kp = np.zeros((T, 3, 47), np.float32)
    bx = 320 + rng.normal(0, 30, 47)
    by = 260 + rng.normal(0, 40, 47)
    bx[[0, 1, 4]], by[[0, 1, 4]] = (320, 270, 370), (200, 200, 200)
    t = np.arange(T) / fps
    kp[:, 0, :] = bx + 4 * np.sin(2 * np.pi * 0.5 * t)[:, None]
    kp[:, 1, :] = by
    kp[:, 2, :] = 0.9
    return KeypointFile(kp, fps, (640, 480), "", f"synthetic-{seed}", 1.0)


def notes_from(pitch: int, seconds: float) -> list[Note]:
    n = int(seconds / 0.45)
    return [Note(0.1 + 0.45 * i, 0.5 + 0.45 * i, pitch + i % 5, 90) for i in range(n)]


def tone(seconds: float, hz: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def make_corpus(root: Path) -> Path:
    """Five URMP pieces; one player rendered at 44.1 kHz, one 5-s pair, and three broken players."""
    kp = synthetic_keypoints
    write_urmp_piece(root, 1, "Jupiter", [
        ("vn", synthesize_notes(notes_from(67, 2), GM_PROGRAMS["vn"], SR, length=2 * SR), SR, notes_from(67, 2), kp(2, seed=1)),
        ("fl", synthesize_notes(notes_from(74, 2), GM_PROGRAMS["fl"], 44_100, length=2 * 44_100), 44_100,
         notes_from(74, 2), kp(2, seed=2)),
    ])  # fmt: skip
    write_urmp_piece(root, 2, "Minuet", [
        ("vn", tone(5, 440), SR, notes_from(69, 5), kp(5, seed=3)),
        ("vc", tone(5, 220), SR, notes_from(48, 5), kp(5, seed=4)),
    ])  # fmt: skip
    write_urmp_piece(root, 3, "Sonata", [
        ("fl", tone(2, 660), SR, notes_from(76, 2), kp(2, seed=5)),
        ("cl", tone(2, 330), SR, notes_from(62, 2), kp(2, seed=6)),
    ])  # fmt: skip
    (root / "03_Sonata_fl_cl" / "Notes_2_cl_03_Sonata.txt").unlink()  # falls back to its part of the score
    write_urmp_piece(root, 4, "Waltz", [
        ("vc", tone(2, 110), SR, notes_from(45, 2), kp(2, seed=7)),
        ("cl", tone(2, 294), SR, notes_from(62, 2), None),  # no keypoints: skipped with a reason
    ])  # fmt: skip
    folder = write_urmp_piece(root, 5, "Etude", [
        ("vn", tone(1, 440), SR, None, kp(1, seed=8)),
        ("va", tone(1, 440), SR, None, kp(1, seed=9)),
    ])  # fmt: skip
    write_wav(folder / "AuSep_1_vn_05_Etude.wav", np.zeros(0, np.float32), SR)  # zero-length
    (folder / "Kp_2_va_05_Etude.npz").write_bytes(b"garbage")  # unreadable keypoints
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("dataset"))


@pytest.fixture(scope="module")
def prepared(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("cache") / "cache"
    report = prepare(corpus, out)
    return out, report


@pytest.fixture
def cache_copy(prepared, tmp_path) -> Path:
    """A private copy of the prepared cache for tests that re-run prepare on it."""
    dst = tmp_path / "cache"
    shutil.copytree(prepared[0], dst)
    return dst


GOOD_TRACKS = {
    "urmp/01_Jupiter/1_vn", "urmp/01_Jupiter/2_fl", "urmp/02_Minuet/1_vn", "urmp/02_Minuet/2_vc",
    "urmp/03_Sonata/1_fl", "urmp/03_Sonata/2_cl", "urmp/04_Waltz/1_vc",
}  # fmt: skip


def arrays(cache: Path, entry: dict) -> dict[str, np.ndarray]:
    return {
        n: np.load(cache / entry["dir"] / f"{n}.npy", mmap_mode="r")
        for n in ("spec", "skeleton", "notes", "mel")
    }


# ------------------------------------------------------------------------------------------------------
# prepare


def test_manifest_lists_the_good_tracks_with_config(prepared):
    out, report = prepared
    manifest = load_manifest(out)
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["config"] == to_dict(CacheConfig())
    assert set(manifest["tracks"]) == GOOD_TRACKS
    assert sorted(report.written) == sorted(GOOD_TRACKS) and report.up_to_date == []
    e = manifest["tracks"]["urmp/02_Minuet/2_vc"]
    assert (e["piece"], e["instrument"], e["split"]) == ("02_Minuet", "vc", manifest["splits"]["02_Minuet"])
    assert e["duration"] == pytest.approx(5.0) and e["detected_fraction"] == 1.0 and e["has_notes"]
    assert {Path(s["path"]).name for s in e["sources"]} == {
        "AuSep_2_vc_02_Minuet.wav",
        "Kp_2_vc_02_Minuet.npz",
        "Notes_2_vc_02_Minuet.txt",
    }
    assert all(s["size"] > 0 and s["mtime_ns"] > 0 for s in e["sources"])


def test_arrays_are_aligned_frame_for_frame(prepared):
    out, _ = prepared
    for e in load_manifest(out)["tracks"].values():
        a = arrays(out, e)
        n_samples = round(e["duration"] * SR)
        T = n_samples // 256 + 1
        assert e["n_frames"] == T
        assert a["spec"].shape == (T, 1024) and a["spec"].dtype == np.float16
        assert a["skeleton"].shape == (T, 3, 47) and a["skeleton"].dtype == np.float32
        assert a["notes"].shape == (T,) and a["notes"].dtype == np.int16
        assert a["mel"].shape == (round(e["duration"] * 22_050) // 512 + 1, 80)
        assert float(np.min(a["spec"])) >= LOG_FLOOR - 0.01


def test_44k_audio_is_resampled_to_16k(prepared):
    out, _ = prepared
    e = load_manifest(out)["tracks"]["urmp/01_Jupiter/2_fl"]
    assert e["n_frames"] == 2 * SR // 256 + 1 == 126
    spec = np.asarray(arrays(out, e)["spec"], np.float32)
    # The flute's D5 (587 Hz) is loudest near bin 587 / (16000 / 2048) = 75, not at a 44.1k-misread bin.
    loud = np.argmax(spec[15:25].mean(axis=0))
    assert 70 <= loud <= 80


def test_notes_become_a_frame_sequence(prepared):
    out, _ = prepared
    tracks = load_manifest(out)["tracks"]
    notes = np.asarray(arrays(out, tracks["urmp/01_Jupiter/1_vn"])["notes"])
    assert notes[0] == 0  # rest before the first onset at 0.1 s
    assert notes[round(0.3 * 62.5)] == 67 + 1
    assert notes[round(0.75 * 62.5)] == 68 + 1
    # Sonata's clarinet has no Notes file: its part of the score is used, and the manifest says so.
    cl = tracks["urmp/03_Sonata/2_cl"]
    assert cl["notes_source"] == "midi" and cl["has_notes"]
    assert np.asarray(arrays(out, cl)["notes"])[round(0.3 * 62.5)] == 62 + 1
    assert tracks["urmp/03_Sonata/1_fl"]["notes_source"] == "notes"


def test_skeleton_is_normalised_and_resampled(prepared):
    out, _ = prepared
    e = load_manifest(out)["tracks"]["urmp/02_Minuet/1_vn"]
    skel = np.asarray(arrays(out, e)["skeleton"])
    # Neck-centred, shoulder width 1 (100 px); sway of +-4 px is +-0.04.
    assert np.median(skel[:, 0, 0]) == pytest.approx(0.0, abs=0.01)
    assert np.median(skel[:, 1, 0]) == pytest.approx(0.0, abs=1e-4)
    width = np.hypot(*(skel[:, :2, 4] - skel[:, :2, 1]).T)
    assert np.median(width) == pytest.approx(1.0, abs=1e-4)
    # 30 fps -> 62.5 fps: the 0.5 Hz sway is still a 0.5 Hz sway (frame i is at i / 62.5 s).
    t = np.arange(e["n_frames"]) / 62.5
    expected = 4 * np.sin(2 * np.pi * 0.5 * t) / 100
    expected -= np.median(4 * np.sin(2 * np.pi * 0.5 * np.arange(150) / 30) / 100)  # centre = median neck
    np.testing.assert_allclose(skel[:-3, 0, 0], expected[:-3], atol=0.003)
    assert e["norm"]["scale"] == pytest.approx(100.0)


def test_bad_tracks_are_reported_with_file_and_reason(prepared):
    _, report = prepared
    assert "zero length" in report.dataset_problems.mentions("AuSep_1_vn_05_Etude.wav")[0].message
    [failed] = report.failed
    assert failed.path.name == "Kp_2_va_05_Etude.npz" and "not a keypoint file" in failed.message
    [skipped] = report.skipped
    assert "urmp/04_Waltz/2_cl" in skipped.message and "no keypoints" in skipped.message
    text = report.summary()
    assert "7 track(s) ready" in text and "Kp_2_va_05_Etude.npz" in text


def test_every_instrument_is_in_the_test_split(prepared):
    out, _ = prepared
    tracks = load_manifest(out)["tracks"].values()
    present = {e["instrument"] for e in tracks}
    in_test = {e["instrument"] for e in tracks if e["split"] == "test"}
    assert present == {"vn", "fl", "vc", "cl"} and in_test == present
    # Splits are disjoint by piece: both players of a piece share a split.
    by_piece: dict[str, set[str]] = {}
    for e in tracks:
        by_piece.setdefault(e["piece"], set()).add(e["split"])
    assert all(len(s) == 1 for s in by_piece.values())
    assert any(e["split"] == "train" for e in tracks)


def test_rerun_skips_finished_tracks(corpus, cache_copy):
    files = sorted(cache_copy.glob("tracks/*/*.npy"))
    before = {p: p.stat().st_mtime_ns for p in files}
    report = prepare(corpus, cache_copy)
    assert report.written == [] and sorted(report.up_to_date) == sorted(GOOD_TRACKS)
    assert {p: p.stat().st_mtime_ns for p in files} == before
    assert set(load_manifest(cache_copy)["tracks"]) == GOOD_TRACKS


def test_a_changed_source_is_recomputed(corpus, cache_copy, tmp_path):
    # Work on a copy of the dataset so the shared corpus keeps its mtimes.
    data = tmp_path / "data"
    shutil.copytree(corpus, data)
    prepare(data, cache_copy, force=True)  # sources moved: everything is recomputed once
    wav = data / "02_Minuet_vn_vc" / "AuSep_1_vn_02_Minuet.wav"
    st = wav.stat()
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    report = prepare(data, cache_copy)
    assert report.written == ["urmp/02_Minuet/1_vn"]
    assert len(report.up_to_date) == len(GOOD_TRACKS) - 1


def test_cancelled_prepare_resumes(corpus, tmp_path):
    out = tmp_path / "cache"
    calls = []

    def stop_after_two() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        prepare(corpus, out, should_cancel=stop_after_two)
    done = set(load_manifest(out)["tracks"])
    assert len(done) == 2  # the manifest was written after each finished track
    report = prepare(corpus, out)
    assert set(report.up_to_date) == done
    assert set(report.written) == GOOD_TRACKS - done


def test_a_cache_with_another_config_is_refused(corpus, cache_copy):
    other = replace(CacheConfig(), audio=replace(AudioConfig(), hop_length=128), split_seed=3)
    with pytest.raises(ConfigError) as err:
        prepare(corpus, cache_copy, other)
    assert "audio.hop_length: expected 128, found 256" in str(err.value)
    assert "split_seed" in str(err.value) and "--force" in str(err.value)
    with pytest.raises(ConfigError, match="audio.hop_length"):
        CropDataset(cache_copy, "train", config=other)


def test_force_rebuilds_with_the_new_config(corpus, cache_copy):
    other = replace(CacheConfig(), audio=replace(AudioConfig(), hop_length=512))
    report = prepare(corpus, cache_copy, other, force=True)
    assert sorted(report.written) == sorted(GOOD_TRACKS)
    e = load_manifest(cache_copy)["tracks"]["urmp/02_Minuet/1_vn"]
    assert e["n_frames"] == 5 * SR // 512 + 1
    assert len(list(cache_copy.glob("tracks/*"))) == len(GOOD_TRACKS)  # old folders replaced, not piled up


def test_load_manifest_errors(tmp_path, cache_copy):
    with pytest.raises(InputError, match="no cache manifest"):
        load_manifest(tmp_path)
    with pytest.raises(InputError, match="cache folder not found"):
        load_manifest(tmp_path / "nope")
    manifest = cache_copy / "manifest.json"
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(dict(data, format_version=99)))
    with pytest.raises(InputError, match="format version 99"):
        CropDataset(cache_copy, "train")
    manifest.write_text('{"format_version": 1, "trac')
    with pytest.raises(InputError, match="corrupt cache manifest"):
        load_manifest(cache_copy)


def test_solos_dataset_is_prepared_at_25fps(tmp_path):
    root = tmp_path / "solos"
    kp = synthetic_keypoints(3.0, fps=25.0).keypoints
    write_solos(root, {"abcdefghijk": ("Trumpet", kp)})
    (root / "audio").mkdir()
    write_wav(root / "audio" / "abcdefghijk.wav", tone(3, 523), SR)
    report = prepare(root, tmp_path / "cache")
    [e] = load_manifest(tmp_path / "cache")["tracks"].values()
    assert report.written == ["solos/abcdefghijk"]
    assert e["instrument"] == "tpt" and e["keypoint_fps"] == 25.0 and e["split"] == "test"
    skel = np.load(tmp_path / "cache" / e["dir"] / "skeleton.npy")
    assert skel.shape == (3 * SR // 256 + 1, 3, 47)
    assert "no piece is left for training" in " ".join(report.warnings)


# ------------------------------------------------------------------------------------------------------
# split_pieces


def random_pieces(n: int, seed: int) -> dict[str, set[str]]:
    rng = np.random.default_rng(seed)
    return {
        f"p{i:02d}": set(rng.choice(INSTRUMENT_CODES, size=rng.integers(1, 5), replace=False))
        for i in range(n)
    }


@pytest.mark.parametrize("seed", range(5))
def test_split_covers_every_instrument_and_is_deterministic(seed):
    pieces = random_pieces(44, seed)
    cfg = replace(CacheConfig(), split_seed=seed)
    splits, _ = split_pieces(pieces, cfg)
    assert splits == split_pieces(dict(reversed(list(pieces.items()))), cfg)[0]  # order-independent
    assert set(splits) == set(pieces)
    present = set().union(*pieces.values())
    in_test = set().union(*(pieces[p] for p, s in splits.items() if s == "test"))
    assert in_test == present
    counts = {s: list(splits.values()).count(s) for s in ("train", "val", "test")}
    assert counts["val"] == 4 and 4 <= counts["test"] <= 13 and counts["train"] >= 25


def test_split_seed_changes_the_split_and_rare_instruments_warn():
    pieces = random_pieces(30, 0)
    a, _ = split_pieces(pieces, CacheConfig())
    b, _ = split_pieces(pieces, replace(CacheConfig(), split_seed=1))
    assert a != b
    pieces = {k: v - {"tba"} for k, v in pieces.items() if v - {"tba"}}
    pieces["solo"] = {"tba"}  # the only tuba piece must go to test, and training never sees a tuba
    splits, warnings = split_pieces(pieces, CacheConfig())
    assert splits["solo"] == "test"
    assert any("'tba'" in w for w in warnings)


# ------------------------------------------------------------------------------------------------------
# CropDataset


def test_crop_shapes_for_four_seconds(prepared):
    out, _ = prepared
    ds = CropDataset(out, "all", fields=("spec", "skeleton", "notes", "mel"))
    assert ds.crop_frames == n_crop_frames(4.0, SR, 256) == 251  # 64000 // 256 + 1
    assert ds.mel_crop_frames == 173  # 88200 // 512 + 1
    i = ds.track_ids.index("urmp/02_Minuet/1_vn")  # 5 s: a real random crop
    item = ds[i]
    assert item["spec"].shape == (1024, 251) and item["spec"].dtype == torch.float32
    assert item["skeleton"].shape == (3, 47, 251) and item["skeleton"].dtype == torch.float32
    assert item["notes"].shape == (251,) and item["notes"].dtype == torch.long
    assert item["mel"].shape == (80, 173)
    assert int(item["length"]) == 251 and item["instrument"] == INSTRUMENT_CODES.index("vn")
    # The crop is exactly the cached frames from `start`, transposed to frequency-major.
    start = int(item["start"])
    assert 0 <= start <= 313 - 251
    spec = np.load(out / ds.entries[i]["dir"] / "spec.npy")
    np.testing.assert_array_equal(item["spec"].numpy(), spec[start : start + 251].T.astype(np.float32))
    skel = np.load(out / ds.entries[i]["dir"] / "skeleton.npy")
    np.testing.assert_array_equal(item["skeleton"].numpy(), skel[start : start + 251].transpose(1, 2, 0))
    assert CropDataset(out, "all", crop_seconds=1.0).crop_frames == 63


def test_short_tracks_are_padded_with_silence(prepared):
    out, _ = prepared
    ds = CropDataset(out, "all", fields=("spec", "skeleton", "notes", "mel"))
    i = ds.track_ids.index("urmp/01_Jupiter/1_vn")  # 2 s = 126 frames
    item = ds[i]
    assert int(item["length"]) == 126 and int(item["start"]) == 0
    assert torch.allclose(item["spec"][:, 126:], torch.tensor(LOG_FLOOR))
    assert item["spec"][:, :126].max() > LOG_FLOOR + 5  # the real part is sound, not padding
    assert torch.all(item["notes"][126:] == 0)
    assert torch.equal(item["skeleton"][:, :, 200], item["skeleton"][:, :, 125])  # last pose held
    assert int(item["mel_length"]) == 2 * 22_050 // 512 + 1
    assert torch.allclose(item["mel"][:, int(item["mel_length"]) :], torch.tensor(math.log(1e-5)))


def test_crops_are_deterministic_per_seed_and_epoch(prepared):
    out, _ = prepared
    i = CropDataset(out, "all").track_ids.index("urmp/02_Minuet/1_vn")

    def starts(seed: int, epoch: int) -> list[int]:
        ds = CropDataset(out, "all", seed=seed, crops_per_track=8)
        ds.set_epoch(epoch)
        n = len(ds.entries)
        return [int(ds[i + k * n]["start"]) for k in range(8)]

    assert starts(0, 0) == starts(0, 0)
    assert starts(0, 0) != starts(0, 1)
    assert starts(0, 0) != starts(1, 0)


def test_dataloader_batches_match_across_worker_counts(prepared):
    out, _ = prepared
    ds = CropDataset(out, "all", seed=7, fields=("spec", "skeleton", "notes"))

    def first_batch(workers: int) -> dict:
        loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=workers)
        return next(iter(loader))

    a, b = first_batch(0), first_batch(2)
    assert a["spec"].shape == (4, 1024, 251) and a["skeleton"].shape == (4, 3, 47, 251)
    assert torch.equal(a["start"], b["start"]) and torch.equal(a["spec"], b["spec"])
    assert a["track_id"] == b["track_id"]


def test_split_selection_and_errors(prepared):
    out, _ = prepared
    manifest = load_manifest(out)
    for split in ("train", "val", "test"):
        expected = sorted(k for k, e in manifest["tracks"].items() if e["split"] == split)
        if expected:
            assert CropDataset(out, split).track_ids == expected
    with pytest.raises(ValueError, match="split"):
        CropDataset(out, "dev")
    with pytest.raises(ValueError, match="unknown field"):
        CropDataset(out, "all", fields=("video",))


def test_missing_cache_file_is_named(cache_copy):
    ds = CropDataset(cache_copy, "all")
    victim = cache_copy / ds.entries[0]["dir"] / "skeleton.npy"
    victim.unlink()
    with pytest.raises(InputError, match="re-run prepare") as err:
        CropDataset(cache_copy, "all")
    assert err.value.path == victim


@pytest.mark.slow
def test_parallel_prepare_matches_serial(corpus, prepared, tmp_path):
    out = tmp_path / "cache"
    report = prepare(corpus, out, workers=2)
    assert sorted(report.written) == sorted(GOOD_TRACKS) and len(report.failed) == 1
    serial = load_manifest(prepared[0])["tracks"]
    for tid, e in load_manifest(out)["tracks"].items():
        assert e["split"] == serial[tid]["split"]
        np.testing.assert_array_equal(arrays(out, e)["spec"], arrays(prepared[0], serial[tid])["spec"])
