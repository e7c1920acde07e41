"""Training the performance detector (``minet-train performance``): playing an instrument, or not?

Positives: crops of the training split's performances, each from one of its camera views (``minet-train
views``; the cache's own skeleton when there are none). Negatives: people who are not playing
(:mod:`training.synth.activities`: talking, walking, waving, clapping, on the phone, typing, drinking,
stretching, a ball game, standing about), filmed by cameras and trackers from the same ranges and put through
the same ``model_frames`` as the cache. Both go through the training :class:`SkeletonAugment`. The loss is
binary cross-entropy; no instrument label is read.

The report measures, per performance or clip (the mean probability over its windows against the threshold):
the validation split's performances (every view), a hard-views cache when given, and fresh negatives of every
activity drawn from another seed. ``holdout`` activities are left out of training, so the report shows how
the detector does on kinds of not-playing it never saw (the leave-one-activity-out check).

Checkpoints every ``ckpt_every`` steps (tensors only, read back with ``weights_only=True``); a run resumes
from the last readable one, exactly (each step's batch is a function of the seed and the step).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from minet_desktop.core.atomic import atomic_write_text
from minet_desktop.core.errors import InputError
from minet_desktop.model.performance import (
    FILE_NAME,
    PerformanceDetector,
    PerformanceDetectorConfig,
    playing_probability,
    save_detector,
)

CKPT_NAME = "last.pt"
REPORT_NAME = "report.json"


@dataclass(frozen=True)
class PerformanceTrainConfig:
    steps: int = 1500
    batch: int = 64  # half performances, half not
    lr: float = 2e-3
    weight_decay: float = 0.01
    seed: int = 0
    #: Negative clips drawn per activity for training (and again, from another seed, for the report).
    clips_per_activity: int = 60
    clip_seconds: float = 12.0
    #: Crop lengths, seconds (a window at inference is ``window_seconds``; shorter clips are one window).
    crop_seconds: tuple[float, float] = (2.0, 4.0)
    #: Activities left out of training (reported apart: movement of a kind the detector never saw).
    holdout: tuple[str, ...] = ()
    #: Share of crops (of both kinds) seen through a close-up's frame edge (``SkeletonAugment.frame_edge``),
    #: so that how tightly a video is framed is no clue to whether someone is playing.
    frame_edge_p: float = 0.3
    ckpt_every: int = 250
    detector: PerformanceDetectorConfig = field(default_factory=PerformanceDetectorConfig)


def learning_rate(cfg: PerformanceTrainConfig, step: int) -> float:
    """Linear warm-up over the first 5 % of the steps, then a cosine down to zero."""
    warm = max(1, int(0.05 * cfg.steps))
    if step <= warm:
        return cfg.lr * step / warm
    t = min(1.0, (step - warm) / max(1, cfg.steps - warm))
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))


def activity_frames(
    kinds: Sequence[str], n: int, seconds: float, seed: int, frame_rate: float, threshold: float
) -> dict[str, list[np.ndarray]]:
    """``n`` clips of each activity in ``kinds``, as model frames ``(T, 3, 47)`` float32 at ``frame_rate``."""
    from minet_desktop.core.skeleton import model_frames
    from training.synth.activities import ACTIVITIES, act

    out: dict[str, list[np.ndarray]] = {}
    for kind in kinds:
        clips = []
        for i in range(n):
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xAC7, ACTIVITIES.index(kind), i]))
            pose, perf, kp = act(kind, seconds, rng)
            T = int(round(kp.shape[0] / perf.fps * frame_rate))
            clips.append(model_frames(kp, perf.fps, frame_rate, T, threshold)[0].astype(np.float32))
        out[kind] = clips
    return out


def cache_frames(cache: Path, splits: Sequence[str] | None = None) -> list[np.ndarray]:
    """Every track's model-ready skeleton ``(T, 3, 47)`` of a prepared cache (of ``splits``, all when None)."""
    from training.cache import load_manifest

    man = load_manifest(cache)
    out = []
    for _tid, e in sorted(man["tracks"].items()):
        if splits is not None and e.get("split") not in splits:
            continue
        out.append(np.load(cache / e["dir"] / "skeleton.npy", mmap_mode="r", allow_pickle=False))
    if not out:
        raise InputError(cache, f"no tracks{' of ' + '/'.join(splits) if splits else ''} in this cache")
    return out


def _performances(cache: Path, split: str, log: Callable[[str], None]) -> list[np.ndarray]:
    """``(V, T, 3, 47)`` per performance of ``split``: its views, or its own skeleton when there are none."""
    from training.train.multiview import load_views

    try:
        return list(load_views(cache, split)[1])
    except InputError as exc:
        try:
            own = cache_frames(cache, (split,))
        except InputError:
            return []
        log(f"warning: {exc}; using each track's own skeleton only")
        return [np.asarray(a)[None] for a in own]


