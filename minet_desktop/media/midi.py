"""Notes: MIDI files, URMP ``Notes_*.txt`` files, frame-aligned note sequences and FluidSynth rendering.

A :class:`Note` is one sounding note in seconds. MIDI files are read with pretty_midi with every non-drum track
merged (a solo part spread over several tracks, or a score with one track per hand, still gives one note list).
:func:`notes_to_index_sequence` turns notes into the per-frame class sequence the prior and the baselines are
trained on: one MIDI pitch per spectrogram frame, the highest where notes overlap (the melody of a solo
instrument's double stops), with the number of polyphonic frames returned so callers can report how much was
dropped.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from minet_desktop.core.atomic import atomic_path, atomic_write_text
from minet_desktop.core.errors import InputError
from minet_desktop.core.validation import MAX_PERFORMANCE_S, describe_seconds, require_file

if TYPE_CHECKING:
    import pretty_midi

# General MIDI soundfont of Debian/Ubuntu's fluid-soundfont-gm package (apt-get install fluid-soundfont-gm).
DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")

# URMP Notes files carry no loudness; a MIDI mezzo-forte.
DEFAULT_VELOCITY = 100

N_PITCHES = 128


@dataclass(frozen=True)
class Note:
    """One note.

    Attributes
    ----------
    onset, offset
        Seconds from the start of the piece; ``offset >= onset``.
    pitch
        MIDI note number 0-127 (60 = middle C, 69 = A4 = 440 Hz).
    velocity
        MIDI velocity 0-127.
    """

    onset: float
    offset: float
    pitch: int
    velocity: int = DEFAULT_VELOCITY

    def __post_init__(self) -> None:
        if not (math.isfinite(self.onset) and math.isfinite(self.offset)) or self.onset < 0:
            raise ValueError(f"Note: need finite times with onset >= 0, got {self.onset}, {self.offset}")
        if self.offset < self.onset:
            raise ValueError(f"Note: offset {self.offset} before onset {self.onset}")
        if not 0 <= self.pitch < N_PITCHES or not 0 <= self.velocity < N_PITCHES:
            raise ValueError(f"Note: pitch and velocity must be in 0..127, got {self.pitch}, {self.velocity}")

    @property
    def duration(self) -> float:
        return self.offset - self.onset


def _sorted(notes: Iterable[Note]) -> list[Note]:
    return sorted(notes, key=lambda n: (n.onset, n.pitch, n.offset, n.velocity))


def hz_to_midi(hz: float) -> int:
    """Nearest MIDI note number of a frequency (440 Hz -> 69)."""
    return int(round(69.0 + 12.0 * math.log2(hz / 440.0)))


def midi_to_hz(pitch: int) -> float:
    """Equal-tempered frequency of a MIDI note number (69 -> 440 Hz)."""
    return 440.0 * 2.0 ** ((pitch - 69) / 12.0)


# --------------------------------------------------------------------------------------------------------
# MIDI files


def read_midi_notes(path: str | PathLike[str]) -> list[Note]:
    """All notes of the non-drum tracks of a MIDI file, merged and sorted by onset.

    Raises
    ------
    InputError
        The file is missing, does not parse as MIDI, or has no (non-drum) notes.
    """
    import pretty_midi

    p = require_file(path, "a MIDI file")
    try:
        with warnings.catch_warnings():
            # pretty_midi warns about odd-but-valid files (tempo/key events on non-zero tracks); not the user's problem.
            warnings.simplefilter("ignore")
            pm = pretty_midi.PrettyMIDI(str(p))
    except Exception as exc:  # mido/pretty_midi raise OSError, EOFError, KeyError, ValueError... on bad bytes
        raise InputError(p, f"not a readable MIDI file ({type(exc).__name__}: {exc})") from exc
    try:
        notes = [
            Note(float(n.start), max(float(n.end), float(n.start)), int(n.pitch), int(n.velocity))
            for inst in pm.instruments
            if not inst.is_drum
            for n in inst.notes
        ]
    except ValueError as exc:  # a note with a time or pitch no MIDI file should hold
        raise InputError(p, f"not a usable MIDI file ({exc})") from None
    if not notes:
        only_drums = any(inst.notes for inst in pm.instruments)
        raise InputError(p, "no notes (only drum tracks)" if only_drums else "no notes")
    end = max(n.offset for n in notes)
    if end > MAX_PERFORMANCE_S:
        raise InputError(
            p, f"its notes last {describe_seconds(end)}, more than {describe_seconds(MAX_PERFORMANCE_S)}"
        )
    return _sorted(notes)


def _pretty_midi_of(notes: Sequence[Note], program: int) -> pretty_midi.PrettyMIDI:
    import pretty_midi

    if not 0 <= program < N_PITCHES:
        raise ValueError(f"MIDI program must be in 0..127, got {program}")
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=program)
    inst.notes = [
        pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=n.onset, end=n.offset)
        for n in _sorted(notes)
    ]
    pm.instruments.append(inst)
    return pm


def write_midi(path: str | PathLike[str], notes: Sequence[Note], program: int = 0) -> Path:
    """Write notes as a one-track MIDI file (atomically) with General MIDI ``program`` (0 = piano, 40 = violin)."""
    pm = _pretty_midi_of(notes, program)
    target = Path(path)
    with atomic_path(target) as tmp:
        pm.write(str(tmp))
    return target


# --------------------------------------------------------------------------------------------------------
# URMP Notes_*.txt


def read_notes_txt(path: str | PathLike[str]) -> list[Note]:
    """Read a URMP note annotation file.

    Each line is ``onset_s<TAB>pitch_Hz<TAB>duration_s`` (any whitespace is accepted); blank lines and lines
    starting with ``#`` are skipped. Frequencies are rounded to the nearest MIDI pitch; velocity is
    :data:`DEFAULT_VELOCITY`.

    Raises
    ------
    InputError
        Missing file, a malformed line (the message names the line number), or no notes.
    """
    p = require_file(path, "a notes file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(p, "not a text file") from exc
    notes: list[Note] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        try:
            if len(fields) != 3:
                raise ValueError
            onset, hz, duration = (float(f) for f in fields)
        except ValueError:
            raise InputError(
                p, f"line {lineno}: expected 3 numbers 'onset_s pitch_Hz duration_s', got {raw.strip()!r}"
            ) from None
        if not (math.isfinite(onset) and math.isfinite(hz) and math.isfinite(duration)):
            raise InputError(p, f"line {lineno}: numbers must be finite, got {raw.strip()!r}")
        if onset < 0 or duration < 0:
            raise InputError(p, f"line {lineno}: onset and duration must be >= 0, got {raw.strip()!r}")
        if onset + duration > MAX_PERFORMANCE_S:
            raise InputError(
                p,
                f"line {lineno}: a note ending after {describe_seconds(MAX_PERFORMANCE_S)} is not plausible, "
                f"got {raw.strip()!r}",
            )
        pitch = hz_to_midi(hz) if hz > 0 else -1
        if not 0 <= pitch < N_PITCHES:
            raise InputError(p, f"line {lineno}: {hz} Hz is not a MIDI pitch")
        notes.append(Note(onset, onset + duration, pitch, DEFAULT_VELOCITY))
    if not notes:
        raise InputError(p, "no notes")
    return _sorted(notes)


def write_notes_txt(path: str | PathLike[str], notes: Sequence[Note]) -> Path:
    """Write notes in URMP's ``onset_s<TAB>pitch_Hz<TAB>duration_s`` format (atomically; velocity is not kept)."""
    lines = [f"{n.onset:.6f}\t{midi_to_hz(n.pitch):.4f}\t{n.duration:.6f}\n" for n in _sorted(notes)]
    atomic_write_text(path, "".join(lines))
    return Path(path)


