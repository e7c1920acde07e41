"""Does detection say *uncertain* for people who are not playing, and only for them? (``minet-train
playing-check``)

Runs the app's own detection (:meth:`minet_desktop.engine.session.Session.detect`, the path ``minet-desktop
detect`` and the app's "Sounds like" take) on:

* people who are not playing (:mod:`training.synth.activities`), drawn from a seed no training run uses,
  filmed by cameras and trackers of the standard ranges: the share reported as uncertain, per activity, and for
  the kinds no training uses (``UNSEEN_ACTIVITIES``: conducting);
* performances of a cache's split (their keypoint files) and of a hard-views cache: the share reported as
  uncertain, and the share named correctly.

With and without the performance detector, so the table shows what it changes. Everything here is
synthetic: simulated people, simulated trackers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

#: The activities' seed here (training uses its ``seed`` and ``seed + 1000``).
CHECK_SEED = 424242


def _performance_files(cache: Path, splits: Sequence[str] | None) -> list[tuple[str, Path]]:
    from training.cache import load_manifest

    out = []
    for e in load_manifest(cache)["tracks"].values():
        if splits is not None and e.get("split") not in splits:
            continue
        kp = next(
            (Path(s["path"]) for s in e.get("sources", []) if Path(s["path"]).name.startswith("Kp_")), None
        )
        if kp is not None and kp.is_file():
            out.append((str(e["instrument"]), kp))
    return out


def activity_keypoints(n: int, seconds: float = 12.0, seed: int = CHECK_SEED) -> dict[str, list[Any]]:
    """``n`` :class:`KeypointFile` per activity, the unseen ones included (in memory, named after the activity)."""
    from minet_desktop.pose.keypoint_file import KeypointFile
    from training.synth.activities import ACTIVITIES, UNSEEN_ACTIVITIES, act
    from training.synth.motion import FRAME_SIZE

    out: dict[str, list[Any]] = {}
    for a, kind in enumerate(ACTIVITIES + UNSEEN_ACTIVITIES):
        files = []
        for i in range(n):
            rng = np.random.default_rng(np.random.SeedSequence([seed, a, i]))
            _, perf, kp = act(kind, seconds, rng)
            detected = float((kp[:, 2] > 0).any(axis=1).mean())
            files.append(KeypointFile(kp, perf.fps, FRAME_SIZE, "", f"{kind}-{i}", detected))
        out[kind] = files
    return out


def check(
    bundle: str | PathLike[str],
    detector: str | PathLike[str] | None,
    cache: str | PathLike[str] | None = None,
    hard_cache: str | PathLike[str] | None = None,
    n: int = 20,
    split: str = "test",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The shares described in the module docstring, for ``bundle`` with ``detector`` (None: without)."""
    from minet_desktop.engine.session import Session
    from minet_desktop.pose.keypoint_file import KeypointFile

    session = Session(bundle, device="cpu", performance_detector=detector)
    out: dict[str, Any] = {
        "bundle": Path(bundle).name,
        "detector": None if detector is None else str(detector),
    }
    per: dict[str, float] = {}
    for kind, files in activity_keypoints(n).items():
        per[kind] = float(np.mean([session.detect(f).uncertain for f in files]))
        log(f"  {kind}: {100 * per[kind]:.0f} % uncertain")
    from training.synth.activities import ACTIVITIES, UNSEEN_ACTIVITIES

    out["not_playing_uncertain"] = per
    out["not_playing_mean"] = float(np.mean([per[k] for k in ACTIVITIES]))
    out["unseen_mean"] = float(np.mean([per[k] for k in UNSEEN_ACTIVITIES]))
    for name, path, splits in (("standard", cache, (split,)), ("hard", hard_cache, None)):
        if path is None:
            continue
        rows = []
        for inst, kp in _performance_files(Path(path), splits):
            det = session.detect(KeypointFile.load(kp))
            best = det.best[0] if det.best else None
            rows.append((det.uncertain, best == inst))
        out[f"{name}_performances"] = len(rows)
        out[f"{name}_uncertain"] = float(np.mean([u for u, _ in rows]))
        out[f"{name}_named"] = float(np.mean([ok and not u for u, ok in rows]))
        out[f"{name}_top1"] = float(np.mean([ok for _, ok in rows]))
        log(f"  {name}: {len(rows)} performances, {100 * out[f'{name}_uncertain']:.0f} % uncertain")
    return out


def format_rows(results: Sequence[dict[str, Any]]) -> str:
    """A markdown table: one column per result."""
    head = (
        "| | "
        + " | ".join(
            ("with the performance detector" if r["detector"] else "prototypes only") for r in results
        )
        + " |"
    )
    lines = [head, "| --- |" + " ---: |" * len(results)]
    from training.synth.activities import UNSEEN_ACTIVITIES

    kinds = list(results[0]["not_playing_uncertain"])
    for k in kinds:
        never = " (in no training)" if k in UNSEEN_ACTIVITIES else ""
        lines.append(f"| not playing: {k}{never}, uncertain | " + " | ".join(
            f"{100 * r['not_playing_uncertain'][k]:.0f} %" for r in results) + " |")  # fmt: skip
    lines.append("| **not playing, the training's ten kinds, uncertain** | " + " | ".join(
        f"**{100 * r['not_playing_mean']:.1f} %**" for r in results) + " |")  # fmt: skip
    for name in ("standard", "hard"):
        if f"{name}_performances" not in results[0]:
            continue
        label = "test split" if name == "standard" else "hard views"
        n = results[0][f"{name}_performances"]
        lines.append(f"| performances, {label} ({n}): uncertain | " + " | ".join(
            f"{100 * r[f'{name}_uncertain']:.0f} %" for r in results) + " |")  # fmt: skip
        lines.append(f"| performances, {label}: named, correctly | " + " | ".join(
            f"{100 * r[f'{name}_named']:.0f} %" for r in results) + " |")  # fmt: skip
    return "\n".join(lines)


def write(results: Sequence[dict[str, Any]], out: str | PathLike[str]) -> None:
    from minet_desktop.core.atomic import atomic_write_text

    atomic_write_text(Path(out), json.dumps(list(results), indent=1) + "\n")
