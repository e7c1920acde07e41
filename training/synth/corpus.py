"""``minet-train synth``: write a synthetic performance corpus in the URMP layout.

Plan, then render:

1. **Plan** (in this process, from the seed alone): walk the bundled music21 pieces in a seeded order and give
   each piece one to four players, always choosing the instruments furthest below their share of the requested
   minutes; pick each piece's tempo and excerpt. Every music21 piece is used at most once, as one URMP piece
   folder, so any split by piece folder (``training.cache.split_pieces``) is a split by piece of music.
2. **Render** every piece in a worker process from its own seed (``SeedSequence([seed, piece_index])``), so
   the files do not depend on the number of workers or on the order in which pieces finish.

Each piece is written into a hidden sibling folder (``.tmp-<folder>``) and renamed into place once complete:
an interrupted run or a full disk never leaves a half-written piece that looks complete. ``synth.json``
(settings and per-piece details) is written last.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from minet_desktop.core.atomic import atomic_path, atomic_write_text
from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.pose.keypoint_file import KeypointFile
from training.synth import instruments as instr
from training.synth.melodies import Piece, load_pieces, split_of, transpose_into
from training.synth.render import SAMPLE_RATE, check_soundfont

MANIFEST = "synth.json"
FORMAT = 1
#: Default length range of one track (an excerpt of the piece), seconds.
TRACK_SECONDS = (20.0, 45.0)
#: Tempo ranges (quarter notes per minute) by source when the score has no metronome mark.
_QPM = {"bach": (62.0, 90.0), "ryansMammoth": (84.0, 116.0)}


@dataclass(frozen=True)
class PlayerPlan:
    code: str
    line: int
    low: int
    high: int
    shift: int


@dataclass(frozen=True)
class PiecePlan:
    index: int
    piece_no: int
    piece_id: str
    name: str
    qpm: float
    q0: float
    q1: float
    players: tuple[PlayerPlan, ...]
    est_seconds: float

    @property
    def folder(self) -> str:
        return f"{self.piece_no:02d}_{self.name}_{'_'.join(p.code for p in self.players)}"


@dataclass
class SynthSummary:
    """What :func:`generate` wrote."""

    out_dir: Path
    pieces: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    render_video: bool = False
    workers: int = 1

    @property
    def n_tracks(self) -> int:
        return sum(len(p["players"]) for p in self.pieces)

    @property
    def audio_seconds(self) -> float:
        return sum(pl["seconds"] for p in self.pieces for pl in p["players"])

    def seconds_by_instrument(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for p in self.pieces:
            for pl in p["players"]:
                out[pl["instrument"]] = out.get(pl["instrument"], 0.0) + pl["seconds"]
        return {c: out[c] for c in instr.INSTRUMENTS if c in out}

    @property
    def speed(self) -> float:
        """Seconds of corpus audio (summed over tracks) rendered per wall-clock second."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else float("inf")

    def summary(self) -> str:
        per = ", ".join(f"{c} {s / 60:.1f}" for c, s in self.seconds_by_instrument().items())
        return (
            f"{self.out_dir}: {len(self.pieces)} pieces, {self.n_tracks} tracks, "
            f"{self.audio_seconds / 60:.1f} min of audio + keypoints{' + video' if self.render_video else ''} "
            f"in {self.wall_seconds:.1f} s ({self.speed:.0f}x real time, {self.workers} workers)\n"
            f"minutes per instrument: {per}"
        )


# --------------------------------------------------------------------------------------------------------
# Planning


def _line_fits(piece: Piece, li: int, inst: instr.Instrument) -> bool:
    return piece.lines[li].span <= inst.high - inst.low


def _plays_in(piece: Piece, li: int, q0: float, q1: float) -> bool:
    """Whether line ``li`` has a note in the excerpt (a voice may rest through it: no player for it then)."""
    return any(q0 - 1e-6 <= n[0] < q1 - 1e-6 for n in piece.lines[li].notes)


