"""``minet-train evaluate``: every model on the test split of one prepared cache, the papers' tables.

Each model is run the way the app runs it: a :class:`~minet_desktop.engine.session.Session` on the bundle
generates from the test performance's keypoint file (and its notes, for the MIDI-conditioned models), so the
numbers measure what a user hears. Per model and test track, in a work folder (a re-run resumes: finished
tracks are read back, not generated again):

* the NDB features of every take (:func:`training.evaluate.metrics.segment_features` of the generated
  log-spectrogram, cut into ``segment_seconds`` segments),
* log-mel MSE against the ground-truth render's log-mel, instrument-classifier predictions on its segments,
  pitch accuracy and onset F1 against the score (the first ``audio_seconds`` of each track, to bound the cost
  of the pitch tracker),
* a spectrogram excerpt for the figure.

Then, across tracks: NDB (k-means on the *training* split's real log-spectrogram segments) with the test
set's own NDB as the reference; 1-NN cosine accuracy of movement embeddings (train-split crops as the
neighbours, test-split crops as the queries) and a t-SNE plot; the VQ-VAE ablation (test L2 with and
without MBR); the prior's test NLL per code (unconditional, content encoder, GRU seq2seq). Two reference rows
bound what a model can reach: the real test audio, and the same audio through the representation and
Griffin-Lim (the ceiling of any model that generates a log-spectrogram and inverts it with Griffin-Lim).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch

from minet_desktop.core.atomic import atomic_path, file_sha256
from minet_desktop.core.config import describe_mismatch
from minet_desktop.core.errors import InputError
from minet_desktop.engine import model_types
from minet_desktop.features.audio import log_spectrogram, spectrogram_to_audio
from minet_desktop.media.audio_io import read_audio, resample_audio
from minet_desktop.media.midi import Note, read_midi_notes, read_notes_txt
from minet_desktop.pose.keypoint_file import KeypointFile
from training.cache import load_manifest, manifest_config
from training.evaluate import metrics as M
from training.evaluate.classifier import InstrumentClassifier, segment_mels
from training.evaluate.judge import DEFAULT_JUDGE, InstrumentJudge

#: Display names of the model types, in report order.
MODEL_NAMES = {t.key: t.label for t in model_types.MODEL_TYPES}
REAL = "Test set (ground-truth renders)"
HARD_REAL = "Hard views (ground-truth renders)"
ORACLE = "Test set through Griffin-Lim"
VQ_ORACLE = "Test set through the VQ-VAE"
JUDGE_LOSO = "Instrument judge on a soundfont it never heard"

INSTRUMENT_NAMES = {
    "vn": "violin",
    "va": "viola",
    "vc": "cello",
    "db": "double bass",
    "fl": "flute",
    "ob": "oboe",
    "cl": "clarinet",
    "sax": "saxophone",
    "bn": "bassoon",
    "tpt": "trumpet",
    "hn": "horn",
    "tbn": "trombone",
    "tba": "tuba",
}


@dataclass
class EvalOptions:
    """What ``minet-train evaluate`` computes and how much of it."""

    takes: int = 2  # per test track and stochastic model (NDB samples); deterministic models run once
    seed: int = 0
    griffin_lim_iters: int = 32
    segment_seconds: float = 1.0  # NDB sample length
    audio_seconds: float = 10.0  # per track, for pitch accuracy and onset F1
    knn_crop_seconds: float = 4.0
    knn_train_crops: int = 4  # per training track
    max_tracks: int | None = None
    ndb_k: int = 50
    ndb_train_segments: int = 8000
    device: str = "cpu"
    figure_instruments: tuple[str, ...] = ("vn", "vc", "fl", "tpt")
    figure_seconds: float = 4.0
    judge: str | None = None  # an instrument judge file; None: the shipped one


@dataclass
class EvalTrack:
    """One test performance: where its keypoints, recording and score are, and its cached arrays."""

    id: str
    dir: Path
    instrument: str
    duration: float
    keypoints: Path
    audio: Path
    notes: Path | None

    @property
    def key(self) -> str:
        return self.dir.name


@dataclass
class ModelRow:
    """One line of the report's main table (None: not applicable to this row)."""

    name: str
    model_type: str
    ndb: int | None = None
    ndb_js: float | None = None
    n_samples: int | None = None
    logmel_mse: float | None = None
    pitch_accuracy: float | None = None
    voicing_recall: float | None = None
    onset_precision: float | None = None
    onset_recall: float | None = None
    onset_f1: float | None = None
    instrument_accuracy: float | None = None
    instrument_per_class: dict[str, float] = field(default_factory=dict)
    # The instrument judge (training.evaluate.judge): the figure every "instrument identified" now quotes.
    judge_accuracy: float | None = None
    judge_per_class: dict[str, float] = field(default_factory=dict)
    knn_accuracy: float | None = None
    knn_per_class: dict[str, float] = field(default_factory=dict)
    rtf: float | None = None
    # On the hard-views set (``--hard-views``): 1-NN against this cache's training split, instrument heard.
    hard_knn_accuracy: float | None = None
    hard_knn_per_class: dict[str, float] = field(default_factory=dict)
    hard_instrument_accuracy: float | None = None
    hard_instrument_per_class: dict[str, float] = field(default_factory=dict)
    hard_judge_accuracy: float | None = None
    hard_judge_per_class: dict[str, float] = field(default_factory=dict)
    bundle: str = ""


def _source(entry: dict[str, Any], pred: Callable[[Path], bool]) -> Path | None:
    for s in entry.get("sources", []):
        p = Path(s["path"])
        if pred(p):
            return p
    return None


def load_test_tracks(cache_dir: str | PathLike[str], split: str = "test") -> list[EvalTrack]:
    """The tracks of ``split`` ("all": every track) with the source files the cache was prepared from
    (InputError if missing)."""
    cache = Path(cache_dir)
    manifest = load_manifest(cache)
    out = []
    for tid, e in sorted(manifest["tracks"].items()):
        if split != "all" and e.get("split") != split:
            continue
        kp = _source(e, lambda p: p.suffix == ".npz")
        audio = _source(e, lambda p: p.suffix.lower() in (".wav", ".flac", ".ogg", ".mp3", ".m4a"))
        notes = _source(e, lambda p: p.suffix.lower() in (".txt", ".mid", ".midi"))
        for what, p in (("keypoint file", kp), ("recording", audio)):
            if p is None or not p.is_file():
                raise InputError(
                    cache / "manifest.json",
                    f"track {tid}: its {what} ({p}) is gone; evaluation runs the models on the original "
                    "keypoint files and compares with the original recordings",
                )
        out.append(
            EvalTrack(
                tid,
                cache / e["dir"],
                e["instrument"],
                float(e["duration"]),
                kp,  # type: ignore[arg-type]
                audio,  # type: ignore[arg-type]
                notes if notes is not None and notes.is_file() else None,
            )
        )
    if not out:
        raise InputError(cache / "manifest.json", f"the cache has no {split!r} track to evaluate on")
    return out


