"""Training material for the instrument judge: the corpus' own scores rendered with several soundfonts.

Every synthetic piece keeps its expressive score (``Sco_<piece>.mid``: the notes with the performance's
vibrato bends and CC7/CC11 curves, one part per player). :func:`render_judge_data` renders each part again with
each General MIDI soundfont named, at the judge's 22.05 kHz, and stores per part and soundfont:

* ``<part>.mel.npy``: the clean 80-band log-mel (``(80, T)`` float16, :class:`~minet_desktop.features.audio.LogMel`),
* ``<part>.gl.npy`` (for a seeded third of the parts): the same audio after a round trip through MI Net's
  log-spectrogram and Griffin-Lim (16 kHz, 32 iterations), the artefacts every generated track carries.

Parts are grouped by soundfont (``<out>/<soundfont stem>/``) and listed in ``judge_data.json`` with their
instrument and the corpus split of their piece (the split is by piece of music, as for every model), so a
judge can be trained on some soundfonts and tested on another (leave-one-soundfont-out). Files are written
atomically and a re-run skips parts already rendered. Only plain ``.npy`` arrays are written and read
(``allow_pickle=False``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from minet_desktop.core.atomic import atomic_path, atomic_write_text
from minet_desktop.core.config import AudioConfig, MelConfig
from minet_desktop.core.errors import InputError

MANIFEST = "judge_data.json"
FORMAT = 1
#: The three General MIDI soundfonts of Debian's fluid-soundfont-gm, musescore-general-soundfont-lossless and
#: csound-soundfont. Other soundfonts stay outside the project as an independent check.
SOUNDFONTS = {
    "FluidR3_GM": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    "MuseScore_General": Path("/usr/share/sounds/sf2/MuseScore_General_Full.sf2"),
    "csound_GMbank": Path("/usr/share/sounds/sf2/sf_GMbank.sf2"),
}
#: Share of parts that also get a Griffin-Lim round trip through MI Net's representation.
GL_SHARE = 1.0 / 3.0
GL_ITERS = 32

_PART_FILE = re.compile(r"^AuSep_(\d+)_([a-z]+)_")


@dataclass(frozen=True)
class JudgePart:
    """One rendered part: its instrument, split, soundfont and arrays."""

    key: str  # "<piece folder>/<player>"
    instrument: str
    split: str
    soundfont: str
    mel: Path
    gl: Path | None


def _parts_of(corpus: Path) -> list[dict[str, Any]]:
    """The corpus' parts: piece folder, player number, instrument code, split (from ``synth.json``)."""
    manifest = corpus / "synth.json"
    if not manifest.is_file():
        raise InputError(corpus, "not a synthetic corpus (no synth.json): run `minet-train synth` first")
    try:
        info = json.loads(manifest.read_text())
        pieces = info["pieces"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(manifest, f"unreadable corpus manifest ({exc})") from exc
    parts = []
    for p in pieces:
        folder = corpus / p["folder"]
        if not folder.is_dir():
            raise InputError(folder, "piece folder listed in synth.json is missing")
        for pl in p["players"]:
            parts.append({
                "folder": p["folder"], "player": int(pl["player"]), "instrument": str(pl["instrument"]),
                "split": str(p["split"]), "seconds": float(pl["seconds"]),
            })  # fmt: skip
    return parts


def _score_parts(corpus: Path, folder: str) -> list[Any]:
    import pretty_midi

    sco = corpus / folder / f"Sco_{folder}.mid"
    if not sco.is_file():
        raise InputError(sco, "the piece's expressive score is missing")
    try:
        return list(pretty_midi.PrettyMIDI(str(sco)).instruments)
    except Exception as exc:  # noqa: BLE001 - pretty_midi/mido raise many types for a bad file
        raise InputError(sco, f"not a readable MIDI file ({exc})") from exc


def gl_round_trip_mel(wave: np.ndarray, sr: int, iters: int = GL_ITERS) -> np.ndarray:
    """Log-mel of ``wave`` after MI Net's log-spectrogram and ``iters`` Griffin-Lim iterations: ``(80, T)``."""
    from minet_desktop.features.audio import log_mel, log_spectrogram, spectrogram_to_audio
    from minet_desktop.media.audio_io import resample_audio

    acfg, mcfg = AudioConfig(), MelConfig()
    x = resample_audio(np.asarray(wave, np.float32), sr, acfg.sample_rate)
    y = spectrogram_to_audio(log_spectrogram(x, acfg), acfg, n_iter=iters, length=len(x))
    return log_mel(resample_audio(np.asarray(y, np.float32), acfg.sample_rate, mcfg.sample_rate), mcfg)


def render_judge_data(
    corpus: str | PathLike[str],
    out: str | PathLike[str],
    soundfonts: Sequence[str] = tuple(SOUNDFONTS),
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> Path:
    """Render every part of ``corpus`` with each soundfont into ``out`` (resumable); returns the manifest path."""
    from minet_desktop.features.audio import log_mel
    from minet_desktop.media.midi import render_instrument
    from training.synth.render import check_soundfont

    corpus, out = Path(corpus), Path(out)
    mcfg = MelConfig()
    parts = _parts_of(corpus)
    unknown = [s for s in soundfonts if s not in SOUNDFONTS]
    if unknown:
        raise InputError(unknown[0], f"unknown soundfont; choose from {', '.join(SOUNDFONTS)}")
    for name in soundfonts:
        check_soundfont(SOUNDFONTS[name])
    rng = np.random.default_rng(seed)
    gl_parts = {i for i in range(len(parts)) if rng.random() < GL_SHARE}
    entries: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    by_folder: dict[str, list[Any]] = {}
    for name in soundfonts:
        sf_dir = out / name
        sf_dir.mkdir(parents=True, exist_ok=True)
        for i, part in enumerate(parts):
            stem = f"{part['folder']}__{part['player']}_{part['instrument']}"
            mel_path, gl_path = sf_dir / f"{stem}.mel.npy", sf_dir / f"{stem}.gl.npy"
            want_gl = i in gl_parts
            if not mel_path.is_file() or (want_gl and not gl_path.is_file()):
                if part["folder"] not in by_folder:
                    by_folder = {part["folder"]: _score_parts(corpus, part["folder"])}
                midi_parts = by_folder[part["folder"]]
                if part["player"] > len(midi_parts):
                    raise InputError(
                        corpus / part["folder"], f"score has no part for player {part['player']}"
                    )
                n = int(round(part["seconds"] * mcfg.sample_rate))
                wave = render_instrument(
                    midi_parts[part["player"] - 1], mcfg.sample_rate, SOUNDFONTS[name], n
                )
                with atomic_path(mel_path) as tmp, open(tmp, "wb") as fh:
                    np.save(fh, log_mel(wave, mcfg).astype(np.float16), allow_pickle=False)
                if want_gl:
                    with atomic_path(gl_path) as tmp, open(tmp, "wb") as fh:
                        np.save(
                            fh,
                            gl_round_trip_mel(wave, mcfg.sample_rate).astype(np.float16),
                            allow_pickle=False,
                        )
            entries.append({
                "key": f"{part['folder']}/{part['player']}", "instrument": part["instrument"],
                "split": part["split"], "soundfont": name, "mel": f"{name}/{mel_path.name}",
                "gl": f"{name}/{gl_path.name}" if want_gl else None,
            })  # fmt: skip
        log(f"{name}: {len(parts)} parts ready ({time.perf_counter() - t0:.0f} s)")
    manifest = out / MANIFEST
    atomic_write_text(
        manifest,
        json.dumps(
            {"format": FORMAT, "corpus": str(corpus), "soundfonts": list(soundfonts), "parts": entries},
            indent=1,
        ),
    )
    return manifest


def load_judge_data(root: str | PathLike[str]) -> list[JudgePart]:
    """The parts listed in ``root/judge_data.json`` (InputError for a missing or foreign manifest)."""
    root = Path(root)
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise InputError(root, f"no {MANIFEST}: run `minet-train judge --corpus CORPUS --data {root}` first")
    try:
        info = json.loads(manifest.read_text())
        if info.get("format") != FORMAT:
            raise InputError(
                manifest, f"judge data format {info.get('format')!r}; this program reads {FORMAT}"
            )
        return [
            JudgePart(
                key=str(e["key"]),
                instrument=str(e["instrument"]),
                split=str(e["split"]),
                soundfont=str(e["soundfont"]),
                mel=root / e["mel"],
                gl=root / e["gl"] if e["gl"] else None,
            )  # fmt: skip
            for e in info["parts"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(manifest, f"unreadable judge data manifest ({exc})") from exc


def load_mel(path: Path) -> np.ndarray:
    """A stored ``(80, T)`` log-mel as float32 (InputError for anything else)."""
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a readable .npy array ({exc})") from exc
    if x.ndim != 2 or x.shape[0] != MelConfig().n_mels or not np.isfinite(x).all():
        raise InputError(path, f"expected a finite (80, T) log-mel, got shape {x.shape}")
    return x.astype(np.float32)
