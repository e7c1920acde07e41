"""`minet-train onsets`: a detector that learns where notes start from the movement, written into the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_run import _make_cache

from minet_desktop.core.config import AudioConfig
from minet_desktop.core.skeleton import R_HAND, R_WRIST
from minet_desktop.engine.articulation import note_onsets
from minet_desktop.model.bundle import build_modules, load_bundle, save_bundle
from minet_desktop.model.config import BundleConfig, OnsetDetectorConfig
from training.cli import main
from training.onsets import (
    THRESHOLDS,
    EventCounts,
    OnsetTrack,
    onset_targets,
    score_events,
    train_onset_detector,
)

FR = 62.5


def bowed(seed: int, seconds: float = 8.0) -> OnsetTrack:
    """A player whose right arm turns at every note onset (irregular note lengths) and is otherwise still but
    for tracker jitter; the notes (pitch + 1 per frame) change at each turn."""
    rng = np.random.default_rng(seed)
    T = int(seconds * FR)
    frames = np.zeros((T, 3, 47), np.float32)
    frames[:, :2] = rng.uniform(-1, 1, (2, 47))
    frames[:, 2] = 1.0
    onsets = np.cumsum(rng.integers(12, 40, 40))
    onsets = onsets[onsets < T - 5]
    notes = np.zeros(T, np.int64)
    bow = np.zeros(T)
    for i, (a, b) in enumerate(zip(onsets, [*onsets[1:], T], strict=True)):
        notes[a:b] = 60 + (i % 5)
        bow[a:b] = (1 if i % 2 else -1) * 0.6 * (np.arange(b - a) / 30.0)  # a stroke, then the bow turns
    bow = np.cumsum(np.diff(bow, prepend=0.0).clip(-0.03, 0.03))  # a continuous back-and-forth
    for j in (R_WRIST, *R_HAND):
        frames[:, 0, j] += bow
    frames[:, :2] += rng.normal(0, 0.003, frames[:, :2].shape)
    return OnsetTrack(f"bowed{seed}", frames, notes)


def test_the_target_marks_each_onset_and_its_neighbours() -> None:
    y = onset_targets(np.array([0, 0, 61, 61, 61, 62, 62, 0]))
    assert y.tolist() == [0, 0.5, 1, 0.5, 0.5, 1, 0.5, 0]


def test_the_detector_learns_where_a_bow_turns_and_beats_chance() -> None:
    torch.manual_seed(0)
    cfg = OnsetDetectorConfig(hidden=32, dilations=(1, 2, 4, 8))
    train = [bowed(s) for s in range(8)]
    held_out = [bowed(s) for s in (100, 101)]
    det = train_onset_detector(cfg, train, FR, steps=150, batch=16, lr=3e-3, log=lambda s: None)
    counts = score_events(det, held_out, FR, (0.5,))[0.5]
    assert counts.n_ref == sum(len(note_onsets(t.notes)) for t in held_out)
    assert counts.f1 > 0.8, (counts.precision, counts.recall)
    # An untrained detector of the same size marks frames at random: many, mostly wrong.
    torch.manual_seed(0)
    fresh = score_events(
        train_onset_detector(cfg, train, FR, steps=0, log=lambda s: None), held_out, FR, (0.5,)
    )
    assert fresh[0.5].precision < 0.5 < counts.precision - 0.3


def test_event_counts_pool_tracks_with_the_evaluations_tolerance() -> None:
    c = EventCounts()
    c.add(np.array([10, 50, 90]), np.array([11, 52, 70]), FR)  # 16 and 32 ms off: matched; 70 is no onset
    c.add(np.array([5]), np.array([], int), FR)
    assert (c.matched, c.n_ref, c.n_est) == (2, 4, 3)
    assert c.f1 == pytest.approx(4 / 7)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("onsets")
    return _make_cache(root, [("vn", "vc"), ("fl", "cl"), ("vn", "fl"), ("vc", "cl"), ("vn", "cl")])


def test_cli_writes_the_detector_into_the_bundle_and_keeps_the_rest(cache: Path, tmp_path: Path) -> None:
    cfg = BundleConfig.tiny(audio=AudioConfig())
    torch.manual_seed(0)
    bundle = save_bundle(tmp_path / "m.safetensors", cfg, *build_modules(cfg), model_card="# tiny")
    assert main(["prototypes", "--bundle", str(bundle), "--cache", str(cache)]) == 0
    before = load_bundle(bundle)
    report = tmp_path / "onsets.json"
    argv = ["onsets", "--bundle", str(bundle), "--cache", str(cache), "--steps", "3", "--report", str(report)]
    assert main(argv) == 0
    b = load_bundle(bundle)
    assert b.onsets is not None and b.cfg.onsets is not None and b.model_card == "# tiny"
    assert b.instruments is not None and b.cfg.instruments == before.cfg.instruments
    for k, v in before.prior.state_dict().items():
        assert torch.equal(b.prior.state_dict()[k], v)
    d = json.loads(report.read_text())
    assert d["steps"] == 3 and d["threshold"] in THRESHOLDS
    assert set(d["splits"]) == {"val", "test"}
    assert set(d["splits"]["test"]) == {"detector", "movement events"}
    # The prototypes command, run again, keeps the detector.
    assert main(["prototypes", "--bundle", str(bundle), "--cache", str(cache)]) == 0
    again = load_bundle(bundle)
    assert again.onsets is not None
    for k, v in b.onsets.state_dict().items():
        assert torch.equal(again.onsets.state_dict()[k], v)


def test_a_bundle_that_is_no_mi_net_is_refused_naming_it(cache: Path, tmp_path: Path, capsys) -> None:
    from minet_desktop.engine.paths import default_model_path

    regressor = default_model_path().with_name("regressor.safetensors")  # the shipped frame regressor
    out = tmp_path / "out.safetensors"
    argv = ["onsets", "--bundle", str(regressor), "--cache", str(cache), "--steps", "1", "-o", str(out)]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert str(regressor) in err and "not an MI Net bundle" in err and "Traceback" not in err
    assert not out.exists()


def test_from_takes_another_bundles_detector_as_it_is_and_refuses_one_without(
    cache: Path, tmp_path: Path, capsys
) -> None:
    cfg = BundleConfig.tiny(audio=AudioConfig())
    torch.manual_seed(0)
    trained = save_bundle(tmp_path / "trained.safetensors", cfg, *build_modules(cfg), model_card="# a")
    assert main(["onsets", "--bundle", str(trained), "--cache", str(cache), "--steps", "3"]) == 0
    torch.manual_seed(1)
    fresh = save_bundle(tmp_path / "fresh.safetensors", cfg, *build_modules(cfg), model_card="# b")
    # A bundle without a detector has none to give: refused, naming it, nothing written.
    out = tmp_path / "out.safetensors"
    argv = ["onsets", "--bundle", str(trained), "--cache", str(cache), "--from", str(fresh), "-o", str(out)]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert str(fresh) in err and "no onset detector" in err and "Traceback" not in err
    assert not out.exists()
    report = tmp_path / "r.json"
    argv = [
        "onsets",
        "--bundle",
        str(fresh),
        "--cache",
        str(cache),
        "--from",
        str(trained),
        "--report",
        str(report),
    ]
    assert main(argv) == 0
    src, b = load_bundle(trained), load_bundle(fresh)
    assert b.onsets is not None and b.cfg.onsets == src.cfg.onsets and b.model_card == "# b"
    for k, v in src.onsets.state_dict().items():
        assert torch.equal(b.onsets.state_dict()[k], v)
    d = json.loads(report.read_text())
    assert d["steps"] == 0 and d["threshold"] == src.cfg.onsets.threshold and "test" in d["splits"]