def _read_notes(path: Path | None) -> list[Note] | None:
    if path is None:
        return None
    return read_notes_txt(path) if path.suffix.lower() == ".txt" else read_midi_notes(path)


def _clip_notes(notes: Sequence[Note], seconds: float) -> list[Note]:
    return [n for n in notes if n.onset < seconds]


def track_excerpt(track: EvalTrack, seconds: float) -> tuple[KeypointFile, list[Note]]:
    """The first ``seconds`` of a track: its keypoints and the notes that start in them."""
    kf = KeypointFile.load(track.keypoints)
    kf = replace(kf, keypoints=kf.keypoints[: min(kf.n_frames, int(round(seconds * kf.fps)))])
    return kf, _clip_notes(_read_notes(track.notes) or [], seconds)


def _cached(track: EvalTrack, name: str) -> np.ndarray:
    return np.load(track.dir / f"{name}.npy", mmap_mode="r")


# ----------------------------------------------------------------------------------------------------------
# per-track audio metrics shared by the models and the reference rows


@dataclass
class TrackAudioResult:
    """What one waveform scored on one track (counts, so tracks can be pooled)."""

    mse_sum: float = 0.0
    mse_frames: int = 0
    pitch_correct: float = 0.0
    pitch_frames: int = 0
    voiced: float = 0.0
    onset_matched: float = 0.0
    onset_ref: int = 0
    onset_est: int = 0
    clf_pred: list[str] = field(default_factory=list)
    judge_pred: list[str] | None = (
        None  # None: scored before the judge existed (the row shows no judge figure)
    )


def score_audio(
    wave: np.ndarray,
    sr: int,
    track: EvalTrack,
    notes: list[Note] | None,
    clf: InstrumentClassifier,
    opts: EvalOptions,
    mel_frames_per_segment: int,
    judge: InstrumentJudge | None = None,
) -> TrackAudioResult:
    """Log-mel MSE against the recording, classifier and judge predictions, pitch accuracy and onset F1."""
    r = TrackAudioResult()
    mel = M.logmel_of(wave, sr)
    ref_mel = np.asarray(_cached(track, "mel"), dtype=np.float32).T  # cache: (T, 80) -> (80, T)
    n = min(mel.shape[1], ref_mel.shape[1])
    if n:
        r.mse_sum = float(((mel[:, :n] - ref_mel[:, :n]) ** 2).mean(axis=0).sum())
        r.mse_frames = n
    segs = segment_mels(mel, mel_frames_per_segment)
    if segs:
        r.clf_pred = [str(x) for x in clf.predict(segs)]
    if judge is not None:
        # The same segments as the first classifier, silent ones included: a model that falls silent is wrong.
        r.judge_pred = judge.predict(np.stack(segs)) if segs else []
    if notes:
        cut = int(round(opts.audio_seconds * sr))
        head = wave[:cut]
        head_notes = _clip_notes(notes, opts.audio_seconds)
        if head_notes:
            p = M.pitch_accuracy(head, sr, head_notes)
            r.pitch_frames = int(p.n_frames)
            r.pitch_correct = float(p.n_correct)  # counts: a clip of only rests or chords has NaN ratios
            r.voiced = float(p.n_voiced)
            onsets = np.array([x.onset for x in head_notes if x.onset < len(head) / sr - 0.05])
            o = M.onset_f1(head, sr, onsets)
            r.onset_ref, r.onset_est = int(o.n_ref), int(o.n_est)
            r.onset_matched = float(o.n_matched)
    return r


def _pool(rows: Iterable[TrackAudioResult], labels: Iterable[str], row: ModelRow) -> None:
    rows, labels = list(rows), list(labels)
    mse_f = sum(r.mse_frames for r in rows)
    row.logmel_mse = sum(r.mse_sum for r in rows) / mse_f if mse_f else None
    pf = sum(r.pitch_frames for r in rows)
    if pf:
        row.pitch_accuracy = sum(r.pitch_correct for r in rows) / pf
        row.voicing_recall = sum(r.voiced for r in rows) / pf
    n_ref, n_est = sum(r.onset_ref for r in rows), sum(r.onset_est for r in rows)
    matched = sum(r.onset_matched for r in rows)
    if n_ref:
        p = matched / n_est if n_est else 0.0
        rc = matched / n_ref
        row.onset_precision, row.onset_recall = p, rc
        row.onset_f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
    correct: dict[str, list[int]] = {}
    for r, lab in zip(rows, labels, strict=True):
        c = correct.setdefault(lab, [0, 0])
        c[0] += sum(1 for x in r.clf_pred if x == lab)
        c[1] += len(r.clf_pred)
    total = sum(c[1] for c in correct.values())
    if total:
        row.instrument_accuracy = sum(c[0] for c in correct.values()) / total
        row.instrument_per_class = {k: c[0] / c[1] for k, c in sorted(correct.items()) if c[1]}
    if rows and all(r.judge_pred is not None for r in rows):
        judged: dict[str, list[int]] = {}
        for r, lab in zip(rows, labels, strict=True):
            c = judged.setdefault(lab, [0, 0])
            c[0] += sum(1 for x in r.judge_pred or [] if x == lab)
            c[1] += len(r.judge_pred or [])
        total = sum(c[1] for c in judged.values())
        if total:
            row.judge_accuracy = sum(c[0] for c in judged.values()) / total
            row.judge_per_class = {k: c[0] / c[1] for k, c in sorted(judged.items()) if c[1]}


def _result_to_json(r: TrackAudioResult) -> dict[str, Any]:
    return asdict(r)


def _result_from_json(d: dict[str, Any]) -> TrackAudioResult:
    return TrackAudioResult(**d)


