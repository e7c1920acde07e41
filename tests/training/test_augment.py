"""Skeleton augmentation (training.train.augment): each transform does what it says, and off means off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from minet_desktop.core.skeleton import L_HAND, L_WRIST, PARENTS, R_ELBOW, R_HAND, R_SHOULDER, R_WRIST
from training.train.augment import (
    SkeletonAugment,
    drop,
    frame_edge,
    limb_jitter,
    similarity,
    through_frame_rate,
    time_warp,
)


def _skeleton(T: int = 125, seed: int = 0) -> np.ndarray:
    """A moving, fully detected skeleton in normalised units: random bones off a swaying neck."""
    rng = np.random.default_rng(seed)
    k = np.zeros((T, 3, 47), np.float32)
    bones = rng.normal(0, 0.3, (47, 2))
    t = np.arange(T) / 62.5
    for j in range(47):
        p = PARENTS[j]
        base = np.zeros((T, 2)) if p < 0 else k[:, :2, p]
        wob = 0.05 * np.sin(2 * np.pi * (0.5 + j % 3) * t)[:, None]
        k[:, :2, j] = base + bones[j] + wob
    k[:, 2] = 1.0
    return k


def _bone(k: np.ndarray, j: int) -> np.ndarray:
    return np.linalg.norm(k[:, :2, j] - k[:, :2, PARENTS[j]], axis=1)


def test_similarity_keeps_shape_and_moves_the_whole_body() -> None:
    k = _skeleton()
    a = SkeletonAugment(perspective=0.0, squeeze=(1.0, 1.0), scale=(1.2, 1.2))
    out = similarity(k, np.random.default_rng(1), a)
    # every distance scaled by the same 1.2: a rotation + scale + shift
    for i, j in ((0, 3), (7, 40), (4, 26)):
        d0 = np.linalg.norm(k[:, :2, i] - k[:, :2, j], axis=1)
        d1 = np.linalg.norm(out[:, :2, i] - out[:, :2, j], axis=1)
        assert np.allclose(d1, 1.2 * d0, rtol=1e-4)
    assert not np.allclose(out[:, :2], k[:, :2])
    assert np.array_equal(out[:, 2], k[:, 2])
    # with perspective and squeeze, shapes change (mildly)
    out2 = similarity(k, np.random.default_rng(2), SkeletonAugment())
    ratio = _bone(out2, R_WRIST) / _bone(out2, R_ELBOW) / (_bone(k, R_WRIST) / _bone(k, R_ELBOW))
    assert np.abs(np.log(ratio)).max() < 0.5


def test_limb_jitter_changes_lengths_not_directions() -> None:
    k = _skeleton()
    out = limb_jitter(k, np.random.default_rng(3), 0.1)
    ratios = [(_bone(out, j) / _bone(k, j)) for j in (R_SHOULDER, R_ELBOW, R_WRIST, R_HAND[5], L_HAND[9])]
    for r in ratios:
        assert np.allclose(r, r[0], rtol=1e-4)  # one factor per segment, all frames
    assert max(abs(r[0] - 1) for r in ratios) > 0.02
    for j in (R_ELBOW, R_WRIST, R_HAND[5]):
        u0 = k[:, :2, j] - k[:, :2, PARENTS[j]]
        u1 = out[:, :2, j] - out[:, :2, PARENTS[j]]
        cos = (u0 * u1).sum(1) / np.linalg.norm(u0, axis=1) / np.linalg.norm(u1, axis=1)
        assert cos.min() > 0.9999
    assert np.allclose(out[:, :2, 0], k[:, :2, 0])  # the neck stays


def test_hand_dropout_zeroes_confidence_and_the_hand_follows_the_wrist() -> None:
    k = _skeleton()
    hand = list(L_HAND)
    out = drop(k, hand, 40, 70)
    assert (out[40:70, 2][:, hand] == 0).all() and (out[:40, 2] == 1).all() and (out[70:, 2] == 1).all()
    assert np.array_equal(out[:40], k[:40]) and np.array_equal(out[70:], k[70:])
    # the cache's filling: the hand's offset from the wrist interpolated across the gap
    off = out[40:70, :2, L_HAND[0]] - out[40:70, :2, L_WRIST]
    a = k[39, :2, L_HAND[0]] - k[39, :2, L_WRIST]
    b = k[70, :2, L_HAND[0]] - k[70, :2, L_WRIST]
    w = (np.arange(40, 70) - 39) / 31
    assert np.allclose(off, (1 - w)[:, None] * a + w[:, None] * b, atol=1e-5)


def test_frame_edge_misses_what_is_below_it_and_is_off_by_default() -> None:
    k = _skeleton()
    k[:, 1, R_WRIST] = np.linspace(0.0, 2.0, k.shape[0])  # the right wrist goes down past the edge
    k[:, 1, list(R_HAND)] = k[:, 1, [R_WRIST]] + 0.05
    out = frame_edge(k, 1.0)
    below = k[:, 1, R_WRIST] > 1.0
    assert (out[below, 2, R_WRIST] == 0).all() and (out[~below, 2, R_WRIST] == k[~below, 2, R_WRIST]).all()
    assert (out[below, 2][:, list(R_HAND)] == 0).all()  # the hand goes with it
    # Missed joints follow their parent, as the cache fills them: the wrist keeps its last offset to the elbow.
    last = np.flatnonzero(~below)[-1]
    off = k[last, :2, R_WRIST] - k[last, :2, R_ELBOW]
    np.testing.assert_allclose(
        out[below, :2, R_WRIST] - out[below, :2, R_ELBOW], np.broadcast_to(off, (below.sum(), 2)), atol=1e-5
    )
    high = frame_edge(k, 5.0)  # nothing below a high edge
    assert np.array_equal(high, k) and high is not k
    rng = np.random.default_rng(0)
    plain = SkeletonAugment(p_limbs=0, p_similarity=0, p_time_warp=0, p_frame_rate=0, p_joint_dropout=0,
                            p_hand_dropout=0)  # fmt: skip
    assert np.array_equal(plain(k, rng), k)
    edged = SkeletonAugment(p_limbs=0, p_similarity=0, p_time_warp=0, p_frame_rate=0, p_joint_dropout=0,
                            p_hand_dropout=0, p_frame_edge=1.0, frame_edge=(1.0, 1.0))  # fmt: skip
    assert np.array_equal(edged(k, rng), out)


def test_time_warp_shifts_the_motion_by_at_most_its_bound() -> None:
    k = _skeleton(250)
    k[:, 0, 3] = np.arange(250, dtype=np.float32)  # x of one joint = frame index: out - in = the shift
    out = time_warp(k, np.random.default_rng(4), 2.5)
    shift = out[:, 0, 3] - k[:, 0, 3]
    assert np.abs(shift).max() <= 2.5 + 1e-4 and np.abs(shift).max() > 0.5
    assert np.all(np.diff(out[:, 0, 3]) > 0)  # still in order


def test_frame_rate_jitter_removes_what_a_slow_camera_cannot_see() -> None:
    k = _skeleton(250)
    k[:, 0, 3] = np.where(np.arange(250) % 2 == 0, 1.0, -1.0)  # 31 Hz flicker
    k[:, 0, 5] = np.linspace(0, 1, 250)  # slow motion
    out = through_frame_rate(k, 15.0, 62.5, np.random.default_rng(5))
    inner = slice(10, 240)
    assert np.abs(np.diff(out[inner, 0, 3])).mean() < 0.5 * np.abs(np.diff(k[inner, 0, 3])).mean()
    assert np.allclose(out[inner, 0, 5], k[inner, 0, 5], atol=1e-4)


def test_augment_is_deterministic_and_changes_every_crop() -> None:
    k = _skeleton()
    aug = SkeletonAugment()
    a = aug(k, np.random.default_rng(7))
    assert np.array_equal(a, aug(k, np.random.default_rng(7)))
    assert not np.array_equal(a, aug(k, np.random.default_rng(8)))
    assert a.shape == k.shape and np.isfinite(a).all()
    off = SkeletonAugment(
        p_similarity=0, p_limbs=0, p_joint_dropout=0, p_hand_dropout=0, p_time_warp=0, p_frame_rate=0
    )
    assert np.array_equal(off(k, np.random.default_rng(7)), k)


def test_recipe_switch_turns_augmentation_on_for_training_crops_only(tmp_path: Path) -> None:
    from training.train.config import load_recipe

    assert load_recipe("default").train("prior").augment_skeleton
    assert load_recipe("default").train("regressor").augment_skeleton
    assert not load_recipe("cpu_small").train("prior").augment_skeleton


@pytest.mark.slow
def test_data_module_applies_the_switch(tmp_path: Path) -> None:
    from dataclasses import replace

    from training.cache import CropDataset, prepare
    from training.synth.corpus import generate
    from training.train.config import TrainConfig, load_recipe
    from training.train.data import _CropDataModule

    corpus = tmp_path / "corpus"
    generate(
        corpus, minutes=3 * 6.5 / 60, instruments="vn,fl,tpt", seed=3, track_seconds=(5.0, 8.0), workers=1
    )
    prepare(corpus, tmp_path / "cache", workers=1)

    class AllCrops(_CropDataModule):  # the tiny cache's tracks are all in one split
        def _datasets(self):
            ds = lambda: CropDataset(self.cache_dir, "all", fields=("spec", "skeleton"), crop_seconds=2.0)  # noqa: E731
            return ds(), ds()

    cfg = load_recipe("tiny").model.bundle_config()
    items = {}
    for on in (False, True):
        dm = AllCrops(tmp_path / "cache", cfg, replace(TrainConfig(batch_size=2), augment_skeleton=on))
        dm.setup()
        assert (dm.train_set.augment is not None) == on
        assert dm.val_set.augment is None
        items[on] = (dm.train_set[0], dm.val_set[0])
    assert np.array_equal(items[False][0]["spec"], items[True][0]["spec"])
    assert not np.array_equal(items[False][0]["skeleton"], items[True][0]["skeleton"])
    assert np.array_equal(items[False][1]["skeleton"], items[True][1]["skeleton"])
