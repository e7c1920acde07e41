"""Which instrument the movement shows, and playing another one: detection and the instrument override.

Both use the bundle's :class:`~minet_desktop.model.instruments.InstrumentPrototypes` and nothing else:
no label is needed at inference.

* :func:`detect` cuts a performance's skeleton frames into movement windows (the span of one prior window,
  as the prior was trained on), runs the movement encoder over them and returns the calibrated
  probabilities of every instrument, best first (:class:`Detection`). Movement that looks like none of the
  instruments (a walk, a talk), a still pose and a performance without a person are *uncertain*, and say why.
  With the app's performance detector (:mod:`minet_desktop.model.performance`) that question is the
  detector's: movement it does not read as someone playing an instrument is uncertain, and the prototypes'
  distance is reported but not used (it also fires on players filmed from outside the training views, where
  the detector does not).
* :func:`steer` is the override: the movement vectors the prior is conditioned on are moved from where this
  performance's are to where the chosen instrument's are, so the codes come out in that instrument's sound
  while their variation over time, the timing, still follows the performer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from minet_desktop.core.instruments import instrument_name
from minet_desktop.engine.motion import window_frames
from minet_desktop.model.instruments import InstrumentPrototypes
from minet_desktop.model.movement import MovementEncoder

#: Below this probability of the most likely instrument the detection is reported as uncertain.
MIN_CONFIDENCE = 0.4


@dataclass(frozen=True)
class Detection:
    """The instruments a performance's movement looks like.

    Attributes
    ----------
    probabilities
        ``(code, probability)`` of every instrument the model knows, most likely first (empty without movement).
    uncertain
        True when no instrument should be named with confidence; ``reason`` says why.
    distance
        How far the movement is from every instrument (:meth:`InstrumentPrototypes.distance`; about 1 for a
        typical performance, larger for movement unlike any instrument's).
    motion
        How much the performer moves (:func:`movement_extent`, shoulder widths).
    playing
        The performance detector's probability that this is someone playing an instrument (NaN: not asked).
    """

    probabilities: list[tuple[str, float]] = field(default_factory=list)
    uncertain: bool = False
    reason: str = ""
    distance: float = float("nan")
    motion: float = 0.0
    playing: float = float("nan")

    @property
    def best(self) -> tuple[str, float] | None:
        return self.probabilities[0] if self.probabilities else None

    def summary(self, n: int = 3, name: Callable[[str], str] = instrument_name) -> str:
        """``"viola 56 % - cello 20 % - oboe 11 %"``, prefixed ``"uncertain: "`` when uncertain; ``name`` writes
        each instrument from its code (the app makes each a link)."""
        if not self.probabilities:
            return self.reason or "no movement"
        text = " - ".join(f"{name(c)} {100 * p:.0f} %" for c, p in self.probabilities[:n])
        return f"uncertain ({self.reason}): {text}" if self.uncertain else text


def movement_windows(
    movement: MovementEncoder, frames: np.ndarray, window: int, device: torch.device | str = "cpu"
) -> tuple[Tensor, Tensor]:
    """Movement vectors of consecutive, non-overlapping windows of ``window`` frames.

    ``frames`` (T, 3, 47) are the model's skeleton frames (normalised, at the spectrogram frame rate; a clip
    shorter than a window is one window). Returns ``h (N, H)`` and the windows' mean per-frame motion
    features ``(N, H)``, both float32 on the CPU.
    """
    T = int(frames.shape[0])
    if T == 0:
        raise ValueError("no frames")
    size = min(window, T)
    starts = range(0, T - size + 1, size)
    x = np.stack([frames[s : s + size] for s in starts]).transpose(0, 2, 3, 1)  # (N, 3, 47, size)
    with torch.inference_mode():
        h, per_frame = movement(torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(device))
    return h.float().cpu(), per_frame.mean(1).float().cpu()


def movement_extent(frames: np.ndarray, window: int) -> float:
    """How much the performer moves: per window of ``window`` frames, the mean over joints of the spread of the
    joint's position (the root of its x and y variances, in shoulder widths); the median over windows.

    A spread rather than a speed: a tracker's frame-to-frame jitter on a still person is fast but small.
    """
    T = int(frames.shape[0])
    if T < 2:
        return 0.0
    size = min(window, T)
    spreads = [
        float(np.sqrt(frames[s : s + size, :2].astype(np.float64).var(axis=0).sum(axis=0)).mean())
        for s in range(0, T - size + 1, size)
    ]
    return float(np.median(spreads))


def detect(
    movement: MovementEncoder,
    prototypes: InstrumentPrototypes,
    frames: np.ndarray,
    block_size: int,
    frames_per_code: int,
    playing: float | None = None,
    playing_threshold: float = 0.5,
) -> Detection:
    """The instruments that the skeleton ``frames`` (T, 3, 47) look like (see the module docstring);
    ``playing``: the performance detector's probability (None: not asked), uncertain below
    ``playing_threshold``."""
    cfg = prototypes.cfg
    device = prototypes.prototypes.device
    window = window_frames(block_size, frames_per_code)
    h, _ = movement_windows(movement, frames, window, device)
    with torch.inference_mode():
        probs = prototypes.probabilities(h.to(device)).tolist()
        distance = prototypes.distance(h.to(device))
    ranked = sorted(zip(cfg.codes, probs, strict=True), key=lambda cp: -cp[1])
    extent = movement_extent(frames, window)
    reason = ""
    if extent < cfg.min_motion:
        reason = "the performer hardly moves"
    elif playing is not None and playing < playing_threshold:
        reason = "the movement does not look like someone playing an instrument"
    elif playing is None and distance > cfg.max_distance:
        reason = "the movement looks like none of the instruments"
    elif ranked[0][1] < MIN_CONFIDENCE:
        reason = "the movement fits several instruments"
    p = float("nan") if playing is None else float(playing)
    return Detection(ranked, bool(reason), reason, distance, extent, p)


def steer(
    prototypes: InstrumentPrototypes, h: Tensor, code: str, motion: bool = False, auto: bool = False
) -> Tensor:
    """The override: movement vectors (or per-frame motion features, ``motion``) h (N, H) of one performance
    moved to instrument ``code`` (:meth:`InstrumentPrototypes.steer`); prototypes and h on one device.
    ``auto``: Auto's steer to the detected instrument (``cfg.auto_steer``, ``cfg.auto_contrast``)."""
    if auto:
        return prototypes.steer(
            h, code, motion=motion, strength=prototypes.cfg.auto_steer, contrast=prototypes.cfg.auto_contrast
        )
    return prototypes.steer(h, code, motion=motion)
