"""The MI Net paper's baselines: shapes, what each part computes, that they learn, and their bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from minet_desktop.core.config import from_json, to_json
from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.core.skeleton import BONES
from minet_desktop.model.baselines import (
    ContentGRU,
    GraphTransformer,
    Seq2Seq,
    STGCNBlock,
    build_baseline,
    graph_partitions,
    load_baseline_bundle,
    read_baseline_config,
    save_baseline_bundle,
)
from minet_desktop.model.bundle import build_modules, load_bundle, save_bundle
from minet_desktop.model.config import (
    BaselineBundleConfig,
    BundleConfig,
    GraphTransformerConfig,
    GRUContentBundleConfig,
    GRUContentConfig,
    MovementEncoderConfig,
    Seq2SeqConfig,
    VQVAEConfig,
)

TYPES = ("seq2seq", "graph_transformer")


def _skeleton(B: int = 2, T: int = 30) -> torch.Tensor:
    return torch.randn(B, 3, 47, T)


def _tiny_gru() -> GRUContentBundleConfig:
    return GRUContentBundleConfig(
        vqvae=VQVAEConfig(channels=32, code_dim=8, codebook_size=32, encoder_bands=(4, 2), downsample=2),
        movement=MovementEncoderConfig(hidden_size=8, n_layers=1),
        content_gru=GRUContentConfig(
            note_embd=8, encoder_hidden=8, code_embd=8, decoder_hidden=16, decoder_layers=1, window_codes=16
        ),
    )


@pytest.mark.parametrize("model_type", TYPES)
def test_shapes_of_prediction_generation_and_embedding(model_type: str) -> None:
    cfg = BaselineBundleConfig.tiny(model_type)
    model = build_baseline(cfg)
    sk, spec = _skeleton(2, 30), torch.randn(2, 32, 30)
    pred = model(sk, spec) if isinstance(model, Seq2Seq) else model(sk)
    assert pred.shape == (2, 32, 30)
    model.eval()
    assert model.generate(sk).shape == (2, 32, 30)
    assert model.generate(sk[..., :7]).shape == (2, 32, 7)  # any length, odd ones included
    emb = model.embed(sk)
    dim = cfg.seq2seq.embed_dim if cfg.seq2seq else cfg.graph_transformer.embed_dim  # type: ignore[union-attr]
    assert emb.shape == (2, dim)


def test_seq2seq_generation_feeds_back_its_own_frames() -> None:
    """Teacher forcing with the generated frames as the 'real' ones reproduces the generation exactly: the
    decoder's step t sees frame t-1 and nothing later, in training and at inference alike."""
    model = Seq2Seq(Seq2SeqConfig(encoder_hidden=8, encoder_layers=2, decoder_hidden=16, prenet_dim=16), 32)
    model.set_normalization(torch.randn(32), torch.rand(32) + 0.5)
    model.eval()
    sk = _skeleton(2, 25)
    generated = model.generate(sk)
    assert torch.allclose(model(sk, generated), model.normalize(generated), atol=1e-5)
    # The encoder's final state is the embedding, and the decoder starts from it: another movement, another start.
    assert not torch.allclose(model.generate(sk[..., :3]), model.generate(_skeleton(2, 3)))


def test_graph_partitions_follow_the_skeleton_tree() -> None:
    A = graph_partitions()
    assert A.shape == (3, 47, 47)
    parent_of = {(p, c) for p, c in BONES}
    assert {(int(v), int(w)) for v, w in torch.nonzero(A[1])} == parent_of  # children hear their parent
    assert {(int(w), int(v)) for v, w in torch.nonzero(A[2])} == parent_of  # parents hear their children
    assert torch.equal(A[0] > 0, torch.eye(47, dtype=torch.bool))
    assert torch.allclose(A.sum(0), A.sum(0).T)  # symmetric normalisation of an undirected graph


