"""From a score excerpt to played notes: tempo with rubato, fermatas, articulation, dynamics, breaths.

One :class:`PieceTiming` is shared by every player of a piece (an ensemble keeps together); each player then
adds their own articulation, micro-timing and dynamics (:func:`play_line`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minet_desktop.media.midi import Note
from training.synth.instruments import Instrument
from training.synth.melodies import Line, Piece

#: Seconds of silence before the first note (the player sets the bow, breathes in).
LEAD_IN = (0.5, 1.1)
#: Seconds of audio after the last note-off (release and room).
TAIL = 0.8
#: Extra quarter notes a fermata holds (chorales breathe at every fermata).
FERMATA_EXTRA_Q = 1.0


@dataclass(frozen=True)
class PieceTiming:
    """Quarter-note position -> seconds for one excerpt of a piece.

    Attributes
    ----------
    q0, q1
        Excerpt bounds in quarter notes of the score.
    grid_q, grid_s
        Monotone map (interpolated) from score quarters to seconds.
    fermata_ends
        Score positions (quarters) where a fermata note ends.
    qpm
        Base tempo.
    beats_per_bar
        Quarters per bar.
    """

    q0: float
    q1: float
    grid_q: np.ndarray
    grid_s: np.ndarray
    fermata_ends: tuple[float, ...]
    qpm: float
    beats_per_bar: float

    def seconds(self, q: float | np.ndarray) -> np.ndarray:
        return np.interp(q, self.grid_q, self.grid_s)

    def beat_times(self) -> np.ndarray:
        """Seconds of every quarter-note beat of the excerpt (the sway follows them)."""
        qs = np.arange(np.ceil(self.q0), self.q1 + 1e-9, 1.0)
        return self.seconds(qs)


def choose_excerpt(
    piece: Piece, seconds: tuple[float, float], qpm: float, rng: np.random.Generator
) -> tuple[float, float]:
    """Start and end (quarters) of an excerpt lasting about ``seconds`` at ``qpm``, starting on a bar line."""
    length_q = max(line.length_q for line in piece.lines)
    want_q = float(rng.uniform(*seconds)) * qpm / 60.0
    if want_q >= length_q:
        return 0.0, length_q
    bar = piece.beats_per_bar if piece.beats_per_bar > 0 else 4.0
    first = min(n[0] for line in piece.lines for n in line.notes)
    starts = np.arange(first, length_q - want_q + 1e-9, bar)
    q0 = float(starts[rng.integers(len(starts))]) if starts.size else first
    return q0, q0 + want_q


def piece_timing(
    piece: Piece, q0: float, q1: float, qpm: float, rng: np.random.Generator, lead_in: float
) -> PieceTiming:
    """Tempo curve: base tempo, slow rubato (+-4 % over a few bars), a ritardando into the end, fermata holds."""
    step = 0.125
    grid_q = np.arange(q0, q1 + 2 * step, step)
    bar = max(piece.beats_per_bar, 1.0)
    period = bar * float(rng.uniform(3.0, 6.0))
    phase = float(rng.uniform(0, 2 * np.pi))
    factor = 1.0 + 0.04 * np.sin(2 * np.pi * (grid_q - q0) / period + phase)
    rit_len = min(2 * bar, (q1 - q0) / 4)
    rit = np.clip((grid_q - (q1 - rit_len)) / max(rit_len, 1e-6), 0, 1)
    factor *= 1.0 - 0.18 * rit**2
    sec_per_q = 60.0 / (qpm * factor)
    grid_s = lead_in + np.concatenate([[0.0], np.cumsum(sec_per_q[:-1] * step)])
    fermatas = sorted(
        {
            round(n[0] + n[1], 4)
            for line in piece.lines
            for n in line.notes
            if n[3] and q0 < n[0] + n[1] <= q1 + 1e-6
        }
    )
    hold = FERMATA_EXTRA_Q * 60.0 / qpm
    for f in fermatas:
        grid_s = grid_s + np.where(grid_q > f + 1e-6, hold, 0.0)
    return PieceTiming(q0, q1, grid_q, grid_s, tuple(fermatas), qpm, bar)


@dataclass
class PlayedPart:
    """One player's notes in seconds, with the CC11 curve and what the motion model needs."""

    notes: list[Note]
    expression: np.ndarray  # (K, 2) time_s, CC11
    beat_times: np.ndarray
    duration: float
    transpose: int


