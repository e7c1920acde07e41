"""The synthetic performance corpus (training.synth): files, realism checks, determinism, bad input."""

from __future__ import annotations

import errno
import re
from pathlib import Path

import numpy as np
import pytest

from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.core.skeleton import interpolate_missing, normalize
from minet_desktop.media.midi import DEFAULT_SOUNDFONT, Note, read_midi_notes, read_notes_txt
from minet_desktop.pose.keypoint_file import KeypointFile
from training.datasets.base import INSTRUMENT_CODES
from training.datasets.urmp import PIECE_FOLDER, read_urmp
from training.synth import corpus as synth_corpus
from training.synth.corpus import generate, plan_corpus
from training.synth.instruments import INSTRUMENTS, parse_instruments
from training.synth.melodies import load_pieces, split_of, transpose_into
from training.synth.motion import FPS, Performer, perform, track
from training.synth.variety import HARD, HOLDS, STANDARD, Ranges

SEED = 7
TINY = dict(minutes=13 * 6.5 / 60, seed=SEED, track_seconds=(5.0, 8.0))


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "corpus"
    generate(out, workers=1, **TINY)
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------------------
# The corpus on disk


def test_reader_ingests_every_track_with_notes_and_keypoints(tiny_corpus: Path) -> None:
    tracks, report = read_urmp(tiny_corpus)
    assert not report, report.format()
    assert {t.instrument for t in tracks} == set(INSTRUMENT_CODES)
    for tr in tracks:
        assert tr.notes_path is not None and tr.keypoints_kind == "npz" and tr.midi_path is not None
        kf = KeypointFile.load(tr.keypoints_path)
        assert kf.fps in STANDARD.fps and kf.frame_size == (1280, 720)
        import soundfile as sf

        info = sf.info(str(tr.audio_path))
        assert info.samplerate == 16000
        # keypoints cover the audio to within a frame
        assert abs(kf.duration - info.duration) <= 1.0 / kf.fps + 1e-6
        notes = read_notes_txt(tr.notes_path)
        inst = INSTRUMENTS[tr.instrument]
        assert inst.low <= min(n.pitch for n in notes) and max(n.pitch for n in notes) <= inst.high
        # Notes file and score part are the same notes.
        import pretty_midi

        part = pretty_midi.PrettyMIDI(str(tr.midi_path)).instruments[tr.midi_instrument]
        assert part.program == inst.program
        assert [n.pitch for n in notes] == [n.pitch for n in sorted(part.notes, key=lambda n: n.start)]
        starts = np.array(sorted(n.start for n in part.notes))
        assert np.allclose([n.onset for n in notes], starts, atol=1e-6)
        # and the audio sounds where the notes are
        wave, _ = sf.read(str(tr.audio_path), dtype="float32")
        on = [(n.onset, n.offset) for n in notes]
        mask = np.zeros(wave.size, bool)
        for a, b in on:
            mask[int(a * 16000) : int(b * 16000)] = True
        assert np.sqrt(np.mean(wave[mask] ** 2)) > 0.02
        assert (
            np.abs(wave[: int(notes[0].onset * 16000) - 400]).max(initial=0) < 0.01
        )  # silence before the first note


def test_notes_are_monophonic_and_expressive(tiny_corpus: Path) -> None:
    tracks, _ = read_urmp(tiny_corpus)
    for tr in tracks:
        notes = read_notes_txt(tr.notes_path)
        for a, b in zip(notes, notes[1:], strict=False):
            assert a.offset <= b.onset + 1e-6
        midi = read_midi_notes(tr.midi_path)
        assert len({n.velocity for n in midi}) > 3  # dynamics vary
    # vibrato (pitch bends) on a violin track, none on clarinet
    import pretty_midi

    vn = next(t for t in tracks if t.instrument == "vn")
    part = pretty_midi.PrettyMIDI(str(vn.midi_path)).instruments[vn.midi_instrument]
    assert np.ptp([b.pitch for b in part.pitch_bends]) > 200
    assert any(c.number == 11 for c in part.control_changes)
    cl = next(t for t in tracks if t.instrument == "cl")
    part = pretty_midi.PrettyMIDI(str(cl.midi_path)).instruments[cl.midi_instrument]
    assert not part.pitch_bends