def plan_corpus(
    minutes: float,
    instruments: Sequence[instr.Instrument],
    seed: int,
    track_seconds: tuple[float, float] = TRACK_SECONDS,
    pieces: Sequence[Piece] | None = None,
) -> list[PiecePlan]:
    """Deterministic plan of pieces and players covering about ``minutes`` of tracks, balanced per instrument."""
    from training.synth.performance import choose_excerpt

    if not minutes > 0:
        raise ConfigError(f"minutes must be > 0, got {minutes}")
    if not (0 < track_seconds[0] <= track_seconds[1]):
        raise ConfigError(f"track length range must be 0 < min <= max, got {track_seconds}")
    if not instruments:
        raise ConfigError("no instruments selected")
    pieces = list(pieces if pieces is not None else load_pieces())
    for inst in instruments:
        if not any(_line_fits(p, li, inst) for p in pieces for li in range(len(p.lines))):
            raise ConfigError(f"{inst.code}: no melody fits in the range {inst.low}-{inst.high}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    order = rng.permutation(len(pieces))
    target = minutes * 60.0 / len(instruments)
    got = {i.code: 0.0 for i in instruments}
    plans: list[PiecePlan] = []
    for pi in order:
        deficit = {c: target - s for c, s in got.items() if s < target}
        if not deficit:
            break
        piece = pieces[int(pi)]
        prng = np.random.default_rng(np.random.SeedSequence([int(seed), int(pi), 1]))
        lo, hi = _QPM.get(piece.source, (70.0, 110.0))
        qpm = float(piece.qpm) * float(prng.uniform(0.9, 1.1)) if piece.qpm else float(prng.uniform(lo, hi))
        q0, q1 = choose_excerpt(piece, track_seconds, qpm, prng)
        est = (q1 - q0) * 60.0 / qpm * 1.06 + 1.6
        n_max = min(len(deficit), 4 if len(piece.lines) > 1 else 2)
        n_players = int(prng.choice(np.arange(1, n_max + 1), p=_player_weights(n_max)))
        # Instruments furthest below their share first; ties in a seeded order.
        tie = {c: float(prng.random()) for c in deficit}
        # An instrument joins only if the track does not overshoot its share by much (or it has nothing yet).
        fits = [c for c in deficit if deficit[c] >= 0.5 * est or got[c] == 0.0]
        if not fits:
            fits = [max(deficit, key=lambda c: (deficit[c], tie[c]))]
        candidates = sorted(fits, key=lambda c: (-deficit[c] // max(est, 1.0), tie[c]))
        players: list[PlayerPlan] = []
        used_lines: list[int] = []
        for code in candidates:
            if len(players) >= n_players:
                break
            inst = next(i for i in instruments if i.code == code)
            lines = [
                li
                for li in range(len(piece.lines))
                if _line_fits(piece, li, inst) and li not in used_lines and _plays_in(piece, li, q0, q1)
            ]
            if not lines and len(piece.lines) == 1 and _line_fits(piece, 0, inst):
                lines = [0]  # a tune: several players may share the one line
            if not lines:
                continue
            # The voice whose register is nearest the instrument's (soprano to the flute, bass to the tuba).
            li = min(
                lines, key=lambda k: abs((piece.lines[k].low + piece.lines[k].high) / 2 % 120 - inst.center)
            )
            used_lines.append(li)
            players.append(PlayerPlan(code, li, inst.low, inst.high, int(prng.integers(-3, 4))))
        if not players:
            continue
        for p in players:
            got[p.code] += est
        plans.append(
            PiecePlan(
                len(plans), len(plans) + 1, piece.piece_id, piece.name, qpm, q0, q1, tuple(players), est
            )
        )
    short = {c: s for c, s in got.items() if s < target * 0.5}
    if short or sum(got.values()) < 0.9 * minutes * 60.0:
        have = sum(got.values()) / 60
        raise ConfigError(
            f"the bundled melodies cover only about {have:.0f} minutes for this selection "
            f"(asked for {minutes:g}); ask for fewer minutes"
        )
    return plans


def _player_weights(n_max: int) -> np.ndarray:
    w = np.array([1.0, 1.4, 1.2, 0.8][:n_max])
    return w / w.sum()


# --------------------------------------------------------------------------------------------------------
# Rendering one piece (worker)


def play_parts(
    plan: PiecePlan, seed: int, views: str = "standard", melody_file: str | None = None
) -> tuple[
    Piece, list[tuple[Any, instr.Instrument, Any, np.random.Generator]], list[np.random.Generator], float, Any
]:
    """How each player of ``plan`` plays its line, and the streams its motion draws from.

    Returns the piece, ``[(player plan, instrument, played line, the player's audio stream)]``, one motion
    stream per player, the piece's camera frame rate and the motion ranges. The audio streams come from the
    piece's own stream exactly as before performers and cameras varied; everything about the motion from a
    separate one (:func:`render_piece`, and :func:`training.synth.views.replay_players`, which films the same
    performances again, both start here so that they can never drift apart).
    """
    from training.synth.performance import LEAD_IN, piece_timing, play_line
    from training.synth.variety import VIEWS

    pieces = {p.piece_id: p for p in load_pieces(melody_file)}
    piece = pieces[plan.piece_id]
    ss = np.random.SeedSequence([int(seed), 0xC0DE, plan.index])
    rng = np.random.default_rng(ss)
    lead_in = float(rng.uniform(*LEAD_IN))
    timing = piece_timing(piece, plan.q0, plan.q1, plan.qpm, rng, lead_in)
    phrase_seed = int(rng.integers(2**31))
    child = ss.spawn(len(plan.players))
    ranges = VIEWS[views]
    # The motion's own stream: one camera frame rate per piece (one video), one child per player.
    mss = np.random.SeedSequence([int(seed), 0x4D07, plan.index])
    fps = float(np.random.default_rng(mss).choice(ranges.fps))
    motion_rngs = [np.random.default_rng(m) for m in mss.spawn(len(plan.players))]
    parts = []
    for pp, css in zip(plan.players, child, strict=False):
        prng = np.random.default_rng(css)
        inst = (
            instr.with_range(instr.get_instrument(pp.code), pp.low, pp.high)
            if (pp.low, pp.high) != (instr.INSTRUMENTS[pp.code].low, instr.INSTRUMENTS[pp.code].high)
            else instr.INSTRUMENTS[pp.code]
        )
        line = piece.lines[pp.line]
        shift = transpose_into(line, inst.low, inst.high, inst.center, pp.shift)
        played = play_line(line, inst, timing, shift, prng, phrase_seed)
        parts.append((pp, inst, played, prng))
    return piece, parts, motion_rngs, fps, ranges


def render_piece(
    plan: PiecePlan,
    out_dir: str,
    seed: int,
    soundfont: str,
    render_video: bool,
    melody_file: str | None = None,
    views: str = "standard",
) -> dict[str, Any]:
    """Render and write one piece folder (atomically); returns its manifest entry.

    The audio comes from the piece's random stream exactly as before performers and cameras varied (same
    seed, same bytes); everything about the motion (frame rate, performer, camera, tracker) is drawn from a
    separate stream, so widening the motion never changes a corpus's audio, notes or scores.
    """
    import pretty_midi

    from minet_desktop.media.midi import Note  # noqa: F401  (type of played notes)
    from training.datasets.urmp import write_urmp_piece
    from training.synth.motion import FRAME_SIZE, perform, project, track
    from training.synth.render import expressive_midi, render_part

    piece, parts, motion_rngs, fps, ranges = play_parts(plan, seed, views, melody_file)
    duration = max(p[2].duration for p in parts)
    n_samples = int(np.ceil(duration * SAMPLE_RATE))
    players = []
    score = pretty_midi.PrettyMIDI(resolution=1000, initial_tempo=60.0)  # 1 tick = 1 ms: notes stay exact
    kps, line_px, info = [], [], []
    for k, (pp, inst, played, prng) in enumerate(parts, start=1):
        midi_part = expressive_midi(
            played.notes, inst, played.expression, prng, volume=int(prng.integers(90, 111))
        )
        wave = render_part(
            midi_part, Path(soundfont), n_samples, SAMPLE_RATE, peak=float(prng.uniform(0.55, 0.9))
        )
        score.instruments.append(midi_part)
        mrng = motion_rngs[k - 1]
        pose, perf = perform(inst, played.notes, played.beat_times, duration, mrng, ranges=ranges, fps=fps)
        kp = track(pose, perf, inst, mrng)
        digest = hashlib.sha256(f"{plan.piece_id}|{pp.code}|{k}|{seed}".encode() + kp.tobytes()).hexdigest()
        kf = KeypointFile(
            keypoints=kp,
            fps=fps,
            frame_size=FRAME_SIZE,
            source_sha256=digest,
            source_name=f"synthetic {plan.folder} player {k} ({inst.name})",
            detected_fraction=float((kp[:, 2, 0] > 0).mean()),
            warnings=("synthetic performance (training.synth)",),
        )
        players.append((pp.code, wave, SAMPLE_RATE, played.notes, kf))
        kps.append(kp)
        line_px.append([project(seg, perf) for seg in pose.lines])
        pitches = [n.pitch for n in played.notes]
        info.append({
            "player": k, "instrument": pp.code, "part": piece.lines[pp.line].part, "transpose": played.transpose,
            "seconds": round(n_samples / SAMPLE_RATE, 3), "n_notes": len(played.notes),
            "pitch_min": int(min(pitches)), "pitch_max": int(max(pitches)),
            "hands_lost": [round(float((kp[:, 2, 7] == 0).mean()), 4), round(float((kp[:, 2, 27] == 0).mean()), 4)],
            "fps": fps, "view": {
                "hold": perf.hold, "seated": perf.seated, "left_handed": perf.left_handed,
                "yaw_deg": round(float(np.degrees(perf.yaw)), 1), "pitch_deg": round(float(np.degrees(perf.pitch)), 1),
                "framing": perf.framing, "tracker": perf.tracker,
            },
        })  # fmt: skip
    out = Path(out_dir)
    tmp_root = out / f".tmp-{plan.folder}"
    if tmp_root.exists():
        shutil.rmtree(tmp_root)
    try:
        folder = write_urmp_piece(
            tmp_root, plan.piece_no, plan.name, [(c, w, sr, n, None) for c, w, sr, n, _ in players]
        )
        for k, (code, _, _, _, kf) in enumerate(players, start=1):
            kf.save(folder / f"Kp_{k}_{code}_{plan.piece_no:02d}_{plan.name}.npz")
        # The score with the performance's expression (vibrato bends, CC7/CC11), same notes, one part per player.
        with atomic_path(folder / f"Sco_{folder.name}.mid") as tmp:
            score.write(str(tmp))
        if render_video:
            from training.synth.video import render_frames, write_video

            clean = []
            for kp in kps:  # draw what a camera sees: no tracker dropouts
                c = kp.copy()
                c[:, 2] = np.where(c[:, 2] > 0, 1.0, 0.0)
                clean.append(_fill_dropouts(c))
            write_video(folder / f"Vid_{folder.name}.mp4", render_frames(clean, line_px), fps)
        final = out / folder.name
        if final.exists():
            shutil.rmtree(final)
        os.replace(folder, final)
    finally:
        if tmp_root.exists():
            shutil.rmtree(tmp_root)
    return {
        "folder": plan.folder, "piece_id": plan.piece_id, "split": split_of(plan.piece_id),
        "soundfont": Path(soundfont).name, "qpm": round(plan.qpm, 2), "excerpt_quarters": [plan.q0, round(plan.q1, 4)], "players": info,
    }  # fmt: skip


def soundfont_of(plan: PiecePlan, seed: int, soundfonts: Sequence[Path]) -> Path:
    """The soundfont a piece is rendered with: the first for test pieces and when there is one, otherwise one
    drawn from the piece's own stream (apart from its audio's and its motion's, which it leaves unchanged)."""
    if len(soundfonts) == 1 or split_of(plan.piece_id) == "test":
        return soundfonts[0]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x50F7, plan.index]))
    return soundfonts[int(rng.integers(len(soundfonts)))]


