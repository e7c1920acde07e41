"""Does multi-view self-supervision make the movement embedding recognise instruments from unseen views?

Trains MI Net's movement encoder alone (the shipped architecture: 3-layer bi-GRU, hidden 32) with a
contrastive loss (InfoNCE) whose positives are two crops of one performance seen by two cameras and trackers
(``minet-train views``), and measures the 1-NN accuracy of the embedding the evaluation measures (4-s crops,
cosine, the training split's view-0 crops as neighbours) on the validation and test splits and the hard views,
beside the shipped MI Net's encoder. No instrument label is used in training.

    python scripts/multiview_study.py --cache runs/default/cache --hard runs/default/hard_cache \
        [--steps 1500] [--views 4] [--same-time] [--bundle resources/models/minet.safetensors]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from minet_desktop.model.config import MovementEncoderConfig
from minet_desktop.model.movement import MovementEncoder
from training.evaluate.run import knn_rows, movement_embedder
from training.train.augment import SkeletonAugment


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--hard", type=Path)
    ap.add_argument("--bundle", type=Path, help="also measure this MI Net's encoder")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=64, help="performances per batch")
    ap.add_argument("--views", type=int, default=4, help="views used (1: the cache's own, augmentation only)")
    ap.add_argument("--same-time", action="store_true", help="positives at the same moment (else any moment)")
    ap.add_argument("--crop", type=float, default=2.0)
    ap.add_argument("--temperature", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--save", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    if args.bundle:
        emb = movement_embedder(args.bundle)
        print(
            "shipped encoder", {k: round(100 * v, 1) for k, v in knn_rows(emb, args.cache, args.hard).items()}
        )
    index = json.loads((args.cache / "views.json").read_text())
    arrays = [np.load(args.cache / v["file"], mmap_mode="r") for v in index["tracks"].values()]
    man = json.loads((args.cache / "manifest.json").read_text())["tracks"]
    ids = list(index["tracks"])
    keep = [i for i, t in enumerate(ids) if man[t]["split"] == "train"]
    arrays = [arrays[i] for i in keep]
    print(f"{len(arrays)} training performances, {arrays[0].shape[0]} views each (using {args.views})")
    aug = SkeletonAugment()
    n = int(round(args.crop * 62.5))
    enc = MovementEncoder(MovementEncoderConfig(hidden_size=32, n_layers=3))
    proj = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64))
    params = list(enc.parameters()) + list(proj.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=args.steps, pct_start=0.05)

    def crop(a: np.ndarray, v: int, s: int) -> np.ndarray:
        return aug(np.asarray(a[v, s : s + n], np.float32), rng)

    def embed(x: torch.Tensor) -> torch.Tensor:
        return enc(x)[0]

    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        idx = rng.choice(len(arrays), size=min(args.batch, len(arrays)), replace=False)
        xa, xb = [], []
        for i in idx:
            a = arrays[i]
            T = a.shape[1]
            va, vb = rng.choice(args.views, size=2, replace=args.views < 2)
            s1 = int(rng.integers(0, max(1, T - n)))
            s2 = s1 if args.same_time else int(rng.integers(0, max(1, T - n)))
            xa.append(crop(a, va, s1))
            xb.append(crop(a, vb, s2))
        x = torch.from_numpy(np.stack(xa + xb).transpose(0, 2, 3, 1).copy())
        z = F.normalize(proj(enc(x)[0]), dim=-1)
        B = len(idx)
        logits = z[:B] @ z[B:].T / args.temperature
        target = torch.arange(B)
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            enc.eval()
            r = knn_rows(embed, args.cache, args.hard)
            enc.train()
            print(f"step {step} 1-NN %", {k: round(100 * v, 1) for k, v in r.items()}, flush=True)
    if args.save:
        torch.save(enc.state_dict(), args.save)


if __name__ == "__main__":
    main()
