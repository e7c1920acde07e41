"""The preprocessing cache: `minet-train prepare` and the crop loader training reads it with.

Decoding audio, computing a 1024-bin spectrogram and normalising keypoints for every 4-second crop would
dominate training time, so :func:`prepare` does it once per track and stores aligned arrays that training
opens with ``np.load(mmap_mode="r")`` and slices::

    CACHE_DIR/
        manifest.json                    format_version, the CacheConfig, one entry per finished track
        tracks/<track>/spec.npy          (T, 1024) float16  log-magnitude spectrogram, 62.5 frames/s
                       skeleton.npy      (T, 3, 47) float32 normalised keypoints resampled to the same frames
                       notes.npy         (T,) int16         0 = rest, pitch + 1 (highest sounding note)
                       mel.npy           (T_mel, 80) float16 Visually Indicated Music's log-mel, 22.05 kHz / hop 512

Arrays are **time-major** on disk so that a crop is one contiguous block of the file (a few hundred KiB read
in one go instead of 1024 strided reads); :class:`CropDataset` transposes the crop to the frequency-major
``(1024, T)`` the models take. The spectrogram is stored as float16: its values are natural-log magnitudes
in [log(1e-5), ~8] where float16's spacing is <= 0.008 nats (0.07 dB), far below what is audible, and it
halves the cache (7.7 MB per minute of audio instead of 15.4).

Resuming: the manifest is rewritten atomically after every track, and a track whose source files have the
same size and mtime as recorded (under the same config) is not recomputed. A cache made with another
CacheConfig is refused with a ConfigError naming the differing fields, unless ``force``.

Splits are by piece (two players of one URMP piece never straddle train and test); see :func:`split_pieces`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from minet_desktop.core.atomic import atomic_path, atomic_write_text
from minet_desktop.core.config import CacheConfig, describe_mismatch, from_dict, to_dict
from minet_desktop.core.errors import Cancelled, ConfigError, InputError
from minet_desktop.core.skeleton import model_frames, valid_mask
from minet_desktop.core.validation import npy_file_header
from minet_desktop.features.audio import LogMel, LogSpectrogram
from minet_desktop.media.audio_io import resample_audio
from minet_desktop.media.midi import notes_to_index_sequence
from training.datasets.base import (
    INSTRUMENT_CODES,
    DatasetReport,
    Problem,
    Track,
    instrument_index,
)
from training.datasets.reading import read_dataset

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
TRACKS_DIR = "tracks"
SPLITS = ("train", "val", "test")
#: On-disk dtypes (see the module docstring for why float16 is enough for the log spectrograms).
ARRAY_DTYPES = {"spec": "float16", "mel": "float16", "skeleton": "float32", "notes": "int16"}
ARRAY_FIELDS = tuple(ARRAY_DTYPES)
#: Keypoints covering a duration this far from the audio's get a warning (the last pose is held, or the
#: keypoints are cut): more than a second usually means the wrong video or a truncated extraction.
DURATION_MISMATCH_WARN_S = 1.0


# --------------------------------------------------------------------------------------------------------
# Splits


def split_pieces(
    piece_instruments: dict[str, set[str]], config: CacheConfig
) -> tuple[dict[str, str], list[str]]:
    """Assign every piece to "train", "val" or "test", deterministically from ``config.split_seed``.

    Algorithm
    ---------
    1. Shuffle the sorted piece names with ``numpy.random.default_rng(split_seed)``; this order breaks all ties.
    2. Coverage (only when ``test_fraction > 0``): while some instrument has no piece in test, take the
       rarest such instrument (fewest pieces, then URMP code order) and move into test the piece containing
       it that covers the most still-uncovered instruments (ties: earliest in the shuffled order). This is a
       greedy set cover, so every instrument present is in the test split with few pieces spent on it.
    3. Fill test up to ``max(1, round(test_fraction * n_pieces))`` pieces from the shuffled order.
    4. Val takes the next ``round(val_fraction * n_pieces)`` remaining pieces (at least 1 when
       ``val_fraction > 0`` and at least 2 pieces remain); the rest is train.

    The result depends only on the set of pieces, their instruments and the config, never on file order or
    on which tracks failed to prepare.

    Returns
    -------
    splits
        piece -> split name.
    warnings
        e.g. an instrument that only occurs in test pieces (training never sees it).
    """
    pieces = sorted(piece_instruments)
    warnings: list[str] = []
    if not pieces:
        return {}, warnings
    rng = np.random.default_rng(config.split_seed)
    order = [pieces[i] for i in rng.permutation(len(pieces))]
    rank = {p: i for i, p in enumerate(order)}
    n = len(pieces)
    test: list[str] = []
    if config.test_fraction > 0:
        pieces_with: dict[str, list[str]] = {}
        for p in pieces:
            for inst in piece_instruments[p]:
                pieces_with.setdefault(inst, []).append(p)
        code_rank = {c: i for i, c in enumerate(INSTRUMENT_CODES)}
        uncovered = set(pieces_with)
        while uncovered:
            inst = min(uncovered, key=lambda i: (len(pieces_with[i]), code_rank.get(i, 99), i))
            best = min(
                (p for p in pieces_with[inst] if p not in test),
                key=lambda p: (-len(piece_instruments[p] & uncovered), rank[p]),
            )
            test.append(best)
            uncovered -= piece_instruments[best]
        n_test = max(1, int(round(config.test_fraction * n)))
        for p in order:
            if len(test) >= n_test:
                break
            if p not in test:
                test.append(p)
    in_test = set(test)
    remaining = [p for p in order if p not in in_test]
    n_val = int(round(config.val_fraction * n))
    if config.val_fraction > 0 and len(remaining) >= 2:
        n_val = max(1, n_val)
    n_val = min(n_val, max(len(remaining) - 1, 0))
    val = set(remaining[:n_val])
    splits = {p: ("test" if p in in_test else "val" if p in val else "train") for p in pieces}
    train_insts = set().union(*(piece_instruments[p] for p in pieces if splits[p] == "train"))
    for inst in sorted(
        set().union(*piece_instruments.values()) - train_insts, key=lambda c: (c not in INSTRUMENT_CODES, c)
    ):
        warnings.append(
            f"instrument {inst!r} occurs in no training piece (too few pieces); the model will not learn it"
        )
    if not any(s == "train" for s in splits.values()):
        warnings.append("no piece is left for training: the dataset has too few pieces for the split")
    return splits, warnings


# --------------------------------------------------------------------------------------------------------
# Manifest


def _track_dirname(track_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", track_id).strip("._") or "track"
    return f"{safe[:80]}-{hashlib.sha1(track_id.encode('utf-8')).hexdigest()[:8]}"


def _fingerprint(paths: Iterable[Path]) -> list[dict[str, Any]]:
    out = []
    for p in paths:
        st = p.stat()
        out.append({"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def load_manifest(cache_dir: str | PathLike[str]) -> dict[str, Any]:
    """Read and check ``cache_dir/manifest.json``.

    Raises
    ------
    InputError
        No manifest (not a cache, or ``prepare`` never finished a track), not valid JSON, wrong structure,
        or a format version this program does not read.
    ConfigError
        The stored CacheConfig has unknown keys or invalid values.
    """
    cache_dir = Path(cache_dir)
    path = cache_dir / MANIFEST_NAME
    if not cache_dir.is_dir():
        raise InputError(cache_dir, "cache folder not found")
    if not path.is_file():
        raise InputError(
            path, "no cache manifest here: run `minet-train prepare DATASET_DIR --out CACHE_DIR` first"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"corrupt cache manifest ({exc}); re-run prepare with --force") from None
    except RecursionError:
        raise InputError(
            path, "corrupt cache manifest (nested too deeply); re-run prepare with --force"
        ) from None
    if not isinstance(data, dict):
        raise InputError(path, "corrupt cache manifest (expected a JSON object)")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise InputError(
            path,
            f"cache format version {version!r}; this program reads version {FORMAT_VERSION} "
            "(re-run prepare with --force)",
        )
    if not isinstance(data.get("config"), dict) or not isinstance(data.get("tracks"), dict):
        raise InputError(path, "corrupt cache manifest (missing 'config' or 'tracks')")
    try:
        from_dict(CacheConfig, data["config"])
    except ConfigError as exc:
        raise InputError(path, f"corrupt cache manifest: {exc}") from None
    for key, entry in data["tracks"].items():
        problem = _entry_problem(entry)
        if problem:
            raise InputError(
                path, f"corrupt cache manifest: track {key!r}: {problem}; re-run prepare with --force"
            )
    return data


def _entry_problem(entry: Any) -> str | None:
    """What is wrong with one manifest entry's fields the readers rely on (None when nothing)."""
    if not isinstance(entry, dict):
        return "expected an object"
    if not isinstance(entry.get("id"), str) or not isinstance(entry.get("dir"), str):
        return "missing 'id' or 'dir'"
    d = Path(entry["dir"])
    if d.is_absolute() or ".." in d.parts:
        return f"'dir' {entry['dir']!r} points outside the cache"
    n = entry.get("n_frames")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        return f"'n_frames' must be a whole number >= 0, got {n!r}"
    shapes = entry.get("shapes")
    if not isinstance(shapes, dict) or not all(
        isinstance(v, list) and all(isinstance(i, int) and i >= 0 for i in v) for v in shapes.values()
    ):
        return "'shapes' must map each array to its shape"
    return None


