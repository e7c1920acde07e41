"""Articulation: notes start where the movement (or the score) says, and nowhere in between."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from engine_helpers import performance

from minet_desktop.core.skeleton import R_HAND, R_WRIST
from minet_desktop.engine.articulation import (
    Articulation,
    articulate,
    gap_gain,
    movement_events,
    note_onsets,
)
from minet_desktop.engine.session import Session
from minet_desktop.media.midi import Note

FR = 62.5


def bowing(
    seconds: float = 4.0, strokes_per_s: float = 2.0, jitter: float = 0.002, seed: int = 0
) -> np.ndarray:
    """Normalised skeleton frames (T, 3, 47): still but for the right arm drawing a bow back and forth."""
    rng = np.random.default_rng(seed)
    T = int(seconds * FR)
    t = np.arange(T) / FR
    frames = np.zeros((T, 3, 47), np.float32)
    frames[:, 0] = rng.uniform(-1, 1, 47)
    frames[:, 1] = rng.uniform(-1, 1, 47)
    frames[:, 2] = 1.0
    # A triangle wave: the stroke turns every 1 / strokes_per_s s, at constant bow speed in between.
    phase = (t * strokes_per_s) % 2.0
    bow = np.where(phase < 1.0, phase, 2.0 - phase) * 0.8
    for j in (R_WRIST, *R_HAND):
        frames[:, 0, j] += bow
        frames[:, 1, j] += 0.3 * bow
    frames[:, :2] += rng.normal(0, jitter, frames[:, :2].shape)
    return frames


def test_a_bow_that_turns_is_an_event_at_every_turn_and_nowhere_else() -> None:
    frames = bowing()
    events = movement_events(frames, FR)
    turns = np.arange(1, 8) * FR / 2.0  # every 0.5 s
    assert len(events) == len(turns), (events, turns)
    assert np.abs(events - turns).max() <= 2  # within 32 ms


def test_the_scores_onsets_are_where_a_note_starts_after_a_rest_or_another_note() -> None:
    seq = np.array([0, 0, 61, 61, 0, 63, 63, 64, 64, 0])
    assert note_onsets(seq).tolist() == [2, 5, 7]
    assert note_onsets(np.zeros(5, int)).tolist() == []


def test_articulate_dips_just_before_each_event_and_keeps_shape_dtype_and_the_rest() -> None:
    spec = torch.full((2, 8, 40), -1.0)
    s = Articulation(dip_db=20.0, dip_s=3 / FR, smooth_s=0.0, accent_db=0.0)
    out = articulate(spec, np.array([10, 30]), FR, s)
    assert out.shape == spec.shape and out.dtype == spec.dtype
    depth = 20 * math.log(10) / 20
    for e in (10, 30):
        assert out[0, 0, e - 1].item() == pytest.approx(-1.0 - depth, abs=1e-5)  # the full dip right before
        assert out[0, 0, e - 3].item() == pytest.approx(-1.0 - depth / 3, abs=1e-5)  # fading in
        assert out[0, 0, e].item() == pytest.approx(-1.0)  # the note itself starts at full level
    untouched = np.setdiff1d(np.arange(40), [7, 8, 9, 27, 28, 29])
    assert torch.equal(out[..., untouched], spec[..., untouched])
    # Smoothing takes a one-frame flicker (a code boundary) out.
    flicker = spec.clone()
    flicker[..., 20] = 3.0
    assert torch.allclose(articulate(flicker, np.array([], int), FR, Articulation(smooth_s=5 / FR)), spec)


def test_generation_articulates_by_default_and_not_when_asked(make_bundle) -> None:
    s = Session(make_bundle(), device="cpu")
    kf = performance(3.0)
    plain = s.generate(kf, seed=2, griffin_lim_iters=2, articulation=None)
    shaped = s.generate(kf, seed=2, griffin_lim_iters=2)
    assert np.array_equal(plain.codes, shaped.codes)  # the same notes drawn; only their articulation differs
    assert plain.spectrogram.shape == shaped.spectrogram.shape
    assert not np.allclose(plain.spectrogram, shaped.spectrogram)


def test_a_midi_model_articulates_its_scores_onsets(make_bundle, monkeypatch) -> None:
    import minet_desktop.engine.backends as backends

    seen: list[np.ndarray] = []
    real = backends.articulate
    monkeypatch.setattr(
        backends, "articulate", lambda spec, ev, fr, st: seen.append(ev) or real(spec, ev, fr, st)
    )
    s = Session(make_bundle("minet_midi"), device="cpu")
    notes = [Note(0.5 * i, 0.5 * i + 0.4, 60 + i) for i in range(5)]
    s.generate(performance(3.0), notes=notes, seed=0, griffin_lim_iters=2)
    assert len(seen) == 1
    fr = s.backend.audio.frame_rate
    assert np.abs(seen[0] - np.round(np.arange(5) * 0.5 * fr)).max() <= 1


def test_cli_generate_without_articulation_is_the_decoders_spectrogram(make_bundle, tmp_path) -> None:
    import soundfile as sf

    from minet_desktop.cli import main

    model = make_bundle()
    kp = tmp_path / "p.npz"
    performance(3.0).save(kp)
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    base = ["generate", str(kp), "--model", str(model), "--seed", "4", "--griffin-lim-iters", "2"]
    assert main([*base, "-o", str(a)]) == 0
    assert main([*base, "-o", str(b), "--no-articulation"]) == 0
    wave_b, _ = sf.read(b)
    plain = Session(model, device="cpu").generate(
        performance(3.0), seed=4, griffin_lim_iters=2, articulation=None
    )
    assert np.allclose(wave_b, plain.waveform[0], atol=1e-4)
    assert not np.allclose(sf.read(a)[0], wave_b, atol=1e-4)


def test_a_performer_who_hardly_moves_gets_no_articulation(make_bundle) -> None:
    from dataclasses import replace

    from minet_desktop.model.bundle import load_bundle, save_bundle
    from minet_desktop.model.config import InstrumentPrototypesConfig
    from minet_desktop.model.instruments import InstrumentPrototypes

    path = make_bundle()
    b = load_bundle(path)
    pc = InstrumentPrototypesConfig(codes=("vn", "fl"), min_motion=0.01, max_distance=1e6)
    protos = InstrumentPrototypes(pc, b.cfg.movement.out_features)
    path = save_bundle(
        path.with_name("still.safetensors"), replace(b.cfg, instruments=pc), b.vqvae, b.movement, b.prior,
        "# tiny", instruments=protos,
    )  # fmt: skip
    s = Session(path, device="cpu")
    kf = performance(3.0)
    still = replace(kf, keypoints=np.repeat(kf.keypoints[:1], kf.n_frames, axis=0))
    job, _ = s.prepare(still)
    assert s.backend.articulation_events(job).size == 0
    job, _ = s.prepare(kf)
    assert s.backend.articulation_events(job).size > 0


def test_a_bundle_with_an_onset_detector_articulates_where_it_finds_notes(make_bundle, monkeypatch) -> None:
    from dataclasses import replace

    from minet_desktop.model.bundle import load_bundle, save_bundle
    from minet_desktop.model.config import OnsetDetectorConfig
    from minet_desktop.model.onsets import OnsetDetector

    b = load_bundle(make_bundle())
    oc = OnsetDetectorConfig(hidden=8, dilations=(1,), threshold=0.6, min_gap_s=0.1)
    path = save_bundle(
        make_bundle().with_name("onsets.safetensors"), replace(b.cfg, onsets=oc), b.vqvae, b.movement, b.prior,
        "# tiny", onsets=OnsetDetector(oc),
    )  # fmt: skip
    s = Session(path, device="cpu")
    job, _ = s.prepare(performance(3.0))
    p = np.zeros(job.n_frames, np.float32)
    p[[20, 23, 60, 100]] = [0.9, 0.95, 0.5, 0.7]  # 23 beats 20 (closer than 0.1 s); 60 is under the threshold
    monkeypatch.setattr(OnsetDetector, "probabilities", lambda self, frames: p[: len(frames)])
    assert s.backend.articulation_events(job).tolist() == [23, 100]


def test_an_accent_raises_each_notes_first_frames_and_fades_out() -> None:
    spec = torch.full((1, 4, 30), -2.0)
    out = articulate(spec, np.array([10]), FR, Articulation(dip_db=0.0, accent_db=6.0, accent_s=3 / FR))
    lift = 6 * math.log(10) / 20
    assert out[0, 0, 10].item() == pytest.approx(-2.0 + lift, abs=1e-5)  # the attack: the full accent
    assert out[0, 0, 12].item() == pytest.approx(-2.0 + lift / 3, abs=1e-5)  # fading out
    assert torch.equal(out[..., 13:], spec[..., 13:]) and torch.equal(out[..., :10], spec[..., :10])


def test_a_gap_silences_the_waveform_just_before_each_event_and_nowhere_else() -> None:
    sr = 16000
    st = Articulation(gap_db=20.0, gap_s=0.03, gap_fall_s=0.01, gap_rise_s=0.005)
    g = gap_gain(sr, np.array([25, 50]), FR, sr, st)  # events at 0.4 s and 0.8 s
    assert g.shape == (sr,) and g.dtype == np.float32
    for onset in (6400, 12800):
        assert g[onset - 480 : onset] == pytest.approx(0.1, abs=1e-6)  # 30 ms at -20 dB
        assert 0.1 < g[onset - 560] < 1.0  # fading in over the 10 ms before it
        assert g[onset + 40] == pytest.approx(
            0.1 + 0.9 * 40 / 80, abs=1e-3
        )  # rising over 5 ms from the onset
        assert g[onset + 80] == 1.0
    assert np.all(g[: 6400 - 640] == 1.0) and np.all(g[6400 + 80 : 12800 - 640] == 1.0)
    assert np.all(gap_gain(sr, np.array([25]), FR, sr, Articulation(gap_db=0.0)) == 1.0)
    assert np.all(gap_gain(sr, np.zeros(0, np.int64), FR, sr, st) == 1.0)
    # An event at the very start or past the end is clipped, not an error.
    assert gap_gain(100, np.array([0, 10_000]), FR, sr, st).shape == (100,)


def test_a_gap_takes_at_most_its_share_of_a_fast_note() -> None:
    sr = 16000
    st = Articulation(gap_db=20.0, gap_s=0.03, gap_fall_s=0.01, gap_rise_s=0.005, gap_max_share=0.25)
    # Events 0.8 s apart (the full 40-ms lead) then 0.08 s apart (a lead of 20 ms: 15 ms gap, 5 ms fall).
    g = gap_gain(2 * sr, np.array([25, 75, 80]), FR, sr, st)
    assert np.all(g[19200 - 480 : 19200] < 0.11)  # the slow note: 30 ms at the floor
    fast = 20480
    assert (
        np.all(g[fast - 240 : fast] < 0.11) and g[fast - 240 - 40] > 0.4
    )  # 15 ms at the floor, then the fall
    assert np.all(g[19200 + 80 : fast - 320] == 1.0)  # the fast note sounds in between
    assert np.array_equal(gap_gain(2 * sr, np.array([80, 25, 75]), FR, sr, st), g)  # events in any order


def test_a_steady_note_with_a_gap_gives_one_detected_onset_per_event() -> None:
    """The reason for the gap: a dip in the spectrogram alone comes out of Griffin-Lim smeared, and the
    evaluation's onset detector finds about three onsets per note in it; a gap in the waveform gives one."""
    from minet_desktop.core.config import AudioConfig
    from minet_desktop.features.audio import spectrogram_to_audio
    from training.evaluate import metrics as M

    a = AudioConfig()
    fr, T = a.frame_rate, 400
    frame = np.full(a.n_bins, -9.0, np.float32)
    for k in (1, 2, 3, 4, 5):  # a 262-Hz harmonic tone, each harmonic a few bins wide
        b = int(round(262 * k * a.n_fft / a.sample_rate))
        frame[b - 1 : b + 2] = 1.5 - 0.3 * k
    steady = np.repeat(frame[:, None], T, 1)
    events = np.arange(50, T - 30, 40)
    shipped = Articulation()
    spec = articulate(torch.from_numpy(steady), events, fr, shipped).numpy()
    n = (T - 1) * a.hop_length
    wave = spectrogram_to_audio(spec, a, n_iter=32, length=n)
    gapped = wave * gap_gain(n, events, fr, a.sample_rate, Articulation(gap_db=20.0))
    without = M.onset_scores(events / fr, M.detect_onsets(wave, a.sample_rate))
    with_gap = M.onset_scores(events / fr, M.detect_onsets(gapped, a.sample_rate))
    assert with_gap.recall == 1.0 and with_gap.precision >= 0.75  # measured: 8 of 9
    assert without.precision < 0.3  # measured: 8 of 57


