"""The instrument judge: a small CNN on log-mel that names the instrument of each second of audio.

Why a second judge. The evaluation's first classifier (:mod:`training.evaluate.classifier`, a logistic regression
on log-mel statistics) only ever heard FluidR3 renders of our corpus; it names a real solo trumpet a double bass,
and it hears Griffin-Lim artefacts as another instrument. This judge is trained on the same melodies rendered
with three General MIDI soundfonts (:mod:`training.evaluate.judge_data`: FluidR3, MuseScore General, the Csound
GM bank), so what it learns is what the three renders of a trumpet share, and with what a room, a microphone and
a vocoder do to a recording (:class:`MelAugment`): equalisation, reverberation, noise, level, a band limit, small
pitch and tempo changes, and Griffin-Lim round trips of its training audio. Its own reference is
leave-one-soundfont-out accuracy: trained on two soundfonts, tested on the third.

Input: 1-s segments of the project's 80-band log-mel (:class:`~minet_desktop.features.audio.LogMel`, 22.05 kHz,
hop 512: ``(80, 43)``), the level removed (each segment minus its own mean). Network (:class:`JudgeNet`): five
3x3 conv / batch-norm / ReLU / max-pool stages, mean and max pooled over time and frequency, dropout and a linear
layer over the instruments. Weights as safetensors with the config as JSON metadata; loading runs no code.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from minet_desktop.core.atomic import atomic_path
from minet_desktop.core.config import MelConfig
from minet_desktop.core.errors import InputError

FORMAT = "minet-instrument-judge"
FORMAT_VERSION = 1
#: Frames of log-mel per judged segment: 1 s at 22.05 kHz / hop 512 (43.07 frames/s).
SEGMENT_FRAMES = 43
#: ``log(log_floor)`` of the project's log-mel: the value of digital silence.
LOG_FLOOR = math.log(MelConfig().log_floor)
#: A segment whose loudest 5 % of bins stay below this (nats, about -80 dB re full scale) is silence, not judged.
SILENCE = math.log(1e-4)
#: Where the shipped judge lives (package data of ``training``).
DEFAULT_JUDGE = Path(__file__).with_name("instrument_judge.safetensors")


@dataclass(frozen=True)
class JudgeConfig:
    """The judge's architecture and input; travels inside its file."""

    classes: tuple[str, ...]
    n_mels: int = 80
    segment_frames: int = SEGMENT_FRAMES
    # Five stages halve both axes: 80 x 43 -> 3 x 2. Narrow early stages (about 17 M multiply-adds per segment)
    # keep a 64-segment training step near 0.15 s on one CPU core.
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    dropout: float = 0.3
    #: "global": mean and max over time and frequency (blind to where in frequency a pattern lies);
    #: "time": over time only, each of the last stage's frequency rows kept (register and formant positions).
    pool: str = "global"
    #: Give the first convolution a second input plane holding each mel band's position (-1 lowest .. 1
    #: highest), so its features can depend on where in frequency they lie (register) whatever the pooling.
    coord: bool = False

    def __post_init__(self) -> None:
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"JudgeConfig: need at least two distinct classes, got {self.classes}")
        if not self.channels or any(c < 1 for c in self.channels):
            raise ValueError(f"JudgeConfig: bad channels {self.channels}")
        if self.pool not in ("global", "time"):
            raise ValueError(f"JudgeConfig: pool must be 'global' or 'time', got {self.pool!r}")

    @property
    def pooled_features(self) -> int:
        """Width of the pooled features the head reads."""
        rows = self.n_mels
        for _ in self.channels:
            rows = -(-rows // 2)
        return 2 * self.channels[-1] * (rows if self.pool == "time" else 1)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JudgeConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown judge config keys: {', '.join(sorted(unknown))}")
        d = dict(d)
        d["classes"] = tuple(str(c) for c in d["classes"])
        if "channels" in d:
            d["channels"] = tuple(int(c) for c in d["channels"])
        return cls(**d)


class JudgeNet(nn.Module):
    """``(B, n_mels, T)`` log-mel segments -> ``(B, n_classes)`` logits."""

    def __init__(self, cfg: JudgeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c_in = 2 if cfg.coord else 1
        layers: list[nn.Module] = [nn.BatchNorm2d(c_in)]
        for c in cfg.channels:
            layers += [
                nn.Conv2d(c_in, c, 3, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.pooled_features, len(cfg.classes))

    def pooled(self, mel: Tensor) -> Tensor:
        """``(B, n_mels, T)`` -> the pooled features ``(B, cfg.pooled_features)`` the head reads."""
        x = (mel - mel.mean(dim=(1, 2), keepdim=True)).unsqueeze(1)  # level-free: a louder take is the same
        if self.cfg.coord:
            pos = torch.linspace(-1.0, 1.0, mel.shape[1], dtype=mel.dtype, device=mel.device)
            x = torch.cat([x, pos.view(1, 1, -1, 1).expand(x.shape[0], 1, -1, x.shape[3])], dim=1)
        h = self.features(x)  # (B, C, F', T')
        if self.cfg.pool == "time":
            return torch.cat([h.mean(dim=3), h.amax(dim=3)], dim=1).flatten(1)
        return torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)

    def forward(self, mel: Tensor) -> Tensor:
        return self.head(self.dropout(self.pooled(mel)))


# -- augmentation -----------------------------------------------------------------------------------------------


def _mel_centres_hz(cfg: MelConfig) -> np.ndarray:
    """Centre frequencies of the project's Slaney mel bands, Hz."""
    import librosa

    return np.asarray(
        librosa.mel_frequencies(cfg.n_mels + 2, fmin=cfg.f_min, fmax=cfg.f_max, htk=False)[1:-1]
    )


@dataclass
class MelAugment:
    """What a room, a microphone, a player and a vocoder do to a recording, applied to log-mel segments.

    Every transform works on ``(n_mels, T)`` natural-log magnitudes and is drawn independently per segment.
    Ranges are chosen to cover ordinary recordings rather than to be subtle: the judge must not care about them.
    """

    p_eq: float = 0.8
    eq_db: float = 9.0  # peak gain of each of three smooth bumps, and of the spectral tilt
    p_reverb: float = 0.5
    t60: tuple[float, float] = (0.2, 1.6)  # seconds; a practice room to a small hall
    p_noise: float = 0.5
    snr_db: tuple[float, float] = (8.0, 45.0)
    p_lowpass: float = 0.6  # 16-kHz audio (MI Net's) has nothing above 8 kHz; phones and old recordings less
    p_pitch: float = 0.5
    semitones: float = 0.7
    tempo: tuple[float, float] = (0.9, 1.1)
    p_mask: float = 0.5
    cfg: MelConfig = field(default_factory=MelConfig)

    def __post_init__(self) -> None:
        self._centres = _mel_centres_hz(self.cfg)
        self._frame_s = self.cfg.hop_length / self.cfg.sample_rate

    def crop(self, mel: np.ndarray, rng: np.random.Generator, frames: int = SEGMENT_FRAMES) -> np.ndarray:
        """A random ``(n_mels, frames)`` crop at a random tempo (time-stretched by interpolation)."""
        r = float(rng.uniform(*self.tempo))
        span = max(2, int(round(frames * r)))
        if mel.shape[1] <= span:
            mel = np.pad(mel, ((0, 0), (0, span - mel.shape[1] + 1)), constant_values=LOG_FLOOR)
        s = int(rng.integers(0, mel.shape[1] - span + 1))
        seg = mel[:, s : s + span].astype(np.float32)
        if span == frames:
            return seg
        t = np.linspace(0, span - 1, frames)
        i0 = np.floor(t).astype(int)
        i1 = np.minimum(i0 + 1, span - 1)
        w = (t - i0)[None, :]
        return (seg[:, i0] * (1 - w) + seg[:, i1] * w).astype(np.float32)

    def __call__(self, seg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        x = seg.astype(np.float64)
        n, t = x.shape
        nat = math.log(10) / 20  # nats per dB of magnitude
        if rng.random() < self.p_pitch:
            # A small shift of every partial: the band at f now holds what was at f / s.
            s = 2 ** (rng.uniform(-self.semitones, self.semitones) / 12)
            src = np.interp(self._centres / s, self._centres, np.arange(n))
            i0 = np.clip(np.floor(src).astype(int), 0, n - 1)
            i1 = np.clip(i0 + 1, 0, n - 1)
            w = (src - np.floor(src))[:, None]
            x = x[i0] * (1 - w) + x[i1] * w
        if rng.random() < self.p_eq:
            b = np.arange(n)[:, None]
            curve = rng.uniform(-1, 1) * self.eq_db * (np.arange(n) / (n - 1) - 0.5)[:, None]
            for _ in range(3):
                c, wdt = rng.uniform(0, n), rng.uniform(3, 20)
                curve = curve + rng.uniform(-self.eq_db, self.eq_db) * np.exp(-0.5 * ((b - c) / wdt) ** 2)
            x = x + curve * nat
        if rng.random() < self.p_reverb:
            # Late reverberation as an exponential energy tail per band, longer in the bass.
            t60 = rng.uniform(*self.t60) * np.linspace(1.3, 0.6, n)
            decay = np.exp(-6.91 * self._frame_s / t60)  # energy decay per frame (60 dB in t60)
            wet = 10 ** (rng.uniform(-12, 0) / 10)
            e = np.exp(2 * x)
            tail = np.zeros(n)
            out = np.empty_like(e)
            for k in range(t):
                tail = tail * decay + e[:, k] * (1 - decay)
                out[:, k] = e[:, k] + wet * tail
            x = 0.5 * np.log(out)
        if rng.random() < self.p_noise:
            e = np.exp(2 * x)
            slope = rng.uniform(-2.0, 0.5)  # brown (-2) to slightly blue, dB per band-decade-ish
            shape = np.exp(slope * np.log1p(np.arange(n)) * 0.5)[:, None]
            level = e.mean() / (shape.mean() * 10 ** (rng.uniform(*self.snr_db) / 10))
            noise = level * shape * rng.lognormal(0, 0.3, size=(n, t))
            x = 0.5 * np.log(e + noise)
        if rng.random() < self.p_lowpass:
            fc = 8000.0 if rng.random() < 0.4 else rng.uniform(3500, 11025)
            slope_db = rng.uniform(60, 120)  # per octave
            over = np.log2(np.maximum(self._centres / fc, 1.0))[:, None]
            x = x - slope_db * over * nat
        x = x + rng.uniform(-12, 12) * nat
        x = np.maximum(x, LOG_FLOOR)
        if rng.random() < self.p_mask:
            w = int(rng.integers(1, 7))
            s = int(rng.integers(0, max(1, t - w)))
            x[:, s : s + w] = x.mean()
            h = int(rng.integers(1, 9))
            s = int(rng.integers(0, n - h))
            x[s : s + h] = x.mean()
        return x.astype(np.float32)


# -- the judge ---------------------------------------------------------------------------------------------------


def segment(
    mel: np.ndarray, frames: int = SEGMENT_FRAMES, drop_silence: bool = True
) -> tuple[np.ndarray, int]:
    """Cut a ``(n_mels, T)`` log-mel into ``(N, n_mels, frames)`` segments; returns them and the silent count."""
    mel = np.asarray(mel, np.float32)
    if mel.ndim != 2:
        raise ValueError(f"segment: expected a (n_mels, T) log-mel, got shape {mel.shape}")
    segs = [mel[:, s : s + frames] for s in range(0, mel.shape[1] - frames + 1, frames)]
    if not segs:
        return np.zeros((0, mel.shape[0], frames), np.float32), 0
    x = np.stack(segs)
    if not drop_silence:
        return x, 0
    loud = np.quantile(x.reshape(len(x), -1), 0.95, axis=1) > SILENCE
    return x[loud], int((~loud).sum())


class InstrumentJudge:
    """A trained :class:`JudgeNet` with its classes; numpy in, instrument codes out."""

    def __init__(
        self, cfg: JudgeConfig, net: JudgeNet | None = None, info: dict[str, Any] | None = None
    ) -> None:
        self.cfg = cfg
        self.net = net if net is not None else JudgeNet(cfg)
        self.net.eval()
        self.info: dict[str, Any] = dict(info or {})

    @property
    def classes(self) -> list[str]:
        return list(self.cfg.classes)

    @torch.no_grad()
    def probabilities(self, segments: np.ndarray | Sequence[np.ndarray], batch: int = 256) -> np.ndarray:
        """``(N, n_classes)`` class probabilities of ``(n_mels, frames)`` segments."""
        x = np.asarray(segments, np.float32)
        if x.ndim != 3 or x.shape[1] != self.cfg.n_mels:
            raise ValueError(f"probabilities: expected (N, {self.cfg.n_mels}, T) segments, got {x.shape}")
        self.net.eval()
        out = [
            torch.softmax(self.net(torch.from_numpy(x[i : i + batch])), dim=1).numpy()
            for i in range(0, len(x), batch)
        ]
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)

    def predict(self, segments: np.ndarray | Sequence[np.ndarray]) -> list[str]:
        """The instrument code of each segment (same interface as the first classifier)."""
        if len(segments) == 0:
            return []
        return [self.classes[i] for i in self.probabilities(segments).argmax(axis=1)]

    def accuracy(self, segments: np.ndarray, labels: Sequence[str]) -> tuple[float, dict[str, float]]:
        """Share of segments named correctly, overall and per true instrument."""
        pred = np.array(self.predict(segments))
        truth = np.array([str(v) for v in labels])
        if len(pred) != len(truth) or len(pred) == 0:
            raise ValueError("accuracy: need as many labels as segments, and at least one")
        ok = pred == truth
        return float(ok.mean()), {c: float(ok[truth == c].mean()) for c in sorted(set(truth.tolist()))}

    def judge_audio(self, wave: np.ndarray, sr: int) -> tuple[list[str], int]:
        """The instrument of each loud 1-s segment of a mono waveform, and the number of silent segments."""
        from training.evaluate.metrics import logmel_of

        segs, silent = segment(logmel_of(np.asarray(wave, np.float32), sr))
        return self.predict(segs), silent

    # -- persistence ---------------------------------------------------------------------------------------------

    def save(self, path: str | PathLike[str]) -> Path:
        """Weights as safetensors, config and training record as JSON metadata (atomically)."""
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        cfg = asdict(self.cfg)
        metadata = {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "config": json.dumps(cfg),
            "info": json.dumps(self.info),
        }
        target = Path(path)
        with atomic_path(target) as tmp:
            save_file(state, str(tmp), metadata=metadata)
        return target

    @classmethod
    def load(cls, path: str | PathLike[str] | None = None) -> InstrumentJudge:
        """Read a judge written by :meth:`save` (the shipped one by default); InputError for anything else."""
        from safetensors import SafetensorError, safe_open

        p = Path(path) if path is not None else DEFAULT_JUDGE
        if not p.is_file():
            raise InputError(p, "instrument judge not found" if p.exists() is False else "is not a file")
        try:
            with safe_open(str(p), framework="pt") as f:
                metadata = f.metadata() or {}
                state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
        except (SafetensorError, OSError, ValueError) as exc:
            raise InputError(p, f"not a safetensors file ({exc})") from exc
        if metadata.get("format") != FORMAT:
            raise InputError(p, f"not an instrument judge (no '{FORMAT}' format in its metadata)")
        if metadata.get("format_version") != str(FORMAT_VERSION):
            raise InputError(
                p,
                f"judge format version {metadata.get('format_version')!r}; this program reads {FORMAT_VERSION}",
            )
        try:
            cfg = JudgeConfig.from_dict(json.loads(metadata["config"]))
            info = json.loads(metadata.get("info", "{}"))
            net = JudgeNet(cfg)
            net.load_state_dict(state, strict=True)
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise InputError(p, f"judge file does not match its config ({str(exc).splitlines()[0]})") from exc
        if not all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point()):
            raise InputError(p, "judge weights hold NaN or infinite values")
        return cls(cfg, net, info)


# -- training ----------------------------------------------------------------------------------------------------


@dataclass
class JudgeTraining:
    """How a judge is trained (the recipe travels in the judge's ``info``)."""

    steps: int = 3000
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-2
    label_smoothing: float = 0.05
    p_gl: float = 0.3  # share of training crops taken from a part's Griffin-Lim round trip (when it has one)
    seed: int = 0
    threads: int = 1
    pool: str = "global"  # the network's pooling (JudgeConfig.pool)
    coord: bool = False  # a frequency-position input plane (JudgeConfig.coord)


def train_judge(
    train: Sequence[tuple[np.ndarray, np.ndarray | None, str]],
    classes: Sequence[str],
    opts: JudgeTraining | None = None,
    augment: MelAugment | None = None,
    log: Callable[[str], None] = print,
) -> InstrumentJudge:
    """Train a judge on ``(clean mel, Griffin-Lim mel or None, instrument)`` parts (``(80, T)`` log-mels).

    Crops are drawn with probability proportional to part length, so every second of training audio is
    equally likely; each crop is augmented (:class:`MelAugment`).
    """
    opts = opts or JudgeTraining()
    augment = augment or MelAugment()
    cfg = JudgeConfig(classes=tuple(str(c) for c in classes), pool=opts.pool, coord=opts.coord)
    index = {c: i for i, c in enumerate(cfg.classes)}
    missing = {lab for _, _, lab in train} - set(index)
    if missing:
        raise ValueError(f"train_judge: labels not in classes: {sorted(missing)}")
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(opts.threads)
    net = JudgeNet(cfg)
    optim = torch.optim.AdamW(net.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    # One cycle (warm-up, then annealing) for real runs; a run of a few steps (a smoke test) keeps the rate flat.
    sched = (
        torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=opts.lr, total_steps=opts.steps, pct_start=0.1)
        if opts.steps >= 20
        else None
    )
    lengths = np.array([m.shape[1] for m, _, _ in train], np.float64)
    weights = lengths / lengths.sum()
    loss_fn = nn.CrossEntropyLoss(label_smoothing=opts.label_smoothing)
    t0, running = time.perf_counter(), 0.0
    try:
        net.train()
        for step in range(1, opts.steps + 1):
            picks = rng.choice(len(train), size=opts.batch, p=weights)
            xs, ys = [], []
            for i in picks:
                clean, gl, lab = train[i]
                src = gl if gl is not None and rng.random() < opts.p_gl else clean
                xs.append(augment(augment.crop(src, rng), rng))
                ys.append(index[lab])
            x = torch.from_numpy(np.stack(xs))
            loss = loss_fn(net(x), torch.tensor(ys))
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            if sched is not None:
                sched.step()
            value = float(loss.detach())
            running = 0.98 * running + 0.02 * value if step > 1 else value
            if step % 250 == 0 or step == opts.steps:
                log(f"judge step {step}/{opts.steps}: loss {running:.3f} ({time.perf_counter() - t0:.0f} s)")
    finally:
        torch.set_num_threads(prev_threads)
    net.eval()
    return InstrumentJudge(
        cfg, net, {"training": asdict(opts), "train_seconds": round(time.perf_counter() - t0)}
    )


# -- the shipped judge and its references --------------------------------------------------------------------------


def cache_splits(cache: str | PathLike[str]) -> tuple[dict[str, str], list[tuple[np.ndarray, str]]]:
    """The cache's split of every part (``"<piece>/<player>"`` -> split) and its test recordings' log-mels.

    The judge follows the models' split (by piece of music), so no melody of the models' test split is heard
    in its training, and it is scored on the very recordings the evaluation's reference row uses.
    """
    from training.cache import load_manifest

    manifest = load_manifest(cache)
    root = Path(cache)
    splits: dict[str, str] = {}
    test: list[tuple[np.ndarray, str]] = []
    for tid, entry in manifest["tracks"].items():
        _, piece, player = str(tid).split("/", 2)
        splits[f"{piece}/{player.split('_', 1)[0]}"] = str(entry["split"])
        if entry["split"] == "test":
            mel = np.load(root / entry["dir"] / "mel.npy", allow_pickle=False)
            test.append((np.asarray(mel, np.float32).T, str(entry["instrument"])))
    return splits, test


def part_split(splits: dict[str, str], key: str, where: Path) -> str:
    """The cache split of a rendered part ``"<corpus piece folder>/<player>"`` (folder = cache piece + codes)."""
    folder, player = key.split("/")
    for piece_player, split in splits.items():
        piece, pl = piece_player.split("/")
        if pl == player and folder.startswith(piece + "_"):
            return split
    raise InputError(where, f"part {key} is not in the cache: render the corpus the cache was prepared from")


def _segments_of(items: Sequence[tuple[np.ndarray, str]]) -> tuple[np.ndarray, list[str]]:
    xs, ys = [], []
    for mel, lab in items:
        segs, _ = segment(mel)
        xs.append(segs)
        ys += [lab] * len(segs)
    return np.concatenate(xs), ys


def _load_parts(data_root: Path, cache: Path) -> tuple[dict[tuple[str, str], Any], dict[str, str], list[Any]]:
    from training.evaluate.judge_data import load_judge_data, load_mel

    parts = load_judge_data(data_root)
    splits, corpus_test = cache_splits(cache)
    by_key_split = {p.key: part_split(splits, p.key, data_root) for p in parts}
    mels = {
        (p.key, p.soundfont): (load_mel(p.mel), load_mel(p.gl) if p.gl else None, p.instrument) for p in parts
    }
    return mels, by_key_split, corpus_test


def _train_one(
    data_root: str,
    cache: str,
    classes: Sequence[str],
    opts: dict[str, Any],
    soundfonts: Sequence[str],
    out: str,
) -> str:
    """One judge on ``soundfonts``' training split, saved to ``out`` (a worker process of :func:`fit_judges`)."""
    mels, by_key_split, _ = _load_parts(Path(data_root), Path(cache))
    train = [v for (k, sf), v in mels.items() if sf in soundfonts and by_key_split[k] == "train"]
    tag = (
        "all"
        if len(soundfonts) > 2
        else "without " + ",".join(s for s in sorted({sf for _, sf in mels}) if s not in soundfonts)
    )
    judge = train_judge(
        train, classes, JudgeTraining(**opts), log=lambda m: print(f"[{tag}] {m}", flush=True)
    )
    judge.save(out)
    return out


def _confusion(
    judge: InstrumentJudge, items: Sequence[tuple[np.ndarray, str]]
) -> dict[str, dict[str, float]]:
    """Share of each instrument's test segments heard as each instrument: ``{true: {heard: share}}``."""
    x, y = _segments_of(items)
    heard = judge.predict(x)
    out: dict[str, dict[str, float]] = {}
    for t in sorted(set(y)):
        hs = [h for h, yy in zip(heard, y, strict=True) if yy == t]
        out[t] = {h: hs.count(h) / len(hs) for h in sorted(set(hs), key=lambda h: -hs.count(h))}
    return out


def _top_confusions(confusion: dict[str, dict[str, float]], n: int = 6) -> list[tuple[str, str, float]]:
    """The ``n`` largest shares of segments heard as another instrument: ``(true, heard, share)``."""
    wrong = [(t, h, p) for t, row in confusion.items() for h, p in row.items() if h != t]
    return sorted(wrong, key=lambda w: -w[2])[:n]


def fit_judges(
    data_root: str | PathLike[str],
    cache: str | PathLike[str],
    classes: Sequence[str],
    opts: JudgeTraining,
    loso_steps: int,
    log: Callable[[str], None] = print,
    workers: int = 1,
) -> InstrumentJudge:
    """Train the judge on every soundfont's training split, and one judge per left-out soundfont for reference.

    Returns the judge trained on all soundfonts, its ``info`` holding: test accuracy per soundfont (clean and
    after a Griffin-Lim round trip), accuracy on the corpus' own test recordings (the cache's ``mel.npy``: FluidR3
    at 16 kHz), and leave-one-soundfont-out accuracy (trained on two soundfonts' training split, tested on the
    third's test split), per soundfont and averaged, overall and per instrument. The four trainings are
    independent: ``workers`` runs them in that many processes (each holds its own copy of the data).
    """
    import multiprocessing
    import tempfile
    from concurrent.futures import ProcessPoolExecutor

    data_root, cache = Path(data_root), Path(cache)
    mels, by_key_split, corpus_test = _load_parts(data_root, cache)
    soundfonts = sorted({sf for _, sf in mels})
    log(
        f"judge data: {len(mels)} renders, {len(soundfonts)} soundfonts, {len(corpus_test)} corpus test tracks"
    )

    def test_items(sf: str, gl: bool = False) -> list[tuple[np.ndarray, str]]:
        return [
            (v[1] if gl else v[0], v[2])
            for (k, s), v in mels.items()
            if s == sf and by_key_split[k] == "test" and (not gl or v[1] is not None)
        ]

    def test_on(judge: InstrumentJudge, sf: str, gl: bool) -> tuple[float, dict[str, float]]:
        x, y = _segments_of(test_items(sf, gl))
        return judge.accuracy(x, y)

    jobs = [(soundfonts, opts.steps, opts.seed)] + [
        ([s for s in soundfonts if s != held], loso_steps, opts.seed + 1 + i)
        for i, held in enumerate(soundfonts)
    ]
    with tempfile.TemporaryDirectory(prefix="judges-") as tmp:
        args = [
            (
                str(data_root),
                str(cache),
                list(classes),
                {**asdict(opts), "steps": st, "seed": sd},
                sfs,
                f"{tmp}/{i}.st",
            )
            for i, (sfs, st, sd) in enumerate(jobs)
        ]
        if workers > 1:
            ctx = multiprocessing.get_context("spawn")  # no fork after torch has started its threads
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                paths = list(pool.map(_train_one, *zip(*args, strict=True)))
        else:
            paths = [_train_one(*a) for a in args]
        judges = [InstrumentJudge.load(p) for p in paths]
    judge, loso_judges = judges[0], judges[1:]
    loso: dict[str, Any] = {}
    for held, j in zip(soundfonts, loso_judges, strict=True):
        acc, per = test_on(j, held, gl=False)
        loso[held] = {"accuracy": acc, "per_instrument": per, "confusion": _confusion(j, test_items(held))}
        log(f"leave-one-soundfont-out: trained without {held}: {100 * acc:.1f} % on its test split")
        wrong = _top_confusions(loso[held]["confusion"])
        log("  heard as another: " + "; ".join(f"{t} as {h} {100 * p:.0f} %" for t, h, p in wrong))
    info: dict[str, Any] = dict(judge.info)
    info["loso_steps"] = loso_steps
    info["soundfonts"] = soundfonts
    info["test"] = {}
    for sf in soundfonts:
        clean, per = test_on(judge, sf, gl=False)
        gl, _ = test_on(judge, sf, gl=True)
        info["test"][sf] = {"accuracy": clean, "griffin_lim": gl, "per_instrument": per}
        log(f"test split, {sf}: {100 * clean:.1f} % clean, {100 * gl:.1f} % after Griffin-Lim")
    x, y = _segments_of(corpus_test)
    acc, per = judge.accuracy(x, y)
    info["corpus_test"] = {"accuracy": acc, "per_instrument": per, "segments": len(y)}
    log(f"corpus test recordings (FluidR3, 16 kHz): {100 * acc:.1f} % of {len(y)} segments")
    info["loso"] = loso
    info["loso_mean"] = float(np.mean([v["accuracy"] for v in loso.values()]))
    info["loso_per_instrument"] = {
        c: float(np.mean([v["per_instrument"].get(c, np.nan) for v in loso.values()])) for c in classes
    }
    log(f"leave-one-soundfont-out mean: {100 * info['loso_mean']:.1f} %")
    judge.info = info
    return judge


def write_judge_card(judge: InstrumentJudge, path: str | PathLike[str], command: str | None = None) -> Path:
    """A Markdown card for a judge trained by :func:`fit_judges`: data, training, and every figure it holds."""
    from minet_desktop.core.atomic import atomic_write_text
    from training.datasets.base import INSTRUMENT_NAMES

    info = judge.info
    pct = lambda v: "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}"  # noqa: E731
    sfs = info.get("soundfonts", [])
    tr = info.get("training", {})
    lines = [
        "# Instrument judge",
        "",
        "What `minet-train evaluate` and `minet-train classify` use to name the instrument heard in 1-s segments of",
        "audio. A CNN on the project's 80-band log-mel (five conv stages, mean + max pooling over "
        + ("time, each frequency row kept" if judge.cfg.pool == "time" else "time and frequency")
        + (", each band's position given as a second input plane" if judge.cfg.coord else "")
        + "; "
        f"{sum(p.numel() for p in judge.net.parameters()):,} weights), trained on the corpus' training-split scores",
        f"rendered with {len(sfs)} General MIDI soundfonts ({', '.join(sfs)}) and augmented with what a room, a",
        "microphone and a vocoder do (random EQ and tilt, reverberation, noise, level, a band limit, +-0.7 semitone",
        "and +-10 % tempo, time/frequency masks, and Griffin-Lim round trips through MI Net's spectrogram for a third",
        f"of the parts). {tr.get('steps', '?')} steps of {tr.get('batch', '?')} segments on one CPU core "
        f"({info.get('train_seconds', '?')} s).",
        "",
        "Every figure below is on renders of synthetic performances (FluidSynth with those soundfonts), never on",
        "real recordings: the judge has not heard one. Other soundfonts are kept outside the project as an",
        "independent check.",
        "",
        "## Accuracy (share of 1-s segments named correctly)",
        "",
        "| | % |",
        "| --- | ---: |",
        f"| Leave-one-soundfont-out (trained on two, tested on the third; mean) | {pct(info.get('loso_mean'))} |",
    ]
    for sf, v in info.get("loso", {}).items():
        lines.append(f"| ... tested on {sf} | {pct(v['accuracy'])} |")
    ct = info.get("corpus_test", {})
    lines.append(
        f"| Corpus test recordings (FluidR3, 16 kHz; {ct.get('segments', '?')} segments) | {pct(ct.get('accuracy'))} |"
    )
    for sf, v in info.get("test", {}).items():
        lines.append(
            f"| Test split, {sf}: clean / after a Griffin-Lim round trip | {pct(v['accuracy'])} / {pct(v['griffin_lim'])} |"
        )
    for sf, v in info.get("loso", {}).items():
        if v["accuracy"] < 0.85:
            worst = sorted(v["per_instrument"].items(), key=lambda kv: kv[1])[:4]
            lines += [
                "",
                f"Weakest fold: tested on {sf}, {pct(v['accuracy'])} %; lowest: "
                + ", ".join(f"{INSTRUMENT_NAMES.get(c, c)} {pct(a)} %" for c, a in worst)
                + ".",
            ]
            if v.get("confusion"):
                lines += [
                    "Most often heard as another instrument: "
                    + "; ".join(
                        f"{INSTRUMENT_NAMES.get(t, t)} as {INSTRUMENT_NAMES.get(h, h)} {pct(share)} %"
                        for t, h, share in _top_confusions(v["confusion"], 4)
                    )
                    + ".",
                ]
    lines += [
        "",
        "Per instrument:",
        "",
        "| Instrument | leave-one-soundfont-out % | corpus test % |",
        "| --- | ---: | ---: |",
    ]
    for c in judge.classes:
        lines.append(
            f"| {INSTRUMENT_NAMES.get(c, c)} | {pct(info.get('loso_per_instrument', {}).get(c))} | "
            f"{pct(ct.get('per_instrument', {}).get(c))} |"
        )
    lines += [
        "",
        "Reproduce (after `scripts/train_default_model.sh`'s corpus and cache):",
        "",
        "```bash",
        command
        or "minet-train judge --corpus runs/default/corpus --cache runs/default/cache --data runs/default/judge_data "
        f"--steps {tr.get('steps', 4000)} --loso-steps {info.get('loso_steps', 2500)} --workers 4 --threads 1"
        + (" --pool time" if judge.cfg.pool == "time" else "")
        + (" --coord" if judge.cfg.coord else ""),
        "```",
        "",
    ]
    atomic_write_text(Path(path), "\n".join(lines))
    return Path(path)
