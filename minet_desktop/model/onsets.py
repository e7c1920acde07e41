"""Where notes start, read from the movement: the onset detector of an MI Net bundle.

MI Net's prior draws codes that carry the instrument and the melody's contour but blur where notes start (the
VQ-VAE's own codes reach an onset F1 of 0.45 against the score). The movement shows those moments: a bow turns at
a new note, fingers and valves move between pitches, a slide jumps. :class:`OnsetDetector` reads them from the
normalised skeleton frames, one per spectrogram frame; the engine articulates the generated spectrogram there
(:mod:`minet_desktop.engine.articulation`).

Architecture: per frame, the x and y of the 47 joints, their frame-to-frame velocities and the tracker's
confidences; a 1-D convolution, then dilated convolutions with residual connections (a temporal convolutional
network, non-causal: a note's start is seen with the motion on both sides of it), then one logit per frame.
Training (``minet-train onsets``) uses the training split's scores: their note onsets are the only labels, never
the instrument.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from minet_desktop.model.config import OnsetDetectorConfig

#: Velocities are scaled by this so that they and the positions (shoulder widths) have similar ranges.
VELOCITY_SCALE = 10.0


def onset_features(frames: Tensor) -> Tensor:
    """``frames`` (B, T, 3, J): normalised x, y and confidence per frame -> (B, 5 J, T) detector input."""
    xy = frames[:, :, :2]
    v = torch.diff(xy, dim=1, prepend=xy[:, :1])
    B, T = frames.shape[:2]
    return torch.cat(
        [xy.reshape(B, T, -1), VELOCITY_SCALE * v.reshape(B, T, -1), frames[:, :, 2]], dim=2
    ).transpose(1, 2)


class _Block(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            channels, channels, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation
        )
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        return x + self.act(self.conv(x))


class OnsetDetector(nn.Module):
    """Per-frame probability that a note starts, from the skeleton frames (see the module docstring)."""

    def __init__(self, cfg: OnsetDetectorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.input = nn.Conv1d(cfg.in_channels, cfg.hidden, cfg.kernel + 2, padding=(cfg.kernel + 1) // 2)
        self.act = nn.GELU()
        self.blocks = nn.Sequential(*[_Block(cfg.hidden, cfg.kernel, d) for d in cfg.dilations])
        self.out = nn.Conv1d(cfg.hidden, 1, 1)

    def forward(self, features: Tensor) -> Tensor:
        """``features`` (B, 5 J, T) from :func:`onset_features` -> logits (B, T)."""
        return self.out(self.blocks(self.act(self.input(features)))).squeeze(1)

    @torch.no_grad()
    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        """``frames`` (T, 3, J) normalised skeleton frames -> (T,) probability that a note starts at each frame."""
        p = next(self.parameters())
        x = torch.from_numpy(np.ascontiguousarray(frames, np.float32)).to(p.device, p.dtype)[None]
        if x.shape[1] == 0:
            return np.zeros(0, np.float32)
        return torch.sigmoid(self(onset_features(x)))[0].float().cpu().numpy()


__all__ = ["VELOCITY_SCALE", "OnsetDetector", "onset_features"]
