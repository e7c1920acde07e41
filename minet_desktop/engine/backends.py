"""Model types the engine can generate with, chosen by the bundle's ``model_type``.

A backend turns prepared skeleton frames (and notes) into spectrograms and waveforms; the
:class:`~minet_desktop.engine.session.Session` does everything around it (reading the input, seeds, takes,
duration alignment, the out-of-memory fallback, progress and cancel). A new model type (Visually Indicated Music's frame
regressor, the baselines) plugs in by adding an entry to :data:`~minet_desktop.engine.model_types.MODEL_TYPES`,
a :class:`GenerationBackend` subclass and its loader in :data:`~minet_desktop.engine.loading.BACKENDS`;
nothing else changes. Visually Indicated Music's frame regressor does so in
:mod:`minet_desktop.engine.regressor`, the MI Net paper's baselines in :mod:`minet_desktop.engine.baselines`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import torch

from minet_desktop.core.config import AudioConfig, SkeletonConfig
from minet_desktop.core.errors import MinetError
from minet_desktop.engine.articulation import DEFAULT as DEFAULT_ARTICULATION
from minet_desktop.engine.articulation import (
    Articulation,
    articulate,
    detected_events,
    gap_gain,
    movement_events,
    note_onsets,
)
from minet_desktop.engine.instruments import Detection, detect, movement_extent, steer
from minet_desktop.engine.motion import MotionWindow, default_stride, iter_movement, window_frames
from minet_desktop.engine.progress import Progress, stage_fraction, staged
from minet_desktop.engine.sampling import CodeSampler
from minet_desktop.engine.synthesis import iter_decode, iter_griffin_lim
from minet_desktop.model.bundle import Bundle, describe
from minet_desktop.model.config import BaselineBundleConfig, BundleConfig, RegressorBundleConfig

#: Work between two yields of the code sampler; a yield is a cancel point, and the bound on cancellation
#: is this plus one decoding chunk or Griffin-Lim iteration.
YIELD_EVERY_S = 0.025

R = TypeVar("R")


@dataclass
class Job:
    """One generation request, prepared by the session (all arrays at the backend's frame rate).

    Attributes
    ----------
    frames
        ``(T, 3, 47)`` float32 normalised skeleton frames, one per spectrogram frame.
    n_samples
        Output length in samples (the input's duration).
    notes
        ``(T,)`` int note indices (0 = rest, pitch + 1), or None.
    """

    frames: np.ndarray
    n_samples: int
    notes: np.ndarray | None = None
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    griffin_lim_iters: int | None = None
    motion_window: MotionWindow = "centered"
    motion_stride: int | None = None  # codes per movement window; None: motion.default_stride
    use_cache: bool = True
    instrument: str | None = None  # the instrument override (a code); None: the one the movement shows
    # In Auto (no override): steer toward the instrument detection names as the bundle says
    # (InstrumentPrototypesConfig.auto_steer; None), or not at all (False: the prior reads the movement alone).
    auto_steer: bool | None = None
    # Set by generation: the instrument Auto steered to (None: not steered).
    steered_to: str | None = None
    # The performance detector's probability that the movement is someone playing (None: no detector).
    playing: float | None = None
    playing_threshold: float = 0.5
    # Notes start at the movement's events (MI Net) or the score's onsets (MIDI); None: as the decoder made them.
    articulation: Articulation | None = DEFAULT_ARTICULATION
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])


@dataclass
class BatchOutput:
    """What a backend returns for a batch of takes (tensors on the CPU)."""

    spectrogram: torch.Tensor  # (B, F, T)
    waveform: torch.Tensor  # (B, n_samples)
    codes: torch.Tensor | None = None  # (B, n_codes)


class GenerationBackend(ABC):
    """A loaded model of one type that can generate from skeleton frames."""

    model_type: str
    cfg: BundleConfig | RegressorBundleConfig | BaselineBundleConfig
    model_card: str

    @property
    @abstractmethod
    def audio(self) -> AudioConfig:
        """Representation of the output (sample rate, frame rate, bins)."""

    @property
    @abstractmethod
    def skeleton(self) -> SkeletonConfig: ...

    @property
    @abstractmethod
    def needs_notes(self) -> bool: ...

    @abstractmethod
    def to(self, device: torch.device) -> None: ...

    @abstractmethod
    def iter_batch(
        self, job: Job, seeds: list[int], device: torch.device
    ) -> Generator[Progress, None, BatchOutput]:
        """Generate ``len(seeds)`` takes; yield :class:`Progress` after every chunk of work."""

    @abstractmethod
    def summary(self) -> str: ...

    @abstractmethod
    def describe(self) -> str:
        """The lines ``minet-desktop info`` prints about the sizes of this model."""

    def movement_embedding(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """``embed(skeleton (B, 3, 47, T)) -> (B, D)``: the movement embedding the papers classify by
        instrument, or None for a model without one (the evaluation's Table 3)."""
        return None

    @property
    def instruments(self) -> tuple[str, ...]:
        """Instrument codes this model can detect and be told to play; () when it cannot."""
        return ()

    def cannot_choose_instrument(self) -> str:
        """Why this model cannot detect or change the instrument (shown to the user)."""
        return (
            f"this model ({self.model_type}) cannot tell or change the instrument: it has no movement "
            "prototypes of the instruments (only MI Net models do)"
        )

    def detect(
        self, frames: np.ndarray, playing: float | None = None, playing_threshold: float = 0.5
    ) -> Detection:
        """The instruments the skeleton frames (T, 3, 47) look like (uncertain when ``playing``, the
        performance detector's probability, is below ``playing_threshold``); MinetError when the model
        cannot tell."""
        raise MinetError(self.cannot_choose_instrument())


class MINetBackend(GenerationBackend):
    """MI Net (Multi-Instrumentalist Net): movement encoder -> prior -> VQ-VAE decoder -> Griffin-Lim.

    ``minet`` and ``minet_midi`` differ only in the prior (the content-conditioned one cross-attends to the
    notes), so one backend serves both.
    """

    cfg: BundleConfig

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.cfg = bundle.cfg
        self.model_type = bundle.cfg.model_type
        self.model_card = bundle.model_card
        #: Codes per decoder chunk: ~0.1 s of work at the paper's size on 2 CPU cores, a cancel point each.
        self.decode_chunk = 32

    @property
    def audio(self) -> AudioConfig:
        return self.cfg.audio

    @property
    def skeleton(self) -> SkeletonConfig:
        return self.cfg.skeleton

    @property
    def needs_notes(self) -> bool:
        return self.cfg.model_type == "minet_midi"

    def to(self, device: torch.device) -> None:
        for m in self.bundle.modules().values():
            m.to(device)

    def summary(self) -> str:
        return describe(self.bundle)

    def describe(self) -> str:
        cfg = self.cfg
        v, pr = cfg.vqvae, cfg.prior
        return (
            f"VQ-VAE          {v.channels} channels, codebook {v.codebook_size} x {v.code_dim}, "
            f"{v.downsample} frames/code ({cfg.code_rate:g} codes/s), bands {v.encoder_bands}"
            + (f", decoder context {v.decoder_context} codes" if v.decoder_context else "")
            + (f", decoder head {v.decoder_head} units" if v.decoder_head else "")
            + f"\nprior           {pr.n_layer} layers x {pr.n_embd} dims x {pr.n_head} heads, window "
            f"{pr.block_size} codes ({pr.block_size / cfg.code_rate:.2f} s), keeps {pr.window_keep} when sliding"
            + (", per-frame motion" if pr.per_frame_motion else "")
            + (
                f"\nonsets          {len(o.dilations)} dilated convolutions x {o.hidden} channels, sees "
                f"{o.receptive_field / cfg.audio.frame_rate:.2f} s around each frame, threshold {o.threshold:g}"
                if (o := cfg.onsets) is not None
                else ""
            )
        )

    def movement_embedding(self) -> Callable[[torch.Tensor], torch.Tensor]:
        movement = self.bundle.movement
        return lambda x: movement(x)[0]  # the movement encoder's final state h

    @property
    def instruments(self) -> tuple[str, ...]:
        protos = self.bundle.instruments
        return () if protos is None else protos.codes

    def cannot_choose_instrument(self) -> str:
        return (
            "this model bundle has no instrument prototypes, so it cannot tell or change the instrument "
            "(add them with `minet-train prototypes --bundle BUNDLE --cache CACHE`)"
        )

    def detect(
        self, frames: np.ndarray, playing: float | None = None, playing_threshold: float = 0.5
    ) -> Detection:
        protos = self.bundle.instruments
        if protos is None:
            raise MinetError(self.cannot_choose_instrument())
        cfg = self.cfg
        return detect(
            self.bundle.movement, protos, frames, cfg.prior.block_size, cfg.frames_per_code, playing,
            playing_threshold,
        )  # fmt: skip

    def auto_instrument(self, job: Job) -> str | None:
        """The instrument Auto steers to (also left in ``job.steered_to``): the detected one, where the bundle
        (or ``job.auto_steer``) asks for it and the movement looks like an instrument; else None."""
        protos = self.bundle.instruments
        job.steered_to = None
        if protos is None or job.instrument is not None:
            return None
        if protos.cfg.auto_steer <= 0 or job.auto_steer is False:
            return None
        found = self.detect(job.frames, job.playing, job.playing_threshold)
        if found.uncertain or found.best is None:
            return None
        job.steered_to = found.best[0]
        return job.steered_to

    def articulation_events(self, job: Job) -> np.ndarray:
        """Frames where the generated notes are to start: the score's onsets for a MIDI model, else where the
        bundle's onset detector finds them in the movement (the hand-made movement events for a bundle without
        one); none for a performer who hardly moves (the prototypes' "still" threshold), whose tracker jitter
        is no articulation."""
        assert job.articulation is not None
        if self.needs_notes and job.notes is not None:
            return note_onsets(job.notes[: job.n_frames])
        protos = self.bundle.instruments
        window = window_frames(self.cfg.prior.block_size, self.cfg.frames_per_code)
        if protos is not None and movement_extent(job.frames, window) < protos.cfg.min_motion:
            return np.zeros(0, np.int64)
        if self.bundle.onsets is not None:
            return detected_events(self.bundle.onsets, job.frames, self.cfg.audio.frame_rate)
        return movement_events(job.frames, self.cfg.audio.frame_rate, job.articulation)

    def iter_batch(
        self, job: Job, seeds: list[int], device: torch.device
    ) -> Generator[Progress, None, BatchOutput]:
        b, cfg = self.bundle, self.cfg
        ds = cfg.frames_per_code
        T = job.n_frames
        n_codes = -(-T // ds)
        B = len(seeds)

        t0 = time.perf_counter()
        frames = torch.from_numpy(np.ascontiguousarray(job.frames.transpose(1, 2, 0))).to(device)
        gen = iter_movement(
            b.movement,
            frames,
            n_codes,
            ds,
            window_frames(cfg.prior.block_size, ds),
            job.motion_window,
            with_motion=cfg.prior.per_frame_motion,
            stride=1
            if cfg.prior.per_frame_motion  # per-frame motion comes from each code's own window
            else job.motion_stride or default_stride(cfg.prior.block_size, cfg.prior.window_keep, False),
        )
        h, motion = yield from staged("motion", gen)
        auto = job.instrument is None
        code = job.instrument if not auto else self.auto_instrument(job)
        if code is not None:  # the override (or Auto's steer): move the movement to the instrument's
            protos = b.instruments
            if protos is None:
                raise MinetError(self.cannot_choose_instrument())
            h = steer(protos, h, code, auto=auto)
            if motion is not None and protos.cfg.motion:
                motion = steer(protos, motion, code, motion=True, auto=auto)
        job.timings["motion"] = job.timings.get("motion", 0.0) + time.perf_counter() - t0

        t0 = time.perf_counter()
        memory_fn: Callable[[int, int], object] | None = None
        notes_t: torch.Tensor | None = None
        if self.needs_notes:
            if job.notes is None:
                raise ValueError("the MIDI-conditioned model needs notes")
            notes = np.zeros(n_codes * ds, np.int64)
            notes[: min(T, job.notes.size)] = job.notes[: n_codes * ds]
            notes_t = torch.from_numpy(notes)[None].expand(B, -1).to(device)
            h_all = h[None].expand(B, -1, -1)

            def memory_fn(start: int, span: int) -> object:
                return b.prior.cross_memory(notes_t, h_all, start, span)

        # The prior's own conditioning, as live mode's: h per code, its motion features, and with aligned notes
        # (ContentConfig.aligned_dim) its notes. (n_codes, cond_dim)
        with torch.inference_mode():
            cond = b.prior.condition(
                h[None],
                None if motion is None else motion[None],
                0,
                n_codes,
                None if notes_t is None else notes_t[:1],
            )[0]
        sampler = CodeSampler(
            b.prior,
            seeds,
            job.temperature,
            job.top_k,
            job.top_p,
            memory_fn=memory_fn,  # type: ignore[arg-type]
            n_total=n_codes,
            use_cache=job.use_cache,
        )
        codes = torch.empty(B, n_codes, dtype=torch.long)
        last = time.perf_counter()
        for t in range(n_codes):
            codes[:, t] = sampler.step(cond[t][None].expand(B, -1))
            now = time.perf_counter()
            if now - last >= YIELD_EVERY_S or t == n_codes - 1:
                last = now
                yield Progress("codes", t + 1, n_codes, stage_fraction("codes", t + 1, n_codes))
        job.timings["codes"] = job.timings.get("codes", 0.0) + time.perf_counter() - t0

        t0 = time.perf_counter()
        spec = yield from staged("decode", iter_decode(b.vqvae, codes.to(device), self.decode_chunk))
        spec = spec[..., :T]
        events = None
        if job.articulation is not None:
            events = self.articulation_events(job)
            spec = articulate(spec, events, cfg.audio.frame_rate, job.articulation)
        job.timings["decode"] = job.timings.get("decode", 0.0) + time.perf_counter() - t0

        t0 = time.perf_counter()
        wave = yield from staged(
            "waveform", iter_griffin_lim(spec, cfg.audio, job.griffin_lim_iters, job.n_samples)
        )
        if events is not None and job.articulation is not None and job.articulation.gap_db > 0:
            gain = gap_gain(
                wave.shape[-1], events, cfg.audio.frame_rate, cfg.audio.sample_rate, job.articulation
            )
            wave = wave * torch.from_numpy(gain).to(device=wave.device, dtype=wave.dtype)
        job.timings["waveform"] = job.timings.get("waveform", 0.0) + time.perf_counter() - t0
        return BatchOutput(spec.cpu(), wave.float().cpu(), codes)
