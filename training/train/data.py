"""Data for the two training stages, all read from the cache of `minet-train prepare`.

- :func:`check_cache` refuses a cache whose audio or skeleton settings differ from the model's and warns
  when the training split holds one instrument only.
- :func:`spectrogram_stats`: per-bin mean and std of the training spectrograms, computed once before the
  VQ-VAE trains (:meth:`VQVAE.set_normalization`; they travel in the bundle).
- :func:`precompute_codes`: the frozen VQ-VAE's codes of every track, ``codes.npy`` next to ``spec.npy`` at
  the code rate, with ``codes.json`` recording which VQ-VAE (a hash of its weights) made them, so that codes
  of another VQ-VAE are recomputed instead of silently reused.
- :class:`PriorCropDataset`: crops aligned to code boundaries: ``n`` codes, their ``n * frames_per_code``
  skeleton frames and note frames.
- :class:`StepBatchSampler`: batches as a function of (seed, epoch, rank, step), so a run resumed from a
  mid-epoch checkpoint sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import abc
import hashlib
import json
import math
import warnings
from collections.abc import Callable, Iterator
from os import PathLike
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from minet_desktop.core.atomic import atomic_path, atomic_write_text
from minet_desktop.core.config import describe_mismatch
from minet_desktop.core.errors import ConfigError, InputError
from minet_desktop.model.config import BundleConfig
from minet_desktop.model.vqvae import VQVAE
from training.cache import (
    ARRAY_FIELDS,
    MANIFEST_NAME,
    CropDataset,
    load_manifest,
    manifest_config,
    n_crop_frames,
    track_array_problems,
)
from training.datasets.base import instrument_index
from training.train.config import TrainConfig

CODES_INDEX = "codes.json"
CODES_FILE = "codes.npy"


class TrainingDataWarning(UserWarning):
    """Training goes on, but the data will limit what the model learns (e.g. one instrument only)."""


# --------------------------------------------------------------------------------------------------------
# The cache as a whole


def check_cache(cache_dir: str | PathLike[str], cfg: BundleConfig) -> dict[str, Any]:
    """The cache's manifest, after checking it was made for this model.

    Raises
    ------
    ConfigError
        The cache's spectrogram (AudioConfig) or skeleton settings differ from the model's; the message
        names each differing field.
    InputError
        Not a cache, or no training tracks.

    Warns
    -----
    TrainingDataWarning
        The training split has one instrument only: the model can only learn that instrument's sound.
    """
    cache = Path(cache_dir)
    manifest = load_manifest(cache)
    cache_cfg = manifest_config(manifest)
    problems = [f"audio.{m}" for m in describe_mismatch(cfg.audio, cache_cfg.audio)]
    problems += [f"skeleton.{m}" for m in describe_mismatch(cfg.skeleton, cache_cfg.skeleton)]
    if problems:
        raise ConfigError(
            f"{cache}: the cache was prepared with other settings than the model's "
            f"(expected = model, found = cache): {'; '.join(problems)}. "
            "Prepare the data again with the model's settings, or train with a recipe whose [model.audio] "
            "matches the cache."
        )
    train = [e for e in manifest["tracks"].values() if e.get("split") == "train"]
    if not train:
        raise InputError(cache / MANIFEST_NAME, "the cache has no tracks in the training split")
    # Empty, truncated or object-dtype arrays, or a track of 0 frames: refused before any training starts.
    for entry in manifest["tracks"].values():
        if entry.get("split") in ("train", "val"):
            problems = track_array_problems(cache, entry, ARRAY_FIELDS)
            if problems:
                raise problems[0]
    instruments = sorted({e["instrument"] for e in train})
    if len(instruments) == 1:
        warnings.warn(
            f"the training split of {cache} has one instrument only ({instruments[0]}): the model will learn "
            "that instrument's sound and nothing else",
            TrainingDataWarning,
            stacklevel=2,
        )
    return manifest


def split_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """Tracks, minutes and instruments of the train and val splits (for logs and the model card)."""
    out: dict[str, Any] = {}
    for split in ("train", "val"):
        rows = [e for e in manifest["tracks"].values() if e.get("split") == split]
        out[split] = {
            "tracks": len(rows),
            "minutes": round(sum(float(e.get("duration", 0.0)) for e in rows) / 60, 2),
            "instruments": sorted({e["instrument"] for e in rows}),
        }
    return out


def spectrogram_stats(
    cache_dir: str | PathLike[str], split: str = "train", chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean and std over every frame of the ``split`` tracks: two (F,) float32 arrays.

    Non-finite values (a damaged cache file) are left out, so the statistics stay usable and the loss,
    not the normalisation, reports the bad track.
    """
    cache = Path(cache_dir)
    manifest = load_manifest(cache)
    total = sq = count = None
    for entry in sorted(manifest["tracks"].values(), key=lambda e: e["id"]):
        if entry.get("split") != split:
            continue
        spec = np.load(cache / entry["dir"] / "spec.npy", mmap_mode="r", allow_pickle=False)
        for s in range(0, spec.shape[0], chunk):
            x = np.asarray(spec[s : s + chunk], dtype=np.float64)
            ok = np.isfinite(x)
            x = np.where(ok, x, 0.0)
            if total is None:
                total, sq, count = np.zeros(x.shape[1]), np.zeros(x.shape[1]), np.zeros(x.shape[1])
            total += x.sum(0)
            sq += (x * x).sum(0)
            count += ok.sum(0)
    if total is None or sq is None or count is None:
        raise InputError(cache / MANIFEST_NAME, f"the cache has no tracks in the {split!r} split")
    n = np.maximum(count, 1)
    mean = total / n
    std = np.sqrt(np.maximum(sq / n - mean * mean, 0.0))
    return mean.astype(np.float32), std.astype(np.float32)


