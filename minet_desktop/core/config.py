"""One source of truth for parameters.

Frozen dataclasses describe the audio representation, the mel representation of Visually Indicated Music, the skeleton
layout and the preprocessing cache. They serialise to plain JSON and travel inside every cache manifest
and (later) every model bundle, so the app always uses the settings a model was trained with.

Unknown keys are an error, never ignored: a checkpoint or cache written by another version must not load
silently with different settings (the Jukebox failure mode described in ../shared/STYLE.md).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from minet_desktop.core.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class AudioConfig:
    """Log-magnitude spectrogram of the MI Net paper §4 (MI Net).

    16 kHz audio, 1024 frequency bins, hop 256 -> 62.5 spectrogram frames per second.
    A 2048-point STFT has 1025 bins; the Nyquist bin carries almost no energy in instrument audio, so it is
    dropped to give exactly the paper's 1024 and restored as silence on inversion.
    """

    sample_rate: int = 16_000
    n_fft: int = 2048
    hop_length: int = 256
    n_bins: int = 1024
    # Magnitudes below this are clamped before the log: -11.5 nats is ~-100 dB re full scale, below what a
    # 16-bit recording holds, so the clamp only removes -inf without touching audible content.
    log_floor: float = 1e-5
    # Griffin-Lim iterations when turning a spectrogram back into sound. 64 gives a spectral convergence of
    # ~0.03 on FluidSynth violin/flute in ~0.4 s per 4 s of audio on one CPU core; more keeps improving it
    # (100 -> ~0.017, 200 -> ~0.008) at proportional cost (tests/features/test_audio_representation.py).
    griffin_lim_iters: int = 64

    @property
    def frame_rate(self) -> float:
        """Spectrogram frames per second (62.5 for the defaults)."""
        return self.sample_rate / self.hop_length

    def __post_init__(self) -> None:
        if self.n_bins > self.n_fft // 2 + 1:
            raise ConfigError(f"AudioConfig: n_bins={self.n_bins} exceeds n_fft//2+1={self.n_fft // 2 + 1}")
        if min(self.sample_rate, self.n_fft, self.hop_length, self.n_bins, self.griffin_lim_iters) <= 0:
            raise ConfigError("AudioConfig: sizes must be positive")
        if not self.log_floor > 0:
            raise ConfigError("AudioConfig: log_floor must be > 0")


@dataclass(frozen=True)
class MelConfig:
    """80-band log-mel of Visually Indicated Music (22.05 kHz, 1024-sample window, 512-sample hop)."""

    sample_rate: int = 22_050
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 80
    f_min: float = 0.0
    # Nyquist of 22.05 kHz.
    f_max: float = 11_025.0
    log_floor: float = 1e-5
    # Slaney mel scale and area normalisation on linear magnitudes, as common 22.05 kHz vocoder front ends
    # (HiFi-GAN) use; Griffin-Lim through the pseudo-inverse gets SC 0.064 with these against 0.105 with HTK.
    mel_scale: str = "slaney"
    mel_norm: str = "slaney"
    # Visually Indicated Music §3.4 inverts with Griffin-Lim; 100 iterations in its method section.
    griffin_lim_iters: int = 100

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    def __post_init__(self) -> None:
        if self.f_max > self.sample_rate / 2 or self.f_min < 0 or self.f_min >= self.f_max:
            raise ConfigError(f"MelConfig: need 0 <= f_min < f_max <= {self.sample_rate / 2}")
        if self.mel_scale not in ("slaney", "htk") or self.mel_norm not in ("slaney", "none"):
            raise ConfigError("MelConfig: mel_scale must be 'slaney' or 'htk', mel_norm 'slaney' or 'none'")


@dataclass(frozen=True)
class SkeletonConfig:
    """The canonical skeleton: Solos' 47 joints (see :mod:`minet_desktop.core.skeleton`)."""

    layout: str = "solos47"
    n_joints: int = 47
    # Joints whose detector confidence is below this are treated as missing and interpolated (MI Net paper §3).
    # MediaPipe reports visibility ~0.5-0.9 for partly occluded joints that are still usable, OpenPose 0.1-0.3
    # for guesses; 0.3 keeps the former and drops the latter.
    confidence_threshold: float = 0.3

    def __post_init__(self) -> None:
        if self.layout != "solos47" or self.n_joints != 47:
            raise ConfigError(f"SkeletonConfig: unknown layout {self.layout!r} with {self.n_joints} joints")
        if not 0.0 <= self.confidence_threshold < 1.0:
            raise ConfigError("SkeletonConfig: confidence_threshold must be in [0, 1)")


@dataclass(frozen=True)
class CacheConfig:
    """How `minet-train prepare` lays out a dataset for training; stored in the cache manifest."""

    audio: AudioConfig = field(default_factory=AudioConfig)
    mel: MelConfig = field(default_factory=MelConfig)
    skeleton: SkeletonConfig = field(default_factory=SkeletonConfig)
    # The MI Net paper §4 trains on random 4-second segments.
    crop_seconds: float = 4.0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1):
            raise ConfigError("CacheConfig: split fractions must be in [0, 1)")
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError("CacheConfig: val_fraction + test_fraction must leave training data")
        if self.crop_seconds <= 0:
            raise ConfigError("CacheConfig: crop_seconds must be > 0")


# --------------------------------------------------------------------------------------------------------
# Serialisation


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain, JSON-ready dict of a config dataclass (nested configs become nested dicts)."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"expected a config dataclass instance, got {type(cfg).__name__}")
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected an object for {tp.__name__}, got {type(value).__name__}")
        return from_dict(tp, value, _where=where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: value {value!r} does not match {tp}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):  # TOML and JSON both spell nan and inf; no setting means either
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict[str, Any], _where: str | None = None) -> T:
    """Build config ``cls`` from a dict, strictly.

    Unknown keys raise :class:`ConfigError` naming the key; missing keys take the dataclass default.
    """
    where = _where or cls.__name__
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:  # a value out of range: say where it came from (the recipe file, the table)
        if _where is None:
            raise
        raise ConfigError(f"{where}: {exc}") from None
    except TypeError as exc:  # pragma: no cover - defensive, dataclass signature mismatch
        raise ConfigError(f"{where}: {exc}") from exc


def to_json(cfg: Any) -> str:
    return json.dumps(to_dict(cfg), indent=2, sort_keys=True)


def from_json(cls: type[T], text: str) -> T:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{cls.__name__}: not valid JSON ({exc})") from exc
    return from_dict(cls, data)


def describe_mismatch(expected: Any, found: Any) -> list[str]:
    """Human-readable list of fields that differ between two configs of the same type ("audio.hop_length: 256 != 512")."""
    a, b = to_dict(expected), to_dict(found)
    out: list[str] = []

    def walk(x: Any, y: Any, prefix: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                walk(x.get(k), y.get(k), f"{prefix}.{k}" if prefix else k)
        elif x != y:
            out.append(f"{prefix}: expected {x!r}, found {y!r}")

    walk(a, b, "")
    return out
