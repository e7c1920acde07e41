"""Priors: teacher-forced shapes, causality, KV-cache sampling equals recomputation, sliding windows."""

from __future__ import annotations

import math

import pytest
import torch

from minet_desktop.core.errors import Cancelled
from minet_desktop.model.bundle import build_modules
from minet_desktop.model.config import BundleConfig
from minet_desktop.model.prior import (
    CachedDecoder,
    ContentConditionedPrior,
    Prior,
    draw_noise,
    sample_next,
    sample_rows,
    slot_masks,
)

K, H, BLOCK, KEEP, FPC = 32, 16, 16, 8, 2  # tiny: 32 codes, h of 16, windows of 16 keeping 8, 2 frames/code


def _prior(model_type: str = "minet", **kw: object) -> Prior:
    _, _, prior = build_modules(BundleConfig.tiny(model_type, **kw))
    return prior


def _inputs(b: int = 2, n: int = 40) -> dict[str, torch.Tensor]:
    return {
        "h": torch.randn(b, H),
        "motion": torch.randn(b, n, H),
        "notes": torch.randint(0, 129, (b, n * FPC)),
    }


@pytest.mark.parametrize(("model_type", "motion"), [("minet", False), ("minet", True), ("minet_midi", False)])
def test_forward_backward_shapes(model_type: str, motion: bool) -> None:
    prior = _prior(model_type, per_frame_motion=motion)
    assert isinstance(prior, ContentConditionedPrior) == (model_type == "minet_midi")
    x = _inputs(n=BLOCK)
    h = x["h"].requires_grad_()
    codes = torch.randint(0, K, (2, BLOCK))
    logits, loss = prior(codes, h, motion=x["motion"] if motion else None, notes=x["notes"])
    assert logits.shape == (2, BLOCK, K)
    assert abs(loss.item() - math.log(K)) < 0.5  # near-uniform at initialisation
    loss.backward()
    assert h.grad is not None and h.grad.abs().sum() > 0  # the movement encoder trains through h


def test_prediction_is_causal() -> None:
    prior = _prior().eval()
    h = torch.randn(1, H)
    codes = torch.randint(0, K, (1, BLOCK))
    changed = codes.clone()
    changed[0, 7] = (codes[0, 7] + 1) % K
    a, _ = prior(codes, h)
    b, _ = prior(changed, h)
    # Position t sees codes < t: changing code 7 changes predictions from position 8 on, never before.
    assert torch.allclose(a[:, :8], b[:, :8])
    assert not torch.allclose(a[:, 8:], b[:, 8:])


def test_padded_codes_are_left_out_of_the_loss() -> None:
    prior = _prior().eval()
    h, codes = torch.randn(2, H), torch.randint(0, K, (2, BLOCK))
    other = codes.clone()
    other[:, 10:] = torch.randint(0, K, (2, BLOCK - 10))
    lengths = torch.tensor([10, 10])
    assert torch.equal(prior(codes, h, lengths=lengths)[1], prior(other, h, lengths=lengths)[1])


def test_content_prior_uses_the_notes() -> None:
    prior = _prior("minet_midi").eval()
    x = _inputs(1, BLOCK)
    codes = torch.randint(0, K, (1, BLOCK))
    a, _ = prior(codes, x["h"], notes=x["notes"])
    b, _ = prior(codes, x["h"], notes=(x["notes"] + 5) % 129)
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="notes"):
        prior(codes, x["h"])


def test_per_frame_motion_is_required_and_used() -> None:
    prior = _prior(per_frame_motion=True).eval()
    x = _inputs(1, BLOCK)
    codes = torch.randint(0, K, (1, BLOCK))
    with pytest.raises(ValueError, match="motion"):
        prior(codes, x["h"])
    a, _ = prior(codes, x["h"], motion=x["motion"])
    m2 = x["motion"].clone()
    m2[:, 5] += 1.0
    b, _ = prior(codes, x["h"], motion=m2)
    # Motion at code 5 conditions the prediction of code 5 (position 5) and, through attention, later ones.
    assert torch.allclose(a[:, :5], b[:, :5]) and not torch.allclose(a[:, 5], b[:, 5])