def test_tracker_statistics_are_realistic(tiny_corpus: Path) -> None:
    tracks, _ = read_urmp(tiny_corpus)
    kps = [KeypointFile.load(t.keypoints_path).keypoints for t in tracks]
    allkp = np.concatenate(kps)
    frame_lost = (allkp[:, 2] == 0).all(axis=1).mean()
    hand_lost = np.mean([(k[:, 2, 7] == 0).mean() for k in kps] + [(k[:, 2, 27] == 0).mean() for k in kps])
    assert 0.001 <= frame_lost <= 0.04
    assert 0.01 <= hand_lost <= 0.15
    # MediaPipe convention: zero confidence -> zero coordinates; everything else inside the frame
    zero = allkp[:, 2] == 0
    assert np.all(allkp[:, 0][zero] == 0) and np.all(allkp[:, 1][zero] == 0)
    ok = allkp[:, 2] > 0.3
    assert allkp[:, 0][ok].min() >= 0 and allkp[:, 0][ok].max() < 1280 and allkp[:, 1][ok].max() < 720


def test_report_and_contact_sheet(tiny_corpus: Path, tmp_path: Path) -> None:
    from training.synth.report import write_report

    png = tmp_path / "sheet.png"
    text = write_report(tiny_corpus, png)
    for name in ("violin", "double bass", "trumpet", "tuba"):
        assert name in text
    import cv2

    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] >= 320 * 3 and img.std() > 10


#: sha256 of every file but the keypoints and synth.json of the TINY corpus, as written by the simulator before
#: performers, cameras and trackers varied (commit f959e44), with FluidSynth 2.3.1 and FluidR3_GM.
_TINY_AUDIO_SHA256 = "27a14d0f4fa1b8b30dd1a1e4f65a8c72fa8f5841c53213369cb52d320335d6c7"