# --------------------------------------------------------------------------------------------------------
# Codes of the frozen VQ-VAE


def vqvae_fingerprint(vqvae: torch.nn.Module) -> str:
    """SHA-256 of the VQ-VAE's weights and buffers (names, dtypes, shapes, bytes): the same weights give
    the same hash whether they come from a checkpoint or a bundle."""
    return _state_hash(vqvae.state_dict())


#: The parts of a VQ-VAE's state that decide which code a spectrogram gets.
CODE_PARTS = ("encoder.", "quantizer.", "spec_mean", "spec_std")


def codes_fingerprint(vqvae: torch.nn.Module) -> str:
    """SHA-256 of what decides the codes: encoder, codebook and input normalisation, not the decoder.

    Two VQ-VAEs with the same codes fingerprint give every spectrogram the same codes (a decoder trained
    further by ``minet-train decoder`` keeps it), so cached codes and the priors trained on them serve both.
    """
    return _state_hash({k: v for k, v in vqvae.state_dict().items() if k.startswith(CODE_PARTS)})


def _state_hash(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name, t in sorted(state.items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _spec_stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


@torch.no_grad()
def precompute_codes(
    cache_dir: str | PathLike[str],
    vqvae: VQVAE,
    fingerprint: str,
    device: str | torch.device = "cpu",
    chunk_frames: int = 16384,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Encode every cached track with the frozen ``vqvae`` into ``codes.npy`` (int16 or int32, (n_codes,)).

    Tracks whose codes were made by the same encoder and codebook (``fingerprint``, :func:`codes_fingerprint`)
    from the same ``spec.npy`` are kept;
    everything else is recomputed. Long tracks are encoded in chunks of ``chunk_frames`` (a multiple of the
    downsampling) to bound memory. Returns the number of tracks encoded.
    """
    cache = Path(cache_dir)
    manifest = load_manifest(cache)
    fpc = vqvae.cfg.downsample
    index_path = cache / CODES_INDEX
    old: dict[str, Any] = {}
    if index_path.is_file():
        try:
            old = json.loads(index_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            old = {}  # a damaged index only costs a recomputation
    whole = vqvae_fingerprint(vqvae)
    # An index from before the codes fingerprint names the VQ-VAE that wrote it: the same weights, same codes.
    same_codes = old.get("codes_sha256", "legacy") == fingerprint or (
        "codes_sha256" not in old and old.get("vqvae_sha256") == whole
    )
    same_model = same_codes and old.get("frames_per_code") == fpc
    old_tracks: dict[str, Any] = old.get("tracks", {}) if same_model else {}
    # Every VQ-VAE known to give these codes (decoders trained further share them), for check_codes.
    known = {whole, *(old.get("vqvae_sha256s", [old.get("vqvae_sha256")]) if same_model else [])} - {None}
    dtype = np.int16 if vqvae.cfg.codebook_size <= np.iinfo(np.int16).max else np.int32
    chunk = max(fpc, chunk_frames - chunk_frames % fpc)
    was_training = vqvae.training
    vqvae.to(device).eval()
    records: dict[str, Any] = {}
    entries = sorted(manifest["tracks"].values(), key=lambda e: e["id"])
    computed = 0
    try:
        for i, entry in enumerate(entries):
            tdir = cache / entry["dir"]
            spec_path, codes_path = tdir / "spec.npy", tdir / CODES_FILE
            n_codes = math.ceil(int(entry["n_frames"]) / fpc)
            record = {"dir": entry["dir"], "n_codes": n_codes, "spec": _spec_stamp(spec_path)}
            if old_tracks.get(entry["id"]) == record and codes_path.is_file():
                records[entry["id"]] = record
                continue
            spec = np.load(spec_path, mmap_mode="r", allow_pickle=False)  # (T, F) time-major
            parts = []
            for s in range(0, spec.shape[0], chunk):
                x = torch.from_numpy(np.ascontiguousarray(spec[s : s + chunk].T, dtype=np.float32))
                parts.append(vqvae.encode(x[None].to(device))[0].cpu())
            codes = torch.cat(parts).numpy().astype(dtype)
            if codes.shape != (n_codes,):  # pragma: no cover - encode's length contract
                raise RuntimeError(f"{entry['id']}: {codes.shape[0]} codes, expected {n_codes}")
            with atomic_path(codes_path) as tmp, open(tmp, "wb") as fh:
                np.save(fh, codes, allow_pickle=False)
            records[entry["id"]] = record
            computed += 1
            if progress is not None:
                progress(i + 1, len(entries))
    finally:
        vqvae.train(was_training)
    # codes_sha256 keys the codes; vqvae_sha256s names the whole VQ-VAEs that give them (runs made before the
    # codes fingerprint existed recorded one of those).
    index = {
        "codes_sha256": fingerprint,
        "vqvae_sha256s": sorted(known),
        "frames_per_code": fpc,
        "tracks": records,
    }
    atomic_write_text(index_path, json.dumps(index, indent=1, sort_keys=True))
    return computed


def check_codes(cache_dir: str | PathLike[str], fingerprint: str) -> None:
    """Raise InputError unless every track has codes of the encoder and codebook with ``fingerprint``
    (:func:`codes_fingerprint`, or the :func:`vqvae_fingerprint` of a VQ-VAE that gives them)."""
    cache = Path(cache_dir)
    path = cache / CODES_INDEX
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"no usable codes index ({exc})") from exc
    if fingerprint not in {index.get("codes_sha256"), *index.get("vqvae_sha256s", [])}:
        raise InputError(path, "the cached codes were made by another VQ-VAE")


# --------------------------------------------------------------------------------------------------------
# Crops


class PriorCropDataset(CropDataset):
    """Crops for the prior: ``n_codes`` codes of the frozen VQ-VAE and the frames they cover.

    Item: ``codes`` (n_codes,) long, ``skeleton`` (3, 47, n_codes * fpc) float32, ``notes`` (n_codes * fpc,)
    long, ``length`` () real codes (short tracks are padded: codes with 0, the skeleton with its last pose,
    notes with rest), ``start`` () first code, ``has_notes``, ``instrument``, ``track_id``. Crop starts are
    drawn, like :class:`CropDataset`'s, from ``(seed, epoch, index)``.
    """

    def __init__(
        self,
        cache_dir: str | PathLike[str],
        split: str,
        n_codes: int,
        frames_per_code: int,
        seed: int = 0,
        *,
        crops_per_track: int = 1,
        require_notes: bool = False,
        camera_views: bool = False,
        pairs: bool = False,
    ) -> None:
        super().__init__(
            cache_dir, split, fields=("skeleton", "notes"), seed=seed, crops_per_track=crops_per_track
        )
        #: Track id -> views file (``minet-train views``), when ``camera_views``; ``pairs`` adds
        #: ``skeleton_pair`` to every item: the same performance at another moment, seen by another camera.
        self.view_files: dict[str, Path] = _view_files(self.cache_dir) if camera_views else {}
        if camera_views and not self.view_files:
            warnings.warn(
                f"{self.cache_dir}: camera_views is on but the cache has no views (minet-train views CORPUS "
                "--cache CACHE writes them for a synthetic corpus); every crop keeps its own skeleton",
                TrainingDataWarning,
                stacklevel=2,
            )
        self.pairs = bool(pairs)
        if require_notes:
            self.entries = [e for e in self.entries if e.get("has_notes")]
            if not self.entries:
                raise InputError(
                    self.cache_dir / MANIFEST_NAME,
                    f"no track of the {split!r} split has notes: the MIDI-conditioned prior needs them",
                )
        self.n_codes, self.frames_per_code = int(n_codes), int(frames_per_code)
        for e in self.entries:
            p = self.cache_dir / e["dir"] / CODES_FILE
            if not p.is_file():
                raise InputError(p, "no codes for this track: precompute them first (minet-train prior does)")

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        ti = index % len(self.entries)
        entry = self.entries[ti]
        codes_all = self._array(ti, "codes")
        L, fpc = self.n_codes, self.frames_per_code
        total = int(codes_all.shape[0])
        rng = np.random.default_rng((self.seed, self.epoch, index))
        start = int(rng.integers(0, total - L + 1)) if total > L else 0
        length = min(L, total - start)
        codes = np.zeros(L, np.int64)
        codes[:length] = codes_all[start : start + length]
        f0, n_frames = start * fpc, L * fpc
        skel_all = self._array(ti, "skeleton")
        views = self._views(ti)
        vrng = np.random.default_rng((self.seed, self.epoch, index, 0x71E5))
        view = int(vrng.integers(views.shape[0])) if views is not None else 0
        k = self._crop(skel_all if view == 0 else views[view], f0, n_frames)
        k = self._augmented(k, index)
        pair = None
        if self.pairs:
            other = int(vrng.integers(views.shape[0] - 1)) if views is not None and views.shape[0] > 1 else 0
            other += int(views is not None and views.shape[0] > 1 and other >= view)
            total_f = int(skel_all.shape[0])
            p0 = int(vrng.integers(0, total_f - n_frames + 1)) if total_f > n_frames else 0
            pair = self._crop(skel_all if other == 0 else views[other], p0, n_frames)
            pair = self._augmented(pair, index + (1 << 40))
        notes_all = self._array(ti, "notes")
        notes = np.zeros(n_frames, np.int64)
        seg = notes_all[f0 : f0 + n_frames]
        notes[: seg.shape[0]] = seg
        item = {
            "codes": torch.from_numpy(codes),
            "skeleton": torch.from_numpy(np.ascontiguousarray(k.transpose(1, 2, 0))),
            "notes": torch.from_numpy(notes),
            "length": torch.tensor(length, dtype=torch.long),
            "start": torch.tensor(start, dtype=torch.long),
            "has_notes": torch.tensor(bool(entry.get("has_notes", False))),
            "instrument": torch.tensor(instrument_index(entry["instrument"]), dtype=torch.long),
            "track_id": entry["id"],
        }
        if pair is not None:
            item["skeleton_pair"] = torch.from_numpy(np.ascontiguousarray(pair.transpose(1, 2, 0)))
        return item

    @staticmethod
    def _crop(skel: np.ndarray, f0: int, n_frames: int) -> np.ndarray:
        """Frames ``f0 .. f0 + n_frames`` of a ``(T, 3, 47)`` skeleton as float32, padded with its last pose."""
        k = np.asarray(skel[f0 : f0 + n_frames], dtype=np.float32)  # (<=n_frames, 3, 47)
        if k.shape[0] < n_frames:
            k = np.concatenate([k, np.repeat(k[-1:], n_frames - k.shape[0], axis=0)], axis=0)
        return k

    def _views(self, ti: int) -> np.ndarray | None:
        """The track's ``(V, T, 3, 47)`` views (memory-mapped), or None without any."""
        path = self.view_files.get(self.entries[ti]["id"])
        if path is None:
            return None
        key = (ti, "views")
        arr = self._arrays.get(key)
        if arr is None:
            try:
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise InputError(
                    path, f"unreadable views file ({exc}); run minet-train views again"
                ) from None
            if arr.ndim != 4 or arr.shape[1] != int(self.entries[ti]["n_frames"]) or arr.shape[2:] != (3, 47):
                raise InputError(
                    path, f"views of shape {arr.shape} do not match the track; run minet-train views again"
                )
            self._arrays[key] = arr
        return arr


def _view_files(cache_dir: Path) -> dict[str, Path]:
    """Track id -> views file from the cache's ``views.json`` (empty when there is none)."""
    import json

    path = cache_dir / "views.json"
    if not path.is_file():
        return {}
    try:
        tracks = json.loads(path.read_text())["tracks"]
        return {str(t): cache_dir / str(v["file"]) for t, v in tracks.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(path, f"not a views index ({exc}); run minet-train views again") from None


class EpochIndexed(Dataset):
    """``dataset`` with the epoch folded into the index: item ``epoch * len + i`` is crop ``i`` of ``epoch``.

    The sampler decides the epoch, so DataLoader workers (which hold copies of the dataset) never need to
    be told about it.
    """

    def __init__(self, dataset: CropDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        epoch, i = divmod(int(index), len(self.dataset))
        self.dataset.set_epoch(epoch)
        return self.dataset[i]


class StepBatchSampler(Sampler[list[int]]):
    """Batches of one rank, a pure function of (seed, epoch, rank, step).

    An epoch is ``steps_per_epoch = max(1, n // (batch_size * world))`` steps over one permutation of the
    ``n`` items (drawn from ``(seed, epoch)``; repeated when there are fewer items than one global batch).
    Rank ``r`` takes the ``r``-th slice of each global batch. ``position()`` is asked, when iteration
    starts, for ``(epoch, first_step)``: a resumed run starts mid-epoch at the step it stopped at.
    ``shuffle=False`` (validation) gives the items in order, epoch 0, every time.
    """

    def __init__(
        self,
        n_items: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        shuffle: bool = True,
        position: Callable[[], tuple[int, int]] | None = None,
    ) -> None:
        self.n, self.batch_size, self.seed = int(n_items), int(batch_size), int(seed)
        self.rank, self.world, self.shuffle = int(rank), int(world), shuffle
        self.position = position
        if shuffle:
            self.steps_per_epoch = max(1, self.n // (self.batch_size * self.world))
        else:
            self.steps_per_epoch = max(1, math.ceil(self.n / (self.batch_size * self.world)))

    def __len__(self) -> int:
        return self.steps_per_epoch

    def __iter__(self) -> Iterator[list[int]]:
        epoch, first = self.position() if (self.position is not None and self.shuffle) else (0, 0)
        global_batch = self.batch_size * self.world
        need = self.steps_per_epoch * global_batch
        if self.shuffle:
            rng = np.random.default_rng((self.seed, epoch))
            order = np.concatenate([rng.permutation(self.n) for _ in range(math.ceil(need / self.n))])
        else:  # every item once; the last global batch wraps around to keep the ranks in step
            order = np.resize(np.arange(self.n), need)
        for step in range(max(0, first), self.steps_per_epoch):
            lo = step * global_batch + self.rank * self.batch_size
            yield [int(epoch * self.n + i) for i in order[lo : lo + self.batch_size]]


def _loader(dataset: CropDataset, sampler: StepBatchSampler, cfg: TrainConfig) -> DataLoader:
    # Own generator: the loader's worker seeds must not consume the global torch RNG, which exact resume
    # restores for dropout and codebook restarts.
    return DataLoader(
        EpochIndexed(dataset),
        batch_sampler=sampler,
        num_workers=cfg.num_workers,
        persistent_workers=False,
        pin_memory=torch.cuda.is_available(),
        generator=torch.Generator().manual_seed(cfg.seed),
    )


class _CropDataModule(L.LightningDataModule, abc.ABC):
    """Train/val loaders whose batches depend only on the step (see :class:`StepBatchSampler`).

    Subclasses say which crops to load by implementing :meth:`_datasets`.
    """

    def __init__(self, cache_dir: str | PathLike[str], cfg: BundleConfig, train: TrainConfig) -> None:
        super().__init__()
        self.cache_dir, self.cfg, self.train_cfg = Path(cache_dir), cfg, train
        self.train_set: CropDataset | None = None
        self.val_set: CropDataset | None = None
        self._train_sampler: StepBatchSampler | None = None

    @abc.abstractmethod
    def _datasets(self) -> tuple[CropDataset, CropDataset | None]:
        """The training crops and the validation crops (None without a val split)."""

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set, self.val_set = self._datasets()
            if self.train_cfg.augment_skeleton:
                # Training crops only: validation measures the model on the skeletons as they are.
                from training.train.augment import SkeletonAugment

                self.train_set.augment = SkeletonAugment(frame_rate=self.train_set.config.audio.frame_rate)

    def _rank_world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _position(self) -> tuple[int, int]:
        trainer = self.trainer
        assert trainer is not None and self._train_sampler is not None
        epoch = trainer.current_epoch
        # Every epoch is exactly steps_per_epoch optimiser steps, so the step within the epoch follows.
        first = trainer.global_step - epoch * self._train_sampler.steps_per_epoch
        return epoch, min(max(first, 0), self._train_sampler.steps_per_epoch)

    def train_dataloader(self) -> DataLoader:
        self.setup()
        assert self.train_set is not None
        rank, world = self._rank_world()
        self._train_sampler = StepBatchSampler(
            len(self.train_set),
            self.train_cfg.batch_size,
            self.train_cfg.seed,
            rank,
            world,
            True,
            self._position,
        )
        return _loader(self.train_set, self._train_sampler, self.train_cfg)

    def val_dataloader(self) -> DataLoader | list[Any]:
        self.setup()
        if self.val_set is None:
            return []
        rank, world = self._rank_world()
        sampler = StepBatchSampler(
            len(self.val_set), self.train_cfg.batch_size, 0, rank, world, shuffle=False
        )
        return _loader(self.val_set, sampler, self.train_cfg)


def _optional_split(make: Callable[[], CropDataset]) -> CropDataset | None:
    try:
        return make()
    except InputError:  # no tracks in that split (a tiny dataset): validation is skipped
        return None


class VQVAEDataModule(_CropDataModule):
    """Spectrogram crops (``spec`` (F, T), ``length``) of ``crop_seconds`` for the VQ-VAE."""

    def _datasets(self) -> tuple[CropDataset, CropDataset | None]:
        t = self.train_cfg
        kw: dict[str, Any] = {"crop_seconds": t.crop_seconds, "fields": ("spec",)}
        train = CropDataset(self.cache_dir, "train", seed=t.seed, crops_per_track=t.crops_per_track, **kw)
        val = _optional_split(
            lambda: CropDataset(
                self.cache_dir, "val", seed=t.seed + 1, crops_per_track=t.val_crops_per_track, **kw
            )
        )
        return train, val


def prior_crop_codes(cfg: BundleConfig, train: TrainConfig, cache_dir: str | PathLike[str]) -> int:
    """Codes per prior crop: the codes of ``crop_seconds``, at most one prior window (``block_size``)."""
    a = manifest_config(load_manifest(cache_dir)).audio
    frames = n_crop_frames(train.crop_seconds, a.sample_rate, a.hop_length)
    return max(1, min(cfg.prior.block_size, math.ceil(frames / cfg.frames_per_code)))


class PriorDataModule(_CropDataModule):
    """Code crops with their skeleton (and notes) for the prior; codes are precomputed in ``prepare_data``."""

    def __init__(
        self,
        cache_dir: str | PathLike[str],
        cfg: BundleConfig,
        train: TrainConfig,
        vqvae: VQVAE,
        fingerprint: str,
    ) -> None:
        super().__init__(cache_dir, cfg, train)
        self.vqvae, self.fingerprint = vqvae, fingerprint
        # Lightning calls prepare_data on one process per node, before the others read the codes.
        self.prepare_data_per_node = True

    def prepare_data(self) -> None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        n = precompute_codes(self.cache_dir, self.vqvae, self.fingerprint, device)
        if n:
            print(f"encoded {n} track(s) with the frozen VQ-VAE into {self.cache_dir}/*/{CODES_FILE}")

    def _datasets(self) -> tuple[CropDataset, CropDataset | None]:
        check_codes(self.cache_dir, self.fingerprint)
        t, c = self.train_cfg, self.cfg
        n = prior_crop_codes(c, t, self.cache_dir)
        midi = c.content is not None
        train = PriorCropDataset(
            self.cache_dir, "train", n, c.frames_per_code, t.seed, crops_per_track=t.crops_per_track,
            require_notes=midi, camera_views=t.camera_views, pairs=t.view_contrast > 0,
        )  # fmt: skip
        val = _optional_split(
            lambda: PriorCropDataset(
                self.cache_dir,
                "val",
                n,
                c.frames_per_code,
                t.seed + 1,
                crops_per_track=t.val_crops_per_track,
                require_notes=midi,
            )  # fmt: skip
        )
        return train, val