@pytest.mark.parametrize(("model_type", "motion"), [("minet", False), ("minet", True), ("minet_midi", False)])
@pytest.mark.parametrize("n_codes", [5, BLOCK, 3 * BLOCK + 3])
def test_kv_cache_sampling_equals_recomputation(model_type: str, motion: bool, n_codes: int) -> None:
    prior = _prior(model_type, per_frame_motion=motion)
    x = _inputs(2, n_codes)
    kw = {"motion": x["motion"] if motion else None, "notes": x["notes"]}
    fast = prior.generate(x["h"], n_codes, generator=torch.Generator().manual_seed(7), **kw)
    slow = prior.generate(x["h"], n_codes, generator=torch.Generator().manual_seed(7), use_cache=False, **kw)
    assert fast.shape == (2, n_codes) and fast.dtype == torch.long
    assert ((fast >= 0) & (fast < K)).all()
    assert torch.equal(fast, slow)
    assert prior.training  # generate restores the mode it found


@pytest.mark.parametrize(("model_type", "motion"), [("minet", True), ("minet_midi", False)])
def test_sliding_windows_condition_on_the_kept_codes(model_type: str, motion: bool) -> None:
    """Greedy codes of every window are the argmax of a teacher-forced pass over that window."""
    prior = _prior(model_type, per_frame_motion=motion).eval()
    n = 3 * BLOCK + 5
    x = _inputs(1, n)
    out = prior.generate(x["h"], n, temperature=0.0, motion=x["motion"] if motion else None, notes=x["notes"])
    assert out.shape == (1, n)
    starts, s = [0], BLOCK - KEEP
    while s + KEEP < n:  # each window restarts with the last KEEP codes as context
        starts.append(s)
        s += BLOCK - KEEP
    for i, s in enumerate(starts):
        window = out[:, s : s + BLOCK]
        logits, _ = prior(
            window,
            x["h"],
            motion=x["motion"][:, s : s + BLOCK] if motion else None,
            notes=x["notes"][:, s * FPC :],
        )
        first_new = 0 if i == 0 else KEEP  # the kept codes were sampled by the previous window
        assert torch.equal(logits.argmax(-1)[:, first_new:], window[:, first_new:]), f"window at {s}"
    # The first window does not depend on how long the generation is.
    short = prior.generate(
        x["h"], BLOCK, temperature=0.0, motion=x["motion"] if motion else None, notes=x["notes"]
    )
    assert torch.equal(short, out[:, :BLOCK])


def test_progress_and_cancel() -> None:
    prior = _prior()
    h = torch.randn(1, H)
    seen: list[tuple[int, int]] = []
    prior.generate(h, 20, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 20) for i in range(1, 21)]
    calls = iter(range(100))
    with pytest.raises(Cancelled):
        prior.generate(h, 20, should_cancel=lambda: next(calls) >= 5)


def test_h_per_code_is_accepted() -> None:
    prior = _prior()
    h = torch.randn(1, H)
    per_code = h[:, None].expand(1, 40, H)
    a = prior.generate(h, 40, temperature=0.0)
    assert torch.equal(prior.generate(per_code, 40, temperature=0.0), a)


def test_sample_next_filters() -> None:
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]])
    g = torch.Generator().manual_seed(0)
    assert sample_next(logits, temperature=0.0).item() == 1
    assert all(sample_next(logits, top_k=1, generator=g).item() == 1 for _ in range(20))
    assert all(sample_next(logits, top_p=0.01, generator=g).item() == 1 for _ in range(20))
    picks = {sample_next(logits, top_k=2, generator=g).item() for _ in range(200)}
    assert picks == {1, 3}


def _window_inputs(prior: Prior, b: int, n: int) -> tuple[torch.Tensor, torch.Tensor, list | None]:
    """Random tokens [BOS, codes] (b, n), their conditions (b, n, cond_dim) and content memory."""
    tokens = torch.randint(0, K, (b, n))
    tokens[:, 0] = prior.bos
    cond = torch.randn(b, n, prior.in_proj.in_features - prior.cfg.n_embd)
    notes = torch.randint(0, 129, (b, n * FPC))
    return tokens, cond, prior.cross_memory(notes, torch.randn(b, H), 0, n)


