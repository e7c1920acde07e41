"""Instrument detection and the instrument override on tiny bundles with prototypes fitted in the test (the
prototypes alone: Sessions without the performance detector, which tests/training/test_performance_detector.py
covers)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import performance

from minet_desktop.cli import main
from minet_desktop.core.errors import ConfigError, MinetError
from minet_desktop.engine.instruments import movement_windows
from minet_desktop.engine.motion import skeleton_frames, window_frames
from minet_desktop.engine.sampling import CodeSampler
from minet_desktop.engine.session import Session
from minet_desktop.media.midi import Note
from minet_desktop.model.bundle import load_bundle, save_bundle
from minet_desktop.model.config import InstrumentPrototypesConfig
from minet_desktop.model.instruments import InstrumentPrototypes
from minet_desktop.pose.keypoint_file import KeypointFile


def player(code: str, seed: int, seconds: float = 6.0) -> KeypointFile:
    """A violinist bows with big, fast arm strokes; a flautist barely sways: what tells them apart. One
    performer (the same body), a different stretch of the performance for every seed."""
    long = performance(seconds + 20.0, 30.0, seed=0)
    start = (seed * 37) % int(20.0 * long.fps)
    kp = long.keypoints[start : start + int(round(seconds * long.fps))].copy()
    rest = kp[:, :2].mean(0, keepdims=True)
    amp = {"vn": 1.0, "fl": 0.15}[code]
    kp[:, :2] = rest + amp * (kp[:, :2] - rest)
    if code == "vn":  # a bow stroke, 2 per second, on the arms and hands
        t = (start + np.arange(kp.shape[0])) / long.fps
        kp[:, 0, 2:] += (60 * np.sin(2 * np.pi * 2.0 * t))[:, None]
    return dataclasses.replace(long, keypoints=kp)


def add_prototypes(path: Path, strength: float = 1.0, auto_steer: float = 0.0) -> Path:
    """Fit prototypes of "vn" and "fl" on synthetic players, as `minet-train prototypes` does on a cache."""
    b = load_bundle(path)
    cfg = b.cfg
    window = window_frames(cfg.prior.block_size, cfg.frames_per_code)
    hs, ms = {}, {}
    for code in ("vn", "fl"):
        rows = []
        for seed in range(4):
            kf = player(code, seed)
            frames, _ = skeleton_frames(kf.keypoints, kf.fps, cfg.audio, cfg.skeleton)
            rows.append(movement_windows(b.movement, frames, window))
        hs[code] = torch.cat([h for h, _ in rows])
        ms[code] = torch.cat([m for _, m in rows])
    codes = ("vn", "fl")
    pc = InstrumentPrototypesConfig(
        codes=codes,
        temperature=1.0,
        min_motion=0.001,
        motion=cfg.prior.per_frame_motion,
        strength=strength,
        auto_steer=auto_steer,
    )
    protos = InstrumentPrototypes(pc, cfg.movement.out_features)
    mu = torch.stack([hs[c].mean(0) for c in codes])
    resid = torch.cat([hs[c] - mu[i] for i, c in enumerate(codes)])
    cov = resid.T @ resid / len(resid) + 1e-3 * torch.eye(resid.shape[1])
    vals, vecs = torch.linalg.eigh(cov)
    protos.prototypes.copy_(mu)
    protos.whiten.copy_((vecs / vals.sqrt()) @ vecs.T)
    if pc.motion:
        protos.motion_prototypes.copy_(torch.stack([ms[c].mean(0) for c in codes]))
    held_out = []  # as minet-train prototypes: a margin over the distances of players not fitted on
    for code in codes:
        kf = player(code, 7)
        frames, _ = skeleton_frames(kf.keypoints, kf.fps, cfg.audio, cfg.skeleton)
        held_out.append(protos.distance(movement_windows(b.movement, frames, window)[0]))
    pc = dataclasses.replace(pc, max_distance=1.5 * max(held_out))
    protos.cfg = pc
    out = path.with_name(path.stem + "_protos.safetensors")
    new_cfg = dataclasses.replace(cfg, instruments=pc)
    return save_bundle(out, new_cfg, b.vqvae, b.movement, b.prior, b.model_card, instruments=protos)


def test_the_prototypes_travel_in_the_bundle_and_old_bundles_still_load(make_bundle) -> None:
    plain = make_bundle()
    assert load_bundle(plain).instruments is None
    with_protos = add_prototypes(plain)
    b = load_bundle(with_protos)
    assert b.instruments is not None and b.instruments.codes == ("vn", "fl")
    assert b.cfg.instruments is not None and 0 < b.cfg.instruments.max_distance < 100
    assert float(b.instruments.whiten.abs().sum()) > 0 and not torch.equal(
        b.instruments.prototypes[0], b.instruments.prototypes[1]
    )
    assert Session(plain, device="cpu", performance_detector=None).instruments == ()


def test_detection_names_the_instrument_the_movement_shows(make_bundle) -> None:
    s = Session(add_prototypes(make_bundle()), device="cpu", performance_detector=None)
    for code in ("vn", "fl"):
        det = s.detect(player(code, seed=11))  # a player the prototypes never saw
        assert det.best is not None and det.best[0] == code, det
        assert not det.uncertain and det.best[1] > 0.5
        assert abs(sum(p for _, p in det.probabilities) - 1.0) < 1e-5
    assert s.detect(player("vn", seed=12)).summary().startswith("violin ")


def test_a_still_pose_and_no_person_are_uncertain_and_say_why(make_bundle) -> None:
    s = Session(add_prototypes(make_bundle()), device="cpu", performance_detector=None)
    kf = player("vn", seed=11)
    still = dataclasses.replace(kf, keypoints=np.repeat(kf.keypoints[:1], kf.n_frames, axis=0))
    det = s.detect(still)
    assert det.uncertain and "hardly moves" in det.reason and "uncertain" in det.summary()
    nobody = performance(3.0, detected=False)
    det = s.detect(nobody)
    assert det.uncertain and det.probabilities == [] and "no person" in det.reason


def test_movement_unlike_any_instrument_is_uncertain(make_bundle) -> None:
    s = Session(add_prototypes(make_bundle()), device="cpu", performance_detector=None)
    kf = player("vn", seed=11)
    kp = kf.keypoints.copy()
    t = np.arange(kp.shape[0]) / kf.fps
    kp[:, 1, :] += (150 * np.sign(np.sin(2 * np.pi * 0.7 * t)))[:, None]  # jumping up and down, whole body
    det = s.detect(dataclasses.replace(kf, keypoints=kp))
    assert det.uncertain and "none of the instruments" in det.reason, det


def test_the_override_moves_the_movement_to_the_chosen_prototype_and_keeps_its_timing(make_bundle) -> None:
    b = load_bundle(add_prototypes(make_bundle()))
    assert b.instruments is not None
    h = torch.randn(40, b.cfg.movement.out_features)
    moved = b.instruments.steer(h, "fl")
    assert torch.allclose(moved.mean(0), b.instruments.prototypes[1], atol=1e-5)
    assert torch.allclose(moved - moved.mean(0), h - h.mean(0), atol=1e-5)  # the variation over time stays


def test_contrast_moves_the_target_past_the_prototype_away_from_the_nearest_instrument() -> None:
    cfg = InstrumentPrototypesConfig(codes=("vn", "va", "fl"), contrast=0.5)
    protos = InstrumentPrototypes(cfg, 2)
    protos.prototypes.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 5.0]]))
    assert protos.neighbour("va") == 0 and protos.neighbour("fl") == 0
    assert torch.allclose(protos.target("va"), torch.tensor([1.5, 0.0]))  # away from the violin
    assert torch.allclose(protos.target("fl"), torch.tensor([0.0, 7.5]))
    h = torch.randn(10, 2)
    assert torch.allclose(protos.steer(h, "va").mean(0), torch.tensor([1.5, 0.0]), atol=1e-5)
    protos.cfg = dataclasses.replace(cfg, contrast=0.0)
    assert torch.allclose(protos.target("va"), protos.prototypes[1])
    with pytest.raises(ConfigError, match="contrast"):
        InstrumentPrototypesConfig(codes=("vn", "va"), contrast=-1.0)


@pytest.mark.parametrize(("model_type", "motion"), [("minet", False), ("minet", True), ("minet_midi", False)])
def test_an_override_conditions_the_prior_on_the_chosen_instrument_and_an_unknown_code_lists_the_valid_ones(
    make_bundle, monkeypatch, model_type, motion
) -> None:
    path = add_prototypes(make_bundle(model_type, per_frame_motion=motion))
    s = Session(path, device="cpu", performance_detector=None)
    protos = load_bundle(path).instruments
    assert protos is not None
    H = protos.dim
    seen: list[torch.Tensor] = []
    step = CodeSampler.step

    def spy(self: CodeSampler, cond: torch.Tensor) -> torch.Tensor:
        seen.append(cond[0].clone())
        return step(self, cond)

    monkeypatch.setattr(CodeSampler, "step", spy)
    kf = player("vn", seed=11, seconds=3.0)
    notes = (
        [Note(0.2 * i, 0.2 * i + 0.18, 60 + i % 5) for i in range(14)] if model_type == "minet_midi" else None
    )
    auto = s.generate(kf, notes=notes, seed=3, griffin_lim_iters=2)
    cond_auto = torch.stack(seen)
    seen.clear()
    other = s.generate(kf, notes=notes, seed=3, griffin_lim_iters=2, instrument="fl")
    cond_fl = torch.stack(seen)
    # The prior sees the flute's prototype as the performance's mean movement, with the violinist's variation.
    assert torch.allclose(cond_fl[:, :H].mean(0), protos.prototypes[1], atol=1e-4)
    assert torch.allclose(
        cond_fl[:, :H] - cond_fl[:, :H].mean(0), cond_auto[:, :H] - cond_auto[:, :H].mean(0), atol=1e-4
    )
    if motion:  # the per-frame motion features move to the flute's too
        assert torch.allclose(cond_fl[:, H : 2 * H].mean(0), protos.motion_prototypes[1], atol=1e-4)
    assert auto.codes is not None and other.codes is not None and (other.codes != auto.codes).any()
    assert other.waveform.shape == auto.waveform.shape
    with pytest.raises(
        MinetError, match=r"unknown instrument 'xyz'; valid instruments: vn \(violin\), fl \(flute\)"
    ):
        s.generate(kf, notes=notes, seed=3, instrument="xyz")


def test_auto_steers_to_the_detected_instrument_where_the_bundle_asks_and_the_movement_is_an_instruments(
    make_bundle, monkeypatch
) -> None:
    kf = player("fl", seed=11, seconds=3.0)
    steered = Session(add_prototypes(make_bundle(), auto_steer=1.0), device="cpu", performance_detector=None)
    # bundles written before it: not steered
    plain = Session(add_prototypes(make_bundle()), device="cpu", performance_detector=None)
    assert steered.detect(kf).best[0] == "fl"
    auto = steered.generate(kf, seed=3, griffin_lim_iters=2)
    assert auto.steered_to == "fl"
    # Exactly the override to the detected instrument ...
    chosen = steered.generate(kf, seed=3, griffin_lim_iters=2, instrument="fl")
    assert chosen.steered_to is None and np.array_equal(auto.codes, chosen.codes)
    # ... and not the model's own reading: unsteered it is the bundle without the steer.
    free = steered.generate(kf, seed=3, griffin_lim_iters=2, auto_steer=False)
    old = plain.generate(kf, seed=3, griffin_lim_iters=2)
    assert free.steered_to is None and old.steered_to is None and np.array_equal(free.codes, old.codes)
    assert plain.generate(kf, seed=3, griffin_lim_iters=2, auto_steer=True).steered_to is None  # not asked
    # Movement that looks like no instrument is not steered anywhere.
    kp = kf.keypoints.copy()
    t = np.arange(kp.shape[0]) / kf.fps
    kp[:, 1, :] += (150 * np.sign(np.sin(2 * np.pi * 0.7 * t)))[:, None]
    jumping = dataclasses.replace(kf, keypoints=kp)
    assert steered.detect(jumping).uncertain
    assert steered.generate(jumping, seed=3, griffin_lim_iters=2).steered_to is None


def test_cli_generate_says_which_instrument_auto_played_and_unsteered_turns_it_off(
    make_bundle, tmp_path, capsys
) -> None:
    model = add_prototypes(make_bundle(), auto_steer=1.0)
    kp = tmp_path / "fl.npz"
    player("fl", seed=11, seconds=3.0).save(kp)
    base = ["generate", str(kp), "--model", str(model), "--seed", "1", "--griffin-lim-iters", "2"]
    assert main([*base, "-o", str(tmp_path / "a.wav")]) == 0
    assert "playing flute (detected in the movement" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "b.wav"), "--unsteered"]) == 0
    assert "playing" not in capsys.readouterr().err


def test_models_without_prototypes_say_they_cannot_take_an_override(make_bundle) -> None:
    s = Session(make_bundle(), device="cpu", performance_detector=None)
    with pytest.raises(MinetError, match="no instrument prototypes"):
        s.generate(performance(1.0), seed=0, instrument="vn")
    with pytest.raises(MinetError, match="no instrument prototypes"):
        s.detect(performance(1.0))


def test_cli_detect_and_generate_with_an_instrument(make_bundle, tmp_path, capsys) -> None:
    model = add_prototypes(make_bundle())
    kp = tmp_path / "fl.npz"
    player("fl", seed=11).save(kp)
    assert main(["detect", str(kp), "--model", str(model)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("flute") and out[-1].startswith("detected: flute 0.")
    wav = tmp_path / "as_violin.wav"
    assert (
        main(
            ["generate", str(kp), "--model", str(model), "-o", str(wav), "--instrument", "vn", "--seed", "1"]
        )
        == 0
    )
    assert wav.is_file()
    assert main(["generate", str(kp), "--model", str(model), "-o", str(wav), "--instrument", "banjo"]) == 2
    err = capsys.readouterr().err
    assert "unknown instrument 'banjo'" in err and "vn (violin)" in err and "fl (flute)" in err
    still = tmp_path / "still.npz"
    kf = player("fl", seed=11)
    dataclasses.replace(kf, keypoints=np.repeat(kf.keypoints[:1], kf.n_frames, axis=0)).save(still)
    assert main(["detect", str(still), "--model", str(model)]) == 0
    out = capsys.readouterr().out
    assert "uncertain: the performer hardly moves" in out and out.strip().splitlines()[-1].startswith(
        "detected: uncertain"
    )


def test_the_frame_regressor_says_it_cannot_take_an_override(tmp_path, capsys) -> None:
    from test_regressor_backend import make_regressor

    model = make_regressor(tmp_path)
    s = Session(model, device="cpu", performance_detector=None)
    assert s.instruments == ()
    with pytest.raises(
        MinetError, match=r"this model \(frame_regressor\) cannot tell or change the instrument"
    ):
        s.generate(performance(1.0), seed=0, instrument="vn")
    kp = tmp_path / "p.npz"
    performance(1.0).save(kp)
    assert (
        main(
            ["generate", str(kp), "--model", str(model), "-o", str(tmp_path / "o.wav"), "--instrument", "vn"]
        )
        == 2
    )
    assert "cannot tell or change the instrument" in capsys.readouterr().err
    assert main(["detect", str(kp), "--model", str(model)]) == 2
    assert "cannot tell or change the instrument" in capsys.readouterr().err


def test_live_mode_plays_the_chosen_instrument(make_bundle, monkeypatch) -> None:
    from minet_desktop.engine.streaming import LiveGenerator

    path = add_prototypes(make_bundle())
    s = Session(path, device="cpu", performance_detector=None)
    protos = load_bundle(path).instruments
    assert protos is not None
    H = protos.dim
    conds: dict[str | None, list[torch.Tensor]] = {}
    step = CodeSampler.step
    current: list[str | None] = [None]

    def spy(self: CodeSampler, cond: torch.Tensor) -> torch.Tensor:
        conds.setdefault(current[0], []).append(cond[0, :H].clone())
        return step(self, cond)

    monkeypatch.setattr(CodeSampler, "step", spy)
    kf = player("vn", seed=11, seconds=3.0)
    for instrument in (None, "fl"):
        current[0] = instrument
        live = LiveGenerator(s, fps=kf.fps, seed=0, instrument=instrument, griffin_lim_iters=2)
        live.push_frames(kf.keypoints)
        live.flush()
        assert live.pull_audio().size > 0
    fl = protos.prototypes[1]
    auto, steered = torch.stack(conds[None]), torch.stack(conds["fl"])
    assert auto.shape == steered.shape
    # Each code's movement vector moves by the step from the mean of the performance's vectors so far (live
    # cannot know the later ones) to the flute's prototype.
    windows = torch.unique_consecutive(auto, dim=0)
    assert len(windows) > 3
    assert torch.allclose(steered[-1] - auto[-1], fl - windows.mean(0), atol=1e-4)
    assert torch.allclose(steered[0] - auto[0], fl - auto[0], atol=1e-4)
    with pytest.raises(MinetError, match="unknown instrument 'zz'"):
        LiveGenerator(s, fps=kf.fps, instrument="zz")


def test_live_mode_changes_instrument_mid_performance_as_if_chosen_from_the_start(
    make_bundle, monkeypatch
) -> None:
    """The musician picks another instrument while playing: from the next code on the audio is what it would
    have been with that choice from the start (the running mean of the movement carries over); back to Auto,
    it is unsteered again."""
    from minet_desktop.engine.streaming import LiveGenerator

    path = add_prototypes(make_bundle())
    s = Session(path, device="cpu", performance_detector=None)
    H = load_bundle(path).instruments.dim  # type: ignore[union-attr]
    conds: dict[str, list[torch.Tensor]] = {}
    step = CodeSampler.step
    current = ["auto"]

    def spy(self: CodeSampler, cond: torch.Tensor) -> torch.Tensor:
        conds.setdefault(current[0], []).append(cond[0, :H].clone())
        return step(self, cond)

    monkeypatch.setattr(CodeSampler, "step", spy)
    kf = player("vn", seed=11, seconds=3.0)
    half = kf.keypoints.shape[0] // 2
    for name, start in (("auto", None), ("fl", "fl")):
        current[0] = name
        live = LiveGenerator(s, fps=kf.fps, seed=0, instrument=start, griffin_lim_iters=2)
        live.push_frames(kf.keypoints)
        live.flush()
    current[0] = "switched"
    live = LiveGenerator(s, fps=kf.fps, seed=0, griffin_lim_iters=2)
    live.push_frames(kf.keypoints[:half])
    n_before = len(conds["switched"])
    live.set_instrument("fl")
    live.push_frames(kf.keypoints[half:])
    live.flush()
    auto, fl, switched = (torch.stack(conds[k]) for k in ("auto", "fl", "switched"))
    assert 0 < n_before < len(switched) == len(auto)
    assert torch.allclose(switched[:n_before], auto[:n_before], atol=1e-5)
    assert torch.allclose(switched[n_before:], fl[n_before:], atol=1e-4)
    assert not torch.allclose(switched[n_before:], auto[n_before:], atol=1e-3)
    live.set_instrument(None)
    assert live.instrument is None and live.prototypes is None
    with pytest.raises(MinetError, match="unknown instrument 'zz'"):
        live.set_instrument("zz")


def test_a_midi_model_asked_for_another_instrument_moves_the_score_by_octaves_into_its_range(
    make_bundle,
) -> None:
    from minet_desktop.core.instruments import RANGES, octave_shift

    assert octave_shift([60, 64, 67], "vn") == 0  # already in the violin's range (55-88)
    assert (
        octave_shift([40, 45], "vn") == 2 and octave_shift([72, 79], "tba") == -2
    )  # the smallest shift that fits
    assert octave_shift([120, 127], "tba") < 0 and octave_shift([1, 127], "tba") == 0  # still MIDI pitches
    path = add_prototypes(make_bundle("minet_midi"))
    s = Session(path, device="cpu", performance_detector=None)
    kf = player("vn", seed=11, seconds=3.0)
    low_line = [Note(0.2 * i, 0.2 * i + 0.18, 36 + i % 8) for i in range(14)]  # C2-G2: a cello's line
    job, warnings = s.prepare(kf, low_line, instrument="fl")
    low, high = RANGES["fl"]
    played = sorted({int(i) - 1 for i in job.notes if i > 0})  # index 0 is a rest, pitch + 1 a note
    assert played and low <= min(played) and max(played) <= high
    assert played == sorted({n.pitch + 24 for n in low_line})  # two octaves up: the same notes
    assert any("moved up 2 octaves into the flute's range" in w for w in warnings), warnings
    job, warnings = s.prepare(kf, low_line, instrument="fl", keep_octaves=True)
    assert sorted({int(i) - 1 for i in job.notes if i > 0}) == sorted({n.pitch for n in low_line})
    assert not any("octave" in w for w in warnings)
    job, warnings = s.prepare(kf, low_line)  # no override: as written
    assert sorted({int(i) - 1 for i in job.notes if i > 0}) == sorted({n.pitch for n in low_line})
