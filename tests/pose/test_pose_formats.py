"""OpenPose JSON folders and Solos skeletons: exact round trips, left/right kept, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from minet_desktop.core import skeleton as sk
from minet_desktop.core.errors import InputError
from minet_desktop.pose.formats import (
    SOLOS_FPS,
    SOLOS_TO_URMP,
    SolosSkeletons,
    read_openpose_folder,
    write_openpose_folder,
    write_solos,
)
from minet_desktop.pose.keypoint_file import KeypointFile


def _keypoints(T=8, seed=0) -> np.ndarray:
    """Random keypoints with the performer's right hand near x=100 and left hand near x=500."""
    rng = np.random.default_rng(seed)
    kp = np.zeros((T, 3, 47), np.float32)
    kp[:, :2] = rng.uniform(200, 400, (T, 2, 47))
    kp[:, 0, list(sk.R_HAND)] = rng.uniform(90, 110, (T, 20))
    kp[:, 0, list(sk.L_HAND)] = rng.uniform(490, 510, (T, 20))
    kp[:, 2] = rng.uniform(0.05, 1, (T, 47)).astype(np.float32)
    kp[2] = 0  # a frame with nobody
    kp[min(5, T - 1), :, list(sk.L_HAND)] = 0  # a frame where the left hand was not found
    return kp


def _kf(kp, fps=30.0):
    return KeypointFile(kp, fps, (640, 480), "", "clip", 1.0)


def test_openpose_roundtrip_exact_and_sides_kept(tmp_path):
    kp = _keypoints()
    write_openpose_folder(tmp_path, _kf(kp))
    back = read_openpose_folder(tmp_path, fps=25.0, frame_size=(640, 480))
    assert back.keypoints.tobytes() == kp.tobytes()
    assert back.fps == 25.0 and back.frame_size == (640, 480)
    assert back.detected_fraction == pytest.approx(7 / 8)
    # The files themselves use OpenPose's meaning of the keys (not just a self-consistent swap).
    doc = json.loads((tmp_path / "video_000000000000_keypoints.json").read_text())
    person = doc["people"][0]
    right = np.array(person["hand_right_keypoints_2d"]).reshape(21, 3)
    left = np.array(person["hand_left_keypoints_2d"]).reshape(21, 3)
    assert (right[1:, 0] < 120).all() and (left[1:, 0] > 480).all()
    body = np.array(person["pose_keypoints_2d"]).reshape(25, 3)
    np.testing.assert_array_equal(body[4].astype(np.float32), kp[0, :, sk.R_WRIST])  # BODY_25 4 = RWrist
    np.testing.assert_array_equal(body[7].astype(np.float32), kp[0, :, sk.L_WRIST])
    np.testing.assert_array_equal(body[1].astype(np.float32), kp[0, :, sk.NECK])
    assert json.loads((tmp_path / "video_000000000002_keypoints.json").read_text())["people"] == []


def _person(conf: float, x: float = 10.0) -> dict:
    body = [0.0] * 75
    for idx in range(1, 8):
        body[3 * idx : 3 * idx + 3] = [x + idx, 20.0 + idx, conf]
    return {"pose_keypoints_2d": body, "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": []}


def _write_json(path, people):
    path.write_text(json.dumps({"version": 1.3, "people": people}))


def test_openpose_frames_sorted_by_number_and_most_confident_person(tmp_path):
    _write_json(tmp_path / "take_10_keypoints.json", [_person(0.2, x=0), _person(0.9, x=100)])
    _write_json(tmp_path / "take_9_keypoints.json", [_person(0.5, x=50)])
    _write_json(tmp_path / "take_12_keypoints.json", [])
    kf = read_openpose_folder(tmp_path)
    assert kf.n_frames == 4  # frames 9..12, 11 missing
    assert kf.keypoints[0, 0, sk.NECK] == 51  # frame 9 first, although "take_10" sorts before "take_9"
    assert kf.keypoints[1, 0, sk.NECK] == 101  # the confident person of frame 10
    assert (kf.keypoints[2:] == 0).all()
    assert kf.detected_fraction == 0.5
    assert any("missing" in w for w in kf.warnings)


