"""The 13 URMP instruments as the synthesiser sees them: GM program, playable range, expression, posture.

Ranges are concert (sounding) MIDI pitches of what a good amateur plays comfortably, not the extreme
professional range: melodies are transposed into them, and the motion model maps pitch to hand positions,
fingerings, valve combinations and slide positions using the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from minet_desktop.core.errors import ConfigError
from minet_desktop.core.instruments import RANGES
from training.datasets.base import GM_PROGRAMS, INSTRUMENT_CODES, INSTRUMENT_NAMES

#: Narrowest range a melody line can be fitted into (an octave and a fourth: most lines span less).
MIN_RANGE_SPAN = 17


@dataclass(frozen=True)
class Instrument:
    """One instrument of the synthesiser.

    Attributes
    ----------
    code, name
        URMP code and English name.
    program
        General MIDI program (0-based) rendered by FluidSynth.
    low, high
        Playable range, MIDI pitches (inclusive).
    family
        "bowed", "flute", "reed" (single/double reed woodwinds) or "brass": decides how notes drive the hands.
    vibrato
        Whether players of it use vibrato (depth in cents when they do).
    vibrato_cents
        Peak vibrato depth.
    seated
        Usually played sitting (cello, bassoon, horn, tuba); who sits and how the instrument is held is drawn
        per performance (``training.synth.variety``), and the camera frames what the player does.
    open_strings
        Bowed strings: open-string pitches, low to high.
    partials
        Brass: open (no valve, first slide position) harmonic pitches.
    hand_loss
        Fraction of frames in which a tracker loses (right, left) hand: higher where a hand is hidden
        (the horn player's right hand in the bell) or small in the frame.
    """

    code: str
    name: str
    program: int
    low: int
    high: int
    family: str
    vibrato: bool
    vibrato_cents: float
    seated: bool
    open_strings: tuple[int, ...] = ()
    partials: tuple[int, ...] = ()
    hand_loss: tuple[float, float] = (0.04, 0.04)

    @property
    def center(self) -> float:
        """Comfortable middle of the range (a bit below the arithmetic middle: the top is strenuous)."""
        return self.low + 0.45 * (self.high - self.low)


# Brass partials (concert pitch, sounding): Bb trumpet (Bb3 F4 Bb4 D5 F5 Ab5 Bb5 C6), F horn, Bb tenor
# trombone and BBb tuba. The 7th partial is flat and avoided by players, so it is left out.
_TPT = (58, 65, 70, 74, 77, 82, 84)
_HN = (41, 48, 53, 57, 60, 65, 67, 69, 72, 74, 77)
_TBN = (46, 53, 58, 62, 65, 70, 72)
_TBA = (34, 41, 46, 50, 53, 58, 62)

_TABLE: tuple[Instrument, ...] = (
    Instrument("vn", "violin", 40, *RANGES["vn"], "bowed", True, 22, False, open_strings=(55, 62, 69, 76),
               hand_loss=(0.04, 0.05)),
    Instrument("va", "viola", 41, *RANGES["va"], "bowed", True, 20, False, open_strings=(48, 55, 62, 69),
               hand_loss=(0.04, 0.05)),
    Instrument("vc", "cello", 42, *RANGES["vc"], "bowed", True, 20, True, open_strings=(36, 43, 50, 57),
               hand_loss=(0.05, 0.04)),
    Instrument("db", "double bass", 43, *RANGES["db"], "bowed", True, 15, False, open_strings=(28, 33, 38, 43),
               hand_loss=(0.07, 0.04)),
    Instrument("fl", "flute", 73, *RANGES["fl"], "flute", True, 15, False, hand_loss=(0.04, 0.05)),
    Instrument("ob", "oboe", 68, *RANGES["ob"], "reed", True, 12, False, hand_loss=(0.03, 0.03)),
    Instrument("cl", "clarinet", 71, *RANGES["cl"], "reed", False, 0, False, hand_loss=(0.03, 0.03)),
    Instrument("sax", "saxophone", 65, *RANGES["sax"], "reed", True, 18, False, hand_loss=(0.04, 0.03)),
    Instrument("bn", "bassoon", 70, *RANGES["bn"], "reed", True, 10, True, hand_loss=(0.05, 0.04)),
    Instrument("tpt", "trumpet", 56, *RANGES["tpt"], "brass", True, 8, False, partials=_TPT, hand_loss=(0.03, 0.04)),
    Instrument("hn", "horn", 60, *RANGES["hn"], "brass", False, 0, True, partials=_HN, hand_loss=(0.25, 0.04)),
    Instrument("tbn", "trombone", 57, *RANGES["tbn"], "brass", False, 0, False, partials=_TBN, hand_loss=(0.04, 0.05)),
    Instrument("tba", "tuba", 58, *RANGES["tba"], "brass", False, 0, True, partials=_TBA, hand_loss=(0.04, 0.06)),
)  # fmt: skip

INSTRUMENTS: dict[str, Instrument] = {i.code: i for i in _TABLE}
assert tuple(INSTRUMENTS) == INSTRUMENT_CODES
assert all(
    INSTRUMENTS[c].program == GM_PROGRAMS[c] and INSTRUMENTS[c].name == INSTRUMENT_NAMES[c]
    for c in INSTRUMENTS
)


def get_instrument(code: str) -> Instrument:
    """The instrument with URMP code ``code``; ConfigError naming the known codes otherwise."""
    try:
        return INSTRUMENTS[code]
    except KeyError:
        raise ConfigError(
            f"unknown instrument code {code!r} (known: {', '.join(INSTRUMENT_CODES)})"
        ) from None


def with_range(inst: Instrument, low: int, high: int) -> Instrument:
    """``inst`` restricted to ``low..high`` (MIDI); ConfigError if that is not a usable part of its range."""
    if not (0 <= low <= 127 and 0 <= high <= 127):
        raise ConfigError(f"{inst.code}: range {low}-{high} is not made of MIDI pitches 0-127")
    if low > high:
        raise ConfigError(f"{inst.code}: range {low}-{high} is empty (low above high)")
    if low < inst.low or high > inst.high:
        raise ConfigError(
            f"{inst.code}: range {low}-{high} is outside what a {inst.name} plays ({inst.low}-{inst.high})"
        )
    if high - low < MIN_RANGE_SPAN:
        raise ConfigError(
            f"{inst.code}: range {low}-{high} spans {high - low} semitones; melodies need at least {MIN_RANGE_SPAN}"
        )
    return replace(inst, low=low, high=high)


def parse_instruments(spec: str | Iterable[str] | None) -> tuple[Instrument, ...]:
    """Instruments from ``"vn,fl,tpt"`` (all 13 when None or empty); ``code:low-high`` narrows a range.

    Raises
    ------
    ConfigError
        Unknown code, a malformed or impossible range, or an instrument listed twice.
    """
    if spec is None:
        return _TABLE
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    items = [s for s in items if s]
    if not items:
        return _TABLE
    out: list[Instrument] = []
    for item in items:
        code, _, rng = item.partition(":")
        inst = get_instrument(code.strip())
        if rng:
            lo, sep, hi = rng.partition("-")
            try:
                if not sep:
                    raise ValueError
                inst = with_range(inst, int(lo), int(hi))
            except ValueError:
                raise ConfigError(
                    f"{item!r}: a range is written code:low-high in MIDI pitches, e.g. vn:55-84"
                ) from None
        if any(o.code == inst.code for o in out):
            raise ConfigError(f"instrument {inst.code!r} is listed twice")
        out.append(inst)
    return tuple(out)
