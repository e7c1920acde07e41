"""Codes to sound: chunked decoding is exact (no joins), Griffin-Lim iterates as features.audio's does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from minet_desktop.core.config import AudioConfig
from minet_desktop.engine.synthesis import (
    StreamingGriffinLim,
    decoder_context,
    decoder_history,
    iter_decode,
    iter_griffin_lim,
)
from minet_desktop.features.audio import LogSpectrogram, spectral_convergence
from minet_desktop.model.config import BundleConfig, VQVAEConfig
from minet_desktop.model.vqvae import VQVAE


def _run(gen):
    steps = []
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            return stop.value, steps


def _vqvae(cfg: VQVAEConfig) -> VQVAE:
    torch.manual_seed(0)
    vq = VQVAE(cfg).eval()
    with torch.no_grad():  # the optional branches start at zero (no effect): give them some
        for branch in (vq.decoder.context, vq.decoder.head):
            if branch is not None:
                branch.conv2.weight.normal_(0.0, 0.5)
    return vq


#: The paper's depth, with a causal context of 9 codes and an output head.
WITH_CONTEXT = VQVAEConfig(
    in_bins=16, channels=16, code_dim=4, codebook_size=16, downsample=4, decoder_context=9, decoder_head=8
)


@pytest.mark.parametrize(
    "cfg",
    [
        BundleConfig.tiny().vqvae,
        VQVAEConfig(in_bins=16, channels=16, code_dim=4, codebook_size=16, downsample=4),  # paper's depth
        WITH_CONTEXT,
    ],
    ids=["tiny", "paper-depth", "code-context"],
)
def test_decoder_context_bounds_the_receptive_field(cfg: VQVAEConfig) -> None:
    vq = _vqvae(cfg)
    codes = torch.randint(0, cfg.codebook_size, (1, 60))
    changed = codes.clone()
    changed[0, 30] = (codes[0, 30] + 1) % cfg.codebook_size
    with torch.no_grad():
        diff = (vq.decode(codes) - vq.decode(changed)).abs().amax(1)[0]
    touched = torch.nonzero(diff > 1e-6).flatten()
    ctx, ds = decoder_context(cfg), cfg.downsample
    assert touched.numel() > 0
    # A code reaches decoder_context codes back and forth; a causal code context only further forwards.
    reach = ctx + max(0, cfg.decoder_context - 1)
    assert touched.min() >= (30 - ctx) * ds and touched.max() < (31 + reach) * ds
    # ...and it is not wildly conservative (chunks would decode too much context for nothing).
    assert touched.min() < (30 - ctx + 4) * ds and touched.max() >= (31 + reach - 6) * ds
    assert decoder_history(cfg) == reach


@pytest.mark.parametrize("context", [False, True], ids=["paper", "code-context"])
@pytest.mark.parametrize("chunk", [1, 5, 16])
def test_chunked_decode_equals_one_pass(chunk: int, context: bool) -> None:
    """Overlapping chunks decode to the one-pass spectrogram: nothing at the joins to click."""
    cfg = VQVAEConfig(in_bins=16, channels=16, code_dim=4, codebook_size=16, downsample=4)
    vq = _vqvae(WITH_CONTEXT if context else cfg)
    codes = torch.randint(0, 16, (2, 37))
    with torch.no_grad():
        whole = vq.decode(codes)
    chunked, steps = _run(iter_decode(vq, codes, chunk_codes=chunk))
    assert steps[-1] == (len(steps), len(steps)) and len(steps) == -(-37 // chunk)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)
    # Too little context does leave seams: the equality above is not vacuous.
    seamed, _ = _run(iter_decode(vq, codes, chunk_codes=chunk, context=0))
    assert (seamed - whole).abs().max() > 1e-3


@pytest.mark.parametrize("hop", [16, 24])  # hop dividing n_fft (fast overlap-add) or not (torch.istft)
def test_griffin_lim_matches_features_audio_and_yields_every_iteration(hop: int) -> None:
    cfg = AudioConfig(sample_rate=8000, n_fft=64, hop_length=hop, n_bins=32, griffin_lim_iters=8)
    t = torch.arange(4000) / 8000
    wave = torch.sin(2 * torch.pi * 440 * t) * torch.linspace(0, 1, 4000)
    spec = LogSpectrogram(cfg)(torch.stack([wave, 0.5 * wave]))
    module = LogSpectrogram(cfg)
    with torch.no_grad():
        one = module.inverse(spec, n_iter=1, length=4000)
        ref = module.inverse(spec, n_iter=8, length=4000)
    # One iteration: the same numbers (the rearranged arithmetic only rounds differently)...
    torch.testing.assert_close(_run(iter_griffin_lim(spec, cfg, 1, 4000))[0], one, atol=1e-5, rtol=1e-4)
    # ...and Griffin-Lim amplifies rounding where magnitudes are ~0, so after 8 the waveforms agree to 1e-3
    # of full scale and the spectra equally well.
    got, steps = _run(iter_griffin_lim(spec, cfg, 8, 4000))
    assert steps == [(i, 8) for i in range(1, 9)]
    torch.testing.assert_close(got, ref, atol=2e-3, rtol=0)
    target = module.magnitude(torch.stack([wave, 0.5 * wave]))
    sc_ref = spectral_convergence(target, module.magnitude(ref))
    sc_got = spectral_convergence(target, module.magnitude(got))
    assert abs(sc_got - sc_ref) < 0.01 * sc_ref


def test_streaming_griffin_lim_is_aligned_and_continuous() -> None:
    """Blocks of frames in, final samples out: same length as offline, no jumps at block joins."""
    cfg = AudioConfig(sample_rate=8000, n_fft=64, hop_length=16, n_bins=32)
    n = 4000
    t = np.arange(n) / 8000
    wave = (0.5 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)
    spec = LogSpectrogram(cfg)(torch.from_numpy(wave)).numpy()
    gl = StreamingGriffinLim(cfg, n_iter=16, context=8)
    out = np.concatenate([gl.push(spec[:, i : i + 3]) for i in range(0, spec.shape[1], 3)])
    # Final samples stop half a window before the last frame's centre.
    assert out.size == (spec.shape[1] * cfg.hop_length) - cfg.n_fft // 2
    assert np.isfinite(out).all()
    steady = out[200:-200]
    # A continuous 500 Hz tone: sample-to-sample steps stay within what the tone itself makes.
    assert np.abs(np.diff(steady)).max() < 1.5 * 2 * np.pi * 500 / 8000 * 0.5 + 0.05
    rms = np.sqrt(np.mean(steady**2))
    assert 0.25 < rms < 0.5


def test_blockwise_griffin_lim_is_whole_signal_griffin_lim() -> None:
    """Blocks bound the work between cancel points without becoming independent (seamed) inversions."""
    cfg = AudioConfig(sample_rate=8000, n_fft=64, hop_length=16, n_bins=32)
    torch.manual_seed(0)
    spec = torch.randn(2, 32, 301) - 2.0
    whole, steps = _run(iter_griffin_lim(spec, cfg, 1, 300 * 16))
    assert len(steps) == 1
    blocks, steps = _run(iter_griffin_lim(spec, cfg, 1, 300 * 16, block_frames=40))
    assert steps[-1] == (8, 8)
    torch.testing.assert_close(blocks, whole, atol=1e-5, rtol=1e-4)
    whole, _ = _run(iter_griffin_lim(spec, cfg, 6, 300 * 16))
    blocks, _ = _run(iter_griffin_lim(spec, cfg, 6, 300 * 16, block_frames=40))
    torch.testing.assert_close(blocks, whole, atol=1e-3, rtol=0)