def test_spatial_graph_convolution_is_stgcns_with_the_mixing_first() -> None:
    block = STGCNBlock(4, 6, stride=1, kernel=3)
    with torch.no_grad():
        block.importance.uniform_(0.5, 1.5)
    x = torch.randn(2, 4, 5, 47)
    A = block.adjacency * block.importance
    W = block.gcn.weight[:, :, 0, 0].view(6, 4, 3)  # [out, in, partition]
    # ST-GCN: sum_k (W_k x) A_k.
    reference = torch.einsum("ock,bctv,kvw->botw", W, x, A) + block.gcn.bias[None, :, None, None]
    B, C, T, J = x.shape
    mixed = (x.reshape(-1, J) @ A.permute(1, 0, 2).reshape(J, 3 * J)).view(B, C, T, 3, J)
    ours = block.gcn(mixed.transpose(2, 3).reshape(B, 3 * C, T, J))
    assert torch.allclose(ours, reference, atol=1e-5)
    # The temporal stride: ceil(T / stride) frames out.
    assert STGCNBlock(4, 6, stride=2, kernel=3)(torch.randn(1, 4, 7, 47)).shape == (1, 6, 4, 47)


def test_graph_transformer_embedding_is_the_mean_of_the_stgcn_outputs() -> None:
    model = build_baseline(BaselineBundleConfig.tiny("graph_transformer")).eval()
    assert isinstance(model, GraphTransformer)
    sk = _skeleton(3, 20)
    feats = model.features(sk)
    assert feats.shape == (3, 16, 10, 47)  # stride 2 in time, the 47 joints kept
    assert torch.allclose(model.embed(sk), feats.mean(dim=(2, 3)))
    with pytest.raises(ValueError, match="exceed"):
        model(_skeleton(1, 65))  # more frames than queries


@pytest.mark.parametrize("model_type", TYPES)
def test_a_few_steps_reduce_the_loss(model_type: str) -> None:
    cfg = BaselineBundleConfig.tiny(model_type)
    model = build_baseline(cfg)
    sk = _skeleton(4, 24)
    # A spectrogram that follows the movement (joint 3's x), plus a fixed spectral shape.
    spec = torch.outer(torch.linspace(-1, 1, 32), torch.ones(24))[None] + sk[:, 0, 3][:, None, :]
    model.set_normalization(spec.mean((0, 2)), spec.std((0, 2)))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = model.loss(sk, spec, torch.tensor([24, 24, 20, 12]))
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses


def test_content_gru_is_causal_in_the_codes_and_learns() -> None:
    cfg = _tiny_gru()
    model = ContentGRU(cfg).eval()
    codes = torch.randint(0, 32, (2, 16))
    sk, notes = _skeleton(2, 32), torch.randint(0, 129, (2, 32))
    logits, loss = model(codes, sk, notes)
    assert logits.shape == (2, 16, 32) and abs(float(loss.detach()) - torch.log(torch.tensor(32.0))) < 0.5
    changed = codes.clone()
    changed[:, 9:] = (changed[:, 9:] + 1) % 32
    assert torch.allclose(model(changed, sk, notes)[0][:, :10], logits[:, :10])  # code 9 sees codes < 9 only
    assert not torch.allclose(model(changed, sk, notes)[0][:, 10:], logits[:, 10:])
    # Padding (past ``lengths``) is left out of the loss.
    _, short = model(codes, sk, notes, torch.tensor([5, 3]))
    real = torch.cat([logits[0, :5], logits[1, :3]]), torch.cat([codes[0, :5], codes[1, :3]])
    assert torch.allclose(short, torch.nn.functional.cross_entropy(*real), atol=1e-6)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        opt.zero_grad()
        _, loss = model(codes, sk, notes)
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss.detach())
    assert float(loss.detach()) < 0.5 * first


