"""`minet-desktop --self-test` from the source tree: what a frozen app runs to prove it is complete."""

import numpy as np
import pytest
import soundfile as sf
import torch

from minet_desktop import cli
from minet_desktop.cli import main
from minet_desktop.engine.paths import demo_dir
from minet_desktop.pose.keypoint_file import find_sidecar


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_self_test_generates_a_wav_from_the_default_model(tmp_path, capsys, monkeypatch):
    # A quarter of a second keeps this test fast; the frozen-app test (tests/packaging) runs the full second.
    monkeypatch.setattr(cli, "SELF_TEST_SECONDS", 0.25)
    out = tmp_path / "self_test.wav"
    assert main(["--self-test", "-o", str(out), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "self-test passed" in text and "source install" in text
    assert "RTF" in text and "CPU" in text and "PortAudio" in text
    wave, sr = sf.read(out, dtype="float32")
    # The audio lasts exactly as long as the keypoints it was made from: a quarter of a second of the demo's frames
    # (6 frames = 0.24 s at the violin demo's 25 fps, 8 = 0.267 s at 30 fps).
    kf = find_sidecar(demo_dir() / cli.SELF_TEST_DEMO)
    n = max(1, round(0.25 * kf.fps))
    assert sr == 16_000 and wave.shape == (round(n / kf.fps * sr),)
    assert np.isfinite(wave).all() and np.sqrt(np.mean(wave**2)) > cli.SELF_TEST_MIN_RMS


def test_self_test_names_what_is_missing_and_fails(tmp_path, capsys, monkeypatch):
    missing = tmp_path / "models" / "minet.safetensors"
    monkeypatch.setattr("minet_desktop.engine.paths.default_model_path", lambda: missing)
    assert main(["self-test", "-o", str(tmp_path / "x.wav")]) == 1
    err = capsys.readouterr().err
    assert "self-test FAILED" in err and str(missing) in err
    assert not (tmp_path / "x.wav").exists()
