"""Audio of a played part: an expressive MIDI performance rendered by FluidSynth with a GM soundfont.

The notes themselves (timing, velocity, articulation) come from :mod:`training.synth.performance`; here they
get what makes a sustained instrument sound played rather than sequenced:

* vibrato as pitch-bend, delayed after each onset and faded in, with a per-player rate and depth, only on
  instruments whose players use it;
* a CC11 (expression) curve: the phrase dynamics plus a swell on long notes (messa di voce);
* a CC7 (volume) per player.

Every note is separate in the MIDI data (no overlap: the Notes file stays monophonic); legato comes from note
ends touching the next onset, which FluidSynth's release envelopes connect.

A fresh FluidSynth instance renders each part (loading FluidR3_GM takes ~0.1 s) so no reverb tail or
controller state leaks from one part into the next: the same part renders to the same samples in any worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from minet_desktop.core.errors import InputError
from minet_desktop.media.midi import DEFAULT_SOUNDFONT, Note, render_instrument

if TYPE_CHECKING:
    import pretty_midi

    from training.synth.instruments import Instrument

SAMPLE_RATE = 16000
#: Pitch-bend resolution of the vibrato curve.
CONTROL_RATE = 50.0
#: GM default pitch-bend range (+-2 semitones) in cents.
BEND_RANGE_CENTS = 200.0


def check_soundfont(soundfont: str | PathLike[str] | None, programs: Sequence[int] = ()) -> Path:
    """The soundfont path, after checking it is a SoundFont 2 with a GM (bank 0) preset for each program.

    Raises
    ------
    InputError
        Missing file, not a RIFF ``sfbk`` file, FluidSynth cannot load it, or a program has no preset
        (not a General MIDI soundfont).
    """
    sf2 = Path(soundfont) if soundfont is not None else DEFAULT_SOUNDFONT
    if not sf2.is_file():
        hint = " (install fluid-soundfont-gm or pass --soundfont FILE.sf2)" if soundfont is None else ""
        raise InputError(
            sf2, "soundfont not found" + hint if sf2.exists() is False else "is a folder, not a soundfont"
        )
    with open(sf2, "rb") as fh:
        head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise InputError(sf2, "not a SoundFont 2 (.sf2) file (no RIFF 'sfbk' header)")
    if programs:
        import fluidsynth

        synth = fluidsynth.Synth(samplerate=float(SAMPLE_RATE))
        try:
            sfid = synth.sfload(str(sf2))
            if sfid < 0:
                raise InputError(sf2, "FluidSynth cannot load this soundfont (damaged file?)")
            missing = [p for p in sorted(set(programs)) if not synth.sfpreset_name(sfid, 0, int(p))]
        finally:
            synth.delete()
        if missing:
            raise InputError(
                sf2,
                "not a General MIDI soundfont: no bank-0 preset for program(s) "
                + ", ".join(str(p) for p in missing),
            )
    return sf2


def vibrato_bends(
    notes: Sequence[Note], inst: Instrument, rng: np.random.Generator, depth_scale: float = 1.0
) -> list[tuple[float, int]]:
    """(time, pitch-bend value) events: delayed, faded-in vibrato on notes longer than 0.25 s; 0 at onsets."""
    events: list[tuple[float, int]] = []
    if not inst.vibrato or inst.vibrato_cents <= 0:
        return events
    rate = float(rng.uniform(4.8, 6.4))
    for n in notes:
        events.append((n.onset, 0))
        dur = n.duration
        if dur < 0.25:
            continue
        delay = float(rng.uniform(0.12, 0.28))
        depth = inst.vibrato_cents * depth_scale * float(rng.uniform(0.6, 1.2))
        phase = float(rng.uniform(0, 2 * np.pi))
        r = rate * float(rng.uniform(0.95, 1.05))
        t = np.arange(n.onset + delay, n.offset, 1.0 / CONTROL_RATE)
        if t.size == 0:
            continue
        fade = np.clip((t - n.onset - delay) / 0.3, 0.0, 1.0)
        cents = depth * fade * np.sin(2 * np.pi * r * (t - n.onset) + phase)
        vals = np.round(cents / BEND_RANGE_CENTS * 8191).astype(int)
        events.extend((float(a), int(b)) for a, b in zip(t, vals, strict=False))
    return events


def expressive_midi(
    notes: Sequence[Note],
    inst: Instrument,
    expression: np.ndarray,
    rng: np.random.Generator,
    volume: int = 100,
) -> pretty_midi.Instrument:
    """A pretty_midi Instrument with notes, vibrato bends and CC7/CC11 curves.

    Parameters
    ----------
    expression
        ``(K, 2)`` rows (time_s, CC11 value 0-127).
    """
    import pretty_midi

    part = pretty_midi.Instrument(program=inst.program, name=inst.name)
    part.notes = [
        pretty_midi.Note(int(n.velocity), int(n.pitch), float(n.onset), float(n.offset)) for n in notes
    ]
    part.control_changes.append(pretty_midi.ControlChange(7, int(volume), 0.0))
    last = -1
    for t, v in expression:
        v = int(np.clip(round(float(v)), 0, 127))
        if v != last:
            part.control_changes.append(pretty_midi.ControlChange(11, v, float(t)))
            last = v
    for t, b in vibrato_bends(notes, inst, rng):
        part.pitch_bends.append(pretty_midi.PitchBend(int(np.clip(b, -8192, 8191)), float(t)))
    return part


def render_part(
    part: pretty_midi.Instrument,
    soundfont: Path,
    n_samples: int,
    sample_rate: int = SAMPLE_RATE,
    peak: float = 0.8,
) -> np.ndarray:
    """Render one expressive part with a fresh FluidSynth; ``(n_samples,)`` float32 scaled to ``peak``."""
    return render_instrument(part, sample_rate, soundfont, length=n_samples, peak=peak)
