"""Is instrument detection limited by the movement embedding, or by what the skeletons show? (issue 16)

Detection names the instrument from MI Net's movement vector h against per-instrument prototypes (81.8 % of this
release's synthetic test performances). This study trains a classifier on the skeletons themselves, with the
instrument labels: a frame embedding, a 2-layer bidirectional GRU (96 units) mean- and max-pooled over 2-s windows
(128 frames at the spectrogram rate), cross-entropy with label smoothing, with or without the skeleton augmentation
every skeleton model trains with. A performance is named by the mean of its windows' log-probabilities.

    python scripts/skeleton_classifier_study.py --cache runs/default/cache --hard runs/default/hard_cache [--no-augment]

Measured (2026-12-05, 3000 steps of 32 windows, one thread, about 15 min each): with augmentation test 79.5 %
(44 performances), validation 88.5 %, hard views 61.8 %; without it test 81.8 %, validation 84.6 %, hard views 52.9 %.
The misses are the prototypes' own: violin and viola, oboe and clarinet, double bass and cello, saxophone and
clarinet. Nothing here is shipped.

Its ceiling on the hard views (2026-12-05): trained on a 180-minute hard-views corpus itself (`minet-train synth
--views hard --seed 777`, apart from both hard sets) and scored on a second, 94-performance hard set (seed 5151):
74.5 % (3000 steps, --no-augment; its own test split 76.2 %), 69.1 % with augmentation and 6000 steps (76.2 %);
with --knn, the 1-NN of its pooled features over the hard set's 1411 windows is 72.6 % (3000 steps, --no-augment).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from training.cache import load_manifest
from training.train.augment import SkeletonAugment


def _load(cache: str) -> tuple[list[str], list[tuple[str, str, str, np.ndarray]]]:
    m = load_manifest(cache)
    tracks = [
        (
            tid,
            e["instrument"],
            e["split"],
            np.asarray(np.load(f"{cache}/{e['dir']}/skeleton.npy"), np.float32),
        )
        for tid, e in sorted(m["tracks"].items())
    ]
    return list(m["instruments"]), tracks


class Net(nn.Module):
    def __init__(self, n_classes: int, hidden: int) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.Linear(3 * 47, 128), nn.GELU())
        self.gru = nn.GRU(128, hidden, num_layers=2, batch_first=True, bidirectional=True, dropout=0.1)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(4 * hidden, n_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, 3, 47) -> (B, 4 * hidden)
        B, T = x.shape[:2]
        f, _ = self.gru(self.inp(x.reshape(B, T, -1)))
        return torch.cat([f.mean(1), f.amax(1)], -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", required=True)
    ap.add_argument("--hard", default=None, help="a hard-views cache, measured too")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--window", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=96)
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--knn",
        action="store_true",
        help="also 1-NN (cosine) of the pooled features: each window of the hard views against 4 windows of "
        "every training track, as minet-train evaluate scores a movement embedding",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    codes, tracks = _load(args.cache)
    train = [t for t in tracks if t[2] == "train"]
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    aug = None if args.no_augment else SkeletonAugment()
    net = Net(len(codes), args.hidden)
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=args.steps, pct_start=0.1)
    lengths = np.array([len(t[3]) for t in train], float)
    win = args.window

    def crop(k: np.ndarray) -> np.ndarray:
        if len(k) <= win:
            return np.concatenate([k, np.repeat(k[-1:], win - len(k), 0)])
        s = int(rng.integers(0, len(k) - win + 1))
        return k[s : s + win]

    t0, run = time.time(), None
    for step in range(1, args.steps + 1):
        idx = rng.choice(len(train), 32, p=lengths / lengths.sum())
        x = np.stack([aug(crop(train[i][3]), rng) if aug else crop(train[i][3]) for i in idx])
        y = torch.tensor([codes.index(train[i][1]) for i in idx])
        loss = nn.functional.cross_entropy(net(torch.from_numpy(x)), y, label_smoothing=0.05)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run = float(loss.detach()) if run is None else 0.98 * run + 0.02 * float(loss.detach())
        if step % 250 == 0:
            print(f"step {step} loss {run:.3f} ({time.time() - t0:.0f} s)", flush=True)
    net.eval()

    def score(ts: list[tuple[str, str, str, np.ndarray]], name: str) -> None:
        hits, missed = [], []
        with torch.no_grad():
            for _, inst, _, k in ts:
                n = max(1, len(k) // win)
                x = np.stack([k[i * win : (i + 1) * win] if len(k) >= win else crop(k) for i in range(n)])
                pred = codes[int(torch.log_softmax(net(torch.from_numpy(x)), -1).mean(0).argmax())]
                hits.append(pred == inst)
                if pred != inst:
                    missed.append(f"{inst}->{pred}")
        print(f"{name}: {100 * np.mean(hits):.1f} % of {len(hits)} performances; missed {missed}", flush=True)

    score([t for t in tracks if t[2] == "val"], "validation")
    score([t for t in tracks if t[2] == "test"], "test")
    if args.hard:
        score(_load(args.hard)[1], "hard views")
    if args.hard and args.knn:

        def windows(k: np.ndarray, n: int | None) -> np.ndarray:
            if n is not None:
                return np.stack([crop(k) for _ in range(n)])
            m = max(1, len(k) // win)
            return np.stack([k[i * win : (i + 1) * win] if len(k) >= win else crop(k) for i in range(m)])

        def embed(
            ts: list[tuple[str, str, str, np.ndarray]], n: int | None
        ) -> tuple[torch.Tensor, list[str]]:
            feats, labels = [], []
            with torch.no_grad():
                for _, inst, _, k in ts:
                    e = net.embed(torch.from_numpy(windows(k, n)))
                    feats.append(nn.functional.normalize(e, dim=-1))
                    labels += [inst] * len(e)
            return torch.cat(feats), labels

        ref, ref_y = embed(train, 4)
        query, query_y = embed(_load(args.hard)[1], None)
        nearest = (query @ ref.T).argmax(1).tolist()
        knn = np.mean([ref_y[j] == y for j, y in zip(nearest, query_y, strict=True)])
        print(
            f"hard views, 1-NN of the pooled features ({len(query_y)} windows): {100 * knn:.1f} %", flush=True
        )


if __name__ == "__main__":
    main()
