"""Instrument prototypes of the movement vector: tell the instrument from the movement, and change it.

MI Net is never told which instrument is played; its movement encoder's vector h nevertheless separates
the instruments (the MI Net paper's 1-NN accuracy). :class:`InstrumentPrototypes` keeps, per instrument, the mean h
of the training split's movement windows (computed with the labels by ``minet-train prototypes``; nothing
at inference needs a label) and a whitening ``W`` by the pooled within-instrument covariance, so that::

    score_k(h)  = -|W (h - mu_k)|^2 / 2          a window's log-likelihood under instrument k (shared covariance)
    p(k | clip) = softmax(mean_windows score_k / temperature)

and the instrument override moves a performance's movement vectors from where they are to where the chosen
instrument's are (:meth:`InstrumentPrototypes.steer`), keeping their variation over time: the timing. The
target can lie past the prototype, away from the most similar other instrument (``cfg.contrast``)::

    target_k = mu_k + contrast * (mu_k - mu_n(k))     n(k): the prototype nearest to mu_k, whitened
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from minet_desktop.model.config import InstrumentPrototypesConfig


class InstrumentPrototypes(nn.Module):
    """Prototypes (K, H), whitening (H, H) and, with ``cfg.motion``, motion-feature prototypes (K, H), as buffers.

    Parameters
    ----------
    cfg
        Instrument codes (K of them) and the calibration.
    dim
        Width H of the movement vector (``MovementEncoderConfig.out_features``).
    """

    def __init__(self, cfg: InstrumentPrototypesConfig, dim: int) -> None:
        super().__init__()
        self.cfg, self.dim = cfg, dim
        K = len(cfg.codes)
        self.register_buffer("prototypes", torch.zeros(K, dim))
        self.register_buffer("whiten", torch.eye(dim))
        if cfg.motion:
            self.register_buffer("motion_prototypes", torch.zeros(K, dim))
        if cfg.classifier == "linear":
            self.register_buffer("linear_weight", torch.zeros(K, dim))
            self.register_buffer("linear_bias", torch.zeros(K))

    prototypes: Tensor  # (K, H) mean movement vector per instrument
    whiten: Tensor  # (H, H)
    motion_prototypes: Tensor  # (K, H) mean per-frame motion feature per instrument (cfg.motion only)
    linear_weight: Tensor  # (K, H) on the whitened movement vector (cfg.classifier "linear" only)
    linear_bias: Tensor  # (K,)

    @property
    def codes(self) -> tuple[str, ...]:
        return self.cfg.codes

    def index(self, code: str) -> int:
        """Row of instrument ``code``; ValueError naming the known codes when it has none."""
        try:
            return self.cfg.codes.index(code)
        except ValueError:
            raise ValueError(
                f"unknown instrument {code!r} (this model knows: {', '.join(self.cfg.codes)})"
            ) from None

    def squared_distances(self, h: Tensor) -> Tensor:
        """Whitened squared distances of movement vectors h (N, H) to every prototype: (N, K)."""
        z = (h.float()[:, None, :] - self.prototypes[None]) @ self.whiten.T
        return z.pow(2).sum(-1)

    def scores(self, h: Tensor) -> Tensor:
        """Per-window scores (N, K) of movement vectors h (N, H): the log-likelihoods under the prototypes (up to
        a shared constant), or with ``cfg.classifier == "linear"`` the logistic regression's log-probabilities."""
        if self.cfg.classifier == "linear":
            z = h.float() @ self.whiten.T
            return torch.log_softmax(z @ self.linear_weight.T + self.linear_bias, dim=-1)
        return -0.5 * self.squared_distances(h)

    def probabilities(self, h: Tensor) -> Tensor:
        """Calibrated probabilities (K,) that the windows h (N, H) of one performance show each instrument."""
        return torch.softmax(self.scores(h).mean(0) / self.cfg.temperature, dim=-1)

    def distance(self, h: Tensor) -> float:
        """How far the windows h (N, H) are from every instrument: the mean over windows of the smallest
        whitened squared distance, per dimension (about 1 for a window typical of its instrument)."""
        return float(self.squared_distances(h).min(-1).values.mean()) / self.dim

    def neighbour(self, code: str) -> int:
        """Row of the instrument whose prototype is nearest to ``code``'s (whitened distance)."""
        k = self.index(code)
        d = self.squared_distances(self.prototypes[k : k + 1])[0]
        d[k] = float("inf")
        return int(d.argmin())

    def target(self, code: str, motion: bool = False, contrast: float | None = None) -> Tensor:
        """Where the override moves a performance to (H,): instrument ``code``'s prototype, moved
        ``contrast`` (default ``cfg.contrast``) times the step from its nearest neighbour's prototype further
        away from it.

        ``motion``: the target of the per-frame motion features (motion prototypes, the same neighbour).
        """
        contrast = self.cfg.contrast if contrast is None else contrast
        protos = self.motion_prototypes if motion else self.prototypes
        k = self.index(code)
        target = protos[k]
        if contrast > 0:
            target = target + contrast * (target - protos[self.neighbour(code)])
        return target

    def steer(
        self,
        h: Tensor,
        code: str,
        motion: bool = False,
        strength: float | None = None,
        contrast: float | None = None,
    ) -> Tensor:
        """Movement vectors h (..., N, H) of one performance moved to instrument ``code``: shifted by
        ``strength`` (default ``cfg.strength``) times the step from their mean over the N windows to the
        instrument's target (:meth:`target` with ``contrast``; at strength 1 the mean lands on it); their
        variation over time is kept.

        ``motion``: steer per-frame motion features with the motion prototypes instead (``cfg.motion``).
        """
        strength = self.cfg.strength if strength is None else strength
        target = self.target(code, motion, contrast).to(h.dtype)
        return h + strength * (target - h.mean(dim=-2, keepdim=True))