def test_openpose_coco18_is_accepted(tmp_path):
    person = _person(0.7)
    person["pose_keypoints_2d"] = person["pose_keypoints_2d"][:54]
    _write_json(tmp_path / "a_0_keypoints.json", [person])
    kf = read_openpose_folder(tmp_path)
    assert kf.keypoints[0, 2, sk.L_WRIST] == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"version": 1.3}', "no 'people'"),
        ('{"people": [{"pose_keypoints_2d": [1, 2, 3]}]}', "pose_keypoints_2d.*3 numbers"),
        ('{"people": [{"hand_left_keypoints_2d": [1, 2]}]}', "hand_left_keypoints_2d"),
    ],
)
def test_openpose_bad_file_names_it(tmp_path, content, message):
    bad = tmp_path / "v_000000000003_keypoints.json"
    bad.write_text(content)
    with pytest.raises(InputError, match=message) as err:
        read_openpose_folder(tmp_path)
    assert err.value.path == bad


def test_openpose_empty_or_mixed_folder(tmp_path):
    with pytest.raises(InputError, match="no OpenPose"):
        read_openpose_folder(tmp_path)
    _write_json(tmp_path / "a_0_keypoints.json", [])
    _write_json(tmp_path / "b_0_keypoints.json", [])
    with pytest.raises(InputError, match="appears twice"):
        read_openpose_folder(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        read_openpose_folder(tmp_path / "a_0_keypoints.json")


def test_solos_to_urmp_covers_the_13_categories():
    assert len(SOLOS_TO_URMP) == 13
    assert (
        SOLOS_TO_URMP["Violin"] == "vn"
        and SOLOS_TO_URMP["DoubleBass"] == "db"
        and SOLOS_TO_URMP["Horn"] == "hn"
    )
    assert len(set(SOLOS_TO_URMP.values())) == 13


@pytest.mark.parametrize("raw", [True, False])
def test_solos_roundtrip(tmp_path, raw):
    clips = {"abc123": ("Violin", _keypoints(6, 1)), "xyz_-9": ("Tuba", _keypoints(9, 2))}
    write_solos(tmp_path, clips, raw=raw)
    solos = SolosSkeletons(tmp_path)
    assert solos.ids == ["abc123", "xyz_-9"]
    assert solos.n_rows == 15 and solos.problems == []
    for yid, (cat, kp) in clips.items():
        assert solos.category_of(yid) == cat
        kf = solos.keypoints(yid)
        assert kf.fps == SOLOS_FPS and kf.source_name == yid
        assert kf.keypoints.tobytes() == kp.tobytes()
    with pytest.raises(InputError, match="solos_ids.json"):
        solos.category_of("unknown")


def test_solos_out_of_range_entry_fails_alone(tmp_path):
    write_solos(tmp_path, {"good": ("Cello", _keypoints(5)), "alsogood": ("Flute", _keypoints(4))})
    d = json.loads((tmp_path / "skeleton_dict.json").read_text())
    d["broken"] = [7, 40]
    (tmp_path / "solos_ids.json").write_text(json.dumps({"Cello": ["good", "broken"], "Flute": ["alsogood"]}))
    (tmp_path / "skeleton_dict.json").write_text(json.dumps(d))
    solos = SolosSkeletons(tmp_path)
    with pytest.raises(InputError, match="broken") as err:
        solos.keypoints("broken")
    assert err.value.path.name == "skeleton_dict.json"
    assert solos.keypoints("good").n_frames == 5 and solos.keypoints("alsogood").n_frames == 4
    assert len(solos.problems) == 1 and "broken" in solos.problems[0]


def test_solos_short_memmap_and_missing_files(tmp_path):
    write_solos(tmp_path, {"a": ("Oboe", _keypoints(5)), "b": ("Horn", _keypoints(5))})
    raw = (tmp_path / "skeleton.npy").read_bytes()
    (tmp_path / "skeleton.npy").write_bytes(raw[: 7 * 3 * 47 * 4])  # a partial download: 7 of 10 rows
    solos = SolosSkeletons(tmp_path)
    assert solos.keypoints("a").n_frames == 5
    with pytest.raises(InputError, match="outside skeleton.npy"):
        solos.keypoints("b")
    (tmp_path / "solos_ids.json").unlink()
    with pytest.raises(InputError, match="not found") as err:
        SolosSkeletons(tmp_path)
    assert err.value.path.name == "solos_ids.json"
