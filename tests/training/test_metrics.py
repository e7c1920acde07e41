"""Evaluation metrics (training/evaluate): cases with known answers, and FluidSynth renderings of known scores."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from minet_desktop.core.config import MelConfig
from minet_desktop.core.errors import InputError
from minet_desktop.media.audio_io import resample_audio
from minet_desktop.media.midi import DEFAULT_SOUNDFONT, Note, synthesize_notes
from training.evaluate import metrics as M
from training.evaluate.classifier import InstrumentClassifier, segment_mels, segment_statistics

SR = 22_050
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _melody(rng: np.random.Generator, seconds: float, low: int, high: int) -> list[Note]:
    """A random-walk melody of 0.25-0.5 s notes, slightly detached, inside [low, high]."""
    notes, t, pitch = [], 0.05, (low + high) // 2
    while t < seconds - 0.3:
        dur = float(rng.choice([0.25, 0.375, 0.5]))
        pitch = int(np.clip(pitch + rng.integers(-4, 5), low, high))
        notes.append(Note(t, t + dur - 0.03, pitch, int(rng.integers(80, 110))))
        t += dur
    return notes


#: General MIDI programs of the classifier test: violin, flute, trumpet.
PROGRAMS = {"vn": 40, "fl": 73, "tpt": 56}


@pytest.fixture(scope="module")
def renders() -> dict[tuple[str, str], tuple[np.ndarray, list[Note]]]:
    """Each instrument playing a training melody (12 s) and a different held-out melody (6 s), at 22.05 kHz.

    All melodies lie in the range the three instruments share (G3-E5), so register alone cannot tell them
    apart.
    """
    if not DEFAULT_SOUNDFONT.is_file():
        pytest.fail(f"{DEFAULT_SOUNDFONT} is missing: install Debian's fluid-soundfont-gm (see .ci/run)")

    rng = np.random.default_rng(7)
    out = {}
    for code, program in PROGRAMS.items():
        for split, seconds in (("train", 12.0), ("test", 6.0)):
            notes = _melody(rng, seconds, 55, 76)
            out[(code, split)] = (synthesize_notes(notes, program, SR, length=int(seconds * SR)), notes)
    return out


# ----------------------------------------------------------------------------------------------------------
# NDB


def test_band_edges_cover_all_bins_once() -> None:
    for bin_hz in (None, 16_000 / 2048):
        e = M.band_edges(1024, 64, bin_hz)
        assert e[0] == 0 and e[-1] == 1024 and len(e) == 65
        assert (np.diff(e) >= 1).all()
    mel = np.diff(M.band_edges(1024, 64, 16_000 / 2048))
    assert mel[0] < mel[-1]  # narrow low bands, wide high bands
    assert (np.diff(M.band_edges(8, 8, 1000.0)) == 1).all()  # as many bands as bins: one bin each
    with pytest.raises(ValueError):
        M.band_edges(8, 9, None)


def test_segment_features_are_block_means() -> None:
    # Bins 0-3 hold 1, bins 4-7 hold 2; frame t adds t. Two bands of 4 bins (linear), 2 time blocks of 5.
    spec = np.repeat([[1.0], [2.0]], 4, axis=0) + np.arange(23)[None, :]
    f = M.segment_features(spec, 10, n_freq=2, n_time=2, bin_hz=None)
    assert f.shape == (2, 4) and f.dtype == np.float32  # 23 frames: two segments, 3 frames dropped
    # Segment 0: frames 0-4 (mean 2) and 5-9 (mean 7); segment 1: 12 and 17. Order: band-major.
    np.testing.assert_allclose(f[0], [1 + 2, 1 + 7, 2 + 2, 2 + 7])
    np.testing.assert_allclose(f[1], [1 + 12, 1 + 17, 2 + 12, 2 + 17])
    assert M.segment_features(spec[:, :9], 10, 2, 2, bin_hz=None).shape == (0, 4)
    # The default grid on MI Net's spectrogram: 64 x 4 = 256 numbers per 1-s segment.
    assert M.segment_features(np.zeros((1024, 130), np.float16), 63).shape == (2, 256)
    with pytest.raises(ValueError):
        M.segment_features(spec, 3, n_time=4)


def test_two_proportion_z_test_known_values() -> None:
    # Pooled p = 0.475, se = sqrt(0.475 * 0.525 * 2 / 1000) = 0.022332; z = 0.05 / se = 2.2389, p = 0.02516.
    z, p = M.two_proportion_z_test(np.array([0.5, 0.5, 0.0]), 1000, np.array([0.45, 0.46, 0.0]), 1000)
    assert z[0] == pytest.approx(2.2389, abs=1e-4) and p[0] == pytest.approx(0.02516, abs=1e-4)
    assert p[1] == pytest.approx(0.0736, abs=1e-3)  # z = 1.79: not significant at 0.05
    assert z[2] == 0.0 and p[2] == 1.0  # an empty cell on both sides is no evidence of a difference


def test_js_divergence_known_values() -> None:
    assert M.js_divergence(np.array([1, 2, 3]), np.array([2, 4, 6])) == pytest.approx(0.0, abs=1e-12)
    assert M.js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    # p = (1, 0), q = (1/2, 1/2), m = (3/4, 1/4): JS = (log2(4/3) + (log2(2/3) + 1) / 2) / 2 = 0.3113.
    assert M.js_divergence(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == pytest.approx(0.31128, abs=1e-5)


def _mixture(rng: np.random.Generator, centers: np.ndarray, n: int, weights: np.ndarray) -> np.ndarray:
    comp = rng.choice(len(centers), size=n, p=weights / weights.sum())
    return centers[comp] + rng.normal(size=(n, centers.shape[1]))


def test_ndb_counts_cells_that_differ() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=4.0, size=(12, 16))
    weights = np.ones(12)
    train = _mixture(rng, centers, 3000, weights)
    ndb = M.NDB(k=50, seed=0).fit(train)
    same = ndb.score(_mixture(rng, centers, 1500, weights))
    # An independent draw of the same distribution: only chance differences (expected alpha * k = 2.5).
    assert same.n_different <= 5
    assert same.k == 50 and same.different.shape == (50,) and same.train_props.sum() == pytest.approx(1.0)
    assert same.js_divergence < 0.02
    # Four of the twelve modes missing and the rest shifted: most cells differ.
    shifted = ndb.score(_mixture(rng, centers[:8] + 1.5, 1500, weights[:8]))
    assert shifted.n_different >= 25
    assert shifted.js_divergence > 5 * same.js_divergence
    # Deterministic given the seed: the same cells from the same features.
    a, b = M.NDB(k=20, seed=3).fit(train[:800]), M.NDB(k=20, seed=3).fit(train[:800])
    np.testing.assert_array_equal(a.centers, b.centers)


def test_ndb_two_cells_by_hand() -> None:
    rng = np.random.default_rng(0)
    a, b = np.zeros(4), np.full(4, 100.0)
    train = np.concatenate([a + rng.normal(size=(500, 4)), b + rng.normal(size=(500, 4))])
    ndb = M.NDB(k=2, seed=0).fit(train)
    np.testing.assert_allclose(ndb.train_props, [0.5, 0.5])
    even = ndb.score(np.concatenate([a + rng.normal(size=(100, 4)), b + rng.normal(size=(100, 4))]))
    assert even.n_different == 0
    skewed = ndb.score(np.concatenate([a + rng.normal(size=(180, 4)), b + rng.normal(size=(20, 4))]))
    assert skewed.n_different == 2 and skewed.different.all()
    assert sorted(skewed.sample_props) == pytest.approx([0.1, 0.9])
    with pytest.raises(ValueError, match="dimensions"):
        ndb.score(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="at least k"):
        M.NDB(k=50).fit(train[:20])


# ----------------------------------------------------------------------------------------------------------
# KNN and t-SNE


def test_knn_separable_clusters_are_perfect() -> None:
    rng = np.random.default_rng(0)
    dirs = np.eye(8)[:4] * 10  # four orthogonal directions
    labels = np.array(["vn", "vc", "fl", "tpt"])
    tr_y, te_y = rng.integers(0, 4, 200), rng.integers(0, 4, 100)
    tr = dirs[tr_y] + rng.normal(size=(200, 8))
    # Cosine ignores the norm: test points 5 times longer are still nearest to their own cluster.
    te = 5 * (dirs[te_y] + rng.normal(size=(100, 8)))
    res = M.knn_accuracy(tr, labels[tr_y], te, labels[te_y])
    assert res.accuracy == 1.0 and res.n_test == 100
    assert set(res.per_class) == {"vn", "vc", "fl", "tpt"} and all(v == 1.0 for v in res.per_class.values())
    assert all(type(k) is str for k in res.per_class)  # plain str keys: JSON-friendly


def test_knn_random_labels_are_at_chance() -> None:
    rng = np.random.default_rng(0)
    res = M.knn_accuracy(
        rng.normal(size=(1000, 16)),
        rng.integers(0, 4, 1000),
        rng.normal(size=(2000, 16)),
        rng.integers(0, 4, 2000),
    )
    assert abs(res.accuracy - 0.25) < 0.04
    assert set(res.per_class) == {0, 1, 2, 3}


def test_knn_cosine_by_hand() -> None:
    # Nearest by angle, not by distance: (1, 0.1) is far from (10, 0) but at a small angle to it.
    tr = np.array([[10.0, 0.0], [0.5, 0.5]])
    assert M.nearest_neighbours_cosine(tr, np.array([[1.0, 0.1], [0.1, 1.0]])).tolist() == [0, 1]
    res = M.knn_accuracy(tr, ["a", "b"], np.array([[1.0, 0.1], [0.1, 1.0], [1.0, 0.0]]), ["a", "a", "b"])
    assert res.accuracy == pytest.approx(1 / 3) and res.per_class == {"a": 0.5, "b": 0.0}


def test_tsne_figure_writes_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    emb = np.eye(6)[y] * 5 + rng.normal(size=(60, 6))
    xy = M.tsne_embed(emb, seed=0)
    assert xy.shape == (60, 2)
    np.testing.assert_array_equal(xy, M.tsne_embed(emb, seed=0))  # fixed seed: same picture every run
    out = M.tsne_figure(emb, [["violin", "cello", "flute"][i] for i in y], tmp_path / "tsne.png", "test")
    assert out.read_bytes()[:8] == PNG_MAGIC
    M.tsne_figure(emb[:5], ["a"] * 5, tmp_path / "small.png")  # perplexity clipped below n
    with pytest.raises(ValueError):
        M.tsne_embed(emb[:2])


# ----------------------------------------------------------------------------------------------------------
# Pitch


def test_score_pitch_at_known_frames() -> None:
    notes = [Note(0.0, 1.0, 60), Note(0.5, 1.5, 64), Note(2.0, 3.0, 67), Note(2.2, 2.4, 67)]
    t = np.array([0.25, 0.75, 1.25, 1.75, 2.0, 2.3, 3.0])
    got = M.score_pitch_at(notes, t)
    # chord -> NaN, rest -> NaN, a doubled note is one pitch, offsets are exclusive
    np.testing.assert_array_equal(got, [60, np.nan, 64, np.nan, 67, 67, np.nan])


def _tone(midi: float, seconds: float) -> np.ndarray:
    """A harmonic tone (5 partials) at a fractional MIDI pitch."""
    t = np.arange(int(seconds * SR)) / SR
    f = 440.0 * 2 ** ((midi - 69) / 12)
    return sum(np.sin(2 * np.pi * k * f * t) / k for k in range(1, 6)).astype(np.float32) * 0.2


def test_pitch_accuracy_tolerance_is_a_semitone() -> None:
    # Two seconds at A3 + 0.7 semitone: within one semitone of A3, not within half a semitone.
    wave = _tone(57.7, 2.0)
    score = [Note(0.0, 2.0, 57)]
    r = M.pitch_accuracy(wave, SR, score)
    assert r.accuracy > 0.9 and r.voicing_recall > 0.9 and r.n_frames > 80
    assert r.n_correct == round(r.accuracy * r.n_frames)
    assert M.pitch_accuracy(wave, SR, score, tolerance_semitones=0.5).accuracy < 0.1
    assert M.pitch_accuracy(wave, SR, [Note(0.0, 2.0, 45)]).accuracy < 0.1  # an octave off is wrong
    # Silence: reference frames, nothing voiced.
    quiet = M.pitch_accuracy(np.zeros(SR, np.float32), SR, [Note(0.0, 1.0, 60)])
    assert quiet.accuracy == 0.0 and quiet.voicing_recall == 0.0
    empty = M.pitch_accuracy(wave, SR, [Note(5.0, 6.0, 60)])  # no score note inside the audio
    assert empty.n_frames == 0 and math.isnan(empty.accuracy)


def test_pitch_accuracy_of_a_rendering_against_its_score(renders) -> None:
    wave, notes = renders[("vn", "test")]
    own = M.pitch_accuracy(wave, SR, notes)
    assert own.accuracy > 0.8, own
    up3 = [Note(n.onset, n.offset, n.pitch + 3, n.velocity) for n in notes]
    wrong = M.pitch_accuracy(wave, SR, up3)
    assert wrong.accuracy < 0.15, wrong
    assert wrong.voicing_recall == own.voicing_recall  # same audio, same voicing: only the pitch is wrong


def test_pitch_track_resamples_and_rejects_bad_input() -> None:
    wave16 = _tone(69, 1.0)[:16_000]
    times, f0 = M.pitch_track(resample_audio(wave16, SR, 16_000), 16_000)
    assert np.nanmedian(f0) == pytest.approx(440.0, rel=0.01)
    assert times[1] - times[0] == pytest.approx(512 / SR)
    with pytest.raises(ValueError, match="unknown method"):
        M.pitch_track(wave16, SR, method="yin")
    with pytest.raises(ValueError, match="mono"):
        M.pitch_track(np.zeros((2, 100), np.float32), SR)


def test_pitch_track_crepe_runs_offline_on_its_bundled_weights() -> None:
    times, f0 = M.pitch_track(_tone(69, 1.0), SR, method="crepe")
    assert np.nanmedian(f0) == pytest.approx(440.0, rel=0.01)
    assert times[1] - times[0] == pytest.approx(256 / 16_000)
    _, f0 = M.pitch_track(np.zeros(SR, np.float32), SR, method="crepe")
    assert np.isnan(f0).mean() > 0.9  # silence is unvoiced


# ----------------------------------------------------------------------------------------------------------
# Onsets


def test_match_events_is_optimal_not_greedy() -> None:
    # Nearest-first would pair ref 0.06 with est 0.04 and leave both others unmatched; the optimum pairs all.
    assert sorted(M.match_events(np.array([0.0, 0.06]), np.array([0.04, 0.105]), 0.05)) == [(0, 0), (1, 1)]
    r = M.onset_scores(np.array([0.0, 0.06]), np.array([0.04, 0.105]))
    assert (r.precision, r.recall, r.f1) == (1.0, 1.0, 1.0)
    r = M.onset_scores(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.02, 2.2]))
    assert (r.n_matched, r.precision, r.recall) == (1, 0.5, 0.25) and r.f1 == pytest.approx(1 / 3)
    assert M.onset_scores(np.array([1.0]), np.array([])).f1 == 0.0
    assert M.match_events(np.array([1.0]), np.array([1.05]), 0.05) == [(0, 0)]  # inclusive tolerance


def _clicks(times: list[float], seconds: float) -> np.ndarray:
    """Short decaying 2-kHz bursts over faint noise."""
    rng = np.random.default_rng(0)
    wave = rng.normal(scale=1e-4, size=int(seconds * SR)).astype(np.float32)
    n = int(0.03 * SR)
    burst = np.sin(2 * np.pi * 2000 * np.arange(n) / SR) * np.exp(-np.arange(n) / (0.005 * SR))
    for t in times:
        s = int(t * SR)
        wave[s : s + n] += 0.5 * burst.astype(np.float32)
    return wave


def test_onset_f1_of_clicks() -> None:
    times = [0.5, 1.0, 1.6, 2.3, 3.0, 3.5]
    wave = _clicks(times, 4.0)
    r = M.onset_f1(wave, SR, times)
    assert (r.f1, r.n_ref, r.n_est) == (1.0, 6, 6)
    late = M.onset_f1(wave, SR, [t + 0.2 for t in times])
    assert late.f1 == 0.0
    # The detector works at any input rate.
    assert M.onset_f1(resample_audio(wave, SR, 16_000), 16_000, times).f1 == 1.0


# ----------------------------------------------------------------------------------------------------------
# Log-mel


def test_logmel_of_and_mse() -> None:
    wave = _tone(60, 1.0)
    mel = M.logmel_of(wave, SR)
    assert mel.shape == (80, SR // 512 + 1) and mel.dtype == np.float32
    # The same audio at 16 kHz is resampled to 22.05 kHz first: the same frames, nearly the same values.
    mel16 = M.logmel_of(resample_audio(wave, SR, 16_000), 16_000)
    assert abs(mel16.shape[1] - mel.shape[1]) <= 1
    assert M.logmel_mse(mel, mel16) < 0.05
    assert M.logmel_mse(mel, mel + 1.0) == pytest.approx(1.0)
    assert M.logmel_mse(mel, np.concatenate([mel - 2.0, mel], axis=1)) == pytest.approx(4.0)  # trimmed
    assert M.logmel_of(wave, SR, MelConfig(n_mels=40)).shape[0] == 40
    with pytest.raises(ValueError):
        M.logmel_mse(mel, mel[:40])


# ----------------------------------------------------------------------------------------------------------
# Report helpers


def test_table_markdown_aligns_columns() -> None:
    got = M.table_markdown([["MI Net", "33", "0.12"], ["Test set", "–", "1.5"]], ["Model", "NDB ↓", "JS"])
    assert got == (
        "| Model    | NDB ↓ |   JS |\n"
        "| -------- | ----: | ---: |\n"
        "| MI Net   |    33 | 0.12 |\n"
        "| Test set |     – |  1.5 |"
    )
    assert M.table_markdown([["a|b"]], ["x"], align="l") == "| x    |\n| ---- |\n| a\\|b |"
    with pytest.raises(ValueError):
        M.table_markdown([["1", "2"]], ["one"])


def test_figures_write_pngs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    spec = rng.normal(size=(1024, 100)).astype(np.float32) - 5
    rows = [
        ("violin", [("without content", spec), ("with content", spec + 1), ("ground truth", spec)]),
        ("cello", [("without content", spec), ("ground truth", spec - 1)]),  # fewer panels: left blank
    ]
    out = M.spectrogram_figure(rows, tmp_path / "spec.png")
    assert out.read_bytes()[:8] == PNG_MAGIC
    bar = M.bar_figure(
        ["vn", "vc", "fl"], {"MI Net": [0.9, None, 0.5], "real": [1, 1, 1]}, tmp_path / "b.png"
    )
    assert bar.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match="2 values for 3 groups"):
        M.bar_figure(["vn", "vc", "fl"], {"x": [1, 2]}, tmp_path / "c.png")
    with pytest.raises(ValueError):
        M.spectrogram_figure([], tmp_path / "none.png")


# ----------------------------------------------------------------------------------------------------------
# Instrument classifier


def test_segment_mels_and_statistics() -> None:
    mel = np.arange(80 * 100, dtype=np.float32).reshape(80, 100)
    segs = segment_mels(mel, 43)
    assert len(segs) == 2 and segs[1].shape == (80, 43) and segs[1][0, 0] == 43
    assert segment_mels(mel[:, :40], 43) == []
    stats = segment_statistics(segs)
    assert stats.shape == (2, 240)
    # Level-free envelope: a segment 3 nats louder has the same statistics.
    np.testing.assert_allclose(segment_statistics([segs[0] + 3.0]), stats[:1], atol=1e-9)


def test_classifier_separates_rendered_instruments(renders, tmp_path: Path) -> None:
    def segments(split: str) -> tuple[list[np.ndarray], list[str]]:
        segs, labels = [], []
        for code in PROGRAMS:
            s = segment_mels(M.logmel_of(renders[(code, split)][0], SR), 43)
            segs += s
            labels += [code] * len(s)
        return segs, labels

    train, test = segments("train"), segments("test")
    clf = InstrumentClassifier().fit(*train)
    acc, per = clf.accuracy(*test)  # held-out melodies
    assert acc > 0.9, per
    assert set(per) == set(PROGRAMS)
    # Louder or quieter audio is the same instrument.
    assert clf.predict([s + 2.0 for s in test[0]]) == clf.predict(test[0])
    # Save / load: same classes, same decisions, no pickle.
    path = clf.save(tmp_path / "clf.safetensors")
    back = InstrumentClassifier.load(path)
    assert back.classes == clf.classes
    np.testing.assert_allclose(back.decision_function(test[0]), clf.decision_function(test[0]))
    assert back.predict(test[0]) == clf.predict(test[0])


def test_classifier_load_refuses_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="not a safetensors file"):
        InstrumentClassifier.load(bad)
    from safetensors.numpy import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": np.zeros(3)}, str(other), metadata={"format": "something-else"})
    with pytest.raises(InputError, match="not an instrument classifier"):
        InstrumentClassifier.load(other)
    with pytest.raises(InputError, match="file not found"):
        InstrumentClassifier.load(tmp_path / "missing.safetensors")
    with pytest.raises(RuntimeError):
        InstrumentClassifier().predict([np.zeros((80, 43))])
    # Two instruments: one logit, decisions still per class.
    rng = np.random.default_rng(0)
    segs = [rng.normal(size=(80, 43)) + (k % 2) * np.linspace(0, 3, 80)[:, None] for k in range(40)]
    labels = ["vn" if k % 2 == 0 else "vc" for k in range(40)]
    two = InstrumentClassifier().fit(segs, labels)
    assert two.decision_function(segs).shape == (40, 2)
    assert two.accuracy(segs, labels)[0] == 1.0
