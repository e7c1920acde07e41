"""The engine's step-by-step sampler draws exactly what the prior's own sliding-window generate draws."""

from __future__ import annotations

import pytest
import torch

from minet_desktop.engine.sampling import CodeSampler
from minet_desktop.model.bundle import build_modules
from minet_desktop.model.config import BundleConfig
from minet_desktop.model.prior import CachedDecoder, Prior

H, BLOCK, KEEP, FPC = 16, 16, 8, 2


def _prior(model_type: str = "minet", **kw: object) -> Prior:
    torch.manual_seed(3)
    _, _, prior = build_modules(BundleConfig.tiny(model_type, **kw))
    with torch.no_grad():
        prior.head.weight.mul_(20)  # peakier than at initialisation, so a wrong context changes the codes
    return prior.eval()


def _step_all(
    prior: Prior, h: torch.Tensor, motion: torch.Tensor | None, notes, n: int, seeds=(7,), **kw
) -> torch.Tensor:
    return _sample(prior, h, motion, notes, n, seeds, **kw)[0]


def _sample(
    prior: Prior, h: torch.Tensor, motion: torch.Tensor | None, notes, n: int, seeds=(7,), **kw
) -> tuple[torch.Tensor, CodeSampler]:
    memory_fn = None
    if notes is not None:

        def memory_fn(start: int, span: int):
            return prior.cross_memory(notes, h, start, span)

    sampler = CodeSampler(prior, list(seeds), memory_fn=memory_fn, n_total=n, **kw)
    cond = h if motion is None else torch.cat([h, motion], dim=-1)
    return torch.stack([sampler.step(cond[:, t]) for t in range(n)], dim=1), sampler


@pytest.mark.parametrize(
    ("model_type", "per_frame"), [("minet", False), ("minet", True), ("minet_midi", False)]
)
@pytest.mark.parametrize("use_cache", [True, False])
def test_continuing_across_windows_matches_one_long_generate(model_type, per_frame, use_cache) -> None:
    """3.5 windows drawn one code at a time (the engine yields between codes) = one Prior.generate call."""
    prior = _prior(model_type, per_frame_motion=per_frame)
    n = int(3.5 * BLOCK)
    h = torch.randn(1, n, H)  # a movement vector per code, as the engine computes them
    motion = torch.randn(1, n, H) if per_frame else None
    notes = torch.randint(0, 129, (1, n * FPC)) if model_type == "minet_midi" else None
    expected = prior.generate(
        h, n, generator=torch.Generator().manual_seed(7), motion=motion, notes=notes, use_cache=use_cache
    )
    got = _step_all(prior, h, motion, notes, n, use_cache=use_cache)
    assert torch.equal(got, expected)


def test_within_the_context_a_long_generation_starts_like_a_short_one() -> None:
    """The codes of the first window do not depend on how long the performance goes on."""
    prior = _prior()
    h = torch.randn(1, 3 * BLOCK, H)
    long = _step_all(prior, h, None, None, 3 * BLOCK)
    short = _step_all(prior, h[:, :BLOCK], None, None, BLOCK)
    assert torch.equal(long[:, :BLOCK], short)


@pytest.mark.parametrize("kw", [{}, {"top_k": 5, "temperature": 0.8}, {"top_p": 0.7}])
def test_takes_are_independent_of_batching(kw) -> None:
    prior = _prior()
    h = torch.randn(40, H)
    batch = CodeSampler(prior, [1, 2, 3], **kw)
    alone = CodeSampler(prior, [2], **kw)
    a = torch.stack([batch.step(h[t].expand(3, -1)) for t in range(40)], dim=1)
    b = torch.stack([alone.step(h[t][None]) for t in range(40)], dim=1)
    assert torch.equal(a[1:2], b)
    assert not torch.equal(a[0], a[1])  # different seeds, different takes


def test_memory_is_one_window() -> None:
    prior = _prior()
    sampler = CodeSampler(prior, [0])
    h = torch.randn(1, H)
    for _ in range(10 * BLOCK):
        sampler.step(h)
        assert sampler.window_codes < BLOCK
        assert sampler._conds is not None and sampler._conds.shape[1] < BLOCK


@pytest.mark.gpu
@pytest.mark.parametrize("model_type", ["minet", "minet_midi"])
def test_cuda_graph_steps_draw_what_eager_steps_draw(model_type) -> None:
    """Replaying the captured step gives the eager step's logits, hence its codes, across window restarts."""
    prior = _prior(model_type).cuda()
    n, dev = int(3.5 * BLOCK), torch.device("cuda")
    h = torch.randn(2, n, H, device=dev)
    notes = torch.randint(0, 129, (2, n * FPC), device=dev) if model_type == "minet_midi" else None
    # Teacher-forced: both decoders see the same tokens; a window restart in the middle.
    tokens = torch.randint(0, prior.n_codes, (2, BLOCK), device=dev)
    tokens[:, 0] = prior.bos
    memory = prior.cross_memory(notes, h, 0, BLOCK) if notes is not None else None
    logits = {}
    with torch.inference_mode():
        for graph in (True, False):
            decoder, out = CachedDecoder(prior, 2, graph=graph), []
            for first in (1, KEEP + 1):  # a fresh window, then [BOS, KEEP codes]
                decoder.prefill(tokens[:, :first], h[:, :first], memory)
                for pos in range(first, BLOCK):
                    out.append(decoder.step(tokens[:, pos : pos + 1], h[:, pos : pos + 1]).clone())
            assert decoder.graphed == graph
            logits[graph] = torch.stack(out)
    torch.testing.assert_close(logits[True], logits[False], rtol=1e-4, atol=1e-4)
    # Sampled: the same codes at temperature 0, and (one rounding flip changes what follows) nearly always.
    greedy = {g: _sample(prior, h, None, notes, n, (7, 8), temperature=0.0, graph=g) for g in (True, False)}
    assert greedy[True][1]._decoder.graphed and not greedy[False][1]._decoder.graphed
    assert torch.equal(greedy[True][0], greedy[False][0])
    drawn = {g: _step_all(prior, h, None, notes, n, (7, 8), graph=g) for g in (True, False)}
    assert (drawn[True] == drawn[False]).float().mean() >= 0.9
    kw = {"temperature": 0.0, "notes": notes}
    assert torch.equal(prior.generate(h, n, graph=True, **kw), prior.generate(h, n, graph=False, **kw))


@pytest.mark.parametrize("use_cache", [True, False])
def test_the_benchmarks_count_of_computed_positions_is_the_engines(use_cache, monkeypatch) -> None:
    """benchmarks/bench_generate.py states the KV cache's arithmetic ceiling from a count of the transformer
    positions each path computes; the count must follow the sampler's real window schedule."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_generate import positions_processed

    prior = _prior()
    counted = [0]
    run, step = Prior.run_window, CachedDecoder.step

    def count_run(self, tokens, *a, **k):  # a naive step, or a cached window's prefill
        counted[0] += tokens.shape[1]
        return run(self, tokens, *a, **k)

    def count_step(self, *a, **k):
        counted[0] += 1
        return step(self, *a, **k)

    monkeypatch.setattr(Prior, "run_window", count_run)
    monkeypatch.setattr(CachedDecoder, "step", count_step)
    n = int(3.5 * BLOCK)
    _step_all(prior, torch.randn(1, n, H), None, None, n, use_cache=use_cache)
    naive, cached = positions_processed(n, prior.cfg.block_size, prior.cfg.window_keep)
    assert counted[0] == (cached if use_cache else naive)
    assert naive > 4 * cached  # the cache does save arithmetic at this window
