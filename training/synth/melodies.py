"""Real monophonic melody lines from music21's bundled corpus.

Sources (all shipped inside the music21 package, so nothing is downloaded):

* ``bach``: the four-part chorales; every voice (soprano, alto, tenor, bass) is a line, and one chorale
  becomes one ensemble piece with up to four players;
* ``ryansMammoth``: fiddle tunes (reels, jigs, hornpipes, airs) from Ryan's Mammoth Collection (1883).

Parsing music21 files costs ~0.1 s each, so the extracted lines are stored once in
``training/synth/data/melodies.json`` (rebuilt by ``python -m training.synth.melodies``); generation only reads
that file. A line is a list of ``[onset_quarters, duration_quarters, midi_pitch, fermata]``; rests are the gaps.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from minet_desktop.core.atomic import atomic_write_text
from minet_desktop.core.errors import ConfigError, InputError

BUNDLED = Path(__file__).with_name("data") / "melodies.json"
#: How many pieces of each source the bundled file holds.
DEFAULT_COUNTS = {"bach": 130, "ryansMammoth": 220}
#: Lines shorter than this many notes are dropped (fragments, pickups).
MIN_NOTES = 12


@dataclass(frozen=True)
class Line:
    """One monophonic part: ``notes`` are ``(onset_q, duration_q, pitch, fermata)`` in quarter notes."""

    part: str
    notes: tuple[tuple[float, float, int, int], ...]

    @property
    def low(self) -> int:
        return min(n[2] for n in self.notes)

    @property
    def high(self) -> int:
        return max(n[2] for n in self.notes)

    @property
    def span(self) -> int:
        return self.high - self.low

    @property
    def length_q(self) -> float:
        return max(n[0] + n[1] for n in self.notes)


@dataclass(frozen=True)
class Piece:
    """A music21 work: its id (``source/file``), a URMP-safe name (letters and digits) and its lines."""

    piece_id: str
    source: str
    name: str
    qpm: float | None
    beats_per_bar: float
    lines: tuple[Line, ...]


def safe_name(text: str) -> str:
    """Letters and digits only, CamelCase, at most 24 characters (URMP names have no underscores)."""
    words = re.split(r"[^A-Za-z0-9]+", text)
    name = "".join(w[:1].upper() + w[1:] for w in words if w)
    return name[:24] or "Piece"


def split_of(piece_id: str, val_fraction: float = 0.1, test_fraction: float = 0.1) -> str:
    """Deterministic train/val/test assignment of a piece from a hash of its id (stable across corpora)."""
    h = int.from_bytes(hashlib.sha256(piece_id.encode()).digest()[:8], "big") / 2**64
    return "test" if h < test_fraction else "val" if h < test_fraction + val_fraction else "train"


# --------------------------------------------------------------------------------------------------------
# Extraction from music21 (build time)


def _extract(path: Path, source: str) -> dict | None:
    from music21 import chord, converter, expressions, meter, note, tempo

    score = converter.parse(str(path))
    qpm = None
    marks = list(score.recurse().getElementsByClass(tempo.MetronomeMark))
    if marks and marks[0].number:
        qpm = float(marks[0].getQuarterBPM() or marks[0].number)
    ts = list(score.recurse().getElementsByClass(meter.TimeSignature))
    beats = float(ts[0].barDuration.quarterLength) if ts else 4.0
    lines = []
    for pi, part in enumerate(score.parts):
        flat = part.stripTies().flatten()
        notes = []
        for el in flat.notesAndRests:
            if isinstance(el, note.Rest):
                continue
            if isinstance(el, chord.Chord):
                pitch = max(p.midi for p in el.pitches)
            elif isinstance(el, note.Note):
                pitch = el.pitch.midi
            else:
                continue
            dur = float(el.quarterLength)
            if dur <= 0:  # grace notes
                continue
            ferm = int(any(isinstance(e, expressions.Fermata) for e in el.expressions))
            notes.append([round(float(el.offset), 4), round(dur, 4), int(pitch), ferm])
        # Monophonic: drop notes starting before the previous one ends (rare overlaps in the sources).
        mono = []
        for n in sorted(notes):
            if mono and n[0] < mono[-1][0] + mono[-1][1] - 1e-6:
                mono[-1][1] = round(n[0] - mono[-1][0], 4)
                if mono[-1][1] <= 0:
                    mono.pop()
            mono.append(n)
        if len(mono) >= MIN_NOTES:
            name = part.partName or part.id or f"part{pi + 1}"
            lines.append({"part": str(name), "notes": mono})
    if not lines:
        return None
    title = path.stem if source == "bach" else path.stem
    return {
        "id": f"{source}/{path.stem}",
        "source": source,
        "name": safe_name(("Bwv" + path.stem[3:]) if source == "bach" else title),
        "qpm": qpm,
        "beats_per_bar": beats,
        "lines": lines,
    }


def build(counts: dict[str, int] | None = None, out: Path = BUNDLED, verbose: bool = True) -> Path:
    """Parse the first ``counts[source]`` pieces (sorted by path) of each source and write the JSON file."""
    from music21 import corpus

    counts = counts or DEFAULT_COUNTS
    pieces = []
    t0 = time.perf_counter()
    for source, n in counts.items():
        paths = sorted(corpus.getComposer(source), key=str)
        got = 0
        for p in paths:
            if got >= n:
                break
            try:
                entry = _extract(Path(p), source)
            except Exception as exc:  # noqa: BLE001 - a few corpus files do not parse; skip them
                if verbose:
                    print(f"skip {p.name}: {exc}", file=sys.stderr)
                continue
            if entry is not None:
                pieces.append(entry)
                got += 1
    # Names must be unique in a corpus: suffix duplicates.
    seen: dict[str, int] = {}
    for e in pieces:
        k = seen.get(e["name"], 0)
        seen[e["name"]] = k + 1
        if k:
            e["name"] = f"{e['name'][:21]}V{k + 1}"
    text = json.dumps({"format": 1, "pieces": pieces}, separators=(",", ":"))
    atomic_write_text(out, text)
    if verbose:
        print(f"{len(pieces)} pieces, {out.stat().st_size / 1e3:.0f} kB in {time.perf_counter() - t0:.1f} s")
    return out


# --------------------------------------------------------------------------------------------------------
# Loading


@lru_cache(maxsize=4)
def load_pieces(path: str | None = None) -> tuple[Piece, ...]:
    """The bundled pieces (or those of another file written by :func:`build`)."""
    p = Path(path) if path is not None else BUNDLED
    if not p.is_file():
        raise InputError(p, "melody file not found (rebuild it with: python -m training.synth.melodies)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        pieces = tuple(
            Piece(
                piece_id=e["id"],
                source=e["source"],
                name=e["name"],
                qpm=e["qpm"],
                beats_per_bar=float(e["beats_per_bar"]),
                lines=tuple(
                    Line(
                        str(ln["part"]),
                        tuple((float(a), float(b), int(c), int(d)) for a, b, c, d in ln["notes"]),
                    )
                    for ln in e["lines"]
                ),
            )
            for e in data["pieces"]
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(p, f"not a melody file ({type(exc).__name__}: {exc})") from None
    if not pieces:
        raise InputError(p, "no pieces")
    return pieces


def transpose_into(line: Line, low: int, high: int, center: float, shift: int = 0) -> int:
    """Semitones to add to ``line`` so that it lies inside ``low..high``, closest to ``center``.

    ``shift`` (a small key change) is tried first around; any octave is allowed.

    Raises
    ------
    ConfigError
        The line spans more than the range: no transposition fits.
    """
    if line.span > high - low:
        raise ConfigError(
            f"melody {line.part!r} spans {line.span} semitones, more than the range {low}-{high} ({high - low})"
        )
    mid = (line.low + line.high) / 2
    best = None
    for t in range(low - line.low, high - line.high + 1):
        score = abs(mid + t - center) + 0.7 * abs(((t - shift) % 12 + 6) % 12 - 6)
        if best is None or score < best[0]:
            best = (score, t)
    assert best is not None
    return best[1]


if __name__ == "__main__":  # pragma: no cover - build step
    build()