# --------------------------------------------------------------------------------------------------------
# Frame-aligned sequences


def _frame_span(note: Note, frame_rate: float, n_frames: int) -> tuple[int, int]:
    """Frames ``[start, stop)`` whose centres a note covers; at least one frame so short notes never vanish.

    Frame ``i`` of a centred STFT is centred at ``i / frame_rate`` s, so times are rounded to the nearest
    frame centre.
    """
    start = int(round(note.onset * frame_rate))
    stop = max(int(round(note.offset * frame_rate)), start + 1)
    return min(start, n_frames), min(stop, n_frames)


def _sounding(notes: Iterable[Note], frame_rate: float, n_frames: int) -> np.ndarray:
    """``(n_frames, 128)`` bool: which pitches sound in which frame."""
    if frame_rate <= 0 or n_frames < 0:
        raise ValueError(f"need frame_rate > 0 and n_frames >= 0, got {frame_rate}, {n_frames}")
    roll = np.zeros((n_frames, N_PITCHES), dtype=bool)
    for note in notes:
        start, stop = _frame_span(note, frame_rate, n_frames)
        roll[start:stop, note.pitch] = True
    return roll


def notes_to_index_sequence(
    notes: Iterable[Note], frame_rate: float, n_frames: int
) -> tuple[np.ndarray, int]:
    """One class per frame: 0 = rest, ``pitch + 1`` = that MIDI pitch sounds.

    Parameters
    ----------
    notes
        Notes in seconds.
    frame_rate
        Frames per second (62.5 for MI Net's spectrogram); frame ``i`` is centred at ``i / frame_rate`` s.
    n_frames
        Length of the sequence; notes beyond it are cut.

    Returns
    -------
    sequence : np.ndarray
        ``(n_frames,)`` int16 in 0..128. Where several pitches sound, the highest is kept.
    n_polyphonic : int
        How many frames had more than one distinct pitch sounding.
    """
    roll = _sounding(notes, frame_rate, n_frames)
    count = roll.sum(axis=1)
    # Highest sounding pitch: index of the last True per row.
    highest = N_PITCHES - 1 - np.argmax(roll[:, ::-1], axis=1)
    seq = np.where(count > 0, highest + 1, 0).astype(np.int16)
    return seq, int((count > 1).sum())


