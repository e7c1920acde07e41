"""Synthetic corpus render speed: seconds of corpus (audio + keypoints, summed over tracks) per wall second.

Runs ``training.synth.corpus.generate`` twice on the same plan, without and with ``--render-video``, with one
worker and with all cores, and prints each ratio against real time (1.0 = as fast as the music plays).

    python benchmarks/bench_synth.py                 # 3 minutes of corpus, 30-45 s tracks
    python benchmarks/bench_synth.py --minutes 10
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from training.synth.corpus import generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for video in (False, True):
            for workers in sorted({1, args.workers}):
                out = Path(tmp) / f"v{int(video)}w{workers}"
                s = generate(
                    out,
                    args.minutes,
                    seed=args.seed,
                    workers=workers,
                    render_video=video,
                    track_seconds=(30.0, 45.0),
                )
                rows.append((video, workers, s.audio_seconds, s.wall_seconds, s.speed))
    print(f"{'video':>6} {'workers':>8} {'corpus s':>9} {'wall s':>7} {'x real time':>12}")
    for video, workers, audio, wall, speed in rows:
        print(f"{'yes' if video else 'no':>6} {workers:>8} {audio:>9.1f} {wall:>7.2f} {speed:>12.1f}")


if __name__ == "__main__":
    main()
