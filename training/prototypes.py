"""``minet-train prototypes``: write per-instrument prototypes of the movement vector into an MI Net bundle.

This is the one step of the instrument detection and override that uses labels: the cache's instrument of
every training track. The bundle's own movement encoder embeds every window of every track (the windows the
engine's :func:`~minet_desktop.engine.instruments.detect` uses); then

* **train split**: the prototypes (the instruments' mean movement vectors), the pooled within-instrument
  covariance (shrunk towards its mean variance) whose inverse square root whitens h, and the prototypes of
  the per-frame motion features when the prior takes them;
* **validation split**: the softmax temperature that makes the probabilities of ``excerpt_s`` excerpts
  calibrated (lowest negative log-likelihood on a grid), and the thresholds for "uncertain": a distance
  margin over the largest validation distance and a movement far below the stillest validation excerpt's;
* **test split**: top-1 accuracy over whole performances and over excerpts, and the expected calibration
  error, reported and returned (nothing is fitted on it).

Inference needs no label: the prototypes are a few numbers per instrument inside the bundle.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch

from minet_desktop.core.errors import InputError
from minet_desktop.engine.instruments import movement_extent, movement_windows
from minet_desktop.engine.motion import window_frames
from minet_desktop.model.bundle import load_bundle, save_bundle
from minet_desktop.model.config import InstrumentPrototypesConfig
from minet_desktop.model.instruments import InstrumentPrototypes
from training.cache import load_manifest, manifest_config

#: Shrinkage of the within-instrument covariance towards its mean variance (a few thousand windows, 64 dims).
SHRINKAGE = 0.05
#: Distances this many times the largest validation excerpt's are "like none of the instruments".
DISTANCE_MARGIN = 1.5
#: Movement below this share of the stillest validation excerpt's is "hardly moves" (the synthetic wind
#: players move little: 0.026 shoulder widths at the least, where 1 px of tracker jitter on a still pose is 0.01).
MOTION_MARGIN = 0.5
#: Inverse regularisation of the "linear" classifier (a logistic regression on whitened movement windows).
#: Chosen on the validation split's 10-s excerpts (shipped MI Net, 2026-12-05): C 0.01 / 0.03 / 0.1 / 0.3 ->
#: 90.9 / 92.7 / 92.7 / 92.7 % top-1, the prototypes 89.1 %; the smallest of the best.
LINEAR_C = 0.03


@dataclass
class _Track:
    instrument: str
    split: str
    h: np.ndarray  # (N, H) window movement vectors
    motion: np.ndarray  # (N, H) window mean per-frame features
    extents: list[float]  # movement extent of each excerpt


@dataclass
class PrototypeReport:
    """What ``minet-train prototypes`` measured (fractions in 0..1)."""

    codes: tuple[str, ...]
    windows: dict[str, int]
    temperature: float
    max_distance: float
    min_motion: float
    test_track_accuracy: float
    test_excerpt_accuracy: float
    test_excerpts: int
    test_tracks: int
    test_ece: float
    val_excerpt_accuracy: float
    test_per_instrument: dict[str, float] = field(default_factory=dict)
    test_confusions: list[tuple[str, str, str]] = field(default_factory=list)  # (track, true, detected)
    classifier: str = "prototypes"

    def lines(self) -> list[str]:
        out = [
            f"windows: {', '.join(f'{k} {v}' for k, v in self.windows.items())}",
            f"classifier: {self.classifier}; temperature {self.temperature:.3f}, uncertain beyond distance "
            f"{self.max_distance:.2f} "
            f"or below movement {self.min_motion:.3f}",
            f"validation excerpts top-1 {100 * self.val_excerpt_accuracy:.1f} %",
            f"test performances top-1 {100 * self.test_track_accuracy:.1f} % ({self.test_tracks}), "
            f"excerpts top-1 {100 * self.test_excerpt_accuracy:.1f} % ({self.test_excerpts}), "
            f"ECE {100 * self.test_ece:.1f} %",
            "test per instrument: "
            + ", ".join(f"{k} {100 * v:.0f} %" for k, v in self.test_per_instrument.items()),
        ]
        out += [f"  missed: {t} ({y} -> {p})" for t, y, p in self.test_confusions]
        return out


def _excerpts(n_windows: int, per_excerpt: int) -> list[slice]:
    if n_windows <= per_excerpt:
        return [slice(0, n_windows)]
    return [slice(s, s + per_excerpt) for s in range(0, n_windows - per_excerpt + 1, per_excerpt)]


def _inverse_sqrt(cov: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(cov)
    return (vecs / np.sqrt(np.maximum(vals, 1e-12))) @ vecs.T


def _ece(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    err = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            err += m.mean() * abs(float((pred[m] == labels[m]).mean()) - float(conf[m].mean()))
    return float(err)


@torch.inference_mode()
def compute_prototypes(
    bundle_path: str | PathLike[str],
    cache_dir: str | PathLike[str],
    out: str | PathLike[str] | None = None,
    card: str | None = None,
    excerpt_s: float = 10.0,
    log: Callable[[str], None] = print,
    contrast: float | None = None,
    auto_steer: float | None = None,
    auto_contrast: float | None = None,
    classifier: str | None = None,
    linear_c: float = LINEAR_C,
) -> PrototypeReport:
    """Fit the prototypes on ``cache_dir``'s splits and write the bundle with them to ``out`` (default: in
    place); ``card`` replaces the model card; ``contrast`` sets the override's (default: the bundle's, 0 for a
    bundle without prototypes); ``auto_steer`` / ``auto_contrast`` how far Auto steers toward the detected
    instrument (default: the bundle's, 0 for a bundle without prototypes); ``classifier`` how windows are
    scored ("prototypes" or "linear", a logistic regression with inverse regularisation ``linear_c``; default:
    the bundle's, "prototypes" for a bundle without them). Returns what was measured."""
    bundle_path = Path(bundle_path)
    b = load_bundle(bundle_path)
    cfg = b.cfg
    manifest = load_manifest(cache_dir)
    cache_cfg = manifest_config(manifest)
    if abs(cache_cfg.audio.frame_rate - cfg.audio.frame_rate) > 1e-6:
        raise InputError(
            cache_dir,
            f"the cache's frame rate ({cache_cfg.audio.frame_rate:g}/s) is not the model's "
            f"({cfg.audio.frame_rate:g}/s)",
        )
    window = window_frames(cfg.prior.block_size, cfg.frames_per_code)
    per_excerpt = max(1, int(round(excerpt_s * cfg.audio.frame_rate / window)))
    codes = tuple(c for c in manifest["instruments"])
    tracks: dict[str, _Track] = {}
    for tid, e in sorted(manifest["tracks"].items()):
        skel = np.load(Path(cache_dir) / e["dir"] / "skeleton.npy", mmap_mode="r")
        frames = np.asarray(skel, np.float32)
        h, motion = movement_windows(b.movement, frames, window)
        extents = [
            movement_extent(frames[sl.start * window : sl.stop * window], window)
            for sl in _excerpts(h.shape[0], per_excerpt)
        ]
        tracks[tid] = _Track(e["instrument"], e["split"], h.numpy(), motion.numpy(), extents)
    codes = tuple(c for c in codes if any(t.instrument == c and t.split == "train" for t in tracks.values()))
    H = cfg.movement.out_features
    K = len(codes)

    def split_windows(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = [t for t in tracks.values() if t.split == split and t.instrument in codes]
        h = np.concatenate([t.h for t in rows])
        m = np.concatenate([t.motion for t in rows])
        y = np.concatenate([np.full(len(t.h), codes.index(t.instrument)) for t in rows])
        return h.astype(np.float64), m.astype(np.float64), y

    h_tr, m_tr, y_tr = split_windows("train")
    mu = np.stack([h_tr[y_tr == k].mean(0) for k in range(K)])
    resid = h_tr - mu[y_tr]
    cov = resid.T @ resid / max(1, len(h_tr) - K)
    cov = (1 - SHRINKAGE) * cov + SHRINKAGE * np.trace(cov) / H * np.eye(H)
    whiten = _inverse_sqrt(cov)
    motion_mu = np.stack([m_tr[y_tr == k].mean(0) for k in range(K)])

    per_frame = cfg.prior.per_frame_motion
    # Fitted again on a bundle that has prototypes for the same instruments: the override's settings stay.
    old = b.instruments if b.instruments is not None and b.instruments.codes == codes else None
    base = InstrumentPrototypesConfig(
        codes=codes,
        motion=per_frame,
        strength=old.cfg.strength if old else 1.0,
        contrast=contrast if contrast is not None else old.cfg.contrast if old else 0.0,
        auto_steer=auto_steer if auto_steer is not None else old.cfg.auto_steer if old else 0.0,
        auto_contrast=auto_contrast if auto_contrast is not None else old.cfg.auto_contrast if old else 0.0,
        classifier=classifier if classifier is not None else old.cfg.classifier if old else "prototypes",
    )
    protos = InstrumentPrototypes(base, H)
    protos.prototypes.copy_(torch.from_numpy(mu).float())
    protos.whiten.copy_(torch.from_numpy(whiten).float())
    if per_frame:
        protos.motion_prototypes.copy_(torch.from_numpy(motion_mu).float())
    if base.classifier == "linear":
        from sklearn.linear_model import LogisticRegression

        z = h_tr @ whiten.T
        lr = LogisticRegression(C=linear_c, max_iter=3000).fit(z, y_tr)
        assert list(lr.classes_) == list(range(K))  # every instrument has training windows (codes above)
        protos.linear_weight.copy_(torch.from_numpy(lr.coef_).float())
        protos.linear_bias.copy_(torch.from_numpy(lr.intercept_).float())

    def excerpt_stats(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[float]]:
        """Mean window scores (E, K), labels (E,), distances (E,) and movement extents of ``split``'s excerpts."""
        scores, labels, dists, extents = [], [], [], []
        for t in tracks.values():
            if t.split != split or t.instrument not in codes:
                continue
            for sl, extent in zip(_excerpts(len(t.h), per_excerpt), t.extents, strict=True):
                h = torch.from_numpy(t.h[sl])
                scores.append(protos.scores(h).mean(0).numpy())
                dists.append(protos.distance(h))
                labels.append(codes.index(t.instrument))
                extents.append(extent)
        return np.stack(scores), np.array(labels), np.array(dists), extents

    def softmax(s: np.ndarray, temp: float) -> np.ndarray:
        z = s / temp
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    s_val, y_val, d_val, v_val = excerpt_stats("val")
    grid = np.exp(np.linspace(math.log(0.05), math.log(200.0), 200))
    nll = [float(-np.log(softmax(s_val, t)[np.arange(len(y_val)), y_val] + 1e-12).mean()) for t in grid]
    temperature = float(grid[int(np.argmin(nll))])
    max_distance = float(DISTANCE_MARGIN * d_val.max())
    min_motion = float(MOTION_MARGIN * min(v_val))
    final = dataclasses.replace(
        base, temperature=temperature, max_distance=max_distance, min_motion=min_motion
    )
    protos.cfg = final

    s_te, y_te, _, _ = excerpt_stats("test")
    p_te = softmax(s_te, temperature)
    track_hits, per_inst, confusions = [], {c: [] for c in codes}, []  # type: ignore[var-annotated]
    for tid, t in tracks.items():
        if t.split != "test" or t.instrument not in codes:
            continue
        pred = codes[int(protos.probabilities(torch.from_numpy(t.h)).argmax())]
        hit = pred == t.instrument
        track_hits.append(hit)
        per_inst[t.instrument].append(hit)
        if not hit:
            confusions.append((tid, t.instrument, pred))
    report = PrototypeReport(
        codes=codes,
        windows={s: sum(len(t.h) for t in tracks.values() if t.split == s) for s in ("train", "val", "test")},
        temperature=temperature,
        max_distance=max_distance,
        min_motion=min_motion,
        test_track_accuracy=float(np.mean(track_hits)),
        test_excerpt_accuracy=float((p_te.argmax(1) == y_te).mean()),
        test_excerpts=len(y_te),
        test_tracks=len(track_hits),
        test_ece=_ece(p_te, y_te),
        val_excerpt_accuracy=float((softmax(s_val, temperature).argmax(1) == y_val).mean()),
        test_per_instrument={c: float(np.mean(v)) for c, v in per_inst.items() if v},
        test_confusions=confusions,
        classifier=final.classifier,
    )
    for line in report.lines():
        log(line)
    new_cfg = dataclasses.replace(cfg, instruments=final)
    target = Path(out) if out is not None else bundle_path
    save_bundle(
        target,
        new_cfg,
        b.vqvae,
        b.movement,
        b.prior,
        b.model_card if card is None else card,
        instruments=protos,
        onsets=b.onsets,
    )
    log(f"instrument prototypes written to {target}")
    return report


def report_json(report: PrototypeReport) -> dict[str, Any]:
    return dataclasses.asdict(report)
