"""Should the corpus be rendered with another soundfont, or several? Measurements for that decision.

Three questions, each answered on the test split of the standard corpus (pieces no model trained on):

1. How far does a timbre model fitted on one soundfont carry to the others? An instrument judge
   (training.evaluate.judge, same recipe, fewer steps) trained on ONE soundfont's training split, tested on each
   soundfont's test split. The row for FluidR3 is what every model of the product learns from today.
2. The previous evaluation classifier (log-mel statistics, FluidR3 only) on the other soundfonts' test renders.
3. Does the shipped VQ-VAE (trained on FluidR3 renders only) carry the instrument of other soundfonts? Each test
   part rendered at 16 kHz with each soundfont, encoded and decoded by the bundle's VQ-VAE, Griffin-Lim, then
   judged by the shipped judge.

Usage (after `minet-train judge`, which renders DATA):
    python scripts/soundfont_study.py --corpus runs/default/corpus --cache runs/default/cache \
        --data runs/default/judge_data --bundle resources/models/minet.safetensors --out docs/results/soundfonts.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from minet_desktop.core.atomic import atomic_write_text
from minet_desktop.core.config import MelConfig
from training.datasets.base import INSTRUMENT_CODES, INSTRUMENT_NAMES
from training.evaluate.classifier import InstrumentClassifier, segment_mels
from training.evaluate.judge import (
    LOG_FLOOR,
    InstrumentJudge,
    JudgeTraining,
    _mel_centres_hz,
    cache_splits,
    part_split,
    segment,
    train_judge,
)
from training.evaluate.judge_data import SOUNDFONTS, _parts_of, _score_parts, load_judge_data, load_mel


def band_limit(mel: np.ndarray, hz: float = 8000.0) -> np.ndarray:
    """What 16-kHz audio holds: the bands above ``hz`` at the floor (the cache's mels are of 16-kHz audio)."""
    out = mel.copy()
    out[_mel_centres_hz(MelConfig()) > hz] = LOG_FLOOR
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--gl-iters", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--sections", default="1,2,3", help="which questions to answer (3 alone: a retrained VQ-VAE, ~8 min)"
    )
    args = ap.parse_args()
    sections = {int(x) for x in args.sections.split(",")}
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    parts = load_judge_data(args.data)
    splits, _ = cache_splits(args.cache)

    def split_of(key: str) -> str:
        return part_split(splits, key, Path(args.data))

    sfs = sorted({p.soundfont for p in parts})
    data = {(p.key, p.soundfont): (load_mel(p.mel), p.instrument, split_of(p.key)) for p in parts}
    lines = [
        "# Soundfont study: should the corpus be rendered with other soundfonts?",
        "",
        "Reproduce: `python scripts/soundfont_study.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items())
        + "`. All audio here is FluidSynth renders of the synthetic corpus' scores; test split only.",
        "",
    ]

    # 1. one-soundfont judges
    def test_segments(sf: str, limit: bool = False) -> tuple[np.ndarray, list[str]]:
        xs, ys = [], []
        for (_, s), (mel, lab, split) in data.items():
            if s == sf and split == "test":
                seg, _ = segment(band_limit(mel) if limit else mel)
                xs.append(seg)
                ys += [lab] * len(seg)
        return np.concatenate(xs), ys

    tests = {sf: test_segments(sf) for sf in sfs} if 1 in sections else {}
    matrix = {}
    for train_sf in sfs if 1 in sections else ():
        train = [
            (mel, None, lab)
            for (_, s), (mel, lab, split) in data.items()
            if s == train_sf and split == "train"
        ]
        j = train_judge(train, INSTRUMENT_CODES, JudgeTraining(steps=args.steps, seed=7), log=lambda _: None)
        matrix[train_sf] = {sf: j.accuracy(*tests[sf])[0] for sf in sfs}
        print(
            f"trained on {train_sf}: "
            + ", ".join(f"{sf} {100 * a:.1f}" for sf, a in matrix[train_sf].items())
        )
    lines += (
        []
        if 1 not in sections
        else [
            "## 1. A timbre model trained on one soundfont, tested on each",
            "",
            f"An instrument judge ({args.steps} steps, the shipped judge's augmentation) trained on one soundfont's "
            "training split; share of 1-s test segments named correctly, %:",
            "",
            "| Trained on | " + " | ".join(f"tested on {sf}" for sf in sfs) + " | mean on the other two |",
            "| --- | " + " | ".join("---:" for _ in sfs) + " | ---: |",
        ]
    )
    for tr, row in matrix.items():
        others = np.mean([v for k, v in row.items() if k != tr])
        lines.append(
            f"| {tr} | " + " | ".join(f"{100 * row[sf]:.1f}" for sf in sfs) + f" | {100 * others:.1f} |"
        )
    lines.append("")

    if 2 in sections:
        _previous_classifier(args, sfs, test_segments, lines)
    if 3 in sections:
        _vqvae_check(args, sfs, split_of, lines)
    lines += ["", f"Wall time: {(time.perf_counter() - t0) / 60:.1f} min on this machine's CPU.", ""]
    atomic_write_text(Path(args.out), "\n".join(lines))
    print(f"wrote {args.out}")


