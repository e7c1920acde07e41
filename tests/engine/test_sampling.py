"""The engine's step-by-step sampler draws exactly what the prior's own sliding-window generate draws."""

from __future__ import annotations

import pytest
import torch

from minet_desktop.engine.sampling import CodeSampler
from minet_desktop.model.bundle import build_modules
from minet_desktop.model.config import BundleConfig
from minet_desktop.model.prior import Prior

H, BLOCK, KEEP, FPC = 16, 16, 8, 2


def _prior(model_type: str = "minet", **kw: object) -> Prior:
    torch.manual_seed(3)
    _, _, prior = build_modules(BundleConfig.tiny(model_type, **kw))
    with torch.no_grad():
        prior.head.weight.mul_(20)  # peakier than at initialisation, so a wrong context changes the codes
    return prior.eval()


def _step_all(
    prior: Prior, h: torch.Tensor, motion: torch.Tensor | None, notes, n: int, **kw
) -> torch.Tensor:
    memory_fn = None
    if notes is not None:

        def memory_fn(start: int, span: int):
            return prior._memory(notes, h, start, span)

    sampler = CodeSampler(prior, [7], memory_fn=memory_fn, n_total=n, **kw)
    cond = h if motion is None else torch.cat([h, motion], dim=-1)
    return torch.stack([sampler.step(cond[:, t]) for t in range(n)], dim=1)


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


def test_takes_are_independent_of_batching() -> None:
    prior = _prior()
    h = torch.randn(40, H)
    batch = CodeSampler(prior, [1, 2, 3])
    alone = CodeSampler(prior, [2])
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