def track_array_problems(cache_dir: Path, entry: dict[str, Any], fields: Sequence[str]) -> list[InputError]:
    """What is wrong with one track's arrays, read from their ``.npy`` headers only (cheap): a missing,
    empty, truncated or object-dtype file, a shape or dtype other than the manifest's, or no frames."""
    problems = []
    if entry["n_frames"] < 1:
        problems.append(InputError(cache_dir / entry["dir"], f"track {entry['id']} has no frames"))
    for name in fields:
        p = cache_dir / entry["dir"] / f"{name}.npy"
        if not p.is_file():
            problems.append(InputError(p, "cache file missing; re-run prepare to repair the cache"))
            continue
        try:
            shape, dtype = npy_file_header(p)
        except InputError as exc:
            problems.append(InputError(p, f"{exc.problem}; re-run prepare with --force"))
            continue
        want = entry["shapes"].get(name)
        if dtype != np.dtype(ARRAY_DTYPES[name]) or (want is not None and list(shape) != want):
            problems.append(
                InputError(
                    p,
                    f"holds {dtype} {tuple(shape)}, the manifest says {ARRAY_DTYPES[name]} "
                    f"{tuple(want) if want is not None else '?'}; re-run prepare with --force",
                )
            )
        elif name != "mel" and (not shape or shape[0] != entry["n_frames"]):
            problems.append(
                InputError(
                    p, f"holds {shape[0] if shape else 0} frames, the manifest says {entry['n_frames']}"
                )
            )
    return problems