def _audio_digest(root: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith("Kp_") and p.name != "synth.json":
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _fluidsynth_version() -> tuple[int, int, int]:
    import ctypes

    import fluidsynth

    v = [ctypes.c_int() for _ in range(3)]
    fluidsynth.fluid_version(*(ctypes.byref(x) for x in v))
    return tuple(x.value for x in v)  # type: ignore[return-value]


def test_audio_is_byte_identical_to_the_corpus_before_motion_varied(tiny_corpus: Path) -> None:
    # The training caches' audio and the shipped VQ-VAE's codes stay valid for a corpus re-rendered with the
    # wider performers: audio, notes, F0s and scores are the same bytes as before.
    if _fluidsynth_version() != (2, 3, 1):
        pytest.skip("the recorded digest is of FluidSynth 2.3.1's rendering")
    assert _audio_digest(tiny_corpus) == _TINY_AUDIO_SHA256


def test_motion_ranges_never_change_the_audio(tiny_corpus: Path, tmp_path: Path) -> None:
    hard = tmp_path / "hard"
    generate(hard, workers=1, views="hard", **TINY)
    assert _audio_digest(hard) == _audio_digest(tiny_corpus)
    a, b = _files(tiny_corpus), _files(hard)
    kps = [k for k in a if Path(k).name.startswith("Kp_")]
    assert kps and all(a[k] != b[k] for k in kps)
    import json

    m = json.loads((hard / "synth.json").read_text())
    players = [pl for p in m["pieces"] for pl in p["players"]]
    assert m["views"] == "hard" and players
    for pl in players:
        assert abs(pl["view"]["yaw_deg"]) >= 50 and pl["view"]["tracker"] == "openpose"
        assert pl["view"]["framing"] == "closeup" and pl["fps"] in (24.0, 25.0)


MUSESCORE = Path("/usr/share/sounds/sf2/MuseScore_General_Full.sf2")


def test_with_two_soundfonts_test_pieces_keep_the_first_and_the_others_draw_one() -> None:
    first, second = Path("first.sf2"), Path("second.sf2")
    plans = plan_corpus(60.0, parse_instruments(None), SEED, (8.0, 20.0))
    drawn = {p.index: synth_corpus.soundfont_of(p, SEED, [first, second]) for p in plans}
    test = [p for p in plans if split_of(p.piece_id) == "test"]
    others = [p for p in plans if split_of(p.piece_id) != "test"]
    assert test and others
    assert all(drawn[p.index] == first for p in test)
    share = np.mean([drawn[p.index] == second for p in others])
    assert 0.3 < share < 0.7, share
    # a function of the seed and the piece only; one soundfont is always itself
    assert drawn == {p.index: synth_corpus.soundfont_of(p, SEED, [first, second]) for p in plans}
    assert {synth_corpus.soundfont_of(p, SEED, [second]) for p in plans} == {second}


@pytest.mark.skipif(not MUSESCORE.is_file(), reason="musescore-general-soundfont-lossless is not installed")
def test_a_second_soundfont_changes_only_the_audio_of_the_pieces_that_draw_it(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    import json

    two = tmp_path / "two"
    generate(two, workers=1, soundfont=[DEFAULT_SOUNDFONT, MUSESCORE], **TINY)
    m = json.loads((two / "synth.json").read_text())
    assert m["soundfonts"] == ["FluidR3_GM.sf2", MUSESCORE.name]
    by_sf = {p["folder"]: p["soundfont"] for p in m["pieces"]}
    assert set(by_sf.values()) == {"FluidR3_GM.sf2", MUSESCORE.name}
    a, b = _files(tiny_corpus), _files(two)
    assert a.keys() == b.keys()
    for k in a:
        if k == "synth.json":
            continue
        other_audio = by_sf[Path(k).parts[0]] != "FluidR3_GM.sf2" and k.endswith(".wav")
        assert (a[k] != b[k]) == other_audio, k
    from training.synth.report import write_report

    n_other = sum(sf != "FluidR3_GM.sf2" for sf in by_sf.values())
    assert f"{MUSESCORE.name} {n_other} pieces (test 0)" in write_report(two, tmp_path / "sheet.png")
    with pytest.raises(ConfigError, match="twice"):
        generate(tmp_path / "again", 0.2, soundfont=[MUSESCORE, MUSESCORE])


@pytest.mark.slow
def test_same_seed_gives_identical_files_with_any_worker_count(tiny_corpus: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, workers=2, **TINY)
    a, b = _files(tiny_corpus), _files(again)
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    other = tmp_path / "other"
    generate(other, workers=1, **{**TINY, "seed": SEED + 1})
    assert _files(other) != a


@pytest.mark.slow
def test_skeletons_go_through_the_real_cache_and_loader(tiny_corpus: Path, tmp_path: Path) -> None:
    from training.cache import CropDataset, prepare

    report = prepare(tiny_corpus, tmp_path / "cache", workers=1)
    assert report.n_tracks == 13
    ds = CropDataset(tmp_path / "cache", "all")
    item = ds[0]
    sk = item["skeleton"].numpy()
    assert sk.shape[:2] == (3, 47) and np.isfinite(sk).all()
    # normalised: neck near the origin, shoulders about one unit apart
    assert abs(np.median(sk[0, 0])) < 0.5 and 0.6 < np.median(np.abs(sk[0, 1] - sk[0, 4])) < 1.6
    assert (item["notes"].numpy() > 0).mean() > 0.3


# --------------------------------------------------------------------------------------------------------
# Realism checks on the motion model (clean and tracked poses, no audio)


def _melody_notes(rng: np.random.Generator, inst, seconds: float = 8.0) -> tuple[list[Note], np.ndarray]:
    pieces = load_pieces()
    while True:  # a line that fits the instrument's range
        piece = pieces[int(rng.integers(len(pieces)))]
        line = piece.lines[int(rng.integers(len(piece.lines)))]
        if line.span <= inst.high - inst.low:
            break
    shift = transpose_into(line, inst.low, inst.high, inst.center)
    qpm = float(rng.uniform(70, 110))
    spq = 60.0 / qpm
    notes = []
    q_first = line.notes[0][0]
    for q, d, p, _ in line.notes:
        on = 0.6 + (q - q_first) * spq
        if on > seconds:
            break
        notes.append(Note(on, on + d * spq * 0.95, int(p + shift), int(rng.integers(60, 110))))
    beats = 0.6 + np.arange(0, seconds / spq + 2) * spq
    return notes, beats


def _features(kp: np.ndarray) -> np.ndarray:
    filled, _ = interpolate_missing(kp)
    norm, _ = normalize(filled)
    xy = norm[:, :2]
    return np.concatenate([xy.mean(axis=0).ravel(), xy.std(axis=0).ravel()])


@pytest.mark.slow
def test_simple_classifier_separates_the_13_instruments() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X, y, held = [], [], []
    per = 10
    for ci, code in enumerate(INSTRUMENT_CODES):
        inst = INSTRUMENTS[code]
        for k in range(per):
            notes, beats = _melody_notes(rng, inst, 6.0)
            pose, perf = perform(inst, notes, beats, notes[-1].offset + 0.5, rng)
            X.append(_features(track(pose, perf, inst, rng)))
            y.append(ci)
            held.append(k >= 7)  # a different performer/camera/melody for every track
    X, y, held = np.array(X), np.array(y), np.array(held)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.5))
    clf.fit(X[~held], y[~held])
    acc = float((clf.predict(X[held]) == y[held]).mean())
    assert acc > 0.6, acc  # chance is 1/13


