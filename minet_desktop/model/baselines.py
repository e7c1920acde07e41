"""The MI Net paper's baselines (§4), and their model bundle.

Two models that turn body keypoints straight into a log-spectrogram, without MI Net's discrete codes
(Tables 1-2), and the GRU seq2seq that replaces the content encoder + prior in the ablation of Table 5:

:class:`Seq2Seq` ("RNN-based Seq2Seq Network: an encoder-decoder recurrent neural network. The encoder takes
body keypoints as input, and the decoder generates the expected spectrogram")::

    skeleton (B, 3, 47, T) -> x, y per frame (B, T, 94) -> bi-GRU encoder -> enc (B, T, 2H), h (B, 2H)
    previous frame (B, F) -> pre-net -> [ , enc_t] -> GRU decoder (state from h) -> [ , enc_t] -> Linear -> frame t

:class:`GraphTransformer` ("a Graph-Transformer network similar to the architecture of Foley Music [11] ...
ST-GCN [43] encodes the body keypoints to pose features, which are then fed into the Transformer decoder where
each block contains the self-attention, cross-attention, and feed-forward modules ... we directly generate the
log-spectrograms")::

    skeleton (B, 3, 47, T) -> ST-GCN blocks over the 47-joint graph -> (B, C, T / stride, 47)
        -> mean over joints -> memory (B, T / stride, d)
    one query per output frame -> [self-attention, cross-attention to the memory, feed-forward] x n -> (B, F, T)

:class:`ContentGRU` (Table 5: "we replace the Transformer-based architecture with a GRU-seq2seq model")::

    notes (B, N * fpc) -> embedding -> bi-GRU -> averaged over each code's frames (B, N, 2H)
    skeleton -> MI Net's movement encoder -> h (B, H_m)
    [embedding of the previous code (BOS first), the notes at this code, h] -> GRU decoder -> logits (B, N, K)

Both spectrogram models predict the log-spectrogram standardised per bin (``spec_mean`` / ``spec_std``
buffers: the training split's statistics, as the VQ-VAE's; they travel in the bundle) and return
log-magnitudes; their loss is the mean squared error in those standardised units, the VQ-VAE's ``recon``.
Their ``embed`` is what the paper classifies with a 1-NN (Table 2): the Seq2Seq encoder's final state, the
mean over time and joints of the ST-GCN outputs.

The bundle is one ``.safetensors`` file like MI Net's (:mod:`minet_desktop.model.bundle`): the model's
``state_dict`` under the prefix of its ``model_type`` (``seq2seq.`` or ``graph_transformer.``), and the
metadata ``format`` "minet-bundle", ``format_version``, ``config``
(:class:`~minet_desktop.model.config.BaselineBundleConfig` as JSON, with the audio settings) and
``model_card``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from minet_desktop.core.skeleton import N_JOINTS, PARENTS
from minet_desktop.model.bundle import build_checked, read_tensors, read_typed_config, write_bundle
from minet_desktop.model.config import (
    BASELINE_TYPES,
    BaselineBundleConfig,
    GraphTransformerConfig,
    GRUContentBundleConfig,
    Seq2SeqConfig,
)
from minet_desktop.model.movement import MovementEncoder, align_to


def skeleton_features(skeleton: Tensor, use_confidence: bool) -> Tensor:
    """The movement encoder's input layout: skeleton (B, C, J, T) -> (B, T, n * J), n = 2 (x, y) or 3."""
    B, C, J, T = skeleton.shape
    n = 3 if use_confidence else 2
    if J != N_JOINTS or C < n:
        raise ValueError(f"expected skeleton (B, {n}+, {N_JOINTS}, T), got {tuple(skeleton.shape)}")
    return skeleton[:, :n].permute(0, 3, 1, 2).reshape(B, T, n * J)


