"""The window refuses bad keypoint files with the command line's sentence, opens bare skeleton arrays, and
never exports onto the file it is playing (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest

from minet_desktop import cli
from minet_desktop.engine.session import GenerationResult


def _with(kf, **changes):
    for k, v in changes.items():
        setattr(kf, k, v)
    return kf


def _far_coordinates(kf):
    kf.keypoints[3, 0, 5] = 3e38
    return kf


@pytest.mark.parametrize(
    "spoil",
    [
        lambda kf: _with(kf, fps=0.001),
        lambda kf: _with(kf, fps=1e9),
        lambda kf: _with(kf, frame_size=(-640, 480)),
        _far_coordinates,
    ],
    ids=["fps-0.001", "fps-1e9", "negative-size", "coordinate-3e38"],
)
def test_the_window_shows_the_command_lines_sentence(
    window, tmp_path, video_path, keypoint_file_for, capsys, spoil
):
    bad = tmp_path / "bad.npz"
    spoil(keypoint_file_for(video_path)).save(bad)
    assert not window.open_path(bad)
    ((_title, text),) = window.errors
    capsys.readouterr()
    assert cli.main(["info", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {text}"
    assert bad.name in text and "\n" not in text


def test_a_bare_skeleton_array_opens_like_a_keypoint_file(window, tmp_path, video_path, keypoint_file_for):
    kf = keypoint_file_for(video_path)
    np.save(tmp_path / "skeleton.npy", kf.keypoints)
    assert window.open_path(tmp_path / "skeleton.npy"), window.errors
    assert window.source.frame_count == kf.n_frames


def test_exports_never_overwrite_the_open_video(window, video_path):
    assert window.open_path(video_path)
    before = video_path.read_bytes()
    window.generation.result = GenerationResult(
        spectrogram=np.zeros((1, 4, 4), np.float32),
        waveform=np.zeros((1, 1600), np.float32),
        sample_rate=16000,
        frame_rate=62.5,
        seeds=[0],
    )
    assert not window.exporter.export_wav(video_path)
    assert not window.exporter.export_mp4(video_path)
    assert video_path.read_bytes() == before
    assert [t for t, _ in window.errors] == ["Cannot export WAV", "Cannot export MP4"]
    assert all("would overwrite an input" in text for _, text in window.errors)
