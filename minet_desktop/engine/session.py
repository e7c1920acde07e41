"""A generation session: one model bundle loaded once, on the best device, generating on request.

::

    session = Session("minet.safetensors")            # CUDA when present, else CPU
    result = session.generate(keypoint_file, takes=2, seed=1, progress=print)
    result.waveform                                    # (2, N) float32 at result.sample_rate

:meth:`Session.iter_generate` is the same as a generator that yields :class:`Progress` after every chunk of
work (a batch of movement windows, ~25 ms of code sampling, a decoder chunk, a Griffin-Lim iteration) and
returns the :class:`GenerationResult`; every yield is a cancel point, so a GUI worker (superqt's
``GeneratorWorker``) stops it by not asking for the next step, and :meth:`generate` by ``should_cancel()``.
One generation at a time per session: the modules are shared.

What the session guarantees whatever the model type:

* the audio lasts exactly as long as the keypoints (``n_frames / fps`` s, to the sample);
* take ``k`` is seeded with ``seed + k``: it sounds the same alone or in a batch, on the CPU or the GPU
  (up to float rounding), and after an out-of-memory fallback;
* CUDA out of memory: the takes are split into smaller batches, then the CPU is used, and the result says so;
* problems with the user's input are :class:`~minet_desktop.core.errors.InputError` naming the file.
"""

from __future__ import annotations

import random
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from minet_desktop.core.config import AudioConfig
from minet_desktop.core.errors import Cancelled, InputError, MinetError
from minet_desktop.core.instruments import INSTRUMENT_NAMES, instrument_name, octave_shift
from minet_desktop.core.skeleton import model_frames, valid_mask
from minet_desktop.core.validation import (
    check_allocation,
    check_duration,
    check_fps,
    check_keypoint_values,
    check_sampling_options,
    tracked_fractions,
)
from minet_desktop.engine.articulation import DEFAULT as DEFAULT_ARTICULATION
from minet_desktop.engine.articulation import Articulation
from minet_desktop.engine.backends import BatchOutput, GenerationBackend, Job
from minet_desktop.engine.instruments import Detection
from minet_desktop.engine.loading import load_backend
from minet_desktop.engine.motion import MotionWindow, skeleton_frames
from minet_desktop.engine.paths import performance_detector_path
from minet_desktop.engine.progress import Progress, ProgressCallback, ShouldCancel
from minet_desktop.media.midi import Note, notes_to_index_sequence, read_midi_notes, read_notes_txt
from minet_desktop.model.config import BaselineBundleConfig, BundleConfig, RegressorBundleConfig
from minet_desktop.model.performance import PerformanceDetector, load_detector, playing_probability
from minet_desktop.pose.keypoint_file import KeypointFile

#: Below this share of frames with a person, the result carries a warning (the rest is interpolated).
LOW_DETECTION_WARN = 0.5
#: A body or hand tracked in fewer frames than this share is reported: its movement is mostly guessed.
LOW_TRACKING_WARN = 0.5
#: Copies of the complex STFT Griffin-Lim holds at once (estimate, counted from its loop: the STFT, the
#: magnitudes times phases, the previous rebuild), for the memory budget of a long performance.
GRIFFIN_LIM_STFT_COPIES = 4


