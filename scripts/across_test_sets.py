#!/usr/bin/env python
"""How a bundle's movement reading holds up across synthetic test sets (issue 15/16 tables in the model cards).

For every bundle and every query set it prints

* **1-NN**: 1-nearest-neighbour (cosine) accuracy of the movement embedding of 4-s skeleton crops, neighbours
  from ``--train-cache``'s training split (4 crops per track), as ``minet-train evaluate`` computes it;
* **detection**: top-1 accuracy of the bundle's own instrument prototypes (``minet-desktop detect``) over whole
  performances, and how often the instrument played is first or second in the list the app shows;
* with ``--per-instrument``, detection per instrument and per way of holding it, and what it was read as instead.

Query sets: ``--test CACHE`` uses a cache's test split (a corpus of the same pieces performed by another
simulator, for example the previous release's), ``--all CACHE`` every track (the hard-views benchmark)::

    python scripts/across_test_sets.py --train-cache runs/default/cache \\
        --test runs/default/cache --test runs/narrow/cache --all runs/default/hard_cache \\
        resources/models/minet.safetensors resources/models/minet_midi.safetensors
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CROP_SECONDS = 4.0
TRAIN_CROPS = 4


def _entries(cache: Path, split: str | None) -> list[dict]:
    manifest = json.loads((cache / "manifest.json").read_text(encoding="utf-8"))
    return [e for _, e in sorted(manifest["tracks"].items()) if split is None or e["split"] == split]


def _hold(entry: dict, corpora: dict[Path, dict]) -> str:
    """How the simulated player held the instrument (``training.synth.variety.HOLDS``), from the corpus' synth.json."""
    folder = Path(entry["sources"][0]["path"]).parent
    if folder.parent not in corpora:
        f = folder.parent / "synth.json"
        corpora[folder.parent] = json.loads(f.read_text(encoding="utf-8")) if f.exists() else {"pieces": []}
    player = int(entry["id"].rsplit("/", 1)[1].split("_")[0])
    for piece in corpora[folder.parent]["pieces"]:
        if piece["folder"] == folder.name:
            for p in piece["players"]:
                if p["player"] == player:
                    return p.get("view", {}).get("hold") or ""
    return ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundles", nargs="+", metavar="BUNDLE")
    ap.add_argument("--train-cache", required=True, type=Path, help="the 1-NN neighbours: its training split")
    ap.add_argument("--test", action="append", default=[], type=Path, metavar="CACHE", help="its test split")
    ap.add_argument("--all", action="append", default=[], type=Path, metavar="CACHE", help="all its tracks")
    ap.add_argument(
        "--per-instrument",
        action="store_true",
        help="also detection per instrument and per way of holding it (the simulated corpus' synth.json), with "
        "what it was read as",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)

    from minet_desktop.engine.instruments import detect
    from minet_desktop.model.bundle import load_bundle
    from training.evaluate import metrics as M
    from training.evaluate.run import embed_crops, movement_embedder

    queries = [(c, "test") for c in args.test] + [(c, None) for c in args.all]
    for path in args.bundles:
        b = load_bundle(path)
        embed = movement_embedder(Path(path))
        n = int(round(CROP_SECONDS * b.cfg.audio.frame_rate))
        tr_x, tr_y = embed_crops(embed, args.train_cache, _entries(args.train_cache, "train"), TRAIN_CROPS, n)
        for cache, split in queries:
            entries = _entries(cache, split)
            q_x, q_y = embed_crops(embed, cache, entries, None, n)
            knn = M.knn_accuracy(tr_x, np.array(tr_y), q_x, np.array(q_y)).accuracy
            hits, top2 = [], []
            read_as: dict[str, list[str]] = {}
            corpora: dict[Path, dict] = {}
            if b.instruments is not None:
                for e in entries:
                    frames = np.asarray(np.load(cache / e["dir"] / "skeleton.npy", mmap_mode="r"), np.float32)
                    d = detect(
                        b.movement, b.instruments, frames, b.cfg.prior.block_size, b.cfg.frames_per_code
                    )
                    hits.append(bool(d.probabilities) and d.probabilities[0][0] == e["instrument"])
                    top2.append(e["instrument"] in [c for c, _ in d.probabilities[:2]])
                    got = d.probabilities[0][0] if d.probabilities else "-"
                    read_as.setdefault(e["instrument"], []).append(got)
                    if args.per_instrument and (hold := _hold(e, corpora)):
                        read_as.setdefault(f"{e['instrument']} ({hold})", []).append(
                            e["instrument"] if got == e["instrument"] else got
                        )
            det = (
                f"{100 * np.mean(hits):.1f} % (first or second: {100 * np.mean(top2):.1f} %)" if hits else "-"
            )
            print(
                f"{Path(path).name} on {cache} ({split or 'all'}, {len(entries)} performances): "
                f"1-NN {100 * knn:.1f} %, detection {det}"
            )
            if args.per_instrument:
                for key, got in sorted(read_as.items()):
                    inst = key.split(" ")[0]
                    wrong = [g for g in got if g != inst]
                    print(
                        f"  {key}: {len(got) - len(wrong)}/{len(got)}"
                        + (f"  (read as {', '.join(sorted(wrong))})" if wrong else "")
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
