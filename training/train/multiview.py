"""Multi-view pretraining of MI Net's movement encoder (``minet-train movement``), without labels.

Each step takes ``batch`` training performances; for each, two skeleton crops of the same performance at two
random moments, seen by two different cameras and trackers (the views ``minet-train views`` wrote beside the
cache), each through the training :class:`~training.train.augment.SkeletonAugment`. The encoder's movement
vectors go through a small projection head, and an InfoNCE loss (temperature ``temperature``) makes each
crop's nearest vector among the batch its partner. What two crops of one performance share across cameras
is the player, how they hold and play the instrument, and the piece's pace: the encoder learns to describe
that, and to ignore where the camera stood. No instrument label is read.

The result, ``movement.safetensors`` (the encoder's ``movement.*`` tensors; the config and the settings in
its metadata), starts the prior's encoder (``minet-train prior --init-movement``), which the prior then
trains on as before. Checkpoints every ``ckpt_every`` steps (tensors only, read back with
``weights_only=True``); a run resumes from the last readable one.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from minet_desktop.core.atomic import atomic_path
from minet_desktop.core.errors import InputError
from minet_desktop.model.config import MovementEncoderConfig
from minet_desktop.model.movement import MovementEncoder

OUT_NAME = "movement.safetensors"
CKPT_NAME = "last.pt"


@dataclass(frozen=True)
class MultiviewConfig:
    steps: int = 1500
    batch: int = 64
    crop_seconds: float = 2.0
    temperature: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 0.01
    seed: int = 0
    #: Positives at the same moment of the two views (else two independent moments).
    same_time: bool = False
    #: Views used per performance (the first ``views``; 1: the cache's own skeleton, augmentation only).
    views: int = 0  # 0: all there are
    ckpt_every: int = 250


def learning_rate(cfg: MultiviewConfig, step: int) -> float:
    """One cycle: up from ``lr / 25`` over the first 5 % of the steps, then a cosine down to zero at the last."""
    warm = max(1, int(0.05 * cfg.steps))
    if step <= warm:
        return cfg.lr * (1 / 25 + (1 - 1 / 25) * step / warm)
    t = min(1.0, (step - warm) / max(1, cfg.steps - warm))
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))


def info_nce(z_a: Tensor, z_b: Tensor, temperature: float) -> Tensor:
    """Symmetric InfoNCE between row-paired ``(B, D)`` vectors: row ``i`` of each is the other's positive."""
    a, b = F.normalize(z_a, dim=-1), F.normalize(z_b, dim=-1)
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def projection_head(features: int) -> nn.Module:
    """The contrastive loss' head (not part of any bundle): the movement vector -> a 64-d vector."""
    return nn.Sequential(nn.Linear(features, 128), nn.ReLU(), nn.Linear(128, 64))


def load_views(cache: Path, split: str = "train") -> tuple[list[str], list[np.ndarray]]:
    """Track ids and ``(V, T, 3, 47)`` float16 views (memory-mapped) of ``split``, from ``views.json``."""
    from training.cache import load_manifest
    from training.synth.views import VIEWS_INDEX

    path = cache / VIEWS_INDEX
    if not path.is_file():
        raise InputError(path, "not found: write the views first (minet-train views CORPUS --cache CACHE)")
    try:
        index = json.loads(path.read_text())
        tracks = index["tracks"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"not a views index ({exc})") from None
    man = load_manifest(cache)["tracks"]
    ids = sorted(t for t in tracks if t in man and man[t].get("split") == split)
    if not ids:
        raise InputError(path, f"no views of the {split!r} split")
    arrays = []
    for t in ids:
        f = cache / tracks[t]["file"]
        try:
            a = np.load(f, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f, f"unreadable views file ({exc})") from None
        if a.ndim != 4 or a.shape[2:] != (3, 47) or a.shape[1] != int(man[t]["n_frames"]):
            raise InputError(
                f, f"views of shape {a.shape} do not match the track's {man[t]['n_frames']} frames"
            )
        arrays.append(a)
    return ids, arrays


