"""`minet-desktop generate` and `info BUNDLE` end to end, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import soundfile as sf
from engine_helpers import performance

from minet_desktop.cli import main
from minet_desktop.pose.formats import write_openpose_folder, write_solos


def _video(path: Path, n: int, fps: float = 30.0, fourcc: str = "MJPG") -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (64, 48))
    for i in range(n):
        frame = np.full((48, 64, 3), (i * 7) % 255, np.uint8)
        writer.write(frame)
    writer.release()
    return path


def test_generate_from_a_keypoint_file_with_takes(make_bundle, tmp_path, capsys) -> None:
    kp = tmp_path / "perf.npz"
    performance(1.0).save(kp)
    out = tmp_path / "out.wav"
    args = ["generate", str(kp), "--model", str(make_bundle()), "-o", str(out), "--seed", "4"]
    assert main([*args, "--takes", "2", "--top-k", "8", "--temperature", "0.9"]) == 0
    takes = [tmp_path / "out_take1.wav", tmp_path / "out_take2.wav"]
    waves = [sf.read(p) for p in takes]
    assert all(sr == 8000 and w.shape == (8000,) for w, sr in waves)
    assert not np.array_equal(waves[0][0], waves[1][0])
    assert "out_take2.wav" in capsys.readouterr().out
    assert main(args) == 0 and sf.read(out)[0].shape == (8000,)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".wav") == [
        "out.wav",
        "out_take1.wav",
        "out_take2.wav",
    ]


@pytest.mark.parametrize("fourcc", ["MJPG", "mp4v"])  # re-encoded to H.264 / copied as it is
def test_generate_from_openpose_folder_and_mux(make_bundle, tmp_path, capsys, fourcc) -> None:
    kf = performance(1.0)
    folder = tmp_path / "openpose"
    write_openpose_folder(folder, kf)
    video = _video(tmp_path / ("clip.avi" if fourcc == "MJPG" else "clip.mp4"), kf.n_frames)
    out, mp4 = tmp_path / "out.wav", tmp_path / "with_audio.mp4"
    args = ["generate", str(folder), "--model", str(make_bundle()), "-o", str(out), "--mux", str(mp4)]
    assert main(args) == 2  # --mux needs a video when the input is not one
    assert "--video" in capsys.readouterr().err
    assert main([*args, "--video", str(video), "--seed", "1"]) == 0
    with av.open(str(mp4)) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 1
        a = container.streams.audio[0]
        assert a.codec_context.name == "aac" and a.rate == 8000
        n_video = sum(1 for _ in container.decode(video=0))
        container.seek(0)
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert n_video == kf.n_frames
    assert abs(audio.size / 8000 - 1.0) < 0.2 and np.abs(audio).max() > 0
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically: no leftovers


def test_an_openpose_folder_takes_its_videos_frame_rate_and_says_when_it_must_assume_one(
    make_bundle, tmp_path, capsys
) -> None:
    """OpenPose's JSON records no frame rate: a 25-fps video read at 30 would play 20 % too fast."""
    from minet_desktop.engine.inputs import OPENPOSE_FPS, load_performance

    kf = performance(1.0, fps=25.0)
    folder = tmp_path / "json"
    write_openpose_folder(folder, kf, prefix="concert")  # concert_000000000000_keypoints.json ...
    assumed = load_performance(folder)
    assert assumed.fps == OPENPOSE_FPS and "--fps" in assumed.warnings[-1]
    assert load_performance(folder, fps=24.0).fps == 24.0 and not load_performance(folder, fps=24.0).warnings
    given = _video(tmp_path / "elsewhere.avi", 10, fps=25.0)
    assert load_performance(folder, video=given).fps == 25.0
    beside = _video(tmp_path / "concert.avi", 10, fps=25.0)  # the video OpenPose ran on, next to its folder
    found = load_performance(folder)
    assert found.fps == 25.0 and not found.warnings
    assert load_performance(folder, fps=30.0).fps == 30.0  # --fps still wins
    beside.write_bytes(b"not a video")
    assert "concert.avi states none" in load_performance(folder).warnings[-1]
    beside.unlink()
    args = ["generate", str(folder), "--model", str(make_bundle()), "-o", str(tmp_path / "out.wav")]
    assert main(args) == 0
    assert "30 fps assumed" in capsys.readouterr().err
    assert main([*args, "--video", str(given)]) == 0
    assert "assumed" not in capsys.readouterr().err


def test_a_bare_skeleton_takes_the_frame_rate_of_its_video(tmp_path) -> None:
    from minet_desktop.engine.inputs import load_performance

    npy = tmp_path / "take.npy"
    np.save(npy, performance(1.0, fps=25.0).keypoints)
    assert load_performance(npy).fps == 30.0 and "assuming 30 fps" in load_performance(npy).warnings[0]
    given = _video(tmp_path / "other.avi", 10, fps=24.0)
    assert load_performance(npy, video=given).fps == 24.0
    _video(tmp_path / "take.avi", 10, fps=25.0)  # the video of the same name beside it
    assert load_performance(npy).fps == 25.0 and not load_performance(npy).warnings
    assert load_performance(npy, fps=30.0).fps == 30.0
    alone = tmp_path / "alone"
    alone.mkdir()
    np.save(alone / "skeleton.npy", performance(1.0).keypoints)  # Solos' file name, without Solos' index
    assert load_performance(alone / "skeleton.npy").n_frames == performance(1.0).n_frames


def test_generate_from_solos_skeletons(make_bundle, tmp_path) -> None:
    root = tmp_path / "solos"
    write_solos(root, {"abc123": ("Violin", performance(1.0, fps=25.0).keypoints)})
    out = tmp_path / "solos.wav"
    model = str(make_bundle())
    assert (
        main(
            ["generate", str(root / "skeleton.npy"), "--solos-id", "abc123", "--model", model, "-o", str(out)]
        )
        == 0
    )
    assert sf.read(out)[0].shape == (8000,)
    assert main(["generate", str(root), "--model", model, "-o", str(out)]) == 2  # which clip?


def test_generate_bad_inputs_are_one_line(make_bundle, tmp_path, capsys) -> None:
    kp = tmp_path / "nobody.npz"
    performance(1.0, detected=False).save(kp)
    model = str(make_bundle())
    assert main(["generate", str(kp), "--model", model, "-o", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err
    assert "no person was detected in performance.mp4" in err and "Traceback" not in err
    assert not (tmp_path / "x.wav").exists()
    missing = tmp_path / "nope.safetensors"
    assert main(["generate", str(kp), "--model", str(missing), "-o", str(tmp_path / "x.wav")]) == 2
    assert "no model bundle found at" in capsys.readouterr().err
    assert (
        main(["generate", str(tmp_path / "ghost.npz"), "--model", model, "-o", str(tmp_path / "x.wav")]) == 2
    )
    assert "ghost.npz" in capsys.readouterr().err


def test_info_on_a_bundle_prints_card_config_and_parameters(make_bundle, capsys) -> None:
    assert main(["info", str(make_bundle("minet_midi"))]) == 0
    out = capsys.readouterr().out
    assert "minet_midi" in out and "# Tiny minet_midi" in out and '"prior":' in out and "codebook 32" in out
    assert "decoder context" not in out  # the tiny bundle has the paper's decoder
    path = make_bundle("minet", vqvae={"decoder_context": 8, "decoder_head": 16})
    assert main(["info", str(path)]) == 0
    assert "decoder context 8 codes, decoder head 16 units" in capsys.readouterr().out
