"""Body movement encoder E_b of the MI Net paper §3.2: a bidirectional GRU over normalised skeletons.

The last layer's final hidden states (both directions, concatenated) are the global movement vector h that
conditions the prior; the per-frame outputs are kept too, for the per-frame-motion option of the prior.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from minet_desktop.model.config import MovementEncoderConfig


class MovementEncoder(nn.Module):
    """skeleton (B, C, J, T) -> (h (B, H), frames (B, T, H)) with H = ``cfg.out_features`` (64 by default).

    The skeleton layout is the cache's crop layout, time last: C = 3 (x, y, confidence; the cache's
    ``normalize`` output: neck-centred, shoulder-width units) and J = 47 joints. Confidence is used only if
    ``cfg.use_confidence``; C = 2 input is accepted when it is not.
    """

    def __init__(self, cfg: MovementEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.gru = nn.GRU(
            cfg.in_features,
            cfg.hidden_size,
            num_layers=cfg.n_layers,
            batch_first=True,
            bidirectional=cfg.bidirectional,
            dropout=cfg.dropout if cfg.n_layers > 1 else 0.0,
        )

    def forward(self, skeleton: Tensor) -> tuple[Tensor, Tensor]:
        B, C, J, T = skeleton.shape
        n_coords = 3 if self.cfg.use_confidence else 2
        if J != self.cfg.n_joints or C < n_coords:
            raise ValueError(
                f"expected skeleton (B, {n_coords}+, {self.cfg.n_joints}, T), got {tuple(skeleton.shape)}"
            )
        x = skeleton[:, :n_coords].permute(0, 3, 1, 2).reshape(B, T, n_coords * J)
        frames, h_n = self.gru(x)
        # h_n: (layers * directions, B, hidden); the last layer's directions are the last rows.
        n_dir = 2 if self.cfg.bidirectional else 1
        h = h_n[-n_dir:].transpose(0, 1).reshape(B, n_dir * self.cfg.hidden_size)
        return h, frames


def align_to(frames: Tensor, n_codes: int, frames_per_code: int | None = None) -> Tensor:
    """Average per-frame features over each code's frames: (B, T, H) -> (B, n_codes, H).

    With ``frames_per_code`` (the VQ-VAE's ``downsample``) code ``i`` averages frames ``[i*ds, (i+1)*ds)``,
    exactly the frames the VQ-VAE compressed into it; the frames are padded with the last one (as
    ``VQVAE.encode`` pads the spectrogram) or cut to ``n_codes * ds``. Without it, adaptive average pooling
    spreads the T frames evenly over the codes (a shorter input is stretched).
    """
    x = frames.transpose(1, 2)
    if frames_per_code is None:
        return F.adaptive_avg_pool1d(x, n_codes).transpose(1, 2)
    need = n_codes * frames_per_code
    x = F.pad(x, (0, need - x.shape[-1]), mode="replicate") if x.shape[-1] < need else x[..., :need]
    return F.avg_pool1d(x, frames_per_code).transpose(1, 2)