def _event_frames(signal: np.ndarray, threshold: float) -> np.ndarray:
    """Frames where a per-frame signal changes by more than ``threshold`` (first frame of each change)."""
    d = np.abs(np.diff(signal, axis=0))
    big = d.max(axis=1) > threshold if d.ndim > 1 else d > threshold
    idx = np.flatnonzero(big) + 1
    return idx[np.concatenate([[True], np.diff(idx) > 2])] if idx.size else idx


def _coincidence(events: np.ndarray, onsets: np.ndarray, tol: int = 2) -> float:
    if events.size == 0:
        return 0.0
    return float(np.mean([np.min(np.abs(onsets - e)) <= tol for e in events]))


def test_bow_direction_changes_coincide_with_onsets() -> None:
    rng = np.random.default_rng(3)
    for code in ("vn", "vc"):
        inst = INSTRUMENTS[code]
        notes, beats = _melody_notes(rng, inst)
        pose, perf = perform(inst, notes, beats, notes[-1].offset + 0.5, rng)
        onsets = np.round(np.array([n.onset for n in notes]) * FPS).astype(int)
        wrist = pose.joints[:, 6 if perf.left_handed else 3]  # the bow hand's wrist, clean
        rel = wrist - pose.joints[:, 0]
        v = np.diff(rel, axis=0)
        axis = np.linalg.svd(v - v.mean(0), full_matrices=False)[2][0]
        s = v @ axis
        moving = np.abs(s) > 0.15 * np.abs(s).max()
        sign = np.sign(np.where(moving, s, 0))
        nz = np.flatnonzero(sign)
        changes = nz[1:][sign[nz[1:]] != sign[nz[:-1]]] + 1
        # while playing (before the first note the bow is set, after the last it rests)
        end = int(round(notes[-1].offset * FPS))
        changes = changes[(changes >= onsets[0] - 2) & (changes <= end)]
        assert _coincidence(changes, onsets) > 0.9
        # nearly every new note is a new stroke
        found = np.mean([np.min(np.abs(changes - o)) <= 2 for o in onsets[1:]])
        assert found > 0.8


