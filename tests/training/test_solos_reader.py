"""Solos reader: skeleton memmap + the user's downloaded recordings (audio files, or audio inside videos)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from minet_desktop.core.errors import InputError
from minet_desktop.media.audio_io import write_wav
from minet_desktop.pose.formats import write_solos
from training.datasets.reading import detect_format, read_dataset
from training.datasets.solos import instrument_of_category, read_solos

SR = 16_000


def keypoints(T: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    kp = np.zeros((T, 3, 47), np.float32)
    kp[:, 0] = 320 + rng.normal(0, 20, (1, 47))
    kp[:, 1] = 240 + rng.normal(0, 20, (1, 47))
    kp[:, 2] = 0.8
    return kp


def write_audio_mp4(path: Path, seconds: float, sr: int = 44_100) -> None:
    """An .mp4 with one AAC audio stream (what a YouTube download without a separate audio file gives)."""
    t = np.arange(int(seconds * sr)) / sr
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=sr)
        stream.layout = "mono"
        for i in range(0, wave.size, 1024):
            frame = av.AudioFrame.from_ndarray(wave[None, i : i + 1024], format="fltp", layout="mono")
            frame.sample_rate = sr
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


@pytest.fixture
def solos_root(tmp_path) -> Path:
    root = tmp_path / "solos"
    write_solos(
        root,
        {
            "vidViolin01": ("Violin", keypoints(50, 0)),
            "vidFlute002": ("Flute", keypoints(25, 1)),
            "vidCello003": ("Cello", keypoints(30, 2)),
            "vidBass0004": ("DoubleBass", keypoints(30, 3)),
        },
    )
    audio = root / "audio"
    audio.mkdir()
    write_wav(audio / "vidViolin01.wav", np.zeros(2 * SR, np.float32) + 0.1, SR)
    write_audio_mp4(audio / "vidFlute002.mp4", 1.0)
    (audio / "DoubleBass").mkdir()  # Solos' own download script sorts by category
    write_wav(audio / "DoubleBass" / "vidBass0004.flac", np.zeros(SR, np.float32) + 0.1, SR)
    # vidCello003 was never downloaded.
    return root


def test_reads_tracks_with_audio_and_reports_missing(solos_root):
    assert detect_format(solos_root) == "solos"
    tracks, report = read_dataset(solos_root)
    by_id = {t.track_id: t for t in tracks}
    assert sorted(by_id) == ["solos/vidBass0004", "solos/vidFlute002", "solos/vidViolin01"]
    [problem] = report.problems
    assert "vidCello003" in str(problem) and "no audio or video file" in problem.message
    vn = by_id["solos/vidViolin01"]
    assert (vn.instrument, vn.piece, vn.dataset) == ("vn", "solos/vidViolin01", "solos")
    assert by_id["solos/vidBass0004"].instrument == "db"
    kf = vn.load_keypoints()
    assert kf.fps == 25.0 and kf.keypoints.shape == (50, 3, 47)
    np.testing.assert_array_equal(kf.keypoints, keypoints(50, 0))


def test_audio_is_decoded_from_a_video_container(solos_root):
    tracks, _ = read_solos(solos_root)
    fl = next(t for t in tracks if t.instrument == "fl")
    assert fl.audio_path.suffix == ".mp4" and fl.video_path == fl.audio_path
    wave, sr = fl.load_audio(SR)
    assert sr == SR
    # AAC adds priming samples, so allow a little more than the 1 s written.
    assert SR * 0.95 < wave.size < SR * 1.1
    assert 0.15 < float(np.sqrt(np.mean(wave[2000:-2000] ** 2))) < 0.25  # the 0.3-amplitude sine survived


def test_explicit_audio_dir_and_bad_ranges(tmp_path, solos_root):
    other = tmp_path / "downloads"
    other.mkdir()
    write_wav(other / "vidCello003.wav", np.zeros(SR, np.float32) + 0.1, SR)
    tracks, report = read_solos(solos_root, audio_dir=other)
    assert [t.track_id for t in tracks] == ["solos/vidCello003"]
    assert len(report) == 3  # the other three are not in this folder
    # A range outside the memmap loses only that id.
    import json

    d = json.loads((solos_root / "skeleton_dict.json").read_text())
    d["vidCello003"] = [0, 10_000]
    (solos_root / "skeleton_dict.json").write_text(json.dumps(d))
    tracks, report = read_solos(solos_root, audio_dir=other)
    assert tracks == []
    assert "outside skeleton.npy" in report.mentions("vidCello003")[0].message
    with pytest.raises(InputError, match="not found"):
        read_solos(solos_root, audio_dir=tmp_path / "nowhere")


def test_category_names():
    assert instrument_of_category("DoubleBass") == "db"
    assert instrument_of_category("double_bass") == "db"
    assert instrument_of_category("Saxophone") == "sax"
    assert instrument_of_category("Horn") == "hn"
    assert instrument_of_category("Kazoo") is None
