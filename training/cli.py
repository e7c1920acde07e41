"""`minet-train`: prepare datasets for training (and, as the project grows, train and evaluate models).

Problems with the user's files are printed as one line naming the file; a dataset with some bad tracks is
prepared anyway and the bad tracks are listed at the end.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minet_desktop.core.errors import Cancelled, ConfigError, MinetError, OneLineArgumentParser, report_error
from minet_desktop.core.terminal import progress_bar

if TYPE_CHECKING:  # the training stack (torch, Lightning) is imported only by the commands that use it
    from training.train.config import Recipe, TrainConfig
    from training.train.stage import RunResult


def _cmd_prepare(args: argparse.Namespace) -> int:
    from minet_desktop.core.config import CacheConfig
    from training.cache import prepare

    with progress_bar("preparing", "track", leave=True) as progress:
        report = prepare(
            Path(args.dataset),
            Path(args.out),
            config=CacheConfig(),
            workers=args.workers,
            progress=progress,
            force=args.force,
            audio_dir=Path(args.audio_dir) if args.audio_dir else None,
        )
    print(report.summary())
    return 0 if report.n_tracks > 0 else 1


def _cmd_cache_info(args: argparse.Namespace) -> int:
    """The cache's table, then one line per corrupt file (NaN, empty, truncated...): exit status 2 if any."""
    from training.cache import cache_problems, describe_cache

    print(describe_cache(Path(args.cache)))
    problems = cache_problems(Path(args.cache))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 2 if problems else 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from training.synth.corpus import generate

    with progress_bar("rendering", "piece", leave=True) as progress:
        summary = generate(
            Path(args.out),
            args.minutes,
            instruments=args.instruments,
            seed=args.seed,
            soundfont=args.soundfont,
            render_video=args.render_video,
            workers=args.workers,
            progress=progress,
            views=args.views,
            exclude=args.exclude,
        )
    print(summary.summary())
    return 0


def _cmd_synth_report(args: argparse.Namespace) -> int:
    from training.synth.report import write_report

    print(write_report(Path(args.corpus), Path(args.png) if args.png else None))
    return 0


def _train_overrides(
    args: argparse.Namespace, stage: str, overrides: dict[str, Any] | None = None
) -> tuple[Recipe, TrainConfig]:
    from training.train.config import load_recipe, with_overrides

    recipe = load_recipe(args.config)
    train = with_overrides(
        recipe.train(stage),
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        devices=args.devices,
        num_nodes=args.num_nodes,
        strategy=args.strategy,
        accelerator=args.accelerator,
        precision=args.precision,
        num_workers=args.num_workers,
        threads=args.threads,
        seed=args.seed,
        **(overrides or {}),
    )
    return recipe, train


def _cmd_vqvae(args: argparse.Namespace) -> int:
    from training.train.run import train_vqvae

    recipe, train = _train_overrides(args, "vqvae")
    result = train_vqvae(
        Path(args.cache), Path(args.out), recipe, train, resume=args.resume, progress=not args.no_progress
    )
    if result.is_global_zero:
        print(result.summary())
    return 0


def _train_on_vqvae(
    args: argparse.Namespace,
    stage: str,
    train_fn: Callable[..., RunResult],
    overrides: dict[str, Any] | None = None,
    **extra: Any,
) -> int:
    """A stage that takes a trained VQ-VAE (``--vqvae``) besides the cache and the run folder; ``overrides``:
    TrainConfig fields set on the command line; ``extra``: the stage's own keyword arguments."""
    recipe, train = _train_overrides(args, stage, overrides)
    result = train_fn(
        Path(args.cache),
        Path(args.vqvae),
        Path(args.out),
        recipe,
        train,
        resume=args.resume,
        progress=not args.no_progress,
        **extra,
    )
    if result.is_global_zero:
        print(result.summary())
    return 0


def _cmd_decoder(args: argparse.Namespace) -> int:
    from training.train.run import train_decoder

    return _train_on_vqvae(args, "decoder", train_decoder)


def _cmd_prior(args: argparse.Namespace) -> int:
    from training.train.run import train_prior

    card = Path(args.card).read_text(encoding="utf-8") if args.card else None
    views = {"camera_views": True} if args.camera_views or args.view_contrast is not None else {}
    if args.view_contrast is not None:
        views["view_contrast"] = args.view_contrast
    if args.freeze_movement:
        if args.init_movement is None:
            raise ConfigError("--freeze-movement keeps the encoder --init-movement gives; give both")
        views["freeze_movement"] = True
    return _train_on_vqvae(
        args,
        "prior",
        train_prior,
        overrides=views,
        content=args.content == "midi",
        card=card,
        init_movement=args.init_movement,
    )


