"""Ancestral sampling from the prior one code at a time, so generation can yield (and stop) between codes.

:class:`CodeSampler` is :meth:`minet_desktop.model.prior.Prior.generate` turned inside out: the same windows,
the same key/value cache, the same restarts as ``[BOS, last window_keep codes]`` once a window is full, the
same calls to :func:`~minet_desktop.model.prior.sample_next` in the same order, so with one take on the CPU and
the same seed it draws exactly the codes ``Prior.generate`` draws (tests/engine/test_sampling.py). What it
adds:

* the caller hands in the condition of each code as it becomes known (offline: from the precomputed movement
  vectors; live: as frames arrive), and may stop after any code: every step is a cancel point;
* it keeps only the current window (codes, conditions, cache): memory is fixed however long it runs;
* every take has its own CPU random generator (seed + take), and codes are drawn on the CPU from the
  logits, so a take's music does not depend on how takes are batched (the CUDA out-of-memory fallback
  splits batches) nor on the device (CPU and GPU draw the same codes up to floating-point ties).

It reaches into the prior's ``_run`` / ``_memory``: the engine is the prior's only other caller, and
duplicating the transformer's forward here would let the two drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from minet_desktop.model.prior import KV, Prior, sample_next

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
        self._codes = torch.empty(self.batch, 0, dtype=torch.long, device=self.device)  # codes start..n-1
        self._conds: Tensor | None = None  # (B, n - start, cond_dim) conditions of those codes
        self._cache: list[KV] | None = None
        self._memory: list[KV] | None = None
        self._bos = torch.full((self.batch, 1), prior.bos, dtype=torch.long, device=self.device)

    @property
    def window_codes(self) -> int:
        """Codes in the current window (its context)."""
        return int(self._codes.shape[1])

    @torch.inference_mode()
    def step(self, cond: Tensor) -> Tensor:
        """Draw the next code of every take given its condition.

        Parameters
        ----------
        cond
            ``(B, cond_dim)``: the movement vector h of this code, followed by its per-frame motion features
            when the prior uses them (the concatenation ``Prior._condition`` builds).

        Returns
        -------
        Tensor
            ``(B,)`` long on the CPU.
        """
        prior = self.prior
        cond = cond.to(self.device).reshape(self.batch, 1, -1)
        pos = self.n - self.start  # window position whose output predicts code n
        if self._cache is None or not self.use_cache:
            if self._cache is None and self.memory_fn is not None:
                span = self.block if self.n_total is None else min(self.block, self.n_total - self.start)
                self._memory = self.memory_fn(self.start, span)
            conds = cond if self._conds is None else torch.cat([self._conds, cond], dim=1)
            tokens = torch.cat([self._bos, self._codes], dim=1)
            logits, cache = prior._run(tokens, conds, 0, None, self._memory)
        else:
            last = self._codes[:, -1:]
            logits, cache = prior._run(last, cond, pos, self._cache, self._memory)
        self._cache = cache
        last_logits = logits[:, -1].float().cpu()
        code = torch.cat(
            [
                sample_next(last_logits[i : i + 1], self.temperature, self.top_k, self.top_p, g)
                for i, g in enumerate(self.generators)
            ]
        )[:, 0]
        self._codes = torch.cat([self._codes, code.to(self.device)[:, None]], dim=1)
        self._conds = cond if self._conds is None else torch.cat([self._conds, cond], dim=1)
        self.n += 1
        if self.n - self.start >= self.block:  # the window is full: restart as [BOS, last keep codes]
            self.start = self.n - self.keep
            self._codes = self._codes[:, self._codes.shape[1] - self.keep :]
            self._conds = self._conds[:, self._conds.shape[1] - self.keep :] if self.keep else None
            self._cache = None
        return code
