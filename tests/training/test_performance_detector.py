"""People who are not playing (``training.synth.activities``), the performance detector (``minet-train
performance``), and what it changes in detection (``Session.detect``, Auto, ``minet-desktop detect``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from minet_desktop.core.errors import InputError
from minet_desktop.core.skeleton import model_frames
from minet_desktop.model.performance import (
    PerformanceDetector,
    PerformanceDetectorConfig,
    load_detector,
    playing_probability,
    save_detector,
)
from training.synth.activities import ACTIVITIES, UNSEEN_ACTIVITIES, act
from training.synth.motion import FRAME_SIZE


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- people who are not playing ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ACTIVITIES + UNSEEN_ACTIVITIES)
def test_every_activity_is_a_tracked_person_in_the_frame(kind: str) -> None:
    rng = np.random.default_rng(3)
    pose, perf, kp = act(kind, 6.0, rng)
    T = int(np.ceil(6.0 * perf.fps))
    assert kp.shape == (T, 3, 47) and kp.dtype == np.float32 and np.isfinite(kp).all()
    ok = kp[:, 2] >= 0.3
    assert ok[:, [0, 1, 4]].mean() > 0.9  # neck and shoulders are tracked (the arms may be out of the frame)
    assert (kp[:, 2] > 0).any(axis=1).mean() > 0.9  # a person in (almost) every frame
    # Arms are arms: no wrist further from its shoulder than the arm is long (IK), in the clean pose.
    j = pose.joints
    for sh, wr in ((1, 3), (4, 6)):
        assert (np.linalg.norm(j[:, wr] - j[:, sh], axis=1) <= perf.upper + perf.fore + 1e-6).all()


def test_activities_differ_and_repeat_with_their_seed() -> None:
    a = act("talk", 4.0, np.random.default_rng(1))[2]
    b = act("talk", 4.0, np.random.default_rng(1))[2]
    c = act("walk", 4.0, np.random.default_rng(1))[2]
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)

    # The gestures move the hands: a talker's wrists move more than an idle person's, on average.
    def wrist_spread(kind: str) -> float:
        out = []
        for s in range(6):
            pose, _, _ = act(kind, 6.0, np.random.default_rng(100 + s))
            out.append(float(pose.joints[:, [3, 6], :2].std(axis=0).mean()))
        return float(np.mean(out))

    assert wrist_spread("wave") > wrist_spread("idle")
    with pytest.raises(ValueError, match="unknown activity 'juggle'"):
        act("juggle", 2.0, np.random.default_rng(0))


# -- the detector file ---------------------------------------------------------------------------------------


def _detector(bias: float) -> PerformanceDetector:
    torch.manual_seed(0)
    m = PerformanceDetector(PerformanceDetectorConfig())
    with torch.no_grad():
        m.head.weight.zero_()
        m.head.bias.fill_(bias)
    return m.eval()


def test_detector_round_trips_and_bad_files_are_refused(tmp_path: Path) -> None:
    m = _detector(0.3)
    path = save_detector(tmp_path / "performance.safetensors", m, {"steps": 3})
    back, info = load_detector(path)
    assert info == {"steps": 3} and back.cfg == m.cfg
    x = torch.randn(2, 3, 47, 40)
    assert torch.allclose(back(x), m(x))
    frames = torch.randn(600, 3, 47)
    p, per_window = playing_probability(back, frames)
    assert per_window.shape == (3,) and abs(p - torch.sigmoid(torch.tensor(0.3)).item()) < 1e-5
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a file")
    with pytest.raises(InputError, match="bad.safetensors"):
        load_detector(bad)
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(1)}, str(other), metadata={"format": "something"})
    with pytest.raises(InputError, match="not a performance detector"):
        load_detector(other)


# -- training --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.cache import prepare
    from training.synth.corpus import generate

    root = tmp_path_factory.mktemp("perf")
    corpus, cache = root / "corpus", root / "cache"
    generate(
        corpus, minutes=3 * 6.5 / 60, instruments="vn,fl,tpt", seed=2, track_seconds=(5.0, 7.0), workers=1
    )
    prepare(corpus, cache, workers=1)
    m = json.loads((cache / "manifest.json").read_text())
    for i, e in enumerate(m["tracks"].values()):
        e["split"] = "val" if i == 0 else "train"
    (cache / "manifest.json").write_text(json.dumps(m))
    return cache


@pytest.mark.slow
def test_training_writes_a_detector_that_tells_players_from_the_rest_and_resumes(tiny_cache, capsys) -> None:
    from training.cli import main

    out = tiny_cache.parent / "det"
    args = ["performance", "--cache", str(tiny_cache), "--out", str(out), "--steps", "120", "--batch", "16",
            "--clips", "4", "--holdout", "ball"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "warning:" in text  # no views: each track's own skeleton
    assert "held out of training" in text and "wrote" in text
    rep = json.loads((out / "report.json").read_text())
    assert set(rep["not_playing"]) == set(ACTIVITIES) and rep["val_performances"] == 1  # conducting: never
    det, info = load_detector(out / "performance.safetensors")
    # Even this small run has learnt something: the training performances score above the activities it saw.
    from training.train.performance import activity_frames, cache_frames, score

    players = score(det, cache_frames(tiny_cache, ("train",)))
    others = score(det, [c for cs in activity_frames(["talk", "walk"], 4, 12.0, 0, det.cfg.frame_rate, 0.3).values()
                         for c in cs])  # fmt: skip
    assert players.mean() > others.mean() + 0.3, (players, others)
    assert info["train"]["holdout"] == ["ball"] and info["report"] == rep
    # Resume: a finished run continues from its last checkpoint and ends where it was.
    before = {k: v.clone() for k, v in det.state_dict().items()}
    assert main([*args, "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().out
    again, _ = load_detector(out / "performance.safetensors")
    assert all(torch.equal(before[k], v) for k, v in again.state_dict().items())
    with pytest.raises(ValueError, match="unknown activity"):
        main(["performance", "--cache", str(tiny_cache), "--out", str(out), "--holdout", "juggle"])


# -- detection in the app ----------------------------------------------------------------------------------------


def _player_keypoints():
    """A simulated violinist, as a keypoint file."""
    from minet_desktop.media.midi import Note
    from minet_desktop.pose.keypoint_file import KeypointFile
    from training.synth.instruments import get_instrument
    from training.synth.motion import perform, track

    rng = np.random.default_rng(4)
    inst = get_instrument("vn")
    notes = [Note(0.4 * i, 0.4 * i + 0.38, 67 + (i % 5)) for i in range(20)]
    pose, perf = perform(inst, notes, np.arange(0.0, 9.0, 0.4), 8.5, rng)
    kp = track(pose, perf, inst, rng)
    return KeypointFile(kp, perf.fps, FRAME_SIZE, "", "violinist", 1.0)


def test_the_detector_makes_detection_uncertain_and_auto_leaves_the_instrument(tmp_path: Path) -> None:
    from minet_desktop.engine.paths import default_model_path
    from minet_desktop.engine.session import Session

    bundle = default_model_path()
    if not bundle.is_file():
        pytest.skip("no bundled model")
    kf = _player_keypoints()
    yes = save_detector(tmp_path / "yes.safetensors", _detector(8.0), {})
    no = save_detector(tmp_path / "no.safetensors", _detector(-8.0), {})
    s_plain = Session(bundle, device="cpu", performance_detector=None)
    s_yes = Session(bundle, device="cpu", performance_detector=yes)
    for s in (s_plain, s_yes):  # a distance threshold every performance is past
        protos = s.backend.bundle.instruments
        protos.cfg = replace(protos.cfg, max_distance=1e-3)
    plain = s_plain.detect(kf)
    assert plain.playing != plain.playing  # NaN: not asked
    assert plain.uncertain and plain.reason == "the movement looks like none of the instruments"
    # With a detector, whether someone is playing is its call: the distance is reported, not used.
    sure = s_yes.detect(kf)
    assert sure.playing > 0.99 and sure.probabilities == plain.probabilities
    assert not sure.uncertain and sure.distance == plain.distance
    s_no = Session(bundle, device="cpu", performance_detector=no)
    doubt = s_no.detect(kf)
    assert doubt.uncertain and doubt.playing < 0.01
    assert doubt.reason == "the movement does not look like someone playing an instrument"
    assert doubt.summary().startswith("uncertain (the movement does not look like someone playing")
    # Auto does not steer toward an instrument the detector doubts anyone is playing.
    job, _ = s_no.prepare(kf)
    assert job.playing is not None and job.playing < 0.01
    assert s_no.backend.auto_instrument(job) is None
    # An override is still played (the musician is in charge), and then the detector is not asked.
    job, _ = s_no.prepare(kf, instrument="vc")
    assert job.playing is None


def test_the_shipped_detector_reads_players_and_not_people_talking() -> None:
    from minet_desktop.engine.paths import performance_detector_path

    path = performance_detector_path()
    if not path.is_file():
        pytest.skip("no bundled performance detector")
    det, info = load_detector(path)
    assert info["report"]["not_playing_seen"] >= 0.95
    kf = _player_keypoints()
    cfg = det.cfg
    T = int(round(kf.n_frames / kf.fps * cfg.frame_rate))
    frames = model_frames(kf.keypoints, kf.fps, cfg.frame_rate, T, cfg.confidence_threshold)[0]
    assert playing_probability(det, torch.from_numpy(frames))[0] > cfg.threshold
    for kind in ("talk", "walk", "clap"):
        _, perf, kp = act(kind, 8.0, np.random.default_rng(77))
        T = int(round(kp.shape[0] / perf.fps * cfg.frame_rate))
        frames = model_frames(kp, perf.fps, cfg.frame_rate, T, cfg.confidence_threshold)[0]
        assert playing_probability(det, torch.from_numpy(frames))[0] < cfg.threshold, kind


def test_playing_check_reports_the_app_detection_on_people_not_playing(tmp_path: Path) -> None:
    from minet_desktop.engine.paths import default_model_path, performance_detector_path
    from training.evaluate.playing import check, format_rows, write

    bundle, detector = default_model_path(), performance_detector_path()
    if not (bundle.is_file() and detector.is_file()):
        pytest.skip("no bundled model or performance detector")
    res = check(bundle, detector, n=1, log=lambda line: None)
    assert set(res["not_playing_uncertain"]) == set(ACTIVITIES + UNSEEN_ACTIVITIES)
    assert res["not_playing_mean"] >= 0.8  # the shipped detector: 98.5 % of 200 clips
    table = format_rows([res])
    assert "conduct (in no training)" in table and "with the performance detector" in table
    write([res], tmp_path / "check.json")
    assert json.loads((tmp_path / "check.json").read_text())[0]["bundle"] == bundle.name
