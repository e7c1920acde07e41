"""Live mode: what streaming shares with offline generation, its fixed memory and its latency.

Streaming output vs offline output for the same seed: the *codes* and the *spectrogram* are equal when both
see the same thing: the same normalisation (live estimates it on the first second unless given), no missing
joints (live fills gaps causally, offline interpolates between detections), the trailing movement windows
(live cannot look ahead; offline centres them by default) and a decoder lookahead of ``decoder_context``
codes. The *waveform* is not equal and cannot be: offline Griffin-Lim iterates over the whole spectrogram,
so every frame's phase depends on frames after it, while live Griffin-Lim only sees the frames that exist
and never changes samples already played. What holds for the waveform is length, alignment and loudness.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import performance

from minet_desktop.core.config import AudioConfig
from minet_desktop.core.errors import MinetError
from minet_desktop.core.skeleton import interpolate_missing, normalize
from minet_desktop.engine.session import Session
from minet_desktop.engine.streaming import LiveGenerator
from minet_desktop.engine.synthesis import decoder_context
from minet_desktop.model.bundle import build_modules, save_bundle
from minet_desktop.model.config import BundleConfig


def _stream(live: LiveGenerator, kp: np.ndarray, block: int = 1) -> np.ndarray:
    out = []
    for i in range(0, len(kp), block):
        live.push_frames(kp[i : i + block])
        out.append(live.pull_audio())
    live.flush()
    out.append(live.pull_audio())
    return np.concatenate(out)


@pytest.mark.parametrize(
    ("per_frame_motion", "stride", "decoder"),
    [(False, 1, None), (False, 3, None), (True, 1, None), (False, 1, {"decoder_context": 12})],
    ids=["stride-1", "stride-3", "per-frame", "code-context"],
)
def test_streaming_equals_offline_codes_and_spectrogram(
    make_bundle, per_frame_motion, stride, decoder
) -> None:
    s = Session(make_bundle(per_frame_motion=per_frame_motion, vqvae=decoder), device="cpu")
    kf = performance(1.5)
    # Live mode plays the decoder's spectrogram as it comes (the articulation needs the movement after a note).
    offline = s.generate(kf, seed=5, motion_window="trailing", motion_stride=stride, articulation=None)
    _, stats = normalize(interpolate_missing(kf.keypoints, 0.3)[0], 0.3)
    live = LiveGenerator(
        s,
        kf.fps,
        seed=5,
        norm_stats=stats,
        lookahead_codes=decoder_context(s.cfg.vqvae),
        motion_lead=0.0,
        motion_stride=stride,
        record=True,
    )
    audio = _stream(live, kf.keypoints, block=3)
    assert live.codes == offline.codes[0].tolist()
    spec = np.concatenate(live.spectrogram, axis=1)
    np.testing.assert_allclose(spec, offline.spectrogram[0], atol=1e-5)
    # The waveform: same length and loudness, not the same samples (see the module docstring).
    assert audio.shape == offline.waveform[0].shape
    rms_live, rms_offline = np.sqrt(np.mean(audio**2)), np.sqrt(np.mean(offline.waveform[0] ** 2))
    assert 0.5 < rms_live / rms_offline < 2.0


def test_live_calibrates_itself_and_small_lookahead_stays_close(make_bundle) -> None:
    s = Session(make_bundle(), device="cpu")
    kf = performance(1.5)
    live = LiveGenerator(s, kf.fps, seed=5, calibration_s=0.5, lookahead_codes=1, record=True)
    audio = _stream(live, kf.keypoints)
    assert audio.shape == (round(1.5 * s.sample_rate),) and np.isfinite(audio).all()
    assert live.norm_stats is not None and len(live.codes) == live.n_codes


@pytest.mark.slow
def test_memory_is_fixed_however_long_it_runs(tmp_path) -> None:
    """State after a minute of frames = state after 5 s; a consumer that never pulls loses old audio, not RAM."""
    audio = AudioConfig(sample_rate=8000, n_fft=256, hop_length=128, n_bins=32)  # 62.5 frames/s, as the paper
    cfg = BundleConfig.tiny(audio=audio)
    s = Session(save_bundle(tmp_path / "b.safetensors", cfg, *build_modules(cfg)), device="cpu")
    live = LiveGenerator(s, 10.0, seed=0, griffin_lim_iters=2, max_buffered_s=0.5)
    kp = performance(60.0, fps=10.0).keypoints
    bound = live.max_state_nbytes()
    sizes = []
    for frame in kp:
        live.push_frames(frame)
        sizes.append(live.state_nbytes())
    # The prior's cache fills and empties with each window: the state breathes, under a bound set by sizes.
    assert live.n_codes > 1800 and max(sizes) <= bound and live.max_state_nbytes() == bound
    assert max(sizes[-100:]) > 0.8 * max(sizes[:100])  # the bound is met in practice, not vacuous
    assert live.dropped_samples > 0 and len(live.pull_audio()) == int(0.5 * s.sample_rate)


def test_latency_is_bounded_and_reported(make_bundle) -> None:
    s = Session(make_bundle(), device="cpu")
    live = LiveGenerator(s, 30.0, lookahead_codes=2, motion_lead=0.0, norm_stats=None, calibration_s=0.1)
    a = s.cfg.audio
    expected = 1 / 30 + 3 * s.cfg.frames_per_code / a.frame_rate + a.n_fft / 2 / a.sample_rate
    assert live.latency_s == pytest.approx(expected)
    # The defaults: two frames of decoder lookahead (a frame waits for its code's last and then two more) and
    # a whole camera frame of movement extrapolated (no wait for the next one).
    ds = s.cfg.frames_per_code
    # The frame two before a code's end waits longest: 2 frames for its own code, then a whole next code.
    expected = (ds + 2) / a.frame_rate + a.n_fft / 2 / a.sample_rate
    assert LiveGenerator(s, 30.0).latency_s == pytest.approx(expected)
    kp = performance(1.0).keypoints
    got = 0
    for i, frame in enumerate(kp):
        live.push_frames(frame)
        got += live.pull_audio().size
        if i >= 3:  # after calibration, audio keeps up with the frames to within the latency
            assert got >= (i + 1) / 30 * s.sample_rate - live.latency_s * s.sample_rate - 1


def test_live_mode_refuses_midi_models(make_bundle) -> None:
    with pytest.raises(MinetError, match="live mode"):
        LiveGenerator(Session(make_bundle("minet_midi")), 30.0)


def test_movement_is_extrapolated_one_camera_frame_ahead_and_exact_for_steady_motion(make_bundle) -> None:
    """With ``motion_lead`` every skeleton frame up to one camera frame past the newest is there at once; for
    motion at a steady speed the guess is the pose the next camera frame brings (offline interpolation)."""
    s = Session(make_bundle(), device="cpu")
    fps = 24.0
    rate = s.cfg.audio.frame_rate
    t = np.arange(48) / fps
    kp = np.ones((48, 3, 47), np.float32)
    kp[:, 0] = 100.0 + 40.0 * t[:, None] + np.arange(47)[None]  # steady drift to the right
    kp[:, 1] = 200.0 + 10.0 * t[:, None]
    kp[:, 2] = 0.9
    stats = normalize(kp, 0.3)[1]
    held, lead = (LiveGenerator(s, fps, motion_lead=m, norm_stats=stats) for m in (0.0, 1.0))
    out_h, out_l = [], []
    for k, frame in enumerate(kp):
        out_h += held._resampled(held._normalise(frame))
        out_l += lead._resampled(lead._normalise(frame))
        # Without lead a skeleton frame waits for the camera frame after it; with it, none does.
        assert len(out_h) == int(np.floor(k / fps * rate)) + 1
        assert len(out_l) == int(np.floor((k + 1) / fps * rate)) + 1
    m = len(out_h)
    first = int(np.ceil(rate / fps))  # before the second camera frame there is no speed yet: the pose is held
    assert m > 100
    np.testing.assert_allclose(np.stack(out_l[first:m]), np.stack(out_h[first:]), atol=1e-4)
    with pytest.raises(MinetError, match="motion_lead"):
        LiveGenerator(s, fps, motion_lead=1.5)