# ----------------------------------------------------------------------------------------------------------


def _work_key(bundle_path: Path, model_type: str) -> str:
    """What a model's generated tracks are kept under in the work folder: the bundle's bytes and, for the MI
    Nets, the engine's articulation settings (they change the audio of the same bundle) and, for one that
    steers in Auto, the app's performance detector (it decides which performances Auto steers)."""
    digest = file_sha256(bundle_path)
    if model_type in ("minet", "minet_midi"):
        from minet_desktop.engine.articulation import DEFAULT
        from minet_desktop.engine.paths import performance_detector_path
        from minet_desktop.model.bundle import read_bundle_config

        extra = repr(DEFAULT)
        cfg, _ = read_bundle_config(bundle_path)
        detector = performance_detector_path()
        if cfg.instruments is not None and cfg.instruments.auto_steer > 0 and detector.is_file():
            extra += f" performance {file_sha256(detector)}"
        digest = hashlib.sha256(f"{digest} {extra}".encode()).hexdigest()
    return digest[:16]


class Evaluation:
    """One evaluation run: the cache, the reference statistics, the work folder."""

    def __init__(
        self,
        cache_dir: str | PathLike[str],
        out_dir: str | PathLike[str],
        opts: EvalOptions | None = None,
        log: Callable[[str], None] = print,
        work_dir: str | PathLike[str] | None = None,
        hard_views: str | PathLike[str] | None = None,
        split: str = "test",
    ) -> None:
        self.cache = Path(cache_dir)
        self.split = (
            split  # the split evaluated ("val" to choose a setting without looking at the test split)
        )
        self.out = Path(out_dir)
        self.work = Path(work_dir) if work_dir is not None else self.out / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.opts = opts or EvalOptions()
        self.log = log
        self.manifest = load_manifest(self.cache)
        self.config = manifest_config(self.manifest)
        self.tracks = load_test_tracks(self.cache, split)
        if self.opts.max_tracks:
            self.tracks = self.tracks[: self.opts.max_tracks]
        self.train_entries = [e for e in self.manifest["tracks"].values() if e.get("split") == "train"]
        a = self.config.audio
        self.spec_frames_per_segment = max(1, int(round(self.opts.segment_seconds * a.frame_rate)))
        mc = self.config.mel
        self.mel_frames_per_segment = max(
            1, int(round(self.opts.segment_seconds * mc.sample_rate / mc.hop_length))
        )
        self.rows: list[ModelRow] = []
        self.figure: dict[str, dict[str, np.ndarray]] = {}  # instrument -> column -> spec excerpt
        self.extra: dict[str, Any] = {}
        self._ndb: M.NDB | None = None
        self._clf: InstrumentClassifier | None = None
        self._judge: InstrumentJudge | None = None
        self._judge_missing_said = False
        self.notes = {t.id: _read_notes(t.notes) for t in self.tracks}
        # The hard-views benchmark (`minet-train synth --views hard` prepared into a second cache): all its
        # tracks are queries; neighbours and the classifier come from this cache's training split.
        self.hard_cache = Path(hard_views) if hard_views is not None else None
        self.hard_tracks: list[EvalTrack] = []
        if self.hard_cache is not None:
            hm = load_manifest(self.hard_cache)
            hc = manifest_config(hm)
            mismatch = [
                f"{name}.{m}"
                for name in ("audio", "mel", "skeleton")
                for m in describe_mismatch(getattr(self.config, name), getattr(hc, name))
            ]
            if mismatch:
                raise InputError(
                    self.hard_cache / "manifest.json",
                    "the hard-views cache was prepared with other settings: " + "; ".join(mismatch),
                )
            self.hard_manifest = hm
            self.hard_tracks = load_test_tracks(self.hard_cache, "all")
            if self.opts.max_tracks:
                self.hard_tracks = self.hard_tracks[: self.opts.max_tracks]
            self.hard_notes = {t.id: _read_notes(t.notes) for t in self.hard_tracks}

    # -- references ---------------------------------------------------------------------------------------

    def _train_array(self, e: dict[str, Any], name: str) -> np.ndarray:
        return np.load(self.cache / e["dir"] / f"{name}.npy", mmap_mode="r")

    @property
    def ndb(self) -> M.NDB:
        """k-means cells of the training split's real log-spectrogram segments."""
        if self._ndb is None:
            t0 = time.perf_counter()
            feats = [
                M.segment_features(
                    np.asarray(self._train_array(e, "spec"), np.float32).T, self.spec_frames_per_segment
                )
                for e in self.train_entries
            ]
            X = np.concatenate([f for f in feats if len(f)])
            rng = np.random.default_rng(self.opts.seed)
            if len(X) > self.opts.ndb_train_segments:
                X = X[np.sort(rng.choice(len(X), self.opts.ndb_train_segments, replace=False))]
            self._ndb = M.NDB(k=self.opts.ndb_k, seed=self.opts.seed).fit(X)
            self.extra["ndb_train_segments"] = int(len(X))
            self.log(
                f"NDB: k-means (k={self.opts.ndb_k}) on {len(X)} training segments ({time.perf_counter() - t0:.0f} s)"
            )
        return self._ndb

    @property
    def classifier(self) -> InstrumentClassifier:
        """Instrument classifier trained on the training split's ground-truth renders only."""
        if self._clf is None:
            t0 = time.perf_counter()
            segs: list[np.ndarray] = []
            labels: list[str] = []
            for e in self.train_entries:
                mel = np.asarray(self._train_array(e, "mel"), np.float32).T
                s = segment_mels(mel, self.mel_frames_per_segment)
                segs += s
                labels += [e["instrument"]] * len(s)
            self._clf = InstrumentClassifier().fit(segs, labels)
            self.extra["classifier_train_segments"] = len(segs)
            self.log(
                f"instrument classifier: {len(segs)} ground-truth training segments ({time.perf_counter() - t0:.0f} s)"
            )
        return self._clf

    @property
    def judge(self) -> InstrumentJudge | None:
        """The instrument judge (the shipped one unless ``EvalOptions.judge`` names another).

        None only while no judge has been trained (the shipped file is missing and none was named): tracks are
        then generated and kept with their log-mel, and a later run with the judge scores them.
        """
        if self._judge is None:
            if self.opts.judge is None and not DEFAULT_JUDGE.is_file():
                if not self._judge_missing_said:
                    self.log(
                        f"no instrument judge at {DEFAULT_JUDGE}: its columns stay empty (minet-train judge)"
                    )
                    self._judge_missing_said = True
                return None
            self._judge = InstrumentJudge.load(self.opts.judge)
            info = self._judge.info
            self.extra["judge"] = {
                "path": str(self.opts.judge or "shipped"),
                "soundfonts": info.get("soundfonts"),
                "loso_mean": info.get("loso_mean"),
                "corpus_test": (info.get("corpus_test") or {}).get("accuracy"),
            }
        return self._judge

    def _reference_rows(self) -> None:
        info = self.judge.info if self.judge is not None else {}
        if info.get("loso_mean") is not None:
            # The judge's own reference: how well it names an instrument in a soundfont it never heard.
            self.rows.append(
                ModelRow(
                    JUDGE_LOSO,
                    "reference",
                    judge_accuracy=float(info["loso_mean"]),
                    judge_per_class={k: float(v) for k, v in info.get("loso_per_instrument", {}).items()},
                )
            )
        real = ModelRow(REAL, "reference")
        oracle = ModelRow(ORACLE, "reference")
        real_res, oracle_res, labels = [], [], []
        feats = []
        for t in self.tracks:
            spec = np.asarray(_cached(t, "spec"), np.float32).T  # (F, T)
            feats.append(M.segment_features(spec, self.spec_frames_per_segment))
            path = self.work / "reference" / f"{t.key}.json"
            if path.is_file():
                d = json.loads(path.read_text())
                real_res.append(_result_from_json(d["real"]))
                oracle_res.append(_result_from_json(d["oracle"]))
            else:
                wave, sr = read_audio(t.audio)
                r_real = self._score(wave, sr, t)
                gl = spectrogram_to_audio(spec, self.config.audio, n_iter=self.opts.griffin_lim_iters)
                r_gl = self._score(gl, self.config.audio.sample_rate, t)
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(path) as tmp:
                    Path(tmp).write_text(
                        json.dumps({"real": _result_to_json(r_real), "oracle": _result_to_json(r_gl)})
                    )
                real_res.append(r_real)
                oracle_res.append(r_gl)
            labels.append(t.instrument)
            if t.instrument in self.opts.figure_instruments and t.instrument not in self.figure:
                n = int(self.opts.figure_seconds * self.config.audio.frame_rate)
                self.figure[t.instrument] = {"ground truth": spec[:, :n].copy(), "_track": t.id}  # type: ignore[dict-item]
        res = self.ndb.score(np.concatenate(feats))
        real.ndb, real.ndb_js, real.n_samples = (
            int(res.n_different),
            float(res.js_divergence),
            int(sum(map(len, feats))),
        )
        _pool(real_res, labels, real)
        _pool(oracle_res, labels, oracle)
        self.rows += [real, oracle]

    @torch.inference_mode()
    def vqvae_row(self, bundle_path: str | PathLike[str]) -> ModelRow | None:
        """The test set encoded and decoded by an MI Net bundle's VQ-VAE, then Griffin-Lim: the ceiling of what
        its prior can sound like (a prior that picked the recording's own codes would sound like this).

        None when the bundle is not an MI Net or its spectrogram settings differ from the cache's. Tracks are
        kept in the work folder keyed by the VQ-VAE's weights, so bundles that share a VQ-VAE share the row.
        """
        from minet_desktop.model.bundle import load_bundle
        from training.train.data import vqvae_fingerprint

        bundle_path = Path(bundle_path)
        if not model_types.has_prior(_model_type(bundle_path)):
            return None
        b = load_bundle(bundle_path)
        a = b.cfg.audio
        c = self.config.audio
        if (a.sample_rate, a.n_bins, a.hop_length, a.n_fft) != (
            c.sample_rate,
            c.n_bins,
            c.hop_length,
            c.n_fft,
        ):
            return None
        fp = vqvae_fingerprint(b.vqvae)[:16]
        if any(r.name == VQ_ORACLE and r.bundle == fp for r in self.rows):
            return None
        work = self.work / f"vqvae-{fp}"
        work.mkdir(parents=True, exist_ok=True)
        row = ModelRow(VQ_ORACLE, "reference", bundle=fp)
        vq = b.vqvae.eval()
        feats, results, labels = [], [], []
        for i, t in enumerate(self.tracks):
            fpath, jpath = work / f"{t.key}.npz", work / f"{t.key}.json"
            if fpath.is_file() and jpath.is_file():
                feats.append(np.load(fpath)["feats"])
                results.append(_result_from_json(json.loads(jpath.read_text())["audio"]))
                labels.append(t.instrument)
                continue
            spec = torch.from_numpy(np.asarray(_cached(t, "spec"), np.float32).T.copy())  # (F, T)
            recon = vq.decode(vq.encode(spec[None]))[0, :, : spec.shape[1]].numpy()
            wave = spectrogram_to_audio(recon, c, n_iter=self.opts.griffin_lim_iters)
            r = self._score(wave, c.sample_rate, t)
            f = M.segment_features(recon, self.spec_frames_per_segment).astype(np.float32)
            with atomic_path(fpath) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, feats=f)
            with atomic_path(jpath) as tmp:
                Path(tmp).write_text(json.dumps({"audio": _result_to_json(r)}))
            feats.append(f)
            results.append(r)
            labels.append(t.instrument)
            self.log(f"  {VQ_ORACLE}: {i + 1}/{len(self.tracks)} {t.id}")
        X = np.concatenate(feats)
        nd = self.ndb.score(X)
        row.ndb, row.ndb_js, row.n_samples = int(nd.n_different), float(nd.js_divergence), int(len(X))
        _pool(results, labels, row)
        self.rows.append(row)
        return row

    def _score(self, wave: np.ndarray, sr: int, t: EvalTrack) -> TrackAudioResult:
        return score_audio(
            np.asarray(wave, np.float32),
            sr,
            t,
            self.notes[t.id],
            self.classifier,
            self.opts,
            self.mel_frames_per_segment,
            self.judge,
        )

    # -- models -------------------------------------------------------------------------------------------

    def evaluate_model(self, bundle_path: str | PathLike[str]) -> ModelRow:
        """Generate every test track with the bundle (through the engine's Session) and score it."""
        from minet_desktop.engine.session import Session

        bundle_path = Path(bundle_path)
        session = Session(bundle_path, device=self.opts.device)
        mt = session.model_type
        row = ModelRow(MODEL_NAMES.get(mt, mt), mt, bundle=str(bundle_path))
        stochastic = model_types.has_prior(mt)
        takes = self.opts.takes if stochastic else 1
        key = f"{mt}-{_work_key(bundle_path, mt)}"  # another bundle at the same path is generated anew
        work = self.work / key
        work.mkdir(parents=True, exist_ok=True)
        a = session.cfg.audio if hasattr(session.cfg, "audio") else None
        native_spec = (
            a is not None
            and a.sample_rate == self.config.audio.sample_rate
            and a.n_bins == self.config.audio.n_bins
            and a.hop_length == self.config.audio.hop_length
        )
        feats, results, labels = [], [], []
        gen_seconds = audio_seconds = 0.0
        for i, t in enumerate(self.tracks):
            fpath, jpath = work / f"{t.key}.npz", work / f"{t.key}.json"
            if fpath.is_file() and jpath.is_file():
                feats.append(np.load(fpath)["feats"])
                d = json.loads(jpath.read_text())
                results.append(_result_from_json(d["audio"]))
                if (
                    results[-1].judge_pred is None
                    and self.judge is not None
                    and "mel" in np.load(fpath).files
                ):
                    # Generated before the judge existed: judge the stored log-mel of the scored take.
                    mel = np.asarray(np.load(fpath)["mel"], np.float32)
                    segs = segment_mels(mel, self.mel_frames_per_segment)
                    results[-1].judge_pred = self.judge.predict(np.stack(segs)) if segs else []
                gen_seconds += d["seconds"]
                audio_seconds += d["duration"]
                labels.append(t.instrument)
                if "excerpt" in np.load(fpath).files:
                    self._figure_add(t, row.name, np.load(fpath)["excerpt"])
                continue
            kf = KeypointFile.load(t.keypoints)
            notes = self.notes[t.id]
            if session.model_type.endswith("_midi") and notes is None:
                raise InputError(t.keypoints, "this track has no notes, and the model is MIDI-conditioned")
            t0 = time.perf_counter()
            res = session.generate(
                kf,
                notes=notes if session.model_type.endswith("_midi") else None,
                takes=takes,
                seed=self.opts.seed + 1000 * i,
                griffin_lim_iters=self.opts.griffin_lim_iters,
            )
            dt = time.perf_counter() - t0
            specs = []
            for k in range(res.takes):
                if native_spec:
                    spec = np.asarray(res.spectrogram[k], np.float32)
                else:
                    w = res.waveform[k]
                    if res.sample_rate != self.config.audio.sample_rate:
                        w = resample_audio(w, res.sample_rate, self.config.audio.sample_rate)
                    spec = log_spectrogram(w, self.config.audio)
                specs.append(spec)
            f = np.concatenate([M.segment_features(s, self.spec_frames_per_segment) for s in specs])
            r = self._score(res.waveform[0], res.sample_rate, t)
            n_fig = int(self.opts.figure_seconds * self.config.audio.frame_rate)
            # The scored take's log-mel, so a judge trained later can still hear it without generating again.
            arrays = {
                "feats": f.astype(np.float32),
                "mel": M.logmel_of(res.waveform[0], res.sample_rate).astype(np.float16),
            }
            if (
                t.instrument in self.opts.figure_instruments
                and self.figure.get(t.instrument, {}).get("_track") == t.id
            ):
                arrays["excerpt"] = specs[0][:, :n_fig].astype(np.float16)
                self._figure_add(t, row.name, arrays["excerpt"])
            with atomic_path(fpath) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, **arrays)
            with atomic_path(jpath) as tmp:
                Path(tmp).write_text(
                    json.dumps(
                        {
                            "audio": _result_to_json(r),
                            "seconds": dt,
                            "duration": res.duration,
                            "takes": res.takes,
                        }
                    )
                )
            feats.append(f)
            results.append(r)
            labels.append(t.instrument)
            gen_seconds += dt
            audio_seconds += res.duration
            self.log(
                f"  {row.name}: {i + 1}/{len(self.tracks)} {t.id} ({res.duration:.0f} s x {res.takes} in {dt:.1f} s)"
            )
        X = np.concatenate(feats)
        nd = self.ndb.score(X)
        row.ndb, row.ndb_js, row.n_samples = int(nd.n_different), float(nd.js_divergence), int(len(X))
        _pool(results, labels, row)
        row.rtf = gen_seconds / audio_seconds if audio_seconds else None
        self.rows.append(row)
        return row

    def _figure_add(self, t: EvalTrack, column: str, excerpt: np.ndarray) -> None:
        fig = self.figure.get(t.instrument)
        if fig is not None and fig.get("_track") == t.id:
            fig[column] = np.asarray(excerpt, np.float32)

    # -- movement embeddings --------------------------------------------------------------------------------

    def _embed_crops(
        self,
        embed: Callable[[torch.Tensor], torch.Tensor],
        entries: Iterable[dict[str, Any]],
        limit: int | None,
        cache: Path | None = None,
    ) -> tuple[np.ndarray, list[str]]:
        """Movement embeddings of consecutive ``knn_crop_seconds`` skeleton crops of cache tracks (at most
        ``limit`` per track, spread over it) and their instruments."""
        n = int(round(self.opts.knn_crop_seconds * self.config.audio.frame_rate))
        return embed_crops(embed, self.cache if cache is None else cache, entries, limit, n)

    def knn(self, row: ModelRow, embed: Callable[[torch.Tensor], torch.Tensor], out_png: Path | None) -> None:
        """1-NN cosine accuracy of ``embed`` on skeleton crops: training-split neighbours, test-split queries."""

        def crops(entries: Iterable[dict[str, Any]], limit: int | None) -> tuple[np.ndarray, list[str]]:
            return self._embed_crops(embed, entries, limit)

        test_entries = [self.manifest["tracks"][t.id] for t in self.tracks]
        tr_x, tr_y = crops(self.train_entries, self.opts.knn_train_crops)
        te_x, te_y = crops(test_entries, None)
        res = M.knn_accuracy(tr_x, np.array(tr_y), te_x, np.array(te_y))
        row.knn_accuracy = float(res.accuracy)
        row.knn_per_class = {str(k): float(v) for k, v in sorted(res.per_class.items())}
        if out_png is not None and len(te_x) >= 3:  # (t-SNE needs three points; a tiny split has fewer)
            M.tsne_figure(
                te_x,
                [INSTRUMENT_NAMES.get(y, y) for y in te_y],
                out_png,
                f"{row.name}: movement embeddings ({self.split})",
            )

    # -- the hard-views benchmark ----------------------------------------------------------------------------

    def hard_reference_row(self) -> ModelRow:
        """The hard-views set's own recordings through the classifier: what a model's audio can reach there."""
        row = ModelRow(HARD_REAL, "reference")
        mels, labels = [], []
        for t in self.hard_tracks:
            wave, sr = read_audio(t.audio)
            mels.append(M.logmel_of(wave, sr))
            labels.append(t.instrument)
        self._hard_scores(row, mels, labels)
        self.rows.append(row)
        return row

    def _hard_scores(self, row: ModelRow, mels: Sequence[np.ndarray], labels: Sequence[str]) -> None:
        """The classifier's (and the judge's, when there is one) share of 1-s segments heard as the instrument."""
        segs = [segment_mels(np.asarray(m, np.float32), self.mel_frames_per_segment) for m in mels]
        preds = [[str(x) for x in self.classifier.predict(s)] if s else [] for s in segs]
        row.hard_instrument_accuracy, row.hard_instrument_per_class = _share(preds, labels)
        judge = self.judge
        if judge is not None:
            jp = [list(judge.predict(np.stack(s))) if s else [] for s in segs]
            row.hard_judge_accuracy, row.hard_judge_per_class = _share(jp, labels)

    def hard_views(self, row: ModelRow, bundle_path: str | PathLike[str]) -> None:
        """Fill ``row``'s hard-views columns: the bundle generates every hard-views performance (one take, as
        the app does) and the classifier (and the instrument judge, when one is there) says what it hears; its
        movement embedding (if any) of the hard-views crops is classified by 1-NN against this cache's training
        split. The generated log-mel is kept in the work folder: a re-run (or a new judge) scores it again
        without generating."""
        from minet_desktop.engine.session import Session

        assert self.hard_cache is not None
        bundle_path = Path(bundle_path)
        session = Session(bundle_path, device=self.opts.device)
        midi = session.model_type.endswith("_midi")
        work = self.work / f"hard-{session.model_type}-{_work_key(bundle_path, session.model_type)}"
        work.mkdir(parents=True, exist_ok=True)
        mels, labels = [], []
        for i, t in enumerate(self.hard_tracks):
            path = work / f"{t.key}.npy"
            if path.is_file():
                mel = np.load(path)
            else:
                notes = self.hard_notes[t.id] if midi else None
                if midi and notes is None:
                    raise InputError(
                        t.keypoints, "this track has no notes, and the model is MIDI-conditioned"
                    )
                t0 = time.perf_counter()
                res = session.generate(
                    KeypointFile.load(t.keypoints),
                    notes=notes,
                    takes=1,
                    seed=self.opts.seed + 1000 * i,
                    griffin_lim_iters=self.opts.griffin_lim_iters,
                )
                mel = M.logmel_of(res.waveform[0], res.sample_rate).astype(np.float16)
                with atomic_path(path) as tmp:
                    with open(tmp, "wb") as fh:
                        np.save(fh, mel)
                self.log(
                    f"  {row.name} (hard views): {i + 1}/{len(self.hard_tracks)} {t.id} "
                    f"({time.perf_counter() - t0:.1f} s)"
                )
            mels.append(mel)
            labels.append(t.instrument)
        self._hard_scores(row, mels, labels)
        embed = movement_embedder(bundle_path)
        if embed is not None:
            tr_x, tr_y = self._embed_crops(embed, self.train_entries, self.opts.knn_train_crops)
            hard_entries = [self.hard_manifest["tracks"][t.id] for t in self.hard_tracks]
            q_x, q_y = self._embed_crops(embed, hard_entries, None, self.hard_cache)
            res = M.knn_accuracy(tr_x, np.array(tr_y), q_x, np.array(q_y))
            row.hard_knn_accuracy = float(res.accuracy)
            row.hard_knn_per_class = {str(k): float(v) for k, v in sorted(res.per_class.items())}

    # -- the bundled demo performances -------------------------------------------------------------------------

    def demo_check(
        self, bundles: Sequence[str | PathLike[str]], demo_dir: str | PathLike[str]
    ) -> list[dict[str, Any]]:
        """Generate each demo performance (``<instrument>.mp4`` + keypoint sidecar + ``.mid``) with each bundle
        and ask the instrument judge (and the previous classifier) which instrument it hears: does the app's first impression sound like
        the instrument on screen?"""
        from minet_desktop.engine.inputs import load_performance
        from minet_desktop.engine.session import Session

        by_name = {v: k for k, v in INSTRUMENT_NAMES.items()}
        out = []

        def heard(wave: np.ndarray, sr: int, code: str, judge: bool = True) -> tuple[str, float]:
            segs = segment_mels(M.logmel_of(wave, sr), self.mel_frames_per_segment)
            if judge and self.judge is not None:
                pred = self.judge.predict(np.stack(segs))
            elif judge:
                return "–", float("nan")
            else:
                pred = [str(x) for x in self.classifier.predict(segs)]
            # Ties go to the alphabetically first code, so the answer does not depend on set order.
            top = min(set(pred), key=lambda c: (-pred.count(c), c))
            return INSTRUMENT_NAMES.get(top, top), pred.count(code) / len(pred)

        for b in bundles:
            session = Session(Path(b), device=self.opts.device)
            vqvae = getattr(getattr(session.backend, "bundle", None), "vqvae", None)
            for video in sorted(Path(demo_dir).glob("*.mp4")):
                code = by_name.get(video.stem)
                if code is None:
                    continue
                kf = load_performance(video)
                midi = video.with_suffix(".mid")
                res = session.generate(
                    kf,
                    notes=midi if session.model_type.endswith("_midi") and midi.is_file() else None,
                    seed=self.opts.seed,
                    griffin_lim_iters=self.opts.griffin_lim_iters,
                )
                name, share = heard(res.waveform[0], res.sample_rate, code)
                entry: dict[str, Any] = {
                    "demo": video.name,
                    "model": MODEL_NAMES.get(session.model_type, session.model_type),
                    "instrument": video.stem,
                    "heard": name,
                    "share": share,
                }
                entry["classifier_heard"], entry["classifier_share"] = heard(
                    res.waveform[0], res.sample_rate, code, judge=False
                )
                recording = video.with_suffix(".wav")
                if vqvae is not None and recording.is_file():
                    # The demo's own recording through the bundle's VQ-VAE: what the prior could reach at best.
                    wave, sr = read_audio(recording)
                    a = session.cfg.audio
                    wave = resample_audio(wave, sr, a.sample_rate)
                    with torch.inference_mode():
                        spec = torch.from_numpy(log_spectrogram(wave, a))[None].to(session.device)
                        recon = vqvae.decode(vqvae.encode(spec))[0, :, : spec.shape[-1]].float().cpu().numpy()
                    gl = spectrogram_to_audio(recon, a, n_iter=self.opts.griffin_lim_iters)
                    entry["vqvae_heard"], entry["vqvae_share"] = heard(gl, a.sample_rate, code)
                    entry["vqvae_classifier_heard"], entry["vqvae_classifier_share"] = heard(
                        gl, a.sample_rate, code, judge=False
                    )
                out.append(entry)
                self.log(
                    f"  demo {video.name} with {out[-1]['model']}: heard {out[-1]['heard']} ({out[-1]['share']:.0%})"
                )
        self.extra["demos"] = out
        return out

    # -- everything ---------------------------------------------------------------------------------------------

    def run(
        self,
        bundles: Sequence[str | PathLike[str]],
        vqvae_ablation: tuple[str, str] | None = None,
        content_gru: str | None = None,
        demo_dir: str | PathLike[str] | None = None,
        hard_views_only: bool = False,
    ) -> dict[str, Any]:
        """Every row; with ``hard_views_only`` (and a hard-views cache) only the hard-views columns."""
        t_start = time.perf_counter()
        if hard_views_only and self.hard_cache is None:
            raise InputError(self.cache, "hard_views_only without a hard-views cache")
        if hard_views_only:
            self.log(f"hard views only: {len(self.hard_tracks)} performances from {self.hard_cache}")
            _ = self.classifier
            self.hard_reference_row()
            for b in bundles:
                mt = _model_type(Path(b))
                row = ModelRow(MODEL_NAMES.get(mt, mt), mt, bundle=str(b))
                self.log(f"model {b}")
                self.hard_views(row, b)
                self.rows.append(row)
            return self._results(t_start)
        self.log(
            f"evaluating on {len(self.tracks)} test tracks ({sum(t.duration for t in self.tracks) / 60:.1f} min)"
        )
        _ = self.classifier, self.judge, self.ndb
        self._reference_rows()
        if self.hard_cache is not None:
            self.hard_reference_row()
        for b in bundles:
            self.vqvae_row(b)
        for b in bundles:
            self.log(f"model {b}")
            row = self.evaluate_model(b)
            embed = movement_embedder(Path(b))
            if embed is not None:
                self.knn(row, embed, self.out / f"tsne_{row.model_type}.png")
            if self.hard_cache is not None:
                self.hard_views(row, b)
        if vqvae_ablation is not None:
            self.extra["vqvae_l2"] = {
                "with MBR": vqvae_test_l2(vqvae_ablation[0], self.cache, self.tracks),
                "without MBR": vqvae_test_l2(vqvae_ablation[1], self.cache, self.tracks),
            }
        nll: dict[str, float] = {}
        for b in bundles:
            mt = _model_type(Path(b))
            if model_types.has_prior(mt):
                nll[MODEL_NAMES[mt]] = prior_test_nll(Path(b), self.cache, self.tracks)
        if content_gru is not None:
            from training.train.baselines import content_gru_test_nll  # type: ignore[import-not-found]

            nll["GRU seq2seq (content)"] = float(content_gru_test_nll(content_gru, self.cache))
        self.extra["prior_nll"] = nll
        if demo_dir is not None:
            self.demo_check([b for b in bundles if model_types.has_prior(_model_type(Path(b)))], demo_dir)
        return self._results(t_start)

    def _results(self, t_start: float) -> dict[str, Any]:
        self.extra["seconds"] = time.perf_counter() - t_start
        if self.hard_cache is not None:
            self.extra["hard_views"] = {
                "cache": str(self.hard_cache),
                "n_tracks": len(self.hard_tracks),
                "minutes": sum(t.duration for t in self.hard_tracks) / 60,
            }
        return {
            "rows": [asdict(r) for r in self.rows],
            "extra": self.extra,
            "options": asdict(self.opts),
            "cache": str(self.cache),
            "n_test_tracks": len(self.tracks),
            "test_minutes": sum(t.duration for t in self.tracks) / 60,
        }