def generation_bytes(n_samples: int, audio: AudioConfig, takes: int) -> float:
    """An estimate of the memory ``takes`` takes of ``n_samples`` need at the end of generation: waveforms,
    float32 spectrograms and Griffin-Lim's complex64 STFTs (checked against the budget before starting)."""
    frames = n_samples / audio.hop_length + 1
    per_take = 4.0 * n_samples + frames * (
        4.0 * audio.n_bins + GRIFFIN_LIM_STFT_COPIES * 8.0 * (audio.n_fft // 2 + 1)
    )
    return per_take * takes


#: A MIDI file ending this much before the video is reported (rests are added); a shorter gap is the
#: ordinary silence after the last note.
MIDI_SHORT_WARN_S = 1.0


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The device to run on: ``device`` if given, else CUDA when available, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MinetError("CUDA was asked for but no CUDA GPU is available (use --device cpu)")
    if dev.type not in ("cpu", "cuda"):
        raise MinetError(f"unsupported device {device!r} (cpu or cuda)")
    return dev


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        try:
            return f"CUDA ({torch.cuda.get_device_name(device)})"
        except (RuntimeError, AssertionError):  # no driver (tests simulate a GPU) or a lost device
            return "CUDA"
    return f"CPU ({torch.get_num_threads()} threads)"


@dataclass
class GenerationResult:
    """Generated audio for one performance.

    Attributes
    ----------
    spectrogram
        ``(takes, F, T)`` float32 log-magnitudes (F = 1024 at the paper's settings), ``T = n_samples // hop + 1``.
    waveform
        ``(takes, n_samples)`` float32 at ``sample_rate``; ``n_samples`` matches the input's duration.
    codes
        ``(takes, n_codes)`` codes the prior drew (None for model types without codes).
    seeds
        The seed of each take (``seed + k``), to reproduce it.
    warnings
        What the user should know (MIDI trimmed or padded, little of the performer detected, fallbacks).
    timings
        Seconds spent per stage (summed over batches).
    steered_to
        The instrument Auto played, steered to the one detected in the movement (None: no instrument was
        chosen or steered to; see ``auto_steer``).
    """

    spectrogram: np.ndarray
    waveform: np.ndarray
    sample_rate: int
    frame_rate: float
    seeds: list[int]
    codes: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    device: str = "cpu"
    timings: dict[str, float] = field(default_factory=dict)
    tracked: dict[str, float] = field(default_factory=dict)
    steered_to: str | None = None

    def tracked_summary(self) -> str:
        """How much of the performance was tracked ("tracked: body 100%, right hand 62%, left hand 0% of the frames")."""
        parts = [f"{k} {v:.0%}" for k, v in self.tracked.items() if k != "any"]
        return "tracked: " + ", ".join(parts) + " of the frames" if parts else ""

    @property
    def takes(self) -> int:
        return int(self.waveform.shape[0])

    @property
    def duration(self) -> float:
        return self.waveform.shape[1] / self.sample_rate


def load_notes(notes: Sequence[Note] | str | PathLike[str]) -> list[Note]:
    """Notes from a list, a MIDI file (.mid/.midi) or a URMP-style notes text file (.txt)."""
    if isinstance(notes, str | PathLike):
        path = Path(notes)
        if path.suffix.lower() == ".txt":
            return read_notes_txt(path)
        return read_midi_notes(path)
    return list(notes)


def notes_for_clip(
    notes: Sequence[Note], frame_rate: float, n_frames: int, duration: float, source: str
) -> tuple[np.ndarray, list[str]]:
    """Frame-rate note indices for a clip of ``duration`` s, trimmed or padded with rests, and what was done."""
    seq, polyphonic = notes_to_index_sequence(notes, frame_rate, n_frames)
    warnings = []
    end = max((n.offset for n in notes), default=0.0)
    if end > duration + 1.0 / frame_rate:
        cut = sum(1 for n in notes if n.onset >= duration)
        warnings.append(
            f"{source}: the MIDI lasts {end:.2f} s but the video {duration:.2f} s; "
            f"trimmed at {duration:.2f} s ({cut} note(s) after the end left out)"
        )
    elif end < duration - MIDI_SHORT_WARN_S:
        warnings.append(
            f"{source}: the MIDI ends at {end:.2f} s but the video lasts {duration:.2f} s; "
            f"padded with rests for the last {duration - end:.2f} s"
        )
    if polyphonic:
        warnings.append(
            f"{source}: {polyphonic} frame(s) have several notes at once; the model plays one line, "
            "so the highest note was kept"
        )
    return seq, warnings


class Session:
    """A model bundle loaded once, ready to generate.

    Parameters
    ----------
    bundle_path
        A model bundle (``.safetensors``, see :mod:`minet_desktop.model.bundle`).
    device
        ``"cpu"`` or ``"cuda"``; by default CUDA when available, else the CPU.
    performance_detector
        The performance detector (:mod:`minet_desktop.model.performance`) that tells someone playing from
        someone talking, walking, ...: by default the app's (``resources/models/performance.safetensors``,
        when there is one); None: none (detection then relies on the prototypes alone).

    Raises
    ------
    InputError
        The bundle is missing, not a bundle, or of a model type this version cannot generate with.
    """

    def __init__(
        self,
        bundle_path: str | PathLike[str],
        device: str | torch.device | None = None,
        performance_detector: str | PathLike[str] | None | Literal["default"] = "default",
    ) -> None:
        self.bundle_path = Path(bundle_path)
        self.device = pick_device(device)
        self.backend: GenerationBackend = load_backend(self.bundle_path, self.device)
        if performance_detector == "default":
            default = performance_detector_path()
            performance_detector = default if default.is_file() else None
        self.performance: PerformanceDetector | None = None
        if performance_detector is not None:
            self.performance = load_detector(performance_detector)[0]

    def playing(self, keypoints: KeypointFile) -> float | None:
        """The performance detector's probability that ``keypoints`` show someone playing an instrument
        (the mean over its windows); None without a detector or a tracked person."""
        det = self.performance
        if det is None or keypoints.n_frames == 0:
            return None
        cfg = det.cfg
        if not valid_mask(keypoints.keypoints, cfg.confidence_threshold).any():
            return None
        T = max(1, int(round(keypoints.n_frames / keypoints.fps * cfg.frame_rate)))
        frames, _ = model_frames(
            keypoints.keypoints, keypoints.fps, cfg.frame_rate, T, cfg.confidence_threshold
        )
        return playing_probability(det, torch.from_numpy(np.ascontiguousarray(frames, np.float32)))[0]

    @property
    def cfg(self) -> BundleConfig | RegressorBundleConfig | BaselineBundleConfig:
        """The bundle's config; ``cfg.audio`` is the grid of the output whatever the model type."""
        return self.backend.cfg

    @property
    def model_card(self) -> str:
        return self.backend.model_card

    @property
    def model_type(self) -> str:
        return self.backend.model_type

    @property
    def device_name(self) -> str:
        return device_name(self.device)

    @property
    def sample_rate(self) -> int:
        return self.backend.audio.sample_rate

    @property
    def instruments(self) -> tuple[str, ...]:
        """Instrument codes the model can detect and play on request (``instrument=``); () when it cannot."""
        return self.backend.instruments

    def check_instrument(self, code: str | None) -> None:
        """MinetError when ``code`` is not None and cannot be played: an unknown code (the message lists the
        valid ones) or a model that cannot take an override (the message says so)."""
        if code is None:
            return
        known = self.instruments
        if not known:
            raise MinetError(self.backend.cannot_choose_instrument())
        if code not in known:
            valid = ", ".join(f"{c} ({INSTRUMENT_NAMES.get(c, c)})" for c in known)
            raise MinetError(f"unknown instrument {code!r}; valid instruments: {valid}")

    def detect(self, keypoints: KeypointFile) -> Detection:
        """The instruments the performance's movement looks like (label-free: the bundle's prototypes).

        A performance without a tracked person is an uncertain detection that says so, not an error;
        MinetError when the model cannot tell instruments at all.
        """
        if not self.instruments:
            raise MinetError(self.backend.cannot_choose_instrument())
        source = keypoints.source_name or "the keypoints"
        thr = self.backend.skeleton.confidence_threshold
        if (
            keypoints.n_frames == 0
            or keypoints.detected_fraction <= 0
            or not valid_mask(keypoints.keypoints, thr).any()
        ):
            return Detection([], True, f"no person was detected in {source}")
        frames, _ = skeleton_frames(
            keypoints.keypoints, keypoints.fps, self.backend.audio, self.backend.skeleton
        )
        playing = self.playing(keypoints)
        with torch.inference_mode():
            return self.backend.detect(frames, playing, self._playing_threshold())

    def _playing_threshold(self) -> float:
        return self.performance.cfg.threshold if self.performance is not None else 0.5

    # ----------------------------------------------------------------------------------------------

    def prepare(
        self,
        keypoints: KeypointFile,
        notes: Sequence[Note] | str | PathLike[str] | None = None,
        keep_octaves: bool = False,
        **options: object,
    ) -> tuple[Job, list[str]]:
        """Check the input and build the backend's job: skeleton frames, notes, sampling options.

        With an instrument override (``instrument=``) a MIDI model's notes are moved by whole octaves into the
        chosen instrument's range (:func:`~minet_desktop.core.instruments.octave_shift`, said in a warning), as
        an arranger would: a violin part asked of a tuba is played two octaves down. ``keep_octaves`` plays
        them as written."""
        self.check_instrument(options.get("instrument"))  # type: ignore[arg-type]
        source = keypoints.source_name or "the keypoints"
        if keypoints.n_frames == 0:
            raise InputError(source, "the keypoints have no frames")
        # The loaders check these already; a KeypointFile built in code (live, tests, scripts) is checked here.
        fps = check_fps(source, keypoints.fps)
        check_duration(source, keypoints.n_frames, fps)
        check_keypoint_values(source, keypoints.keypoints)
        thr = self.backend.skeleton.confidence_threshold
        if keypoints.detected_fraction <= 0 or not valid_mask(keypoints.keypoints, thr).any():
            raise InputError(
                source, f"no person was detected in {source}; there is no movement to generate from"
            )
        warnings = list(keypoints.warnings)
        if keypoints.detected_fraction < LOW_DETECTION_WARN:
            warnings.append(
                f"a person was detected in only {keypoints.detected_fraction:.0%} of the frames of {source}; "
                "the missing poses were interpolated"
            )
        tracked = tracked_fractions(keypoints.keypoints, thr)
        for part in ("body", "right hand", "left hand"):
            if tracked[part] < LOW_TRACKING_WARN:
                warnings.append(
                    f"the {part} was tracked in only {tracked[part]:.0%} of the frames of {source} (out of the "
                    "frame, hidden or not tracked); generating from the rest, with its movement filled in"
                )
        audio = self.backend.audio
        frames, n_samples = skeleton_frames(keypoints.keypoints, keypoints.fps, audio, self.backend.skeleton)
        if n_samples <= audio.n_fft // 2:  # Griffin-Lim's centred STFT cannot pad a shorter signal
            raise InputError(
                source,
                f"the performance lasts {keypoints.duration:.3g} s; this model needs at least "
                f"{(audio.n_fft // 2 + 1) / audio.sample_rate:.3g} s",
            )
        seq = None
        if notes is not None:
            note_list = load_notes(notes)
            note_source = str(notes) if isinstance(notes, str | PathLike) else "the notes"
            if not self.backend.needs_notes:
                warnings.append(
                    f"this model ({self.model_type}) is not conditioned on MIDI; {note_source} was ignored"
                )
            else:
                instrument = options.get("instrument")
                if isinstance(instrument, str) and not keep_octaves:
                    k = octave_shift([n.pitch for n in note_list], instrument)
                    if k:
                        note_list = [replace(n, pitch=n.pitch + 12 * k) for n in note_list]
                        warnings.append(
                            f"the notes of {note_source} were moved {'down' if k < 0 else 'up'} {abs(k)} "
                            f"octave{'s' if abs(k) > 1 else ''} into the {instrument_name(instrument)}'s range; "
                            "Keep octaves (--keep-octaves) plays them as written"
                        )
                seq, note_warnings = notes_for_clip(
                    note_list, audio.frame_rate, frames.shape[0], keypoints.duration, note_source
                )
                warnings += note_warnings
        elif self.backend.needs_notes:
            raise InputError(
                self.bundle_path, "this model is conditioned on MIDI: give it the notes to play (--midi FILE)"
            )
        job = Job(frames=frames, n_samples=n_samples, notes=seq, **options)  # type: ignore[arg-type]
        if job.instrument is None and job.auto_steer is not False and self.instruments:
            job.playing = self.playing(keypoints)  # Auto asks the detection, which asks this
            job.playing_threshold = self._playing_threshold()
        return job, warnings

    def iter_generate(
        self,
        keypoints: KeypointFile,
        notes: Sequence[Note] | str | PathLike[str] | None = None,
        takes: int = 1,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        griffin_lim_iters: int | None = None,
        motion_window: MotionWindow = "centered",
        motion_stride: int | None = None,
        use_cache: bool = True,
        instrument: str | None = None,
        keep_octaves: bool = False,
        articulation: Articulation | None = DEFAULT_ARTICULATION,
        auto_steer: bool | None = None,
    ) -> Generator[Progress, None, GenerationResult]:
        """Generate ``takes`` performances of the music in ``keypoints``; yields progress, returns the result.

        ``notes``: None, a list of :class:`~minet_desktop.media.midi.Note`, or a MIDI / notes file (needed by
        MIDI-conditioned models; trimmed or padded to the video with a warning). ``seed`` None draws one (it
        is in the result). ``griffin_lim_iters`` None uses the bundle's. ``motion_window`` / ``motion_stride``:
        how each code's movement vector is computed (:mod:`minet_desktop.engine.motion`). ``use_cache=False``
        recomputes the prior's window at every code (for benchmarks; same codes). ``instrument``: play this
        instrument (a code of :attr:`instruments`) instead of the one the movement shows; the timing still
        follows the movement, and a MIDI model's notes move by whole octaves into its range unless
        ``keep_octaves`` (:meth:`prepare`). ``articulation``: MI Net models start notes at the movement's events
        (a MIDI model at its score's onsets; :mod:`minet_desktop.engine.articulation`); None leaves the decoder's
        spectrogram as it is. ``auto_steer``: without ``instrument``, steer to the instrument the movement is
        detected as (:meth:`detect`; not when it looks like none); None: as the bundle says
        (``InstrumentPrototypesConfig.auto_steer``), False: the prior reads the movement alone. The result's
        ``steered_to`` says which.
        """
        check_sampling_options(takes, temperature, top_k, top_p, griffin_lim_iters)
        job, warnings = self.prepare(
            keypoints,
            notes,
            keep_octaves=keep_octaves,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            griffin_lim_iters=griffin_lim_iters,
            motion_window=motion_window,
            motion_stride=motion_stride,
            use_cache=use_cache,
            instrument=instrument,
            articulation=articulation,
            auto_steer=auto_steer,
        )
        tracked = tracked_fractions(keypoints.keypoints, self.backend.skeleton.confidence_threshold)
        check_allocation(
            keypoints.source_name or None,
            generation_bytes(job.n_samples, self.backend.audio, takes),
            f"generating {takes} take(s) of {job.n_samples / self.backend.audio.sample_rate:.0f} s",
        )
        base = random.SystemRandom().randrange(2**31) if seed is None else int(seed)
        seeds = [base + k for k in range(takes)]
        outputs: dict[int, BatchOutput] = {}
        device, batch = self.device, takes
        try:
            while len(outputs) < takes:
                todo = [k for k in range(takes) if k not in outputs][:batch]
                done_before = len(outputs)
                try:
                    gen = self.backend.iter_batch(job, [seeds[k] for k in todo], device)
                    while True:
                        try:
                            p = next(gen)
                        except StopIteration as stop:
                            out: BatchOutput = stop.value
                            break
                        share = len(todo) / takes
                        yield Progress(p.stage, p.done, p.total, done_before / takes + share * p.fraction)
                except torch.OutOfMemoryError:
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                    if batch > 1:
                        batch = (batch + 1) // 2
                        warnings.append(
                            f"out of memory on {device_name(device)}: generating {batch} take(s) at a time"
                        )
                        continue
                    if device.type != "cpu":
                        warnings.append(
                            f"out of memory on {device_name(device)} even for one take: continuing on the CPU "
                            "(slower)"
                        )
                        device = torch.device("cpu")
                        self.backend.to(device)
                        continue
                    raise MinetError(
                        "out of memory on the CPU: the performance is too long for this computer's memory"
                    ) from None
                for j, k in enumerate(todo):
                    outputs[k] = BatchOutput(
                        out.spectrogram[j],
                        out.waveform[j],
                        None if out.codes is None else out.codes[j],
                    )
        finally:
            if device != self.device:
                self.backend.to(self.device)
        ordered = [outputs[k] for k in range(takes)]
        codes = None
        if all(o.codes is not None for o in ordered):
            codes = torch.stack([o.codes for o in ordered]).numpy()  # type: ignore[misc]
        return GenerationResult(
            spectrogram=torch.stack([o.spectrogram for o in ordered]).numpy().astype(np.float32, copy=False),
            waveform=torch.stack([o.waveform for o in ordered]).numpy().astype(np.float32, copy=False),
            sample_rate=self.backend.audio.sample_rate,
            frame_rate=self.backend.audio.frame_rate,
            seeds=seeds,
            codes=codes,
            warnings=warnings,
            device=device_name(device),
            timings=dict(job.timings),
            tracked=tracked,
            steered_to=job.steered_to,
        )

    def generate(
        self,
        keypoints: KeypointFile,
        notes: Sequence[Note] | str | PathLike[str] | None = None,
        takes: int = 1,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        griffin_lim_iters: int | None = None,
        progress: ProgressCallback | None = None,
        should_cancel: ShouldCancel | None = None,
        **options: object,
    ) -> GenerationResult:
        """:meth:`iter_generate` run to the end: ``progress(Progress)`` after every chunk, and
        :class:`~minet_desktop.core.errors.Cancelled` as soon as ``should_cancel()`` is true (checked at
        every chunk; within ~0.2 s on a CPU at the paper's size)."""
        gen = self.iter_generate(
            keypoints,
            notes,
            takes=takes,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            seed=seed,
            griffin_lim_iters=griffin_lim_iters,
            **options,  # type: ignore[arg-type]
        )
        t0 = time.perf_counter()
        try:
            while True:
                if should_cancel is not None and should_cancel():
                    raise Cancelled("generation cancelled")
                try:
                    p = next(gen)
                except StopIteration as stop:
                    result: GenerationResult = stop.value
                    result.timings["total"] = time.perf_counter() - t0
                    return result
                if progress is not None:
                    progress(p)
        finally:
            gen.close()
