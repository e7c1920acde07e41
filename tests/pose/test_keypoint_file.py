"""Keypoint files and sidecars: exact round trips, clear errors, reuse only for the same video bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from minet_desktop.core.atomic import file_sha256
from minet_desktop.core.errors import InputError
from minet_desktop.pose import extract
from minet_desktop.pose.keypoint_file import KeypointFile, find_sidecar, sidecar_path


def _kf(T=12, seed=0, sha="ab" * 32, name="clip.mp4") -> KeypointFile:
    rng = np.random.default_rng(seed)
    kp = rng.uniform(0, 640, (T, 3, 47)).astype(np.float32)
    kp[:, 2] = rng.uniform(0, 1, (T, 47))
    return KeypointFile(kp, 29.97, (640, 480), sha, name, 0.75, warnings=("assumed 30 fps",))


def test_save_load_roundtrip_is_bit_exact(tmp_path):
    kf = _kf()
    path = tmp_path / "k.npz"
    kf.save(path)
    back = KeypointFile.load(path)
    assert back.keypoints.dtype == np.float32
    assert back.keypoints.tobytes() == kf.keypoints.tobytes()
    assert (
        back.fps,
        back.frame_size,
        back.source_sha256,
        back.source_name,
        back.detected_fraction,
        back.warnings,
    ) == (
        kf.fps,
        kf.frame_size,
        kf.source_sha256,
        kf.source_name,
        kf.detected_fraction,
        kf.warnings,
    )
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_empty_keypoints_and_no_warnings_roundtrip(tmp_path):
    kf = KeypointFile(np.zeros((0, 3, 47), np.float32), 25.0, (0, 0), "", "x", 0.0)
    kf.save(tmp_path / "e.npz")
    back = KeypointFile.load(tmp_path / "e.npz")
    assert back.n_frames == 0 and back.warnings == ()


def _write_npz(path: Path, **overrides):
    kf = _kf()
    arrays = {
        "format_version": np.array(1),
        "keypoints": kf.keypoints,
        "fps": np.array(30.0),
        "frame_size": np.array([640, 480]),
        "source_sha256": np.array("x"),
        "source_name": np.array("clip.mp4"),
        "detected_fraction": np.array(1.0),
    }
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"keypoints": None}, "missing key.*keypoints"),
        ({"fps": None}, "missing key.*fps"),
        ({"keypoints": np.zeros((5, 47, 3), np.float32)}, "wrong shape"),
        ({"keypoints": np.zeros((5, 3, 47), np.float64)}, "float32"),
        ({"fps": np.array(0.0)}, "fps"),
        ({"frame_size": np.array([1, 2, 3])}, "frame_size"),
        ({"format_version": np.array(99)}, "version 99"),
        ({"source_sha256": np.array(["a", "b"])}, "source_sha256"),
    ],
)
def test_load_rejects_bad_files_naming_them(tmp_path, overrides, message):
    path = tmp_path / "bad.npz"
    _write_npz(path, **overrides)
    with pytest.raises(InputError, match=message) as err:
        KeypointFile.load(path)
    assert err.value.path == path


@pytest.mark.parametrize("content", [b"hello, not numpy", b"PK\x03\x04garbage"])
def test_load_rejects_non_keypoint_files(tmp_path, content):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(InputError, match="not a keypoint file") as err:
        KeypointFile.load(path)
    assert "junk.npz" in str(err.value)


def test_load_rejects_plain_npy_and_pickles(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((2, 3, 47), np.float32))
    with pytest.raises(InputError, match="not a keypoint file"):
        KeypointFile.load(tmp_path / "a.npy")
    np.savez(tmp_path / "p.npz", keypoints=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(InputError, match="not a keypoint file"):
        KeypointFile.load(tmp_path / "p.npz")
    with pytest.raises(InputError, match="not found"):
        KeypointFile.load(tmp_path / "missing.npz")


def test_sidecar_path_is_next_to_the_video(tmp_path):
    assert sidecar_path(tmp_path / "clip.mp4") == tmp_path / "clip.mp4.keypoints.npz"


def test_find_sidecar_only_for_matching_hash(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"video bytes v1")
    assert find_sidecar(video) is None
    _kf(sha=file_sha256(video)).save(sidecar_path(video))
    assert find_sidecar(video) is not None
    video.write_bytes(b"video bytes v2")  # edited video: the sidecar is stale
    assert find_sidecar(video) is None
    sidecar_path(video).write_bytes(b"corrupt")  # a broken sidecar is ignored, not an error
    assert find_sidecar(video) is None


def test_keypoints_for_video_reuses_sidecar_until_the_video_changes(tmp_path, monkeypatch):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"pretend video v1")
    calls = []

    def fake_extract(path, progress=None, should_cancel=None, *, source_sha256=None, **kw):
        calls.append(source_sha256)
        return _kf(T=4, sha=source_sha256, name=Path(path).name)

    monkeypatch.setattr(extract, "extract_video", fake_extract)
    first = extract.keypoints_for_video(video)
    assert len(calls) == 1 and sidecar_path(video).is_file()
    progress = []
    again = extract.keypoints_for_video(video, progress=lambda d, t: progress.append((d, t)))
    assert len(calls) == 1, "a matching sidecar must be reused"
    assert again.keypoints.tobytes() == first.keypoints.tobytes()
    assert progress == [(4, 4)]

    video.write_bytes(b"pretend video v2")
    extract.keypoints_for_video(video)
    assert len(calls) == 2, "a changed video must be extracted again"
    assert KeypointFile.load(sidecar_path(video)).source_sha256 == file_sha256(video)

    extract.keypoints_for_video(video, use_sidecar=False)
    assert len(calls) == 3


def test_keypoints_for_video_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        extract.keypoints_for_video(tmp_path / "nope.mp4")