def _cmd_views(args: argparse.Namespace) -> int:
    from training.synth.views import write_views

    splits = tuple(x.strip() for x in args.splits.split(",") if x.strip())
    index = write_views(
        Path(args.corpus), Path(args.cache), n_views=args.n, view_seed=args.seed, splits=splits,
        progress=None if args.quiet else (lambda line: print(f"  {line}", flush=True)),
    )  # fmt: skip
    print(f"{len(index['tracks'])} track(s): {args.n} more view(s) each in {Path(args.cache) / 'views'}")
    return 0


def _cmd_movement(args: argparse.Namespace) -> int:
    from training.evaluate.run import knn_summary
    from training.train.config import load_recipe
    from training.train.multiview import MultiviewConfig, pretrain_movement

    recipe = load_recipe(args.config)
    cfg = MultiviewConfig(
        steps=args.steps, batch=args.batch, seed=args.seed, views=args.views, same_time=args.same_time
    )
    cache = Path(args.cache)
    hard = Path(args.hard_cache) if args.hard_cache else None
    evaluate = (lambda enc: knn_summary(enc, cache, hard)) if args.eval_every else None
    out = pretrain_movement(
        cache, Path(args.out), recipe.model.movement, cfg, resume=args.resume, evaluate=evaluate,
        eval_every=args.eval_every, log=lambda line: print(line, flush=True),
    )  # fmt: skip
    print(f"wrote {out}")
    return 0


def _cmd_performance(args: argparse.Namespace) -> int:
    from training.train.performance import PerformanceTrainConfig, format_report, train_detector

    cfg = PerformanceTrainConfig(
        steps=args.steps, batch=args.batch, seed=args.seed, clips_per_activity=args.clips,
        holdout=tuple(args.holdout),
    )  # fmt: skip
    path, rep = train_detector(
        Path(args.cache), Path(args.out), cfg, hard_cache=args.hard_cache, resume=args.resume,
        log=lambda line: print(line, flush=True),
    )  # fmt: skip
    print(format_report(rep))
    print(f"wrote {path}")
    return 0


def _cmd_playing_check(args: argparse.Namespace) -> int:
    from training.evaluate.playing import check, format_rows, write

    results = []
    detectors = ([] if args.no_baseline else [None]) + ([args.detector] if args.detector else [])
    for detector in detectors:
        print(f"{Path(args.bundle).name} {'with ' + str(detector) if detector else 'prototypes only'}:")
        results.append(
            check(args.bundle, detector, args.cache, args.hard_cache, n=args.n, split=args.split,
                  log=lambda line: print(line, flush=True))
        )  # fmt: skip
    print(format_rows(results))
    if args.out:
        write(results, args.out)
    return 0


def _cmd_regressor(args: argparse.Namespace) -> int:
    from training.train.regressor import train_regressor

    recipe, train = _train_overrides(args, "regressor")
    card = Path(args.card).read_text(encoding="utf-8") if args.card else None
    result = train_regressor(
        Path(args.cache),
        Path(args.out),
        recipe,
        train,
        midi=args.midi,
        resume=args.resume,
        card=card,
        progress=not args.no_progress,
    )
    if result.is_global_zero:
        print(result.summary())
    return 0


def _cmd_baseline(args: argparse.Namespace) -> int:
    from training.train.baselines import train_baseline

    stage = args.command.replace("-", "_")  # seq2seq, graph_transformer
    recipe, train = _train_overrides(args, stage)
    card = Path(args.card).read_text(encoding="utf-8") if args.card else None
    result = train_baseline(
        Path(args.cache),
        Path(args.out),
        recipe,
        stage,
        train,
        resume=args.resume,
        card=card,
        progress=not args.no_progress,
    )
    if result.is_global_zero:
        print(result.summary())
    return 0


def _cmd_content_gru(args: argparse.Namespace) -> int:
    from training.train.baselines import train_content_gru

    return _train_on_vqvae(args, "content_gru", train_content_gru)


def _read_card(path: str | None) -> str | None:
    """The model card a ``--card`` option names (None without one); InputError naming an unreadable file."""
    from minet_desktop.core.errors import InputError

    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the model card ({exc})") from exc


def _cmd_bundle(args: argparse.Namespace) -> int:
    from training.train.checkpoints import write_bundle_from_checkpoint

    card = _read_card(args.card)
    out = write_bundle_from_checkpoint(args.prior, args.out, args.vqvae, card)
    print(f"model bundle written to {out}")
    return 0


def _cmd_prototypes(args: argparse.Namespace) -> int:
    import json

    import torch

    from minet_desktop.core.atomic import atomic_write_text
    from training.prototypes import compute_prototypes, report_json

    torch.set_num_threads(args.threads)
    card = _read_card(args.card)
    report = compute_prototypes(
        args.bundle,
        args.cache,
        args.out,
        card,
        contrast=args.contrast,
        auto_steer=args.auto_steer,
        auto_contrast=args.auto_contrast,
        classifier=args.classifier,
    )
    if args.report:
        atomic_write_text(Path(args.report), json.dumps(report_json(report), indent=1))
    return 0


