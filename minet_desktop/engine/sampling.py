"""Ancestral sampling from the prior one code at a time, so generation can yield (and stop) between codes.

:class:`CodeSampler` is :meth:`minet_desktop.model.prior.Prior.generate` turned inside out: the same windows,
the same key/value cache, the same restarts as ``[BOS, last window_keep codes]`` once a window is full, the
same draws as :func:`~minet_desktop.model.prior.sample_next` in the same order, so with one take on the CPU and
the same seed it draws exactly the codes ``Prior.generate`` draws (tests/engine/test_sampling.py). What it
adds:

* the caller hands in the condition of each code as it becomes known (offline: from the precomputed movement
  vectors; live: as frames arrive), and may stop after any code: every step is a cancel point;
* it keeps only the current window (codes, conditions, cache): memory is fixed however long it runs;
* every take has its own CPU random generator (seed + take), and codes are drawn on the CPU from the
  logits, so a take's music does not depend on how takes are batched (the CUDA out-of-memory fallback
  splits batches) nor on the device (CPU and GPU draw the same codes up to floating-point ties). The draw
  is ``torch.multinomial``'s own (:func:`~minet_desktop.model.prior.draw_noise`), with the random part
  drawn while the device computes the logits.

The cached steps run through :class:`~minet_desktop.model.prior.CachedDecoder` (static key/value buffers;
on CUDA one graph replay per code), the one ``Prior.generate`` uses too. The naive reference
(``use_cache=False``) reaches into the prior's ``_run``: duplicating the transformer's forward here would let
the two drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from minet_desktop.model.prior import KV, CachedDecoder, Prior, draw_noise, sample_rows

MemoryFn = Callable[[int, int], "list[KV] | None"]


class CodeSampler:
    """Draw codes one step at a time from ``prior`` for ``len(seeds)`` takes in one batch.

    Parameters
    ----------
    prior
        The trained prior (eval mode; its device is used for the forward passes).
    seeds
        One seed per take (row of the batch).
    temperature, top_k, top_p
        As :func:`~minet_desktop.model.prior.sample_next`.
    memory_fn
        ``memory_fn(start, span)`` -> the cross-attention memory of a window starting at code ``start`` and
        conditioning ``span`` codes (the content-conditioned prior); None for the unconditional prior.
    n_total
        Codes that will be drawn in all, if known: a window's span is ``min(block_size, n_total - start)``,
        as in ``Prior.generate`` (only the content memory depends on it).
    use_cache
        False recomputes the whole window at every step (the naive reference the benchmark compares with).
    graph
        Replay the cached step as a CUDA graph (:class:`~minet_desktop.model.prior.CachedDecoder`): None
        (default) on CUDA, False never.
    """

    def __init__(
        self,
        prior: Prior,
        seeds: Sequence[int],
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        memory_fn: MemoryFn | None = None,
        n_total: int | None = None,
        use_cache: bool = True,
        graph: bool | None = None,
    ) -> None:
        self.prior = prior
        self.device = prior.tok_emb.weight.device
        self.batch = len(seeds)
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.memory_fn, self.n_total, self.use_cache = memory_fn, n_total, use_cache
        self.block, self.keep = prior.cfg.block_size, prior.cfg.window_keep
        self.n = 0  # codes drawn so far
        self.start = 0  # code predicted by the current window's BOS position
        # The current window, preallocated: codes start..n-1 (on the CPU, where they are drawn) and the
        # conditions of codes start..n (the next code's included), as the caller's tensors on the device.
        self._window = torch.full((self.batch, self.block + 1), prior.bos, dtype=torch.long)  # BOS, codes
        self._cond_list: list[Tensor] = []
        self._memory: list[KV] | None = None
        self._decoder = CachedDecoder(prior, self.batch, graph) if use_cache else None
        self._new_window = True  # the next step starts (prefills) a window
        self._noise = torch.empty(self.batch, prior.n_codes)  # reused by every step

    @property
    def window_codes(self) -> int:
        """Codes in the current window (its context)."""
        return self.n - self.start

    @property
    def _codes(self) -> Tensor:
        """(B, n - start) the codes of the current window."""
        return self._window[:, 1 : 1 + self.window_codes]

    @property
    def _conds(self) -> Tensor | None:
        """(B, n - start, cond_dim) the conditions of those codes, None when there are none."""
        return torch.cat(self._cond_list, dim=1) if self._cond_list else None

    @property
    def _cache(self) -> list[KV] | None:
        """The key/value buffers (per layer (B, n_head, block_size, n_embd / n_head) x 2), when cached."""
        return None if self._decoder is None else [(c[:, 0], c[:, 1]) for c in self._decoder.cache]

    def nbytes(self) -> int:
        """Bytes of the state kept between steps: the window's codes and conditions, the key/value cache."""
        conds = self._conds
        n = self._codes.numel() * self._codes.element_size()
        n += 0 if conds is None else conds.numel() * conds.element_size()
        if self._cache is not None:
            n += sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in self._cache)
        return int(n)

    @torch.inference_mode()
    def step(self, cond: Tensor) -> Tensor:
        """Draw the next code of every take given its condition.

        Parameters
        ----------
        cond
            ``(B, cond_dim)``: the movement vector h of this code, followed by its per-frame motion features
            when the prior uses them, and by its aligned note features for a content prior with
            ``aligned_dim`` (the concatenation ``Prior.condition`` builds).

        Returns
        -------
        Tensor
            ``(B,)`` long on the CPU.
        """
        prior = self.prior
        cond = cond.to(self.device).reshape(self.batch, 1, -1)
        w = self.n - self.start  # codes in the window; position w predicts code n
        if self._new_window and self.memory_fn is not None:
            span = self.block if self.n_total is None else min(self.block, self.n_total - self.start)
            self._memory = self.memory_fn(self.start, span)
        if self._decoder is None or self._new_window:
            tokens = self._window[:, : w + 1].to(self.device)
            conds = torch.cat([*self._cond_list, cond], dim=1) if w else cond
            if self._decoder is None:
                logits = prior.run_window(tokens, conds, 0, None, self._memory)[0][:, -1]
            else:
                logits = self._decoder.prefill(tokens, conds, self._memory)
            self._new_window = False
        else:
            logits = self._decoder.step(self._window[:, w : w + 1], cond)
        # Drawn while an accelerator computes the logits (the step above only queued the work).
        noise = draw_noise(self.generators, prior.n_codes, self._noise) if self.temperature > 0 else None
        code = sample_rows(logits.cpu(), noise, self.temperature, self.top_k, self.top_p)
        self._window[:, w + 1] = code
        self._cond_list.append(cond)
        self.n += 1
        if self.n - self.start >= self.block:  # the window is full: restart as [BOS, last keep codes]
            self.start = self.n - self.keep
            self._window[:, 1 : 1 + self.keep] = self._window[:, self.block - self.keep + 1 :].clone()
            self._cond_list = self._cond_list[len(self._cond_list) - self.keep :] if self.keep else []
            self._new_window = True
        return code
