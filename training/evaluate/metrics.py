"""The papers' evaluation metrics as pure functions over arrays and waveforms, and the report's figures.

The MI Net paper §4 (MI Net):

* :class:`NDB` — number of statistically different bins (Richardson & Weiss 2018): k-means cells of the
  real training segments in log-spectrogram space, then a two-proportion z-test per cell between the
  training share and the generated share. :func:`segment_features` makes the segments.
* :func:`knn_accuracy` — 1-nearest-neighbour accuracy with cosine similarity of movement embeddings, and
  :func:`tsne_figure` to look at them.
* :func:`spectrogram_figure` — Fig. 6's grid of spectrograms.

Visually Indicated Music Table 1 (frame regressor):

* :func:`logmel_mse` of :func:`logmel_of` — 80-band log-mel MSE in the project's :class:`MelConfig` units.
* :func:`pitch_accuracy` — frames whose tracked f0 lies within a semitone of the score (:func:`pitch_track`:
  pYIN, or CREPE through torchcrepe, whose weights ship inside its wheel).

And :func:`onset_f1`: detected onsets against the score's, one-to-one within 50 ms (mir_eval's definition).

Units: spectrograms are natural-log magnitudes (``log(max(|X|, floor))``), frequency-major ``(F, T)``; the
cache stores them time-major, so transpose what you read from it. Waveforms are mono ``(N,)`` float.
Heavy libraries (librosa, scikit-learn, matplotlib, torchcrepe) are imported inside the functions that use
them, so importing this module costs only numpy, scipy and the project's feature modules.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import maximum_bipartite_matching
from scipy.special import ndtr

from minet_desktop.core.atomic import atomic_path
from minet_desktop.core.config import AudioConfig, MelConfig
from minet_desktop.features.audio import log_mel
from minet_desktop.media.audio_io import resample_audio
from minet_desktop.media.midi import Note

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Lowest and highest f0 the pitch tracker searches by default: C1 (32.7 Hz) to C7 (2093 Hz). The 13 URMP
#: instruments span E1 (double bass, 41 Hz) to about A6 (flute); a wide fixed range, rather than one
#: derived from the score, keeps octave errors visible instead of folding them into the score's range.
PITCH_FMIN = 32.70
PITCH_FMAX = 2093.0
#: pYIN analyses at 22.05 kHz with a 2048-sample frame (93 ms: two periods of 21 Hz, below PITCH_FMIN) and a
#: 512-sample hop (23 ms, the Visually Indicated Music log-mel's frame rate). Its pitch grid is 0.2 semitone (librosa's
#: default is 0.1): the Viterbi pass is quadratic in the grid, and 0.2 runs 6 times faster (0.9 s instead of
#: 5.7 s for 10 s of audio over C1-C7) at a resolution five times finer than the 1-semitone tolerance.
PYIN_SAMPLE_RATE = 22_050
PYIN_FRAME = 2048
PYIN_HOP = 512
PYIN_RESOLUTION = 0.2
#: CREPE runs on 16 kHz audio (its training rate); a 256-sample hop (16 ms) instead of its usual 10 ms
#: analyses 40 % fewer frames and still gives 62.5 frames/s.
CREPE_SAMPLE_RATE = 16_000
CREPE_HOP = 256
#: torchcrepe's recommended voicing threshold on (median-filtered) periodicity.
CREPE_VOICING_THRESHOLD = 0.21
#: librosa's onset detector (spectral flux of a log-mel, peak picking) at 22.05 kHz with a 1024-sample window
#: and a 256-sample hop (46 ms / 12 ms) instead of its 2048 / 512 defaults (93 ms / 23 ms). With the long
#: default window the flux peaks well after the note starts: on the ground-truth renders of the synthetic corpus's
#: test split (first 10 s of 44 tracks) detected onsets lag the score by 44 ms (median) and their F1
#: against the score within 50 ms is 0.50 (mean over tracks); with the shorter window the lag is 27 ms and
#: the F1 0.76 (0.74 pooled over the tracks' onsets).
ONSET_SAMPLE_RATE = 22_050
ONSET_N_FFT = 1024
ONSET_HOP = 256
#: natural-log units per decibel of magnitude: 20 / ln(10) dB per nat.
DB_PER_NAT = 20.0 / math.log(10.0)


def single_thread() -> Any:
    """Context manager: BLAS and OpenMP (scikit-learn's k-means, t-SNE, L-BFGS) on one thread.

    Their threads spin while they wait for each other: on a busy two-core machine a 60-point t-SNE took 24 s
    with two threads and 0.4 s with one, k-means on 3000 points 2.0 s and 0.4 s. One thread also gives the
    same k-means cells on every machine, whatever its core count.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


# ----------------------------------------------------------------------------------------------------------
# NDB (MI Net paper §4; Richardson & Weiss 2018)


def _mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def _mel_inv(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def band_edges(n_bins: int, n_bands: int, bin_hz: float | None) -> np.ndarray:
    """Edges ``(n_bands + 1,)`` (bin indices, strictly increasing, 0 to ``n_bins``) of frequency bands.

    With ``bin_hz`` (the width of one bin in Hz), the bands are equally spaced on the mel scale, each at least
    one bin wide; with None, equally spaced in bins (for an input that is already mel-spaced).

    With MI Net's 1024 bins of 7.8 Hz and 64 bands: the lowest bands are 3-4 bins (~30 Hz) wide, the highest
    43 bins (336 Hz).
    """
    if not 1 <= n_bands <= n_bins:
        raise ValueError(f"need 1 <= n_bands <= n_bins, got {n_bands} bands of {n_bins} bins")
    if bin_hz is None:
        return np.round(np.linspace(0, n_bins, n_bands + 1)).astype(np.int64)
    if bin_hz <= 0:
        raise ValueError(f"bin_hz must be positive, got {bin_hz}")
    hz = _mel_inv(np.linspace(0.0, float(_mel(n_bins * bin_hz)), n_bands + 1))
    edges = np.round(hz / bin_hz).astype(np.int64)
    edges[0], edges[-1] = 0, n_bins
    # At low frequencies mel spacing is narrower than a bin: widen to one bin, then pull back from the top.
    for i in range(1, n_bands + 1):
        edges[i] = max(edges[i], edges[i - 1] + 1)
    edges[-1] = n_bins
    for i in range(n_bands - 1, 0, -1):
        edges[i] = min(edges[i], edges[i + 1] - 1)
    return edges


def segment_features(
    spec: np.ndarray,
    frames_per_segment: int,
    n_freq: int = 64,
    n_time: int = 4,
    *,
    bin_hz: float | None = AudioConfig().sample_rate / AudioConfig().n_fft,
) -> np.ndarray:
    """NDB's feature space: a log-spectrogram cut into segments, each averaged onto a small grid.

    The spectrogram is cut into non-overlapping segments of ``frames_per_segment`` frames (a trailing partial
    segment is dropped); each segment's log-magnitudes are averaged over ``n_freq`` mel-spaced frequency bands
    and ``n_time`` equal time blocks, and flattened band-major.

    Why pool: the MI Net paper clusters "in log-spectrogram space", but a 1-s segment of MI Net's spectrogram has
    1024 × 62 = 63 488 dimensions against the ~1 600 (generated) to 8 000 (training) segments of an
    evaluation. k-means with k = 50 is then ill-posed: every centre has far more coordinates than its cell
    has members, so the cells fit noise, and three quarters of the coordinates lie above 2 kHz, so the
    Euclidean distance weighs the high-frequency noise floor more than the partials that carry pitch and
    timbre. A 64 × 4 grid of mean log-magnitudes (256 dimensions) keeps the spectral envelope, the register
    and the coarse time course (an onset, a rest) and is still a log-spectrogram, just coarser. The bands are
    mel-spaced: 22 of the 64 lie below 1 kHz (8 with equal-width bands), 15 above 4 kHz.

    Parameters
    ----------
    spec
        ``(F, T)`` log-magnitude spectrogram (frequency-major; the cache's ``spec.npy`` is ``(T, F)``).
    frames_per_segment
        Segment length in frames (62 ≈ 1 s at 62.5 frames/s); at least ``n_time``.
    n_freq, n_time
        The grid each segment is averaged onto.
    bin_hz
        Width of one frequency bin in Hz, for the mel-spaced bands (default: MI Net's 16 kHz / 2048 = 7.8 Hz);
        None spaces the bands evenly in bins (for a log-mel input, which is mel-spaced already).

    Returns
    -------
    np.ndarray
        ``(N, n_freq * n_time)`` float32 with ``N = T // frames_per_segment``; feature ``f * n_time + t`` is
        band ``f`` (low to high) in time block ``t``.
    """
    spec = np.asarray(spec)
    if spec.ndim != 2:
        raise ValueError(f"segment_features: expected a (F, T) spectrogram, got shape {spec.shape}")
    if frames_per_segment < n_time or n_time < 1:
        raise ValueError(
            f"segment_features: need frames_per_segment >= n_time >= 1, got {frames_per_segment}, {n_time}"
        )
    n_bins, n_frames = spec.shape
    f_edges = band_edges(n_bins, n_freq, bin_hz)
    n_seg = n_frames // frames_per_segment
    if n_seg == 0:
        return np.zeros((0, n_freq * n_time), np.float32)
    x = spec[:, : n_seg * frames_per_segment].astype(np.float64)
    x = x.reshape(n_bins, n_seg, frames_per_segment)
    t_edges = np.round(np.linspace(0, frames_per_segment, n_time + 1)).astype(np.int64)
    # Sums over the band / block ranges, divided by their sizes: means (reduceat takes the range starts).
    x = np.add.reduceat(x, f_edges[:-1], axis=0) / np.diff(f_edges)[:, None, None]
    x = np.add.reduceat(x, t_edges[:-1], axis=2) / np.diff(t_edges)[None, None, :]
    return np.ascontiguousarray(x.transpose(1, 0, 2).reshape(n_seg, n_freq * n_time), dtype=np.float32)


def two_proportion_z_test(p1: np.ndarray, n1: int, p2: np.ndarray, n2: int) -> tuple[np.ndarray, np.ndarray]:
    """Pooled two-proportion z-test (two-sided), elementwise.

    Parameters
    ----------
    p1, p2
        Proportions (same shape) observed in samples of ``n1`` and ``n2`` items.

    Returns
    -------
    z, p_value
        Same shape. Where both proportions are 0 or both 1 (no variance), z = 0 and p = 1.

    Examples
    --------
    0.50 of 1000 against 0.45 of 1000: z = 2.24, p = 0.025.
    """
    p1, p2 = np.asarray(p1, np.float64), np.asarray(p2, np.float64)
    if n1 <= 0 or n2 <= 0:
        raise ValueError(f"two_proportion_z_test: need n1, n2 > 0, got {n1}, {n2}")
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (p1 - p2) / np.where(se > 0, se, 1.0), 0.0)
    return z, 2.0 * ndtr(-np.abs(z))


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (0 = same distribution, 1 = disjoint supports).

    ``p`` and ``q`` are non-negative histograms of the same shape; each is normalised to sum to 1.
    """
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if p.shape != q.shape or p.sum() <= 0 or q.sum() <= 0 or (p < 0).any() or (q < 0).any():
        raise ValueError("js_divergence: need two non-negative, non-empty histograms of the same shape")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / m[nz])).sum())

    return max(0.0, 0.5 * kl(p) + 0.5 * kl(q))


@dataclass
class NDBResult:
    """NDB of one set of samples against the training cells.

    Attributes
    ----------
    n_different
        NDB: the number of cells whose sample share differs significantly from the training share.
    k, alpha
        Number of cells and significance level.
    train_props, sample_props
        ``(k,)`` share of training and of sample segments in each cell.
    different
        ``(k,)`` bool, the significant cells.
    p_values
        ``(k,)`` two-sided p-values of the per-cell tests.
    js_divergence
        Jensen-Shannon divergence (bits) between the two cell histograms.
    n_train, n_samples
        Segments on each side.
    """

    n_different: int
    k: int
    alpha: float
    train_props: np.ndarray
    sample_props: np.ndarray
    different: np.ndarray
    p_values: np.ndarray
    js_divergence: float
    n_train: int
    n_samples: int

    @property
    def ndb_over_k(self) -> float:
        """NDB / k, comparable across numbers of cells."""
        return self.n_different / self.k


class NDB:
    """Number of statistically different bins (Richardson & Weiss 2018, as in the MI Net paper §4).

    :meth:`fit` clusters the real training segments into ``k`` Voronoi cells with k-means (scikit-learn,
    k-means++ with 10 restarts, fixed seed: the same features give the same cells); :meth:`score` assigns
    samples to the nearest centre and counts the cells where the sample share differs from the training
    share by a two-sided pooled two-proportion z-test at level ``alpha``.

    Two sets drawn from the same distribution still differ in about ``alpha * k`` cells (2.5 of 50) by
    chance; a set that covers only some of the training modes, or sits elsewhere, differs in many.

    Parameters
    ----------
    k
        Number of cells (50 in the paper).
    alpha
        Significance level of each per-cell test.
    seed
        k-means seed.
    """

    def __init__(self, k: int = 50, alpha: float = 0.05, seed: int = 0) -> None:
        if k < 2:
            raise ValueError(f"NDB: need k >= 2 cells, got {k}")
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"NDB: alpha must be in (0, 1), got {alpha}")
        self.k, self.alpha, self.seed = int(k), float(alpha), int(seed)
        self.centers: np.ndarray | None = None
        self.train_props: np.ndarray | None = None
        self.n_train = 0

    def fit(self, train_feats: np.ndarray) -> NDB:
        """Cluster ``(N, D)`` training features (:func:`segment_features`) into ``k`` cells; returns self."""
        from sklearn.cluster import KMeans

        x = self._check(train_feats, "train_feats")
        if len(x) < self.k:
            raise ValueError(f"NDB.fit: {len(x)} training segments for {self.k} cells; need at least k")
        with single_thread():
            km = KMeans(n_clusters=self.k, n_init=10, random_state=self.seed).fit(x)
        self.centers = km.cluster_centers_.astype(np.float64)
        self.n_train = len(x)
        self.train_props = np.bincount(self.assign(x), minlength=self.k) / self.n_train
        return self

    def assign(self, feats: np.ndarray) -> np.ndarray:
        """Nearest cell (Euclidean) of each ``(N, D)`` feature row: ``(N,)`` int64 in ``0..k-1``."""
        if self.centers is None:
            raise RuntimeError("NDB: call fit() before assign() or score()")
        x = self._check(feats, "feats")
        c = self.centers
        out = np.empty(len(x), np.int64)
        c_sq = (c**2).sum(axis=1)
        for s in range(0, len(x), 4096):  # bounded memory for large sets
            xb = x[s : s + 4096]
            d = c_sq[None, :] - 2.0 * xb @ c.T  # |x|^2 is the same for every centre
            out[s : s + len(xb)] = d.argmin(axis=1)
        return out

    def score(self, samples: np.ndarray) -> NDBResult:
        """NDB of ``(M, D)`` sample features against the fitted training cells."""
        labels = self.assign(samples)
        if len(labels) == 0:
            raise ValueError("NDB.score: no samples")
        assert self.train_props is not None
        sample_props = np.bincount(labels, minlength=self.k) / len(labels)
        _, p = two_proportion_z_test(self.train_props, self.n_train, sample_props, len(labels))
        different = p < self.alpha
        return NDBResult(
            n_different=int(different.sum()),
            k=self.k,
            alpha=self.alpha,
            train_props=self.train_props.copy(),
            sample_props=sample_props,
            different=different,
            p_values=p,
            js_divergence=js_divergence(self.train_props, sample_props),
            n_train=self.n_train,
            n_samples=len(labels),
        )

    def _check(self, feats: np.ndarray, name: str) -> np.ndarray:
        x = np.asarray(feats, np.float64)
        if x.ndim != 2:
            raise ValueError(f"NDB: {name} must be (N, D), got shape {x.shape}")
        if self.centers is not None and x.shape[1] != self.centers.shape[1]:
            raise ValueError(f"NDB: {name} has {x.shape[1]} dimensions, the cells {self.centers.shape[1]}")
        if not np.isfinite(x).all():
            raise ValueError(f"NDB: {name} contains NaN or infinite values")
        return x


# ----------------------------------------------------------------------------------------------------------
# Movement embeddings: 1-NN accuracy and t-SNE (MI Net paper Table 2, Fig. 7)


def _label(x: Any) -> Hashable:
    """numpy scalars -> plain Python values, so per-class dicts have JSON-friendly keys."""
    return x.item() if isinstance(x, np.generic) else x


@dataclass
class KNNResult:
    """1-NN classification of the test embeddings.

    Attributes
    ----------
    accuracy
        Fraction of test items whose nearest training item has their label.
    per_class
        Accuracy among the test items of each label (labels as plain Python values).
    n_test
        Test items.
    """

    accuracy: float
    per_class: dict[Hashable, float] = field(default_factory=dict)
    n_test: int = 0


def nearest_neighbours_cosine(train_emb: np.ndarray, test_emb: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Index of the most cosine-similar training row for each test row: ``(M,)`` int64.

    Rows are L2-normalised (an all-zero row stays zero, similar to nothing); ties go to the lowest index.
    """
    a = np.asarray(train_emb, np.float64)
    b = np.asarray(test_emb, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"embeddings must be (N, D) and (M, D), got {a.shape} and {b.shape}")
    if len(a) == 0:
        raise ValueError("no training embeddings")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    out = np.empty(len(b), np.int64)
    for s in range(0, len(b), chunk):
        out[s : s + chunk] = (b[s : s + chunk] @ a.T).argmax(axis=1)
    return out


def knn_accuracy(
    train_emb: np.ndarray, train_labels: Sequence[Any], test_emb: np.ndarray, test_labels: Sequence[Any]
) -> KNNResult:
    """1-nearest-neighbour accuracy with cosine similarity (MI Net paper: K = 1, cosine).

    Parameters
    ----------
    train_emb, test_emb
        ``(N, D)`` and ``(M, D)`` embeddings.
    train_labels, test_labels
        ``(N,)`` and ``(M,)`` labels (strings or integers).
    """
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    if len(train_labels) != len(train_emb) or len(test_labels) != len(test_emb):
        raise ValueError("knn_accuracy: one label per embedding")
    if len(test_emb) == 0:
        raise ValueError("knn_accuracy: no test embeddings")
    pred = train_labels[nearest_neighbours_cosine(train_emb, test_emb)]
    correct = pred == test_labels
    per_class = {_label(c): float(correct[test_labels == c].mean()) for c in np.unique(test_labels)}
    return KNNResult(float(correct.mean()), per_class, int(len(test_labels)))


def tsne_embed(emb: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE of ``(N, D)`` embeddings (PCA start, fixed seed): ``(N, 2)``.

    Perplexity is 30 (scikit-learn's default) for ``N >= 91`` and ``(N - 1) / 3`` below, so it stays under
    the number of points as t-SNE requires.
    """
    from sklearn.manifold import TSNE

    x = np.asarray(emb, np.float64)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"tsne: need (N, D) embeddings with N >= 3, got shape {x.shape}")
    perplexity = float(min(30.0, max(1.0, (len(x) - 1) / 3.0)))
    with single_thread():
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def _save_figure(fig: Figure, path: str | PathLike[str], dpi: int) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # Agg, explicitly: never a GUI backend, whatever matplotlib's rcParams say
    target = Path(path)
    with atomic_path(target, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return target


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def tsne_figure(
    emb: np.ndarray, labels: Sequence[Any], path: str | PathLike[str], title: str = "", seed: int = 0
) -> Path:
    """t-SNE scatter of ``(N, D)`` embeddings coloured by label (MI Net paper Fig. 7), written as a PNG."""
    from matplotlib.figure import Figure

    labels = [str(x) for x in labels]
    if len(labels) != len(emb):
        raise ValueError("tsne_figure: one label per embedding")
    xy = tsne_embed(emb, seed)
    classes = list(dict.fromkeys(labels))  # first-appearance order
    fig = Figure(figsize=(6.4, 5.2))
    ax = fig.add_subplot()
    lab = np.array(labels)
    for c, color in zip(classes, _colors(len(classes)), strict=True):
        m = lab == c
        ax.scatter(xy[m, 0], xy[m, 1], s=12, color=color, label=c, alpha=0.8, linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8, markerscale=1.5)
    return _save_figure(fig, path, dpi=120)


# ----------------------------------------------------------------------------------------------------------
# Pitch (Visually Indicated Music Table 1)


def pitch_track(
    audio: np.ndarray,
    sr: int,
    fmin: float = PITCH_FMIN,
    fmax: float = PITCH_FMAX,
    method: str = "pyin",
    crepe_model: str = "tiny",
) -> tuple[np.ndarray, np.ndarray]:
    """Fundamental frequency of a monophonic recording, frame by frame.

    pYIN is the default. On the ground-truth renders of the synthetic corpus's test split (first 10 s of one
    track per instrument) it scores the same :func:`pitch_accuracy` as CREPE tiny (0.93 and 0.94 averaged
    over the 13 instruments; 0.64-1.00 and 0.75-1.00 per instrument), in about a quarter of the time, and it
    makes a real voicing decision, where CREPE tiny's periodicity calls nearly every frame voiced.

    Parameters
    ----------
    audio
        ``(N,)`` waveform.
    sr
        Its sample rate (resampled to the tracker's own rate).
    fmin, fmax
        Search range in Hz.
    method
        ``"pyin"`` (librosa's probabilistic YIN; 22.05 kHz, 93-ms frames, 23-ms hop) or ``"crepe"``
        (torchcrepe with the weights bundled in its wheel, CPU; 16 kHz, 16-ms hop; a frame is voiced where
        the median-filtered periodicity reaches 0.21; CREPE's weighted-average decoding).
    crepe_model
        ``"tiny"`` or ``"full"`` (the paper's CREPE; about 40 times slower on a CPU).

    Returns
    -------
    times, f0
        ``(n,)`` frame centres in seconds, and f0 in Hz with NaN where the frame is unvoiced.
    """
    x = np.asarray(audio, np.float32)
    if x.ndim != 1:
        raise ValueError(f"pitch_track: expected a mono (N,) waveform, got shape {x.shape}")
    if not 0 < fmin < fmax:
        raise ValueError(f"pitch_track: need 0 < fmin < fmax, got {fmin}, {fmax}")
    if method == "pyin":
        import librosa

        x = resample_audio(x, sr, PYIN_SAMPLE_RATE)
        if len(x) < PYIN_FRAME // 2 + 1:
            return np.zeros(0), np.zeros(0)
        f0, voiced, _ = librosa.pyin(
            x,
            fmin=fmin,
            fmax=min(fmax, PYIN_SAMPLE_RATE / 4),
            sr=PYIN_SAMPLE_RATE,
            frame_length=PYIN_FRAME,
            hop_length=PYIN_HOP,
            resolution=PYIN_RESOLUTION,
        )
        f0 = np.where(voiced, f0, np.nan)
        times = np.arange(len(f0)) * (PYIN_HOP / PYIN_SAMPLE_RATE)
        return times, f0.astype(np.float64)
    if method == "crepe":
        import torch
        import torchcrepe

        x = resample_audio(x, sr, CREPE_SAMPLE_RATE)
        if len(x) == 0:
            return np.zeros(0), np.zeros(0)
        with torch.inference_mode():
            f0_t, periodicity = torchcrepe.predict(
                torch.from_numpy(x)[None],
                CREPE_SAMPLE_RATE,
                hop_length=CREPE_HOP,
                fmin=fmin,
                fmax=min(fmax, torchcrepe.MAX_FMAX),
                model=crepe_model,
                # CREPE's own decoding (a weighted average around the most likely bin). torchcrepe's default
                # Viterbi decoder returns fmax with zero periodicity on some whole recordings (tuba, cello).
                decoder=torchcrepe.decode.weighted_argmax,
                return_periodicity=True,
                batch_size=512,
                device="cpu",
            )
            periodicity = torchcrepe.filter.median(periodicity, 3)
        f0 = f0_t[0].double().numpy()
        f0 = np.where(periodicity[0].numpy() >= CREPE_VOICING_THRESHOLD, f0, np.nan)
        times = np.arange(len(f0)) * (CREPE_HOP / CREPE_SAMPLE_RATE)
        return times, f0
    raise ValueError(f"pitch_track: unknown method {method!r} (pyin or crepe)")


def score_pitch_at(notes: Sequence[Note], times: np.ndarray) -> np.ndarray:
    """The score's pitch at each time: ``(n,)`` float, the MIDI pitch where exactly one pitch sounds, else NaN.

    A note sounds on ``[onset, offset)``. Rests and chords (two or more different pitches) are NaN; two
    overlapping notes of the same pitch count as one pitch.
    """
    times = np.asarray(times, np.float64)
    n = len(times)
    count = np.zeros(n + 1, np.int64)
    lo = np.full(n, 128, np.int64)
    hi = np.full(n, -1, np.int64)
    for note in notes:
        a = int(np.searchsorted(times, note.onset, side="left"))
        b = int(np.searchsorted(times, note.offset, side="left"))
        if b > a:
            count[a] += 1
            count[b] -= 1
            np.minimum(lo[a:b], note.pitch, out=lo[a:b])
            np.maximum(hi[a:b], note.pitch, out=hi[a:b])
    sounding = np.cumsum(count)[:n] > 0
    return np.where(sounding & (lo == hi), lo, np.nan).astype(np.float64)


@dataclass
class PitchResult:
    """Pitch accuracy against a score.

    Attributes
    ----------
    accuracy
        Fraction of the reference frames (one sounding pitch in the score) whose tracked f0 is voiced and
        within the tolerance of the score pitch; NaN when there is no reference frame.
    n_frames
        Reference frames.
    voicing_recall
        Fraction of the reference frames the tracker calls voiced at all (NaN without reference frames): low
        voicing recall with low accuracy means silence or noise; high voicing recall with low accuracy means
        wrong notes.
    n_correct, n_voiced
        The counts behind the two fractions (for pooling over tracks).
    """

    accuracy: float
    n_frames: int
    voicing_recall: float
    n_correct: int = 0
    n_voiced: int = 0


def pitch_accuracy(
    audio: np.ndarray,
    sr: int,
    notes: Sequence[Note],
    tolerance_semitones: float = 1.0,
    *,
    method: str = "pyin",
    fmin: float = PITCH_FMIN,
    fmax: float = PITCH_FMAX,
) -> PitchResult:
    """Visually Indicated Music's pitch accuracy: the fraction of frames whose f0 "lies within one semitone" of the score.

    Reference frames are the tracker's frames (:func:`pitch_track`) in which the score has exactly one
    sounding pitch (:func:`score_pitch_at`); rests and chords are left out. A frame is correct when the
    tracker calls it voiced and ``|12 log2(f0 / f_score)| <= tolerance_semitones``: with the default 1.0 an
    estimate up to 100 cents sharp or flat counts, octave errors do not. A neighbouring wrong note sits right
    on that boundary; ``tolerance_semitones=0.5`` is mir_eval's raw pitch accuracy (50 cents), which rounds
    to the nearest note.

    Parameters
    ----------
    audio, sr
        ``(N,)`` waveform and its sample rate; time 0 is the score's time 0.
    notes
        The score.
    tolerance_semitones
        Half-width of the accepted band.
    method, fmin, fmax
        Passed to :func:`pitch_track`.
    """
    if tolerance_semitones <= 0:
        raise ValueError(f"pitch_accuracy: tolerance must be positive, got {tolerance_semitones}")
    times, f0 = pitch_track(audio, sr, fmin, fmax, method=method)
    ref = score_pitch_at(notes, times)
    is_ref = np.isfinite(ref)
    n = int(is_ref.sum())
    if n == 0:
        return PitchResult(float("nan"), 0, float("nan"))
    est, ref = f0[is_ref], ref[is_ref]
    voiced = np.isfinite(est)
    ref_hz = 440.0 * 2.0 ** ((ref - 69.0) / 12.0)
    with np.errstate(invalid="ignore"):
        err = np.abs(12.0 * np.log2(np.where(voiced, est, 1.0) / ref_hz))
    correct = voiced & (err <= tolerance_semitones)
    return PitchResult(float(correct.mean()), n, float(voiced.mean()), int(correct.sum()), int(voiced.sum()))


# ----------------------------------------------------------------------------------------------------------
# Onsets


def match_events(ref: np.ndarray, est: np.ndarray, tolerance: float) -> list[tuple[int, int]]:
    """Largest one-to-one matching of reference and estimated event times within ``tolerance`` (inclusive).

    Maximum bipartite matching (Hopcroft-Karp), as mir_eval's ``match_events``: a greedy nearest-first
    matching can pair an estimate with the wrong reference and leave both neighbours unmatched.

    Returns
    -------
    list of (ref_index, est_index)
    """
    ref, est = np.asarray(ref, np.float64).ravel(), np.asarray(est, np.float64).ravel()
    if len(ref) == 0 or len(est) == 0:
        return []
    # Small slack so that a pair exactly `tolerance` apart is not lost to float rounding.
    close = np.abs(ref[:, None] - est[None, :]) <= tolerance + 1e-9
    graph = sparse.csr_array(close.astype(np.int8))
    match = maximum_bipartite_matching(graph, perm_type="column")  # est index per ref, -1 = none
    return [(int(i), int(j)) for i, j in enumerate(match) if j >= 0]


@dataclass
class OnsetResult:
    """Onset detection against reference onsets (one-to-one within the tolerance).

    ``precision = matched / n_est``, ``recall = matched / n_ref``; all three are 0 when either side is empty
    (mir_eval's convention).
    """

    precision: float
    recall: float
    f1: float
    n_ref: int
    n_est: int
    n_matched: int = 0


def onset_scores(ref_onsets: np.ndarray, est_onsets: np.ndarray, tolerance_s: float = 0.05) -> OnsetResult:
    """Precision, recall and F1 of estimated onset times against reference onset times (seconds)."""
    ref, est = np.asarray(ref_onsets, np.float64).ravel(), np.asarray(est_onsets, np.float64).ravel()
    m = len(match_events(ref, est, tolerance_s))
    if len(ref) == 0 or len(est) == 0:
        return OnsetResult(0.0, 0.0, 0.0, len(ref), len(est), 0)
    p, r = m / len(est), m / len(ref)
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return OnsetResult(p, r, f1, len(ref), len(est), m)


def detect_onsets(audio: np.ndarray, sr: int) -> np.ndarray:
    """Onset times in seconds: librosa's spectral-flux detector (22.05 kHz, 46-ms window, 12-ms hop), no
    backtracking (an onset is where the flux peaks, not the energy minimum before it)."""
    import librosa

    x = resample_audio(np.asarray(audio, np.float32), sr, ONSET_SAMPLE_RATE)
    if len(x) == 0 or not np.any(x):
        return np.zeros(0)
    env = librosa.onset.onset_strength(y=x, sr=ONSET_SAMPLE_RATE, n_fft=ONSET_N_FFT, hop_length=ONSET_HOP)
    return librosa.onset.onset_detect(
        onset_envelope=env, sr=ONSET_SAMPLE_RATE, hop_length=ONSET_HOP, backtrack=False, units="time"
    ).astype(np.float64)


def onset_f1(
    audio: np.ndarray, sr: int, ref_onsets_s: np.ndarray | Sequence[float], tolerance_s: float = 0.05
) -> OnsetResult:
    """Onset F1 of a waveform against the score's note onsets (seconds), within ``tolerance_s`` (50 ms)."""
    return onset_scores(np.asarray(ref_onsets_s, np.float64), detect_onsets(audio, sr), tolerance_s)


# ----------------------------------------------------------------------------------------------------------
# Log-mel (Visually Indicated Music Table 1)


def logmel_of(audio: np.ndarray, sr: int, cfg: MelConfig | None = None) -> np.ndarray:
    """Visually Indicated Music's 80-band log-mel of a waveform, resampled to 22.05 kHz first: ``(80, T)`` float32.

    The project's :class:`~minet_desktop.features.audio.LogMel` (the cache's ``mel.npy``, transposed).
    """
    cfg = cfg or MelConfig()
    x = np.asarray(audio, np.float32)
    if x.ndim != 1:
        raise ValueError(f"logmel_of: expected a mono (N,) waveform, got shape {x.shape}")
    if sr != cfg.sample_rate:
        x = resample_audio(x, sr, cfg.sample_rate)
    return log_mel(x, cfg)


def logmel_mse(a_mel: np.ndarray, b_mel: np.ndarray) -> float:
    """Mean squared difference of two ``(n_mels, T)`` log-mels (natural-log units), over the common frames.

    The longer one is trimmed to the shorter (a generated clip can be a frame or two longer than the
    recording); frames are compared from the start.
    """
    a, b = np.asarray(a_mel, np.float64), np.asarray(b_mel, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(
            f"logmel_mse: need (n_mels, T) arrays with the same n_mels, got {a.shape}, {b.shape}"
        )
    n = min(a.shape[1], b.shape[1])
    if n == 0:
        raise ValueError("logmel_mse: an empty log-mel")
    return float(((a[:, :n] - b[:, :n]) ** 2).mean())


# ----------------------------------------------------------------------------------------------------------
# Report helpers


def spectrogram_figure(
    rows: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]],
    path: str | PathLike[str],
    *,
    sample_rate: int = AudioConfig().sample_rate,
    n_fft: int = AudioConfig().n_fft,
    hop_length: int = AudioConfig().hop_length,
    db_range: float = 80.0,
    fmin_hz: float = 30.0,
) -> Path:
    """A grid of log-spectrograms like the MI Net paper Fig. 6, written as a PNG.

    Parameters
    ----------
    rows
        One row per instrument: ``(row title, [(column title, spec (F, T)), ...])``. Column titles are shown
        above each panel; rows may have different numbers of panels.
    path
        The PNG.
    sample_rate, n_fft, hop_length
        Of the spectrograms (bin ``f`` is at ``f * sample_rate / n_fft`` Hz, frame ``t`` at
        ``t * hop_length / sample_rate`` s); MI Net's by default.
    db_range
        Colour range below the loudest value of the figure (one scale for all panels, so loudness compares).
    fmin_hz
        Lowest frequency shown on the logarithmic frequency axis.
    """
    from matplotlib.figure import Figure

    if not rows or not any(cols for _, cols in rows):
        raise ValueError("spectrogram_figure: nothing to draw")
    n_rows, n_cols = len(rows), max(len(cols) for _, cols in rows)
    specs = [np.asarray(s, np.float32) for _, cols in rows for _, s in cols]
    vmax = max(float(s.max()) for s in specs if s.size)
    vmin = vmax - db_range / DB_PER_NAT
    fig = Figure(figsize=(3.4 * n_cols + 0.8, 2.3 * n_rows + 0.4), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    mesh = None
    for i, (row_title, cols) in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            if j >= len(cols):
                ax.set_axis_off()
                continue
            title, spec = cols[j]
            spec = np.asarray(spec, np.float32)
            if spec.ndim != 2:
                raise ValueError(f"spectrogram_figure: {row_title}/{title} is not (F, T): {spec.shape}")
            freqs = np.arange(spec.shape[0]) * (sample_rate / n_fft)
            times = np.arange(spec.shape[1]) * (hop_length / sample_rate)
            keep = freqs >= fmin_hz
            mesh = ax.pcolormesh(
                times,
                freqs[keep],
                spec[keep],
                vmin=vmin,
                vmax=vmax,
                cmap="magma",
                shading="auto",
                rasterized=True,
            )
            ax.set_yscale("log")
            ax.set_ylim(fmin_hz, freqs[-1])
            first_row_titles = [t for t, _ in rows[0][1]]
            if i == 0 or j >= len(first_row_titles) or title != first_row_titles[j]:
                ax.set_title(title, fontsize=9)  # column titles once, above the first row, unless they change
            if j == 0:
                ax.set_ylabel(f"{row_title}\nHz", fontsize=9)
            else:
                ax.set_yticklabels([])
            if i == n_rows - 1:
                ax.set_xlabel("s", fontsize=8)
            ax.tick_params(labelsize=7)
    if mesh is not None:
        fig.colorbar(mesh, ax=axes, shrink=0.6, label="log-magnitude (nats)")
    return _save_figure(fig, path, dpi=110)


def bar_figure(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    path: str | PathLike[str],
    *,
    title: str = "",
    ylabel: str = "",
    ylim: tuple[float, float] | None = None,
) -> Path:
    """Grouped bar chart (e.g. per-instrument accuracy of each model), written as a PNG.

    Parameters
    ----------
    groups
        Names along the x axis (instruments).
    series
        One bar per group for each series (model): ``{name: values aligned with groups}``; None or NaN draws
        no bar.
    """
    from matplotlib.figure import Figure

    if not groups or not series:
        raise ValueError("bar_figure: nothing to draw")
    for name, vals in series.items():
        if len(vals) != len(groups):
            raise ValueError(f"bar_figure: series {name!r} has {len(vals)} values for {len(groups)} groups")
    n = len(series)
    width = 0.8 / n
    x = np.arange(len(groups))
    fig = Figure(figsize=(max(5.0, 0.3 * len(groups) * n + 2.0), 3.6), layout="constrained")
    ax = fig.add_subplot()
    for k, ((name, vals), color) in enumerate(zip(series.items(), _colors(n), strict=True)):
        v = np.array([np.nan if a is None else float(a) for a in vals])
        ax.bar(x - 0.4 + width * (k + 0.5), np.nan_to_num(v), width, label=name, color=color)
    ax.set_xticks(
        x, list(groups), rotation=45 if len(groups) > 6 else 0, ha="right" if len(groups) > 6 else "center"
    )
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if n > 1:
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save_figure(fig, path, dpi=110)


def _is_number(s: str) -> bool:
    s = s.strip().rstrip("%")
    if s in ("–", "-", ""):
        return True  # a missing value in a numeric column
    try:
        float(s)
    except ValueError:
        return False
    return True


def table_markdown(rows: Sequence[Sequence[Any]], columns: Sequence[str], align: str | None = None) -> str:
    """A Markdown table with padded, aligned columns.

    Parameters
    ----------
    rows
        Cells (anything; written with ``str``; ``|`` is escaped).
    columns
        Header.
    align
        One letter per column, ``l`` or ``r``; by default numeric columns (every cell a number, a percentage
        or a dash) are right-aligned and the rest left-aligned.
    """
    header = [str(c) for c in columns]
    body = [[str(c).replace("|", "\\|") for c in r] for r in rows]
    for r in body:
        if len(r) != len(header):
            raise ValueError(f"table_markdown: a row has {len(r)} cells for {len(header)} columns")
    if align is None:
        align = "".join(
            "r" if body and all(_is_number(r[j]) for r in body) else "l" for j in range(len(header))
        )
    if len(align) != len(header) or set(align) - {"l", "r"}:
        raise ValueError(f"table_markdown: align must be one of 'l'/'r' per column, got {align!r}")
    widths = [max(3, len(header[j]), *(len(r[j]) for r in body)) for j in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(cells, widths, align, strict=True)
            )
            + " |"
        )

    rule = (
        "| "
        + " | ".join("-" * (w - 1) + ":" if a == "r" else "-" * w for w, a in zip(widths, align, strict=True))
        + " |"
    )
    return "\n".join([line(header), rule, *(line(r) for r in body)])
