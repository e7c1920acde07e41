"""`minet-desktop`: open the app, or work headlessly (`extract`, `info`, `roundtrip`).

Every subcommand reports problems with the user's files as one line naming the file (exit status 2) instead
of a traceback; Ctrl-C stops cleanly (exit status 130) without leaving partial output files behind.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from minet_desktop import __version__
from minet_desktop.core.errors import Cancelled, MinetError


def _progress_bar(desc: str, unit: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A tqdm bar driven by ``progress(done, total)`` callbacks; returns (callback, close)."""
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, dynamic_ncols=True, disable=None, leave=False)

    def update(done: int, total: int) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close


def _cmd_extract(args: argparse.Namespace) -> int:
    from minet_desktop.media.video import is_image_file
    from minet_desktop.pose.extract import keypoints_for_path
    from minet_desktop.pose.keypoint_file import find_sidecar, sidecar_path

    src = Path(args.input)
    if not src.is_file():
        raise MinetError(f"{src}: no such file")
    is_video = not is_image_file(src)
    cached = find_sidecar(src) if is_video and not args.force else None
    if cached is not None:
        print(f"reusing the keypoints in {sidecar_path(src).name} (the video is unchanged)", file=sys.stderr)
        kf = cached
    else:
        update, close = _progress_bar(f"extracting {src.name}", "frame")
        try:
            kf = keypoints_for_path(src, progress=update, use_sidecar=not args.force)
        finally:
            close()
        if is_video and args.force:
            kf.save(sidecar_path(src))
    for warning in kf.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    out = Path(args.output) if args.output else None
    if out is not None:
        kf.save(out)
    print(
        f"{src.name}: {kf.n_frames} frame(s) at {kf.fps:g} fps, {kf.frame_size[0]}x{kf.frame_size[1]}, "
        f"person detected in {kf.detected_fraction:.0%} of frames" + (f" -> {out}" if out else "")
    )
    if kf.detected_fraction == 0:
        print(f"warning: no person was detected in {src}", file=sys.stderr)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from minet_desktop.pose.keypoint_file import KeypointFile

    path = Path(args.file)
    if not path.exists():
        raise MinetError(f"{path}: no such file")
    if path.suffix.lower() == ".npz":
        kf = KeypointFile.load(path)
        T = kf.keypoints.shape[0]
        print(f"keypoint file   {path}")
        print(f"frames          {T} at {kf.fps:g} fps ({T / kf.fps:.2f} s)")
        print(f"frame size      {kf.frame_size[0]}x{kf.frame_size[1]} px")
        print(f"source          {kf.source_name} (sha256 {kf.source_sha256[:12]}…)")
        print(f"person detected {kf.detected_fraction:.1%} of frames")
        return 0
    raise MinetError(f"{path}: don't know how to describe this file (expected a keypoint file .npz)")


def _cmd_roundtrip(args: argparse.Namespace) -> int:
    """Audio -> the model's representation -> Griffin-Lim -> audio: hear the representation's ceiling."""
    import numpy as np

    from minet_desktop.core.config import AudioConfig, MelConfig
    from minet_desktop.features import audio as feats
    from minet_desktop.media.audio_io import read_audio, write_wav

    if args.mel:
        mcfg = MelConfig(griffin_lim_iters=args.iters or MelConfig().griffin_lim_iters)
        wave, sr = read_audio(args.input, mcfg.sample_rate)
        spec = feats.log_mel(wave, mcfg)
        out = feats.mel_to_audio(spec, mcfg, length=len(wave))
        ref, est = feats.log_mel(wave, mcfg), feats.log_mel(out, mcfg)
    else:
        acfg = AudioConfig(griffin_lim_iters=args.iters or AudioConfig().griffin_lim_iters)
        wave, sr = read_audio(args.input, acfg.sample_rate)
        spec = feats.log_spectrogram(wave, acfg)
        out = feats.spectrogram_to_audio(spec, acfg, length=len(wave))
        ref, est = spec, feats.log_spectrogram(out, acfg)
    sc = feats.spectral_convergence(np.exp(ref), np.exp(est))
    write_wav(args.output, out, sr)
    print(f"{args.input} -> {args.output}: {len(wave) / sr:.2f} s at {sr} Hz, spectral convergence {sc:.3f}")
    return 0


def _cmd_gui(args: argparse.Namespace) -> int:
    try:
        from minet_desktop.gui.app import run_app
    except ImportError as exc:  # the GUI layer is optional in headless installs
        raise MinetError(f"the desktop app is not available in this installation ({exc})") from exc
    return run_app(args.input)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minet-desktop",
        description="MI Net Desktop: hear the instrument being played in a performance video.",
    )
    parser.add_argument("--version", action="version", version=f"minet-desktop {__version__}")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("gui", help="open the desktop app (the default when no command is given)")
    p.add_argument("input", nargs="?", help="a video or keypoint file to open")
    p.set_defaults(func=_cmd_gui)

    p = sub.add_parser(
        "extract", help="extract body and hand keypoints from a video or image (MediaPipe Holistic)"
    )
    p.add_argument("input", help="video file (mp4, avi, mov, ...) or image")
    p.add_argument(
        "-o", "--output", help="keypoint file to write (.npz); a video also gets a sidecar next to it"
    )
    p.add_argument("--force", action="store_true", help="extract again even if an up-to-date sidecar exists")
    p.set_defaults(func=_cmd_extract)

    p = sub.add_parser("info", help="describe a keypoint file")
    p.add_argument("file")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "roundtrip",
        help="audio -> spectrogram -> Griffin-Lim -> audio, to hear what the representation keeps",
    )
    p.add_argument("input", help="audio file (wav, flac, ogg, ...)")
    p.add_argument("-o", "--output", required=True, help="wav file to write")
    p.add_argument(
        "--mel", action="store_true", help="use seed 003's 80-band log-mel instead of MI Net's spectrogram"
    )
    p.add_argument("--iters", type=int, default=None, help="Griffin-Lim iterations")
    p.set_defaults(func=_cmd_roundtrip)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"gui", "extract", "info", "roundtrip"}
    # `minet-desktop` and `minet-desktop performance.mp4` open the app.
    if not argv or (argv[0] not in commands and not argv[0].startswith("-")):
        argv = ["gui", *argv]
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Cancelled:
        print("cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except MinetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
