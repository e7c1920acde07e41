"""Notes that start where the performer's movement says they do: articulation of a generated spectrogram.

MI Net's prior draws its codes from the movement, but the VQ-VAE's codes blur onsets (the codes of the recordings
themselves reach an onset F1 of 0.45 against the score), and the onsets of the generated audio are no more
aligned with the score than chance (the same F1 whichever way they are shifted by up to 128 ms;
``scripts/onset_shift_study.py``). The movement, however, shows where notes change: a bow stroke turns at every
new note, fingers and valves move between pitches. This module finds those moments and articulates them:

* :func:`movement_events`: frames where an arm reverses its direction (the bow changes, a slide turns) or the
  fingers of a hand change their shape, from the normalised skeleton frames (one per spectrogram frame);
* :func:`articulate`: the spectrogram dipped for a few frames just before each event, as a player's articulation
  separates notes, so that a note starts at every event (optionally smoothed over time first);
* :func:`gap_gain`: after Griffin-Lim, a short gap in the waveform before each event (30 dB down for 40 ms, at
  most a third of the note before it), as tonguing or a bow change makes. Griffin-Lim smears a dip in the
  spectrogram over about 0.2 s, and a detector then hears about three onsets per note; the gap is sharp.

On the validation split of the synthetic corpus the dips and attacks raise MI Net's onset F1 against the score
from 0.39 to 0.61 (its onset detector's events) and the MIDI model's from 0.54 to 0.70 (its score's onsets); the
gap then to 0.77 and 0.90; the instrument heard unchanged within a point (``scripts/articulation_study.py``). Live mode does not articulate: an event is known only once the movement
after it is seen.

A MIDI-conditioned model articulates the score's own note onsets instead (:func:`note_onsets`). Generation does
this by default (``Job.articulation``); ``generate --no-articulation`` and the app's switch turn it off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import median_filter, uniform_filter1d

from minet_desktop.core.skeleton import L_HAND, L_WRIST, R_HAND, R_WRIST
from minet_desktop.model.onsets import OnsetDetector


@dataclass(frozen=True)
class Articulation:
    """How events are found and articulated; times in seconds (at 62.5 spectrogram frames per second, 16 ms is
    one frame).

    Chosen on the validation split of the synthetic corpus (``scripts/articulation_study.py``).
    """

    #: How long before and after a moment an arm's direction is compared.
    reversal_s: float = 0.064
    #: How long before and after a moment a hand's shape (its points relative to the wrist) is compared.
    finger_s: float = 0.032
    #: An event is a local maximum of the combined cue above this. Each cue is in units of the 90th percentile
    #: of its kind over the performance (the busier wrist's reversals, the busier hand's shape changes), and
    #: never of less than these floors (shoulder widths): a still hand's tracker jitter is not made an event (a
    #: still pose with 1 pixel of jitter: 90th percentiles 0.009 and 0.08).
    threshold: float = 0.5
    reversal_floor: float = 0.02
    shape_floor: float = 0.1
    #: Events closer than this keep the strongest.
    min_gap_s: float = 0.096
    #: Depth of the dip before an event (dB), and how long it fades in.
    dip_db: float = 12.0
    dip_s: float = 0.048
    #: Median over this long before the dips (0: none, as shipped: on the validation split it changed onset F1 by
    #: less than 0.01).
    smooth_s: float = 0.0
    #: An attack: the first frames of each note raised by this much (dB), fading out over ``accent_s``, so that
    #: a note's start is one sharp rise (on the validation split: MI Net's onset F1 0.58 -> 0.61, the MIDI
    #: model's 0.68 -> 0.70). 0: none.
    accent_db: float = 6.0
    accent_s: float = 0.048
    #: A gap in the waveform before each event: the sound fades over ``gap_fall_s`` to ``gap_db`` below itself,
    #: stays there for ``gap_s`` and rises back over ``gap_rise_s`` from the event on, as a player's tonguing or
    #: bow change separates notes. Applied after Griffin-Lim (:func:`gap_gain`): a dip in the spectrogram alone
    #: comes out of Griffin-Lim smeared over about 0.2 s, and the evaluation's detector then finds about three
    #: onsets per note (``scripts/griffin_lim_onset_probe.py``). 0: none. Chosen on the validation split
    #: (``scripts/articulation_study.py --grid gap``): onset F1 MI Net 0.61 -> 0.77, MI Net + MIDI 0.70 -> 0.90,
    #: the instrument heard within half a point.
    gap_db: float = 30.0
    gap_s: float = 0.04
    gap_fall_s: float = 0.01
    gap_rise_s: float = 0.005
    #: The fall and the gap together take at most this share of the time since the previous event (both
    #: shortened in proportion), so that fast notes stay notes, not clicks between silences.
    gap_max_share: float = 0.33

    def frames(self, seconds: float, frame_rate: float) -> int:
        """``seconds`` in frames at ``frame_rate``, at least 1."""
        return max(1, int(round(seconds * frame_rate)))


DEFAULT = Articulation()


def peaks(score: np.ndarray, threshold: float, min_gap: int) -> np.ndarray:
    """Local maxima of ``score`` above ``threshold``; of two closer than ``min_gap``, the larger."""
    out: list[int] = []
    for t in range(1, len(score) - 1):
        if score[t] > threshold and score[t] >= score[t - 1] and score[t] > score[t + 1]:
            if out and t - out[-1] < min_gap:
                if score[t] > score[out[-1]]:
                    out[-1] = t
            else:
                out.append(t)
    return np.asarray(out, np.int64)


def reversal_cue(points: np.ndarray, w: int) -> np.ndarray:
    """How sharply a point (T, 2) turns back at each frame: ``max(0, -cos)`` of the angle between its motion over
    the ``w`` frames before and after, times the smaller of the two displacements (a still hand's jitter is small)."""
    T = points.shape[0]
    out = np.zeros(T)
    if T < 2 * w + 2:
        return out
    v = np.gradient(uniform_filter1d(points, 3, axis=0), axis=0)
    c = np.concatenate([np.zeros((1, 2)), np.cumsum(v, axis=0)])  # c[t] = sum of v[:t]
    t = np.arange(w, T - w)
    a = c[t] - c[t - w]  # motion over [t - w, t)
    b = c[t + 1 + w] - c[t + 1]  # motion over (t, t + w]
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cos = np.einsum("ij,ij->i", a, b) / np.maximum(na * nb, 1e-12)
    out[t] = np.maximum(0.0, -cos) * np.minimum(na, nb)
    return out


def shape_cue(hand: np.ndarray, wrist: np.ndarray, w: int) -> np.ndarray:
    """How much a hand's shape changes around each frame: the distance between its points relative to the wrist
    ``w`` frames before and after. ``hand`` (T, P, 2), ``wrist`` (T, 2)."""
    T = hand.shape[0]
    out = np.zeros(T)
    if T < 2 * w + 1:
        return out
    rel = uniform_filter1d(hand - wrist[:, None], 3, axis=0).reshape(T, -1)
    out[w : T - w] = np.linalg.norm(rel[2 * w :] - rel[: T - 2 * w], axis=1)
    return out


def movement_events(frames: np.ndarray, frame_rate: float, settings: Articulation = DEFAULT) -> np.ndarray:
    """Frames (indices into ``frames``) where the movement says a note starts.

    ``frames``: ``(T, 3, 47)`` normalised skeleton frames (x, y, confidence), one per spectrogram frame
    (``frame_rate`` per second). Both
    wrists' reversals and both hands' shape changes are scaled by the 90th percentile of their kind over the
    performance (see :class:`Articulation`), so a player far from the camera counts as much as a close one;
    the maximum of the scaled cues is peak-picked.
    """
    xy = np.asarray(frames[:, :2], np.float64).transpose(0, 2, 1)  # (T, 47, 2)
    if xy.shape[0] < 3:
        return np.zeros(0, np.int64)
    hands = ((R_WRIST, R_HAND), (L_WRIST, L_HAND))
    n_rev = settings.frames(settings.reversal_s, frame_rate)
    n_finger = settings.frames(settings.finger_s, frame_rate)
    reversals = [reversal_cue(xy[:, w], n_rev) for w, _ in hands]
    shapes = [shape_cue(xy[:, list(h)], xy[:, w], n_finger) for w, h in hands]
    scaled = []
    for cues, floor in ((reversals, settings.reversal_floor), (shapes, settings.shape_floor)):
        scale = max(floor, max(float(np.percentile(c, 90)) for c in cues))
        scaled += [c / scale for c in cues]
    return peaks(np.max(scaled, axis=0), settings.threshold, settings.frames(settings.min_gap_s, frame_rate))


def detected_events(detector: OnsetDetector, frames: np.ndarray, frame_rate: float) -> np.ndarray:
    """Frames where the bundle's onset detector says a note starts: the local maxima of its probabilities above
    its threshold, at least its ``min_gap_s`` apart. ``frames`` as for :func:`movement_events`."""
    cfg = detector.cfg
    return peaks(
        detector.probabilities(frames), cfg.threshold, max(1, int(round(cfg.min_gap_s * frame_rate)))
    )


def note_onsets(notes: np.ndarray) -> np.ndarray:
    """Frames where a note of a frame-rate note-index sequence (0 = rest, pitch + 1) starts."""
    n = np.asarray(notes).ravel()
    if n.size == 0:
        return np.zeros(0, np.int64)
    prev = np.concatenate([[0], n[:-1]])
    return np.flatnonzero((n > 0) & (n != prev)).astype(np.int64)


def articulate(
    spec: torch.Tensor, events: np.ndarray, frame_rate: float, settings: Articulation = DEFAULT
) -> torch.Tensor:
    """``spec`` (..., F, T) natural-log magnitudes at ``frame_rate`` frames per second, smoothed over
    ``settings.smooth_s``, dipped before each event frame and accented at it (see the module docstring); same
    shape, dtype and device."""
    x = spec.detach().cpu().float().numpy()
    smooth = int(round(settings.smooth_s * frame_rate))
    if smooth > 1:
        x = median_filter(x, size=(1,) * (x.ndim - 1) + (smooth,), mode="nearest")
    T = x.shape[-1]
    depth = settings.dip_db * math.log(10) / 20
    n_dip = settings.frames(settings.dip_s, frame_rate)
    gain = np.zeros(T)
    for e in np.asarray(events, np.int64):
        for d in range(1, n_dip + 1):
            if 0 <= e - d < T:
                gain[e - d] = max(gain[e - d], depth * (1 - (d - 1) / n_dip))
    if settings.accent_db > 0:
        lift = settings.accent_db * math.log(10) / 20
        n_acc = settings.frames(settings.accent_s, frame_rate)
        for e in np.asarray(events, np.int64):
            for d in range(n_acc):
                if 0 <= e + d < T:
                    gain[e + d] = min(gain[e + d], -lift * (1 - d / n_acc))
    x = x - gain.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(x)).to(device=spec.device, dtype=spec.dtype)


