"""Reading and writing audio files.

Everything downstream works on mono float32 waveforms in [-1, 1] at one sample rate, so :func:`read_audio`
folds channels to mono (mean) and resamples with soxr's high-quality filter. Files libsndfile reads (WAV,
FLAC, OGG, MP3, AIFF, ...) go through soundfile; anything else with an audio stream (the soundtrack of an
.mp4/.webm performance video, .m4a) is decoded with PyAV. Every problem with the user's file is an
:class:`~minet_desktop.core.errors.InputError` naming the file.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from minet_desktop.core.atomic import atomic_path
from minet_desktop.core.errors import InputError
from minet_desktop.core.validation import require_file

# soxr's "HQ" is a 20-bit-accurate linear-phase filter: transparent for audio and much faster than "VHQ".
RESAMPLE_QUALITY = "HQ"


def _read_with_av(path: Path) -> tuple[np.ndarray, int]:
    """Decode the first audio stream with PyAV: ``(N, C)`` float32 and its sample rate."""
    import av  # local: only needed for containers libsndfile cannot read

    try:
        with av.open(str(path)) as container:
            streams = container.streams.audio
            if not streams:
                raise InputError(path, "not an audio file (no audio stream found)")
            stream = streams[0]
            # Planar float keeps channels apart so we can average them ourselves, like the soundfile path.
            resampler = av.AudioResampler(format="fltp")
            chunks: list[np.ndarray] = []
            rate = 0
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    # Like the ffmpeg command line, skip a damaged packet (real videos have them: an incomplete
                    # AC-3 frame at the end) rather than reject the whole soundtrack.
                    continue
                for frame in frames:
                    for out in resampler.resample(frame):
                        rate = out.sample_rate
                        chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
    except InputError:
        raise
    except av.error.FFmpegError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(path, f"not a readable audio file ({reason})") from exc
    except (ValueError, OSError) as exc:
        raise InputError(path, f"not a readable audio file ({exc})") from exc
    if not chunks or rate <= 0:
        raise InputError(path, "contains no audio samples (zero length)")
    data = np.concatenate(chunks, axis=1).T  # (N, C)
    return np.ascontiguousarray(data, dtype=np.float32), int(rate)


def read_audio(path: str | PathLike[str], sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as mono float32.

    Parameters
    ----------
    path
        Any file libsndfile reads, or a media file with an audio stream (decoded with PyAV).
    sample_rate
        Resample to this rate (soxr, high quality) when given; keep the file's rate when None.

    Returns
    -------
    wave : np.ndarray
        ``(N,)`` float32, channels averaged, nominally in [-1, 1].
    sample_rate : int
        The rate of ``wave``.

    Raises
    ------
    InputError
        The file is missing, is a folder, is not audio, holds no samples, or holds NaN/inf samples.
    """
    p = require_file(path, "an audio file")
    if sample_rate is not None and sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except sf.LibsndfileError:
        data, rate = _read_with_av(p)
    except (sf.SoundFileError, RuntimeError, OSError) as exc:  # pragma: no cover - other libsndfile failures
        raise InputError(p, f"not a readable audio file ({exc})") from exc
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise InputError(p, "contains no audio samples (zero length)")
    if not np.isfinite(data).all():
        raise InputError(p, "contains invalid (NaN or infinite) samples")
    wave = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if sample_rate is not None and sample_rate != rate:
        wave = resample_audio(wave, int(rate), sample_rate)
        rate = sample_rate
    return np.ascontiguousarray(wave, dtype=np.float32), int(rate)


def resample_audio(wave: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample with soxr (high quality).

    Parameters
    ----------
    wave
        ``(N,)`` mono or ``(N, C)`` multichannel.
    sr_in, sr_out
        Sample rates in Hz.

    Returns
    -------
    np.ndarray
        float32, ``(round(N * sr_out / sr_in),)`` or ``(.., C)``; a copy when the rates are equal.
    """
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    x = np.ascontiguousarray(wave, dtype=np.float32)
    if sr_in == sr_out or x.shape[0] == 0:
        return x.copy()
    return np.ascontiguousarray(soxr.resample(x, sr_in, sr_out, quality=RESAMPLE_QUALITY), dtype=np.float32)


def write_wav(path: str | PathLike[str], wave: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write a WAV file atomically (a crash never leaves half a file at ``path``).

    Parameters
    ----------
    path
        Destination; parent folders are created.
    wave
        ``(N,)`` mono or ``(N, C)`` float waveform in [-1, 1]. Samples outside are clipped for integer
        subtypes (integer WAV cannot hold them and libsndfile would wrap them around).
    sample_rate
        Hz.
    subtype
        ``"PCM_16"`` (default, what players expect), ``"PCM_24"`` or ``"FLOAT"`` (lossless for model output).

    Returns
    -------
    Path
        ``path``.
    """
    x = np.asarray(wave, dtype=np.float32)
    if x.ndim not in (1, 2):
        raise ValueError(f"write_wav: expected (N,) or (N, C), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("write_wav: waveform contains NaN or infinite samples")
    if sample_rate <= 0:
        raise ValueError(f"write_wav: sample_rate must be positive, got {sample_rate}")
    if subtype.upper().startswith("PCM"):
        x = np.clip(x, -1.0, 1.0)
    target = Path(path)
    with atomic_path(target) as tmp:
        sf.write(str(tmp), x, int(sample_rate), subtype=subtype, format="WAV")
    return target
