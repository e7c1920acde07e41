"""URMP reader/writer: the layout round-trips, and every kind of broken piece is reported, not fatal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from minet_desktop.core.errors import InputError
from minet_desktop.media.audio_io import read_audio, write_wav
from minet_desktop.media.midi import Note, synthesize_notes
from minet_desktop.pose.formats import write_openpose_folder
from minet_desktop.pose.keypoint_file import KeypointFile
from training.datasets.base import (
    GM_PROGRAMS,
    INSTRUMENT_CODES,
    INSTRUMENTS,
    Track,
    read_midi_part,
    write_track_list,
)
from training.datasets.reading import detect_format, read_dataset
from training.datasets.urmp import read_urmp, write_urmp_piece

SR = 16_000


def synthetic_keypoints(seconds: float, fps: float = 30.0, seed: int = 0) -> KeypointFile:
    """A plausible seated player: neck at (320, 200), shoulders 100 px apart, small sway, all detected."""
    rng = np.random.default_rng(seed)
    T = int(round(seconds * fps))
    kp = np.zeros((T, 3, 47), np.float32)
    base_x = 320 + rng.normal(0, 30, 47)
    base_y = 260 + rng.normal(0, 40, 47)
    base_x[:3], base_y[:3] = (320, 270, 250), (200, 200, 260)
    base_x[4], base_y[4] = 370, 200
    t = np.arange(T) / fps
    kp[:, 0, :] = base_x + 5 * np.sin(2 * np.pi * 0.5 * t)[:, None]
    kp[:, 1, :] = base_y + 3 * np.cos(2 * np.pi * 0.7 * t)[:, None]
    kp[:, 2, :] = 0.9
    return KeypointFile(kp, fps, (640, 480), "", f"synthetic-{seed}", 1.0)


def scale_notes(start_pitch: int) -> list[Note]:
    return [Note(0.1 + 0.45 * i, 0.5 + 0.45 * i, start_pitch + 2 * i, 90) for i in range(4)]


def sine(seconds: float, sr: int = SR, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.fixture(scope="module")
def rendered_piece(tmp_path_factory) -> Path:
    """URMP piece 01_Jupiter_vn_fl with FluidSynth-rendered, 2-second separated tracks and keypoints."""
    root = tmp_path_factory.mktemp("urmp")
    players = []
    for k, (inst, pitch) in enumerate((("vn", 67), ("fl", 74))):
        notes = scale_notes(pitch)
        wave = synthesize_notes(notes, GM_PROGRAMS[inst], SR, length=2 * SR)
        players.append((inst, wave, SR, notes, synthetic_keypoints(2.0, seed=k)))
    write_urmp_piece(root, 1, "Jupiter", players)
    (root / "Supplementary_Files").mkdir()
    (root / "Supplementary_Files" / "readme.txt").write_text("skipped")
    return root


def cheap_piece(root: Path, no: int = 1, name: str = "Jupiter", insts=("vn", "fl"), keypoints=True) -> Path:
    players = [
        (
            inst,
            sine(1.0, hz=330 + 110 * k),
            SR,
            scale_notes(60 + k),
            synthetic_keypoints(1.0, seed=k) if keypoints else None,
        )
        for k, inst in enumerate(insts)
    ]
    return write_urmp_piece(root, no, name, players)


# ------------------------------------------------------------------------------------------------------
# Reading what the writer wrote


def test_writer_produces_the_urmp_layout(rendered_piece):
    folder = rendered_piece / "01_Jupiter_vn_fl"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        [
            "AuMix_01_Jupiter_vn_fl.wav",
            "AuSep_1_vn_01_Jupiter.wav",
            "AuSep_2_fl_01_Jupiter.wav",
            "F0s_1_vn_01_Jupiter.txt",
            "F0s_2_fl_01_Jupiter.txt",
            "Kp_1_vn_01_Jupiter.npz",
            "Kp_2_fl_01_Jupiter.npz",
            "Notes_1_vn_01_Jupiter.txt",
            "Notes_2_fl_01_Jupiter.txt",
            "Sco_01_Jupiter_vn_fl.mid",
        ]
    )
    # F0s: time, Hz of the sounding note (G4 = 392 Hz at 0.3 s), 0 in the rest before the first onset.
    f0 = np.loadtxt(folder / "F0s_1_vn_01_Jupiter.txt")
    assert f0.shape[1] == 2
    assert f0[np.argmin(abs(f0[:, 0] - 0.3)), 1] == pytest.approx(392.0, abs=0.1)
    assert f0[0, 1] == 0.0


def test_reads_both_players_with_their_files(rendered_piece):
    tracks, report = read_urmp(rendered_piece)
    assert not report, report.format()  # Supplementary_Files is skipped silently
    assert [t.track_id for t in tracks] == ["urmp/01_Jupiter/1_vn", "urmp/01_Jupiter/2_fl"]
    vn, fl = tracks
    assert (vn.instrument, fl.instrument) == ("vn", "fl")
    assert vn.piece == fl.piece == "01_Jupiter"
    assert vn.keypoints_kind == "npz" and vn.notes_path.name == "Notes_1_vn_01_Jupiter.txt"
    assert vn.f0_path.name == "F0s_1_vn_01_Jupiter.txt"
    assert vn.midi_path.name == "Sco_01_Jupiter_vn_fl.mid" and (vn.midi_instrument, fl.midi_instrument) == (
        0,
        1,
    )
    # The audio is really FluidSynth output (not silence) and 2 s long.
    wave, sr = vn.load_audio()
    assert sr == SR and wave.size == 2 * SR and np.abs(wave).max() > 0.1
    kf = fl.load_keypoints()
    assert kf.keypoints.shape == (60, 3, 47) and kf.fps == 30.0
    assert [n.pitch for n in fl.load_notes()] == [74, 76, 78, 80]


def test_score_has_one_part_per_player(rendered_piece):
    sco = rendered_piece / "01_Jupiter_vn_fl" / "Sco_01_Jupiter_vn_fl.mid"
    assert [n.pitch for n in read_midi_part(sco, 0)] == [67, 69, 71, 73]
    assert [n.pitch for n in read_midi_part(sco, 1)] == [74, 76, 78, 80]
    with pytest.raises(InputError, match="no part 3"):
        read_midi_part(sco, 2)


def test_a_single_piece_folder_is_a_dataset(rendered_piece):
    tracks, report = read_dataset(rendered_piece / "01_Jupiter_vn_fl")
    assert len(tracks) == 2 and not report


def test_instruments_table_has_the_13_urmp_codes():
    assert INSTRUMENT_CODES == (
        "vn",
        "va",
        "vc",
        "db",
        "fl",
        "ob",
        "cl",
        "sax",
        "bn",
        "tpt",
        "hn",
        "tbn",
        "tba",
    )
    assert dict(INSTRUMENTS)["tba"] == "tuba"


# ------------------------------------------------------------------------------------------------------
# Broken pieces: reported with the file, the rest still read


def test_missing_ausep_is_reported_and_the_other_player_read(tmp_path):
    folder = cheap_piece(tmp_path)
    (folder / "AuSep_2_fl_01_Jupiter.wav").unlink()
    tracks, report = read_urmp(tmp_path)
    assert [t.instrument for t in tracks] == ["vn"]
    [problem] = report.problems
    assert problem.path == folder / "AuSep_2_fl_01_Jupiter.wav"
    assert "missing separated audio of player 2" in problem.message


def test_extra_and_unknown_files_are_reported_not_used(tmp_path):
    folder = cheap_piece(tmp_path)
    write_wav(folder / "AuSep_3_va_01_Jupiter.wav", sine(0.5), SR)  # a third player the name does not list
    (folder / "notes.bak").write_text("x")
    (folder / ".DS_Store").write_text("x")  # hidden: ignored silently
    tracks, report = read_urmp(tmp_path)
    assert len(tracks) == 2
    assert len(report) == 2
    assert "not listed in the folder name" in report.mentions("AuSep_3_va")[0].message
    assert "unrecognised file" in report.mentions("notes.bak")[0].message


def test_malformed_notes_line_names_file_and_line_and_keeps_the_track(tmp_path):
    folder = cheap_piece(tmp_path)
    notes = folder / "Notes_1_vn_01_Jupiter.txt"
    lines = notes.read_text().splitlines()
    lines.insert(1, "0.5\tabc\t0.2")
    notes.write_text("\n".join(lines) + "\n")
    tracks, report = read_urmp(tmp_path)
    assert len(tracks) == 2
    [problem] = report.problems
    assert problem.path == notes and "line 2" in problem.message
    vn = tracks[0]
    # No silent fallback to the (unaligned) score: the track simply has no notes.
    assert vn.notes_path is None and vn.midi_path is None and vn.load_notes() is None
    assert tracks[1].notes_path is not None


def test_zero_length_and_unreadable_audio_are_reported(tmp_path):
    folder = cheap_piece(tmp_path)
    write_wav(folder / "AuSep_1_vn_01_Jupiter.wav", np.zeros(0, np.float32), SR)
    (folder / "AuSep_2_fl_01_Jupiter.wav").write_bytes(b"not a wav file")
    tracks, report = read_urmp(tmp_path)
    assert tracks == []
    assert "zero length" in report.mentions("AuSep_1_vn")[0].message
    assert "unreadable audio" in report.mentions("AuSep_2_fl")[0].message
    assert report.mentions("no usable URMP tracks")


def test_unknown_instrument_code_and_odd_folders(tmp_path):
    write_urmp_piece(tmp_path, 2, "Sonata", [("vn", sine(0.5), SR, None, None)])
    folder = tmp_path / "02_Sonata_vn"
    odd = tmp_path / "02_Sonata_vn_xx"
    folder.rename(odd)
    for p in odd.iterdir():  # keep files consistent with the new folder name
        if p.name.startswith(("Sco_", "AuMix_")):
            p.rename(odd / p.name.replace("02_Sonata_vn", "02_Sonata_vn_xx"))
    (tmp_path / "Supplementary_Files").mkdir()
    (tmp_path / "scratch").mkdir()
    tracks, report = read_urmp(tmp_path)
    assert [t.track_id for t in tracks] == ["urmp/02_Sonata/1_vn"]
    assert "unknown instrument code 'xx'" in report.mentions("02_Sonata_vn_xx")[0].message
    assert "not a URMP piece folder" in report.mentions("scratch")[0].message
    assert not report.mentions("Supplementary_Files")


def test_openpose_folder_keypoints(tmp_path):
    folder = cheap_piece(tmp_path, keypoints=False)
    kf = synthetic_keypoints(1.0, fps=30.0)
    write_openpose_folder(folder / "Kp_2_fl_01_Jupiter", kf)
    tracks, report = read_urmp(tmp_path)
    assert not report, report.format()
    vn, fl = tracks
    assert vn.load_keypoints() is None and not vn.has_keypoints
    assert fl.keypoints_kind == "openpose"
    loaded = fl.load_keypoints()
    assert loaded.n_frames == 30
    # No video in the piece: URMP's 29.97 fps is assumed.
    assert loaded.fps == pytest.approx(29.97, abs=0.01)
    np.testing.assert_allclose(loaded.keypoints[:, :2, 0], kf.keypoints[:, :2, 0], atol=0.01)


def test_writer_keeps_44k_audio_and_reader_resamples(tmp_path):
    wave = sine(1.0, sr=44_100)
    write_urmp_piece(tmp_path, 3, "Rondo", [("vc", wave, 44_100, None, synthetic_keypoints(1.0))])
    [track], report = read_urmp(tmp_path)
    assert not report
    assert read_audio(track.audio_path)[1] == 44_100
    resampled, sr = track.load_audio(SR)
    assert sr == SR and resampled.size == SR


# ------------------------------------------------------------------------------------------------------
# Dispatch


def test_detect_format_and_track_list_round_trip(tmp_path, rendered_piece):
    assert detect_format(rendered_piece) == "urmp"
    tracks, _ = read_dataset(rendered_piece)
    listed = tmp_path / "listed"
    listed.mkdir()
    write_track_list(listed, tracks)
    assert detect_format(listed) == "tracks"
    again, report = read_dataset(listed)
    assert not report
    assert [(t.track_id, t.instrument, t.piece, t.audio_path.resolve()) for t in again] == [
        (t.track_id, t.instrument, t.piece, t.audio_path.resolve()) for t in tracks
    ]
    assert again[0].load_keypoints().n_frames == 60
    assert [n.pitch for n in again[1].load_notes()] == [74, 76, 78, 80]


def test_track_list_problems_are_reported(tmp_path):
    write_wav(tmp_path / "a.wav", sine(0.2), SR)
    entries = [
        {"id": "a", "piece": "p", "instrument": "vn", "audio": "a.wav"},
        {"id": "b", "piece": "p", "instrument": "kazoo", "audio": "a.wav"},
        {"id": "c", "piece": "p", "instrument": "vn", "audio": "missing.wav"},
        {"id": "a", "piece": "q", "instrument": "vn", "audio": "a.wav"},
    ]
    (tmp_path / "tracks.json").write_text(
        json.dumps({"format": "minet-tracks", "version": 1, "tracks": entries})
    )
    tracks, report = read_dataset(tmp_path)
    assert [t.track_id for t in tracks] == ["a"]
    assert (
        report.mentions("kazoo") and report.mentions("missing.wav") and report.mentions("duplicate track id")
    )


def test_unrecognised_folders_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="not a recognised dataset"):
        read_dataset(tmp_path)
    with pytest.raises(InputError, match="not found"):
        read_dataset(tmp_path / "nope")
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(InputError, match="prepared cache"):
        read_dataset(tmp_path)


def test_track_rejects_unknown_instrument():
    with pytest.raises(ValueError, match="unknown instrument"):
        Track("x", "urmp", "p", "kazoo", Path("a.wav"))
