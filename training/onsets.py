"""Train an MI Net bundle's onset detector (``minet-train onsets``): where notes start, from the movement.

The detector (:class:`minet_desktop.model.onsets.OnsetDetector`) is trained on the cache's training split: 4-s
crops of the model-ready skeleton, augmented as every skeleton model's training is
(:class:`training.train.augment.SkeletonAugment`), against the score's note onsets (the frame of each onset a
target of 1, its neighbours 0.5; binary cross-entropy with the rare onsets weighted up). The scores' onsets are
the only labels used; never the instrument. The threshold is chosen on the validation split (onset F1 against
the scores, 50 ms tolerance, as the evaluation scores audio), and the test split (and, when given, the hard
views' cache) measures it beside the hand-made movement events it replaces
(:func:`minet_desktop.engine.articulation.movement_events`). The bundle is rewritten (atomically) with the
detector, everything else in it unchanged.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch

from minet_desktop.core.errors import InputError
from minet_desktop.engine.articulation import movement_events, note_onsets, peaks
from minet_desktop.model.bundle import load_bundle, read_typed_config, save_bundle
from minet_desktop.model.config import BundleConfig, OnsetDetectorConfig
from minet_desktop.model.onsets import OnsetDetector, onset_features
from training.cache import load_manifest
from training.evaluate.metrics import match_events
from training.train.augment import SkeletonAugment

#: Thresholds tried on the validation split.
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)
#: Onset tolerance of the evaluation (seconds), as ``training.evaluate.metrics.onset_scores``.
TOLERANCE_S = 0.05


@dataclass
class OnsetTrack:
    """One cached performance: model-ready skeleton (T, 3, 47) and per-frame note indices (T,)."""

    id: str
    skeleton: np.ndarray
    notes: np.ndarray


def load_onset_tracks(cache_dir: str | PathLike[str], split: str) -> list[OnsetTrack]:
    """The tracks of ``split`` ("all": every one) that have a score (per-frame notes), from a prepared cache."""
    cache = Path(cache_dir)
    manifest = load_manifest(cache)
    out = []
    for tid, e in sorted(manifest["tracks"].items()):
        if (split != "all" and e.get("split") != split) or not e.get("has_notes"):
            continue
        d = cache / e["dir"]
        try:
            sk = np.load(d / "skeleton.npy", allow_pickle=False).astype(np.float32)
            notes = np.load(d / "notes.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(d, f"track {tid}: its cached skeleton or notes cannot be read ({exc})") from exc
        n = min(len(sk), len(notes))
        out.append(OnsetTrack(tid, sk[:n], notes[:n]))
    return out


def onset_targets(notes: np.ndarray) -> np.ndarray:
    """(T,) training target: 1 at each note onset's frame, 0.5 beside it (the tolerance is several frames)."""
    T = len(notes)
    y = np.zeros(T, np.float32)
    for o in note_onsets(notes):
        for d, w in ((-1, 0.5), (1, 0.5), (0, 1.0)):
            if 0 <= o + d < T:
                y[o + d] = max(y[o + d], w)
    return y


@dataclass
class EventCounts:
    """Matched, reference and estimated onsets, pooled over tracks."""

    matched: int = 0
    n_ref: int = 0
    n_est: int = 0

    def add(self, ref_frames: np.ndarray, est_frames: np.ndarray, frame_rate: float) -> None:
        self.matched += len(match_events(ref_frames / frame_rate, est_frames / frame_rate, TOLERANCE_S))
        self.n_ref += len(ref_frames)
        self.n_est += len(est_frames)

    @property
    def precision(self) -> float:
        return self.matched / max(self.n_est, 1)

    @property
    def recall(self) -> float:
        return self.matched / max(self.n_ref, 1)

    @property
    def f1(self) -> float:
        return 2 * self.matched / max(self.n_ref + self.n_est, 1)


def score_events(
    detector: OnsetDetector | None,
    tracks: list[OnsetTrack],
    frame_rate: float,
    thresholds: tuple[float, ...],
) -> dict[float, EventCounts]:
    """Onset counts of the detector's events at each threshold (``detector`` None: the hand-made movement
    events, under the key 0.0) against the tracks' score onsets."""
    out = {t: EventCounts() for t in (thresholds if detector is not None else (0.0,))}
    for tr in tracks:
        ref = note_onsets(tr.notes)
        if detector is None:
            out[0.0].add(ref, movement_events(tr.skeleton, frame_rate), frame_rate)
            continue
        p = detector.probabilities(tr.skeleton)
        gap = max(1, int(round(detector.cfg.min_gap_s * frame_rate)))
        for t in thresholds:
            out[t].add(ref, peaks(p, t, gap), frame_rate)
    return out


@dataclass
class OnsetReport:
    """What ``minet-train onsets`` measured: onset F1 of the events against the scores, per split."""

    steps: int
    threshold: float
    seconds: float
    #: split -> {"detector": {precision, recall, f1}, "movement events": {...}}
    splits: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    val_f1_by_threshold: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [
            f"onset detector: {self.steps} steps in {self.seconds:.0f} s, threshold {self.threshold:g} (val)"
            if self.steps
            else f"onset detector taken from another bundle, threshold {self.threshold:g}"
        ]
        for split, rows in self.splits.items():
            for name, r in rows.items():
                out.append(
                    f"  {split:>5} {name:>16}: onset F1 {r['f1']:.3f} (precision {r['precision']:.3f}, "
                    f"recall {r['recall']:.3f}, {int(r['n_ref'])} score onsets)"
                )
        return out


def _row(c: EventCounts) -> dict[str, float]:
    return {"f1": c.f1, "precision": c.precision, "recall": c.recall, "n_ref": float(c.n_ref)}


