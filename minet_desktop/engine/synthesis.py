"""From codes to sound: the VQ-VAE decoder in overlapping chunks, and Griffin-Lim one iteration at a time.

Both are generators that yield after every chunk / iteration (each yield is a cancel point) and return their
result (``value = yield from iter_decode(...)``).

Chunked decoding is exact, not an approximation: the decoder is a stack of convolutions whose receptive field
is :func:`decoder_context` codes either side (and :func:`decoder_history` earlier codes when the decoder
averages a causal window of codes), so decoding a chunk together with that many neighbouring codes and keeping
only the chunk's own frames gives the frames a one-pass decode gives (up to float rounding;
tests/engine/test_synthesis.py checks both the bound and the equality). There is no join to click.

:func:`iter_griffin_lim` is torchaudio's ``griffinlim`` (fast Griffin-Lim, momentum 0.99, zero initial
phase, the settings of :mod:`minet_desktop.features.audio`) written out so that it can yield between
iterations; it runs over the whole spectrogram of every take at once, on the session's device.

:class:`StreamingGriffinLim` is the live-mode variant: phases of new frames are estimated against the frames
already played (kept fixed), as in real-time iterative spectrogram inversion (RTISI, Zhu et al. 2007).
"""

from __future__ import annotations

import math
from collections.abc import Generator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from minet_desktop.core.config import AudioConfig
from minet_desktop.features.audio import GRIFFIN_LIM_MOMENTUM
from minet_desktop.model.config import VQVAEConfig
from minet_desktop.model.vqvae import VQVAE


def decoder_context(cfg: VQVAEConfig) -> int:
    """Codes on each side that influence a code's decoded frames (the decoder's receptive radius), plus one.

    conv_in and the residual blocks run at the code rate (``k // 2`` codes each); every stride-2 transposed
    convolution (kernel 4, padding 1) reaches one input step, i.e. ``1 / 2**s`` codes at stage ``s``; the MBR
    blocks and conv_out run at the frame rate (``k // 2`` frames per convolution).
    """
    half = cfg.kernel_size // 2
    radius = half + cfg.n_res_blocks * half
    radius += sum(1.0 / 2**s for s in range(cfg.n_downsample))
    radius += (2 * len(cfg.encoder_bands) + 1) * half / cfg.downsample
    return int(math.ceil(radius)) + 1


def decoder_history(cfg: VQVAEConfig) -> int:
    """Earlier codes that influence a code's decoded frames: :func:`decoder_context`, plus the causal
    ``decoder_context`` window of :class:`~minet_desktop.model.vqvae.CodeContext` when the decoder has one."""
    return decoder_context(cfg) + max(0, cfg.decoder_context - 1)


def iter_decode(
    vqvae: VQVAE, codes: Tensor, chunk_codes: int = 32, context: int | None = None
) -> Generator[tuple[int, int], None, Tensor]:
    """Decode ``codes`` (B, N) in chunks of ``chunk_codes`` with overlapping codes either side: ``context``, or
    :func:`decoder_history` before and :func:`decoder_context` after each chunk.

    Yields ``(chunks_done, n_chunks)``; returns the spectrogram (B, F, N * downsample) on the codes' device.
    """
    ds = vqvae.cfg.downsample
    ctx = decoder_context(vqvae.cfg) if context is None else context
    before = decoder_history(vqvae.cfg) if context is None else context
    B, N = codes.shape
    out = torch.empty(B, vqvae.cfg.in_bins, N * ds, device=codes.device)
    n_chunks = max(1, math.ceil(N / chunk_codes))
    for i in range(n_chunks):
        a, b = i * chunk_codes, min(N, (i + 1) * chunk_codes)
        lo, hi = max(0, a - before), min(N, b + ctx)
        with torch.no_grad():
            spec = vqvae.decode(codes[:, lo:hi])
        out[..., a * ds : b * ds] = spec[..., (a - lo) * ds : (b - lo) * ds].float()
        yield i + 1, n_chunks
    return out


