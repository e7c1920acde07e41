"""Live mode: push keypoint frames as the camera delivers them, pull audio blocks as they become final.

::

    live = LiveGenerator(session, fps=30, seed=0)
    for frame in camera:                       # (3, 47) keypoints in pixels
        live.push_frames(frame[None])
        sink.write(live.pull_audio())          # float32 samples at session.sample_rate (maybe empty)

The pipeline per pushed frame, all causal and all in fixed-size state:

1. *Pose*: missing joints keep their last offset from their parent (offline interpolation needs the
   future); the clip's normalisation (median neck and shoulder width) is estimated on the first
   ``calibration_s`` seconds, or given (``norm_stats``); frames are resampled to the spectrogram frame rate
   with the same linear interpolation as :func:`minet_desktop.core.skeleton.resample`, and the frames up to
   ``motion_lead`` source frames past the newest one are extrapolated from its last two (so no frame waits
   for the camera's next one: one camera frame less latency, 42 ms at 24 fps).
2. *Codes*: every ``downsample`` frames a code is drawn, conditioned on the movement vector of the trailing
   window of frames (:mod:`minet_desktop.engine.motion`, ``"trailing"``); the prior's sliding window and
   key/value cache live in a :class:`~minet_desktop.engine.sampling.CodeSampler`.
3. *Spectrogram*: a frame is decoded once ``lookahead_frames`` later frames have their codes, with
   :func:`~minet_desktop.engine.synthesis.decoder_history` earlier codes as context; the codes the decoder
   would see after the newest one are stood in for by repeating it (half the error of the zeros a plain
   decode pads with, on the default model at the newest frames).
4. *Audio*: :class:`~minet_desktop.engine.synthesis.StreamingGriffinLim` commits the new frames' phases and
   hands out the samples no later frame can change; they wait in a ring buffer for :meth:`pull_audio`.

Latency (frame pushed -> its sound can be pulled) is :attr:`LiveGenerator.latency_s` of buffering (one
source frame, one code, the lookahead frames, half an FFT window) plus the compute time of one code.

Streaming vs offline (tests/engine/test_streaming.py): with the same seed, the same normalisation, no
missing joints, ``motion_window="trailing"`` offline and ``lookahead_codes >= decoder_context``, the live
codes and spectrogram equal the offline ones. The waveform does not: offline Griffin-Lim iterates over the
whole spectrogram (every frame's phase depends on frames after it), the live one can only use the frames
already there and never revises what was played.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from minet_desktop.core.errors import MinetError
from minet_desktop.core.ringbuffer import RingBuffer
from minet_desktop.core.skeleton import (
    N_JOINTS,
    CausalGapFiller,
    NormStats,
    normalize,
)
from minet_desktop.engine.backends import MINetBackend
from minet_desktop.engine.motion import default_stride, window_frames
from minet_desktop.engine.sampling import CodeSampler
from minet_desktop.engine.session import Session
from minet_desktop.engine.synthesis import StreamingGriffinLim, decoder_context, decoder_history


class LiveGenerator:
    """Frames in, audio out, in real time, with bounded latency and memory.

    Parameters
    ----------
    session
        A loaded :class:`Session` of an unconditional MI Net (live mode has no MIDI to follow).
    fps
        Frame rate of the pushed keypoints.
    seed, temperature, top_k, top_p
        Sampling, as offline.
    griffin_lim_iters, griffin_lim_context
        Iterations per new block of frames, and committed frames kept as phase context.
    lookahead_codes, lookahead_frames
        Later spectrogram frames whose codes must exist before a frame is decoded: ``lookahead_frames``, or
        ``lookahead_codes`` whole codes when given. ``decoder_context`` codes make the spectrogram equal the
        offline one; fewer trade a little accuracy at the newest frames for latency (16 ms a frame, 64 ms a
        code at the default model's settings). Mean absolute log-magnitude error against the exact decode,
        default model, newest frames decoded with the missing codes stood in for by the newest one (issue
        16): 0.36 nats at 0 frames, 0.24 at 2, 0.15 at 4, 0.09 at 7; a frame waits for its code and then for
        the lookahead, so at 2 frames the frames of a code are decoded with 2 to 5 later frames (0.18 mean),
        at 4 (one code) with 4 to 7 (0.12).
    motion_lead
        Source frames of movement extrapolated past the newest camera frame (0 to 1): 0 waits for the next
        camera frame to interpolate, as offline resampling does (live equals offline then); 1 takes one camera
        frame of waiting out of the latency for a pose guessed up to that far ahead, from the last two.
    motion_stride
        Codes sharing one movement window (:func:`~minet_desktop.engine.motion.default_stride`); must match
        the offline ``motion_stride`` for the two to agree.
    norm_stats
        The performer's normalisation, if known; otherwise estimated on the first ``calibration_s`` seconds.
    max_buffered_s
        Audio kept for :meth:`pull_audio`; older samples are dropped if nobody pulls (newest wins).
    record
        Keep every code and decoded frame in :attr:`codes` and :attr:`spectrogram` (tests: it grows).
    instrument
        Play this instrument (a code of ``session.instruments``) instead of the one the movement shows: each
        movement vector is moved by the step from the running mean of the performance's movement vectors so
        far to the instrument's prototype (the offline override moves by the whole clip's mean).
    """

    def __init__(
        self,
        session: Session,
        fps: float,
        seed: int = 0,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        griffin_lim_iters: int = 16,
        griffin_lim_context: int = 8,
        lookahead_codes: int | None = None,
        lookahead_frames: int = 2,
        motion_lead: float = 1.0,
        motion_stride: int | None = None,
        norm_stats: NormStats | None = None,
        calibration_s: float = 1.0,
        max_buffered_s: float = 2.0,
        record: bool = False,
        instrument: str | None = None,
    ) -> None:
        backend = session.backend
        if not isinstance(backend, MINetBackend) or backend.needs_notes:
            raise MinetError(
                f"live mode needs an MI Net model without MIDI conditioning, not {backend.model_type}"
            )
        if fps <= 0:
            raise MinetError(f"frame rate must be positive, got {fps}")
        session.check_instrument(instrument)
        self.session, self.fps = session, float(fps)
        b = backend.bundle
        self.instrument = instrument
        self.prototypes = b.instruments if instrument is not None else None
        self._bundle_instruments = b.instruments
        self._h_sum: torch.Tensor | None = None  # running sums of the movement vectors (and motion features)
        self._m_sum: torch.Tensor | None = None
        self._h_count = self._m_count = 0
        self.vqvae, self.movement, self.prior = b.vqvae, b.movement, b.prior
        self.cfg = cfg = backend.cfg
        self.device = session.device
        self.ds = cfg.frames_per_code
        self.frame_rate = cfg.audio.frame_rate
        self.threshold = cfg.skeleton.confidence_threshold
        self.window = window_frames(cfg.prior.block_size, self.ds)
        self.context = decoder_context(cfg.vqvae)  # later codes a code's frames depend on
        self.history = decoder_history(cfg.vqvae)  # earlier codes they depend on
        if not 0.0 <= motion_lead <= 1.0:
            raise MinetError(f"motion_lead must be between 0 and 1 source frames, got {motion_lead}")
        self.motion_lead = float(motion_lead)
        if lookahead_codes is not None:
            lookahead_frames = int(lookahead_codes) * self.ds
        self.lookahead_frames = max(0, int(lookahead_frames))
        self.lookahead = -(-self.lookahead_frames // self.ds)  # in codes, rounded up
        p = cfg.prior
        self.stride = (
            1 if p.per_frame_motion else motion_stride or default_stride(p.block_size, p.window_keep, False)
        )
        self._h: torch.Tensor | None = None  # movement vector of the current group of codes
        self.sampler = CodeSampler(b.prior, [seed], temperature, top_k, top_p)
        self.gl = StreamingGriffinLim(cfg.audio, griffin_lim_iters, griffin_lim_context, device="cpu")
        self.record = record
        self.spectrogram: list[np.ndarray] = []  # (F, n) blocks, with ``record``
        self.codes: list[int] = []  # with ``record``
        # Pose state.
        self.norm_stats = norm_stats
        self._calib_frames = max(1, int(math.ceil(calibration_s * self.fps)))
        self._calib = RingBuffer(self._calib_frames, (3, N_JOINTS))
        self._gaps = CausalGapFiller(self.threshold)  # the offline gap filling, causal
        self._prev: np.ndarray | None = None  # previous source frame (normalised)
        self.n_src = 0  # source frames processed (after calibration)
        self.n_out = 0  # skeleton frames emitted at the frame rate
        # Fixed-size histories.
        per_source = int(math.ceil(self.frame_rate / self.fps)) + 1  # frames one source frame can complete
        self._frames = RingBuffer(self.window + self.ds + per_source, (3, N_JOINTS))
        self._codes = RingBuffer(self.history + self.context + self.lookahead + 64, (), np.int64)
        self.n_codes = 0  # codes drawn
        self.n_decoded = 0  # spectrogram frames that went to Griffin-Lim
        self._audio = RingBuffer(max(1, int(max_buffered_s * cfg.audio.sample_rate)), (), np.float32)

    # -- latency and memory ----------------------------------------------------------------------------

    @property
    def latency_s(self) -> float:
        """Buffering latency, without compute: the wait for the next camera frame (none with a whole frame of
        ``motion_lead``), one code, the lookahead, half an FFT.

        A frame waits for the rest of its code and then for the code holding its ``lookahead_frames``-th
        successor: at most ``ds + lookahead_frames`` frames (the code's first frames wait longest when the
        lookahead is a whole number of codes, its later ones otherwise).
        """
        a, ds, k = self.cfg.audio, self.ds, self.lookahead_frames
        wait = max(ds * -(-(r + k + 1) // ds) - r for r in range(ds))
        return (1 - self.motion_lead) / self.fps + wait / self.frame_rate + a.n_fft / 2 / a.sample_rate

    def state_nbytes(self) -> int:
        """Bytes held by the live state (ring buffers, the prior's window and cache, Griffin-Lim context)."""
        n = sum(r.nbytes for r in (self._calib, self._frames, self._codes, self._audio))
        return int(n + self.sampler.nbytes() + self.gl.nbytes())

    def max_state_nbytes(self) -> int:
        """Upper bound of :meth:`state_nbytes` from the sizes alone: it does not grow with time."""
        p = self.prior.cfg
        cond_dim = self.movement.cfg.out_features * (2 if p.per_frame_motion else 1)
        n = sum(r.nbytes for r in (self._calib, self._frames, self._codes, self._audio))
        n += p.block_size * (8 + 4 * cond_dim)  # window codes and conditions
        n += p.n_layer * 2 * p.block_size * p.n_embd * 4  # key/value cache, float32
        n += self.gl.context * (self.cfg.audio.n_fft // 2 + 1) * 8 + 2 * self.cfg.audio.n_fft * 8
        return int(n)

    # -- pose ------------------------------------------------------------------------------------------

    def _normalise(self, frame: np.ndarray) -> np.ndarray:
        assert self.norm_stats is not None
        s = self.norm_stats
        out = frame.copy()
        out[0] = (out[0] - s.center_x) / s.scale
        out[1] = (out[1] - s.center_y) / s.scale
        return out

    def _resampled(self, frame: np.ndarray) -> list[np.ndarray]:
        """Skeleton frames at the frame rate that ``frame`` (the next source frame) completes: interpolated
        up to it, extrapolated from it and the one before up to ``motion_lead`` source frames past it."""
        k = self.n_src
        out = []
        ratio = self.fps / self.frame_rate
        while True:
            pos = self.n_out * ratio
            lo = math.floor(pos)
            if pos > k + self.motion_lead or (lo == k and pos != lo and self.motion_lead == 0.0):
                break  # needs a later source frame
            a = self._prev
            if lo == k and pos == lo or (pos > k and a is None):
                out.append(frame.copy())
            elif pos > k:  # past the newest frame: on along the last step
                assert a is not None
                w = np.float32(pos - k)
                f = np.empty_like(frame)
                f[:2] = frame[:2] + (frame[:2] - a[:2]) * w
                f[2] = np.minimum(a[2], frame[2])
                out.append(f)
            else:
                assert a is not None and lo == k - 1
                w = np.float32(pos - lo)
                f = np.empty_like(frame)
                f[:2] = a[:2] * (1 - w) + frame[:2] * w
                f[2] = a[2] if w == 0 else np.minimum(a[2], frame[2])
                out.append(f)
            self.n_out += 1
        self._prev, self.n_src = frame, k + 1
        return out

    def push_frames(self, keypoints: np.ndarray) -> None:
        """Take ``(n, 3, 47)`` keypoints in pixels at ``fps`` and run everything they make possible."""
        kp = np.asarray(keypoints, np.float32)
        if kp.ndim == 2:
            kp = kp[None]
        if kp.shape[1:] != (3, N_JOINTS):
            raise MinetError(f"live keypoints must be (n, 3, {N_JOINTS}), got {kp.shape}")
        for frame in kp:
            filled = self._gaps.fill(frame)
            if self.norm_stats is None:
                self._calib.write(filled[None])
                if len(self._calib) < self._calib_frames:
                    continue
                _, self.norm_stats = normalize(self._calib.peek(), self.threshold)
                pending = self._calib.read()
            else:
                pending = filled[None]
            for f in pending:
                self._ingest(f)

    def _ingest(self, filled: np.ndarray) -> None:
        """One gap-filled source frame: normalise, resample, draw the codes it completes, decode, play."""
        new = self._resampled(self._normalise(filled))
        if new:
            self._frames.write(np.stack(new))
        self._draw_codes(self.n_out)
        self._decode_ready(final=False)

    def flush(self) -> None:
        """End of the performance: emit the frames up to its duration, decode and play out everything."""
        if self.norm_stats is None and len(self._calib):  # shorter than the calibration
            _, self.norm_stats = normalize(self._calib.peek(), self.threshold)
            for f in self._calib.read():
                self._ingest(f)
        a = self.cfg.audio
        n_samples = int(round(self.n_src / self.fps * a.sample_rate))
        T = n_samples // a.hop_length + 1
        if self._prev is not None and self.n_out < T:  # hold the last pose, as offline resampling does
            self._frames.write(np.repeat(self._prev[None], T - self.n_out, axis=0))
            self.n_out = T
        self._draw_codes(self.n_out, total=T)
        self._decode_ready(final=True)

    # -- codes, spectrogram, audio ---------------------------------------------------------------------

    @torch.no_grad()
    def _draw_codes(self, available: int, total: int | None = None) -> None:
        ds = self.ds
        n_total = self.n_codes if total is None else -(-total // ds)
        while (self.n_codes + 1) * ds <= available or self.n_codes < n_total:
            stop = min((self.n_codes + 1) * ds, available)
            start = max(0, stop - self.window)
            if self.n_codes % self.stride == 0 or self._h is None:  # a new group: a new movement window
                held = self._frames.latest(available - start)[: stop - start]  # (L, 3, 47)
                x = torch.from_numpy(np.ascontiguousarray(held.transpose(1, 2, 0)))[None].to(self.device)
                self._h, per_frame = self.movement(x)
                if self._bundle_instruments is not None:  # the running mean, kept for a later override too
                    self._h_sum = self._h.clone() if self._h_sum is None else self._h_sum + self._h
                    self._h_count += 1
            h = self._steer(self._h, self._h_sum, self._h_count, motion=False)
            motion = None
            if self.cfg.prior.per_frame_motion:  # stride 1: per_frame is this code's window
                i = self.n_codes
                idx = np.clip(np.arange(i * ds, (i + 1) * ds) - start, 0, stop - start - 1)
                m = per_frame[0, torch.as_tensor(idx)].mean(0)[None]  # (1, H)
                if self._bundle_instruments is not None and self._bundle_instruments.cfg.motion:
                    self._m_sum = m.clone() if self._m_sum is None else self._m_sum + m
                    self._m_count += 1
                    m = self._steer(m, self._m_sum, self._m_count, motion=True)
                motion = m[:, None]  # (1, 1, H)
            # The prior's own conditioning, as offline: h, then this code's motion features.
            code = self.sampler.step(self.prior.condition(h, motion, 0, 1)[:, 0])
            self._codes.write(code.numpy().astype(np.int64))
            if self.record:
                self.codes.append(int(code[0]))
            self.n_codes += 1

    def set_instrument(self, code: str | None) -> None:
        """Play ``code`` from the next code on (None: the instrument the movement shows, unsteered); the
        movement's running mean carries over. Safe to call from another thread than the one pushing frames."""
        self.session.check_instrument(code)
        if code is None:
            self.prototypes, self.instrument = None, None
        else:
            # The steer reads both; each pair it can see (old or new) is valid.
            self.instrument, self.prototypes = code, self._bundle_instruments

    def _steer(self, x: torch.Tensor, total: torch.Tensor | None, count: int, motion: bool) -> torch.Tensor:
        """The instrument override, causally: x moved by the step from the running mean to the prototype."""
        p, code = self.prototypes, self.instrument  # read once: set_instrument may run on another thread
        if p is None or code is None or total is None or count == 0:
            return x
        target = p.target(code, motion).to(x.dtype)
        return x + p.cfg.strength * (target - total / count)

    @torch.no_grad()
    def _decode_ready(self, final: bool) -> None:
        ds = self.ds
        # Frames [n_decoded, ready) go out: every frame whose lookahead frames have codes (all at the end).
        ready = self.n_codes * ds if final else self.n_codes * ds - self.lookahead_frames
        if ready <= self.n_decoded:
            return
        first = self.n_decoded // ds  # the code of the first frame to go out
        need = -(-ready // ds)  # codes the frames to go out belong to
        # The convolutions see ``context`` codes either side; the causal code context (decoder_context) sees
        # its window of earlier codes, which are handed over as history only (not decoded again). Codes the
        # decoder would see after the newest one are stood in for by repeating it (not at the end: there the
        # offline decode pads, as this one does).
        lo = max(0, first - self.context)
        lo_ctx = max(0, lo - max(0, self.cfg.vqvae.decoder_context - 1))
        hi = self.n_codes if final else min(self.n_codes, need + self.context)
        held = self._codes.latest(self.n_codes - lo_ctx)[: hi - lo_ctx]
        pad = 0 if final else max(0, need + self.context - hi)
        if pad:
            held = np.concatenate([held, np.repeat(held[-1:], pad)])
        codes = torch.from_numpy(held)[None].to(self.device)
        spec = self.vqvae.decode(codes, history=lo - lo_ctx)[0].float().cpu()  # (F, (hi + pad - lo) * ds)
        frames = spec[:, self.n_decoded - lo * ds : ready - lo * ds]
        if final:  # cut to the performance's duration
            a_cfg = self.cfg.audio
            T = int(round(self.n_src / self.fps * a_cfg.sample_rate)) // a_cfg.hop_length + 1
            frames = frames[:, : max(0, T - self.n_decoded)]
        self.n_decoded = ready
        if self.record:
            self.spectrogram.append(frames.numpy())
        self._audio.write(self.gl.push(frames))
        if final:
            a_cfg = self.cfg.audio
            self._audio.write(self.gl.finish(int(round(self.n_src / self.fps * a_cfg.sample_rate))))

    def pull_audio(self, max_samples: int | None = None) -> np.ndarray:
        """The samples ready so far (oldest first, float32 at the session's sample rate; maybe empty)."""
        return self._audio.read(max_samples)

    @property
    def dropped_samples(self) -> int:
        """Samples dropped because nobody pulled them in time."""
        return self._audio.dropped
