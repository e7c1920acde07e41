"""VideoReader and read_image: frames come out RGB and complete, bad files become InputErrors naming the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from minet_desktop.core.errors import InputError
from minet_desktop.media import video as video_mod
from minet_desktop.media.video import FALLBACK_FPS, VideoReader, is_image_file, read_image


def _frames(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    """RGB frames whose red channel encodes the frame index (survives MJPEG compression)."""
    out = []
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[..., 0] = 8 * i  # red
        f[..., 2] = 200  # blue: a wrong BGR/RGB order would swap these
        out.append(f)
    return out


def _write(path: Path, frames: list[np.ndarray], fps: float = 12.0, fourcc: str = "MJPG") -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_reads_every_frame_in_order_as_rgb(tmp_path):
    frames = _frames(20)
    path = _write(tmp_path / "clip.avi", frames)
    with VideoReader(path) as v:
        assert v.fps == pytest.approx(12.0)
        assert v.size == (64, 48)
        assert v.frame_count == 20
        got = list(v.iter_frames())
        assert v.warnings == []
    assert len(got) == 20
    assert got[0].dtype == np.uint8 and got[0].shape == (48, 64, 3)
    for i, f in enumerate(got):
        assert abs(float(f[..., 0].mean()) - 8 * i) < 4, f"frame {i} out of order or not RGB"
        assert float(f[..., 2].mean()) > 180


def test_random_access_and_second_pass(tmp_path):
    path = _write(tmp_path / "clip.avi", _frames(10))
    with VideoReader(path) as v:
        assert abs(float(v.read(7)[..., 0].mean()) - 56) < 4
        assert len(list(v.iter_frames())) == 10  # rewinds after read()
        assert len(list(v)) == 10
        with pytest.raises(InputError, match="frame 99"):
            v.read(99)


def test_mp4_roundtrip(tmp_path):
    path = _write(tmp_path / "clip.mp4", _frames(6), fps=25.0, fourcc="mp4v")
    with VideoReader(path) as v:
        assert v.fps == pytest.approx(25.0)
        assert sum(1 for _ in v.iter_frames()) == 6


def test_text_file_named_mp4_is_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(InputError, match="not a video file") as err:
        VideoReader(path)
    assert err.value.path == path and "notes.mp4" in str(err.value)


@pytest.mark.parametrize("name", ["missing.mp4", "empty.mp4"])
def test_missing_or_empty_file(tmp_path, name):
    if name == "empty.mp4":
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(InputError) as err:
        VideoReader(tmp_path / name)
    assert name in str(err.value)


def test_truncated_avi_names_file_and_frame(tmp_path):
    full = _write(tmp_path / "full.avi", _frames(30))
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    with VideoReader(cut) as v:  # opens: the header and the first frames are intact
        with pytest.raises(InputError, match=r"truncated after frame \d+") as err:
            for _ in v.iter_frames():
                pass
    assert "cut.avi" in str(err.value)


def test_truncated_mp4_is_refused(tmp_path):
    full = _write(tmp_path / "full.mp4", _frames(10), fourcc="mp4v")
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the index (moov atom) is at the end and now missing
    with pytest.raises(InputError) as err:
        with VideoReader(cut) as v:
            list(v.iter_frames())
    assert "cut.mp4" in str(err.value)


def test_still_image_is_not_a_video(opencv_data, tmp_path):
    disguised = tmp_path / "photo.mp4"
    disguised.write_bytes((opencv_data / "messi5.jpg").read_bytes())
    assert is_image_file(disguised)
    with pytest.raises(InputError, match="still image"):
        VideoReader(disguised)


def test_fps_fallback_is_reported(tmp_path, monkeypatch):
    path = _write(tmp_path / "clip.avi", _frames(3))
    real = cv2.VideoCapture

    class NoFps:
        def __init__(self, *args):
            self._cap = real(*args)

        def get(self, prop):
            return float("nan") if prop == cv2.CAP_PROP_FPS else self._cap.get(prop)

        def __getattr__(self, name):
            return getattr(self._cap, name)

    monkeypatch.setattr(video_mod.cv2, "VideoCapture", NoFps)
    with VideoReader(path) as v:
        assert v.fps == FALLBACK_FPS
        assert len(v.warnings) == 1 and "frame rate" in v.warnings[0]


def test_read_image(opencv_data, tmp_path):
    rgb = read_image(opencv_data / "messi5.jpg")
    assert rgb.shape == (342, 548, 3) and rgb.dtype == np.uint8
    bgr = cv2.imread(str(opencv_data / "messi5.jpg"))
    np.testing.assert_array_equal(rgb, bgr[..., ::-1])
    bogus = tmp_path / "bogus.png"
    bogus.write_text("not an image")
    with pytest.raises(InputError, match="not an image") as err:
        read_image(bogus)
    assert "bogus.png" in str(err.value)
    with pytest.raises(InputError, match="not found"):
        read_image(tmp_path / "nope.jpg")


def test_sequential_random_access_matches_iteration(tmp_path):
    """read(i) in order (playback after a seek) returns the same frames as one pass, without seeking each time."""
    import cv2

    path = tmp_path / "ramp.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for i in range(8):
        writer.write(np.full((24, 32, 3), 30 * i, np.uint8))
    writer.release()
    with VideoReader(path) as reader:
        frames = list(reader.iter_frames())
        got = [reader.read(i) for i in (0, 1, 2, 5, 6, 7, 3)]
    for frame, i in zip(got, (0, 1, 2, 5, 6, 7, 3), strict=True):
        assert abs(int(frame.mean()) - int(frames[i].mean())) <= 2, i