def masked_mse(pred: Tensor, target: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Mean squared error over the real frames: ``pred``, ``target`` (B, F, T), ``lengths`` (B,) or None."""
    err = (pred.float() - target.float()).pow(2).mean(dim=1)  # (B, T)
    if lengths is None:
        return err.mean()
    real = (torch.arange(err.shape[-1], device=err.device)[None] < lengths[:, None]).to(err.dtype)
    return (err * real).sum() / real.sum().clamp_min(1)


def _final_state(h_n: Tensor, hidden: int) -> Tensor:
    """Both directions of a bidirectional GRU's last layer: h_n (layers * 2, B, H) -> (B, 2H)."""
    return h_n[-2:].transpose(0, 1).reshape(h_n.shape[1], 2 * hidden)


class _SpectrogramModel(nn.Module):
    """Per-bin standardisation of the spectrogram a model predicts (buffers that travel in the bundle)."""

    def __init__(self, n_bins: int) -> None:
        super().__init__()
        self.n_bins = n_bins
        self.register_buffer("spec_mean", torch.zeros(n_bins))
        self.register_buffer("spec_std", torch.ones(n_bins))

    spec_mean: Tensor
    spec_std: Tensor

    @torch.no_grad()
    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        """Per-bin statistics of the training spectrograms, each (F,) (as :meth:`VQVAE.set_normalization`)."""
        self.spec_mean.copy_(mean)
        self.spec_std.copy_(std.clamp_min(1e-3))

    def normalize(self, spec: Tensor) -> Tensor:
        """log-magnitudes (B, F, T) -> standardised (B, F, T)."""
        return (spec - self.spec_mean[:, None]) / self.spec_std[:, None]

    def denormalize(self, x: Tensor) -> Tensor:
        """standardised (B, F, T) -> log-magnitudes (B, F, T)."""
        return x * self.spec_std[:, None] + self.spec_mean[:, None]


# --------------------------------------------------------------------------------------------------------
# RNN Seq2Seq


class Seq2Seq(_SpectrogramModel):
    """skeleton (B, 3, 47, T) -> log-spectrogram (B, F, T), one decoder step per spectrogram frame.

    The skeleton frames arrive at the spectrogram frame rate (the cache's and the engine's layout), so the
    encoder output of frame ``t`` is handed to the decoder at step ``t``: the monotonic one-to-one alignment
    that an attention over the encoder outputs would have to learn, given for free, at no quadratic cost per
    step. The encoder's final state (both directions of the last layer) starts the decoder and is the
    movement embedding (:meth:`embed`).

    Training is teacher-forced (:meth:`forward`: the previous *real* frame feeds each step, a zero frame, the
    mean spectrum, the first); :meth:`generate` feeds the decoder its own previous frame. Run it in eval
    mode: the pre-net's dropout is a training device here (Tacotron keeps it at inference for variety; a
    deterministic baseline does not).
    """

    def __init__(self, cfg: Seq2SeqConfig, n_bins: int) -> None:
        super().__init__(n_bins)
        self.cfg = cfg
        n_in = N_JOINTS * (3 if cfg.use_confidence else 2)
        enc = cfg.embed_dim
        self.encoder = nn.GRU(
            n_in,
            cfg.encoder_hidden,
            num_layers=cfg.encoder_layers,
            batch_first=True,
            bidirectional=True,
            dropout=cfg.dropout if cfg.encoder_layers > 1 else 0.0,
        )
        self.prenet = nn.Sequential(
            nn.Linear(n_bins, cfg.prenet_dim),
            nn.ReLU(),
            nn.Dropout(cfg.prenet_dropout),
            nn.Linear(cfg.prenet_dim, cfg.prenet_dim),
            nn.ReLU(),
            nn.Dropout(cfg.prenet_dropout),
        )
        self.init_state = nn.Linear(enc, cfg.decoder_layers * cfg.decoder_hidden)
        self.decoder = nn.GRU(
            cfg.prenet_dim + enc,
            cfg.decoder_hidden,
            num_layers=cfg.decoder_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.decoder_layers > 1 else 0.0,
        )
        self.head = nn.Linear(cfg.decoder_hidden + enc, n_bins)

    def encode(self, skeleton: Tensor) -> tuple[Tensor, Tensor]:
        """skeleton (B, C, 47, T) -> (per-frame outputs (B, T, 2H), final state (B, 2H))."""
        out, h_n = self.encoder(skeleton_features(skeleton, self.cfg.use_confidence))
        return out, _final_state(h_n, self.cfg.encoder_hidden)

    def embed(self, skeleton: Tensor) -> Tensor:
        """The movement embedding of Table 2: the encoder's final state, (B, 2 * encoder_hidden)."""
        return self.encode(skeleton)[1]

    def _initial_state(self, h: Tensor) -> Tensor:
        c = self.cfg
        return (
            torch.tanh(self.init_state(h))
            .view(h.shape[0], c.decoder_layers, c.decoder_hidden)
            .transpose(0, 1)
            .contiguous()
        )

    def forward(self, skeleton: Tensor, spec: Tensor) -> Tensor:
        """Teacher-forced prediction of ``spec`` (B, F, T) log-magnitudes: (B, F, T) in standardised units."""
        enc, h = self.encode(skeleton)
        target = self.normalize(spec)
        previous = F.pad(target[..., :-1], (1, 0)).transpose(1, 2)  # (B, T, F): zeros, then the real frames
        out, _ = self.decoder(torch.cat([self.prenet(previous), enc], dim=-1), self._initial_state(h))
        return self.head(torch.cat([out, enc], dim=-1)).transpose(1, 2)

    def loss(self, skeleton: Tensor, spec: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Teacher-forced MSE in standardised units over the real frames (``lengths`` (B,))."""
        return masked_mse(self(skeleton, spec), self.normalize(spec), lengths)

    @torch.no_grad()
    def generate(self, skeleton: Tensor) -> Tensor:
        """skeleton (B, C, 47, T) -> log-spectrogram (B, F, T), each frame from the previous prediction."""
        enc, h = self.encode(skeleton)
        B, T, _ = enc.shape
        state = self._initial_state(h)
        previous = enc.new_zeros(B, self.n_bins)
        out = enc.new_empty(B, T, self.n_bins)
        for t in range(T):
            step = torch.cat([self.prenet(previous), enc[:, t]], dim=-1)[:, None]
            y, state = self.decoder(step, state)
            previous = self.head(torch.cat([y[:, 0], enc[:, t]], dim=-1))
            out[:, t] = previous
        return self.denormalize(out.transpose(1, 2))


# --------------------------------------------------------------------------------------------------------
# Graph-Transformer


def graph_partitions() -> Tensor:
    """ST-GCN's spatial partitions of the 47-joint tree, normalised: (3, 47, 47), ``A[k, v, w]`` the weight
    of joint v's features in joint w's output.

    Partition 0: the joint itself; 1: its parent (the neighbour nearer the neck, "centripetal"); 2: its
    children ("centrifugal"). Symmetric normalisation by the degree (self included), as in GCNs.
    """
    A = torch.zeros(3, N_JOINTS, N_JOINTS)
    A[0] = torch.eye(N_JOINTS)
    for child, parent in enumerate(PARENTS):
        if parent >= 0:
            A[1, parent, child] = 1.0  # the child hears its parent
            A[2, child, parent] = 1.0  # the parent hears its children
    deg = A.sum(dim=(0, 1))  # in-degree of every joint w
    d = deg.rsqrt()
    return A * d[None, :, None] * d[None, None, :]


class STGCNBlock(nn.Module):
    """Spatial graph convolution (per partition k: the joints mixed by the partition's adjacency times a
    learned edge importance, then a 1x1 convolution W_k, summed over k) -> BN -> ReLU -> temporal convolution
    (kernel, stride) -> BN, plus a residual. x: (B, C_in, T, J) -> (B, C_out, ceil(T / stride), J).

    ST-GCN computes (W_k x) A_k; this is W_k (x A_k), the same linear map, with the joint mixing done on the
    C_in input channels instead of the 3 * C_out outputs: one matrix product of (B * C_in * T, J) by
    (J, 3 J), which made the first block, at the full frame rate, 4x cheaper on a CPU.

    No dropout here (ST-GCN has 0.5 after the temporal convolution): on a CPU, drawing masks for every joint
    of every frame cost a tenth of a training step; the decoder's dropout regularises the model instead."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int) -> None:
        super().__init__()
        self.c_out = c_out
        self.gcn = nn.Conv2d(3 * c_in, c_out, 1)  # input channel c * 3 + k: channel c mixed by partition k
        self.register_buffer("adjacency", graph_partitions(), persistent=False)
        # ST-GCN's learnable edge importance weighting, one mask per partition.
        self.importance = nn.Parameter(torch.ones(3, N_JOINTS, N_JOINTS))
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, (kernel, 1), (stride, 1), (kernel // 2, 0)),
            nn.BatchNorm2d(c_out),
        )
        self.residual: nn.Module
        if c_in == c_out and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(c_in, c_out, 1, (stride, 1)), nn.BatchNorm2d(c_out))

    adjacency: Tensor

    def forward(self, x: Tensor) -> Tensor:
        B, C, T, J = x.shape
        A = (self.adjacency * self.importance).permute(1, 0, 2).reshape(J, 3 * J)  # [v, k * J + w]
        mixed = (x.reshape(B * C * T, J) @ A).view(B, C, T, 3, J).transpose(2, 3).reshape(B, 3 * C, T, J)
        return F.relu(self.tcn(self.gcn(mixed)) + self.residual(x))


def sinusoid(positions: Tensor, dim: int) -> Tensor:
    """Transformer position encoding of (possibly fractional) frame positions: (L,) -> (L, dim)."""
    half = (dim + 1) // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=positions.device) / max(1, half))
    angle = positions.float()[:, None] * freq[None]
    return torch.cat([angle.sin(), angle.cos()], dim=-1)[:, :dim]


def interpolate_frames(x: Tensor, positions: Tensor) -> Tensor:
    """Linear interpolation along time: x (B, S, D) at fractional ``positions`` (T,) -> (B, T, D)."""
    pos = positions.clamp(0, x.shape[1] - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=x.shape[1] - 1)
    w = (pos - lo.to(pos.dtype))[None, :, None].to(x.dtype)
    return x[:, lo] * (1 - w) + x[:, hi] * w


class GraphTransformer(_SpectrogramModel):
    """skeleton (B, 3, 47, T) -> log-spectrogram (B, F, T), all frames of a window at once.

    Non-autoregressive: one query per output frame (a learned embedding of its place in the window, its
    sinusoidal time code, and the pose feature of its instant, interpolated from the ST-GCN's coarser time
    grid), refined by Transformer decoder blocks that attend to each other (self-attention) and to the pose
    features (cross-attention, the memory carrying the same time codes, so the query of frame t finds the
    poses around t). Foley Music predicts MIDI events one by one; a spectrogram frame per step would make a
    4-second window 251 sequential decoder passes, and exposure to its own errors over hundreds of
    continuous-valued steps; predicting the window in one pass costs one forward on a CPU and cannot drift.
    """

    def __init__(self, cfg: GraphTransformerConfig, n_bins: int) -> None:
        super().__init__(n_bins)
        self.cfg = cfg
        c_in = 3 if cfg.use_confidence else 2
        self.data_bn = nn.BatchNorm1d(c_in * N_JOINTS)
        blocks = []
        for c_out, stride in zip(cfg.gcn_channels, cfg.gcn_strides, strict=True):
            blocks.append(STGCNBlock(c_in, c_out, stride, cfg.temporal_kernel))
            c_in = c_out
        self.gcn = nn.ModuleList(blocks)
        d = cfg.d_model
        self.memory_proj = nn.Linear(c_in, d)
        self.queries = nn.Parameter(0.02 * torch.randn(cfg.max_frames, d))
        layer = nn.TransformerDecoderLayer(
            d, cfg.n_head, cfg.ff_mult * d, cfg.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, cfg.n_layer)
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, n_bins)

    def features(self, skeleton: Tensor) -> Tensor:
        """ST-GCN outputs: skeleton (B, C, 47, T) -> (B, C_last, ceil(T / total_stride), 47)."""
        x = skeleton_features(skeleton, self.cfg.use_confidence)  # (B, T, c * J), joints fastest
        B, T, _ = x.shape
        x = self.data_bn(x.transpose(1, 2)).view(B, -1, N_JOINTS, T).permute(0, 1, 3, 2)  # (B, c, T, J)
        for block in self.gcn:
            x = block(x)
        return x

    def embed(self, skeleton: Tensor) -> Tensor:
        """The movement embedding of Table 2: ST-GCN outputs averaged over time and joints, (B, C_last)."""
        return self.features(skeleton).mean(dim=(2, 3))

    def forward(self, skeleton: Tensor) -> Tensor:
        """skeleton (B, C, 47, T), T <= max_frames -> prediction (B, F, T) in standardised units."""
        T = skeleton.shape[-1]
        if T > self.cfg.max_frames:
            raise ValueError(f"{T} frames exceed the {self.cfg.max_frames} queries of one window")
        S, d = self.cfg.total_stride, self.cfg.d_model
        pose = self.memory_proj(self.features(skeleton).mean(dim=-1).transpose(1, 2))  # (B, T', d)
        steps = torch.arange(pose.shape[1], device=pose.device)
        frames = torch.arange(T, device=pose.device)
        memory = pose + sinusoid(steps * S, d).to(pose.dtype)  # feature i is centred on frame i * S
        queries = self.queries[:T] + sinusoid(frames, d).to(pose.dtype) + interpolate_frames(pose, frames / S)
        y = self.decoder(queries, memory)
        return self.head(self.ln_f(y)).transpose(1, 2)

    def loss(self, skeleton: Tensor, spec: Tensor, lengths: Tensor | None = None) -> Tensor:
        """MSE in standardised units over the real frames (``lengths`` (B,))."""
        return masked_mse(self(skeleton), self.normalize(spec), lengths)

    @torch.no_grad()
    def generate(self, skeleton: Tensor) -> Tensor:
        """skeleton (B, C, 47, T) -> log-spectrogram (B, F, T) (eval mode: BatchNorm's running statistics)."""
        return self.denormalize(self(skeleton))


