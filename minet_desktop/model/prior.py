"""Priors over the VQ-VAE codes (MI Net paper §3.2-3.3, Fig. 4-5).

:class:`Prior` is a GPT-style decoder: each step embeds the previous code, concatenates the movement vector h
(and optionally the per-frame motion features at that code), projects back to ``n_embd`` and predicts the next
code. :class:`ContentConditionedPrior` adds a transformer encoder over the MIDI note sequence and a
cross-attention layer after each self-attention layer; with ``ContentConfig.aligned_dim`` each position's
condition also carries the notes of its own code (:class:`CodeNotes`), which the cross-attention alone did
not learn to find.

Sequence layout (one window, ``L <= block_size`` positions)::

    position   0     1     2    ...  L-1
    token      BOS   c_s   c_s+1     c_s+L-2
    condition  h, m_s   m_s+1  ...   m_s+L-1      (m = per-frame motion at the *target* code)
    predicts   c_s   c_s+1 c_s+2     c_s+L-1

Training crops always start with BOS at a random offset into a track, so restarting a window during long
generation as ``[BOS, last window_keep codes]`` is what the model saw in training.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from minet_desktop.core.errors import Cancelled
from minet_desktop.model.config import ContentConfig, PriorConfig

KV = tuple[Tensor, Tensor]

log = logging.getLogger("minet_desktop")


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

    def step(self, x: Tensor, cache: Tensor, pos: int | Tensor, mask: Tensor | None = None) -> Tensor:
        """One position x (B, C) at window position ``pos`` with a static cache, updated in place -> (B, C).

        ``cache`` (B, 2, n_head, block_size, C / n_head) holds the keys ``[:, 0]`` and values ``[:, 1]``; slots
        ``< pos`` are filled. With an ``int`` pos the new key/value go to slot ``pos`` and the query sees slots
        ``0..pos`` (a view, no copy). With ``pos`` a (1,) long tensor on the device and ``mask`` an attention
        mask over the block_size slots (additive float, or bool ``True`` = attend) that hides the slots after
        ``pos``, nothing depends on host values, so the step can be captured in a CUDA graph.
        """
        B, C = x.shape
        # (B, 3C) is laid out [q | k | v] x heads x head dims: with one position, (B, 3, n_head, 1, C / n_head).
        qkv = F.linear(x, self.qkv.weight, self.qkv.bias).view(B, 3, self.n_head, 1, -1)
        q, kv = qkv[:, 0], qkv[:, 1:]
        if isinstance(pos, Tensor):
            cache.index_copy_(3, pos, kv)
            y = F.scaled_dot_product_attention(q, cache[:, 0], cache[:, 1], attn_mask=mask)
        else:
            cache.narrow(3, pos, 1).copy_(kv)
            seen = cache.narrow(3, 0, pos + 1)
            y = F.scaled_dot_product_attention(q, seen[:, 0], seen[:, 1])
        return F.linear(y.reshape(B, C), self.proj.weight, self.proj.bias)  # heads side by side


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

    def step(
        self,
        x: Tensor,
        cache: Tensor,
        pos: int | Tensor,
        mask: Tensor | None = None,
        memory: KV | None = None,
    ) -> Tensor:
        """Inference on one position x (B, C) with a static self-attention cache (:meth:`SelfAttention.step`).

        The same operations as :meth:`forward` in eval mode, called as functions on 2-D tensors: at one
        position per step the per-call overhead of modules and 3-D reshapes is a good part of the time.
        """
        x = x + self.attn.step(_layer_norm(self.ln_1, x), cache, pos, mask)
        if self.cross is not None and self.ln_x is not None:
            if memory is None:
                raise ValueError("this block cross-attends to the content signal: memory is required")
            x = x + self.cross(self.ln_x(x)[:, None], memory)[:, 0]
        fc, _, out, _ = self.mlp  # Linear, ReLU, Linear, Dropout (indexing a Sequential is slow)
        assert isinstance(fc, nn.Linear) and isinstance(out, nn.Linear)
        hidden = F.relu(F.linear(_layer_norm(self.ln_2, x), fc.weight, fc.bias))
        return x + F.linear(hidden, out.weight, out.bias)


def _layer_norm(ln: nn.LayerNorm, x: Tensor) -> Tensor:
    return F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)


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


def next_code_probs(
    logits: Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None
) -> Tensor:
    """Sampling distribution (B, K) float from logits (B, K): temperature, then top-k, then top-p filtering."""
    logits = logits.float()
    if temperature != 1.0:  # x / 1.0 == x exactly: skipping it draws the same codes
        logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # Drop a code when the codes ranked above it already hold top_p; the most likely code always stays.
        drop = probs.cumsum(-1) - probs > top_p
        logits = logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    return logits.softmax(-1)


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
    return torch.multinomial(next_code_probs(logits, temperature, top_k, top_p), 1, generator=generator)


def draw_noise(generators: Sequence[torch.Generator], n_codes: int, out: Tensor | None = None) -> Tensor:
    """Exp(1) noise (B, n_codes) float32 on the CPU, row i drawn from ``generators[i]``.

    ``torch.multinomial(probs, 1, generator=g)`` draws exactly this (``q = empty_like(probs).exponential_(g)``)
    and returns ``argmax(probs / q)`` (the exponential race, equivalent to Gumbel-max): drawing the noise
    apart lets :func:`sample_rows` sample all takes at once, and lets the engine draw it while the device
    computes the logits. tests/model/test_prior.py checks that the codes equal ``torch.multinomial``'s.
    """
    noise = torch.empty(len(generators), n_codes) if out is None else out
    for row, g in zip(noise, generators, strict=True):
        row.exponential_(generator=g)
    return noise


def sample_rows(
    logits: Tensor,
    noise: Tensor | None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Tensor:
    """Draw one code per row of logits (B, K) -> (B,) long, row i with the noise row i of :func:`draw_noise`.

    The codes :func:`sample_next` draws row by row with the generators the noise came from. ``temperature
    <= 0`` picks the argmax (and takes no noise: the generators are not advanced, as in sample_next).
    """
    if temperature <= 0:
        return logits.argmax(-1)
    if noise is None:
        raise ValueError("sampling at temperature > 0 needs noise from draw_noise")
    probs = next_code_probs(logits, temperature, top_k, top_p)
    # torch.multinomial refuses such rows; without this check they would turn into arbitrary codes.
    if not bool((probs.sum(-1) > 0).all()):
        raise ValueError("the prior's logits are not finite")
    return (probs / noise).argmax(-1)


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

    def __init__(
        self, cfg: PriorConfig, n_codes: int, movement_dim: int, cross: bool = False, extra_cond: int = 0
    ) -> None:
        super().__init__()
        self.cfg, self.n_codes, self.movement_dim = cfg, n_codes, movement_dim
        self.bos = n_codes
        # h [, motion] [, a subclass's ``extra_cond`` features per code (the content prior's aligned notes)]
        cond_dim = movement_dim * (2 if cfg.per_frame_motion else 1) + extra_cond
        self.cond_dim = cond_dim
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

    def condition(
        self, h: Tensor, motion: Tensor | None, start: int, length: int, notes: Tensor | None = None
    ) -> Tensor:
        """Per-position condition for targets ``start .. start+length-1``: (B, length, cond_dim).

        ``notes`` (B, n_frames) are used by content priors with aligned notes only; the others ignore them.
        """
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

    def cross_memory(self, notes: Tensor | None, h: Tensor, start: int, length: int) -> list[KV] | None:
        """Per-layer cross-attention keys/values for a window; the unconditional prior has none."""
        return None

    def run_window(
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

    # -- cached inference ------------------------------------------------------------------------------

    def new_cache(self, batch: int) -> list[Tensor]:
        """Static key/value buffers for ``batch`` rows, one per layer: (B, 2, n_head, block_size, n_embd / n_head).

        Keys ``[:, 0]`` and values ``[:, 1]`` share a buffer, so a step writes both in one copy. Zero-filled:
        masked slots (CUDA graph steps) get zero weight, and zeros keep that product finite.
        """
        c = self.cfg
        shape = (batch, 2, c.n_head, c.block_size, c.n_embd // c.n_head)
        return [self.tok_emb.weight.new_zeros(shape) for _ in range(c.n_layer)]

    def prefill(self, tokens: Tensor, cond: Tensor, cache: list[Tensor], memory: list[KV] | None) -> Tensor:
        """Run a window's first L positions (tokens (B, L), cond (B, L, cond_dim)) and fill cache slots 0..L-1.

        Returns the logits (B, K) of the last position.
        """
        logits, present = self.run_window(tokens, cond, 0, None, memory)
        L = tokens.shape[1]
        for buf, (k, v) in zip(cache, present, strict=True):
            buf[:, 0, :, :L] = k
            buf[:, 1, :, :L] = v
        return logits[:, -1]

    def step(
        self,
        token: Tensor,
        cond: Tensor,
        pos: int | Tensor,
        cache: list[Tensor],
        memory: list[KV] | None,
        mask: Tensor | None = None,
    ) -> Tensor:
        """Inference on one position: token (B, 1) with cond (B, 1, cond_dim) at window position ``pos``.

        Slots ``< pos`` of ``cache`` (:meth:`new_cache`) hold the window so far; the step writes slot ``pos``.
        ``pos`` is an int, or a (1,) long tensor on the model's device, which keeps every host value out of
        the computation (what a CUDA graph needs): the query then attends to all block_size slots under
        ``mask`` ((1, 1, 1, block_size), additive float or bool; by default built from ``pos``), which hides
        the slots after ``pos``. Returns the logits (B, K) of the next code. Dropout is not applied (eval only).
        """
        w = self.tok_emb.weight
        B = token.shape[0]
        x = torch.cat([F.embedding(token.reshape(B), w), cond.reshape(B, -1).to(w.dtype)], dim=-1)
        x = F.linear(x, self.in_proj.weight, self.in_proj.bias)  # (B, C)
        if isinstance(pos, Tensor):
            x = x + F.embedding(pos, self.pos_emb.weight)
            if mask is None:
                mask = (torch.arange(self.cfg.block_size, device=pos.device) <= pos).view(1, 1, 1, -1)
        else:
            if not 0 <= pos < self.cfg.block_size:
                raise ValueError(f"position {pos} is outside the window of block_size={self.cfg.block_size}")
            x = x + self.pos_emb.weight[pos]
        for i, block in enumerate(self.blocks):
            x = cast(Block, block).step(x, cache[i], pos, mask, memory[i] if memory is not None else None)
        return F.linear(_layer_norm(self.ln_f, x), self.head.weight)

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
        memory = self.cross_memory(notes, h, 0, T)
        logits, _ = self.run_window(tokens, self.condition(h, motion, 0, T, notes), 0, None, memory)
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
        graph: bool | None = None,
    ) -> Tensor:
        """Ancestral sampling of ``n_codes`` codes: (B, n_codes) long.

        Beyond one window (``block_size`` codes) the window restarts as ``[BOS, last window_keep codes]``
        and the key/value cache is rebuilt, once every ``block_size - window_keep`` codes.

        ``h`` is (B, H) or (B, n_codes, H); ``motion`` (B, n_codes, H) (per_frame_motion priors);
        ``notes`` (B, n_codes * frames_per_code) for the content prior. ``generator`` must live on the
        model's device. ``progress(done, total)`` is called after every code; ``should_cancel()`` is checked
        before every code and raises :class:`~minet_desktop.core.errors.Cancelled`. ``use_cache=False``
        recomputes the window at every step (a reference for tests; same samples). ``graph`` replays the
        cached step as a CUDA graph (:class:`CachedDecoder`; default: on CUDA).
        """
        was_training = self.training
        self.eval()
        try:
            B, block, keep = h.shape[0], self.cfg.block_size, self.cfg.window_keep
            out = torch.empty(B, n_codes, dtype=torch.long, device=h.device)
            bos = out.new_full((B, 1), self.bos)
            decoder = CachedDecoder(self, B, graph) if use_cache else None
            # Once for the clip, as the engine does (CodeSampler is handed each code's condition).
            cond_all = self.condition(h, motion, 0, n_codes, notes)
            n = 0  # codes drawn
            start = 0  # index of the code the window's BOS position predicts
            while n < n_codes:
                span = min(block, n_codes - start)  # positions this window can condition
                memory = self.cross_memory(notes, h, start, span)
                cond = cond_all[:, start : start + span]
                tokens = torch.cat([bos, out[:, start:n]], dim=1)
                L = tokens.shape[1]
                if decoder is not None:
                    logits = decoder.prefill(tokens, cond[:, :L], memory)
                else:
                    logits = self.run_window(tokens, cond[:, :L], 0, None, memory)[0][:, -1]
                while True:
                    if should_cancel is not None and should_cancel():
                        raise Cancelled("generation cancelled")
                    nxt = sample_next(logits, temperature, top_k, top_p, generator)
                    out[:, n : n + 1] = nxt
                    n += 1
                    if progress is not None:
                        progress(n, n_codes)
                    pos = n - start  # window position of the token just sampled
                    if n == n_codes or pos >= block:
                        break
                    if decoder is not None:
                        logits = decoder.step(nxt, cond[:, pos : pos + 1])
                    else:
                        tokens = torch.cat([bos, out[:, start:n]], dim=1)
                        logits = self.run_window(tokens, cond[:, : pos + 1], 0, None, memory)[0][:, -1]
                start = n - keep
            return out
        finally:
            self.train(was_training)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def slot_masks(block_size: int, like: Tensor) -> Tensor:
    """Additive attention masks (block_size, block_size), dtype and device of ``like``.

    Row p is 0 on the slots ``<= p`` and -inf after them: the mask of a cached step at window position p.
    """
    return torch.full((block_size, block_size), float("-inf"), dtype=like.dtype, device=like.device).triu(1)


class CachedDecoder:
    """Cached decoding of ``prior`` for ``batch`` rows: a static key/value cache of block_size slots per layer.

    :meth:`prefill` runs a window's first positions ([BOS] or [BOS, last window_keep codes]) eagerly and
    fills the cache; :meth:`step` then adds one position at a time, writing its key/value in place (no
    concatenation, no allocation that grows with the window).

    On CUDA the step is launch-bound (a 2-layer, 128-wide transformer step is a few dozen tiny kernels), so
    by default it is captured once in a CUDA graph (all layers, the window position as a device tensor, the
    unused slots masked) and replayed for every code; window restarts prefill eagerly and the replays go on
    reading the same buffers. If capture fails the decoder warns once and stays eager. The graph and the
    eager step agree up to floating-point rounding (masked slots add exact zeros, but the kernels differ).

    Parameters
    ----------
    prior
        The prior, in eval mode.
    batch
        Rows decoded together.
    graph
        Replay the step as a CUDA graph: None (default) on CUDA devices, False never; ignored on the CPU.
    """

    def __init__(self, prior: Prior, batch: int, graph: bool | None = None) -> None:
        self.prior, self.batch = prior, batch
        self.device = prior.tok_emb.weight.device
        self.cache = prior.new_cache(batch)
        self.length = 0  # filled slots: the next step writes slot ``length``
        self.memory: list[KV] | None = None
        self.use_graph = self.device.type == "cuda" and graph is not False
        self._graph: torch.cuda.CUDAGraph | None = None
        self._token = self._cond = self._pos = self._out = torch.empty(0)  # the graph's static tensors
        self._memory: list[KV] | None = None
        self._masks = torch.empty(0)  # row p: the additive attention mask of position p

    @property
    def graphed(self) -> bool:
        """Whether steps currently replay a captured CUDA graph."""
        return self._graph is not None

    def prefill(self, tokens: Tensor, cond: Tensor, memory: list[KV] | None = None) -> Tensor:
        """Start a window: tokens (B, L), cond (B, L, cond_dim) -> logits (B, K) of the next code."""
        logits = self.prior.prefill(tokens, cond, self.cache, memory)
        self.length = tokens.shape[1]
        self.memory = memory
        if self._graph is not None and memory is not None and self._memory is not None:
            if all(k.shape == sk.shape for (k, _), (sk, _) in zip(memory, self._memory, strict=True)):
                for (k, v), (sk, sv) in zip(memory, self._memory, strict=True):
                    sk.copy_(k)
                    sv.copy_(v)
            else:  # a shorter last window of notes: capture again for its shape
                self._graph = None
        return logits

    def step(self, token: Tensor, cond: Tensor) -> Tensor:
        """The next position: token (B, 1) long (any device), cond (B, 1, cond_dim) -> logits (B, K).

        The logits of a graph replay live in a static buffer: use them before the next call.
        """
        pos = self.length
        if pos >= self.prior.cfg.block_size:
            raise ValueError("the window is full: prefill a new one")
        if self.use_graph and self._graph is None:
            self._capture(token, cond, pos)
        if self._graph is not None:
            self._token.copy_(token, non_blocking=True)
            self._cond.copy_(cond)
            self._pos.fill_(pos)
            self._graph.replay()
            self.length += 1
            return self._out
        logits = self.prior.step(token.to(self.device), cond, pos, self.cache, self.memory)
        self.length += 1
        return logits

    def _capture(self, token: Tensor, cond: Tensor, pos: int) -> None:
        try:
            with torch.cuda.device(self.device):
                self._token = token.to(self.device, copy=True).reshape(self.batch, 1)
                self._cond = cond.to(self.device).clone(memory_format=torch.contiguous_format)
                self._pos = torch.full((1,), pos, dtype=torch.long, device=self.device)
                self._memory = (
                    None if self.memory is None else [(k.clone(), v.clone()) for k, v in self.memory]
                )
                block = self.prior.cfg.block_size
                # One gather per step instead of building the mask (and SDPA converting a bool one) per layer.
                self._masks = slot_masks(block, self.prior.tok_emb.weight)

                def step() -> Tensor:
                    mask = F.embedding(self._pos, self._masks).view(1, 1, 1, block)
                    return self.prior.step(self._token, self._cond, self._pos, self.cache, self._memory, mask)

                # Warm up on a side stream (lazy library initialisation must not happen during capture). It
                # writes this position's key/value, which the first replay writes again unchanged.
                side = torch.cuda.Stream()  # type: ignore[no-untyped-call]
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    step()
                torch.cuda.current_stream().wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                # thread_local: another thread's CUDA work (the GUI's, live mode's) does not break the capture.
                with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                    out = step()
            self._graph, self._out = graph, out
        except Exception as exc:  # noqa: BLE001 - any failure to capture means eager steps, never a failed job
            log.warning("CUDA graph capture of the prior step failed, decoding eagerly: %s", exc)
            self.use_graph, self._graph, self._memory = False, None, None


class CodeNotes(nn.Module):
    """The notes of each code, as features of that code's decoder position (``ContentConfig.aligned_dim``).

    notes (B, n_frames) long -> (B, length, aligned_dim) in (-1, 1) for codes ``start .. start+length-1``:
    a frame embedding, then a convolution of stride ``frames_per_code`` over the frames of the code and of
    ``aligned_context`` codes on each side (frames outside the notes count as rests). Code i's features
    depend on frames ``(i - context) * fpc .. (i + context + 1) * fpc`` only, so a slice of a clip gets the
    features the whole clip gets there. The notes and the codes share a clock: no attention has to find
    where a code's notes are (the GRU content baseline aligns them the same way).
    """

    def __init__(self, cfg: ContentConfig, frames_per_code: int) -> None:
        super().__init__()
        self.frames_per_code, self.context = frames_per_code, cfg.aligned_context
        d = cfg.aligned_dim
        self.emb = nn.Embedding(cfg.vocab_size, d)
        self.conv = nn.Conv1d(
            d, d, kernel_size=(2 * self.context + 1) * frames_per_code, stride=frames_per_code
        )

    def forward(self, notes: Tensor, start: int, length: int) -> Tensor:
        fpc, ctx = self.frames_per_code, self.context
        lo, hi = (start - ctx) * fpc, (start + length + ctx) * fpc
        seg = notes[:, max(lo, 0) : max(min(hi, notes.shape[1]), 0)].long()
        left = min(max(-lo, 0), hi - lo)
        seg = F.pad(seg, (left, hi - lo - left - seg.shape[1]), value=0)  # 0 = rest
        x = self.conv(self.emb(seg).transpose(1, 2))  # (B, d, length)
        return torch.tanh(x).transpose(1, 2)


class ContentConditionedPrior(Prior):
    """Prior with MIDI content conditioning (§3.3): cross-attention to C = ContentEncoder(notes, h).

    ``notes`` run at the spectrogram frame rate, ``frames_per_code`` of them per code (the VQ-VAE's
    ``downsample``); each window cross-attends to the notes of its own codes. With ``content.aligned_dim``
    each code's condition also carries its own notes (:class:`CodeNotes`, after h [and motion]).
    """

    def __init__(
        self, cfg: PriorConfig, n_codes: int, movement_dim: int, content: ContentConfig, frames_per_code: int
    ) -> None:
        super().__init__(cfg, n_codes, movement_dim, cross=True, extra_cond=content.aligned_dim)
        self.frames_per_code = frames_per_code
        self.content_encoder = ContentEncoder(content, movement_dim, cfg.n_embd)
        self.content_encoder.apply(_init_weights)
        self.code_notes = CodeNotes(content, frames_per_code) if content.aligned_dim else None

    def condition(
        self, h: Tensor, motion: Tensor | None, start: int, length: int, notes: Tensor | None = None
    ) -> Tensor:
        cond = super().condition(h, motion, start, length)
        if self.code_notes is None:
            return cond
        if notes is None:
            raise ValueError("the content-conditioned prior needs notes (B, n_frames) long")
        aligned = self.code_notes(notes, start, length)
        return torch.cat([cond, aligned.to(cond.dtype).expand(cond.shape[0], -1, -1)], dim=-1)

    def cross_memory(self, notes: Tensor | None, h: Tensor, start: int, length: int) -> list[KV] | None:
        if notes is None:
            raise ValueError("the content-conditioned prior needs notes (B, n_frames) long")
        fpc = self.frames_per_code
        seg = notes[:, start * fpc : (start + length) * fpc]
        if seg.shape[1] == 0:  # notes shorter than the codes asked for: the rest is silence
            seg = notes.new_zeros(notes.shape[0], 1)
        h_window = h if h.dim() == 2 else h[:, start : start + length].mean(1)
        content = self.content_encoder(seg, h_window)
        crosses = [cast(Block, block).cross for block in self.blocks]
        return [cross.project(content) for cross in crosses if cross is not None]


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
    "CachedDecoder",
    "CodeNotes",
    "ContentConditionedPrior",
    "ContentEncoder",
    "CrossAttention",
    "Prior",
    "SelfAttention",
    "build_prior",
    "draw_noise",
    "next_code_probs",
    "sample_next",
    "sample_rows",
    "slot_masks",
]
