"""The command line, as a user runs it: real work on real files, one clear line for bad ones."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minet_desktop.cli import main


def test_console_scripts_are_installed():
    bindir = Path(sys.executable).parent
    for name in ("minet-desktop", "minet-train"):
        exe = shutil.which(name, path=str(bindir))
        assert exe, f"{name} is not installed next to {sys.executable}"
        out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and "usage" in out.stdout


def test_missing_file_is_one_line_naming_it(tmp_path, capsys):
    missing = tmp_path / "nowhere.mp4"
    assert main(["extract", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "nowhere.mp4" in err and "Traceback" not in err


def test_not_a_video_is_refused_naming_the_file(tmp_path, capsys):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n")
    assert main(["extract", str(fake), "-o", str(tmp_path / "k.npz")]) == 2
    err = capsys.readouterr().err
    assert "notes.mp4" in err and "Traceback" not in err
    assert not (tmp_path / "k.npz").exists()


@pytest.mark.slow
def test_extract_image_then_info(tmp_path, capsys, opencv_data):
    out = tmp_path / "messi.npz"
    assert main(["extract", str(opencv_data / "messi5.jpg"), "-o", str(out)]) == 0
    assert "person detected in 100% of frames" in capsys.readouterr().out
    from minet_desktop.pose.keypoint_file import KeypointFile

    kf = KeypointFile.load(out)
    assert kf.keypoints.shape == (1, 3, 47)
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "frames          1" in text and "messi5.jpg" in text


def test_info_refuses_a_file_it_cannot_describe(tmp_path, capsys):
    f = tmp_path / "x.txt"
    f.write_text("hello")
    assert main(["info", str(f)]) == 2
    assert "x.txt" in capsys.readouterr().err


def test_roundtrip_writes_audio_and_reports_convergence(tmp_path, capsys):
    import soundfile as sf

    sr = 16_000
    t = np.arange(sr) / sr
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * np.minimum(1, 10 * t)
    src = tmp_path / "tone.wav"
    sf.write(src, tone, sr)
    out = tmp_path / "tone_gl.wav"
    assert main(["roundtrip", str(src), "-o", str(out), "--iters", "16"]) == 0
    wave, sr_out = sf.read(out)
    assert sr_out == sr and abs(len(wave) - len(tone)) <= 1
    line = capsys.readouterr().out
    sc = float(line.rsplit("spectral convergence", 1)[1])
    assert 0 <= sc < 0.5


@pytest.mark.slow
def test_extract_video_writes_a_sidecar_that_the_next_run_reuses(tmp_path, capsys, opencv_data):
    import cv2

    frame = cv2.imread(str(opencv_data / "messi5.jpg"))
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(
        str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (frame.shape[1], frame.shape[0])
    )
    for _ in range(3):
        writer.write(frame)
    writer.release()

    assert main(["extract", str(video), "-o", str(tmp_path / "a.npz")]) == 0
    first = capsys.readouterr()
    assert "3 frame(s) at 25 fps" in first.out and "reusing" not in first.err
    assert (tmp_path / "clip.avi.keypoints.npz").exists()

    assert main(["extract", str(video), "-o", str(tmp_path / "b.npz")]) == 0
    assert "reusing" in capsys.readouterr().err
    a = np.load(tmp_path / "a.npz")["keypoints"]
    b = np.load(tmp_path / "b.npz")["keypoints"]
    np.testing.assert_array_equal(a, b)
