"""The instruments MI Net knows: one list, read by the app's menus, the CLI, the datasets and the evaluation.

The 13 URMP instruments (code, name) in URMP's own order; Solos has the same 13 categories. Codes are what
files, caches and the command line use (``generate --instrument va``); names are what a user reads. Each has
the range a good amateur plays comfortably (concert pitch): the synthesiser fits its melodies into it, and an
instrument override of a MIDI-conditioned model moves the score into it by whole octaves.
"""

from __future__ import annotations

INSTRUMENTS: tuple[tuple[str, str], ...] = (
    ("vn", "violin"),
    ("va", "viola"),
    ("vc", "cello"),
    ("db", "double bass"),
    ("fl", "flute"),
    ("ob", "oboe"),
    ("cl", "clarinet"),
    ("sax", "saxophone"),
    ("bn", "bassoon"),
    ("tpt", "trumpet"),
    ("hn", "horn"),
    ("tbn", "trombone"),
    ("tba", "tuba"),
)
INSTRUMENT_CODES: tuple[str, ...] = tuple(code for code, _ in INSTRUMENTS)
#: Comfortable range per instrument, (lowest, highest) sounding MIDI pitch, inclusive.
RANGES: dict[str, tuple[int, int]] = {
    "vn": (55, 88),
    "va": (48, 81),
    "vc": (36, 74),
    "db": (28, 62),
    "fl": (60, 93),
    "ob": (58, 89),
    "cl": (50, 89),
    "sax": (49, 81),
    "bn": (34, 72),
    "tpt": (54, 82),
    "hn": (41, 77),
    "tbn": (40, 72),
    "tba": (28, 58),
}
INSTRUMENT_NAMES: dict[str, str] = dict(INSTRUMENTS)


def instrument_name(code: str) -> str:
    """The instrument's name (``"va"`` -> ``"viola"``); an unknown code is returned as it is."""
    return INSTRUMENT_NAMES.get(code, code)


def octave_shift(pitches: list[int], code: str) -> int:
    """Whole octaves (e.g. -2) that move ``pitches`` into instrument ``code``'s range: the shift leaving the
    fewest semitones outside it, the smallest such shift on a tie (0 when they fit, or for an unknown code)."""
    if code not in RANGES or not pitches:
        return 0
    low, high = RANGES[code]

    def outside(k: int) -> int:
        return sum(max(0, low - (p + 12 * k)) + max(0, p + 12 * k - high) for p in pitches)

    lo, hi = min(pitches), max(pitches)
    shifts = [k for k in range(-5, 6) if 0 <= lo + 12 * k and hi + 12 * k <= 127]  # still MIDI pitches
    return min(shifts or [0], key=lambda k: (outside(k), abs(k)))