def _share(preds: Sequence[Sequence[str]], labels: Sequence[str]) -> tuple[float | None, dict[str, float]]:
    """Share of segments heard as the instrument played, pooled and per instrument."""
    correct: dict[str, list[int]] = {}
    for p, lab in zip(preds, labels, strict=True):
        c = correct.setdefault(lab, [0, 0])
        c[0] += sum(1 for x in p if x == lab)
        c[1] += len(p)
    total = sum(c[1] for c in correct.values())
    if not total:
        return None, {}
    return sum(c[0] for c in correct.values()) / total, {
        k: c[0] / c[1] for k, c in sorted(correct.items()) if c[1]
    }


def _model_type(path: Path) -> str:
    from minet_desktop.engine.loading import peek_model_type

    return peek_model_type(path)


def embed_crops(
    embed: Callable[[torch.Tensor], torch.Tensor],
    root: Path,
    entries: Iterable[dict[str, Any]],
    limit: int | None,
    n: int,
) -> tuple[np.ndarray, list[str]]:
    """Movement embeddings of consecutive ``n``-frame skeleton crops of the tracks ``entries`` of the cache at
    ``root`` (at most ``limit`` per track, spread over it; a track shorter than a crop is one crop) and their
    instruments: the 1-NN accuracy's samples."""
    embs, labs = [], []
    for e in entries:
        skel = np.load(root / e["dir"] / "skeleton.npy", mmap_mode="r")  # (T, 3, 47)
        m = min(n, int(skel.shape[0]))
        starts = list(range(0, int(skel.shape[0]) - m + 1, m))
        if limit is not None and len(starts) > limit:
            idx = np.linspace(0, len(starts) - 1, limit).round().astype(int)
            starts = [starts[j] for j in idx]
        if not starts:
            continue
        batch = np.stack([np.asarray(skel[s : s + m], np.float32) for s in starts])
        x = torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 2, 3, 1)))  # (B, 3, 47, n)
        with torch.inference_mode():
            embs.append(embed(x).float().cpu().numpy())
        labs += [e["instrument"]] * len(batch)
    return np.concatenate(embs), labs