def track_value_problems(cache_dir: Path, entry: dict[str, Any], fields: Sequence[str]) -> list[InputError]:
    """NaN or infinite values in a track's float arrays (reads them whole: for ``cache-info``)."""
    problems = []
    for name in fields:
        if np.dtype(ARRAY_DTYPES[name]).kind != "f":
            continue
        p = cache_dir / entry["dir"] / f"{name}.npy"
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if bad:
            problems.append(InputError(p, f"{bad} of {arr.size} values are NaN or infinite"))
    return problems


def manifest_config(manifest: dict[str, Any]) -> CacheConfig:
    return from_dict(CacheConfig, manifest["config"])


def _write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    atomic_write_text(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=1, sort_keys=True))


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


# --------------------------------------------------------------------------------------------------------
# One track


class TrackSkipped(Exception):
    """A track that cannot be used for training (no keypoints, nobody detected)."""

    def __init__(self, path: Path | None, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(reason)


def n_crop_frames(seconds: float, sample_rate: int, hop_length: int) -> int:
    """Frames of the centred STFT of a ``seconds``-long clip: ``round(seconds * sr) // hop + 1``.

    4 s at 16 kHz / hop 256 -> 251 spectrogram frames (and 173 mel frames at 22.05 kHz / hop 512), exactly
    what the app computes for a 4-second input, so training crops and inference windows match.
    """
    return int(round(seconds * sample_rate)) // hop_length + 1


@functools.lru_cache(maxsize=2)
def _feature_modules(config: CacheConfig) -> tuple[LogSpectrogram, LogMel]:
    """One spectrogram and one mel module per config and process (LogMel's set-up takes ~0.5 s)."""
    return LogSpectrogram(config.audio), LogMel(config.mel)


def _features(module: torch.nn.Module, wave: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))).numpy()