def test_generation_puts_a_gap_in_the_waveform_before_each_event(make_bundle, monkeypatch) -> None:
    import minet_desktop.engine.backends as backends

    s = Session(make_bundle("minet_midi"), device="cpu")
    notes = [Note(0.5 * i, 0.5 * i + 0.4, 60 + i) for i in range(1, 5)]
    kw = {"notes": notes, "seed": 0, "griffin_lim_iters": 2}
    plain = s.generate(performance(3.0), articulation=Articulation(gap_db=0.0), **kw).waveform[0]
    gapped = s.generate(performance(3.0), articulation=Articulation(gap_db=40.0), **kw).waveform[0]
    shipped = s.generate(performance(3.0), **kw).waveform[0]
    assert not np.allclose(shipped, plain, atol=1e-6)  # generation has a gap by default
    sr = s.backend.audio.sample_rate
    for i in range(1, 5):  # the 20 ms before each note's onset, inside the gap
        before = slice(int((0.5 * i - 0.02) * sr), int(0.5 * i * sr) - 1)
        assert np.abs(gapped[before]).max() <= 0.011 * np.abs(plain[before]).max() + 1e-6
    quiet = slice(int(0.7 * sr), int(0.9 * sr))  # within a note: untouched
    assert np.allclose(gapped[quiet], plain[quiet], atol=1e-6)
    monkeypatch.setattr(backends, "gap_gain", lambda *a, **k: pytest.fail("no gap without articulation"))
    s.generate(performance(3.0), articulation=None, **kw)
