"""Generation with Visually Indicated Music's frame regressor: keypoints -> stick figures -> log-mel -> Griffin-Lim -> audio.

The :class:`~minet_desktop.engine.session.Session` prepares skeleton frames (and notes) at the rate of
``backend.audio``; for the regressor that is the mel frame rate (22.05 kHz / hop 512, ~43 frames/s), since
:attr:`RegressorBundleConfig.audio <minet_desktop.model.config.RegressorBundleConfig.audio>` describes the grid
of its output (the linear STFT that Griffin-Lim inverts). So one frame in is one mel frame out, and the
session's guarantees (audio exactly as long as the keypoints, MIDI trimmed or padded to the video, cancel at
every yield, the out-of-memory fallback) hold unchanged.

Stages, each yielding :class:`~minet_desktop.engine.progress.Progress` after every chunk:

1. ``vision``: images at ``image_fps`` are drawn from the skeleton (:mod:`minet_desktop.features.pose_image`,
   the drawing training used) and encoded by the ResNet, :attr:`RegressorBackend.image_chunk` at a time; the
   embeddings are interpolated to the mel frames.
2. ``mel``: the LSTM predicts the mel in windows of the training crop's length, overlapping by half and
   cross-faded with triangular weights (Visually Indicated Music §3.5 slides 64-frame windows by 32), so the decoder always
   runs on spans as long as it was trained on, and a long performance costs one window per half-window.
3. ``waveform``: the mel goes back to linear frequency (the filterbank's pseudo-inverse, as
   :meth:`LogMel.inverse <minet_desktop.features.audio.LogMel.inverse>`) and through the engine's chunked
   Griffin-Lim (:func:`~minet_desktop.engine.synthesis.iter_griffin_lim`) with the job's iterations.

The regressor is deterministic: every take of one request is the same audio (the seeds change nothing).
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator

import numpy as np
import torch
from torch import Tensor

from minet_desktop.core.config import AudioConfig, SkeletonConfig
from minet_desktop.engine.backends import BatchOutput, GenerationBackend, Job
from minet_desktop.engine.progress import Progress, stage_fraction, staged
from minet_desktop.engine.synthesis import iter_griffin_lim
from minet_desktop.engine.windowing import iter_windowed
from minet_desktop.features.audio import LogMel
from minet_desktop.features.pose_image import render_pose_images, sample_poses
from minet_desktop.model.config import RegressorBundleConfig
from minet_desktop.model.regressor import (
    RegressorBundle,
    describe_regressor,
    image_positions,
    resample_features,
)

#: Share of the work per stage on a CPU at a CPU recipe's size, for one progress bar.
STAGE_WEIGHTS = {"vision": 0.35, "mel": 0.15, "waveform": 0.5}


class RegressorBackend(GenerationBackend):
    """Visually Indicated Music's frame regressor (``frame_regressor``, and ``frame_regressor_midi`` with the notes)."""

    cfg: RegressorBundleConfig

    def __init__(self, bundle: RegressorBundle) -> None:
        self.bundle = bundle
        self.cfg = bundle.cfg
        self.model_type = bundle.cfg.model_type
        self.model_card = bundle.model_card
        self.logmel = LogMel(bundle.cfg.mel)
        #: Images drawn and encoded between two yields: ~0.1 s of work at a CPU recipe's size.
        self.image_chunk = 64

    @property
    def audio(self) -> AudioConfig:
        return self.bundle.cfg.audio

    @property
    def skeleton(self) -> SkeletonConfig:
        return self.bundle.cfg.skeleton

    @property
    def needs_notes(self) -> bool:
        return self.bundle.cfg.regressor.midi

    def to(self, device: torch.device) -> None:
        self.bundle.model.to(device)

    def summary(self) -> str:
        return describe_regressor(self.bundle)

    def describe(self) -> str:
        cfg = self.bundle.cfg
        r, m = cfg.regressor, cfg.mel
        lines = [
            f"mel             {m.sample_rate} Hz, {m.n_mels} bands, hop {m.hop_length} ({cfg.frame_rate:.2f} frames/s), "
            f"Griffin-Lim {m.griffin_lim_iters} iterations",
            f"frames          {r.image_size}x{r.image_size} {'grey' if r.grayscale else 'RGB'} stick figures at "
            f"{r.image_fps:g} images/s, ResNet-18 x{r.width:g} ({r.feature_dim}-dim embedding)",
            f"decoder         LSTM {r.lstm_layers} x {r.lstm_hidden}, windows of {cfg.window_seconds:.2f} s "
            f"({cfg.window_frames} mel frames)"
            + (f"; MIDI piano roll -> LSTM {r.midi_hidden}" if r.midi else ""),
        ]
        return "\n".join(lines)

    def iter_mel(
        self, frames: np.ndarray, notes: np.ndarray | None, device: torch.device
    ) -> Generator[Progress, None, Tensor]:
        """Predict the log-mel ``(n_mels, T)`` of skeleton frames ``(T, 3, 47)`` at the mel frame rate."""
        cfg = self.bundle.cfg
        rc, model = cfg.regressor, self.bundle.model
        if self.needs_notes and notes is None:
            raise ValueError("the MIDI variant of the regressor needs notes")
        T = int(frames.shape[0])
        rate = cfg.frame_rate
        # Images at k / image_fps, up to the last mel frame's time.
        n_img = int(math.floor((T - 1) * rc.image_fps / rate + 1e-9)) + 1
        poses = sample_poses(frames, rate, np.arange(n_img) / rc.image_fps)
        feats = torch.empty(1, n_img, rc.feature_dim, device=device)
        n_chunks = math.ceil(n_img / self.image_chunk)
        for i in range(n_chunks):
            a, b = i * self.image_chunk, min(n_img, (i + 1) * self.image_chunk)
            images = render_pose_images(poses[a:b], rc.image_size, rc.grayscale, rc.view_center, rc.view_half)
            with torch.no_grad():
                feats[0, a:b] = model.encode_images(torch.from_numpy(images)[None].to(device))[0]
            yield Progress(
                "vision", i + 1, n_chunks, stage_fraction("vision", i + 1, n_chunks, STAGE_WEIGHTS)
            )
        positions = image_positions(T, rate, rc.image_fps)[None].to(device)
        visual = resample_features(feats, positions)  # (1, T, D)
        notes_t = None
        if self.needs_notes:
            assert notes is not None
            seq = np.zeros(T, np.int64)
            seq[: min(T, notes.size)] = notes[:T]
            notes_t = torch.from_numpy(seq)[None].to(device)

        def predict(a: int, b: int) -> Tensor:
            return model.decode(visual[:, a:b], None if notes_t is None else notes_t[:, a:b])[0]

        return (
            yield from iter_windowed(
                predict, T, cfg.window_frames, cfg.mel.n_mels, device, "mel", STAGE_WEIGHTS
            )
        )

    def iter_batch(
        self, job: Job, seeds: list[int], device: torch.device
    ) -> Generator[Progress, None, BatchOutput]:
        cfg = self.bundle.cfg
        B = len(seeds)
        t0 = time.perf_counter()
        mel = yield from self.iter_mel(job.frames, job.notes, device)
        job.timings["mel"] = job.timings.get("mel", 0.0) + time.perf_counter() - t0

        t0 = time.perf_counter()
        with torch.no_grad():
            linear = self.logmel.to(device).linear_magnitude(mel)
            spec = torch.log(linear.clamp(min=cfg.mel.log_floor))[None]  # (1, n_fft // 2 + 1, T)
        wave: Tensor = yield from staged(
            "waveform", iter_griffin_lim(spec, cfg.audio, job.griffin_lim_iters, job.n_samples), STAGE_WEIGHTS
        )
        job.timings["waveform"] = job.timings.get("waveform", 0.0) + time.perf_counter() - t0
        # Deterministic: every take is the same audio.
        return BatchOutput(
            spec.cpu().expand(B, -1, -1).contiguous(), wave.float().cpu().expand(B, -1).contiguous(), None
        )