def test_configs_round_trip_and_refuse_what_cannot_be_built() -> None:
    for model_type in TYPES:
        cfg = BaselineBundleConfig.tiny(model_type)
        assert from_json(BaselineBundleConfig, to_json(cfg)) == cfg
    gru = _tiny_gru()
    assert from_json(GRUContentBundleConfig, to_json(gru)) == gru and gru.frames_per_code == 2
    with pytest.raises(ConfigError, match="needs exactly its own config"):
        BaselineBundleConfig(model_type="seq2seq", graph_transformer=GraphTransformerConfig())
    with pytest.raises(ConfigError, match="unknown model_type"):
        BaselineBundleConfig(model_type="minet", seq2seq=Seq2SeqConfig())
    with pytest.raises(ConfigError, match="max_frames=64 is shorter than one window"):
        BaselineBundleConfig(
            model_type="graph_transformer", graph_transformer=GraphTransformerConfig(max_frames=64)
        )
    with pytest.raises(ConfigError, match="divisible"):
        GraphTransformerConfig(d_model=30, n_head=8)
    with pytest.raises(ConfigError, match="one entry per block"):
        GraphTransformerConfig(gcn_channels=(8, 16), gcn_strides=(1,))
    with pytest.raises(ConfigError, match="prenet_dropout"):
        Seq2SeqConfig(prenet_dropout=1.0)
    data = json.loads(to_json(BaselineBundleConfig.tiny()))
    data["seq2seq"]["hidden"] = 3
    with pytest.raises(ConfigError, match="'hidden': 3"):
        from_json(BaselineBundleConfig, json.dumps(data))


@pytest.mark.parametrize("model_type", TYPES)
def test_bundle_round_trip_is_bit_exact(tmp_path: Path, model_type: str) -> None:
    cfg = BaselineBundleConfig.tiny(model_type)
    model = build_baseline(cfg)
    model.set_normalization(torch.randn(32), torch.rand(32) + 0.5)
    model.loss(_skeleton(2, 20), torch.randn(2, 32, 20)).backward()  # moves BatchNorm statistics too
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * p.grad)
    path = save_baseline_bundle(tmp_path / "b.safetensors", cfg, model, "# Tiny baseline")
    loaded = load_baseline_bundle(path)
    assert loaded.cfg == cfg and loaded.model_card == "# Tiny baseline" and not loaded.model.training
    a, b = model.state_dict(), loaded.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(k.startswith(f"{model_type}.") for k in load_file(path))
    assert read_baseline_config(path)[0].audio == cfg.audio  # the audio settings travel in the bundle
    model.eval()
    sk = _skeleton(1, 20)
    assert torch.equal(model.generate(sk), loaded.model.generate(sk))
    assert [p.name for p in tmp_path.iterdir()] == ["b.safetensors"]


def test_wrong_files_are_refused_naming_them(tmp_path: Path) -> None:
    cfg = BaselineBundleConfig.tiny("seq2seq")
    good = save_baseline_bundle(tmp_path / "good.safetensors", cfg, build_baseline(cfg))
    minet_cfg = BundleConfig.tiny()
    minet = save_bundle(tmp_path / "minet.safetensors", minet_cfg, *build_modules(minet_cfg))
    with pytest.raises(
        InputError, match=r"minet\.safetensors: not a baseline bundle \(its model type is 'minet'\)"
    ):
        load_baseline_bundle(minet)
    with pytest.raises(InputError, match="good.safetensors"):
        load_bundle(good)  # and MI Net's loader refuses a baseline
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a bundle at all")
    with pytest.raises(InputError, match="junk.safetensors: not a safetensors model bundle"):
        load_baseline_bundle(junk)
    with pytest.raises(InputError, match="no such model bundle"):
        load_baseline_bundle(tmp_path / "missing.safetensors")

    tensors = load_file(good)
    with safe_open(str(good), framework="pt") as f:
        metadata = f.metadata()
    missing = dict(tensors)
    missing.pop("seq2seq.head.weight")
    save_file(missing, str(tmp_path / "missing_tensor.safetensors"), metadata=metadata)
    with pytest.raises(InputError, match=r"lacks tensor\(s\) seq2seq.head.weight"):
        load_baseline_bundle(tmp_path / "missing_tensor.safetensors")
    wider = json.loads(metadata["config"])
    wider["seq2seq"]["decoder_hidden"] = 24
    save_file(
        tensors, str(tmp_path / "wider.safetensors"), metadata={**metadata, "config": json.dumps(wider)}
    )
    with pytest.raises(InputError, match="has shape .* but the config builds"):
        load_baseline_bundle(tmp_path / "wider.safetensors")
    typo = json.loads(metadata["config"])
    typo["window_secs"] = 1.0
    save_file(tensors, str(tmp_path / "typo.safetensors"), metadata={**metadata, "config": json.dumps(typo)})
    with pytest.raises(InputError, match="unknown key.*window_secs"):
        load_baseline_bundle(tmp_path / "typo.safetensors")
