"""URMP (University of Rochester Multi-Modal Music Performance dataset) reader and writer.

Layout, one folder per piece (``NN`` is the piece number, ``i1 i2 ..`` the players' instrument codes in
player order)::

    01_Jupiter_vn_vc/
        AuSep_1_vn_01_Jupiter.wav      separated audio of player 1
        AuSep_2_vc_01_Jupiter.wav
        Notes_1_vn_01_Jupiter.txt      onset_s <TAB> pitch_Hz <TAB> duration_s, aligned with the audio
        F0s_1_vn_01_Jupiter.txt        time_s <TAB> f0_Hz
        Sco_01_Jupiter_vn_vc.mid       the score, one MIDI instrument per player (score time, not aligned)
        Vid_01_Jupiter_vn_vc.mp4       the ensemble video
        AuMix_01_Jupiter_vn_vc.wav     the mix (ignored here)
        Kp_1_vn_01_Jupiter.npz         optional: that player's keypoints (pose.keypoint_file)
        Kp_2_vc_01_Jupiter/            optional: ... or an OpenPose output folder (per-frame *_keypoints.json)
    Supplementary_Files/               skipped

URMP ships no keypoints: the ensemble video shows every player, so per-player keypoints are made by cropping
the video to each player and extracting, and stored as ``Kp_*`` next to the audio. A player without them is
still listed (the cache reports and skips it: the model needs keypoints).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from minet_desktop.core.errors import InputError
from training.datasets.base import (
    GM_PROGRAMS,
    INSTRUMENT_CODES,
    INSTRUMENT_NAMES,
    DatasetReport,
    Track,
)

if TYPE_CHECKING:  # pragma: no cover
    from minet_desktop.media.midi import Note
    from minet_desktop.pose.keypoint_file import KeypointFile

#: Piece folder: number, name (no underscores in URMP), then one or more instrument codes.
PIECE_FOLDER = re.compile(r"^(?P<no>\d+)_(?P<name>[^_]+)_(?P<insts>[A-Za-z]+(?:_[A-Za-z]+)*)$")
_PER_PLAYER = re.compile(
    r"^(?P<kind>AuSep|Notes|F0s|Kp)_(?P<k>\d+)_(?P<inst>[A-Za-z]+)_(?P<no>\d+)_(?P<name>[^_.]+)(?P<ext>\.[A-Za-z0-9]+)?$"
)
_PER_PIECE = ("AuMix_", "Sco_", "Vid_")
_SKIPPED_FOLDERS = {"Supplementary_Files"}
#: URMP's videos are 29.97 fps; used for OpenPose folders when the piece has no video to ask.
URMP_VIDEO_FPS = 30000 / 1001
#: Hop of the F0s files written by :func:`write_urmp_piece`. Nothing here reads F0s back (notes come from the
#: Notes files); the file exists so that written pieces have URMP's full layout.
F0_HOP_S = 0.01


def _is_piece_folder(p: Path) -> bool:
    return p.is_dir() and PIECE_FOLDER.match(p.name) is not None


def is_urmp_root(path: str | PathLike[str]) -> bool:
    """True for a folder holding URMP piece folders, or for a single piece folder."""
    path = Path(path)
    if _is_piece_folder(path):
        return True
    try:
        return any(_is_piece_folder(c) for c in path.iterdir())
    except OSError:
        return False


def _video_fps(video: Path | None) -> float:
    if video is None:
        return URMP_VIDEO_FPS
    try:
        from minet_desktop.media.video import VideoReader

        with VideoReader(video) as reader:
            return float(reader.fps)
    except InputError:
        return URMP_VIDEO_FPS


def _check_audio(path: Path, report: DatasetReport) -> bool:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises RuntimeError/LibsndfileError for non-audio
        report.add(path, f"unreadable audio file ({exc})")
        return False
    if info.frames <= 0:
        report.add(path, "audio file is empty (zero length)")
        return False
    return True


def read_urmp_piece(folder: str | PathLike[str], report: DatasetReport | None = None) -> list[Track]:
    """Tracks of one piece folder; problems go to ``report`` and reading goes on."""
    folder = Path(folder)
    report = report if report is not None else DatasetReport()
    m = PIECE_FOLDER.match(folder.name)
    if m is None:
        report.add(folder, "not a URMP piece folder (expected NN_Name_inst_inst); skipped")
        return []
    no, name = m["no"], m["name"]
    piece = f"{no}_{name}"
    codes = m["insts"].split("_")
    players: dict[int, str] = {}
    for k, code in enumerate(codes, start=1):
        if code not in INSTRUMENT_CODES:
            report.add(
                folder,
                f"unknown instrument code {code!r} for player {k} in the folder name; player skipped "
                f"(known: {', '.join(INSTRUMENT_CODES)})",
            )
            continue
        players[k] = code

    # Per-player files by (kind, k); per-piece files; everything else is reported.
    found: dict[tuple[str, int], Path] = {}
    sco: Path | None = None
    video: Path | None = None
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        report.add(folder, f"cannot list folder ({exc})")
        return []
    for p in entries:
        if p.name.startswith("."):
            continue
        pm = _PER_PLAYER.match(p.name)
        if pm is not None:
            k, inst, kind, ext = int(pm["k"]), pm["inst"], pm["kind"], (pm["ext"] or "").lower()
            expected_ext = {"AuSep": {".wav"}, "Notes": {".txt"}, "F0s": {".txt"}, "Kp": {".npz", ""}}[kind]
            if ext not in expected_ext or (kind == "Kp" and ext == "" and not p.is_dir()):
                report.add(p, f"unexpected file type for a {kind} file; ignored")
                continue
            if pm["no"] != no or pm["name"] != name:
                report.add(p, f"belongs to piece {pm['no']}_{pm['name']}, not {piece}; ignored")
                continue
            if players.get(k) != inst:
                listed = f"player {k} is {players[k]!r}" if k in players else f"there is no player {k}"
                report.add(p, f"{inst!r} player {k} is not listed in the folder name ({listed}); ignored")
                continue
            found[(kind, k)] = p
            continue
        if p.name.startswith("Sco_") and p.suffix.lower() in (".mid", ".midi"):
            sco = p
        elif p.name.startswith("Vid_") and p.is_file():
            video = p
        elif p.name.startswith(_PER_PIECE):
            pass  # AuMix, score PDFs: not used
        else:
            report.add(p, "unrecognised file in a URMP piece folder; ignored")

    kp_fps: float | None = None
    tracks: list[Track] = []
    for k, inst in players.items():
        audio = found.get(("AuSep", k))
        expected = folder / f"AuSep_{k}_{inst}_{no}_{name}.wav"
        if audio is None:
            report.add(
                expected,
                f"missing separated audio of player {k} ({INSTRUMENT_NAMES[inst]}) listed in the folder name",
            )
            continue
        if not _check_audio(audio, report):
            continue
        notes = found.get(("Notes", k))
        midi = sco
        if notes is not None:
            from minet_desktop.media.midi import read_notes_txt

            try:
                read_notes_txt(notes)
            except InputError as exc:
                report.add(exc.path or notes, f"{exc.problem}; notes of this track are left out")
                notes, midi = None, None  # the score is not aligned with the audio: no silent substitute
        kp = found.get(("Kp", k))
        kind = None
        if kp is not None:
            kind = "openpose" if kp.is_dir() else "npz"
            if kind == "openpose" and kp_fps is None:
                kp_fps = _video_fps(video)
        tracks.append(
            Track(
                track_id=f"urmp/{piece}/{k}_{inst}",
                dataset="urmp",
                piece=piece,
                instrument=inst,
                audio_path=audio,
                keypoints_path=kp,
                keypoints_kind=kind,
                keypoints_fps=kp_fps if kind == "openpose" else None,
                notes_path=notes,
                midi_path=midi,
                midi_instrument=k - 1 if midi is not None else None,
                f0_path=found.get(("F0s", k)),
                video_path=video,
            )
        )
    return tracks


def read_urmp(root: str | PathLike[str]) -> tuple[list[Track], DatasetReport]:
    """Read every piece folder under ``root`` (or ``root`` itself if it is a piece folder)."""
    root = Path(root)
    report = DatasetReport()
    if _is_piece_folder(root):
        return read_urmp_piece(root, report), report
    if not root.is_dir():
        raise InputError(root, "URMP folder not found")
    tracks: list[Track] = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or child.name in _SKIPPED_FOLDERS:
            continue
        if child.is_dir():
            if PIECE_FOLDER.match(child.name):
                tracks.extend(read_urmp_piece(child, report))
            else:
                report.add(child, "not a URMP piece folder (expected NN_Name_inst_inst); skipped")
    if not tracks:
        report.add(root, "no usable URMP tracks found")
    return tracks, report


# --------------------------------------------------------------------------------------------------------
# Writer (tests, the synthetic corpus)


def notes_to_f0(notes: Sequence[Note], duration: float, hop: float = F0_HOP_S) -> np.ndarray:
    """``(N, 2)`` rows (time_s, f0_Hz): the highest sounding note's frequency, 0 where nothing sounds."""
    times = np.arange(int(np.floor(duration / hop)) + 1) * hop
    f0 = np.zeros_like(times)
    pitch = np.full(times.shape, -1, dtype=np.int64)
    for n in notes:
        on = (times >= n.onset) & (times < n.offset)
        pitch = np.where(on & (n.pitch > pitch), n.pitch, pitch)
    sounding = pitch >= 0
    f0[sounding] = 440.0 * 2.0 ** ((pitch[sounding] - 69) / 12.0)
    return np.stack([times, f0], axis=1)


