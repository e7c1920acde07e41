"""The multi-band residual VQ-VAE of the MI Net paper §3.1 (Fig. 3).

Spectrogram frequency bins are Conv1d channels; time is the convolution axis, so any length works::

    spec (B, F, T) -> Conv1d -> MBR x4 (8, 4, 2, 1 bands) -> stride-2 convs -> ResBlock x2 -> Conv1d
                   -> z_e (B, D, T/ds) -> EMA vector quantiser -> z_q -> mirrored decoder -> (B, F, T)

Not in the paper, both off by default: the decoder may add a causal context of the last codes to its input
(:class:`CodeContext`, ``VQVAEConfig.decoder_context``) and a nonlinear :class:`OutputHead` to its linear
output layer (``decoder_head``).

Loss: ``L = ||S - D(e)||² + β ||E(S) - sg[e]||²``; the codebook is learnt by exponential moving averages
instead of an embedding loss, and codes nobody uses are restarted on random encoder outputs.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from minet_desktop.model.config import VQVAEConfig


class MBRBlock(nn.Module):
    """Multi-band residual block: split channels into ``n_bands`` bands, Conv1d-ReLU-Conv1d on each, add the input.

    Each band has its own weights, the same architecture ("identical sub-blocks"). A grouped convolution with
    ``groups=n_bands`` is exactly that (group ``k`` sees only input channels of band ``k`` and writes only
    output channels of band ``k``) and runs as one kernel. With ``n_bands=1`` it is a plain residual block.

    x: (B, C, T) -> (B, C, T)
    """

    def __init__(self, channels: int, n_bands: int, kernel_size: int = 3) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.n_bands = n_bands
        self.conv1 = nn.Conv1d(channels, channels, kernel_size, padding=pad, groups=n_bands)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size, padding=pad, groups=n_bands)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class ResBlock(nn.Module):
    """Pre-activation residual block: x + Conv1x1(ReLU(Conv_k(ReLU(x)))). x: (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.conv2 = nn.Conv1d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class Encoder(nn.Module):
    """E(S): spec (B, F, T) with T a multiple of ``downsample`` -> z_e (B, code_dim, T / downsample)."""

    def __init__(self, cfg: VQVAEConfig) -> None:
        super().__init__()
        k, c = cfg.kernel_size, cfg.channels
        bands = cfg.encoder_bands if cfg.use_mbr else (1,) * len(cfg.encoder_bands)
        self.conv_in = nn.Conv1d(cfg.in_bins, c, k, padding=k // 2)
        self.mbr = nn.Sequential(*[MBRBlock(c, b, k) for b in bands])
        # Downsampling after the MBR blocks, so the band-wise processing sees every spectrogram frame.
        self.down = nn.Sequential(*[nn.Conv1d(c, c, 4, stride=2, padding=1) for _ in range(cfg.n_downsample)])
        self.res = nn.Sequential(*[ResBlock(c, k) for _ in range(cfg.n_res_blocks)])
        self.conv_out = nn.Conv1d(c, cfg.code_dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.mbr(self.conv_in(x))
        x = self.res(self.down(x))
        return self.conv_out(F.relu(x))


class Decoder(nn.Module):
    """D(e): the mirror of :class:`Encoder`. z_q (B, code_dim, T') -> spec (B, F, T' * downsample)."""

    def __init__(self, cfg: VQVAEConfig) -> None:
        super().__init__()
        k, c = cfg.kernel_size, cfg.channels
        bands = cfg.encoder_bands[::-1] if cfg.use_mbr else (1,) * len(cfg.encoder_bands)
        self.conv_in = nn.Conv1d(cfg.code_dim, c, k, padding=k // 2)
        self.res = nn.Sequential(*[ResBlock(c, k) for _ in range(cfg.n_res_blocks)])
        self.up = nn.Sequential(
            *[nn.ConvTranspose1d(c, c, 4, stride=2, padding=1) for _ in range(cfg.n_downsample)]
        )
        self.mbr = nn.Sequential(*[MBRBlock(c, b, k) for b in bands])
        self.conv_out = nn.Conv1d(c, cfg.in_bins, k, padding=k // 2)
        self.head = OutputHead(c, cfg.decoder_head, cfg.in_bins, k) if cfg.decoder_head else None
        self.context = CodeContext(cfg.code_dim, c, cfg.decoder_context) if cfg.decoder_context else None

    def forward(self, z: Tensor, history: int = 0) -> Tensor:
        """``history``: leading codes of ``z`` that only feed the causal code context (a window of the
        context's length before the codes to decode; what live mode keeps); the output covers the rest."""
        x = self.conv_in(z[..., history:])
        if self.context is not None:
            x = x + self.context(z)[..., history:]
        x = self.mbr(self.up(self.res(x)))
        out = self.conv_out(x)
        return out if self.head is None else out + self.head(x)


class CodeContext(nn.Module):
    """The mean of ``ReLU(W1 z)`` over the last ``window`` codes, mapped by ``W2`` (``decoder_context``).

    Causal: position ``t`` averages codes ``t - window + 1 .. t`` (fewer at the start). ``W2`` starts at zero,
    so adding the context to a trained decoder changes nothing at first.
    z: (B, code_dim, T') -> (B, channels, T')
    """

    def __init__(self, code_dim: int, channels: int, window: int) -> None:
        super().__init__()
        self.window = window
        self.conv1 = nn.Conv1d(code_dim, channels, 1)
        self.conv2 = nn.Conv1d(channels, channels, 1)
        nn.init.zeros_(self.conv2.weight)
        assert self.conv2.bias is not None
        nn.init.zeros_(self.conv2.bias)

    def forward(self, z: Tensor) -> Tensor:
        h = F.relu(self.conv1(z))
        T = h.shape[-1]
        sums = torch.cumsum(F.pad(h.float(), (1, 0)), dim=-1)  # sums[..., t] = h[..., :t].sum(-1)
        t = torch.arange(1, T + 1, device=h.device)
        lo = (t - self.window).clamp_min(0)
        mean = (sums[..., t] - sums[..., lo]) / (t - lo).to(sums.dtype)
        return self.conv2(mean.to(h.dtype))


class OutputHead(nn.Module):
    """``W2 ReLU(W1 h)``: a nonlinear correction of the decoder's linear output layer (``decoder_head``).

    ``W1`` is a ``kernel_size`` convolution to ``hidden`` channels, ``W2`` a 1x1 convolution to the bins,
    initialised to zero so that adding the head to a trained decoder changes nothing at first.
    h: (B, C, T) -> (B, bins, T)
    """

    def __init__(self, channels: int, hidden: int, bins: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, hidden, kernel_size, padding=kernel_size // 2)
        self.conv2 = nn.Conv1d(hidden, bins, 1)
        nn.init.zeros_(self.conv2.weight)
        assert self.conv2.bias is not None
        nn.init.zeros_(self.conv2.bias)

    def forward(self, h: Tensor) -> Tensor:
        return self.conv2(F.relu(self.conv1(h)))


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantiser with an EMA codebook and dead-code restarts.

    Buffers (saved in the bundle): ``codebook`` (K, D), ``cluster_size`` (K,) EMA of vectors per code per
    batch, ``embed_avg`` (K, D) EMA of their sums, ``initialized`` (whether the codebook was seeded from data).

    Under DDP the per-batch statistics are all-reduced and restart samples broadcast from rank 0, so every
    rank keeps the same codebook without relying on buffer broadcasting.
    """

    def __init__(self, cfg: VQVAEConfig, eps: float = 1e-5) -> None:
        super().__init__()
        self.codebook_size, self.code_dim = cfg.codebook_size, cfg.code_dim
        self.decay, self.threshold, self.eps = cfg.ema_decay, cfg.dead_code_threshold, eps
        self.register_buffer("codebook", torch.randn(cfg.codebook_size, cfg.code_dim))
        # Usage 1 with embed_avg = codebook keeps codebook = embed_avg / cluster_size consistent from the start.
        self.register_buffer("cluster_size", torch.ones(cfg.codebook_size))
        self.register_buffer("embed_avg", self.codebook.clone())
        self.register_buffer("initialized", torch.tensor(False))

    codebook: Tensor
    cluster_size: Tensor
    embed_avg: Tensor
    initialized: Tensor

    def nearest(self, flat: Tensor) -> Tensor:
        """Index of the nearest code for each row. flat: (N, D) -> (N,) long."""
        cb = self.codebook
        dist2 = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ cb.t() + cb.pow(2).sum(1)[None]
        return dist2.argmin(1)

    def decode_indices(self, indices: Tensor) -> Tensor:
        """Exact inverse of the quantiser: indices (B, T') -> code vectors (B, D, T')."""
        return F.embedding(indices, self.codebook).transpose(1, 2)

    def _random_rows(self, flat: Tensor, n: int) -> Tensor:
        rows = flat[torch.randint(0, flat.shape[0], (n,), device=flat.device)].clone()
        if _distributed():
            dist.broadcast(rows, src=0)
        return rows

    @torch.no_grad()
    def _init_from(self, flat: Tensor) -> None:
        # Seeding from encoder outputs puts every code where the data is from the first step on.
        self.codebook.copy_(self._random_rows(flat, self.codebook_size))
        self.embed_avg.copy_(self.codebook)
        self.cluster_size.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, flat: Tensor, indices: Tensor) -> None:
        onehot = F.one_hot(indices, self.codebook_size).to(flat.dtype)
        counts, sums = onehot.sum(0), onehot.t() @ flat
        if _distributed():
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        # Laplace smoothing keeps codes with tiny usage from dividing by ~0.
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.codebook_size * self.eps) * n
        self.codebook.copy_(self.embed_avg / smoothed[:, None])
        dead = self.cluster_size < self.threshold
        n_dead = int(dead.sum())
        if n_dead:
            rows = self._random_rows(flat, n_dead)
            self.codebook[dead] = rows
            self.embed_avg[dead] = rows * max(self.threshold, self.eps)
            self.cluster_size[dead] = max(self.threshold, self.eps)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Quantise ``z`` (B, D, T').

        Returns ``(z_q, indices, stats)``: z_q (B, D, T') with straight-through gradients to ``z``,
        indices (B, T') long, stats with ``commit`` (||z - sg[e]||², a scalar with gradient), ``perplexity``
        and ``used_codes`` of this batch (no gradient). In training mode the codebook is updated.
        """
        B, D, T = z.shape
        # Distances and EMA statistics in float32 even under autocast: bf16 argmins flicker between codes.
        flat = z.transpose(1, 2).reshape(-1, D).float()
        if self.training and not bool(self.initialized):
            self._init_from(flat.detach())
        indices = self.nearest(flat.detach())
        q = F.embedding(indices, self.codebook)
        if self.training:
            self._ema_update(flat.detach(), indices)
        commit = F.mse_loss(flat, q)
        q = flat + (q - flat).detach()
        with torch.no_grad():
            probs = torch.bincount(indices, minlength=self.codebook_size).float() / indices.numel()
            perplexity = torch.exp(-(probs * (probs + 1e-10).log()).sum())
            used = (probs > 0).sum().float()
        z_q = q.view(B, T, D).transpose(1, 2).to(z.dtype)
        return z_q, indices.view(B, T), {"commit": commit, "perplexity": perplexity, "used_codes": used}


class VQVAE(nn.Module):
    """Spectrogram autoencoder with a discrete bottleneck.

    Input spectrograms are standardised per bin with the ``spec_mean`` / ``spec_std`` buffers (identity until
    training calls :meth:`set_normalization` with statistics of the training set); they travel in the
    bundle, so the app needs nothing else to encode or decode. The reconstruction loss is measured on the
    standardised spectrogram; :meth:`decode` returns log-magnitudes in the input's units.

    Time lengths that are not a multiple of ``downsample`` are padded at the end (with the last frame) for
    encoding and the reconstruction is cut back, so ``forward`` keeps T; ``encode`` gives ceil(T / ds) codes.
    """

    def __init__(self, cfg: VQVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = VectorQuantizer(cfg)
        self.decoder = Decoder(cfg)
        self.register_buffer("spec_mean", torch.zeros(cfg.in_bins))
        self.register_buffer("spec_std", torch.ones(cfg.in_bins))

    spec_mean: Tensor
    spec_std: Tensor

    @torch.no_grad()
    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        """Per-bin statistics of the training spectrograms, each (F,)."""
        self.spec_mean.copy_(mean)
        self.spec_std.copy_(std.clamp_min(1e-3))

    def _pad(self, spec: Tensor) -> Tensor:
        extra = -spec.shape[-1] % self.cfg.downsample
        return F.pad(spec, (0, extra), mode="replicate") if extra else spec

    def _normalize(self, spec: Tensor) -> Tensor:
        return (spec - self.spec_mean[:, None]) / self.spec_std[:, None]

    def _denormalize(self, x: Tensor) -> Tensor:
        return x * self.spec_std[:, None] + self.spec_mean[:, None]

    def encode(self, spec: Tensor) -> Tensor:
        """spec (B, F, T) log-magnitudes -> code indices (B, ceil(T / downsample)) long."""
        z = self.encoder(self._pad(self._normalize(spec)))
        return self.quantizer.nearest(z.transpose(1, 2).reshape(-1, z.shape[1]).float()).view(z.shape[0], -1)

    def decode(self, indices: Tensor, history: int = 0) -> Tensor:
        """indices (B, T') long -> spec (B, F, (T' - history) * downsample) log-magnitudes.

        The first ``history`` codes are only context for the decoder's causal code context
        (``decoder_context``): the convolutions run on the others alone, which sees them as the start of the
        sequence. Decoding ``indices[:, a - w + 1 :]`` with ``history = w - 1`` (w = ``decoder_context``) gives
        codes ``a..`` exactly the code context a decode of all of them gives.
        """
        return self._denormalize(self.decoder(self.quantizer.decode_indices(indices), history))

    def forward(
        self, spec: Tensor, lengths: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        """spec (B, F, T) -> (recon (B, F, T), terms, indices (B, T')).

        ``lengths`` (B,): real frames per item (the cache pads short tracks); padding is left out of the
        reconstruction loss. ``terms``: ``loss`` = ``recon`` + β ``commit`` (scalars with gradient), plus
        ``perplexity`` and ``used_codes`` of the batch for logging.
        """
        T = spec.shape[-1]
        x = self._normalize(spec)
        z_q, indices, stats = self.quantizer(self.encoder(self._pad(x)))
        out = self.decoder(z_q)[..., :T]
        err = (out.float() - x.float()).pow(2)
        if lengths is None:
            recon = err.mean()
        else:
            mask = (torch.arange(T, device=spec.device)[None] < lengths[:, None]).to(err.dtype)[:, None]
            recon = (err * mask).sum() / (mask.sum() * err.shape[1]).clamp_min(1.0)
        terms = {"loss": recon + self.cfg.beta * stats["commit"], "recon": recon, **stats}
        return self._denormalize(out), terms, indices
