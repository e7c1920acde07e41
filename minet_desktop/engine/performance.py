"""What comes with a performance video, read off the GUI thread when it is opened: its keypoint sidecar
(checked against the video's SHA-256), its own audio track or the reference recording beside it
(``<name>.wav``), and the MIDI file beside it (``<name>.mid``), as the demos in ``resources/demo/`` have.

No Qt; :func:`companions_of_video` may take seconds (hashing, decoding), so the app calls it on a worker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from minet_desktop.core.config import AudioConfig
from minet_desktop.core.errors import MinetError

log = logging.getLogger("minet_desktop")


@dataclass
class Companions:
    """What was found with a video (None where there was nothing usable)."""

    keypoints: Any = None  # pose.keypoint_file.KeypointFile
    audio: tuple[np.ndarray, int] | None = None  # (mono float32, rate): the video's track or the reference
    audio_path: Path | None = None  # where ``audio`` came from
    midi_path: Path | None = None
    notes: list[Any] | None = None  # media.midi.Note
    problems: list[str] = field(default_factory=list)  # one line each, for the status bar


def _beside(video: Path, suffixes: tuple[str, ...]) -> Path | None:
    for suffix in suffixes:
        candidate = video.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def companions_of_video(path: Path) -> Companions:
    """Keypoints, audio and notes that belong to the video at ``path``; never raises for a bad companion."""
    from minet_desktop.media.audio_io import read_audio
    from minet_desktop.media.midi import read_midi_notes
    from minet_desktop.pose.keypoint_file import find_sidecar

    found = Companions()
    try:
        found.keypoints = find_sidecar(path)
    except MinetError as exc:
        found.problems.append(f"its keypoint file was ignored ({exc})")
    wav = _beside(path, (".wav", ".flac"))
    for candidate in (path, wav):
        if candidate is None:
            continue
        try:
            found.audio, found.audio_path = read_audio(candidate), candidate
            break
        except MinetError:
            continue  # no audio stream (the demos' videos): try the reference recording
        except Exception:
            log.exception("reading the audio of %s failed", candidate)
    midi = _beside(path, (".mid", ".midi"))
    if midi is not None:
        try:
            found.notes, found.midi_path = read_midi_notes(midi), midi
        except MinetError as exc:
            found.problems.append(f"{midi.name} was ignored ({exc})")
    return found


def reference_spectrogram(audio: tuple[np.ndarray, int], cfg: AudioConfig) -> np.ndarray:
    """``(F, T)`` log-spectrogram of ``(wave, rate)`` with a model's audio settings (resampled to its rate)."""
    from minet_desktop.features.audio import log_spectrogram
    from minet_desktop.media.audio_io import resample_audio

    wave, rate = audio
    if rate != cfg.sample_rate:
        wave = resample_audio(wave, rate, cfg.sample_rate)
    return np.asarray(log_spectrogram(wave, cfg))
