"""Log-spectrogram (MI Net paper) and log-mel (Visually Indicated Music) representations and their Griffin-Lim inverses.

The round trips run on real instrument sound: melodies rendered by FluidSynth with the General MIDI soundfont
(violin = program 40, flute = program 73), not on sine waves that any phase estimate gets right.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from minet_desktop.core.config import AudioConfig, MelConfig
from minet_desktop.features.audio import (
    LogMel,
    LogSpectrogram,
    log_mel,
    log_spectrogram,
    mel_to_audio,
    n_frames,
    spectral_convergence,
    spectrogram_to_audio,
)
from minet_desktop.media.midi import DEFAULT_SOUNDFONT, Note, synthesize_notes

VIOLIN, FLUTE = 40, 73


def _melody(base: int) -> list[Note]:
    """Eight 0.32 s notes of a scale fragment starting at MIDI ``base``, ~2.9 s in all."""
    steps = [0, 2, 4, 5, 7, 5, 4, 2]
    return [Note(0.05 + i * 0.35, 0.05 + i * 0.35 + 0.32, base + s, 96) for i, s in enumerate(steps)]


def _render(program: int, sample_rate: int) -> torch.Tensor:
    if not DEFAULT_SOUNDFONT.is_file():
        pytest.fail(f"{DEFAULT_SOUNDFONT} is missing: install Debian's fluid-soundfont-gm (see .ci/run)")
    base = 67 if program == VIOLIN else 72  # G4 for the violin, C5 for the flute: the middle of their ranges
    wave = synthesize_notes(_melody(base), program, sample_rate, length=3 * sample_rate)
    return torch.from_numpy(wave)


@pytest.fixture(scope="module")
def rendered_16k() -> dict[int, torch.Tensor]:
    return {p: _render(p, 16_000) for p in (VIOLIN, FLUTE)}


@pytest.fixture(scope="module")
def rendered_22k() -> dict[int, torch.Tensor]:
    return {p: _render(p, 22_050) for p in (VIOLIN, FLUTE)}


# ------------------------------------------------------------------------------------------------------
# Shapes and values


def test_four_seconds_gives_251_frames_of_1024_bins() -> None:
    cfg = AudioConfig()
    assert cfg.frame_rate == 62.5
    assert n_frames(4 * cfg.sample_rate, cfg.hop_length) == 251
    spec = LogSpectrogram(cfg)(torch.zeros(4 * cfg.sample_rate))
    assert spec.shape == (1024, 251)
    assert spec.dtype == torch.float32


@pytest.mark.parametrize("n_samples", [0, 1, 300, 1024, 1025, 5000])
def test_any_length_gives_centred_frame_count(n_samples: int) -> None:
    # Reflect padding needs > n_fft/2 samples; short clips (a live-mode chunk, a tiny file) must still work.
    spec = log_spectrogram(np.zeros(n_samples, np.float32))
    assert spec.shape == (1024, n_samples // 256 + 1)


def test_log_floor_clamps_silence_and_keeps_sound() -> None:
    cfg = AudioConfig()
    silence = log_spectrogram(np.zeros(16_000, np.float32), cfg)
    np.testing.assert_allclose(silence, math.log(cfg.log_floor), rtol=1e-6)
    t = np.arange(16_000) / 16_000
    tone = log_spectrogram((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), cfg)
    assert tone.min() >= math.log(cfg.log_floor) - 1e-5
    assert tone.max() > math.log(10.0)  # a -6 dBFS sine sums to ~250 in its bin with a 2048 Hann window


def test_sine_lands_in_its_frequency_bin() -> None:
    # 1 kHz at 16 kHz with a 2048-point FFT: bin 1000 / (16000 / 2048) = 128.
    t = np.arange(32_000) / 16_000
    spec = log_spectrogram(np.sin(2 * np.pi * 1000 * t).astype(np.float32))
    assert np.all(np.argmax(spec[:, 5:-5], axis=0) == 128)


def test_batch_forward_matches_one_by_one() -> None:
    gen = torch.Generator().manual_seed(0)
    waves = torch.randn(2, 3, 8000, generator=gen) * 0.1
    module = LogSpectrogram(AudioConfig())
    batch = module(waves)
    assert batch.shape == (2, 3, 1024, 8000 // 256 + 1)
    torch.testing.assert_close(batch[1, 2], module(waves[1, 2]), rtol=1e-4, atol=1e-4)
    mel = LogMel(MelConfig())(waves)
    assert mel.shape == (2, 3, 80, 8000 // 512 + 1)
    torch.testing.assert_close(mel[0, 1], LogMel(MelConfig())(waves[0, 1]), rtol=1e-4, atol=1e-4)


def test_inverse_length_and_wrong_bins() -> None:
    module = LogSpectrogram(AudioConfig())
    spec = module(torch.zeros(2, 4000))
    assert module.inverse(spec, n_iter=2, length=4000).shape == (2, 4000)
    assert module.inverse(spec, n_iter=2).shape == (2, (spec.shape[-1] - 1) * 256)
    with pytest.raises(ValueError, match="1024 frequency bins"):
        module.inverse(spec[..., :80, :], n_iter=2)
    with pytest.raises(ValueError, match="80 mel bands"):
        LogMel(MelConfig()).inverse(spec, n_iter=2)


def test_log_mel_shape() -> None:
    mel = log_mel(np.zeros(4 * 22_050, np.float32))
    assert mel.shape == (80, 4 * 22_050 // 512 + 1)  # 173 frames, 43.07 per second
    np.testing.assert_allclose(mel, math.log(MelConfig().log_floor), rtol=1e-6)


def test_spectral_convergence_basics() -> None:
    a = np.abs(np.random.default_rng(0).normal(size=(16, 10)))
    assert spectral_convergence(a, a) == 0.0
    assert spectral_convergence(a, 2 * a) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shapes differ"):
        spectral_convergence(a, a[:, :9])


# ------------------------------------------------------------------------------------------------------
# Round trips on rendered instruments


def test_metric_tells_instruments_apart(rendered_16k: dict[int, torch.Tensor]) -> None:
    # Guards the round-trip thresholds below: two different instruments are far apart on this metric.
    module = LogSpectrogram(AudioConfig())
    sc = spectral_convergence(module.magnitude(rendered_16k[VIOLIN]), module.magnitude(rendered_16k[FLUTE]))
    assert sc > 0.5


# Measured (CPU, 64 iterations, zero-phase start, 3 s melodies): violin 0.025, flute 0.033.
# With 100 iterations 0.017 / 0.015, with 200 0.008 / 0.006.
@pytest.mark.parametrize("program", [VIOLIN, FLUTE])
def test_log_spectrogram_griffin_lim_round_trip(rendered_16k: dict[int, torch.Tensor], program: int) -> None:
    wave = rendered_16k[program]
    module = LogSpectrogram(AudioConfig())
    audio = module.inverse(module(wave), n_iter=64, length=wave.shape[-1])
    assert audio.shape == wave.shape
    sc = spectral_convergence(module.magnitude(wave), module.magnitude(audio))
    assert sc < 0.07, f"spectral convergence {sc:.4f}"


def test_griffin_lim_is_deterministic(rendered_16k: dict[int, torch.Tensor]) -> None:
    spec = log_spectrogram(rendered_16k[FLUTE][:16_000].numpy())
    a = spectrogram_to_audio(spec, n_iter=8, length=16_000)
    b = spectrogram_to_audio(spec, n_iter=8, length=16_000)
    assert a.dtype == np.float32 and a.shape == (16_000,)
    np.testing.assert_array_equal(a, b)


# Measured (CPU, 100 iterations = MelConfig default, mel-domain magnitudes): violin 0.061, flute 0.066.
# (64 iterations: 0.065 / 0.072.) The mel path loses fine frequency detail, so it sits above the linear one.
@pytest.mark.parametrize("program", [VIOLIN, FLUTE])
def test_log_mel_griffin_lim_round_trip(rendered_22k: dict[int, torch.Tensor], program: int) -> None:
    wave = rendered_22k[program]
    module = LogMel(MelConfig())
    audio = torch.from_numpy(mel_to_audio(log_mel(wave.numpy()), length=wave.shape[-1]))
    assert audio.shape == wave.shape
    sc = spectral_convergence(module.mel_magnitude(wave), module.mel_magnitude(audio))
    assert sc < 0.12, f"spectral convergence {sc:.4f}"
