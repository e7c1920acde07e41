"""Priors over the VQ-VAE codes (seed 000 §3.2-3.3, Fig. 4-5).

:class:`Prior` is a GPT-style decoder: each step embeds the previous code, concatenates the movement vector h
(and optionally the per-frame motion features at that code), projects back to ``n_embd`` and predicts the next
code. :class:`ContentConditionedPrior` adds a transformer encoder over the MIDI note sequence and a
cross-attention layer after each self-attention layer.

Sequence layout (one window, ``L <= block_size`` positions)::

    position   0     1     2    ...  L-1
    token      BOS   c_s   c_s+1     c_s+L-2
    condition  h, m_s   m_s+1  ...   m_s+L-1      (m = per-frame motion at the *target* code)
    predicts   c_s   c_s+1 c_s+2     c_s+L-1

Training crops always start with BOS at a random offset into a track, so restarting a window during long
generation as ``[BOS, last window_keep codes]`` is what the model saw in training.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from minet_desktop.core.errors import Cancelled
from minet_desktop.model.config import ContentConfig, PriorConfig

KV = tuple[Tensor, Tensor]


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention with an optional key/value cache.

    x: (B, L, C) -> (y (B, L, C), (k, v) each (B, n_head, S, C / n_head)) where S counts cached positions too.
    With ``past`` only single-position steps (L = 1) are allowed: the new query may see every cached key.
    """

    def __init__(self, n_embd: int, n_head: int, dropout: float, causal: bool) -> None:
        super().__init__()
        self.n_head, self.causal, self.dropout = n_head, causal, dropout
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x: Tensor, past: KV | None = None) -> tuple[Tensor, KV]:
        B, L, C = x.shape
        q, k, v = (t.view(B, L, self.n_head, -1).transpose(1, 2) for t in self.qkv(x).split(C, dim=2))
        if past is not None:
            if L != 1:
                raise ValueError("a cached step takes one position at a time")
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=self.causal and past is None)
        return self.proj(y.transpose(1, 2).reshape(B, L, C)), (k, v)


class CrossAttention(nn.Module):
    """Attention from the decoder (queries) to the content signal C (keys and values), §3.3.

    ``project(memory (B, M, C)) -> (k, v)`` is computed once per window; ``forward(x (B, L, C), kv) -> (B, L, C)``.
    """

    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.n_head, self.dropout = n_head, dropout
        self.q = nn.Linear(n_embd, n_embd)
        self.kv = nn.Linear(n_embd, 2 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)

    def project(self, memory: Tensor) -> KV:
        B, M, C = memory.shape
        k, v = (t.view(B, M, self.n_head, -1).transpose(1, 2) for t in self.kv(memory).split(C, dim=2))
        return k, v

    def forward(self, x: Tensor, kv: KV) -> Tensor:
        B, L, C = x.shape
        q = self.q(x).view(B, L, self.n_head, -1).transpose(1, 2)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, kv[0], kv[1], dropout_p=drop)
        return self.proj(y.transpose(1, 2).reshape(B, L, C))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: self-attention, [cross-attention], point-wise feed-forward (ReLU, §3.2)."""

    def __init__(
        self, n_embd: int, n_head: int, dropout: float, ff_mult: int, causal: bool, cross: bool = False
    ) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = SelfAttention(n_embd, n_head, dropout, causal)
        self.ln_x = nn.LayerNorm(n_embd) if cross else None
        self.cross = CrossAttention(n_embd, n_head, dropout) if cross else None
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, ff_mult * n_embd),
            nn.ReLU(),
            nn.Linear(ff_mult * n_embd, n_embd),
            nn.Dropout(dropout),
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, past: KV | None = None, memory: KV | None = None) -> tuple[Tensor, KV]:
        a, present = self.attn(self.ln_1(x), past)
        x = x + self.drop(a)
        if self.cross is not None and self.ln_x is not None:
            if memory is None:
                raise ValueError("this block cross-attends to the content signal: memory is required")
            x = x + self.drop(self.cross(self.ln_x(x), memory))
        return x + self.mlp(self.ln_2(x)), present


def _init_weights(module: nn.Module) -> None:
    # GPT-1 / nanoGPT initialisation: N(0, 0.02) weights, zero biases.
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


class ContentEncoder(nn.Module):
    """Transformer encoder over the note-index sequence, concatenated with h at each step (§3.3, Fig. 5).

    notes (B, Tn) long in 0..128, h (B, H) -> C (B, Tn, out_dim).
    """

    def __init__(self, cfg: ContentConfig, movement_dim: int, out_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.in_proj = nn.Linear(cfg.n_embd + movement_dim, cfg.n_embd)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            [
                Block(cfg.n_embd, cfg.n_head, cfg.dropout, cfg.ff_mult, causal=False)
                for _ in range(cfg.n_layer)
            ]
        )
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        # "The content encoder output will go through a fully connected layer such that it becomes the
        # conditioned signal C" whose width matches the decoder's.
        self.out = nn.Linear(cfg.n_embd, out_dim)

    def forward(self, notes: Tensor, h: Tensor) -> Tensor:
        B, Tn = notes.shape
        if Tn > self.cfg.max_len:
            raise ValueError(f"{Tn} note frames exceed the content encoder's max_len={self.cfg.max_len}")
        x = torch.cat([self.tok_emb(notes.long()), h[:, None].expand(B, Tn, -1)], dim=-1)
        x = self.in_proj(x) + self.pos_emb(torch.arange(Tn, device=notes.device))
        x = self.drop(x)
        for block in self.blocks:
            x, _ = block(x)
        return self.out(self.ln_f(x))


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw one code per row from logits (B, K) -> (B, 1) long. ``temperature <= 0`` picks the argmax."""
    if temperature <= 0:
        return logits.argmax(-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # Drop a code when the codes ranked above it already hold top_p; the most likely code always stays.
        drop = probs.cumsum(-1) - probs > top_p
        logits = logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)