def knn_rows(
    embed: Callable[[torch.Tensor], torch.Tensor], cache: Path, hard: Path | None = None, seconds: float = 4.0
) -> dict[str, float]:
    """1-NN accuracy of ``embed`` as ``minet-train evaluate`` measures it (4-s crops, cosine, at most four crops
    of each training-split track as neighbours): on the validation and test splits, and on ``hard``'s tracks."""
    n = int(round(seconds * 62.5))
    ents = list(load_manifest(cache)["tracks"].values())
    tr_x, tr_y = embed_crops(embed, cache, [e for e in ents if e.get("split") == "train"], 4, n)
    queries = {s: (cache, [e for e in ents if e.get("split") == s]) for s in ("val", "test")}
    if hard is not None:
        queries["hard"] = (hard, list(load_manifest(hard)["tracks"].values()))
    out = {}
    for name, (root, q) in queries.items():
        if q:
            q_x, q_y = embed_crops(embed, root, q, None, n)
            out[name] = M.knn_accuracy(tr_x, np.array(tr_y), q_x, np.array(q_y)).accuracy
    return out


def knn_summary(enc: torch.nn.Module, cache: Path, hard: Path | None = None) -> str:
    """``knn_rows`` of the encoder's movement vector, as a log line."""
    with torch.inference_mode():
        rows = knn_rows(lambda x: enc(x)[0], cache, hard)
    return "1-NN " + ", ".join(f"{k} {100 * v:.1f} %" for k, v in rows.items())