def process_track(track: Track, config: CacheConfig, track_dir: Path) -> dict[str, Any]:
    """Compute and write one track's arrays; return its manifest entry (without ``split``).

    Raises InputError (bad file) or TrackSkipped (unusable for training).
    """
    warnings: list[str] = []
    if not track.has_keypoints:
        raise TrackSkipped(
            track.audio_path, "no keypoints for this track; skipped (the model is driven by keypoints)"
        )
    kf = track.load_keypoints()
    kp_path = track.keypoints_path or track.audio_path
    if kf is None:
        raise TrackSkipped(kp_path, "no keypoints for this track; skipped")
    if kf.n_frames == 0:
        raise TrackSkipped(kp_path, "keypoint file has no frames; skipped")
    thr = config.skeleton.confidence_threshold
    if kf.detected_fraction <= 0 or not valid_mask(kf.keypoints, thr).any():
        raise TrackSkipped(kp_path, "no person detected in any frame; skipped")

    wave, sr = track.load_audio(None)
    wave16 = resample_audio(wave, sr, config.audio.sample_rate)
    if wave16.size == 0:
        raise InputError(track.audio_path, "audio is empty (zero length)")
    duration = wave16.size / config.audio.sample_rate
    spec_module, mel_module = _feature_modules(config)
    spec = _features(spec_module, wave16)  # (1024, T), as features.audio.log_spectrogram
    T = int(spec.shape[1])
    wave_mel = resample_audio(wave, sr, config.mel.sample_rate)
    mel = _features(mel_module, wave_mel)  # (80, T_mel), as features.audio.log_mel

    skeleton, stats = model_frames(kf.keypoints, kf.fps, config.audio.frame_rate, T, thr)
    if abs(kf.duration - duration) > DURATION_MISMATCH_WARN_S:
        warnings.append(
            f"keypoints cover {kf.duration:.2f} s but the audio lasts {duration:.2f} s"
            + ("; the last pose is held" if kf.duration < duration else "; keypoints past the audio are cut")
        )

    notes_source: str | None = None
    notes_seq = np.zeros(T, np.int16)
    polyphonic = 0
    try:
        notes = track.load_notes()
    except InputError as exc:
        warnings.append(f"notes left out: {exc}")
        notes = None
    if notes is not None:
        notes_seq, polyphonic = notes_to_index_sequence(notes, config.audio.frame_rate, T)
        notes_source = "notes" if track.notes_path is not None else "midi"

    track_dir.mkdir(parents=True, exist_ok=True)
    arrays = {
        "spec": np.ascontiguousarray(spec.T, dtype=ARRAY_DTYPES["spec"]),
        "skeleton": np.ascontiguousarray(skeleton, dtype=ARRAY_DTYPES["skeleton"]),
        "notes": np.ascontiguousarray(notes_seq, dtype=ARRAY_DTYPES["notes"]),
        "mel": np.ascontiguousarray(mel.T, dtype=ARRAY_DTYPES["mel"]),
    }
    for name, arr in arrays.items():
        _save_npy(track_dir / f"{name}.npy", arr)
    return {
        "id": track.track_id,
        "dataset": track.dataset,
        "piece": track.piece,
        "instrument": track.instrument,
        "dir": f"{TRACKS_DIR}/{track_dir.name}",
        "n_frames": T,
        "n_mel_frames": int(mel.shape[1]),
        "duration": duration,
        "has_notes": notes_source is not None,
        "notes_source": notes_source,
        "polyphonic_frames": int(polyphonic),
        "detected_fraction": float(kf.detected_fraction),
        "keypoint_fps": float(kf.fps),
        "keypoint_duration": float(kf.duration),
        "norm": {"center_x": stats.center_x, "center_y": stats.center_y, "scale": stats.scale},
        "shapes": {k: list(v.shape) for k, v in arrays.items()},
        "sources": _fingerprint(track.source_files()),
        "warnings": warnings,
    }


def _run_one(track: Track, config: CacheConfig, track_dir: Path) -> tuple[str, Any]:
    """Process one track and never raise, so one bad file cannot stop the run (or take a pool down)."""
    try:
        return "ok", process_track(track, config, track_dir)
    except TrackSkipped as exc:
        return "skipped", (str(exc.path) if exc.path else None, exc.reason)
    except InputError as exc:
        return "failed", (str(exc.path) if exc.path else None, exc.problem)
    except Exception as exc:  # a file no reader anticipated (or a bug): report it, keep the others' work
        return "failed", (str(track.audio_path), f"unexpected error: {type(exc).__name__}: {exc}")


def _process_in_worker(track: Track, config: CacheConfig, track_dir: Path) -> tuple[str, Any]:
    torch.set_num_threads(1)  # one process per core already; intra-op threads would oversubscribe
    return _run_one(track, config, track_dir)


# --------------------------------------------------------------------------------------------------------
# prepare


@dataclass
class PrepareReport:
    """What :func:`prepare` did.

    Attributes
    ----------
    written
        Track ids computed in this run.
    up_to_date
        Track ids whose cached arrays were kept (same sources, same config).
    failed
        Tracks that could not be prepared (unreadable or empty audio, bad keypoint file), with file + reason.
    skipped
        Tracks left out on purpose (no keypoints, nobody detected), with file + reason.
    removed
        Track ids dropped from the cache because they are no longer in the dataset.
    dataset_problems
        What the dataset reader reported (missing files, malformed annotations, ...).
    warnings
        Split warnings and per-track notes (keypoint/audio duration mismatch, dropped notes).
    piece_splits
        piece -> split.
    """

    cache_dir: Path
    written: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    failed: list[Problem] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    dataset_problems: DatasetReport = field(default_factory=DatasetReport)
    warnings: list[str] = field(default_factory=list)
    piece_splits: dict[str, str] = field(default_factory=dict)

    @property
    def manifest_path(self) -> Path:
        return self.cache_dir / MANIFEST_NAME

    @property
    def n_tracks(self) -> int:
        return len(self.written) + len(self.up_to_date)

    def summary(self) -> str:
        counts = {s: sum(1 for v in self.piece_splits.values() if v == s) for s in SPLITS}
        lines = [
            f"cache {self.cache_dir}: {self.n_tracks} track(s) ready "
            f"({len(self.written)} prepared, {len(self.up_to_date)} already up to date); "
            f"pieces train/val/test = {counts['train']}/{counts['val']}/{counts['test']}",
        ]
        for title, items in (
            ("failed", self.failed),
            ("skipped", self.skipped),
            ("dataset problems", self.dataset_problems.problems),
        ):
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines.extend(f"  {p}" for p in items)
        if self.removed:
            lines.append(f"removed from the cache (no longer in the dataset): {', '.join(self.removed)}")
        if self.warnings:
            lines.append(f"warnings ({len(self.warnings)}):")
            lines.extend(f"  {w}" for w in self.warnings)
        return "\n".join(lines)