def pretrain_movement(
    cache: str | PathLike[str],
    out: str | PathLike[str],
    movement: MovementEncoderConfig,
    cfg: MultiviewConfig = MultiviewConfig(),
    resume: bool = False,
    log: Callable[[str], None] = print,
    evaluate: Callable[[MovementEncoder], str] | None = None,
    eval_every: int = 0,
) -> Path:
    """Train the encoder of ``movement``'s size as described above; write ``out/movement.safetensors``."""
    from training.train.augment import SkeletonAugment
    from training.train.checkpoints import resume_step, save_step

    cache, out = Path(cache), Path(out)
    _, arrays = load_views(cache)
    V = min(a.shape[0] for a in arrays)
    if cfg.views:
        V = min(V, cfg.views)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    enc = MovementEncoder(movement)
    head = projection_head(movement.out_features)
    params = list(enc.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ckpt = out / CKPT_NAME
    parts = {"encoder": enc, "head": head, "optimizer": opt}
    start = resume_step(ckpt, parts, log) if resume else 0
    aug = SkeletonAugment()
    n = int(round(cfg.crop_seconds * aug.frame_rate))
    t0 = time.perf_counter()
    enc.train()
    for step in range(start + 1, cfg.steps + 1):
        rng = np.random.default_rng((cfg.seed, step))  # the batch is a function of the step: resume is exact
        idx = rng.choice(len(arrays), size=min(cfg.batch, len(arrays)), replace=False)
        xa, xb = [], []
        for i in idx:
            a = arrays[int(i)]
            T = a.shape[1]
            va, vb = rng.choice(V, size=2, replace=V < 2)
            s1 = int(rng.integers(0, max(1, T - n)))
            s2 = s1 if cfg.same_time else int(rng.integers(0, max(1, T - n)))
            for dst, v, s in ((xa, va, s1), (xb, vb, s2)):
                k = np.asarray(a[int(v), s : s + n], np.float32)
                if k.shape[0] < n:
                    k = np.concatenate([k, np.repeat(k[-1:], n - k.shape[0], axis=0)], axis=0)
                dst.append(aug(k, rng))
        x = torch.from_numpy(np.ascontiguousarray(np.stack(xa + xb).transpose(0, 2, 3, 1)))
        z = head(enc(x)[0])
        B = len(idx)
        loss = info_nce(z[:B], z[B:], cfg.temperature)
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, step)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 50 == 0:
            log(f"step {step}/{cfg.steps} loss {loss.item():.3f} ({time.perf_counter() - t0:.0f} s)")
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            save_step(ckpt, parts, step)
        if evaluate is not None and eval_every and (step % eval_every == 0 or step == cfg.steps):
            enc.eval()
            log(f"step {step}: {evaluate(enc)}")
            enc.train()
    return save_movement(out / OUT_NAME, enc, cfg)


def save_movement(path: Path, enc: MovementEncoder, cfg: MultiviewConfig) -> Path:
    tensors = {f"movement.{k}": v.detach().cpu().contiguous() for k, v in enc.state_dict().items()}
    meta = {
        "format": "minet-movement",
        "movement": json.dumps(asdict(enc.cfg)),
        "multiview": json.dumps(asdict(cfg)),
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def load_movement_into(enc: MovementEncoder, path: str | PathLike[str]) -> None:
    """Load ``movement.*`` tensors (a ``movement.safetensors`` or an MI Net bundle) into ``enc``; an
    InputError naming the file when they are missing or of other sizes."""
    path = Path(path)
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise InputError(path, f"not a readable safetensors file ({exc})") from None
    state = {k[len("movement.") :]: v for k, v in tensors.items() if k.startswith("movement.")}
    want = enc.state_dict()
    if set(state) != set(want) or any(state[k].shape != want[k].shape for k in want):
        raise InputError(path, "holds no movement encoder of this recipe's size (movement.* tensors)")
    enc.load_state_dict(state)