def _previous_classifier(args, sfs, test_segments, lines) -> None:  # noqa: ANN001
    from training.cache import load_manifest

    manifest = load_manifest(args.cache)
    segs, labels = [], []
    for e in manifest["tracks"].values():
        if e["split"] == "train":
            mel = np.asarray(np.load(Path(args.cache) / e["dir"] / "mel.npy"), np.float32).T
            s = segment_mels(mel)
            segs += s
            labels += [e["instrument"]] * len(s)
    clf = InstrumentClassifier().fit(segs, labels)
    lines += [
        "## 2. The previous evaluation classifier (log-mel statistics, FluidR3 renders only) on each soundfont",
        "",
        "Test renders band-limited to 8 kHz like the corpus' 16-kHz audio it was fitted on; %:",
        "",
        "| " + " | ".join(sfs) + " |",
        "| " + " | ".join("---:" for _ in sfs) + " |",
    ]
    accs = []
    for sf in sfs:
        x, y = test_segments(sf, limit=True)
        accs.append(clf.accuracy(list(x), y)[0])
    lines += ["| " + " | ".join(f"{100 * a:.1f}" for a in accs) + " |", ""]
    print("old classifier:", accs)


def _vqvae_check(args, sfs, split_of, lines) -> None:  # noqa: ANN001
    from minet_desktop.features.audio import log_spectrogram, spectrogram_to_audio
    from minet_desktop.media.midi import render_instrument
    from minet_desktop.model.bundle import load_bundle
    from training.evaluate.metrics import logmel_of

    judge = InstrumentJudge.load()
    b = load_bundle(args.bundle)
    vq, acfg = b.vqvae.eval(), b.cfg.audio
    corpus = Path(args.corpus)
    test_parts = [p for p in _parts_of(corpus) if split_of(f"{p['folder']}/{p['player']}") == "test"]
    per: dict[str, dict[str, list[int]]] = {sf: {} for sf in sfs}
    direct: dict[str, dict[str, list[int]]] = {sf: {} for sf in sfs}
    for p in test_parts:
        midi = _score_parts(corpus, p["folder"])[p["player"] - 1]
        n = int(round(min(p["seconds"], 12.0) * acfg.sample_rate))
        for sf in sfs:
            wave = render_instrument(midi, acfg.sample_rate, SOUNDFONTS[sf], n)
            spec = torch.from_numpy(log_spectrogram(wave, acfg))[None]
            with torch.inference_mode():
                recon = vq.decode(vq.encode(spec))[0, :, : spec.shape[-1]].numpy()
            for target, w in ((per, spectrogram_to_audio(recon, acfg, n_iter=args.gl_iters)), (direct, wave)):
                seg, _ = segment(logmel_of(w, acfg.sample_rate), drop_silence=False)
                pred = judge.predict(seg)
                c = target[sf].setdefault(p["instrument"], [0, 0])
                c[0] += sum(x == p["instrument"] for x in pred)
                c[1] += len(pred)
        print(f"vqvae check: {p['folder']} {p['player']}")
    lines += [
        f"## 3. The VQ-VAE of `{Path(args.bundle).name}` on each soundfont",
        "",
        f"The first 12 s of every test part rendered at {acfg.sample_rate} Hz with each soundfont; the shipped judge "
        f"on the render itself, and on the render encoded and decoded by `{Path(args.bundle).name}`'s VQ-VAE "
        f"(Griffin-Lim {args.gl_iters}); share of 1-s segments named as the instrument played, %:",
        "",
        "| Instrument | " + " | ".join(f"{sf}: render / via VQ-VAE" for sf in sfs) + " |",
        "| --- | " + " | ".join("---:" for _ in sfs) + " |",
    ]

    def pct(d: dict[str, list[int]], c: str | None = None) -> str:
        if c is None:
            tot = [sum(v[0] for v in d.values()), sum(v[1] for v in d.values())]
        else:
            tot = d.get(c, [0, 0])
        return f"{100 * tot[0] / tot[1]:.1f}" if tot[1] else "–"

    for c in INSTRUMENT_CODES:
        lines.append(
            f"| {INSTRUMENT_NAMES[c]} | "
            + " | ".join(f"{pct(direct[sf], c)} / {pct(per[sf], c)}" for sf in sfs)
            + " |"
        )
    lines.append("| **all** | " + " | ".join(f"**{pct(direct[sf])} / {pct(per[sf])}**" for sf in sfs) + " |")


if __name__ == "__main__":
    main()