def _fill_dropouts(kp: np.ndarray) -> np.ndarray:
    from minet_desktop.core.skeleton import interpolate_missing

    filled, _ = interpolate_missing(kp, 0.3)
    filled[:, 2] = 1.0
    return filled


def _worker_init() -> None:
    # One BLAS thread per process: the work is many small arrays, parallel over pieces.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


# --------------------------------------------------------------------------------------------------------
# Entry point


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    entries = [e for e in out.iterdir()]
    if not entries:
        return
    if not (out / MANIFEST).is_file() and not all(e.name.startswith(".tmp-") for e in entries):
        raise InputError(
            out, "folder is not empty and holds no synthetic corpus (synth.json); choose another --out"
        )
    # A previous synthetic corpus: replace it.
    for e in entries:
        if e.is_dir():
            shutil.rmtree(e)
        else:
            e.unlink()


def generate(
    out: str | PathLike[str],
    minutes: float,
    instruments: str | Sequence[str] | None = None,
    seed: int = 0,
    soundfont: str | PathLike[str] | Sequence[str | PathLike[str]] | None = None,
    render_video: bool = False,
    workers: int | None = None,
    *,
    track_seconds: tuple[float, float] = TRACK_SECONDS,
    progress: Callable[[int, int], None] | None = None,
    views: str = "standard",
    exclude: str | PathLike[str] | Sequence[str | PathLike[str]] | None = None,
) -> SynthSummary:
    """Write a synthetic corpus of about ``minutes`` of tracks (summed over players) to ``out``.

    Parameters
    ----------
    out
        Output folder: new, empty, or a previous synthetic corpus (replaced).
    minutes
        Total track minutes, shared equally by the instruments.
    instruments
        ``"vn,fl,..."`` or a list of codes (``code:low-high`` narrows a range); all 13 when None.
    seed
        Everything is a function of the seed (and the soundfont): same seed, same bytes, any ``workers``.
    soundfont
        A General MIDI .sf2 (FluidR3_GM when None), or several: each training and validation piece is then
        rendered with one of them, drawn from the seed (:func:`soundfont_of`), and every test piece with the
        first, so that the test split stays comparable across releases. A piece's drawn soundfont never
        changes its notes, expression or motion, and a piece drawn the first soundfont has the same bytes as
        in a corpus rendered with that soundfont alone.
    render_video
        Also write ``Vid_<piece>.mp4``: every player drawn in a 224x224 tile, left to right in player order.
    workers
        Processes (default: all cores).
    track_seconds
        Length range of one excerpt.
    views
        Performer, camera and tracker ranges (:data:`training.synth.variety.VIEWS`): "standard" for training,
        "hard" for the hard-views benchmark.
    exclude
        Another corpus folder (its ``synth.json``), or several: none of their pieces of music is used here, so
        a benchmark shares no melody with the corpus the models were trained on (nor with another benchmark).

    Raises
    ------
    ConfigError
        Unknown instrument code, impossible range, bad minutes / lengths.
    InputError
        Missing or non-GM soundfont; an output folder holding something else.
    """
    from training.synth.variety import VIEWS

    t0 = time.perf_counter()
    if views not in VIEWS:
        raise ConfigError(f"unknown views {views!r} (known: {', '.join(VIEWS)})")
    insts = instr.parse_instruments(instruments)
    given = [soundfont] if soundfont is None or isinstance(soundfont, (str, PathLike)) else list(soundfont)
    if not given:
        raise ConfigError("no soundfont given")
    sf2s = [check_soundfont(s, [i.program for i in insts]) for s in given]
    if len({p.resolve() for p in sf2s}) != len(sf2s):
        raise ConfigError("the same soundfont is given twice")
    sf2 = sf2s[0]
    pieces = None
    excluded: list[str] = []
    if exclude is not None:
        folders = [exclude] if isinstance(exclude, (str, PathLike)) else list(exclude)
        ids: set[str] = set()
        for folder in folders:
            other = Path(folder) / MANIFEST
            if not other.is_file():
                raise InputError(other, "not found: --exclude takes a synthetic corpus folder")
            try:
                ids |= {p["piece_id"] for p in json.loads(other.read_text())["pieces"]}
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(other, f"not a synthetic corpus manifest ({exc})") from None
        excluded = sorted(ids)
        pieces = [p for p in load_pieces() if p.piece_id not in ids]
    plans = plan_corpus(minutes, insts, seed, tuple(track_seconds), pieces)
    out_dir = Path(out)
    _prepare_out(out_dir)
    n_workers = max(1, int(workers if workers is not None else (os.cpu_count() or 1)))
    n_workers = min(n_workers, len(plans))
    results: dict[int, dict[str, Any]] = {}
    args = [
        (p, str(out_dir), int(seed), str(soundfont_of(p, seed, sf2s)), bool(render_video), None, views)
        for p in plans
    ]
    if n_workers == 1:
        for i, a in enumerate(args):
            results[i] = render_piece(*a)
            if progress:
                progress(i + 1, len(args))
    else:
        import multiprocessing as mp

        ctx = mp.get_context("spawn" if os.name == "nt" else "forkserver")
        with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_worker_init) as pool:
            futures = {pool.submit(render_piece, *a): i for i, a in enumerate(args)}
            from concurrent.futures import as_completed

            for done, fut in enumerate(as_completed(futures), start=1):
                results[futures[fut]] = fut.result()
                if progress:
                    progress(done, len(args))
    pieces = [results[i] for i in range(len(plans))]
    manifest = {
        "format": FORMAT,
        "generator": "training.synth",
        "seed": int(seed),
        "minutes": float(minutes),
        "instruments": [{"code": i.code, "low": i.low, "high": i.high} for i in insts],
        "soundfont": sf2.name,
        "soundfonts": [p.name for p in sf2s],
        "sample_rate": SAMPLE_RATE,
        "track_seconds": list(track_seconds),
        "render_video": bool(render_video),
        "views": views,
        "excluded_pieces": len(excluded),
        "pieces": pieces,
    }
    atomic_write_text(out_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return SynthSummary(out_dir, pieces, time.perf_counter() - t0, bool(render_video), n_workers)
