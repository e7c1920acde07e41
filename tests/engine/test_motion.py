"""Movement conditioning follows the motion of long performances and is training's h for short ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from engine_helpers import performance

from minet_desktop.core.config import AudioConfig, SkeletonConfig
from minet_desktop.core.skeleton import interpolate_missing, normalize, resample
from minet_desktop.engine.motion import code_windows, iter_movement, skeleton_frames
from minet_desktop.model.config import MovementEncoderConfig
from minet_desktop.model.movement import MovementEncoder, align_to


def _run(gen):
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def test_skeleton_frames_are_what_the_training_cache_computes() -> None:
    kf = performance(2.0, fps=25.0)
    kf.keypoints[5:9, 2, 10:20] = 0.0  # a hand drops out for a few frames
    audio = AudioConfig()
    frames, n_samples = skeleton_frames(kf.keypoints, kf.fps, audio, SkeletonConfig())
    assert n_samples == 32000 and frames.shape == (32000 // 256 + 1, 3, 47)
    filled, _ = interpolate_missing(kf.keypoints, 0.3)
    normed, _ = normalize(filled, 0.3)
    np.testing.assert_array_equal(frames, resample(normed, 25.0, audio.frame_rate, n_out=frames.shape[0]))


@pytest.mark.parametrize("stride", [1, 4])
@pytest.mark.parametrize("mode", ["centered", "trailing"])
def test_code_windows_cover_each_code(mode, stride) -> None:
    starts, stops = code_windows(n_codes=50, n_frames=99, downsample=2, window=30, mode=mode, stride=stride)
    groups = np.arange(50) // stride
    for g in range(groups.max() + 1):  # codes of a group share their window
        assert len(set(zip(starts[groups == g], stops[groups == g], strict=True))) == 1
    if stride > 1 and mode == "trailing":
        # Live windows end at the group's first code: causal for every code of the group.
        assert (stops <= np.minimum(np.arange(50) * 2 + 2, 99)).all()
        return
    assert (starts >= 0).all() and (stops <= 99).all() and (stops - starts <= 30).all()
    last_frame = np.minimum(np.arange(50) * 2 + 1, 98)
    assert ((starts <= np.arange(50) * 2) & (stops > np.minimum(np.arange(50) * 2, 98))).all()
    if mode == "centered":
        assert (stops - starts == 30).all()
    else:
        np.testing.assert_array_equal(stops, np.minimum(last_frame + 1, 99))


def test_short_clip_gets_the_training_h_and_long_clip_follows_the_motion() -> None:
    torch.manual_seed(0)
    enc = MovementEncoder(MovementEncoderConfig(hidden_size=8, n_layers=2)).eval()
    frames = torch.randn(3, 47, 20)
    h, motion = _run(iter_movement(enc, frames, 10, 2, window=30, with_motion=True))
    with torch.no_grad():
        h_all, per_frame = enc(frames[None])
    torch.testing.assert_close(h, h_all.expand(10, -1))
    torch.testing.assert_close(motion, align_to(per_frame, 10, 2)[0])

    # A performer who is still for a while, then moves: h changes where the motion does.
    still = torch.zeros(3, 47, 200)
    moving = torch.randn(3, 47, 200)
    h, _ = _run(iter_movement(enc, torch.cat([still, moving], dim=-1), 200, 2, window=30))
    assert torch.allclose(h[10], h[80], atol=1e-6)  # both inside the still part
    assert not torch.allclose(h[10], h[150], atol=1e-3)
