"""Model types the engine can generate with, chosen by the bundle's ``model_type``.

A backend turns prepared skeleton frames (and notes) into spectrograms and waveforms; the
:class:`~minet_desktop.engine.session.Session` does everything around it (reading the input, seeds, takes,
duration alignment, the out-of-memory fallback, progress and cancel). A new model type (seed 003's frame
regressor, the baselines) plugs in by adding a :class:`GenerationBackend` subclass and a loader to
:data:`BACKENDS`; nothing else changes. Seed 003's frame regressor does so in
:mod:`minet_desktop.engine.regressor`, seed 000's baselines in :mod:`minet_desktop.engine.baselines`.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from safetensors import safe_open

from minet_desktop.core.config import AudioConfig, SkeletonConfig
from minet_desktop.core.errors import InputError, MinetError
from minet_desktop.engine.instruments import Detection, detect, steer
from minet_desktop.engine.motion import MotionWindow, default_stride, iter_movement, window_frames
from minet_desktop.engine.progress import Progress, stage_fraction
from minet_desktop.engine.sampling import CodeSampler
from minet_desktop.engine.synthesis import iter_decode, iter_griffin_lim
from minet_desktop.model.bundle import Bundle, describe, load_bundle
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

    def detect(self, frames: np.ndarray) -> Detection:
        """The instruments the skeleton frames (T, 3, 47) look like; MinetError when the model cannot tell."""
        raise MinetError(self.cannot_choose_instrument())


class MINetBackend(GenerationBackend):
    """MI Net (seed 000): movement encoder -> prior -> VQ-VAE decoder -> Griffin-Lim.

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

    @property
    def instruments(self) -> tuple[str, ...]:
        protos = self.bundle.instruments
        return () if protos is None else protos.codes

    def cannot_choose_instrument(self) -> str:
        return (
            "this model bundle has no instrument prototypes, so it cannot tell or change the instrument "
            "(add them with `minet-train prototypes --bundle BUNDLE --cache CACHE`)"
        )

    def detect(self, frames: np.ndarray) -> Detection:
        protos = self.bundle.instruments
        if protos is None:
            raise MinetError(self.cannot_choose_instrument())
        cfg = self.cfg
        return detect(self.bundle.movement, protos, frames, cfg.prior.block_size, cfg.frames_per_code)

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
        h, motion = yield from _staged("motion", gen)
        if job.instrument is not None:  # the override: move the movement to the chosen instrument's
            protos = b.instruments
            if protos is None:
                raise MinetError(self.cannot_choose_instrument())
            h = steer(protos, h, job.instrument)
            if motion is not None and protos.cfg.motion:
                motion = steer(protos, motion, job.instrument, motion=True)
        cond = h if motion is None else torch.cat([h, motion], dim=-1)  # (n_codes, cond_dim)
        job.timings["motion"] = job.timings.get("motion", 0.0) + time.perf_counter() - t0

        t0 = time.perf_counter()
        memory_fn: Callable[[int, int], object] | None = None
        if self.needs_notes:
            if job.notes is None:
                raise ValueError("the MIDI-conditioned model needs notes")
            notes = np.zeros(n_codes * ds, np.int64)
            notes[: min(T, job.notes.size)] = job.notes[: n_codes * ds]
            notes_t = torch.from_numpy(notes)[None].expand(B, -1).to(device)
            h_all = h[None].expand(B, -1, -1)
            # With aligned notes (ContentConfig.aligned_dim) each code's condition also carries its notes.
            with torch.inference_mode():
                cond = b.prior._condition(
                    h[None], None if motion is None else motion[None], 0, n_codes, notes_t[:1]
                )[0]

            def memory_fn(start: int, span: int) -> object:
                return b.prior._memory(notes_t, h_all, start, span)

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
        spec = yield from _staged("decode", iter_decode(b.vqvae, codes.to(device), self.decode_chunk))
        spec = spec[..., :T]
        job.timings["decode"] = job.timings.get("decode", 0.0) + time.perf_counter() - t0

        t0 = time.perf_counter()
        wave = yield from _staged(
            "waveform", iter_griffin_lim(spec, cfg.audio, job.griffin_lim_iters, job.n_samples)
        )
        job.timings["waveform"] = job.timings.get("waveform", 0.0) + time.perf_counter() - t0
        return BatchOutput(spec.cpu(), wave.float().cpu(), codes)


def _staged(stage: str, gen: Generator[tuple[int, int], None, R]) -> Generator[Progress, None, R]:
    """Re-yield a ``(done, total)`` generator as :class:`Progress` of ``stage``; return its value."""
    while True:
        try:
            done, total = next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        yield Progress(stage, done, total, stage_fraction(stage, done, total))


def _load_minet(path: Path, device: torch.device) -> GenerationBackend:
    return MINetBackend(load_bundle(path, device))


def _load_regressor(path: Path, device: torch.device) -> GenerationBackend:
    # Imported here: the regressor's drawing pulls in OpenCV, which MI Net sessions do not need.
    from minet_desktop.engine.regressor import RegressorBackend
    from minet_desktop.model.regressor import load_regressor_bundle

    return RegressorBackend(load_regressor_bundle(path, device))


def _load_baseline(path: Path, device: torch.device) -> GenerationBackend:
    from minet_desktop.engine.baselines import BaselineBackend
    from minet_desktop.model.baselines import load_baseline_bundle

    return BaselineBackend(load_baseline_bundle(path, device))


#: model_type -> loader(bundle path, device).
BACKENDS: dict[str, Callable[[Path, torch.device], GenerationBackend]] = {
    "minet": _load_minet,
    "minet_midi": _load_minet,
    "frame_regressor": _load_regressor,
    "frame_regressor_midi": _load_regressor,
    "seq2seq": _load_baseline,
    "graph_transformer": _load_baseline,
}


def peek_model_type(path: Path) -> str:
    """The ``model_type`` in a bundle's metadata, read without building anything (InputError if unreadable)."""
    if not path.is_file():
        raise InputError(path, "no such model bundle")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        config = json.loads(metadata.get("config", "{}"))
    except Exception as exc:  # safetensors' own error type, OSError, JSON errors on junk files
        raise InputError(path, f"not a model bundle ({type(exc).__name__}: {exc})") from exc
    model_type = config.get("model_type", "minet") if isinstance(config, dict) else None
    if not isinstance(model_type, str):
        raise InputError(path, "not a model bundle (its config names no model type)")
    return model_type


def load_backend(path: Path, device: torch.device) -> GenerationBackend:
    """Load the bundle at ``path`` with the backend its ``model_type`` names."""
    model_type = peek_model_type(path)
    loader = BACKENDS.get(model_type)
    if loader is None:
        raise InputError(
            path,
            f"model type {model_type!r} cannot generate in this version of MI Net Desktop "
            f"(supported: {', '.join(sorted(BACKENDS))})",
        )
    return loader(path, device)
