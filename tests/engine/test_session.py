"""Session: alignment, takes, seeds, cancellation, MIDI, wrong bundles, out-of-memory fallback, bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import performance
from safetensors.torch import save_file

from minet_desktop.core.config import AudioConfig
from minet_desktop.core.errors import Cancelled, InputError
from minet_desktop.engine.backends import MINetBackend
from minet_desktop.engine.session import Session
from minet_desktop.media.midi import Note, write_midi
from minet_desktop.model.bundle import build_modules, save_bundle
from minet_desktop.model.config import BundleConfig, PriorConfig, VQVAEConfig


def _run(gen):
    steps = []
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            return stop.value, steps


@pytest.mark.parametrize(("seconds", "fps"), [(1.0, 30.0), (2.02, 25.0), (1.3, 29.97), (0.1, 30.0)])
def test_output_is_aligned_to_the_input_duration(make_bundle, seconds, fps) -> None:
    s = Session(make_bundle(), device="cpu")
    kf = performance(seconds, fps)
    r = s.generate(kf, seed=0)
    a = s.cfg.audio
    n = round(kf.n_frames / fps * a.sample_rate)
    assert r.waveform.shape == (1, n) and r.waveform.dtype == np.float32
    assert r.spectrogram.shape == (1, a.n_bins, n // a.hop_length + 1)
    assert r.duration == pytest.approx(kf.duration, abs=1 / a.sample_rate)
    assert np.isfinite(r.waveform).all() and np.abs(r.waveform).max() > 0


def test_takes_seeds_and_progress(make_bundle) -> None:
    s = Session(make_bundle(), device="cpu")  # on CUDA, TF32 convolutions of a batch round more than 1e-3
    kf = performance(1.0)
    r, steps = _run(s.iter_generate(kf, takes=3, seed=10))
    assert r.seeds == [10, 11, 12] and r.waveform.shape[0] == 3 and r.codes.shape[0] == 3
    assert not np.array_equal(r.codes[0], r.codes[1])
    alone = s.generate(kf, seed=11)  # take 2 of the batch, generated on its own
    np.testing.assert_array_equal(alone.codes[0], r.codes[1])
    np.testing.assert_allclose(alone.waveform[0], r.waveform[1], atol=1e-3)  # batched convs round differently
    stages = [p.stage for p in steps]
    assert stages[0] == "motion" and stages[-1] == "waveform"
    assert set(stages) == {"motion", "codes", "decode", "waveform"}
    fractions = [p.fraction for p in steps]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    again = s.generate(kf, takes=3, seed=10)
    np.testing.assert_array_equal(again.waveform, r.waveform)


def _medium_bundle(tmp_path: Path) -> Path:
    """The paper's audio settings and prior width with a thin VQ-VAE: realistic chunk times, quick to run."""
    cfg = BundleConfig(
        vqvae=VQVAEConfig(channels=64, code_dim=16, codebook_size=256),
        prior=PriorConfig(dropout=0.0),
    )
    torch.manual_seed(0)
    return save_bundle(tmp_path / "medium.safetensors", cfg, *build_modules(cfg))


def test_cancellation_lands_within_200_ms(tmp_path) -> None:
    s = Session(_medium_bundle(tmp_path), device="cpu")
    kf = performance(6.0)
    # Every yield is a cancel point: no gap between two yields may exceed the bound.
    gen = s.iter_generate(kf, seed=0, griffin_lim_iters=16)
    last, gaps, stages = time.perf_counter(), [], set()
    for p in gen:
        now = time.perf_counter()
        gaps.append((now - last, p.stage))
        stages.add(p.stage)
        last = now
    assert stages == {"motion", "codes", "decode", "waveform"}
    worst = max(gaps)
    assert worst[0] < 0.2, f"{worst[0] * 1000:.0f} ms without a cancel point (stage {worst[1]})"

    # And generate() raises Cancelled promptly once asked, in the middle of sampling codes.
    asked_at: list[float] = []
    seen: list[str] = []

    def should_cancel() -> bool:
        if len(seen) >= 3 and not asked_at:
            asked_at.append(time.perf_counter())
        return bool(asked_at)

    with pytest.raises(Cancelled):
        s.generate(kf, seed=0, progress=lambda p: seen.append(p.stage), should_cancel=should_cancel)
    assert time.perf_counter() - asked_at[0] < 0.2
    assert len(seen) == 3  # nothing more was reported after the request


def test_stopping_the_generator_stops_the_work(make_bundle) -> None:
    s = Session(make_bundle())
    gen = s.iter_generate(performance(2.0), seed=0)
    next(gen)
    gen.close()  # what a GUI worker does on abort
    with pytest.raises(StopIteration):
        next(gen)
    assert s.generate(performance(0.5), seed=0).takes == 1  # the session is usable again


def test_no_person_is_refused_naming_the_file(make_bundle) -> None:
    s = Session(make_bundle())
    with pytest.raises(InputError, match=r"no person was detected in performance\.mp4"):
        s.generate(performance(1.0, detected=False))


def test_little_detection_is_reported(make_bundle) -> None:
    kf = performance(1.0)
    kf.keypoints[10:, 2] = 0.0
    kf.detected_fraction = 10 / kf.n_frames
    r = Session(make_bundle()).generate(kf, seed=0)
    assert any("only 33%" in w for w in r.warnings)