def gap_gain(
    n_samples: int,
    events: np.ndarray,
    frame_rate: float,
    sample_rate: int,
    settings: Articulation = DEFAULT,
) -> np.ndarray:
    """The waveform's gain (``n_samples``,) float32 for a gap before each event frame (see
    :attr:`Articulation.gap_db`): event frame ``e`` is the sample ``e * sample_rate / frame_rate`` (Griffin-Lim's
    frames are centred on their hop). All ones when ``settings.gap_db`` is 0 or there are no events."""
    gain = np.ones(n_samples, np.float64)
    if settings.gap_db <= 0 or n_samples == 0:
        return gain.astype(np.float32)
    low = 10.0 ** (-settings.gap_db / 20)
    n_fall = max(1, int(round(settings.gap_fall_s * sample_rate)))
    n_gap = int(round(settings.gap_s * sample_rate))
    n_rise = max(1, int(round(settings.gap_rise_s * sample_rate)))
    # One event's gain over [onset - n_gap - n_fall, onset + n_rise): fall, floor, rise.
    rise = low + (1 - low) * np.arange(n_rise) / n_rise
    onsets = np.round(np.sort(np.asarray(events, np.int64)) * sample_rate / frame_rate).astype(np.int64)
    for i, onset in enumerate(onsets):
        fall, floor = n_fall, n_gap
        if i > 0 and settings.gap_max_share < 1.0:
            lead = int(settings.gap_max_share * (onset - onsets[i - 1]))
            if lead < n_fall + n_gap:
                fall = max(1, round(lead * n_fall / (n_fall + n_gap)))
                floor = max(0, lead - fall)
        shape = np.concatenate([1 + (low - 1) * np.arange(1, fall + 1) / fall, np.full(floor, low), rise])
        start = int(onset) - fall - floor
        lo, hi = max(0, start), min(n_samples, start + shape.size)
        if lo < hi:
            gain[lo:hi] = np.minimum(gain[lo:hi], shape[lo - start : hi - start])
    return gain.astype(np.float32)


__all__ = [
    "DEFAULT",
    "Articulation",
    "articulate",
    "gap_gain",
    "detected_events",
    "movement_events",
    "note_onsets",
    "peaks",
    "reversal_cue",
    "shape_cue",
]