def play_line(
    line: Line,
    inst: Instrument,
    timing: PieceTiming,
    transpose: int,
    rng: np.random.Generator,
    phrase_seed: int,
) -> PlayedPart:
    """Turn a score line into played notes for ``inst``.

    ``phrase_seed`` is shared by the players of a piece so their dynamics rise and fall together.
    """
    src = [n for n in line.notes if timing.q0 - 1e-6 <= n[0] < timing.q1 - 1e-6]
    legato = (
        float(rng.uniform(0.86, 1.0)) if inst.family in ("bowed", "flute") else float(rng.uniform(0.8, 0.95))
    )
    jitter_s = float(rng.uniform(0.004, 0.012))
    fermata_hold = FERMATA_EXTRA_Q * 60.0 / timing.qpm
    # Shared phrase dynamics: a slow arch per 2-4 bars, the same for every player of the piece.
    prng = np.random.default_rng(phrase_seed)
    ph_period = timing.beats_per_bar * float(prng.uniform(2.0, 4.0))
    ph_phase = float(prng.uniform(0, 2 * np.pi))
    base_dyn = float(rng.uniform(72, 96))

    def dyn(q: float) -> float:
        return float(np.sin(2 * np.pi * (q - timing.q0) / ph_period + ph_phase))

    notes: list[Note] = []
    last_breath = 0.0
    breath_every = float(rng.uniform(4.5, 8.0))
    for i, (q, d, pitch, ferm) in enumerate(src):
        on = float(timing.seconds(q)) + float(np.clip(rng.normal(0, jitter_s), -0.02, 0.02))
        end_q = min(q + d, timing.q1 + 4)
        end_s = float(timing.seconds(end_q - 1e-6))
        nxt = src[i + 1] if i + 1 < len(src) else None
        touching = nxt is not None and abs(nxt[0] - (q + d)) < 1e-6
        if ferm:
            end_s += 0.8 * fermata_hold
        ioi = end_s - on
        if touching:
            short = d * 60.0 / timing.qpm < 0.2 and inst.family != "bowed"
            off = on + ioi * (legato if not short else min(legato, 0.85))
            if (
                inst.family != "bowed"
                and on - last_breath > breath_every
                and (q + d) % timing.beats_per_bar < 1e-6
            ):
                off = min(off, end_s - 0.28)  # breathe at a bar line
                last_breath = on
        else:
            off = on + ioi * 0.95
        off = max(off, on + 0.05)
        if nxt is not None:
            off = min(off, float(timing.seconds(nxt[0])) - 0.025)
        off = max(off, on + 0.04)
        beat_pos = (q - timing.q0) % timing.beats_per_bar
        accent = 6.0 if beat_pos < 1e-6 else 2.0 if abs(beat_pos - round(beat_pos)) < 1e-6 else 0.0
        vel = base_dyn + 14.0 * dyn(q) + accent + 0.4 * (pitch - line.low) + rng.normal(0, 4.0)
        p = int(pitch + transpose)
        notes.append(Note(max(on, 0.0), off, p, int(np.clip(round(vel), 30, 122))))
    # Keep strictly monophonic after jitter.
    fixed: list[Note] = []
    for n in notes:
        if fixed and n.onset < fixed[-1].offset:
            prev = fixed[-1]
            fixed[-1] = Note(prev.onset, max(prev.onset + 0.02, n.onset - 0.005), prev.pitch, prev.velocity)
        fixed.append(n)
    # Millisecond grid: the score is written with 1 ms ticks, so Notes file, score and audio agree exactly.
    fixed = [
        Note(round(n.onset, 3), max(round(n.offset, 3), round(n.onset, 3) + 0.001), n.pitch, n.velocity)
        for n in fixed
    ]
    duration = (max(n.offset for n in fixed) if fixed else 1.0) + TAIL
    t = np.arange(0.0, duration, 0.04)
    qs = np.interp(t, timing.grid_s, timing.grid_q)
    cc = 100 + 18 * np.sin(2 * np.pi * (qs - timing.q0) / ph_period + ph_phase)
    for n in fixed:  # swell on long notes
        if n.duration > 0.7:
            m = (t >= n.onset) & (t < n.offset)
            x = (t[m] - n.onset) / n.duration
            cc[m] += 12 * np.sin(np.pi * x) - 4
    expression = np.stack([t, np.clip(cc, 40, 127)], axis=1)
    beats = timing.beat_times()
    return PlayedPart(fixed, expression, beats, float(duration), transpose)