@pytest.mark.parametrize(("model_type", "motion"), [("minet", False), ("minet", True), ("minet_midi", False)])
def test_static_cache_steps_equal_the_concatenating_cache_and_recomputation(
    model_type: str, motion: bool
) -> None:
    """Prefill 3 positions, then step to the end of the window: in-place buffers vs torch.cat vs no cache."""
    prior = _prior(model_type, per_frame_motion=motion).eval()
    tokens, cond, memory = _window_inputs(prior, 2, BLOCK)
    cache = prior.new_cache(2)
    masked = prior.new_cache(2)  # the CUDA-graph form of the step: position as a tensor, unused slots masked
    with torch.no_grad():
        logits = prior.prefill(tokens[:, :3], cond[:, :3], cache, memory)
        prior.prefill(tokens[:, :3], cond[:, :3], masked, memory)
        ref, past = prior.run_window(tokens[:, :3], cond[:, :3], 0, None, memory)
        assert torch.equal(logits, ref[:, -1])
        for pos in range(3, BLOCK):
            t, c = tokens[:, pos : pos + 1], cond[:, pos : pos + 1]
            logits = prior.step(t, c, pos, cache, memory)
            ref, past = prior.run_window(t, c, pos, past, memory)  # the cache that grows by concatenation
            assert torch.equal(logits, ref[:, -1]), pos  # the same operations: bit for bit
            full, _ = prior.run_window(tokens[:, : pos + 1], cond[:, : pos + 1], 0, None, memory)
            torch.testing.assert_close(logits, full[:, -1], rtol=1e-4, atol=1e-5)
            graph_form = prior.step(t, c, torch.tensor([pos]), masked, memory)
            torch.testing.assert_close(graph_form, logits, rtol=1e-5, atol=1e-6)
            additive = slot_masks(BLOCK, cond)[pos].view(1, 1, 1, -1)  # the mask form the CUDA graph uses
            graph_form = prior.step(t, c, torch.tensor([pos]), masked, memory, additive)
            torch.testing.assert_close(graph_form, logits, rtol=1e-5, atol=1e-6)
        for buf, (pk, pv) in zip(cache, past, strict=True):
            assert torch.equal(buf[:, 0], pk) and torch.equal(buf[:, 1], pv)  # the buffers hold the window
    with pytest.raises(ValueError, match="window"):
        prior.step(tokens[:, :1], cond[:, :1], BLOCK, cache, memory)


def test_cached_decoder_restarts_windows_and_stays_eager_on_the_cpu() -> None:
    prior = _prior().eval()
    tokens, cond, _ = _window_inputs(prior, 1, BLOCK)
    decoder = CachedDecoder(prior, 1, graph=True)
    assert not decoder.use_graph  # CUDA graphs need CUDA: the CPU decodes eagerly
    with torch.no_grad():
        decoder.prefill(tokens[:, :1], cond[:, :1])
        for pos in range(1, BLOCK):
            logits = decoder.step(tokens[:, pos : pos + 1], cond[:, pos : pos + 1])
        with pytest.raises(ValueError, match="full"):
            decoder.step(tokens[:, :1], cond[:, :1])
        # A restart keeps the later half of the window; stale slots of the old window must not leak in.
        keep = tokens[:, BLOCK - KEEP - 1 :].clone()
        keep[:, 0] = prior.bos
        decoder.prefill(keep[:, :-1], cond[:, -KEEP - 1 : -1])
        logits = decoder.step(keep[:, -1:], cond[:, -1:])
        full, _ = prior.run_window(keep, cond[:, -KEEP - 1 :], 0, None, None)
        # The graph form attends to every slot: the masked ones still hold the old window's keys.
        masked = prior.step(keep[:, -1:], cond[:, -1:], torch.tensor([KEEP]), decoder.cache, None)
    torch.testing.assert_close(logits, full[:, -1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(masked, full[:, -1], rtol=1e-4, atol=1e-5)
    assert not decoder.graphed


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"), [(1.0, None, None), (0.7, 5, None), (1.3, None, 0.8), (1.0, 3, 0.5)]
)
def test_sample_rows_draws_what_torch_multinomial_draws(temperature, top_k, top_p) -> None:
    """One batched draw with per-row noise = sample_next row by row with each row's generator."""
    for k in (7, K, 1024):
        logits = torch.randn(3, k) * 3
        gens = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
        refs = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
        for _ in range(20):
            got = sample_rows(logits, draw_noise(gens, k), temperature, top_k, top_p)
            want = torch.cat(
                [sample_next(logits[i : i + 1], temperature, top_k, top_p, g) for i, g in enumerate(refs)]
            )
            assert torch.equal(got, want[:, 0])
        assert all(torch.equal(g.get_state(), r.get_state()) for g, r in zip(gens, refs, strict=True))
    assert torch.equal(sample_rows(logits, None, 0.0), logits.argmax(-1))
    with pytest.raises(ValueError, match="finite"):
        sample_rows(torch.full((1, 4), float("nan")), draw_noise(gens[:1], 4))
