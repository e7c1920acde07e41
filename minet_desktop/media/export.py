"""Put generated audio under a performance video: an MP4 with the video and an AAC audio track.

The video stream is copied packet for packet when MP4 can hold its codec (H.264, HEVC, MPEG-4, AV1), so
nothing is lost and it is fast; anything else (MJPEG AVIs, ...) is re-encoded to H.264. The video's own audio,
if any, is left out: the point is to hear the generated one. The file appears atomically.
"""

from __future__ import annotations

from fractions import Fraction
from os import PathLike
from pathlib import Path

import av
import numpy as np

from minet_desktop.core.atomic import atomic_path
from minet_desktop.core.errors import InputError

#: Codecs an MP4 container carries as they are.
MP4_VIDEO_CODECS = {"h264", "hevc", "mpeg4", "av1"}
AUDIO_BITRATE = 128_000


def _add_audio_stream(container: av.container.OutputContainer, sample_rate: int) -> av.audio.AudioStream:
    stream = container.add_stream("aac", rate=sample_rate)
    stream.bit_rate = AUDIO_BITRATE
    stream.layout = "mono"  # type: ignore[attr-defined]
    return stream  # type: ignore[return-value]


def _encode_audio(
    container: av.container.OutputContainer, stream: av.audio.AudioStream, wave: np.ndarray, sample_rate: int
) -> None:
    samples = np.clip(np.asarray(wave, np.float32), -1.0, 1.0)
    block = 1024
    for start in range(0, samples.size, block):
        chunk = samples[start : start + block][None]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="flt", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, sample_rate)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def mux_audio(
    video: str | PathLike[str], wave: np.ndarray, sample_rate: int, out: str | PathLike[str]
) -> Path:
    """Write ``out`` (.mp4): the video stream of ``video`` plus ``wave`` (mono float32) as AAC."""
    src, dst = Path(video), Path(out)
    try:
        inp = av.open(str(src))
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(src, f"cannot read the video to put the audio under ({exc})") from None
    with inp:
        if not inp.streams.video:
            raise InputError(src, "has no video stream")
        vin = inp.streams.video[0]
        copy = vin.codec_context.name in MP4_VIDEO_CODECS
        with atomic_path(dst, suffix=".mp4") as tmp:
            with av.open(str(tmp), "w", format="mp4") as container:
                # Every stream is added before the first packet is written (the header fixes the time bases).
                if copy:
                    vout = container.add_stream_from_template(vin)
                    aout = _add_audio_stream(container, sample_rate)
                    for packet in inp.demux(vin):
                        if packet.dts is None:
                            continue
                        packet.stream = vout
                        container.mux(packet)
                else:
                    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
                    vout = container.add_stream("libx264", rate=rate)
                    # H.264 in 4:2:0 needs even sizes: an odd last row or column is dropped.
                    w, h = vin.codec_context.width, vin.codec_context.height
                    vout.width, vout.height = w - w % 2, h - h % 2
                    vout.pix_fmt = "yuv420p"
                    aout = _add_audio_stream(container, sample_rate)
                    for frame in inp.decode(vin):
                        img = frame.reformat(format="yuv420p", width=vout.width, height=vout.height)
                        img.pts = None
                        for packet in vout.encode(img):
                            container.mux(packet)
                    for packet in vout.encode(None):
                        container.mux(packet)
                _encode_audio(container, aout, wave, sample_rate)
    return dst
