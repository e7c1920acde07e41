"""Notes from MIDI and URMP text files, frame-aligned note sequences, and FluidSynth rendering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from minet_desktop.core.errors import InputError
from minet_desktop.media.midi import (
    DEFAULT_SOUNDFONT,
    Note,
    hz_to_midi,
    midi_to_hz,
    notes_to_index_sequence,
    notes_to_piano_roll,
    read_midi_notes,
    read_notes_txt,
    synthesize_notes,
    write_midi,
    write_notes_txt,
)

MELODY = [
    Note(0.0, 0.5, 67, 90),
    Note(0.5, 1.0, 69, 100),
    Note(1.0, 1.25, 71, 80),
    Note(1.25, 2.0, 72, 110),
]


def test_midi_round_trip(tmp_path: Path) -> None:
    path = write_midi(tmp_path / "melody.mid", MELODY, program=40)
    notes = read_midi_notes(path)
    assert [(n.pitch, n.velocity) for n in notes] == [(n.pitch, n.velocity) for n in MELODY]
    for got, want in zip(notes, MELODY, strict=True):
        assert got.onset == pytest.approx(want.onset, abs=1e-3)
        assert got.offset == pytest.approx(want.offset, abs=1e-3)
    assert pretty_midi.PrettyMIDI(str(path)).instruments[0].program == 40


def test_tracks_are_merged_and_drums_ignored(tmp_path: Path) -> None:
    pm = pretty_midi.PrettyMIDI()
    upper = pretty_midi.Instrument(program=0)
    upper.notes.append(pretty_midi.Note(velocity=80, pitch=72, start=0.5, end=1.0))
    lower = pretty_midi.Instrument(program=0)
    lower.notes.append(pretty_midi.Note(velocity=80, pitch=48, start=0.0, end=1.0))
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes.append(pretty_midi.Note(velocity=100, pitch=36, start=0.25, end=0.3))
    pm.instruments += [upper, lower, drums]
    path = tmp_path / "two hands.mid"
    pm.write(str(path))
    notes = read_midi_notes(path)
    assert [n.pitch for n in notes] == [48, 72]  # sorted by onset, drum hit gone


def test_midi_without_notes(tmp_path: Path) -> None:
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(program=40))
    path = tmp_path / "silent.mid"
    pm.write(str(path))
    with pytest.raises(InputError, match="no notes") as info:
        read_midi_notes(path)
    assert "silent.mid" in str(info.value)

    drums = pretty_midi.PrettyMIDI()
    kit = pretty_midi.Instrument(program=0, is_drum=True)
    kit.notes.append(pretty_midi.Note(velocity=100, pitch=36, start=0.0, end=0.1))
    drums.instruments.append(kit)
    drums.write(str(tmp_path / "drums.mid"))
    with pytest.raises(InputError, match="no notes .only drum tracks"):
        read_midi_notes(tmp_path / "drums.mid")


@pytest.mark.parametrize(
    "content", [b"", b"MThd garbage that is not a midi file at all" * 3, bytes(range(256))]
)
def test_garbage_midi(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.mid"
    path.write_bytes(content)
    with pytest.raises(InputError, match="not a readable MIDI file") as info:
        read_midi_notes(path)
    assert "broken.mid" in str(info.value)


def test_missing_midi(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_midi_notes(tmp_path / "nope.mid")


def test_index_sequence_keeps_highest_and_counts_polyphony() -> None:
    # At 10 frames/s: C4 sounds in frames 0-9, E4 in frames 5-14, so frames 5-9 are polyphonic.
    notes = [Note(0.0, 1.0, 60, 90), Note(0.5, 1.5, 64, 90)]
    seq, n_poly = notes_to_index_sequence(notes, frame_rate=10.0, n_frames=20)
    assert seq.dtype == np.int16 and seq.shape == (20,)
    assert seq.tolist() == [61] * 5 + [65] * 10 + [0] * 5
    assert n_poly == 5
    # The order notes come in does not matter.
    seq2, n_poly2 = notes_to_index_sequence(notes[::-1], 10.0, 20)
    np.testing.assert_array_equal(seq, seq2)
    assert n_poly2 == 5


def test_index_sequence_at_spectrogram_rate() -> None:
    notes = [Note(0.0, 0.5, 69, 100), Note(0.5, 0.501, 71, 100), Note(3.9, 5.0, 72, 100)]
    seq, n_poly = notes_to_index_sequence(notes, frame_rate=62.5, n_frames=251)  # 4 s crop
    assert n_poly == 0
    assert (seq[:31] == 70).all()  # 0.5 s * 62.5 = frame 31.25 -> rounds to 31
    assert seq[31] == 72  # a note shorter than a frame still gets one frame
    assert (seq[32:244] == 0).all()
    assert (seq[244:] == 73).all()  # 3.9 s -> frame 243.75 -> 244, cut at the end of the crop
    assert notes_to_index_sequence([], 62.5, 10)[0].tolist() == [0] * 10


def test_unison_overlap_is_not_polyphony() -> None:
    seq, n_poly = notes_to_index_sequence([Note(0.0, 1.0, 60, 90), Note(0.5, 1.0, 60, 60)], 10.0, 10)
    assert n_poly == 0 and (seq == 61).all()


def test_piano_roll() -> None:
    roll = notes_to_piano_roll([Note(0.0, 1.0, 60, 90), Note(0.5, 1.5, 64, 90)], 10.0, 12)
    assert roll.shape == (12, 128) and roll.dtype == np.float32
    assert roll[:, 60].tolist() == [1.0] * 10 + [0.0] * 2
    assert roll[:, 64].tolist() == [0.0] * 5 + [1.0] * 7
    assert roll.sum() == 17


def test_notes_txt_round_trip(tmp_path: Path) -> None:
    notes = [Note(n.onset, n.offset, n.pitch, 100) for n in MELODY]
    path = write_notes_txt(tmp_path / "Notes_1_vn_01_Jupiter.txt", notes)
    first = path.read_text().splitlines()[0].split("\t")
    assert float(first[1]) == pytest.approx(392.0, abs=0.01)  # G4 in Hz
    back = read_notes_txt(path)
    assert [n.pitch for n in back] == [n.pitch for n in notes]
    for got, want in zip(back, notes, strict=True):
        assert got.onset == pytest.approx(want.onset, abs=1e-6)
        assert got.offset == pytest.approx(want.offset, abs=1e-6)


def test_notes_txt_accepts_urmp_layout(tmp_path: Path) -> None:
    # URMP annotations: tab-separated, detuned frequencies, occasional blank lines.
    path = tmp_path / "Notes_2_fl.txt"
    path.write_text("0.5108\t 293.665\t0.3135\n\n0.8243\t445.1\t1.2\n")
    notes = read_notes_txt(path)
    assert [n.pitch for n in notes] == [62, 69]
    assert notes[1].offset == pytest.approx(2.0243)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("1.0\t440.0", "expected 3 numbers"),
        ("1.0\tA4\t0.5", "expected 3 numbers"),
        ("1.0\t-5\t0.5", "not a MIDI pitch"),
        ("1.0\t440\t-0.5", ">= 0"),
    ],
)
def test_notes_txt_malformed_line_names_line(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "Notes.txt"
    path.write_text(f"0.0\t440.0\t0.5\n0.5\t494.0\t0.5\n{line}\n")
    with pytest.raises(InputError, match=problem) as info:
        read_notes_txt(path)
    assert "line 3" in str(info.value) and "Notes.txt" in str(info.value)


def test_notes_txt_empty(tmp_path: Path) -> None:
    path = tmp_path / "Notes.txt"
    path.write_text("\n")
    with pytest.raises(InputError, match="no notes"):
        read_notes_txt(path)


def test_pitch_conversions() -> None:
    assert hz_to_midi(440.0) == 69 and hz_to_midi(261.63) == 60
    assert midi_to_hz(69) == 440.0
    assert all(hz_to_midi(midi_to_hz(p)) == p for p in range(128))


def test_note_validation() -> None:
    with pytest.raises(ValueError):
        Note(1.0, 0.5, 60, 90)
    with pytest.raises(ValueError):
        Note(0.0, 0.5, 128, 90)


def test_synthesize_flute_a4_sounds_at_440_hz() -> None:
    if not DEFAULT_SOUNDFONT.is_file():
        pytest.fail(f"{DEFAULT_SOUNDFONT} is missing: install Debian's fluid-soundfont-gm (see .ci/run)")
    sr = 16_000
    wave = synthesize_notes([Note(0.0, 1.0, 69, 100)], program=73, sample_rate=sr, length=sr)
    assert wave.dtype == np.float32 and wave.shape == (sr,)
    assert np.abs(wave).max() == pytest.approx(0.9)
    seg = wave[2000:14000]
    mag = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    freqs = np.fft.rfftfreq(len(seg), 1 / sr)
    assert freqs[np.argmax(mag)] == pytest.approx(440, abs=3)
    # Without `length` the render runs one second past the last note-off (the release tail).
    assert len(synthesize_notes([Note(0.0, 0.5, 69, 100)], 73, sr)) == pytest.approx(1.5 * sr, abs=2)


def test_synthesize_needs_a_soundfont(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="soundfont not found"):
        synthesize_notes(MELODY, 40, 16_000, soundfont=tmp_path / "missing.sf2")
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"not a soundfont" * 10)
    with pytest.raises(InputError, match="not a readable SoundFont"):
        synthesize_notes(MELODY, 40, 16_000, soundfont=bad)


def test_synthesize_no_notes_is_silence() -> None:
    assert synthesize_notes([], 40, 16_000, length=100).tolist() == [0.0] * 100
