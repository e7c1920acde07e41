"""Generating with Visually Indicated Music's frame regressor through the Session: aligned audio, progress, cancel, notes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import performance

from minet_desktop.core.errors import Cancelled, InputError
from minet_desktop.engine.regressor import RegressorBackend
from minet_desktop.engine.session import Session
from minet_desktop.engine.windowing import crossfade_weights, window_starts
from minet_desktop.features.audio import LogMel
from minet_desktop.media.midi import Note
from minet_desktop.model.config import RegressorBundleConfig
from minet_desktop.model.regressor import BasicBlock, FrameRegressor, save_regressor_bundle


def make_regressor(tmp_path: Path, midi: bool = False) -> Path:
    cfg = RegressorBundleConfig.tiny(midi)
    torch.manual_seed(3)
    model = FrameRegressor(cfg.regressor)
    # Random weights: open the residual branches (initialised shut) and scale the head, so that the output
    # visibly depends on what goes in.
    with torch.no_grad():
        for block in model.modules():
            if isinstance(block, BasicBlock):
                block.bn2.weight.fill_(1.0)
        model.head.weight.mul_(30)
    model.set_normalization(torch.full((80,), -6.0), torch.full((80,), 1.0))
    return save_regressor_bundle(tmp_path / f"{cfg.model_type}.safetensors", cfg, model, "# tiny")


@pytest.mark.parametrize(("seconds", "fps"), [(0.3, 30.0), (2.0, 25.0), (1.37, 29.97)])
def test_audio_lasts_as_long_as_the_keypoints(tmp_path: Path, seconds: float, fps: float) -> None:
    s = Session(make_regressor(tmp_path), device="cpu")
    assert isinstance(s.backend, RegressorBackend) and s.model_type == "frame_regressor"
    kf = performance(seconds, fps=fps)
    r = s.generate(kf, takes=2, seed=5, griffin_lim_iters=2)
    n = round(kf.n_frames / fps * 22050)
    assert r.sample_rate == 22050 and r.frame_rate == pytest.approx(22050 / 512)
    assert r.waveform.shape == (2, n) and r.spectrogram.shape == (2, 513, n // 512 + 1)
    assert np.isfinite(r.waveform).all() and np.abs(r.waveform).max() > 0
    # Deterministic: the takes are the same audio.
    np.testing.assert_array_equal(r.waveform[0], r.waveform[1])
    assert r.codes is None and set(r.timings) >= {"mel", "waveform"}


def test_frames_reach_the_model_at_the_mel_rate_and_windows_join_without_seams(tmp_path: Path) -> None:
    s = Session(make_regressor(tmp_path), device="cpu")
    backend = s.backend
    assert isinstance(backend, RegressorBackend)
    job, _ = s.prepare(performance(3.0))
    assert job.n_frames == round(3.0 * 22050) // 512 + 1
    W = backend.cfg.window_frames
    starts = window_starts(job.n_frames, W)
    assert starts[0] == 0 and starts[-1] + W == job.n_frames and len(starts) > 4
    gen = backend.iter_mel(job.frames, None, torch.device("cpu"))
    stages = []
    try:
        while True:
            stages.append(next(gen).stage)
    except StopIteration as stop:
        mel = stop.value
    assert stages.count("mel") == len(starts) and stages.index("mel") > stages.index("vision")
    assert mel.shape == (80, job.n_frames)
    # Frames that only the first window covers are exactly what the model predicts on that window alone.
    hop = starts[1]
    first = drain(backend.iter_mel(job.frames[:W], None, torch.device("cpu")))
    torch.testing.assert_close(mel[:, :hop], first[:, :hop], atol=1e-4, rtol=1e-4)
    w = crossfade_weights(W)
    assert w[0] < w[W // 2] and w[-1] < w[W // 2]


def drain(gen):
    """Run a generator to its end; its return value."""
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def test_the_waveform_is_griffin_lim_of_the_predicted_mel(tmp_path: Path) -> None:
    s = Session(make_regressor(tmp_path), device="cpu")
    kf = performance(1.0)
    r = s.generate(kf, seed=0, griffin_lim_iters=3)
    job, _ = s.prepare(kf)
    mel = drain(s.backend.iter_mel(job.frames, None, torch.device("cpu")))
    # The same as LogMel's own inverse (pseudo-inverse + Griffin-Lim), computed by the engine's chunked,
    # cancellable Griffin-Lim.
    ref = LogMel(s.cfg.mel).inverse(mel, n_iter=3, length=job.n_samples).numpy()
    # Equal up to float rounding, which Griffin-Lim amplifies at each iteration and which depends on the CPU's
    # FFT paths (below 1e-3 on one machine, 1.2e-3 on another); a wrong chunk, hop or window is off by 10 % or more.
    assert np.linalg.norm(r.waveform[0] - ref) / np.linalg.norm(ref) < 1e-2


def test_progress_is_monotonic_and_cancel_stops_at_once(tmp_path: Path) -> None:
    s = Session(make_regressor(tmp_path), device="cpu")
    kf = performance(2.0)
    seen = []
    s.generate(kf, seed=0, griffin_lim_iters=4, progress=seen.append)
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert [p.stage for p in seen][0] == "vision" and seen[-1].stage == "waveform"
    assert {p.label for p in seen} >= {
        "looking at the performer",
        "predicting the mel spectrogram",
        "Griffin-Lim",
    }
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        s.generate(kf, seed=0, griffin_lim_iters=4, should_cancel=cancel)
    assert len(calls) == 3


def test_the_midi_variant_plays_the_notes_it_is_given(tmp_path: Path) -> None:
    s = Session(make_regressor(tmp_path, midi=True), device="cpu")
    assert s.backend.needs_notes and s.model_type == "frame_regressor_midi"
    kf = performance(1.5)
    low = [Note(0.0, 1.5, 48, 90)]
    high = [Note(0.0, 0.7, 84, 90), Note(0.7, 1.5, 79, 90)]
    a = s.generate(kf, notes=low, seed=0, griffin_lim_iters=2)
    b = s.generate(kf, notes=high, seed=0, griffin_lim_iters=2)
    again = s.generate(kf, notes=low, seed=0, griffin_lim_iters=2)
    np.testing.assert_array_equal(a.spectrogram, again.spectrogram)
    assert np.abs(a.spectrogram - b.spectrogram).mean() > 1e-3
    with pytest.raises(InputError, match="conditioned on MIDI"):
        s.generate(kf)


def test_the_vision_only_regressor_follows_the_performer(tmp_path: Path) -> None:
    s = Session(make_regressor(tmp_path), device="cpu")
    a = s.generate(performance(1.0, seed=0), seed=0, griffin_lim_iters=2)
    b = s.generate(performance(1.0, seed=1), seed=0, griffin_lim_iters=2)
    assert np.abs(a.spectrogram - b.spectrogram).mean() > 1e-3
    r = s.generate(performance(1.0), notes=[Note(0, 1, 60, 80)], seed=0, griffin_lim_iters=2)
    assert any("not conditioned on MIDI" in w for w in r.warnings)
