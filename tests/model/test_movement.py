"""Movement encoder: h is the last layer's final state in both directions; per-frame features pool to codes."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from minet_desktop.model.config import MovementEncoderConfig
from minet_desktop.model.movement import MovementEncoder, align_to


def test_shapes_and_h_is_both_directions_of_the_last_layer() -> None:
    enc = MovementEncoder(MovementEncoderConfig())  # paper size: 3 layers, hidden 32, bidirectional
    skeleton = torch.randn(2, 3, 47, 25)  # the cache's crop layout (B, C, J, T)
    h, frames = enc(skeleton)
    assert h.shape == (2, 64) and frames.shape == (2, 25, 64)
    # Forward direction ends at the last frame, backward direction at the first.
    assert torch.allclose(h[:, :32], frames[:, -1, :32])
    assert torch.allclose(h[:, 32:], frames[:, 0, 32:])
    (h.sum() + frames.sum()).backward()
    assert all(p.grad is not None for p in enc.parameters())


def test_confidence_is_ignored_unless_asked_for() -> None:
    enc = MovementEncoder(MovementEncoderConfig(hidden_size=8, n_layers=1))
    x = torch.randn(1, 3, 47, 10)
    y = x.clone()
    y[:, 2] = torch.rand(1, 47, 10)  # other confidences
    assert torch.equal(enc(x)[0], enc(y)[0])
    assert torch.equal(enc(x[:, :2])[0], enc(x)[0])  # (x, y) only is accepted too
    with_conf = MovementEncoder(MovementEncoderConfig(hidden_size=8, n_layers=1, use_confidence=True))
    assert not torch.equal(with_conf(x)[0], with_conf(y)[0])


def test_wrong_skeleton_layout_is_refused() -> None:
    enc = MovementEncoder(dataclasses.replace(MovementEncoderConfig(), hidden_size=4))
    with pytest.raises(ValueError, match="47"):
        enc(torch.randn(1, 3, 25, 10))


def test_align_to_averages_each_codes_frames() -> None:
    frames = torch.arange(24.0).view(1, 12, 2)  # (B, T, H)
    out = align_to(frames, 3, frames_per_code=4)
    assert out.shape == (1, 3, 2)
    assert torch.equal(out[0, :, 0], torch.tensor([3.0, 11.0, 19.0]))  # means of 0,2,4,6 / 8..14 / 16..22
    # 251 frames -> 63 codes at 4 frames per code: the last code holds frame 250 and its repeat.
    long = torch.randn(2, 251, 5)
    aligned = align_to(long, 63, frames_per_code=4)
    assert aligned.shape == (2, 63, 5)
    assert torch.allclose(aligned[:, -1], (long[:, 248] + long[:, 249] + 2 * long[:, 250]) / 4)
    assert align_to(long, 10).shape == (2, 10, 5)