def _entry_current(entry: dict[str, Any], track: Track, out_dir: Path) -> bool:
    try:
        if entry.get("sources") != _fingerprint(track.source_files()):
            return False
    except OSError:
        return False
    tdir = out_dir / entry.get("dir", "")
    return all((tdir / f"{name}.npy").is_file() for name in ARRAY_FIELDS)


def _remove_track_dir(out_dir: Path, rel: str | None) -> None:
    """Delete a track folder the manifest lists, but only if it really lies under ``out_dir/tracks``."""
    if not rel:
        return
    target = (out_dir / rel).resolve()
    root = (out_dir / TRACKS_DIR).resolve()
    if target.parent == root and target.is_dir():
        shutil.rmtree(target)


def prepare(
    dataset_dir: str | PathLike[str],
    out_dir: str | PathLike[str],
    config: CacheConfig | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    *,
    force: bool = False,
    audio_dir: str | PathLike[str] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> PrepareReport:
    """Read a dataset and write (or bring up to date) its training cache.

    Parameters
    ----------
    dataset_dir
        URMP, Solos or track-list folder (see ``training.datasets.reading.read_dataset``).
    out_dir
        Cache folder; created if needed.
    config
        Audio/mel/skeleton settings and split parameters, stored in the manifest (``CacheConfig()`` if None).
    workers
        Processes computing tracks in parallel (1 = in this process).
    progress
        Called as ``progress(done, total)`` after each track (prepared, up to date or failed).
    force
        Rebuild a cache made with another config (or an unreadable manifest) instead of refusing.
    audio_dir
        Solos only: where the downloaded recordings are.
    should_cancel
        Polled between tracks; when it returns True the manifest is saved and Cancelled is raised.

    Raises
    ------
    InputError
        The dataset folder cannot be used at all, or the existing manifest is corrupt (without ``force``).
    ConfigError
        ``out_dir`` holds a cache made with a different config (without ``force``); the message names the
        differing fields.
    """
    config = config if config is not None else CacheConfig()
    out = Path(out_dir)
    dataset = Path(dataset_dir)
    if out.exists() and not out.is_dir():
        raise InputError(out, "cache path exists and is not a folder")
    if out.resolve() == dataset.resolve():
        raise InputError(out, "the cache folder must not be the dataset folder")
    cfg_dict = to_dict(config)

    old: dict[str, Any] | None = None
    if (out / MANIFEST_NAME).exists():
        try:
            old = load_manifest(out)
            old_cfg = manifest_config(old)
        except (InputError, ConfigError):
            if not force:
                raise
            old = None
        else:
            if old_cfg != config:
                if not force:
                    diffs = describe_mismatch(config, old_cfg)
                    raise ConfigError(
                        f"{out}: this cache was prepared with a different configuration "
                        f"({'; '.join(diffs)}); use --force to rebuild it or choose another --out folder"
                    )
                for entry in old["tracks"].values():
                    _remove_track_dir(out, entry.get("dir"))
                old = None

    tracks, dataset_report = read_dataset(dataset, audio_dir=audio_dir)
    report = PrepareReport(cache_dir=out, dataset_problems=dataset_report)
    out.mkdir(parents=True, exist_ok=True)

    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "config": cfg_dict,
        "dataset_dir": str(dataset.resolve()),
        "array_dtypes": dict(ARRAY_DTYPES),
        "layout": {
            "spec": "(T, n_bins) time-major",
            "mel": "(T_mel, n_mels)",
            "skeleton": "(T, 3, 47)",
            "notes": "(T,)",
        },
        "spec_pad_value": math.log(config.audio.log_floor),
        "mel_pad_value": math.log(config.mel.log_floor),
        "instruments": list(INSTRUMENT_CODES),
        "splits": {},
        "tracks": {},
    }
    old_tracks: dict[str, Any] = dict(old["tracks"]) if old else {}

    # Split over the tracks that can be used (have keypoints), by piece.
    usable = [t for t in tracks if t.has_keypoints]
    for t in tracks:
        if not t.has_keypoints:
            report.skipped.append(
                Problem(
                    t.audio_path, f"{t.track_id}: no keypoints; skipped (the model is driven by keypoints)"
                )
            )
    piece_insts: dict[str, set[str]] = {}
    for t in usable:
        piece_insts.setdefault(t.piece, set()).add(t.instrument)
    piece_splits, split_warnings = split_pieces(piece_insts, config)
    report.piece_splits = piece_splits
    report.warnings.extend(split_warnings)
    manifest["splits"] = piece_splits

    current_ids = {t.track_id for t in usable}
    for tid, entry in old_tracks.items():
        if tid not in current_ids:
            _remove_track_dir(out, entry.get("dir"))
            report.removed.append(tid)

    todo: list[Track] = []
    for t in usable:
        entry = old_tracks.get(t.track_id)
        if entry is not None and _entry_current(entry, t, out):
            entry = dict(entry, split=piece_splits[t.piece], piece=t.piece, instrument=t.instrument)
            manifest["tracks"][t.track_id] = entry
            report.up_to_date.append(t.track_id)
        else:
            todo.append(t)
    _write_manifest(out, manifest)
    total = len(tracks)
    done = total - len(todo)
    if progress is not None:
        progress(done, total)

    def record(track: Track, status: str, payload: Any) -> None:
        nonlocal done
        done += 1
        if status == "ok":
            payload["split"] = piece_splits[track.piece]
            manifest["tracks"][track.track_id] = payload
            report.written.append(track.track_id)
            report.warnings.extend(f"{track.track_id}: {w}" for w in payload.get("warnings", ()))
            _write_manifest(out, manifest)
        else:
            path, reason = payload
            problem = Problem(Path(path) if path else None, f"{track.track_id}: {reason}")
            (report.skipped if status == "skipped" else report.failed).append(problem)
            old_entry = old_tracks.get(track.track_id)
            if old_entry is not None:  # a source went bad since the last run: drop the stale arrays
                _remove_track_dir(out, old_entry.get("dir"))
        if progress is not None:
            progress(done, total)

    def cancelled() -> bool:
        return should_cancel is not None and should_cancel()

    tracks_root = out / TRACKS_DIR
    if workers <= 1 or len(todo) <= 1 or any(t.keypoints_loader is not None for t in todo):
        for t in todo:
            if cancelled():
                _write_manifest(out, manifest)
                raise Cancelled("prepare cancelled; finished tracks are kept and a re-run resumes")
            status, payload = _run_one(t, config, tracks_root / _track_dirname(t.track_id))
            record(t, status, payload)
    else:
        import multiprocessing

        # spawn, not fork: torch's thread pools do not survive a fork reliably.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {
                pool.submit(_process_in_worker, t, config, tracks_root / _track_dirname(t.track_id)): t
                for t in todo
            }
            for fut in as_completed(futures):
                status, payload = fut.result()
                record(futures[fut], status, payload)
                if cancelled():
                    for f in futures:
                        f.cancel()
                    _write_manifest(out, manifest)
                    raise Cancelled("prepare cancelled; finished tracks are kept and a re-run resumes")
    _write_manifest(out, manifest)
    return report


