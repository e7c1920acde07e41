"""Is this someone playing an instrument? The performance detector, apart from any MI Net.

A bidirectional GRU (:class:`~minet_desktop.model.movement.MovementEncoder`, its own small weights) over a
window of normalised skeleton frames, and a linear head: the logit that the window shows a person playing an
instrument rather than talking, walking, waving, clapping, typing, drinking, stretching, playing a ball game
or standing about. It reads how the arms and hands move, not which instrument, and was trained on many
cameras and trackers (``minet-train performance``), so an oblique close-up of a player stays a performance
where a movement vector's distance to the instruments' prototypes would not.

Stored as ``performance.safetensors``: the tensors and, in the metadata, the config (JSON) and how it was
trained. Never pickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from minet_desktop.core.atomic import atomic_path
from minet_desktop.core.config import from_dict, to_dict
from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.model.config import MovementEncoderConfig
from minet_desktop.model.movement import MovementEncoder

FORMAT = "minet-performance"
FILE_NAME = "performance.safetensors"


@dataclass(frozen=True)
class PerformanceDetectorConfig:
    #: Skeleton frames per second the detector reads (the frames are resampled to this rate).
    frame_rate: float = 62.5
    #: Seconds of one window; a performance is cut into consecutive windows and their probabilities averaged.
    window_seconds: float = 4.0
    #: Below this confidence a joint counts as missing (as in the caches).
    confidence_threshold: float = 0.3
    #: Below this probability of playing, a detection is reported as uncertain.
    threshold: float = 0.5
    movement: MovementEncoderConfig = field(
        default_factory=lambda: MovementEncoderConfig(hidden_size=32, n_layers=2)
    )

    def __post_init__(self) -> None:
        if self.frame_rate <= 0 or self.window_seconds <= 0:
            raise ConfigError("PerformanceDetectorConfig: frame_rate and window_seconds must be positive")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError("PerformanceDetectorConfig: threshold must be in (0, 1)")

    @property
    def window(self) -> int:
        return max(1, int(round(self.window_seconds * self.frame_rate)))


class PerformanceDetector(nn.Module):
    """skeleton windows (B, C, 47, T) -> logits (B,) that each shows someone playing an instrument."""

    def __init__(self, cfg: PerformanceDetectorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.movement = MovementEncoder(cfg.movement)
        self.head = nn.Linear(cfg.movement.out_features, 1)

    def forward(self, skeleton: Tensor) -> Tensor:
        h, _ = self.movement(skeleton)
        return self.head(h).squeeze(-1)


def save_detector(path: str | PathLike[str], model: PerformanceDetector, info: dict[str, Any]) -> Path:
    """Write ``model`` (config and ``info``, how it was trained, in the metadata) atomically to ``path``."""
    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "config": json.dumps(to_dict(model.cfg)), "info": json.dumps(info)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def load_detector(path: str | PathLike[str]) -> tuple[PerformanceDetector, dict[str, Any]]:
    """The detector stored at ``path`` (eval mode, CPU) and its training info; InputError naming the file when
    it is not one."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        raise InputError(path, f"not a readable safetensors file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise InputError(path, "not a performance detector (no 'minet-performance' metadata)")
    try:
        cfg = from_dict(PerformanceDetectorConfig, json.loads(meta["config"]))
        info = json.loads(meta.get("info", "{}"))
    except (ValueError, KeyError, TypeError, ConfigError) as exc:
        raise InputError(path, f"unreadable detector settings ({exc})") from None
    model = PerformanceDetector(cfg)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise InputError(path, f"tensors do not match the detector's settings ({exc})") from None
    return model.eval(), info


def playing_probability(model: PerformanceDetector, frames: Tensor) -> tuple[float, Tensor]:
    """Mean probability of playing over the consecutive windows of ``frames`` (T, 3, 47), already at
    ``model.cfg.frame_rate``, and the per-window probabilities (a clip shorter than a window is one window;
    the last window ends at the last frame)."""
    T = int(frames.shape[0])
    if T == 0:
        raise ValueError("no frames")
    size = min(model.cfg.window, T)
    starts = list(range(0, T - size + 1, size))
    if starts[-1] + size < T:
        starts.append(T - size)
    x = torch.stack([frames[s : s + size] for s in starts]).permute(0, 2, 3, 1).float()
    with torch.inference_mode():
        p = torch.sigmoid(model(x.contiguous()))
    return float(p.mean()), p