def movement_embedder(path: Path) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The movement embedding the paper classifies (the backend's
    :meth:`~minet_desktop.engine.backends.GenerationBackend.movement_embedding`): MI Net's movement-encoder
    final state, the Seq2Seq encoder's final state, the mean of the ST-GCN outputs; None for models without one."""
    from minet_desktop.engine.loading import load_backend

    return load_backend(path, torch.device("cpu")).movement_embedding()


def _windows(n: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + size)) for s in range(0, n, size)]


@torch.inference_mode()
def vqvae_test_l2(
    path: str | PathLike[str], cache: Path, tracks: Sequence[EvalTrack], seconds: float = 4.0
) -> dict[str, float]:
    """Test-split reconstruction error of a VQ-VAE (run folder, checkpoint or bundle), 4-s crops.

    ``l2``: mean squared error of the log-magnitudes (natural-log units); ``l2_normalized``: the same in the
    per-bin standardised units the VQ-VAE is trained in (the paper's "L2 loss").
    """
    from training.train.checkpoints import load_vqvae

    cfg, vq = load_vqvae(path)
    ds = cfg.vqvae.downsample
    n = int(round(seconds * cfg.audio.frame_rate)) // ds * ds
    se = sn = 0.0
    count = 0
    for t in tracks:
        spec = torch.from_numpy(np.asarray(_cached(t, "spec"), np.float32).T.copy())  # (F, T)
        for s, e in _windows(spec.shape[1] // ds * ds, n):
            x = spec[None, :, s:e]
            if x.shape[-1] < ds:
                continue
            recon, _, _ = vq(x)
            d = recon[..., : x.shape[-1]] - x
            se += float((d**2).sum())
            sn += float(((d / vq.spec_std[:, None]) ** 2).sum())
            count += d.numel()
    return {"l2": se / count, "l2_normalized": sn / count, "use_mbr": bool(cfg.vqvae.use_mbr)}


@torch.inference_mode()
def prior_test_nll(path: Path, cache: Path, tracks: Sequence[EvalTrack]) -> float:
    """Teacher-forced NLL per code (nats) of a bundle's prior on the test split, in full prior windows.

    The codes are the cache's (``codes.npy``, from the VQ-VAE the prior was trained on: the bundle's encoder and
    codebook encode any track whose codes came from another), so the number is the same quantity as the
    training log's val/loss.
    """
    from minet_desktop.model.bundle import load_bundle
    from minet_desktop.model.movement import align_to
    from training.train.data import codes_fingerprint, precompute_codes

    b = load_bundle(path)
    # Codes of this bundle's encoder and codebook: kept when the cache has them, written when it has another's.
    precompute_codes(cache, b.vqvae, codes_fingerprint(b.vqvae))
    cfg = b.cfg
    L, fpc = cfg.prior.block_size, cfg.frames_per_code
    total = 0.0
    n_codes = 0
    for t in tracks:
        cp = t.dir / "codes.npy"
        if not cp.is_file():
            raise InputError(cp, "no codes for this track: run minet-train prior on this cache first")
        codes_all = np.load(cp).astype(np.int64)
        skel_all = np.asarray(_cached(t, "skeleton"), np.float32)
        notes_all = np.asarray(_cached(t, "notes"), np.int64)
        for s, e in _windows(len(codes_all), L):
            length = e - s
            codes = np.zeros(L, np.int64)
            codes[:length] = codes_all[s:e]
            k = skel_all[s * fpc : (s + L) * fpc]
            if k.shape[0] < L * fpc:
                k = np.concatenate([k, np.repeat(k[-1:], L * fpc - k.shape[0], axis=0)])
            notes = np.zeros(L * fpc, np.int64)
            seg = notes_all[s * fpc : (s + L) * fpc]
            notes[: len(seg)] = seg
            skel = torch.from_numpy(np.ascontiguousarray(k.transpose(1, 2, 0)))[None]
            h, frames = b.movement(skel)
            c = torch.from_numpy(codes)[None]
            motion = align_to(frames, L, fpc) if cfg.prior.per_frame_motion else None
            _, loss = b.prior(
                c,
                h,
                motion=motion,
                notes=torch.from_numpy(notes)[None] if cfg.content is not None else None,
                lengths=torch.tensor([length]),
            )
            total += float(loss) * length
            n_codes += length
    return total / n_codes
