"""The instruments MI Net knows: one list, read by the app's menus, the CLI, the datasets and the evaluation.

The 13 URMP instruments (code, name) in URMP's own order; Solos has the same 13 categories. Codes are what
files, caches and the command line use (``generate --instrument va``); names are what a user reads.
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
INSTRUMENT_NAMES: dict[str, str] = dict(INSTRUMENTS)


def instrument_name(code: str) -> str:
    """The instrument's name (``"va"`` -> ``"viola"``); an unknown code is returned as it is."""
    return INSTRUMENT_NAMES.get(code, code)
