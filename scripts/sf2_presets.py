"""Which samples each General MIDI preset of a SoundFont plays (a minimal reader of the sf2 RIFF structure).

    python scripts/sf2_presets.py /usr/share/sounds/sf2/sf_GMbank.sf2 [MORE.sf2 ...]

For the 13 instruments of the corpus (and the soprano and tenor saxophones), prints the bank-0 preset's name and
the samples its instrument zones point at. Written for the instrument judge's leave-one-soundfont-out fold on
the Csound GM bank (docs/results/soundfonts.md): in that bank the viola preset plays the violin's eight samples,
and the contrabass shares a cello sample, so those instruments differ there only by register.
"""

from __future__ import annotations

import argparse
import struct
from collections.abc import Iterator
from pathlib import Path

#: General MIDI programs (0-based) of the corpus' instruments.
PROGRAMS = {
    40: "violin",
    41: "viola",
    42: "cello",
    43: "double bass",
    56: "trumpet",
    57: "trombone",
    58: "tuba",
    60: "horn",
    64: "soprano saxophone",
    65: "alto saxophone",
    66: "tenor saxophone",
    68: "oboe",
    70: "bassoon",
    71: "clarinet",
    73: "flute",
}
GEN_INSTRUMENT, GEN_SAMPLE_ID = 41, 53  # sf2 generator operators


def _chunks(data: bytes, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    while start + 8 <= end:
        cid = data[start : start + 4].decode("latin1")
        size = struct.unpack("<I", data[start + 4 : start + 8])[0]
        yield cid, start + 8, size
        start += 8 + size + (size & 1)


def _name(raw: bytes) -> str:
    return raw.split(b"\0")[0].decode("latin1")


def preset_samples(path: Path) -> dict[int, tuple[str, list[str]]]:
    """Bank-0 presets: program -> (preset name, sorted sample names of its instruments' zones)."""
    data = path.read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise SystemExit(f"error: {path}: not a SoundFont 2 file")
    pdta: dict[str, bytes] = {}
    for cid, off, size in _chunks(data, 12, len(data)):
        if cid == "LIST" and data[off : off + 4] == b"pdta":
            for c2, o2, s2 in _chunks(data, off + 4, off + size):
                pdta[c2] = data[o2 : o2 + s2]

    def records(name: str, fmt: str) -> list[tuple]:  # type: ignore[type-arg]
        n = struct.calcsize(fmt)
        raw = pdta[name]
        return [struct.unpack(fmt, raw[i : i + n]) for i in range(0, len(raw) - n + 1, n)]

    phdr, pbag, pgen = records("phdr", "<20sHHHIII"), records("pbag", "<HH"), records("pgen", "<HH")
    inst, ibag, igen = records("inst", "<20sH"), records("ibag", "<HH"), records("igen", "<HH")
    shdr = records("shdr", "<20sIIIIIBbHH")
    out: dict[int, tuple[str, list[str]]] = {}
    for i, p in enumerate(phdr[:-1]):
        if p[2] != 0:  # bank
            continue
        insts = {
            pgen[g][1]
            for b in range(p[3], phdr[i + 1][3])
            for g in range(pbag[b][0], pbag[b + 1][0])
            if pgen[g][0] == GEN_INSTRUMENT
        }
        samples = {
            _name(shdr[igen[g][1]][0])
            for k in insts
            for b in range(inst[k][1], inst[k + 1][1])
            for g in range(ibag[b][0], ibag[b + 1][0])
            if igen[g][0] == GEN_SAMPLE_ID
        }
        out[p[1]] = (_name(p[0]), sorted(samples))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("soundfont", nargs="+", type=Path)
    args = ap.parse_args()
    for path in args.soundfont:
        presets = preset_samples(path)
        print(path)
        seen: dict[tuple[str, ...], str] = {}
        for prog, what in PROGRAMS.items():
            name, samples = presets.get(prog, ("(none)", []))
            shared = seen.get(tuple(samples))
            note = f"  (the same samples as {shared})" if shared and samples else ""
            seen.setdefault(tuple(samples), what)
            print(
                f"  {prog:3d} {what:18s} {name:20s} {len(samples):3d} samples: {', '.join(samples[:4])}{note}"
            )


if __name__ == "__main__":
    main()
