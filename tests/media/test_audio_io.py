"""Reading and writing audio files: mono fold-down, resampling, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from minet_desktop.core.errors import InputError
from minet_desktop.media.audio_io import read_audio, resample_audio, write_wav


def _tone(freq: float, sr: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _spectrum(wave: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    mag = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return np.fft.rfftfreq(len(wave), 1 / sr), mag


def _peak_hz(wave: np.ndarray, sr: int) -> float:
    freqs, mag = _spectrum(wave, sr)
    return float(freqs[np.argmax(mag)])


def test_stereo_44k1_is_folded_to_mono_and_resampled(tmp_path: Path) -> None:
    # Left 1 kHz at 0.5, right the same at 0.25: the mono mean is a 1 kHz tone at 0.375.
    # Both channels also carry a 10 kHz tone, above 16 kHz's Nyquist: without an anti-alias filter it would
    # fold down to 6 kHz.
    sr_in = 44_100
    left = _tone(1000, sr_in, 1.0, 0.5) + _tone(10_000, sr_in, 1.0, 0.2)
    right = _tone(1000, sr_in, 1.0, 0.25) + _tone(10_000, sr_in, 1.0, 0.2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), sr_in, subtype="FLOAT")

    wave, sr = read_audio(path, sample_rate=16_000)
    assert sr == 16_000
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - 16_000) <= 1
    assert _peak_hz(wave, sr) == pytest.approx(1000, abs=2)
    mid = wave[2000:-2000]
    assert np.abs(mid).max() == pytest.approx(0.375, abs=0.01)
    freqs, mag = _spectrum(wave, sr)
    alias = mag[(freqs > 5900) & (freqs < 6100)].max()
    assert alias < 1e-3 * mag.max()


def test_native_rate_is_kept_without_sample_rate(tmp_path: Path) -> None:
    path = tmp_path / "mono.flac"
    sf.write(path, _tone(440, 22_050, 0.5), 22_050)
    wave, sr = read_audio(path)
    assert sr == 22_050 and wave.shape == (11_025,)
    assert _peak_hz(wave, sr) == pytest.approx(440, abs=3)


def test_zero_length_wav_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "empty take.wav"
    sf.write(path, np.zeros(0, np.float32), 16_000)
    with pytest.raises(InputError, match="zero length") as info:
        read_audio(path)
    assert "empty take.wav" in str(info.value)
    assert info.value.path == path


@pytest.mark.parametrize("content", [b"", b"this is not audio\n" * 20])
def test_not_audio_is_input_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.wav"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_audio(path)
    assert "notes.wav" in str(info.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_audio(tmp_path / "nope.wav")
    with pytest.raises(InputError, match="folder"):
        read_audio(tmp_path)


def test_soundtrack_of_a_video_container_is_read(tmp_path: Path) -> None:
    # libsndfile cannot open .m4a/.mp4; the PyAV fallback must (Solos audio comes from YouTube videos).
    av = pytest.importorskip("av")
    path = tmp_path / "take.m4a"
    sr = 44_100
    tone = _tone(880, sr, 1.0, 0.5)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=sr, layout="mono")
        block = 1024
        for i in range(0, len(tone) - block + 1, block):
            frame = av.AudioFrame.from_ndarray(tone[None, i : i + block], format="fltp", layout="mono")
            frame.sample_rate = sr
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    wave, rate = read_audio(path, sample_rate=16_000)
    assert rate == 16_000
    assert len(wave) == pytest.approx(16_000, abs=1200)  # AAC priming/padding adds a few frames
    assert _peak_hz(wave, rate) == pytest.approx(880, abs=3)


def test_write_wav_round_trip_is_atomic(tmp_path: Path) -> None:
    wave = _tone(440, 16_000, 0.25)
    path = write_wav(tmp_path / "out" / "take.wav", wave, 16_000)
    back, sr = read_audio(path)
    assert sr == 16_000
    np.testing.assert_allclose(back, wave, atol=1.0 / 32_768)
    assert sorted(p.name for p in path.parent.iterdir()) == ["take.wav"]  # no temp file left behind

    exact = write_wav(tmp_path / "float.wav", wave, 16_000, subtype="FLOAT")
    np.testing.assert_array_equal(read_audio(exact)[0], wave)


def test_write_wav_clips_instead_of_wrapping(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "loud.wav", np.array([1.5, -1.5, 0.5], np.float32), 16_000)
    back, _ = read_audio(path)
    assert back[0] > 0.99 and back[1] < -0.99


def test_write_wav_failure_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NaN"):
        write_wav(tmp_path / "bad.wav", np.array([0.0, np.nan], np.float32), 16_000)
    assert list(tmp_path.iterdir()) == []


def test_resample_audio_lengths() -> None:
    wave = _tone(300, 48_000, 0.5)
    out = resample_audio(wave, 48_000, 16_000)
    assert out.dtype == np.float32 and out.shape == (8000,)
    same = resample_audio(wave, 48_000, 48_000)
    np.testing.assert_array_equal(same, wave)
    assert same is not wave
    with pytest.raises(ValueError):
        resample_audio(wave, 0, 16_000)


def test_soundtrack_of_a_real_video(opencv_data: Path) -> None:
    # Megamind.avi carries 11.2 s of 48 kHz stereo AC-3 whose last frame is incomplete; ffmpeg skips it, so do we.
    wave, sr = read_audio(opencv_data / "Megamind.avi", sample_rate=16_000)
    assert sr == 16_000
    assert len(wave) / sr == pytest.approx(11.23, abs=0.05)
    assert 0.05 < np.abs(wave).max() <= 1.0


def test_picture_is_not_audio(opencv_data: Path) -> None:
    with pytest.raises(InputError, match="no audio stream") as info:
        read_audio(opencv_data / "messi5.jpg")
    assert "messi5.jpg" in str(info.value)