def notes_to_piano_roll(notes: Iterable[Note], frame_rate: float, n_frames: int) -> np.ndarray:
    """Binary piano roll (Visually Indicated Music's MIDI input): ``(n_frames, 128)`` float32, 1.0 where a pitch sounds."""
    return _sounding(notes, frame_rate, n_frames).astype(np.float32)


# --------------------------------------------------------------------------------------------------------
# Rendering


def synthesize_notes(
    notes: Sequence[Note],
    program: int,
    sample_rate: int,
    soundfont: str | PathLike[str] | None = None,
    *,
    length: int | None = None,
    peak: float = 0.9,
) -> np.ndarray:
    """Render notes with FluidSynth and a General MIDI soundfont.

    Parameters
    ----------
    notes
        Notes in seconds.
    program
        General MIDI program 0-127 (40 violin, 41 viola, 42 cello, 71 clarinet, 73 flute, 56 trumpet...).
    sample_rate
        Hz.
    soundfont
        A .sf2 file; :data:`DEFAULT_SOUNDFONT` when None.
    length
        Trim or zero-pad to this many samples. Otherwise the rendering runs to one second after the last
        note-off (FluidSynth's release tail).
    peak
        Scale so the largest sample has this magnitude (headroom for 16-bit export); silence stays silence.

    Returns
    -------
    np.ndarray
        ``(N,)`` float32.

    Raises
    ------
    InputError
        The soundfont file does not exist.
    """
    sf2 = Path(soundfont) if soundfont is not None else DEFAULT_SOUNDFONT
    if not sf2.is_file():
        hint = " (install the fluid-soundfont-gm package or pass another .sf2)" if soundfont is None else ""
        raise InputError(sf2, f"soundfont not found{hint}")
    if not notes:
        return np.zeros(length or 0, np.float32)
    return render_instrument(_pretty_midi_of(notes, program).instruments[0], sample_rate, sf2, length, peak)


def render_instrument(
    part: pretty_midi.Instrument,
    sample_rate: int,
    soundfont: str | PathLike[str],
    length: int | None = None,
    peak: float = 0.9,
) -> np.ndarray:
    """Render one pretty_midi part (notes, control changes, pitch bends) with a fresh FluidSynth.

    Returns ``(N,)`` float32 scaled so the largest sample is ``peak`` (silence stays silence), trimmed or
    zero-padded to ``length`` samples when given. A file FluidSynth cannot load is an :class:`InputError`.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    import fluidsynth

    synth = fluidsynth.Synth(samplerate=float(sample_rate))
    try:
        sfid = synth.sfload(str(soundfont))
        if sfid < 0:
            raise InputError(soundfont, "not a readable SoundFont (.sf2) file")
        wave = np.asarray(part.fluidsynth(fs=sample_rate, synthesizer=synth, sfid=sfid), np.float32)
    finally:
        synth.delete()
    top = float(np.abs(wave).max()) if wave.size else 0.0
    if top > 0:
        wave = wave * (peak / top)
    if length is not None:
        wave = np.pad(wave, (0, max(0, length - wave.shape[0])))[:length]
    return np.ascontiguousarray(wave, dtype=np.float32)