def test_finger_changes_coincide_with_onsets() -> None:
    rng = np.random.default_rng(4)
    for code, side_slice in (("cl", slice(27, 47)), ("vn", slice(27, 47)), ("tpt", slice(7, 27))):
        inst = INSTRUMENTS[code]
        notes, beats = _melody_notes(rng, inst)
        pose, _ = perform(inst, notes, beats, notes[-1].offset + 0.5, rng)
        wrist = pose.joints[:, 6 if side_slice.start == 27 else 3]
        tips = pose.joints[:, side_slice][:, [3, 7, 11, 15, 19]]
        dist = np.linalg.norm(tips - wrist[:, None], axis=2)  # rotation-invariant finger extension
        events = _event_frames(dist, 0.004)
        onsets = np.round(np.array([n.onset for n in notes]) * FPS).astype(int)
        assert events.size >= 3
        assert _coincidence(events, onsets) > 0.9, code
        # the generator's own record of finger changes is a subset of the onsets, and matches what moved
        logged = pose.events["finger"]
        assert set(logged.tolist()) <= set(onsets.tolist())
        assert _coincidence(events, logged, tol=2) > 0.9


def test_trombone_slide_follows_pitch() -> None:
    rng = np.random.default_rng(5)
    inst = INSTRUMENTS["tbn"]
    # Bb3 (1st position) down to Gb3 (5th): the arm extends; F3 is back in 1st position.
    notes = [Note(0.5 + i * 0.5, 0.9 + i * 0.5, p, 90) for i, p in enumerate((58, 57, 56, 55, 54, 53))]
    pose, _ = perform(inst, notes, np.arange(0.5, 4, 0.5), 4.0, rng)
    reach = np.linalg.norm(pose.joints[:, 3] - pose.joints[:, 0], axis=1)
    at = [reach[int(round((n.onset + 0.2) * FPS))] for n in notes]
    assert np.all(np.diff(at[:5]) > 0.05)
    assert abs(at[5] - at[0]) < 0.05


# --------------------------------------------------------------------------------------------------------
# Melodies and plan


def test_plan_uses_each_piece_once_and_splits_are_by_piece() -> None:
    plans = plan_corpus(30, parse_instruments(None), seed=1)
    ids = [p.piece_id for p in plans]
    assert len(ids) == len(set(ids))
    names = [p.folder for p in plans]
    assert all(PIECE_FOLDER.match(n) for n in names)
    splits = {split_of(i) for i in ids}
    assert splits <= {"train", "val", "test"}
    minutes = {c: 0.0 for c in INSTRUMENT_CODES}
    for p in plans:
        for pl in p.players:
            minutes[pl.code] += p.est_seconds / 60
    assert min(minutes.values()) > 0.8 * 30 / 13


def test_transpose_into_range_and_impossible_span() -> None:
    line = load_pieces()[0].lines[0]
    t = transpose_into(line, 60, 90, 72)
    assert 60 <= line.low + t and line.high + t <= 90
    with pytest.raises(ConfigError, match="spans"):
        transpose_into(line, 60, 60 + line.span - 1, 60)


