"""Crop loading throughput: the prepared cache (CropDataset) against decoding the raw files for every crop.

Reference ("raw"): what a loader without the cache does per 4-second crop: read and resample the track's wav,
compute the crop's log spectrogram, load the keypoint file, fill missing joints, normalise, and resample the
crop's keypoints to 62.5 Hz. "cache": ``CropDataset.__getitem__`` (memmap slice of spec/skeleton/notes,
float16 -> float32, transpose). Both run in one process on the same random (track, start) draws, with the
files in the OS page cache (after a warm-up pass), so the ratio measures decoding/compute saved, not disk.

    python benchmarks/bench_cache.py                     # makes a small synthetic URMP corpus in a temp dir
    python benchmarks/bench_cache.py --dataset DIR       # any dataset `minet-train prepare` reads
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from minet_desktop.core.config import CacheConfig
from minet_desktop.core.skeleton import interpolate_missing, normalize, resample
from minet_desktop.features.audio import LogSpectrogram
from minet_desktop.pose.keypoint_file import KeypointFile
from training.cache import CropDataset, load_manifest, n_crop_frames, prepare
from training.datasets.reading import read_dataset
from training.datasets.urmp import write_urmp_piece

INSTRUMENT_PAIRS = (("vn", "vc"), ("fl", "cl"), ("vn", "fl"), ("va", "vc"), ("ob", "bn"), ("tpt", "tbn"))


def make_corpus(root: Path, pieces: int, seconds: float, sr: int = 44_100, fps: float = 30.0) -> Path:
    """URMP-layout corpus of harmonic tones at 44.1 kHz (URMP's rate, so the raw path must resample)."""
    rng = np.random.default_rng(0)
    for p in range(pieces):
        players = []
        for inst in INSTRUMENT_PAIRS[p % len(INSTRUMENT_PAIRS)]:
            t = np.arange(int(seconds * sr)) / sr
            f0 = 110 * 2 ** rng.uniform(0, 3)
            wave = sum(0.2 / h * np.sin(2 * np.pi * h * f0 * t) for h in range(1, 6)).astype(np.float32)
            T = int(seconds * fps)
            kp = np.zeros((T, 3, 47), np.float32)
            kp[:, 0] = 320 + rng.normal(0, 40, 47) + rng.normal(0, 2, (T, 47))
            kp[:, 1] = 240 + rng.normal(0, 40, 47) + rng.normal(0, 2, (T, 47))
            kp[:, 2] = np.where(rng.random((T, 47)) < 0.05, 0.0, 0.9)  # 5 % missed joints to interpolate
            players.append((inst, wave, sr, None, KeypointFile(kp, fps, (640, 480), "", "bench", 1.0)))
        write_urmp_piece(root, p + 1, f"Piece{p + 1}", players)
    return root


def raw_crop(track, cfg: CacheConfig, spec_module: LogSpectrogram, start_s: float) -> dict[str, torch.Tensor]:
    """One crop straight from the dataset's files (the no-cache reference)."""
    a = cfg.audio
    wave, _ = track.load_audio(a.sample_rate)
    n = int(round(cfg.crop_seconds * a.sample_rate))
    s0 = int(round(start_s * a.sample_rate))
    seg = np.zeros(n, np.float32)
    piece = wave[s0 : s0 + n]
    seg[: piece.size] = piece
    with torch.no_grad():
        spec = spec_module(torch.from_numpy(seg))
    kf = track.load_keypoints()
    filled, _ = interpolate_missing(kf.keypoints, cfg.skeleton.confidence_threshold)
    normed, _ = normalize(filled, cfg.skeleton.confidence_threshold)
    frames = n_crop_frames(cfg.crop_seconds, a.sample_rate, a.hop_length)
    first = int(round(start_s * kf.fps))
    sub = normed[first:]
    skel = resample(sub if len(sub) else normed[-1:], kf.fps, a.frame_rate, n_out=frames)
    return {"spec": spec, "skeleton": torch.from_numpy(skel.transpose(1, 2, 0).copy())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, help="dataset folder (default: a synthetic URMP corpus)")
    ap.add_argument("--pieces", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each synthetic track")
    ap.add_argument("--crops", type=int, default=200)
    ap.add_argument("--raw-crops", type=int, default=40, help="crops for the (slow) raw reference")
    ap.add_argument("--workers", type=int, default=1, help="prepare workers")
    args = ap.parse_args()
    torch.set_num_threads(1)  # a DataLoader worker's view: one core per worker

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        dataset = args.dataset or make_corpus(tmp_path / "dataset", args.pieces, args.seconds)
        cache = tmp_path / "cache"
        t0 = time.perf_counter()
        report = prepare(dataset, cache, workers=args.workers)
        t_prep = time.perf_counter() - t0
        manifest = load_manifest(cache)
        cfg = CacheConfig()
        total_s = sum(e["duration"] for e in manifest["tracks"].values())
        print(
            f"prepare: {report.n_tracks} tracks, {total_s:.0f} s of audio in {t_prep:.1f} s "
            f"({total_s / t_prep:.0f}x real time)"
        )

        ds = CropDataset(
            cache, "all", crops_per_track=max(1, args.crops // len(load_manifest(cache)["tracks"]) + 1)
        )
        rng = np.random.default_rng(0)
        idx = rng.integers(0, len(ds), size=args.crops)
        for i in idx[:10]:  # warm-up: page cache, memmaps opened
            ds[int(i)]
        t0 = time.perf_counter()
        items = [ds[int(i)] for i in idx]
        t_cache = time.perf_counter() - t0
        cache_rate = len(items) / t_cache

        tracks = {t.track_id: t for t in read_dataset(dataset)[0]}
        spec_module = LogSpectrogram(cfg.audio)
        raw_items = [items[k] for k in range(min(args.raw_crops, len(items)))]
        jobs = [(tracks[it["track_id"]], int(it["start"]) / cfg.audio.frame_rate) for it in raw_items]
        raw_crop(*jobs[0][:1], cfg, spec_module, jobs[0][1])  # warm-up
        t0 = time.perf_counter()
        for track, start_s in jobs:
            out = raw_crop(track, cfg, spec_module, start_s)
        t_raw = time.perf_counter() - t0
        raw_rate = len(jobs) / t_raw
        assert (
            out["spec"].shape == items[0]["spec"].shape
            and out["skeleton"].shape == items[0]["skeleton"].shape
        )

    print(f"cache (CropDataset): {cache_rate:8.1f} crops/s  ({len(items)} crops of {cfg.crop_seconds:g} s)")
    print(f"raw files per crop:  {raw_rate:8.1f} crops/s  ({len(jobs)} crops)")
    print(f"ratio cache/raw:     {cache_rate / raw_rate:8.1f}x")


if __name__ == "__main__":
    main()