def _cmd_onsets(args: argparse.Namespace) -> int:
    import json

    import torch

    from minet_desktop.core.atomic import atomic_write_text
    from training.onsets import fit_onsets, report_json

    torch.set_num_threads(args.threads)
    card = _read_card(args.card)
    report = fit_onsets(
        args.bundle,
        args.cache,
        args.out,
        card,
        steps=args.steps,
        seed=args.seed,
        hard_cache=args.hard_cache,
        augment=not args.no_augment,
        source=args.source,
    )
    if args.report:
        atomic_write_text(Path(args.report), json.dumps(report_json(report), indent=1))
    return 0


def _cmd_override_eval(args: argparse.Namespace) -> int:
    import torch

    from training.evaluate.override import evaluate_override, write_report

    torch.set_num_threads(args.threads)
    from training.evaluate.run import EvalOptions, Evaluation

    out = Path(args.out)
    ev = Evaluation(
        args.cache,
        out,
        EvalOptions(griffin_lim_iters=args.griffin_lim_iters, device=args.device),
        split=args.split,
    )
    targets = [c.strip() for c in args.targets.split(",") if c.strip()] if args.targets else None
    try:
        report = evaluate_override(
            ev,
            args.bundle,
            seconds=args.seconds,
            per_instrument=args.per_instrument,
            targets=targets,
            strength=args.strength,
            contrast=args.contrast,
            midi=args.midi,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    write_report(report, out)
    print(report.markdown())
    print(f"written to {out / 'override.md'} ({report.minutes:.1f} min)")
    return 0


def _add_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache", required=True, metavar="CACHE_DIR", help="folder written by `minet-train prepare`"
    )
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (checkpoints, logs, results)")
    p.add_argument(
        "--config",
        default="cpu_small",
        metavar="RECIPE",
        help="TOML recipe, or the name of a bundled one: tiny, cpu_small (default), default (the bundled models'), paper",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in RUN_DIR from its last checkpoint"
    )
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None, help="per device")
    p.add_argument("--devices", type=int, default=None, help="devices per node (DDP when > 1)")
    p.add_argument("--num-nodes", type=int, default=None)
    p.add_argument("--strategy", default=None, help="Lightning strategy: auto, ddp, ...")
    p.add_argument("--accelerator", default=None, help="auto, cpu or gpu")
    p.add_argument("--precision", default=None, help="auto (AMP on CUDA), 32-true, 16-mixed, bf16-mixed")
    p.add_argument("--num-workers", type=int, default=None, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")


def _cmd_demo(args: argparse.Namespace) -> int:
    from training.demos import make_demos

    demos = make_demos(
        Path(args.corpus),
        Path(args.out),
        [c.strip() for c in args.instruments.split(",") if c.strip()],
        seconds=args.seconds,
        cache_dir=Path(args.cache) if args.cache else None,
    )
    for d in demos:
        print(
            f"{d.name}: {d.video} ({d.seconds:.1f} s) + {d.keypoints.name} + {d.midi.name} + {d.audio.name}"
        )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import shlex

    from training.evaluate.report import write_report
    from training.evaluate.run import EvalOptions, Evaluation

    opts = EvalOptions(
        takes=args.takes,
        seed=args.seed,
        griffin_lim_iters=args.griffin_lim_iters,
        segment_seconds=args.segment_seconds,
        audio_seconds=args.audio_seconds,
        max_tracks=args.max_tracks,
        ndb_k=args.ndb_k,
        device=args.device,
    )
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.hard_views_only and not args.hard_views:
        raise ConfigError("--hard-views-only needs --hard-views CACHE_DIR")
    ev = Evaluation(
        args.cache, args.out, opts, work_dir=args.work, hard_views=args.hard_views, split=args.split
    )
    results = ev.run(
        args.bundles,
        vqvae_ablation=tuple(args.vqvae_ablation) if args.vqvae_ablation else None,  # type: ignore[arg-type]
        content_gru=args.content_gru,
        demo_dir=args.demos,
        hard_views_only=args.hard_views_only,
    )
    command = args.command_line or "minet-train " + " ".join(shlex.quote(a) for a in args.argv)
    readme = write_report(results, ev.figure, args.out, command)
    print(f"report {readme}")
    return 0


def _cmd_judge(args: argparse.Namespace) -> int:
    from training.datasets.base import INSTRUMENT_CODES
    from training.evaluate.judge import DEFAULT_JUDGE, JudgeTraining, fit_judges, write_judge_card
    from training.evaluate.judge_data import render_judge_data

    data = Path(args.data)
    render_judge_data(args.corpus, data, seed=args.seed)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    opts = JudgeTraining(
        steps=args.steps, seed=args.seed, threads=args.threads or 1, pool=args.pool, coord=args.coord
    )
    judge = fit_judges(
        data, args.cache, INSTRUMENT_CODES, opts, loso_steps=args.loso_steps, workers=args.workers
    )
    out = Path(args.out) if args.out else DEFAULT_JUDGE
    judge.save(out)
    card = write_judge_card(judge, out.with_suffix(".md"))
    print(f"judge {out} (card {card})")
    return 0


def _cmd_classify(args: argparse.Namespace) -> int:
    from minet_desktop.media.audio_io import read_audio
    from training.datasets.base import INSTRUMENT_NAMES
    from training.evaluate.judge import InstrumentJudge

    judge = InstrumentJudge.load(args.judge)
    last = ""
    for name in args.audio:
        wave, sr = read_audio(name)
        if wave.ndim == 2:
            wave = wave.mean(axis=1)
        pred, silent = judge.judge_audio(wave, sr)
        if not pred:
            print(f"{name}: no sound to judge ({silent} silent 1-s segments)")
            last = "heard: nothing 0.00"
            continue
        counts = {c: pred.count(c) for c in sorted(set(pred), key=lambda c: -pred.count(c))}
        shares = " - ".join(
            f"{INSTRUMENT_NAMES.get(c, c)} {100 * n / len(pred):.0f} %" for c, n in counts.items()
        )
        print(f"{name}: {len(pred)} segments ({silent} silent): {shares}")
        best = next(iter(counts))
        last = f"heard: {INSTRUMENT_NAMES.get(best, best)} {counts[best] / len(pred):.2f}"
    print(last)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
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
    p.add_argument(
        "--soundfont",
        action="append",
        default=None,
        metavar="SF2",
        help="a General MIDI .sf2 (default: FluidR3_GM); repeat it to render each training and validation "
        "piece with one of them, drawn from the seed (test pieces always use the first)",
    )
    p.add_argument(
        "--render-video", action="store_true", help="also write a 224x224 video of each performance"
    )
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument(
        "--views",
        choices=["standard", "hard"],
        default="standard",
        help="performer, camera and tracker ranges (training.synth.variety): standard (training) or hard "
        "(the hard-views benchmark: oblique cameras, upper-body close-ups, OpenPose-style tracking)",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=None,
        metavar="CORPUS_DIR",
        help="use none of this corpus's pieces of music (a benchmark apart from the training corpus); "
        "repeat it to keep apart from several",
    )
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser(
        "synth-report", help="per-instrument minutes and pitch ranges of a corpus, and a contact sheet"
    )
    p.add_argument("corpus", metavar="DIR")
    p.add_argument(
        "--png", default=None, help="where to write the contact sheet (default: DIR/contact_sheet.png)"
    )
    p.set_defaults(func=_cmd_synth_report)

    p = sub.add_parser(
        "vqvae",
        help="train the VQ-VAE on a prepared cache",
        description=(
            "Trains the multi-band residual VQ-VAE (L2 reconstruction + commitment, EMA codebook) on spectrogram "
            "crops of the cache's training split; writes RUN_DIR/vqvae.ckpt. Checkpoints every ckpt_every steps; "
            "--resume continues exactly. DDP: --devices N --strategy ddp (Lightning launches the processes), or "
            "torchrun."
        ),
    )
    _add_train_options(p)
    p.set_defaults(func=_cmd_vqvae)

    p = sub.add_parser(
        "decoder",
        help="train a trained VQ-VAE's decoder further (its codes stay the same)",
        description=(
            "Loads a trained VQ-VAE, freezes its encoder and codebook, adds the recipe's [model.vqvae] "
            "decoder_context (the mean of the last N codes as input) and decoder_head (a nonlinear output head) "
            "and trains the decoder alone ([stage.decoder]). "
            "Every recording keeps its codes, so priors trained on the VQ-VAE's codes are bundled with the new "
            "decoder as they are: minet-train bundle --prior PRIOR --vqvae RUN_DIR. Writes RUN_DIR/vqvae.ckpt."
        ),
    )
    _add_train_options(p)
    p.add_argument(
        "--vqvae", required=True, metavar="CKPT", help="vqvae.ckpt, its run folder, or a model bundle"
    )
    p.set_defaults(func=_cmd_decoder)

    p = sub.add_parser(
        "prior",
        help="train the movement encoder and prior on codes of a trained VQ-VAE; writes the model bundle",
        description=(
            "Encodes every cached track once with the frozen VQ-VAE (codes.npy next to spec.npy), then trains the "
            "movement encoder jointly with the prior (or, with --content midi, the MIDI-conditioned prior). "
            "Writes RUN_DIR/prior.ckpt and the model bundle RUN_DIR/model.safetensors."
        ),
    )
    _add_train_options(p)
    p.add_argument(
        "--vqvae", required=True, metavar="CKPT", help="vqvae.ckpt, its run folder, or a model bundle"
    )
    p.add_argument("--content", choices=["midi"], default=None, help="condition the prior on the notes too")
    p.add_argument(
        "--init-movement",
        default=None,
        metavar="MOVEMENT.safetensors",
        help="start the movement encoder from these weights (minet-train movement's, or an MI Net bundle's)",
    )
    p.add_argument(
        "--camera-views",
        action="store_true",
        help="draw each crop's skeleton from one of its performance's camera views (minet-train views)",
    )
    p.add_argument(
        "--view-contrast",
        type=float,
        default=None,
        metavar="W",
        help="weight of the camera-view contrastive term (implies --camera-views; recipe: view_contrast)",
    )
    p.add_argument(
        "--freeze-movement",
        action="store_true",
        help="keep the --init-movement encoder as it is; only the prior learns (recipe: freeze_movement)",
    )
    p.add_argument(
        "--card", default=None, metavar="CARD.md", help="model card for the bundle (default: generated)"
    )
    p.set_defaults(func=_cmd_prior)

    p = sub.add_parser(
        "views",
        help="film a synthetic corpus's performances again with other cameras and trackers (for multi-view training)",
        description=(
            "Replays each performance of CORPUS (no audio is rendered) and films it with N new cameras and trackers "
            "drawn from the corpus's own ranges; the player and every movement stay. Writes CACHE/views/*.npy "
            "((N + 1, T, 3, 47): the cache's skeleton first) and CACHE/views.json. No instrument label is used."
        ),
    )
    p.add_argument("corpus", metavar="CORPUS_DIR", help="the synthetic corpus the cache was prepared from")
    p.add_argument("--cache", required=True, metavar="CACHE_DIR")
    p.add_argument("--n", type=int, default=3, help="new views per performance (default 3)")
    p.add_argument("--seed", type=int, default=0, help="the views' own seed (default 0)")
    p.add_argument("--splits", default="train,val", help="cache splits to film again (default train,val)")
    p.add_argument("--quiet", action="store_true", help="no line per track")
    p.set_defaults(func=_cmd_views)

    p = sub.add_parser(
        "movement",
        help="pretrain MI Net's movement encoder on multi-view pairs (contrastive, no labels)",
        description=(
            "Two crops of one performance, seen by two cameras at two moments, must find each other among the "
            "batch (InfoNCE over the movement vectors). Needs `minet-train views`. Writes OUT/movement.safetensors "
            "for `minet-train prior --init-movement`; checkpoints OUT/last.pt, --resume continues exactly."
        ),
    )
    p.add_argument("--cache", required=True, metavar="CACHE_DIR")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument(
        "--config", default=None, metavar="RECIPE.toml", help="the encoder's size (default recipe)"
    )
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=64, help="performances per step (default 64)")
    p.add_argument("--views", type=int, default=0, help="use the first N views only (1: augmentation only)")
    p.add_argument("--same-time", action="store_true", help="pair the same moment of two views")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument(
        "--eval-every", type=int, default=0, metavar="N", help="print the 1-NN figures every N steps"
    )
    p.add_argument(
        "--hard-cache", default=None, metavar="CACHE_DIR", help="also measure 1-NN on these tracks"
    )
    p.set_defaults(func=_cmd_movement)

    p = sub.add_parser(
        "performance",
        help="train the performance detector: is someone playing an instrument, or talking, walking, ...?",
        description=(
            "A small bi-GRU over skeleton windows, trained on the cache's performances (every camera view "
            "`minet-train views` wrote) against simulated people who are not playing (talking, walking, waving, "
            "clapping, on the phone, typing, drinking, stretching, a ball game, standing). No instrument label "
            "is read. Writes OUT/performance.safetensors and OUT/report.json; checkpoints OUT/last.pt, "
            "--resume continues exactly."
        ),
    )
    p.add_argument("--cache", required=True, metavar="CACHE_DIR")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=64, help="windows per step, half of them performances")
    p.add_argument("--clips", type=int, default=60, help="simulated clips per activity (default 60)")
    p.add_argument(
        "--holdout", action="append", default=[], metavar="ACTIVITY",
        help="leave this activity out of training and report it apart (repeatable)",
    )  # fmt: skip
    p.add_argument("--hard-cache", default=None, metavar="CACHE_DIR", help="also report these performances")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.set_defaults(func=_cmd_performance)

    p = sub.add_parser(
        "playing-check",
        help="does detection call people who are not playing uncertain, and players not?",
        description=(
            "Runs the app's detection on simulated people who are not playing (every activity, a seed no "
            "training uses) and on a cache's performances, without and with a performance detector; prints "
            "the shares reported uncertain and named correctly."
        ),
    )
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("--detector", default=None, metavar="performance.safetensors")
    p.add_argument("--no-baseline", action="store_true", help="skip the run without the detector")
    p.add_argument("--cache", default=None, metavar="CACHE_DIR", help="performances of --split")
    p.add_argument("--split", default="test")
    p.add_argument(
        "--hard-cache", default=None, metavar="CACHE_DIR", help="and every performance of this one"
    )
    p.add_argument("--n", type=int, default=20, help="clips per activity (default 20)")
    p.add_argument("--out", default=None, metavar="FILE.json")
    p.set_defaults(func=_cmd_playing_check)

    p = sub.add_parser(
        "regressor",
        help="train Visually Indicated Music's frame regressor (stick figures -> log-mel); writes the model bundle",
        description=(
            "Trains the frame regressor (ResNet-18 over stick figures drawn from the cached skeletons, LSTM, 80-band "
            "log-mel, MSE) on crops of the cache's training split; with --midi also on the notes (piano-roll branch). "
            "Sizes in the recipe's [model.regressor], training in [stage.regressor]. Writes RUN_DIR/regressor.ckpt "
            "and the model bundle RUN_DIR/model.safetensors; --resume continues exactly."
        ),
    )
    _add_train_options(p)
    p.add_argument("--midi", action="store_true", help="the MIDI variant: also conditioned on the notes")
    p.add_argument(
        "--card", default=None, metavar="CARD.md", help="model card for the bundle (default: generated)"
    )
    p.set_defaults(func=_cmd_regressor)

    for name, title, what in (
        (
            "seq2seq",
            "RNN Seq2Seq",
            "a bi-GRU encoder over the keypoints and a GRU decoder emitting one log-spectrogram frame per step "
            "(teacher-forced MSE)",
        ),
        (
            "graph-transformer",
            "Graph-Transformer",
            "an ST-GCN encoder over the skeleton graph and a Transformer decoder predicting the log-spectrogram "
            "(MSE)",
        ),
    ):
        stage = name.replace("-", "_")
        p = sub.add_parser(
            name,
            help=f"train the MI Net paper's {title} baseline (keypoints -> log-spectrogram); writes the model bundle",
            description=(
                f"Trains the MI Net paper's {title} baseline, {what}, on crops of the cache's training split. Sizes in the "
                f"recipe's [model.{stage}], training in [stage.{stage}] (its crop_seconds is the window the app "
                f"predicts in). Writes RUN_DIR/{stage}.ckpt and the model bundle RUN_DIR/model.safetensors; "
                "--resume continues exactly."
            ),
        )
        _add_train_options(p)
        p.add_argument(
            "--card", default=None, metavar="CARD.md", help="model card for the bundle (default: generated)"
        )
        p.set_defaults(func=_cmd_baseline)

    p = sub.add_parser(
        "content-gru",
        help="train Table 5's GRU seq2seq (notes + movement -> VQ-VAE codes) for the NLL ablation",
        description=(
            "Trains the GRU seq2seq that replaces the content encoder + prior in the MI Net paper's Table 5: a bi-GRU over "
            "the notes, MI Net's movement encoder and a GRU decoder over the codes of the frozen VQ-VAE (codes "
            "precomputed in the cache as for the prior). Sizes in [model.content_gru] and [model.movement], "
            "training in [stage.content_gru]. Writes RUN_DIR/content_gru.ckpt; its test NLL per code is "
            "training.train.baselines.content_gru_test_nll (minet-train evaluate --content-gru RUN_DIR)."
        ),
    )
    _add_train_options(p)
    p.add_argument(
        "--vqvae", required=True, metavar="CKPT", help="vqvae.ckpt, its run folder, or a model bundle"
    )
    p.set_defaults(func=_cmd_content_gru)

    p = sub.add_parser("bundle", help="write a model bundle (.safetensors) from training checkpoints")
    p.add_argument("--prior", required=True, metavar="CKPT", help="prior.ckpt (or its run folder)")
    p.add_argument(
        "--vqvae", default=None, metavar="CKPT", help="the VQ-VAE (default: the one saved with the prior)"
    )
    p.add_argument("-o", "--out", required=True, metavar="MODEL.safetensors")
    p.add_argument("--card", default=None, metavar="CARD.md", help="markdown model card to embed")
    p.set_defaults(func=_cmd_bundle)

    p = sub.add_parser(
        "prototypes",
        help="add per-instrument movement prototypes to an MI Net bundle (instrument detection and override)",
        description=(
            "Embeds every movement window of the cache with the bundle's movement encoder; the training "
            "split's instrument labels give one prototype per instrument (the only use of labels), the "
            "validation split calibrates the probabilities and the 'uncertain' thresholds, the test split "
            "measures top-1 accuracy. Rewrites the bundle (or writes --out) with the prototypes."
        ),
    )
    p.add_argument("--bundle", required=True, metavar="MODEL.safetensors", help="an MI Net bundle")
    p.add_argument(
        "--cache", required=True, metavar="CACHE_DIR", help="folder written by `minet-train prepare`"
    )
    p.add_argument("-o", "--out", default=None, metavar="MODEL.safetensors", help="default: rewrite --bundle")
    p.add_argument("--card", default=None, metavar="CARD.md", help="markdown model card to embed instead")
    p.add_argument("--report", default=None, metavar="REPORT.json", help="also write what was measured")
    p.add_argument(
        "--contrast",
        type=float,
        default=None,
        help="the override's target this many neighbour steps past the prototype (default: keep the bundle's)",
    )
    p.add_argument(
        "--auto-steer",
        type=float,
        default=None,
        metavar="STRENGTH",
        help="in Auto, generation moves the movement this many times the step toward the instrument the "
        "prototypes detect (unless it looks like none); 0: not at all, the prior reads the instrument from "
        "the movement alone (default: keep the bundle's, 0 for a bundle without prototypes)",
    )
    p.add_argument(
        "--classifier",
        choices=("prototypes", "linear"),
        default=None,
        help="how movement windows are scored for detection: the Gaussian prototypes, or a logistic regression "
        "on the whitened movement vector fitted on the training split (default: keep the bundle's, prototypes)",
    )
    p.add_argument(
        "--auto-contrast",
        type=float,
        default=None,
        help="Auto's target this many neighbour steps past the detected instrument's prototype (default: "
        "keep the bundle's, 0)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: a shared machine)")
    p.set_defaults(func=_cmd_prototypes)

    p = sub.add_parser(
        "onsets",
        help="add an onset detector to an MI Net bundle (notes start where the movement says they do)",
        description=(
            "Trains a temporal convolutional network on the cache's training-split skeletons to find the "
            "frames where the score's notes start (the scores' onsets are its only labels), chooses its "
            "threshold on the validation split, measures onset F1 on the test split (and --hard-cache) beside "
            "the hand-made movement events, and rewrites the bundle (or writes --out) with it. Generation "
            "articulates the spectrogram at its events."
        ),
    )
    p.add_argument("--bundle", required=True, metavar="MODEL.safetensors", help="an MI Net bundle")
    p.add_argument(
        "--cache", required=True, metavar="CACHE_DIR", help="folder written by `minet-train prepare`"
    )
    p.add_argument(
        "--hard-cache", default=None, metavar="CACHE_DIR", help="also measure on these (hard views)"
    )
    p.add_argument("-o", "--out", default=None, metavar="MODEL.safetensors", help="default: rewrite --bundle")
    p.add_argument("--card", default=None, metavar="CARD.md", help="markdown model card to embed instead")
    p.add_argument("--report", default=None, metavar="REPORT.json", help="also write what was measured")
    p.add_argument("--steps", type=int, default=4000, help="training steps of 32 crops of 4 s (default 4000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-augment", action="store_true", help="train without skeleton augmentation")
    p.add_argument(
        "--from",
        dest="source",
        default=None,
        metavar="OTHER.safetensors",
        help="take this MI Net bundle's detector and threshold instead of training one (it reads only the "
        "movement: valid after the VQ-VAE, decoder or prior was retrained on the same skeletons)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: a shared machine)")
    p.set_defaults(func=_cmd_onsets)

    p = sub.add_parser(
        "override-eval",
        help="play test performances as every other instrument (the override) and judge each 1-s segment",
    )
    p.add_argument("--cache", required=True, metavar="CACHE_DIR")
    p.add_argument(
        "--bundle", required=True, metavar="MODEL.safetensors", help="an MI Net bundle with prototypes"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="writes override.md and override.json")
    p.add_argument("--seconds", type=float, default=10.0, help="of each source performance (default 10)")
    p.add_argument("--per-instrument", type=int, default=1, help="source performances per instrument")
    p.add_argument("--strength", type=float, default=None, help="override the bundle's steering strength")
    p.add_argument(
        "--contrast",
        type=float,
        default=None,
        help="override the bundle's contrast with the nearest instrument",
    )
    p.add_argument(
        "--targets", default=None, metavar="CODES", help="only these chosen instruments, e.g. va,cl,db"
    )
    p.add_argument(
        "--split",
        default="test",
        choices=("test", "val"),
        help="the sources' split (default test; val to choose a setting without the test split)",
    )
    p.add_argument("--midi", action="store_true", help="condition on the sources' scores (MIDI models)")
    p.add_argument("--griffin-lim-iters", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: a shared machine)")
    p.set_defaults(func=_cmd_override_eval)

    p = sub.add_parser(
        "demo", help="cut demo performances (video + keypoints + MIDI + audio) from a synthetic corpus"
    )
    p.add_argument("corpus", metavar="CORPUS_DIR")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--instruments", default="vn,vc,fl,tpt", help="one demo per code (default vn,vc,fl,tpt)")
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument(
        "--cache", default=None, help="the corpus's prepared cache: demos come from its test split"
    )
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "evaluate",
        help="evaluate model bundles on a cache's test split; writes a Markdown report with figures",
        description=(
            "Runs every BUNDLE through the engine on the test split of CACHE_DIR and writes REPORT_DIR/README.md "
            "(NDB, 1-NN movement-embedding accuracy + t-SNE, log-mel MSE, pitch accuracy, onset F1, instrument "
            "identification by the instrument judge and the previous log-mel classifier, spectrogram figure; optionally the VQ-VAE MBR "
            "ablation and the prior NLL against a GRU seq2seq). Generated tracks are kept in REPORT_DIR/work: "
            "running the same command again resumes."
        ),
    )
    p.add_argument("bundles", nargs="+", metavar="BUNDLE")
    p.add_argument("--cache", required=True, metavar="CACHE_DIR")
    p.add_argument("--out", required=True, metavar="REPORT_DIR")
    p.add_argument(
        "--vqvae-ablation",
        nargs=2,
        metavar=("WITH_MBR", "WITHOUT_MBR"),
        default=None,
        help="two VQ-VAE runs (folders, checkpoints or bundles) for the MBR ablation",
    )
    p.add_argument("--content-gru", default=None, metavar="RUN", help="a content-gru run for the NLL table")
    p.add_argument(
        "--demos",
        default=None,
        metavar="DIR",
        help="also check the demo performances in DIR (resources/demo)",
    )
    p.add_argument(
        "--work",
        default=None,
        metavar="DIR",
        help="where generated tracks are kept (default REPORT_DIR/work)",
    )
    p.add_argument(
        "--hard-views",
        default=None,
        metavar="CACHE_DIR",
        help="also the hard-views benchmark: a cache of `minet-train synth --views hard` (every track a query; "
        "1-NN of movement embeddings against CACHE's training split, and the instrument the audio is heard as)",
    )
    p.add_argument(
        "--hard-views-only",
        action="store_true",
        help="only the hard-views rows (skips the test split's models, NDB and figures)",
    )
    p.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="which split of CACHE_DIR the models are evaluated on (val: to choose a setting without looking "
        "at the test split; default test)",
    )
    p.add_argument("--takes", type=int, default=2, help="takes per performance of the stochastic models")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--griffin-lim-iters", type=int, default=32)
    p.add_argument("--segment-seconds", type=float, default=1.0, help="NDB / classifier segment length")
    p.add_argument(
        "--audio-seconds", type=float, default=10.0, help="per track, for pitch accuracy and onsets"
    )
    p.add_argument("--max-tracks", type=int, default=None, help="evaluate on the first N test tracks only")
    p.add_argument("--ndb-k", type=int, default=50)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--command-line", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "judge",
        help="train the instrument judge on the corpus' scores rendered with three soundfonts",
        description=(
            "Renders every part of CORPUS (its expressive scores) with FluidR3, MuseScore General and the Csound GM "
            "bank into DATA (resumable), trains one judge per left-out soundfont and the judge on all three "
            "(the cache's split by piece), and writes the judge with its card (default: the shipped judge)."
        ),
    )
    p.add_argument("--corpus", required=True, metavar="CORPUS_DIR", help="a `minet-train synth` corpus")
    p.add_argument("--cache", required=True, metavar="CACHE_DIR", help="its prepared cache (for the split)")
    p.add_argument("--data", required=True, metavar="DATA_DIR", help="where the renders are kept")
    p.add_argument("--out", default=None, metavar="JUDGE.safetensors")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--loso-steps", type=int, default=2500, help="steps of each leave-one-soundfont-out judge")
    p.add_argument(
        "--pool",
        choices=("global", "time"),
        default="global",
        help="pool the CNN's features over time and frequency (global) or over time only, keeping where in "
        "frequency they lie (register, formants)",
    )
    p.add_argument(
        "--coord",
        action="store_true",
        help="give the CNN each mel band's position as a second input plane (register, whatever the pooling)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per training")
    p.add_argument("--workers", type=int, default=1, help="judges trained in parallel (4 in all)")
    p.set_defaults(func=_cmd_judge)

    p = sub.add_parser(
        "classify",
        help="name the instrument heard in audio files (the evaluation's judge)",
        description=(
            "Prints, per file, the share of its 1-s segments the instrument judge gives each instrument (silent "
            "segments are left out); the last line is `heard: <instrument> <share>` for the last file."
        ),
    )
    p.add_argument("audio", nargs="+", metavar="AUDIO")
    p.add_argument("--judge", default=None, metavar="JUDGE.safetensors", help="default: the shipped judge")
    p.set_defaults(func=_cmd_classify)

    p = sub.add_parser("cache-info", help="summarise a prepared cache: tracks, minutes, instruments, splits")
    p.add_argument("cache", metavar="CACHE_DIR")
    p.set_defaults(func=_cmd_cache_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command line, for reports to quote
    try:
        return int(args.func(args))
    except (Cancelled, KeyboardInterrupt):
        print("interrupted: finished tracks are kept; run the same command again to resume", file=sys.stderr)
        return 130
    except (MinetError, OSError) as exc:  # one line naming the file; an OSError naming none is raised again
        return report_error(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