# --------------------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("spec", "message"),
    [("vn,xx", "unknown instrument code 'xx'"), ("vn:90-100", "outside"), ("vn:70-75", "spans"),
     ("vn:80-60", "empty"), ("vn:low-high", "code:low-high"), ("vn,vn", "twice")],
)  # fmt: skip
def test_bad_instrument_specs(spec: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        generate(tmp_path / "out", 0.2, instruments=spec)
    assert not (tmp_path / "out").exists()


def test_bad_soundfonts_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "none.sf2"
    with pytest.raises(InputError, match="soundfont not found") as exc:
        generate(tmp_path / "out", 0.2, soundfont=missing)
    assert exc.value.path == missing
    for name, data in (("empty.sf2", b""), ("garbage.sf2", b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)):
        sf2 = tmp_path / name
        sf2.write_bytes(data)
        with pytest.raises(InputError, match="SoundFont") as exc:
            generate(tmp_path / "out", 0.2, soundfont=sf2)
        assert exc.value.path == sf2
    damaged = tmp_path / "damaged.sf2"
    damaged.write_bytes(b"RIFF\x10\x00\x00\x00sfbk" + b"\x00" * 64)
    with pytest.raises(InputError, match=str(damaged.name)):
        generate(tmp_path / "out", 0.2, soundfont=damaged)


def test_refuses_a_foreign_output_folder(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(InputError, match="not empty"):
        generate(tmp_path, 0.2, instruments="fl", track_seconds=(3, 4))
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_a_failed_write_leaves_no_piece_looking_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = KeypointFile.save

    def disk_full(kf, path):  # the second keypoint file hits a full disk
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(kf, path)

    monkeypatch.setattr(KeypointFile, "save", disk_full)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space"):
        generate(out, 0.15, instruments="fl,ob", seed=2, workers=1, track_seconds=(3.0, 4.0))
    left = [p.name for p in out.iterdir()]
    complete = [n for n in left if PIECE_FOLDER.match(n)]
    assert len(complete) <= 1  # only a piece finished before the failure, whole
    for n in complete:
        names = {p.name.split("_")[0] for p in (out / n).iterdir()}
        assert {"AuSep", "Notes", "Kp", "Sco"} <= names
    assert not any(n.startswith(".tmp-") for n in left)
    assert not (out / synth_corpus.MANIFEST).exists()  # the corpus is not marked complete
    assert not read_urmp(out)[0] or all(t.keypoints_path is not None for t in read_urmp(out)[0])


@pytest.mark.slow
def test_render_video_writes_a_224_tile_per_player(tmp_path: Path) -> None:
    from minet_desktop.media.video import VideoReader

    out = tmp_path / "v"
    generate(out, 0.1, instruments="vn,tpt", seed=1, workers=1, track_seconds=(3.0, 4.0), render_video=True)
    vids = sorted(out.rglob("Vid_*.mp4"))
    assert vids
    for v in vids:
        n_players = len(re.match(PIECE_FOLDER, v.parent.name)["insts"].split("_"))
        with VideoReader(v) as r:
            assert r.size == (224 * n_players, 224)
            kp = KeypointFile.load(next(v.parent.glob("Kp_1_*.npz")))
            assert abs(r.frame_count - kp.n_frames) <= 1


# --------------------------------------------------------------------------------------------------------
# Performers, cameras and trackers as real videos show them (training.synth.variety)


def test_every_performance_draws_its_own_hold_posture_camera_and_tracker() -> None:
    rng = np.random.default_rng(0)
    perfs = {c: [Performer.sample(INSTRUMENTS[c], rng) for _ in range(80)] for c in ("sax", "hn", "vn", "cl")}
    sax = perfs["sax"]
    assert {p.hold for p in sax} == {h for h, _ in HOLDS["sax"]}
    assert {p.hold for p in perfs["hn"]} == {"bell_knee", "bell_free"}
    yaws = np.degrees([p.yaw for c in perfs for p in perfs[c]])
    assert yaws.min() < -45 and yaws.max() > 45 and np.abs(yaws).max() <= 70
    assert {p.tracker for p in sax} == {"openpose", "mediapipe"}
    assert {p.framing for p in sax} == {"closeup", "wide"}
    assert any(p.seated for p in perfs["cl"]) and not all(p.seated for p in perfs["cl"])
    assert any(p.left_handed for p in perfs["vn"])
    assert not any(p.left_handed for c in ("sax", "hn", "cl") for p in perfs[c])  # not built mirrored
    hard = [Performer.sample(INSTRUMENTS["sax"], rng, HARD) for _ in range(40)]
    assert all(
        abs(np.degrees(p.yaw)) >= 50 and p.tracker == "openpose" and p.framing == "closeup" for p in hard
    )


def _sax(hold: str, rng: np.random.Generator):
    inst = INSTRUMENTS["sax"]
    notes, beats = _melody_notes(rng, inst)
    while True:
        perf = Performer.sample(inst, rng)
        if perf.hold == hold:
            break
    perf.lean_forward = perf.body_turn = perf.lean_side = 0.0
    return perform(inst, notes, beats, notes[-1].offset + 0.5, rng, perf)[0]


def test_alto_saxophone_hangs_at_the_right_hip_soprano_in_front() -> None:
    rng = np.random.default_rng(1)
    pose = _sax("strap_hip", rng)
    rw, lw = np.median(pose.joints[:, 3], axis=0), np.median(pose.joints[:, 6], axis=0)
    # y: down from the neck, in shoulder widths (the chest ends about 0.5 below the neck); x<0: player's right
    assert lw[1] > 0.45 and rw[1] > 0.85, (lw, rw)
    assert rw[0] < -0.25 and lw[0] < 0.0
    soprano = _sax("soprano", rng)
    srw = np.median(soprano.joints[:, 3], axis=0)
    assert srw[2] > rw[2] + 0.2 and abs(srw[0]) < abs(rw[0])  # held out in front, on the body's midline


def _still_pose(T: int = 300) -> tuple:
    rng = np.random.default_rng(5)
    inst = INSTRUMENTS["cl"]
    notes = [Note(0.5, 9.5, 62, 80)]
    perf = Performer.sample(inst, rng, Ranges(closeup_p=0.0, wide_fill=(0.8, 0.8), camera_yaw_deg=(0.0, 0.0)))
    pose, perf = perform(inst, notes, np.arange(0.5, 10, 0.5), T / 30.0, rng, perf)
    perf.scale, perf.center, perf.frame_drop = 300.0, (640.0, 200.0), 0.0
    return inst, pose, perf


def test_jitter_grows_as_the_player_gets_smaller_and_hands_swap_in_openpose_tracking() -> None:
    inst, pose, perf = _still_pose()
    rel = []
    for scale in (300.0, 60.0):
        perf.scale = scale
        kp = track(pose, perf, inst, np.random.default_rng(0))
        ok = kp[:, 2, 1] > 0.3
        x = kp[ok, 0, 1] / scale  # right shoulder, in shoulder widths
        rel.append(np.std(np.diff(x)))
    assert rel[1] > 2 * rel[0], rel  # the pixel floor weighs more on a small player
    perf.scale, perf.tracker, perf.hand_swap_rate = 300.0, "openpose", 0.05
    kp = np.concatenate([track(pose, perf, inst, np.random.default_rng(k)) for k in range(4)])
    conf = kp[:, 2, 7:27]
    found = conf > 0
    assert ((conf[found] > 0.05) & (conf[found] < 0.99)).mean() > 0.9  # continuous confidences
    both = (kp[:, 2, 7] > 0) & (kp[:, 2, 3] > 0.3)
    d_own = np.hypot(*(kp[both, :2, 7] - kp[both, :2, 3]).T)
    d_other = np.hypot(*(kp[both, :2, 7] - kp[both, :2, 6]).T)
    swapped = d_other < d_own
    assert 0.02 < swapped.mean() < 0.2, swapped.mean()


def test_exclude_keeps_apart_from_every_corpus_given(tiny_corpus: Path, tmp_path: Path) -> None:
    import json

    def pieces(folder: Path) -> set[str]:
        return {p["piece_id"] for p in json.loads((folder / "synth.json").read_text())["pieces"]}

    small = dict(minutes=3 * 6.5 / 60, instruments="vn,fl,tpt", track_seconds=(5.0, 8.0))
    second = tmp_path / "second"
    generate(second, workers=1, seed=SEED + 2, exclude=tiny_corpus, **small)
    assert not pieces(second) & pieces(tiny_corpus)
    third = tmp_path / "third"
    assert main_synth(["--out", str(third), "--seed", str(SEED + 3), "--exclude", str(tiny_corpus),
                       "--exclude", str(second)]) == 0  # fmt: skip
    assert pieces(third) and not pieces(third) & (pieces(tiny_corpus) | pieces(second))
    m = json.loads((third / "synth.json").read_text())
    assert m["excluded_pieces"] == len(pieces(tiny_corpus) | pieces(second))
    with pytest.raises(InputError, match="synth.json"):
        generate(tmp_path / "x", workers=1, seed=SEED, exclude=[tiny_corpus, tmp_path / "nowhere"], **small)


def main_synth(args: list[str]) -> int:
    from training.cli import main

    return main(
        ["synth", "--minutes", str(3 * 6.5 / 60), "--instruments", "vn,fl,tpt", "--workers", "1", *args]
    )