class Prior(nn.Module):
    """GPT prior p(c_t | c_<t, h[, motion]) over ``n_codes`` codes (+ a BOS token).

    Parameters
    ----------
    cfg
        Sizes.
    n_codes
        Codebook size K of the VQ-VAE.
    movement_dim
        Width H of the movement vector h (and of the per-frame motion features).
    """

    def __init__(self, cfg: PriorConfig, n_codes: int, movement_dim: int, cross: bool = False) -> None:
        super().__init__()
        self.cfg, self.n_codes, self.movement_dim = cfg, n_codes, movement_dim
        self.bos = n_codes
        cond_dim = movement_dim * (2 if cfg.per_frame_motion else 1)
        self.tok_emb = nn.Embedding(n_codes + 1, cfg.n_embd)
        # "We concatenate the last hidden state of the body keypoints encoder h to every time step" (§3.2);
        # the projection brings the concatenation back to the attention width.
        self.in_proj = nn.Linear(cfg.n_embd + cond_dim, cfg.n_embd)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            [
                Block(cfg.n_embd, cfg.n_head, cfg.dropout, cfg.ff_mult, causal=True, cross=cross)
                for _ in range(cfg.n_layer)
            ]
        )
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, n_codes, bias=False)
        self.apply(_init_weights)

    # -- conditioning ----------------------------------------------------------------------------------

    def _condition(self, h: Tensor, motion: Tensor | None, start: int, length: int) -> Tensor:
        """Per-position condition for targets ``start .. start+length-1``: (B, length, cond_dim)."""
        if h.dim() == 2:
            parts = [h[:, None].expand(-1, length, -1)]
        else:  # h per code (B, N, H): lets a caller vary the movement vector along a long clip
            parts = [h[:, start : start + length]]
        if self.cfg.per_frame_motion:
            if motion is None:
                raise ValueError("this prior was built with per_frame_motion: pass motion (B, n_codes, H)")
            parts.append(motion[:, start : start + length])
        if any(p.shape[1] != length for p in parts):
            raise ValueError(f"conditioning covers fewer than the {start + length} codes asked for")
        return torch.cat(parts, dim=-1)

    def _memory(self, notes: Tensor | None, h: Tensor, start: int, length: int) -> list[KV] | None:
        """Per-layer cross-attention keys/values for a window; the unconditional prior has none."""
        return None

    def _run(
        self, tokens: Tensor, cond: Tensor, pos0: int, past: list[KV] | None, memory: list[KV] | None
    ) -> tuple[Tensor, list[KV]]:
        """tokens (B, L), cond (B, L, cond_dim) at window positions pos0.. -> (logits (B, L, K), cache)."""
        L = tokens.shape[1]
        if pos0 + L > self.cfg.block_size:
            raise ValueError(f"window of {pos0 + L} positions exceeds block_size={self.cfg.block_size}")
        x = self.in_proj(torch.cat([self.tok_emb(tokens), cond.to(self.tok_emb.weight.dtype)], dim=-1))
        x = self.drop(x + self.pos_emb(torch.arange(pos0, pos0 + L, device=tokens.device)))
        present = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, past[i] if past is not None else None, memory[i] if memory is not None else None)
            present.append(kv)
        return self.head(self.ln_f(x)), present

    # -- training --------------------------------------------------------------------------------------

    def forward(
        self,
        codes: Tensor,
        h: Tensor,
        motion: Tensor | None = None,
        notes: Tensor | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Teacher-forced next-code prediction.

        Parameters
        ----------
        codes
            (B, T) long, T <= block_size: the codes of a crop (predicted from [BOS, c_0 .. c_T-2]).
        h
            (B, H) movement vector, or (B, T, H) per code.
        motion
            (B, T, H) per-frame GRU outputs aligned to the codes (:func:`movement.align_to`); needed iff
            ``per_frame_motion``.
        notes
            (B, T * frames_per_code) long note indices; content-conditioned prior only.
        lengths
            (B,) real codes per item; later positions (padding) are left out of the loss.

        Returns
        -------
        logits (B, T, K), loss (mean cross-entropy in nats per code).
        """
        B, T = codes.shape
        tokens = torch.cat([codes.new_full((B, 1), self.bos), codes[:, :-1]], dim=1)
        memory = self._memory(notes, h, 0, T)
        logits, _ = self._run(tokens, self._condition(h, motion, 0, T), 0, None, memory)
        targets = codes
        if lengths is not None:
            pad = torch.arange(T, device=codes.device)[None] >= lengths[:, None]
            targets = codes.masked_fill(pad, -100)
        loss = F.cross_entropy(logits.float().reshape(B * T, -1), targets.reshape(-1), ignore_index=-100)
        return logits, loss

    # -- sampling --------------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self,
        h: Tensor,
        n_codes: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        motion: Tensor | None = None,
        notes: Tensor | None = None,
        progress: Callable[[int, int], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
        use_cache: bool = True,
    ) -> Tensor:
        """Ancestral sampling of ``n_codes`` codes: (B, n_codes) long.

        Beyond one window (``block_size`` codes) the window restarts as ``[BOS, last window_keep codes]``
        and the key/value cache is rebuilt, once every ``block_size - window_keep`` codes.

        ``h`` is (B, H) or (B, n_codes, H); ``motion`` (B, n_codes, H) (per_frame_motion priors);
        ``notes`` (B, n_codes * frames_per_code) for the content prior. ``generator`` must live on the
        model's device. ``progress(done, total)`` is called after every code; ``should_cancel()`` is checked
        before every code and raises :class:`~minet_desktop.core.errors.Cancelled`. ``use_cache=False``
        recomputes the window at every step (a reference for tests; same samples).
        """
        was_training = self.training
        self.eval()
        try:
            B, block = h.shape[0], self.cfg.block_size
            out = torch.empty(B, 0, dtype=torch.long, device=h.device)
            bos = out.new_full((B, 1), self.bos)
            start = 0  # index of the code the window's BOS position predicts
            while out.shape[1] < n_codes:
                span = min(block, n_codes - start)  # positions this window can condition
                memory = self._memory(notes, h, start, span)
                tokens = torch.cat([bos, out[:, start:]], dim=1)
                logits, cache = self._run(
                    tokens, self._condition(h, motion, start, tokens.shape[1]), 0, None, memory
                )
                while True:
                    if should_cancel is not None and should_cancel():
                        raise Cancelled("generation cancelled")
                    nxt = sample_next(logits[:, -1], temperature, top_k, top_p, generator)
                    out = torch.cat([out, nxt], dim=1)
                    if progress is not None:
                        progress(out.shape[1], n_codes)
                    pos = out.shape[1] - start  # window position of the token just sampled
                    if out.shape[1] == n_codes or pos >= block:
                        break
                    cond = self._condition(h, motion, start, pos + 1)
                    if use_cache:
                        logits, cache = self._run(nxt, cond[:, pos:], pos, cache, memory)
                    else:
                        tokens = torch.cat([bos, out[:, start:]], dim=1)
                        logits, _ = self._run(tokens, cond, 0, None, memory)
                start = out.shape[1] - self.cfg.window_keep
            return out
        finally:
            self.train(was_training)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class ContentConditionedPrior(Prior):
    """Prior with MIDI content conditioning (§3.3): cross-attention to C = ContentEncoder(notes, h).

    ``notes`` run at the spectrogram frame rate, ``frames_per_code`` of them per code (the VQ-VAE's
    ``downsample``); each window cross-attends to the notes of its own codes.
    """

    def __init__(
        self, cfg: PriorConfig, n_codes: int, movement_dim: int, content: ContentConfig, frames_per_code: int
    ) -> None:
        super().__init__(cfg, n_codes, movement_dim, cross=True)
        self.frames_per_code = frames_per_code
        self.content_encoder = ContentEncoder(content, movement_dim, cfg.n_embd)
        self.content_encoder.apply(_init_weights)

    def _memory(self, notes: Tensor | None, h: Tensor, start: int, length: int) -> list[KV] | None:
        if notes is None:
            raise ValueError("the content-conditioned prior needs notes (B, n_frames) long")
        fpc = self.frames_per_code
        seg = notes[:, start * fpc : (start + length) * fpc]
        if seg.shape[1] == 0:  # notes shorter than the codes asked for: the rest is silence
            seg = notes.new_zeros(notes.shape[0], 1)
        h_window = h if h.dim() == 2 else h[:, start : start + length].mean(1)
        content = self.content_encoder(seg, h_window)
        return [block.cross.project(content) for block in self.blocks if block.cross is not None]


def build_prior(
    cfg: PriorConfig,
    n_codes: int,
    movement_dim: int,
    content: ContentConfig | None = None,
    frames_per_code: int = 1,
) -> Prior:
    """The unconditional prior, or the content-conditioned one when ``content`` is given."""
    if content is None:
        return Prior(cfg, n_codes, movement_dim)
    return ContentConditionedPrior(cfg, n_codes, movement_dim, content, frames_per_code)


__all__ = [
    "Block",
    "ContentConditionedPrior",
    "ContentEncoder",
    "CrossAttention",
    "Prior",
    "SelfAttention",
    "build_prior",
    "sample_next",
]