def write_urmp_piece(
    root: str | PathLike[str],
    piece_no: int,
    name: str,
    players: Sequence[tuple[str, np.ndarray, int, Sequence[Note] | None, KeypointFile | None]],
    video: str | PathLike[str] | None = None,
) -> Path:
    """Write one piece in exactly the layout :func:`read_urmp` reads; returns the piece folder.

    Parameters
    ----------
    players
        ``(instrument code, mono wave (N,), sample_rate, notes or None, KeypointFile or None)`` per player,
        in player order. Notes (aligned with the wave) become ``Notes_*.txt``, ``F0s_*.txt`` and one part of
        ``Sco_*.mid`` (one MIDI instrument per player, GM program of the instrument).
    video
        Optional video file copied in as ``Vid_*``.
    """
    import pretty_midi

    from minet_desktop.core.atomic import atomic_path
    from minet_desktop.media.audio_io import write_wav
    from minet_desktop.media.midi import write_notes_txt

    if "_" in name or not name:
        raise ValueError(f"URMP piece names have no underscores, got {name!r}")
    codes = [p[0] for p in players]
    for c in codes:
        if c not in INSTRUMENT_CODES:
            raise ValueError(f"unknown instrument code {c!r}")
    no = f"{piece_no:02d}"
    folder = Path(root) / f"{no}_{name}_{'_'.join(codes)}"
    folder.mkdir(parents=True, exist_ok=True)
    score = pretty_midi.PrettyMIDI()
    mix: np.ndarray | None = None
    mix_sr = players[0][2] if players else 0
    for k, (inst, wave, sr, notes, keypoints) in enumerate(players, start=1):
        stem = f"{k}_{inst}_{no}_{name}"
        wave = np.asarray(wave, dtype=np.float32).reshape(-1)
        write_wav(folder / f"AuSep_{stem}.wav", wave, sr)
        if sr == mix_sr and wave.size:
            mix = wave.copy() if mix is None else _add(mix, wave)
        part = pretty_midi.Instrument(program=GM_PROGRAMS[inst], name=INSTRUMENT_NAMES[inst])
        if notes is not None:
            write_notes_txt(folder / f"Notes_{stem}.txt", list(notes))
            f0 = notes_to_f0(notes, wave.size / sr if sr else 0.0)
            lines = "".join(f"{t:.4f}\t{f:.4f}\n" for t, f in f0)
            with atomic_path(folder / f"F0s_{stem}.txt") as tmp:
                tmp.write_text(lines, encoding="utf-8")
            for n in notes:
                part.notes.append(
                    pretty_midi.Note(
                        velocity=int(n.velocity),
                        pitch=int(n.pitch),
                        start=float(n.onset),
                        end=float(n.offset),
                    )
                )
        score.instruments.append(part)
        if keypoints is not None:
            keypoints.save(folder / f"Kp_{stem}.npz")
    with atomic_path(folder / f"Sco_{folder.name}.mid") as tmp:
        score.write(str(tmp))
    if mix is not None:
        peak = float(np.max(np.abs(mix))) if mix.size else 0.0
        write_wav(folder / f"AuMix_{folder.name}.wav", mix / peak * 0.9 if peak > 0.9 else mix, mix_sr)
    if video is not None:
        video = Path(video)
        shutil.copyfile(video, folder / f"Vid_{folder.name}{video.suffix.lower() or '.mp4'}")
    return folder


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = max(a.size, b.size)
    out = np.zeros(n, np.float32)
    out[: a.size] += a
    out[: b.size] += b
    return out
