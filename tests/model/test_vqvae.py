"""VQ-VAE: shapes, MBR band independence, the EMA codebook, dead-code restarts and a trained round trip."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from minet_desktop.model.config import BundleConfig, VQVAEConfig
from minet_desktop.model.vqvae import VQVAE, MBRBlock, VectorQuantizer

TINY = BundleConfig.tiny().vqvae  # 32 bins, 32 channels, 8-dim codes, 32 entries, downsample 2


@pytest.mark.parametrize("use_mbr", [True, False])
def test_forward_backward_shapes_any_length(use_mbr: bool) -> None:
    vq = VQVAE(dataclasses.replace(TINY, use_mbr=use_mbr))
    spec = torch.randn(3, 32, 51)  # 51 is not a multiple of the downsample factor
    recon, terms, indices = vq(spec)
    assert recon.shape == spec.shape and indices.shape == (3, 26) and indices.dtype == torch.long
    assert set(terms) >= {"loss", "recon", "commit", "perplexity", "used_codes"}
    terms["loss"].backward()
    # Straight-through: the reconstruction loss reaches the encoder's first layer.
    assert vq.encoder.conv_in.weight.grad is not None and vq.encoder.conv_in.weight.grad.abs().sum() > 0
    assert vq.encode(spec).shape == (3, 26)
    assert vq.decode(indices).shape == (3, 32, 52)


def test_no_mbr_variant_has_single_band_blocks_of_the_same_depth() -> None:
    with_mbr, without = VQVAE(TINY), VQVAE(dataclasses.replace(TINY, use_mbr=False))
    assert [b.n_bands for b in with_mbr.encoder.mbr] == [4, 2]
    assert [b.n_bands for b in with_mbr.decoder.mbr] == [2, 4]  # the mirror
    assert [b.n_bands for b in without.encoder.mbr] == [1, 1]
    assert [b.n_bands for b in without.decoder.mbr] == [1, 1]


def test_length_mask_leaves_padding_out_of_the_loss() -> None:
    vq = VQVAE(TINY).eval()
    spec = torch.randn(2, 32, 40)
    garbage = spec.clone()
    garbage[:, :, 30:] = 1e3  # padding frames
    lengths = torch.tensor([30, 30])
    # Padding changes the codes near the boundary too, so compare against the same input cut to 30 frames
    # only loosely; the masked loss must not see the 1e3 values at all.
    _, masked, _ = vq(garbage, lengths)
    _, unmasked, _ = vq(garbage)
    assert masked["recon"] < 1e3 < unmasked["recon"]


def test_mbr_bands_are_processed_independently() -> None:
    block = MBRBlock(channels=16, n_bands=4)
    x = torch.randn(2, 16, 10)
    base = block(x) - x  # residual branch output
    for k in range(4):
        x2 = x.clone()
        x2[:, 4 * k : 4 * k + 4] += torch.randn(2, 4, 10)
        changed = ((block(x2) - x2) - base).abs().amax(dim=(0, 2)) > 1e-6
        assert changed.tolist() == [4 * k <= c < 4 * k + 4 for c in range(16)]
    # One band mixes everything: a perturbation of the first channels reaches all of them.
    single = MBRBlock(channels=16, n_bands=1)
    x2 = x.clone()
    x2[:, :4] += 1.0
    assert (((single(x2) - x2) - (single(x) - x)).abs().amax(dim=(0, 2)) > 1e-6).all()


def test_ema_codebook_moves_toward_encoder_outputs() -> None:
    q = VectorQuantizer(dataclasses.replace(TINY, ema_decay=0.9, dead_code_threshold=0.0)).train()
    q.initialized.fill_(True)  # keep the random codebook instead of seeding it from the data
    target = torch.randn(8)
    z = target[None, :, None].expand(4, 8, 16)  # every encoder output is `target`
    used = int(q.nearest(target[None])[0])
    others = torch.arange(32) != used
    before = q.codebook.clone()
    dists = []
    for _ in range(30):
        _, indices, _ = q(z)
        assert (indices == used).all()
        dists.append(float((q.codebook[used] - target).norm()))
    assert dists[0] < float((before[used] - target).norm())
    assert all(b <= a + 1e-6 for a, b in zip(dists, dists[1:], strict=False))
    assert dists[-1] < 0.05 * float((before[used] - target).norm())
    # Codes nobody chose stay where they were (their sums and counts decay together).
    assert torch.allclose(q.codebook[others], before[others], atol=1e-3)


def test_eval_mode_leaves_the_codebook_alone() -> None:
    q = VectorQuantizer(TINY).eval()
    before = {k: v.clone() for k, v in q.state_dict().items()}
    q(torch.randn(2, 8, 10))
    assert all(torch.equal(before[k], v) for k, v in q.state_dict().items())


def test_dead_codes_restart_on_encoder_outputs() -> None:
    cfg = dataclasses.replace(TINY, codebook_size=8, code_dim=4, dead_code_threshold=1.0)
    q = VectorQuantizer(cfg).train()
    q.initialized.fill_(True)
    center = torch.tensor([1.0, -2.0, 0.5, 3.0])
    with torch.no_grad():
        q.codebook.copy_(center + 100.0 * torch.arange(8.0)[:, None])  # code 0 at the data, 1..7 far away
        q.embed_avg.copy_(q.codebook)
    z = (center + 0.01 * torch.randn(64, 4)).T[None]  # (1, 4, 64)
    _, indices, _ = q(z)
    assert (indices == 0).all()
    inputs = z[0].T
    for code in q.codebook[1:]:
        # Each restarted code is one of the batch's encoder outputs, exactly.
        assert (inputs == code).all(dim=1).any()
    assert (q.cluster_size[1:] >= cfg.dead_code_threshold).all()


def test_first_training_batch_seeds_the_codebook_from_data() -> None:
    q = VectorQuantizer(TINY).train()
    z = torch.randn(2, 8, 40) + 50.0
    q(z)
    assert bool(q.initialized)
    assert (q.codebook - 50.0).abs().mean() < 5.0


def _patterns() -> torch.Tensor:
    pats = torch.full((4, 32), -4.0)
    for i, f0 in enumerate([2, 3, 5, 7]):
        pats[i, f0 :: 2 * f0] = 2.0  # odd harmonics of four fundamentals
    return pats


def test_trained_toy_round_trips_codes() -> None:
    cfg: VQVAEConfig = dataclasses.replace(TINY, codebook_size=16, dead_code_threshold=0.1)
    vq = VQVAE(cfg)
    pats = _patterns()
    vq.set_normalization(pats.mean(0), pats.std(0))
    g = torch.Generator().manual_seed(0)

    def batch(n: int) -> torch.Tensor:
        seq = torch.randint(0, 4, (n, 16), generator=g)  # one pattern per code (2 frames)
        return pats[seq].repeat_interleave(2, dim=1).transpose(1, 2)

    opt = torch.optim.Adam(vq.parameters(), lr=3e-3)
    for _ in range(150):
        _, terms, _ = vq(batch(8))
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
    assert float(terms["recon"].detach()) < 0.02
    vq.eval()
    with torch.no_grad():
        spec = batch(8)
        codes = vq.encode(spec)
        decoded = vq.decode(codes)
        assert torch.equal(vq.encode(decoded), codes)
        assert float((decoded - spec).pow(2).mean()) < 0.1  # in log-magnitude units of a 6-unit range


def test_decoding_with_history_gives_the_whole_decode_of_the_later_codes() -> None:
    """Live mode decodes a few codes with the code context's window before them as history only."""
    from minet_desktop.engine.synthesis import decoder_context

    cfg = VQVAEConfig(
        in_bins=32, channels=16, code_dim=8, codebook_size=16, encoder_bands=(2, 1), n_res_blocks=1, downsample=4,
        decoder_context=6, decoder_head=8,
    )  # fmt: skip
    torch.manual_seed(0)
    vq = VQVAE(cfg).eval()
    with torch.no_grad():
        for branch in (vq.decoder.context, vq.decoder.head):
            assert branch is not None
            branch.conv2.weight.normal_(0.0, 0.5)
        codes = torch.randint(0, 16, (1, 30))
        whole = vq.decode(codes)
        a, r = 17, decoder_context(cfg)  # decode codes a.. with r codes of convolution context before them
        part = vq.decode(codes[:, a - r - (cfg.decoder_context - 1) :], history=cfg.decoder_context - 1)
        ds = cfg.downsample
        assert torch.allclose(part[..., r * ds :], whole[..., a * ds :], atol=1e-5)
        # Without the history the code context of the first codes differs: the history is what makes it exact.
        short = vq.decode(codes[:, a - r :])
        assert not torch.allclose(short[..., r * ds :], whole[..., a * ds :], atol=1e-3)