def train_onset_detector(
    cfg: OnsetDetectorConfig,
    tracks: list[OnsetTrack],
    frame_rate: float,
    steps: int = 4000,
    batch: int = 32,
    crop_s: float = 4.0,
    lr: float = 2e-3,
    pos_weight: float = 5.0,
    augment: bool = True,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> OnsetDetector:
    """A detector trained on ``tracks`` (see the module docstring); AdamW, warm-up then cosine decay."""
    if not tracks:
        raise ValueError("train_onset_detector: no training tracks with a score")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    det = OnsetDetector(cfg).train()
    opt = torch.optim.AdamW(det.parameters(), lr=lr, weight_decay=1e-2)
    warm = max(1, min(200, steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warm) * 0.5 * (1 + np.cos(np.pi * min(i, steps) / max(steps, 1)))
    )
    aug = SkeletonAugment(frame_rate=frame_rate)
    L = max(8, int(round(crop_s * frame_rate)))
    weight = torch.tensor(pos_weight)
    t0 = time.perf_counter()
    for step in range(steps):
        xs, ys = [], []
        for _ in range(batch):
            tr = tracks[int(rng.integers(len(tracks)))]
            s = int(rng.integers(0, max(1, len(tr.skeleton) - L)))
            k = tr.skeleton[s : s + L]
            if len(k) < L:  # a track shorter than a crop: padded with its last frame
                k = np.concatenate([k, np.repeat(k[-1:], L - len(k), 0)])
            notes = np.pad(tr.notes[s : s + L], (0, L - min(L, len(tr.notes) - s)))
            xs.append(aug(k, rng) if augment else k)
            ys.append(onset_targets(notes))
        x = onset_features(torch.from_numpy(np.stack(xs)))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            det(x), torch.from_numpy(np.stack(ys)), pos_weight=weight
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(det.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 500 == 0 or step == steps - 1:
            log(f"step {step}: loss {loss.item():.4f} ({time.perf_counter() - t0:.0f} s)")
    return det.eval()


def fit_onsets(
    bundle_path: str | PathLike[str],
    cache_dir: str | PathLike[str],
    out: str | PathLike[str] | None = None,
    card: str | None = None,
    steps: int = 4000,
    seed: int = 0,
    hard_cache: str | PathLike[str] | None = None,
    augment: bool = True,
    source: str | PathLike[str] | None = None,
    log: Callable[[str], None] = print,
) -> OnsetReport:
    """Train the onset detector of the MI Net bundle at ``bundle_path`` on ``cache_dir``, choose its threshold on
    the validation split, measure it, and write the bundle with it (``out``, default: rewrite the bundle).

    With ``source`` (another MI Net bundle that has a detector), that detector and its threshold are taken as
    they are instead of training one: a detector reads only the movement, so it stays valid for a bundle whose
    VQ-VAE, decoder or prior was retrained on the same skeletons. It is measured all the same.
    """
    read_typed_config(bundle_path, BundleConfig, ("minet", "minet_midi"), "an MI Net bundle")
    b = load_bundle(bundle_path)
    fr = b.cfg.audio.frame_rate
    base = b.cfg.onsets or OnsetDetectorConfig(n_joints=b.cfg.skeleton.n_joints)
    t0 = time.perf_counter()
    val = load_onset_tracks(cache_dir, "val")
    if not val:
        raise InputError(
            cache_dir, "the cache has no validation tracks with a score to choose the threshold on"
        )
    if source is not None:
        src_cfg, _ = read_typed_config(source, BundleConfig, ("minet", "minet_midi"), "an MI Net bundle")
        if src_cfg.onsets is None:
            raise InputError(
                source, "has no onset detector to take (train one: minet-train onsets without --from)"
            )
        if src_cfg.skeleton != b.cfg.skeleton or src_cfg.audio.frame_rate != fr:
            raise InputError(
                source,
                f"its skeleton or frame rate differs from {Path(bundle_path).name}'s: its detector does not fit",
            )
        det = load_bundle(source).onsets
        assert det is not None
        threshold = det.cfg.threshold
        steps = 0
        log(f"onset detector taken from {source} (threshold {threshold:g})")
    else:
        train = load_onset_tracks(cache_dir, "train")
        log(f"{len(train)} training and {len(val)} validation tracks with a score")
        det = train_onset_detector(base, train, fr, steps=steps, augment=augment, seed=seed, log=log)
        on_val = score_events(det, val, fr, THRESHOLDS)
        threshold = max(THRESHOLDS, key=lambda t: on_val[t].f1)
        det.cfg = dataclasses.replace(base, threshold=threshold)
    report = OnsetReport(
        steps=steps,
        threshold=threshold,
        seconds=time.perf_counter() - t0,
        val_f1_by_threshold={} if source is not None else {f"{t:g}": c.f1 for t, c in on_val.items()},
    )
    sets = [("val", val), ("test", load_onset_tracks(cache_dir, "test"))]
    if hard_cache is not None:
        sets.append(("hard", load_onset_tracks(hard_cache, "all")))
    for name, tracks in sets:
        if not tracks:
            continue
        report.splits[name] = {
            "detector": _row(score_events(det, tracks, fr, (threshold,))[threshold]),
            "movement events": _row(score_events(None, tracks, fr, ())[0.0]),
        }
    for line in report.lines():
        log(line)
    target = Path(out) if out is not None else Path(bundle_path)
    save_bundle(
        target,
        dataclasses.replace(b.cfg, onsets=det.cfg),
        b.vqvae,
        b.movement,
        b.prior,
        b.model_card if card is None else card,
        instruments=b.instruments,
        onsets=det,
    )
    log(f"onset detector written to {target}")
    return report


def report_json(report: OnsetReport) -> dict[str, Any]:
    return dataclasses.asdict(report)