# --------------------------------------------------------------------------------------------------------
# Table 5: GRU seq2seq from the notes (and the movement) to the VQ-VAE codes


class ContentGRU(nn.Module):
    """codes (B, N), skeleton (B, 3, 47, N * fpc), notes (B, N * fpc) -> next-code logits (B, N, K).

    The conditioning is the content-conditioned prior's: the notes of the window and MI Net's movement
    vector h (a :class:`MovementEncoder` of the prior's size, trained jointly, as in the prior stage). The
    notes and the codes share a clock, so step ``i`` of the decoder gets the encoder outputs of its own
    code's frames (averaged, :func:`~minet_desktop.model.movement.align_to`) where an attention would have
    to find them; the bidirectional encoder lets every step hear the whole window of notes, as the content
    encoder's self-attention does. The decoder's state starts from the encoder's final state and h.
    """

    def __init__(self, cfg: GRUContentBundleConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.content_gru
        self.codebook_size = cfg.vqvae.codebook_size
        self.bos = self.codebook_size
        self.movement = MovementEncoder(cfg.movement)
        self.note_emb = nn.Embedding(c.vocab_size, c.note_embd)
        self.encoder = nn.GRU(
            c.note_embd,
            c.encoder_hidden,
            num_layers=c.encoder_layers,
            batch_first=True,
            bidirectional=True,
            dropout=c.dropout if c.encoder_layers > 1 else 0.0,
        )
        enc, mov = 2 * c.encoder_hidden, cfg.movement.out_features
        self.code_emb = nn.Embedding(self.codebook_size + 1, c.code_embd)
        self.init_state = nn.Linear(enc + mov, c.decoder_layers * c.decoder_hidden)
        self.decoder = nn.GRU(
            c.code_embd + enc + mov,
            c.decoder_hidden,
            num_layers=c.decoder_layers,
            batch_first=True,
            dropout=c.dropout if c.decoder_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.decoder_hidden, self.codebook_size)

    def forward(
        self, codes: Tensor, skeleton: Tensor, notes: Tensor, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Teacher-forced: logits (B, N, K) of code i from [BOS, c_0 .. c_i-1], and the mean cross-entropy
        (nats per code) over the real codes (``lengths`` (B,)), the prior's loss."""
        B, N = codes.shape
        c = self.cfg.content_gru
        h, _ = self.movement(skeleton)
        frames, h_n = self.encoder(self.note_emb(notes))
        enc = align_to(frames, N, self.cfg.frames_per_code)  # (B, N, 2H)
        start = torch.cat([_final_state(h_n, c.encoder_hidden), h], dim=-1)
        state = torch.tanh(self.init_state(start)).view(B, c.decoder_layers, c.decoder_hidden)
        tokens = torch.cat([codes.new_full((B, 1), self.bos), codes[:, :-1]], dim=1)
        x = torch.cat([self.drop(self.code_emb(tokens)), enc, h[:, None].expand(-1, N, -1)], dim=-1)
        out, _ = self.decoder(x, state.transpose(0, 1).contiguous())
        logits = self.head(self.drop(out))
        targets = codes
        if lengths is not None:
            targets = codes.masked_fill(torch.arange(N, device=codes.device)[None] >= lengths[:, None], -100)
        loss = F.cross_entropy(logits.float().reshape(B * N, -1), targets.reshape(-1), ignore_index=-100)
        return logits, loss


# --------------------------------------------------------------------------------------------------------
# The bundle

BaselineModel = Seq2Seq | GraphTransformer


@dataclass
class BaselineBundle:
    """A loaded baseline: its config, the model (eval mode) and the model card."""

    cfg: BaselineBundleConfig
    model: BaselineModel
    model_card: str = ""

    def modules(self) -> dict[str, nn.Module]:
        return {self.cfg.model_type: self.model}


def build_baseline(cfg: BaselineBundleConfig) -> BaselineModel:
    """A fresh (untrained) model of the type and sizes ``cfg`` describes."""
    if cfg.seq2seq is not None:
        return Seq2Seq(cfg.seq2seq, cfg.audio.n_bins)
    assert cfg.graph_transformer is not None  # BaselineBundleConfig checks one of the two is there
    return GraphTransformer(cfg.graph_transformer, cfg.audio.n_bins)


def _state(cfg: BaselineBundleConfig, model: nn.Module) -> dict[str, Tensor]:
    return {f"{cfg.model_type}.{k}": v for k, v in model.state_dict().items()}


def save_baseline_bundle(
    path: str | PathLike[str], cfg: BaselineBundleConfig, model: BaselineModel, model_card: str = ""
) -> Path:
    """Write the bundle atomically (a crash leaves any earlier file at ``path`` untouched); returns ``path``."""
    if model.cfg != (cfg.seq2seq if cfg.model_type == "seq2seq" else cfg.graph_transformer):
        raise ValueError("the model was built with other sizes than the bundle config says")
    return write_bundle(path, _state(cfg, model), cfg, model_card)


def read_baseline_config(path: str | PathLike[str]) -> tuple[BaselineBundleConfig, str]:
    """Config and model card of a baseline bundle without loading its weights (InputError if it is not one)."""
    return read_typed_config(path, BaselineBundleConfig, BASELINE_TYPES, "a baseline bundle")


def load_baseline_bundle(path: str | PathLike[str], device: str | torch.device = "cpu") -> BaselineBundle:
    """Rebuild the baseline from the config and load its weights; refuses any mismatch (InputError)."""
    p = Path(path)
    cfg, card = read_baseline_config(p)
    model = build_checked(p, lambda: build_baseline(cfg))
    tensors = read_tensors(p, _state(cfg, model))
    prefix = cfg.model_type + "."
    model.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items()}, strict=True)
    model.to(device).eval()
    return BaselineBundle(cfg, model, card)


def describe_baseline(bundle: BaselineBundle) -> str:
    """Model type and parameter counts, as :func:`minet_desktop.model.bundle.describe` for MI Net."""
    m = bundle.model
    if isinstance(m, Seq2Seq):
        parts: dict[str, nn.Module] = {
            "encoder": m.encoder,
            "decoder": nn.ModuleList([m.prenet, m.init_state, m.decoder, m.head]),
        }
    else:
        parts = {
            "st_gcn": nn.ModuleList([m.data_bn, m.gcn]),
            "decoder": nn.ModuleList([m.memory_proj, m.decoder, m.ln_f, m.head]),
        }
    counts = {name: sum(p.numel() for p in part.parameters()) for name, part in parts.items()}
    if isinstance(m, GraphTransformer):
        counts["decoder"] += m.queries.numel()
    return json.dumps({"model_type": bundle.cfg.model_type, "parameters": counts}, indent=2)