# --------------------------------------------------------------------------------------------------------
# Loading crops


class CropDataset(Dataset):
    """Random fixed-length crops of the cached tracks of one split.

    Item ``i`` is a crop of track ``i % n_tracks``, its start drawn from a generator seeded with
    ``(seed, epoch, i)``: the same seed and epoch give the same crops in any DataLoader worker layout, and
    :meth:`set_epoch` gives new crops each epoch. Tracks shorter than the crop are zero-padded at the end
    (the spectrogram with ``log(log_floor)``, i.e. silence; the skeleton holds its last pose; notes with rest)
    and ``length`` says how many frames are real.

    Every time-varying tensor has time as its **last** axis, so crops batch to ``(B, ..., T)``:

    ============== =========================== ===========================================================
    key            shape                       meaning
    ============== =========================== ===========================================================
    spec           (n_bins=1024, T) float32    log-magnitude spectrogram, 62.5 frames/s
    skeleton       (3, 47, T) float32          normalised x, y, confidence per joint
    notes          (T,) int64                  0 rest, pitch + 1
    mel            (n_mels=80, T_mel) float32  only if "mel" is in ``fields``; starts at the same instant
    instrument     () int64                    index in ``INSTRUMENT_CODES`` (evaluation only)
    length         () int64                    real (unpadded) spectrogram frames in the crop
    mel_length     () int64                    real mel frames (if "mel" in fields)
    has_notes      () bool                     False where the track had no note annotation
    start          () int64                    first spectrogram frame of the crop in the track
    track_id       str
    ============== =========================== ===========================================================

    With the default config a 4-second crop is ``T = 251`` frames (``64000 // 256 + 1``) and
    ``T_mel = 173`` (``88200 // 512 + 1``): the centred STFT of a 4-second clip.

    Parameters
    ----------
    cache_dir
        Folder written by :func:`prepare`.
    split
        "train", "val", "test" or "all".
    crop_seconds
        Crop length; the cache config's ``crop_seconds`` when None.
    fields
        Arrays to load, any of "spec", "skeleton", "notes", "mel".
    seed
        Base of the per-item generators.
    crops_per_track
        Items per track per epoch (an epoch of one crop per track is short for URMP's ~40 tracks).
    config
        If given, the cache must have been prepared with exactly this config (ConfigError naming the
        differing fields otherwise).
    """

    def __init__(
        self,
        cache_dir: str | PathLike[str],
        split: str,
        crop_seconds: float | None = None,
        fields: Sequence[str] = ("spec", "skeleton", "notes"),
        seed: int = 0,
        *,
        crops_per_track: int = 1,
        config: CacheConfig | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        manifest = load_manifest(self.cache_dir)
        self.config = manifest_config(manifest)
        if config is not None and config != self.config:
            raise ConfigError(
                f"{self.cache_dir}: cache was prepared with a different configuration: "
                + "; ".join(describe_mismatch(config, self.config))
            )
        if split not in (*SPLITS, "all"):
            raise ValueError(f"split must be one of {', '.join(SPLITS)} or 'all', got {split!r}")
        unknown = [f for f in fields if f not in ARRAY_FIELDS]
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; known: {', '.join(ARRAY_FIELDS)}")
        if crops_per_track < 1:
            raise ValueError("crops_per_track must be >= 1")
        self.split = split
        self.fields = tuple(fields)
        self.seed = int(seed)
        self.epoch = 0
        self.crops_per_track = int(crops_per_track)
        self.entries = sorted(
            (e for e in manifest["tracks"].values() if split == "all" or e.get("split") == split),
            key=lambda e: e["id"],
        )
        if not self.entries:
            raise InputError(
                self.cache_dir / MANIFEST_NAME, f"the cache has no tracks in the {split!r} split"
            )
        for e in self.entries:
            problems = track_array_problems(self.cache_dir, e, self.fields)
            if problems:
                raise problems[0]
        a, m = self.config.audio, self.config.mel
        self.crop_seconds = float(crop_seconds if crop_seconds is not None else self.config.crop_seconds)
        if self.crop_seconds <= 0:
            raise ValueError("crop_seconds must be > 0")
        self.crop_frames = n_crop_frames(self.crop_seconds, a.sample_rate, a.hop_length)
        self.mel_crop_frames = n_crop_frames(self.crop_seconds, m.sample_rate, m.hop_length)
        self.spec_pad_value = float(manifest.get("spec_pad_value", math.log(a.log_floor)))
        self.mel_pad_value = float(manifest.get("mel_pad_value", math.log(m.log_floor)))
        self._arrays: dict[tuple[int, str], np.ndarray] = {}
        #: ``augment(skeleton (T, 3, 47), rng) -> skeleton``, applied to every skeleton crop (the training
        #: stages set it from ``[train] augment_skeleton``); None: the cache's skeleton as it is.
        self.augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None

    # memmaps must not travel to DataLoader workers (they would be pickled as full copies): reopen there.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_arrays"] = {}
        return state

    def set_epoch(self, epoch: int) -> None:
        """Draw different crops in the next epoch (call before iterating, like DistributedSampler's)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.entries) * self.crops_per_track

    @property
    def track_ids(self) -> list[str]:
        return [e["id"] for e in self.entries]

    def _augmented(self, skeleton: np.ndarray, index: int) -> np.ndarray:
        """``skeleton`` through :attr:`augment` (its randomness a function of seed, epoch and index)."""
        if self.augment is None:
            return skeleton
        return self.augment(skeleton, np.random.default_rng((self.seed, self.epoch, index, 0xA06)))

    def _array(self, i: int, name: str) -> np.ndarray:
        key = (i, name)
        arr = self._arrays.get(key)
        if arr is None:
            path = self.cache_dir / self.entries[i]["dir"] / f"{name}.npy"
            try:
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise InputError(
                    path, f"unreadable cache file ({exc}); re-run prepare with --force"
                ) from None
            self._arrays[key] = arr
        return arr

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        ti = index % len(self.entries)
        entry = self.entries[ti]
        T = int(entry["n_frames"])
        crop = self.crop_frames
        rng = np.random.default_rng((self.seed, self.epoch, index))
        start = int(rng.integers(0, T - crop + 1)) if T > crop else 0
        stop = min(start + crop, T)
        length = stop - start
        item: dict[str, Any] = {
            "instrument": torch.tensor(instrument_index(entry["instrument"]), dtype=torch.long),
            "length": torch.tensor(length, dtype=torch.long),
            "has_notes": torch.tensor(bool(entry.get("has_notes", False))),
            "start": torch.tensor(start, dtype=torch.long),
            "track_id": entry["id"],
        }
        if "spec" in self.fields:
            s = np.asarray(self._array(ti, "spec")[start:stop], dtype=np.float32)  # (length, F)
            out = np.full((crop, s.shape[1]), self.spec_pad_value, np.float32)
            out[:length] = s
            item["spec"] = torch.from_numpy(np.ascontiguousarray(out.T))  # (F, T)
        if "skeleton" in self.fields:
            k = np.asarray(self._array(ti, "skeleton")[start:stop], dtype=np.float32)  # (length, 3, 47)
            if length < crop:
                k = np.concatenate([k, np.repeat(k[-1:], crop - length, axis=0)], axis=0)
            k = self._augmented(k, index)
            item["skeleton"] = torch.from_numpy(np.ascontiguousarray(k.transpose(1, 2, 0)))  # (3, 47, T)
        if "notes" in self.fields:
            n = np.zeros(crop, np.int64)
            n[:length] = self._array(ti, "notes")[start:stop]
            item["notes"] = torch.from_numpy(n)
        if "mel" in self.fields:
            a, m = self.config.audio, self.config.mel
            mel_all = self._array(ti, "mel")
            mcrop = self.mel_crop_frames
            # Frame i of a centred STFT is centred at i * hop / sr seconds: same instant, other frame rate.
            mstart = min(
                int(round(start * a.hop_length / a.sample_rate * m.sample_rate / m.hop_length)),
                mel_all.shape[0],
            )
            mstop = min(mstart + mcrop, mel_all.shape[0])
            mm = np.asarray(mel_all[mstart:mstop], dtype=np.float32)
            out = np.full((mcrop, mm.shape[1]), self.mel_pad_value, np.float32)
            out[: mm.shape[0]] = mm
            item["mel"] = torch.from_numpy(np.ascontiguousarray(out.T))  # (n_mels, T_mel)
            item["mel_length"] = torch.tensor(mm.shape[0], dtype=torch.long)
        return item


def describe_cache(cache_dir: str | PathLike[str]) -> str:
    """A table of a prepared cache: tracks, minutes and instruments per split, and the audio settings."""
    manifest = load_manifest(cache_dir)
    cfg = manifest_config(manifest)
    tracks = list(manifest["tracks"].values())
    lines = [
        f"cache           {Path(cache_dir)}",
        f"format version  {manifest['format_version']}",
        f"audio           {cfg.audio.sample_rate} Hz, n_fft {cfg.audio.n_fft}, hop {cfg.audio.hop_length}, "
        f"{cfg.audio.n_bins} bins ({cfg.audio.frame_rate:g} frames/s)",
        f"mel             {cfg.mel.sample_rate} Hz, n_fft {cfg.mel.n_fft}, hop {cfg.mel.hop_length}, {cfg.mel.n_mels} bands",
        f"tracks          {len(tracks)} ({sum(float(t.get('duration', 0)) for t in tracks) / 60:.1f} min)",
        "",
        f"{'split':<6} {'tracks':>6} {'pieces':>6} {'minutes':>8}  instruments",
    ]
    for split in SPLITS:
        rows = [t for t in tracks if t.get("split") == split]
        minutes = sum(float(t.get("duration", 0)) for t in rows) / 60
        pieces = len({t.get("piece") for t in rows})
        insts = sorted({t.get("instrument", "?") for t in rows}, key=str)
        lines.append(f"{split:<6} {len(rows):>6} {pieces:>6} {minutes:>8.1f}  {' '.join(insts)}")
    return "\n".join(lines)


def cache_problems(cache_dir: str | PathLike[str]) -> list[InputError]:
    """Every problem of a prepared cache's arrays: missing, empty, truncated, object-dtype or mis-shaped files,
    tracks without frames, and NaN or infinite values (each naming its file)."""
    root = Path(cache_dir)
    manifest = load_manifest(root)
    problems: list[InputError] = []
    for entry in sorted(manifest["tracks"].values(), key=lambda e: e["id"]):
        found = track_array_problems(root, entry, ARRAY_FIELDS)
        if not found:
            found = track_value_problems(root, entry, ARRAY_FIELDS)
        problems += found
    return problems
