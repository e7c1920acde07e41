"""`minet-train`: prepare datasets for training (and, as the project grows, train and evaluate models).

Problems with the user's files are printed as one line naming the file; a dataset with some bad tracks is
prepared anyway and the bad tracks are listed at the end.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from minet_desktop.core.errors import Cancelled, MinetError


def _cmd_prepare(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from minet_desktop.core.config import CacheConfig
    from training.cache import prepare

    bar = tqdm(desc="preparing", unit="track", dynamic_ncols=True, disable=None)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        report = prepare(
            Path(args.dataset),
            Path(args.out),
            config=CacheConfig(),
            workers=args.workers,
            progress=progress,
            force=args.force,
            audio_dir=Path(args.audio_dir) if args.audio_dir else None,
        )
    finally:
        bar.close()
    print(report.summary())
    return 0 if report.n_tracks > 0 else 1


def _cmd_cache_info(args: argparse.Namespace) -> int:
    from training.cache import describe_cache

    print(describe_cache(Path(args.cache)))
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from training.synth.corpus import generate

    bar = tqdm(desc="rendering", unit="piece", dynamic_ncols=True, disable=None)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        summary = generate(
            Path(args.out),
            args.minutes,
            instruments=args.instruments,
            seed=args.seed,
            soundfont=args.soundfont,
            render_video=args.render_video,
            workers=args.workers,
            progress=progress,
        )
    finally:
        bar.close()
    print(summary.summary())
    return 0


def _cmd_synth_report(args: argparse.Namespace) -> int:
    from training.synth.report import write_report

    print(write_report(Path(args.corpus), Path(args.png) if args.png else None))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minet-train", description="Prepare data for and train MI Net models."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "prepare",
        help="turn a dataset (URMP or Solos layout) into an aligned, memory-mapped training cache",
        description=(
            "Reads every track of DATASET_DIR (URMP piece folders, or a Solos root with skeleton.npy), and writes per "
            "track the log-spectrogram, log-mel, normalised skeleton and note sequence, aligned at 62.5 frames/s, plus "
            "manifest.json with a train/val/test split by piece. Re-running skips finished tracks."
        ),
    )
    p.add_argument("dataset", metavar="DATASET_DIR")
    p.add_argument("--out", required=True, metavar="CACHE_DIR")
    p.add_argument("--workers", type=int, default=1, help="tracks prepared in parallel (default 1)")
    p.add_argument("--force", action="store_true", help="rebuild a cache made with other settings")
    p.add_argument(
        "--audio-dir", help="Solos only: folder with the downloaded videos or audio, named by YouTube id"
    )
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser(
        "synth",
        help="render a synthetic corpus of performances (URMP layout): melodies, FluidSynth audio, keypoints",
        description=(
            "Real melodies from music21's corpus, played on the General MIDI sound of each of the 13 URMP instruments "
            "with expression, and the body and hand keypoints of a player of that instrument as MediaPipe would "
            "report them. The output folder is read by `minet-train prepare` like a real URMP download."
        ),
    )
    p.add_argument(
        "--out", required=True, metavar="DIR", help="new or empty folder (an earlier corpus is resumed)"
    )
    p.add_argument("--minutes", type=float, required=True, help="total minutes of audio to render")
    p.add_argument(
        "--instruments",
        default=None,
        help="comma-separated URMP codes, optionally with a MIDI range: vn,fl,tpt or vn:55-84 (default: all 13)",
    )
    p.add_argument("--seed", type=int, default=0, help="the same seed gives identical files")
    p.add_argument("--soundfont", default=None, help="a General MIDI .sf2 (default: FluidR3_GM)")
    p.add_argument(
        "--render-video", action="store_true", help="also write a 224x224 video of each performance"
    )
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser(
        "synth-report", help="per-instrument minutes and pitch ranges of a corpus, and a contact sheet"
    )
    p.add_argument("corpus", metavar="DIR")
    p.add_argument(
        "--png", default=None, help="where to write the contact sheet (default: DIR/contact_sheet.png)"
    )
    p.set_defaults(func=_cmd_synth_report)

    p = sub.add_parser("cache-info", help="summarise a prepared cache: tracks, minutes, instruments, splits")
    p.add_argument("cache", metavar="CACHE_DIR")
    p.set_defaults(func=_cmd_cache_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (Cancelled, KeyboardInterrupt):
        print("interrupted: finished tracks are kept; run the same command again to resume", file=sys.stderr)
        return 130
    except MinetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
