"""`minet-desktop`: open the app, or work headlessly (`generate`, `detect`, `extract`, `info`, `roundtrip`,
`self-test`).

Every subcommand reports problems with the user's files as one line naming the file (exit status 2) instead
of a traceback; Ctrl-C stops cleanly (exit status 130) without leaving partial output files behind.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from minet_desktop import __version__
from minet_desktop.core.errors import Cancelled, InputError, MinetError, OneLineArgumentParser, report_error
from minet_desktop.core.terminal import progress_bar
from minet_desktop.core.validation import (
    check_fps,
    check_griffin_lim_iters,
    check_output_path,
    check_sampling_options,
)

if TYPE_CHECKING:
    from minet_desktop.pose.keypoint_file import KeypointFile


def _cmd_extract(args: argparse.Namespace) -> int:
    from minet_desktop.media.video import is_image_file
    from minet_desktop.pose.extract import keypoints_for_path
    from minet_desktop.pose.keypoint_file import find_sidecar, sidecar_path

    src = Path(args.input)
    if not src.is_file():
        raise MinetError(f"{src}: no such file")
    out = Path(args.output) if args.output else None
    if out is not None:
        check_output_path(out, [src], "keypoint file")
        if out.suffix.lower() != ".npz":
            raise InputError(out, "the output must be a keypoint file named .npz")
    is_video = not is_image_file(src)
    cached = find_sidecar(src) if is_video and not args.force else None
    if cached is not None:
        print(f"reusing the keypoints in {sidecar_path(src).name} (the video is unchanged)", file=sys.stderr)
        kf = cached
    else:
        with progress_bar(f"extracting {src.name}", "frame") as update:
            kf = keypoints_for_path(src, progress=update, use_sidecar=not args.force)
        if is_video and args.force:
            # A read-only folder: the keypoints are still good, and -o may take them.
            try:
                kf.save(sidecar_path(src))
            except InputError as exc:
                print(f"warning: could not save the keypoints next to the video ({exc})", file=sys.stderr)
    for warning in kf.warnings:
        print(f"warning: {warning}", file=sys.stderr)
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
    from minet_desktop.pose.keypoint_file import KEYPOINT_SUFFIXES, load_keypoints

    path = Path(args.file)
    if not path.exists():
        raise MinetError(f"{path}: no such file")
    if path.suffix.lower() == ".safetensors":
        return _info_bundle(path)
    if path.suffix.lower() in KEYPOINT_SUFFIXES:
        _info_keypoints(path, load_keypoints(path))
        return 0
    raise MinetError(
        f"{path}: don't know how to describe this file "
        "(expected a keypoint file .npz, a skeleton .npy or a model bundle .safetensors)"
    )


def _info_keypoints(path: Path, kf: KeypointFile) -> None:
    """What a keypoint file holds, read from its data (not only what its header claims)."""
    import numpy as np

    from minet_desktop.core.config import SkeletonConfig
    from minet_desktop.core.validation import tracked_fractions

    kp = kf.keypoints
    T = kp.shape[0]
    threshold = SkeletonConfig().confidence_threshold
    tracked = tracked_fractions(kp, threshold)
    # "Detected" as extraction counts it (any confidence above 0), to compare with what the file claims.
    detected = tracked_fractions(kp, float(np.nextafter(np.float32(0), np.float32(1))))["any"]
    print(f"keypoint file   {path}")
    print(f"frames          {T} at {kf.fps:g} fps ({T / kf.fps:.2f} s)")
    print(f"frame size      {kf.frame_size[0]}x{kf.frame_size[1]} px")
    print(f"source          {kf.source_name} (sha256 {kf.source_sha256[:12]}…)")
    print(f"person detected {detected:.1%} of frames (with finite coordinates)")
    print(
        f"tracked         body {tracked['body']:.1%}, right hand {tracked['right hand']:.1%}, "
        f"left hand {tracked['left hand']:.1%} of frames (confidence >= {threshold:g})"
    )
    problems = []
    if T == 0:
        problems.append("it holds no frames")
    n_nan = int(np.isnan(kp).sum())
    if n_nan:
        problems.append(f"{n_nan} of {kp.size} values are NaN ({n_nan / kp.size:.1%})")
    if abs(kf.detected_fraction - detected) > 0.01:
        problems.append(
            f"the file claims a person in {kf.detected_fraction:.1%} of frames, but its data has one in "
            f"{detected:.1%}"
        )
    for warning in kf.warnings:
        print(f"note            {warning}")
    for problem in problems:
        print(f"warning         {problem}")


def _info_bundle(path: Path) -> int:
    """Model card, config summary and parameter counts of a model bundle."""
    import torch

    from minet_desktop.engine import model_types
    from minet_desktop.engine.loading import load_backend

    backend = load_backend(path, torch.device("cpu"))
    cfg = backend.cfg
    print(f"model bundle    {path}")
    print(f"model type      {backend.model_type} ({model_types.label(backend.model_type)})")
    a = cfg.audio
    print(
        f"audio           {a.sample_rate} Hz, {a.n_bins} bins, hop {a.hop_length} "
        f"({a.frame_rate:g} frames/s), Griffin-Lim {a.griffin_lim_iters} iterations"
    )
    print(backend.describe())
    print(backend.summary())
    card = backend.model_card.strip()
    print()
    print(card if card else "(this bundle has no model card)")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    """Keypoints (of a video, a keypoint file, Solos or OpenPose) -> the music they play, as a wav."""
    from minet_desktop.core.instruments import instrument_name
    from minet_desktop.engine.inputs import load_performance
    from minet_desktop.engine.paths import default_model_path
    from minet_desktop.engine.progress import Progress
    from minet_desktop.engine.session import Session, load_notes
    from minet_desktop.media.audio_io import write_wav
    from minet_desktop.media.video import is_image_file

    # Everything the user gave is checked before any work, so a bad option costs no time and no file.
    check_sampling_options(args.takes, args.temperature, args.top_k, args.top_p, args.griffin_lim_iters)
    out = Path(args.output)
    if out.suffix.lower() != ".wav":
        raise MinetError(f"{out}: the output must be a .wav file")
    if args.mux and Path(args.mux).suffix.lower() != ".mp4":
        raise MinetError(f"{args.mux}: --mux writes an .mp4 file")
    model = Path(args.model) if args.model else default_model_path()
    if not model.is_file():
        raise MinetError(f"no model bundle found at {model} (train one with minet-train or pass --model)")
    src = Path(args.input)
    if args.fps is not None:
        check_fps("--fps", args.fps)
    video = Path(args.video) if args.video else None
    if args.mux and video is None:
        if src.is_file() and src.suffix.lower() not in (".npz", ".npy") and not is_image_file(src):
            video = src
        else:
            raise MinetError(f"{src}: not a video; --mux needs the performance video (--video FILE)")
    inputs = [src, model, args.midi, video]
    outs = _numbered(out, args.takes)
    muxes = _numbered(Path(args.mux), args.takes) if args.mux else []
    for path in outs + muxes:
        check_output_path(path, inputs)
    if len({p.resolve() for p in outs + muxes}) < len(outs + muxes):
        raise InputError(out, "-o and --mux name the same file")

    if args.midi:
        load_notes(args.midi)  # a broken notes file is refused before the model is loaded
    session = Session(model, device=args.device)
    session.check_instrument(args.instrument)  # before a long keypoint extraction
    with progress_bar(f"keypoints of {src.name}", "frame") as update:
        kf = load_performance(src, solos_id=args.solos_id, fps=args.fps, progress=update, video=video)

    from tqdm import tqdm

    bar = tqdm(total=1000, desc="generating", unit="‰", dynamic_ncols=True, disable=None, leave=False)

    def progress(p: Progress) -> None:
        bar.set_description(p.label)
        bar.n = int(p.fraction * 1000)
        bar.refresh()

    try:
        result = session.generate(
            kf,
            notes=args.midi,
            takes=args.takes,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            seed=args.seed,
            griffin_lim_iters=args.griffin_lim_iters,
            progress=progress,
            instrument=args.instrument,
            keep_octaves=args.keep_octaves,
            **({"articulation": None} if args.no_articulation else {}),
            auto_steer=False if args.unsteered else None,
        )
    finally:
        bar.close()
    playing = ""
    if args.instrument:
        playing = f", playing {instrument_name(args.instrument)}"
    elif result.steered_to:
        playing = f", playing {instrument_name(result.steered_to)} (detected in the movement; --unsteered: not steered)"
    print(f"{model.name}: {session.model_type} on {session.device_name}{playing}", file=sys.stderr)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(result.tracked_summary(), file=sys.stderr)
    for path, wave in zip(outs, result.waveform, strict=True):
        write_wav(path, wave, result.sample_rate)
    muxed = []
    if args.mux:
        from minet_desktop.media.export import mux_audio

        assert video is not None
        for path, wave in zip(muxes, result.waveform, strict=True):
            muxed.append(mux_audio(video, wave, result.sample_rate, path))
    total = result.timings.get("total", 0.0)
    print(
        f"{src.name}: {result.duration:.2f} s, {result.takes} take(s) (seed {result.seeds[0]}) in {total:.1f} s "
        f"on {result.device} -> {', '.join(str(p) for p in outs + muxed)}"
    )
    return 0


def _cmd_detect(args: argparse.Namespace) -> int:
    """The instruments the movement of a performance looks like, best first; the last line names the best."""
    from minet_desktop.core.instruments import instrument_name
    from minet_desktop.engine.inputs import load_performance
    from minet_desktop.engine.paths import default_model_path
    from minet_desktop.engine.session import Session

    model = Path(args.model) if args.model else default_model_path()
    if not model.is_file():
        raise MinetError(f"no model bundle found at {model} (train one with minet-train or pass --model)")
    src = Path(args.input)
    session = Session(model, device=args.device)
    if not session.instruments:
        raise MinetError(session.backend.cannot_choose_instrument())
    with progress_bar(f"keypoints of {src.name}", "frame") as update:
        kf = load_performance(src, solos_id=args.solos_id, fps=args.fps, progress=update)
    for warning in kf.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    det = session.detect(kf)
    for code, p in det.probabilities[: args.top]:
        print(f"{instrument_name(code):<12} {code:<4} {p:.3f}")
    if det.playing == det.playing:  # not NaN: the app's performance detector was asked
        print(f"playing an instrument: {det.playing:.2f} (the performance detector)")
    if det.uncertain:
        print(f"uncertain: {det.reason}")
    best = det.best
    p_best = best[1] if best else 0.0
    name = "uncertain" if det.uncertain or best is None else instrument_name(best[0])
    print(f"detected: {name} {p_best:.2f}")
    return 0


def _numbered(path: Path, takes: int) -> list[Path]:
    """The files ``takes`` takes are written to: ``path`` itself for one, ``STEM_take1.EXT``... for several."""
    if takes == 1:
        return [path]
    return [path.with_name(f"{path.stem}_take{k + 1}{path.suffix}") for k in range(takes)]


def _cmd_roundtrip(args: argparse.Namespace) -> int:
    """Audio -> the model's representation -> Griffin-Lim -> audio: hear the representation's ceiling."""
    import numpy as np

    from minet_desktop.core.config import AudioConfig, MelConfig
    from minet_desktop.features import audio as feats
    from minet_desktop.media.audio_io import read_audio, write_wav

    if args.iters is not None:
        check_griffin_lim_iters(args.iters, "--iters")
    check_output_path(args.output, [args.input])
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


#: The demo performance the self-test plays, and how many seconds of it.
SELF_TEST_DEMO = "violin.mp4"
SELF_TEST_SECONDS = 1.0
#: Quieter than this (RMS, full scale = 1) is silence: the model or Griffin-Lim produced nothing.
SELF_TEST_MIN_RMS = 1e-3


def _cmd_self_test(args: argparse.Namespace) -> int:
    """Check an installation end to end: the default model makes one second of a demo into a WAV.

    Every failure is reported (with its traceback: in a frozen app it is usually a module or data file the
    bundle lacks) and makes the exit status 1.
    """
    import traceback

    try:
        _self_test(Path(args.output) if args.output else None, args.device)
    except Exception as exc:
        traceback.print_exc()
        print(f"self-test FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("self-test passed")
    return 0


def _self_test(output: Path | None, device: str | None) -> None:
    import dataclasses
    import functools
    import tempfile
    import time

    import numpy as np

    from minet_desktop.engine.paths import default_model_path, demo_dir
    from minet_desktop.engine.session import Session
    from minet_desktop.media.audio_io import read_audio, write_wav
    from minet_desktop.pose.keypoint_file import find_sidecar, sidecar_path

    # Flushed line by line: if a native library crashes the process, what it got through still shows.
    say = functools.partial(print, flush=True)
    where = "frozen app" if getattr(sys, "frozen", False) else "source install"
    say(f"minet-desktop {__version__} ({where}, Python {sys.version.split()[0]}, {sys.platform})")
    model = default_model_path()
    if not model.is_file():
        raise MinetError(f"the default model is missing: {model}")
    video = demo_dir() / SELF_TEST_DEMO
    kf = find_sidecar(video)
    if kf is None:
        raise MinetError(
            f"{sidecar_path(video)}: the demo's keypoints are missing or do not match {video.name}"
        )
    n_frames = max(1, round(SELF_TEST_SECONDS * kf.fps))
    kf = dataclasses.replace(kf, keypoints=kf.keypoints[:n_frames])

    t0 = time.perf_counter()
    session = Session(model, device=device)
    load_s = time.perf_counter() - t0
    say(f"model           {model} ({session.model_type}) loaded in {load_s:.2f} s")
    say(f"device          {session.device_name}")
    result = session.generate(kf, seed=0)
    wave = result.waveform[0]
    gen_s = result.timings.get("total", 0.0)
    say(
        f"generated       {result.duration:.2f} s of {video.name} in {gen_s:.2f} s "
        f"(RTF {gen_s / result.duration:.2f}) on {result.device}"
    )

    if output is None:
        output = Path(tempfile.mkdtemp(prefix="minet-desktop-self-test-")) / "self_test.wav"
    write_wav(output, wave, result.sample_rate)
    back, sr = read_audio(output)
    rms = float(np.sqrt(np.mean(back.astype(np.float64) ** 2))) if back.size else 0.0
    if sr != result.sample_rate or back.shape[0] != wave.shape[0]:
        raise MinetError(
            f"{output}: read back {back.shape[0]} samples at {sr} Hz, wrote {wave.shape[0]} at "
            f"{result.sample_rate} Hz"
        )
    if not np.isfinite(back).all():
        raise MinetError(f"{output}: the generated audio has NaN or infinite samples")
    if rms < SELF_TEST_MIN_RMS:
        raise MinetError(f"{output}: the generated audio is silent (RMS {rms:.2e})")
    say(f"wav             {output} ({back.shape[0]} samples at {sr} Hz, RMS {20 * np.log10(rms):.1f} dBFS)")

    # Playback and the live mode need PortAudio; a bundle that lacks it would only fail when the user presses Play.
    import sounddevice as sd

    # sounddevice keeps the path of the library it loaded in _libname: the system's, or the bundle's.
    say(f"audio output    {sd.get_portaudio_version()[1]} ({sd._libname})")


def _cmd_gui(args: argparse.Namespace) -> int:
    try:
        from minet_desktop.gui.app import run_app
    except ImportError as exc:  # the GUI layer is optional in headless installs
        raise MinetError(f"the desktop app is not available in this installation ({exc})") from exc
    return run_app(args.input)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
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

    p = sub.add_parser(
        "generate", help="generate the music of a performance (video, keypoints, Solos or OpenPose) as a wav"
    )
    p.add_argument(
        "input",
        help="video, keypoint file (.npz), Solos skeleton folder or skeleton.npy (with --solos-id), "
        "or a folder of OpenPose *_keypoints.json files",
    )
    p.add_argument(
        "-o", "--output", required=True, help="wav file to write (several takes: OUT_take1.wav ...)"
    )
    p.add_argument("--model", help="model bundle (.safetensors); default: the bundled model")
    p.add_argument("--midi", help="notes to play (.mid, or a URMP notes .txt) for a MIDI-conditioned model")
    p.add_argument("--takes", type=int, default=1, help="different performances to generate (one batch)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: CUDA when available, else the CPU")
    p.add_argument("--seed", type=int, help="random seed (take k uses seed + k); default: a random one")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (0 = most likely)")
    p.add_argument("--top-k", type=int, help="sample among the k most likely codes only")
    p.add_argument("--top-p", type=float, help="sample among the most likely codes holding this probability")
    p.add_argument("--griffin-lim-iters", type=int, help="Griffin-Lim iterations (default: the model's)")
    p.add_argument("--solos-id", help="YouTube id of the clip in Solos skeletons")
    p.add_argument(
        "--fps",
        type=float,
        help="frame rate of an OpenPose folder's or a bare .npy skeleton's video (default: that of --video or "
        "of the video in or beside it; else 30, with a warning)",
    )
    p.add_argument(
        "--video",
        help="the performance's video: its frame rate for an OpenPose folder, and the picture --mux puts the "
        "audio under (default: INPUT if a video)",
    )
    p.add_argument("--mux", help="also write an .mp4 of the video with the generated audio")
    p.add_argument(
        "--instrument",
        metavar="CODE",
        help="play this instrument instead of the one the movement shows (vn, va, vc, db, fl, ob, cl, sax, bn, "
        "tpt, hn, tbn, tba); the timing still follows the movement, and a MIDI score moves by whole octaves "
        "into the instrument's range",
    )
    p.add_argument(
        "--no-articulation",
        action="store_true",
        help="leave the notes as the model drew them (default: MI Net starts notes at the movement's bow, slide and "
        "finger changes, a MIDI model at its score's onsets, each after a 40-ms gap as tonguing or a bow change "
        "makes)",
    )
    p.add_argument(
        "--unsteered",
        action="store_true",
        help="without --instrument: leave the instrument to the model's own reading of the movement (default for "
        "the bundled MI Net: steered to the instrument `detect` names, unless the movement looks like none)",
    )
    p.add_argument(
        "--keep-octaves",
        action="store_true",
        help="with --instrument and --midi: play the score in its own octaves, even outside the instrument's range",
    )
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser(
        "detect",
        help="which instrument the movement of a performance looks like (best first, with probabilities)",
    )
    p.add_argument("input", help="the same inputs as generate: video, keypoint file, Solos or OpenPose")
    p.add_argument("--model", help="model bundle (.safetensors); default: the bundled model")
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: CUDA when available, else the CPU")
    p.add_argument("--solos-id", help="YouTube id of the clip in Solos skeletons")
    p.add_argument(
        "--fps",
        type=float,
        help="frame rate of an OpenPose folder's or a bare .npy skeleton's video (default: that of the video "
        "in or beside it; else 30, with a warning)",
    )
    p.add_argument("--top", type=int, default=13, help="instruments to list (default: all)")
    p.set_defaults(func=_cmd_detect)

    p = sub.add_parser("info", help="describe a keypoint file or a model bundle")
    p.add_argument("file")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "roundtrip",
        help="audio -> spectrogram -> Griffin-Lim -> audio, to hear what the representation keeps",
    )
    p.add_argument("input", help="audio file (wav, flac, ogg, ...)")
    p.add_argument("-o", "--output", required=True, help="wav file to write")
    p.add_argument(
        "--mel",
        action="store_true",
        help="use Visually Indicated Music's 80-band log-mel instead of MI Net's spectrogram",
    )
    p.add_argument("--iters", type=int, default=None, help="Griffin-Lim iterations")
    p.set_defaults(func=_cmd_roundtrip)

    p = sub.add_parser(
        "self-test",
        help="check this installation: the default model generates 1 s of a demo into a WAV "
        "(also: minet-desktop --self-test)",
    )
    p.add_argument("-o", "--output", help="wav file to write (default: in a new temporary folder)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: CUDA when available, else the CPU")
    p.set_defaults(func=_cmd_self_test)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"gui", "extract", "info", "roundtrip", "generate", "detect", "self-test"}
    # `minet-desktop` and `minet-desktop performance.mp4` open the app.
    if not argv or (argv[0] not in commands and not argv[0].startswith("-")):
        argv = ["gui", *argv]
    # `--self-test` is how frozen-app smoke tests (packaging/) spell the command.
    if argv[0] == "--self-test":
        argv[0] = "self-test"
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Cancelled:
        print("cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `minet-desktop info ... | head`: the reader left; not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 0
    except (MinetError, OSError) as exc:  # one line naming the file; an OSError naming none is raised again
        return report_error(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
