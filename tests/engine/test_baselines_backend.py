"""The MI Net paper's baselines in the engine: a Session generates from their bundles like from MI Net's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from engine_helpers import performance

from minet_desktop.cli import main
from minet_desktop.core.errors import Cancelled
from minet_desktop.engine.session import Session
from minet_desktop.engine.windowing import crossfade_weights, window_starts
from minet_desktop.model.baselines import build_baseline, save_baseline_bundle
from minet_desktop.model.config import BaselineBundleConfig

TYPES = ("seq2seq", "graph_transformer")


@pytest.fixture
def make_baseline(tmp_path: Path) -> Callable[[str], Path]:
    def make(model_type: str) -> Path:
        cfg = BaselineBundleConfig.tiny(model_type)
        torch.manual_seed(1)
        model = build_baseline(cfg)
        model.set_normalization(
            torch.linspace(-6, -2, cfg.audio.n_bins), torch.full((cfg.audio.n_bins,), 0.5)
        )
        return save_baseline_bundle(
            tmp_path / f"{model_type}.safetensors", cfg, model, f"# Tiny {model_type}\nrandom weights"
        )

    return make


def test_windows_cover_every_frame_and_the_crossfade_has_no_gap() -> None:
    for n, w in ((10, 51), (51, 51), (52, 51), (200, 51), (333, 64)):
        starts = window_starts(n, w)
        covered = np.zeros(n)
        for a in starts:
            covered[a : min(n, a + w)] += crossfade_weights(min(n, a + w) - a)
        assert covered.min() > 0 and starts[0] == 0 and min(n, starts[-1] + w) == n
        assert all(b - a <= max(1, w // 2) for a, b in zip(starts, starts[1:], strict=False))


@pytest.mark.parametrize("model_type", TYPES)
def test_session_generates_audio_as_long_as_the_input_and_every_take_is_the_same(
    make_baseline: Callable[[str], Path], model_type: str
) -> None:
    session = Session(make_baseline(model_type), device="cpu")
    assert (
        session.model_type == model_type and session.sample_rate == 8000 and not session.backend.needs_notes
    )
    kf = performance(1.3)  # 39 frames at 30 fps: 651 spectrogram frames, 24 windows of 51
    seen: list = []
    result = session.generate(kf, takes=2, seed=3, progress=seen.append)
    assert result.waveform.shape == (2, 10400) and result.sample_rate == 8000  # 1.3 s at 8 kHz, to the sample
    assert result.spectrogram.shape == (2, 32, 651) and np.isfinite(result.spectrogram).all()
    assert np.array_equal(result.waveform[0], result.waveform[1])  # deterministic: seeds are ignored
    assert np.abs(result.waveform).max() > 0
    stages = [p.stage for p in seen]
    assert stages.count("spectrogram") == len(window_starts(651, 51)) and stages[-1] == "waveform"
    assert (
        all(a.fraction <= b.fraction for a, b in zip(seen, seen[1:], strict=False))
        and seen[-1].fraction == 1.0
    )
    assert "deterministic" in session.backend.summary()
    # Another seed, the same audio.
    again = session.generate(kf, seed=99)
    assert np.array_equal(again.waveform[0], result.waveform[0])


def test_the_spectrogram_is_the_models_in_windows(make_baseline: Callable[[str], Path]) -> None:
    """One window's worth of input gives exactly the model's own prediction (no cross-fade), and a longer input
    matches it where only that window covers the frames."""
    session = Session(make_baseline("graph_transformer"), device="cpu")
    backend = session.backend
    frames = np.random.default_rng(0).normal(size=(51, 3, 47)).astype(np.float32)
    gen = backend.iter_spectrogram(frames, torch.device("cpu"))  # type: ignore[attr-defined]
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            spec = stop.value
            break
    direct = backend.model.generate(torch.from_numpy(frames.transpose(1, 2, 0))[None])[0]  # type: ignore[attr-defined]
    assert torch.allclose(spec, direct, atol=1e-5)


def test_generation_can_be_cancelled(make_baseline: Callable[[str], Path]) -> None:
    session = Session(make_baseline("seq2seq"), device="cpu")
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        session.generate(performance(2.0), should_cancel=cancel)
    assert len(calls) == 3


@pytest.mark.parametrize("model_type", TYPES)
def test_cli_generate_and_info_with_a_baseline_bundle(
    make_baseline: Callable[[str], Path], tmp_path: Path, capsys, model_type: str
) -> None:
    bundle = make_baseline(model_type)
    kp = tmp_path / "perf.npz"
    performance(1.0).save(kp)
    out = tmp_path / "out.wav"
    assert main(["generate", str(kp), "--model", str(bundle), "-o", str(out), "--seed", "2"]) == 0
    wave, sr = sf.read(out)
    assert sr == 8000 and wave.shape == (8000,)
    capsys.readouterr()
    assert main(["info", str(bundle)]) == 0
    info = capsys.readouterr().out
    assert f"model type      {model_type}" in info and "8000 Hz, 32 bins" in info
    assert ("ST-GCN" in info) == (model_type == "graph_transformer") and f"# Tiny {model_type}" in info