def test_midi_is_trimmed_or_padded_and_reported(make_bundle, tmp_path) -> None:
    s = Session(make_bundle("minet_midi"))
    kf = performance(2.0)
    long = [Note(0.1 * i, 0.1 * i + 0.1, 60 + i % 12, 80) for i in range(30)]  # 3 s of notes
    r = s.generate(kf, notes=long, seed=0)
    assert r.duration == pytest.approx(2.0, abs=1e-3)
    assert any("trimmed at 2.00 s" in w and "10 note(s)" in w for w in r.warnings)
    midi = write_midi(tmp_path / "short.mid", long[:5])  # ends at 0.5 s
    r = s.generate(kf, notes=str(midi), seed=0)
    assert any("short.mid" in w and "padded with rests" in w for w in r.warnings)
    # The notes condition the music.
    other = s.generate(kf, notes=[Note(0, 2, 40, 80)], seed=0)
    assert not np.array_equal(other.codes, s.generate(kf, notes=long, seed=0).codes)
    with pytest.raises(InputError, match="conditioned on MIDI"):
        s.generate(kf)


def test_unconditional_model_ignores_notes_and_says_so(make_bundle) -> None:
    r = Session(make_bundle()).generate(performance(0.5), notes=[Note(0, 0.5, 60, 80)], seed=0)
    assert any("not conditioned on MIDI" in w for w in r.warnings)


def test_other_model_type_is_refused(tmp_path) -> None:
    path = tmp_path / "ddsp.safetensors"
    config = {"model_type": "ddsp", "format_version": 1}
    save_file(
        {"w": torch.zeros(2)},
        str(path),
        metadata={"format": "minet-bundle", "format_version": "1", "config": json.dumps(config)},
    )
    with pytest.raises(InputError, match=r"ddsp\.safetensors.*'ddsp' cannot generate.*frame_regressor"):
        Session(path)
    with pytest.raises(InputError, match="no such model bundle"):
        Session(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a bundle")
    with pytest.raises(InputError, match="junk.safetensors"):
        Session(tmp_path / "junk.safetensors")


def test_out_of_memory_splits_the_batch_then_falls_back_to_the_cpu(make_bundle, monkeypatch) -> None:
    s = Session(make_bundle(), device="cpu")
    kf = performance(0.5)
    reference = s.generate(kf, takes=4, seed=3)
    original = MINetBackend.iter_batch
    batches: list[tuple[int, str]] = []

    def flaky(self, job, seeds, device):
        batches.append((len(seeds), device.type))
        if len(seeds) > 1 or device.type == "cuda":
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return (yield from original(self, job, seeds, device))

    monkeypatch.setattr(MINetBackend, "iter_batch", flaky)
    r = s.generate(kf, takes=4, seed=3)
    assert batches[:3] == [(4, "cpu"), (2, "cpu"), (1, "cpu")]
    assert any("1 take(s) at a time" in w for w in r.warnings)
    np.testing.assert_array_equal(r.codes, reference.codes)  # same music, just batched differently

    # On a GPU, one take that still does not fit goes to the CPU, and the user is told.
    moves: list[str] = []
    monkeypatch.setattr(MINetBackend, "to", lambda self, device: moves.append(device.type))
    s.device = torch.device("cuda")
    batches.clear()
    r = s.generate(kf, takes=1, seed=3)
    assert batches == [(1, "cuda"), (1, "cpu")]
    assert moves == ["cpu", "cuda"]  # back on the GPU for the next generation
    assert any("continuing on the CPU" in w for w in r.warnings) and r.device.startswith("CPU")
    np.testing.assert_array_equal(r.codes, reference.codes[:1])


def test_session_properties(make_bundle) -> None:
    s = Session(make_bundle())
    assert s.model_type == "minet" and s.model_card.startswith("# Tiny")
    assert s.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert s.device_name.startswith(("CPU", "CUDA"))
    assert s.sample_rate == 8000 and s.cfg.audio == AudioConfig(
        sample_rate=8000, n_fft=64, hop_length=16, n_bins=32, griffin_lim_iters=8
    )


@pytest.mark.gpu
def test_cpu_and_gpu_generate_the_same_music(make_bundle) -> None:
    """Codes are drawn on the CPU from per-take generators, so the devices agree up to float rounding."""
    kf = performance(2.0)
    cpu = Session(make_bundle(), device="cpu").generate(kf, takes=2, seed=5, temperature=0.0)
    gpu = Session(make_bundle(), device="cuda").generate(kf, takes=2, seed=5, temperature=0.0)
    np.testing.assert_array_equal(cpu.codes, gpu.codes)
    np.testing.assert_allclose(gpu.spectrogram, cpu.spectrogram, atol=1e-3)
    np.testing.assert_allclose(gpu.waveform, cpu.waveform, atol=1e-2)
    sampled_cpu = Session(make_bundle(), device="cpu").generate(kf, seed=5)
    sampled_gpu = Session(make_bundle(), device="cuda").generate(kf, seed=5)
    assert (sampled_cpu.codes == sampled_gpu.codes).mean() > 0.95


def test_every_model_type_has_a_backend_and_every_backend_a_registry_entry():
    """One list of model types (engine/model_types.py): the loaders, the bundled paths and the labels agree."""
    from minet_desktop.engine import model_types
    from minet_desktop.engine.loading import BACKENDS
    from minet_desktop.engine.paths import bundled_model_path

    assert set(BACKENDS) == {t.key for t in model_types.MODEL_TYPES}
    for t in model_types.app_model_types():
        assert bundled_model_path(t.key).name == t.bundled_file
    assert model_types.label("frame_regressor") == "Frame regressor (Visually Indicated Music)"
    assert model_types.has_prior("minet_midi") and not model_types.has_prior("seq2seq")