def _full_magnitude(logspec: Tensor, cfg: AudioConfig) -> Tensor:
    """Linear magnitude with the dropped top bins back as silence: (..., n_bins, T) -> (..., n_fft//2+1, T)."""
    mag = torch.exp(logspec.float())
    missing = cfg.n_fft // 2 + 1 - cfg.n_bins
    if missing:
        mag = torch.cat([mag, mag.new_zeros(*mag.shape[:-2], missing, mag.shape[-1])], dim=-2)
    return mag


def _stft_frames(wave: Tensor, window: Tensor, n_fft: int, hop: int) -> Tensor:
    """Centred, reflect-padded STFT of (B, N), frames first: (B, N // hop + 1, n_fft // 2 + 1).

    The same numbers as ``torch.stft(center=True, pad_mode="reflect")`` (transposed), computed as framing +
    rfft, which is about twice as fast on a CPU.
    """
    if wave.shape[-1] <= n_fft // 2:  # too short to reflect-pad: the library handles the edge cases
        spec = torch.stft(
            wave, n_fft, hop, window=window, center=True, pad_mode="reflect", return_complex=True
        )
        return spec.transpose(1, 2)
    padded = F.pad(wave[:, None], (n_fft // 2, n_fft // 2), mode="reflect")[:, 0]
    return torch.fft.rfft(padded.unfold(-1, n_fft, hop) * window)


class _OverlapAdd:
    """Inverse of :func:`_stft_frames` for a fixed frame count: ``torch.istft(center=True)`` without its fold.

    When the hop divides the FFT size each frame is ``n_fft / hop`` hop-long pieces, and overlap-adding is that
    many shifted sums of whole arrays; the window-square envelope is computed once.
    """

    def __init__(self, window: Tensor, n_fft: int, hop: int, n_frames: int, length: int | None) -> None:
        self.window, self.n_fft, self.hop, self.n_frames = window, n_fft, hop, n_frames
        self.length = length if length is not None else (n_frames - 1) * hop
        self.fast = n_fft % hop == 0
        if self.fast:
            ones = window.pow(2).expand(n_frames, n_fft)[None]
            env = self._ola(ones)[0]
            self.inv_env = torch.where(env > 1e-11, 1.0 / env, torch.zeros_like(env))

    def _ola(self, frames: Tensor) -> Tensor:
        B, T, _ = frames.shape
        k = self.n_fft // self.hop
        pieces = frames.reshape(B, T, k, self.hop)
        out = frames.new_zeros(B, T + k - 1, self.hop)
        for j in range(k):
            out[:, j : j + T] += pieces[:, :, j]
        return out.reshape(B, -1)

    def __call__(self, spec: Tensor) -> Tensor:
        """(B, T, n_fft // 2 + 1) complex -> (B, length)."""
        if not self.fast:
            return torch.istft(
                spec.transpose(1, 2), self.n_fft, self.hop, self.n_fft, self.window, length=self.length
            )
        frames = torch.fft.irfft(spec, n=self.n_fft) * self.window
        y = self._ola(frames) * self.inv_env
        y = y[:, self.n_fft // 2 : self.n_fft // 2 + self.length]
        if y.shape[-1] < self.length:
            y = F.pad(y, (0, self.length - y.shape[-1]))
        return y


#: Frames per Griffin-Lim block (33 s at the paper's 62.5 frames/s): one block of one iteration is the most
#: work between two cancel points (~40 ms on 2 CPU cores), however long the performance.
GL_BLOCK_FRAMES = 2048


def iter_griffin_lim(
    logspec: Tensor,
    cfg: AudioConfig,
    n_iter: int | None = None,
    length: int | None = None,
    block_frames: int = GL_BLOCK_FRAMES,
) -> Generator[tuple[int, int], None, Tensor]:
    """Griffin-Lim from a log-magnitude spectrogram (B, n_bins, T) to waveforms (B, length).

    The algorithm and settings of :meth:`minet_desktop.features.audio.LogSpectrogram.inverse` (torchaudio's
    fast Griffin-Lim, zero initial phase) over the whole spectrogram, equal to it up to float rounding,
    rearranged for speed (about 2x on a CPU): frames-first layout, STFT as framing + rfft, inverse STFT as
    shifted sums, phase normalisation and magnitude product as one real scale of the complex spectrum, the
    momentum step as one fused add.

    Long spectrograms run each iteration in blocks of ``block_frames`` frames. That is still whole-signal
    Griffin-Lim, not independent blocks: a frame of the next estimate depends only on the frames whose
    windows overlap its own (``n_fft / hop`` on each side), so a block computed with a margin of twice that
    many frames on each side (covering the reflect padding at a boundary of the margin) gives the same
    frames as the whole. Yields ``(steps_done, n_steps)`` after every block of every iteration.
    """
    iters = cfg.griffin_lim_iters if n_iter is None else int(n_iter)
    if iters <= 0:
        raise ValueError(f"Griffin-Lim needs at least one iteration, got {iters}")
    n_fft, hop = cfg.n_fft, cfg.hop_length
    with torch.no_grad():
        mag = _full_magnitude(logspec, cfg)
        mag = mag.reshape(-1, *mag.shape[-2:]).transpose(1, 2).contiguous()  # (B, T, n_freq)
        T = mag.shape[1]
        total = length if length is not None else (T - 1) * hop
        window = torch.hann_window(n_fft, device=mag.device, dtype=mag.dtype)
        momentum = GRIFFIN_LIM_MOMENTUM / (1 + GRIFFIN_LIM_MOMENTUM)
        spec = mag.to(torch.complex64)  # magnitude with zero phase
        tprev: Tensor | None = None
    margin = 2 * -(-n_fft // hop)
    starts = list(range(0, T, max(1, block_frames)))
    inverses: dict[tuple[int, int], _OverlapAdd] = {}

    def rebuild(lo: int, hi: int) -> Tensor:
        """Next STFT estimate of frames [lo, hi) from the current spectrum of those frames alone."""
        n = total - lo * hop if hi == T else (hi - lo - 1) * hop
        key = (hi - lo, n)
        if key not in inverses:
            inverses[key] = _OverlapAdd(window, n_fft, hop, hi - lo, n)
        return _stft_frames(inverses[key](spec[:, lo:hi]), window, n_fft, hop)

    for i in range(iters):
        with torch.no_grad():
            new_spec = torch.empty_like(spec)
            new_prev = torch.empty_like(spec)
        for j, a in enumerate(starts):
            b = min(T, a + block_frames)
            with torch.no_grad():
                lo, hi = (0, T) if len(starts) == 1 else (max(0, a - margin), min(T, b + margin))
                rebuilt = rebuild(lo, hi)[:, a - lo : b - lo]
                est = rebuilt if tprev is None else torch.add(rebuilt, tprev[:, a:b], alpha=-momentum)
                new_spec[:, a:b] = est * (mag[:, a:b] / (est.abs() + 1e-16))
                new_prev[:, a:b] = rebuilt
            yield i * len(starts) + j + 1, iters * len(starts)
        spec, tprev = new_spec, new_prev
    with torch.no_grad():
        wave = _OverlapAdd(window, n_fft, hop, T, length)(spec)
        return wave.reshape(*logspec.shape[:-2], wave.shape[-1])


class StreamingGriffinLim:
    """Griffin-Lim for live audio: frames come in a few at a time and their samples go out once final.

    Every call to :meth:`push` takes new log-magnitude frames, estimates their phases with ``n_iter``
    Griffin-Lim iterations over a window made of the last ``context`` frames already committed (fixed, so
    what was played is never changed) and the new ones, commits them, and returns the samples that no later
    frame can change any more. Memory is fixed: ``context + new`` frames and one frame of overlap-add tail.

    Frame ``k`` is centred on sample ``k * hop`` as in the offline (centred) STFT; samples before time zero
    are dropped, so the output lines up with the offline waveform sample for sample.
    """

    def __init__(self, cfg: AudioConfig, n_iter: int = 16, context: int = 8, device: str = "cpu") -> None:
        self.cfg, self.n_iter, self.context = cfg, n_iter, context
        self.n_fft, self.hop = cfg.n_fft, cfg.hop_length
        self.window = torch.hann_window(cfg.n_fft, device=device)
        self._ctx: Tensor | None = None  # (context', n_freq) committed complex frames
        self._ola = np.zeros(self.n_fft, np.float64)  # overlap-add tail of committed frames
        self._env = np.zeros(self.n_fft, np.float64)
        self.frames_in = 0  # frames committed so far
        self.samples_out = 0  # samples returned so far (from time 0)
        self._layout: dict[int, tuple[Tensor, Tensor]] = {}  # frames -> (overlap-add index, 1 / envelope)

    def _synth(self, frames: Tensor) -> Tensor:
        """Overlap-add of (n, n_freq) complex frames at hop spacing, divided by the window-square envelope."""
        n = frames.shape[0]
        if n not in self._layout:  # the same few window sizes every block: index and envelope once each
            total = (n - 1) * self.hop + self.n_fft
            idx = (torch.arange(n)[:, None] * self.hop + torch.arange(self.n_fft)[None]).reshape(-1)
            env = torch.zeros(total).index_add_(0, idx, (self.window**2).repeat(n))
            self._layout[n] = (idx, 1.0 / env.clamp_min(1e-8))
        idx, inv_env = self._layout[n]
        seg = torch.fft.irfft(frames, n=self.n_fft) * self.window  # (n, n_fft)
        sig = torch.zeros(inv_env.shape[0], dtype=seg.dtype).index_add_(0, idx, seg.reshape(-1))
        return sig * inv_env

    def _analyse(self, sig: Tensor, n: int) -> Tensor:
        frames = sig.unfold(0, self.n_fft, self.hop)[:n] * self.window
        return torch.fft.rfft(frames)

    @torch.no_grad()
    def push(self, logspec: np.ndarray | Tensor) -> np.ndarray:
        """Take new frames ``(n_bins, n)``; return the samples that became final (float32, possibly empty)."""
        mag = _full_magnitude(torch.as_tensor(logspec, dtype=torch.float32), self.cfg).T.cpu()  # (n, n_freq)
        n_new = mag.shape[0]
        if n_new == 0:
            return np.zeros(0, np.float32)
        ctx = self._ctx if self._ctx is not None else torch.zeros(0, mag.shape[1], dtype=torch.complex64)
        n_ctx = ctx.shape[0]
        new = mag.to(torch.complex64)  # zero phase to start, as offline
        for _ in range(self.n_iter):
            sig = self._synth(torch.cat([ctx, new]))
            est = self._analyse(sig, n_ctx + n_new)[n_ctx:]
            new = mag * est / (est.abs() + 1e-16)
        # Commit: overlap-add the new frames into the running tail (frames k.. start at (k*hop - n_fft/2)).
        seg = (torch.fft.irfft(new, n=self.n_fft) * self.window).double().numpy()
        w2 = (self.window.double() ** 2).numpy()
        need = (n_new - 1) * self.hop + self.n_fft
        acc = np.zeros(need, np.float64)
        weight = np.zeros(need, np.float64)
        acc[: self._ola.size] += self._ola
        weight[: self._env.size] += self._env
        for j in range(n_new):
            acc[j * self.hop : j * self.hop + self.n_fft] += seg[j]
            weight[j * self.hop : j * self.hop + self.n_fft] += w2
        # Samples before the next frame's start are final.
        final = n_new * self.hop
        out = acc[:final] / np.maximum(weight[:final], 1e-8)
        self._ola, self._env = acc[final:].copy(), weight[final:].copy()
        # The window's first frame starts n_fft/2 before its centre; drop the part before time zero.
        start_time = (self.frames_in - 0) * self.hop - self.n_fft // 2
        self.frames_in += n_new
        self._ctx = torch.cat([ctx, new])[-self.context :] if self.context else None
        if start_time < 0:
            out = out[-start_time:] if -start_time < out.size else np.zeros(0)
        self.samples_out += out.size
        return out.astype(np.float32)

    def finish(self, n_samples: int) -> np.ndarray:
        """The end of the signal: the committed tail, cut or zero-padded so that ``n_samples`` samples were
        returned in all (float32, possibly empty)."""
        tail = self._ola / np.maximum(self._env, 1e-8)
        want = max(0, n_samples - self.samples_out)
        out = np.zeros(want, np.float32)
        out[: min(want, tail.size)] = tail[:want]
        self.samples_out += want
        return out

    def nbytes(self) -> int:
        """Bytes of the state kept between pushes (phase context and overlap-add tail)."""
        ctx = 0 if self._ctx is None else self._ctx.numel() * self._ctx.element_size()
        return int(ctx + self._ola.nbytes + self._env.nbytes)