def _crop(a: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    T = a.shape[0]
    s = int(rng.integers(0, max(1, T - n + 1)))
    k = np.asarray(a[s : s + n], np.float32)
    if k.shape[0] < n:
        k = np.concatenate([k, np.repeat(k[-1:], n - k.shape[0], axis=0)], axis=0)
    return k


def score(model: PerformanceDetector, clips: Sequence[np.ndarray]) -> np.ndarray:
    """Mean probability of playing of each clip ``(T, 3, 47)``."""
    model.eval()
    return np.array([playing_probability(model, torch.from_numpy(np.array(c, np.float32)))[0] for c in clips])


def report(
    model: PerformanceDetector,
    val: Sequence[np.ndarray],
    negatives: dict[str, list[np.ndarray]],
    hard: Sequence[np.ndarray] | None = None,
    holdout: Sequence[str] = (),
) -> dict[str, Any]:
    """Shares called playing / not playing at the model's threshold (see the module docstring)."""
    thr = model.cfg.threshold
    views = [v[i] for v in val for i in range(v.shape[0])]
    out: dict[str, Any] = {"threshold": thr, "val_performances": len(views)}
    if views:
        out["val_playing"] = float((score(model, views) >= thr).mean())
    if hard is not None:
        p_hard = score(model, hard)
        out["hard_performances"] = len(hard)
        out["hard_playing"] = float((p_hard >= thr).mean())
    per: dict[str, float] = {}
    for kind, clips in negatives.items():
        per[kind] = float((score(model, clips) < thr).mean())
    out["not_playing"] = per
    seen = [per[k] for k in per if k not in holdout]
    out["not_playing_seen"] = float(np.mean(seen)) if seen else float("nan")
    if holdout:
        out["not_playing_holdout"] = float(np.mean([per[k] for k in holdout if k in per]))
    return out


def train_detector(
    cache: str | PathLike[str],
    out: str | PathLike[str],
    cfg: PerformanceTrainConfig = PerformanceTrainConfig(),
    hard_cache: str | PathLike[str] | None = None,
    resume: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[Path, dict[str, Any]]:
    """Train as described above; write ``out/performance.safetensors`` and ``out/report.json``."""
    from training.cache import load_manifest, manifest_config
    from training.synth.activities import ACTIVITIES
    from training.train.augment import SkeletonAugment
    from training.train.checkpoints import resume_step, save_step

    cache, out = Path(cache), Path(out)
    unknown = [k for k in cfg.holdout if k not in ACTIVITIES]
    if unknown:
        raise ValueError(f"unknown activity {unknown[0]!r}; known: {', '.join(ACTIVITIES)}")
    ccfg = manifest_config(load_manifest(cache))
    det = replace(
        cfg.detector,
        frame_rate=ccfg.audio.frame_rate,
        confidence_threshold=ccfg.skeleton.confidence_threshold,
    )
    train_pos = _performances(cache, "train", log)
    if not train_pos:
        raise InputError(cache, "no performances in the training split")
    kinds = [k for k in ACTIVITIES if k not in cfg.holdout]
    t0 = time.perf_counter()
    neg = activity_frames(kinds, cfg.clips_per_activity, cfg.clip_seconds, cfg.seed, det.frame_rate,
                          det.confidence_threshold)  # fmt: skip
    pool = [c for k in kinds for c in neg[k]]
    log(f"{len(train_pos)} performances, {len(pool)} clips of {len(kinds)} activities "
        f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    model = PerformanceDetector(det)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ckpt = out / CKPT_NAME
    parts = {"model": model, "optimizer": opt}
    start = resume_step(ckpt, parts, log) if resume else 0
    aug = SkeletonAugment(frame_rate=det.frame_rate, p_frame_edge=cfg.frame_edge_p)
    half = cfg.batch // 2
    t0 = time.perf_counter()
    model.train()
    for step in range(start + 1, cfg.steps + 1):
        rng = np.random.default_rng((cfg.seed, step))
        n = int(round(rng.uniform(*cfg.crop_seconds) * det.frame_rate))
        xs = []
        for i in rng.integers(0, len(train_pos), half):
            a = train_pos[int(i)]
            xs.append(aug(_crop(a[int(rng.integers(0, a.shape[0]))], n, rng), rng))
        for i in rng.integers(0, len(pool), cfg.batch - half):
            xs.append(aug(_crop(pool[int(i)], n, rng), rng))
        x = torch.from_numpy(np.ascontiguousarray(np.stack(xs).transpose(0, 2, 3, 1)))
        y = torch.cat([torch.ones(half), torch.zeros(cfg.batch - half)])
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, step)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0:
            log(f"step {step}/{cfg.steps} loss {loss.item():.3f} ({time.perf_counter() - t0:.0f} s)")
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            save_step(ckpt, parts, step)
    model.eval()
    val_neg = activity_frames(ACTIVITIES, max(10, cfg.clips_per_activity // 3), cfg.clip_seconds,
                              cfg.seed + 1000, det.frame_rate, det.confidence_threshold)  # fmt: skip
    hard = cache_frames(Path(hard_cache)) if hard_cache else None
    rep = report(model, _performances(cache, "val", log), val_neg, hard, cfg.holdout)
    info = {"train": {**asdict(cfg), "detector": None}, "cache": str(cache.name), "report": rep}
    path = save_detector(out / FILE_NAME, model, info)
    atomic_write_text(out / REPORT_NAME, json.dumps(rep, indent=1) + "\n")
    return path, rep


def format_report(rep: dict[str, Any]) -> str:
    lines = []
    if "val_playing" in rep:
        lines.append(
            f"validation performances called playing: {100 * rep['val_playing']:.1f} % of {rep['val_performances']}"
        )
    if "hard_playing" in rep:
        lines.append(
            f"hard-views performances called playing: {100 * rep['hard_playing']:.1f} % of {rep['hard_performances']}"
        )
    lines.append("not playing, called not playing:")
    for k, v in rep["not_playing"].items():
        lines.append(f"  {k:<8} {100 * v:5.1f} %")
    lines.append(f"  seen in training: {100 * rep['not_playing_seen']:.1f} %")
    if "not_playing_holdout" in rep:
        lines.append(f"  held out of training: {100 * rep['not_playing_holdout']:.1f} %")
    return "\n".join(lines)
