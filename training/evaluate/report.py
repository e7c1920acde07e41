"""The evaluation report: ``REPORT_DIR/README.md`` (Markdown tables), ``results.json`` and PNG figures."""

from __future__ import annotations

import json
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from minet_desktop.core.atomic import atomic_path
from training.evaluate import metrics as M
from training.evaluate.run import (
    HARD_REAL,
    INSTRUMENT_NAMES,
    JUDGE_LOSO,
    MODEL_NAMES,
    ORACLE,
    REAL,
    VQ_ORACLE,
)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "–" if x is None else fmt.format(x)


def main_table(rows: Sequence[dict[str, Any]]) -> str:
    cols = [
        "Model",
        "NDB (k=50) ↓",
        "JS ↓",
        "KNN acc. % ↑",
        "Log-mel MSE ↓",
        "Pitch acc. % ↑",
        "Onset F1 ↑",
        "Instrument (judge) % ↑",
        "Instrument (log-mel stats) % ↑",
        "RTF",
    ]
    body = []
    for r in rows:
        body.append(
            [
                r["name"],
                "–" if r["ndb"] is None else str(r["ndb"]),
                _num(r["ndb_js"]),
                _pct(r["knn_accuracy"]),
                _num(r["logmel_mse"], "{:.2f}"),
                _pct(r["pitch_accuracy"]),
                _num(r["onset_f1"], "{:.2f}"),
                _pct(r.get("judge_accuracy")),
                _pct(r["instrument_accuracy"]),
                _num(r["rtf"], "{:.3f}"),
            ]
        )
    return M.table_markdown(body, cols)


def per_instrument_table(rows: Sequence[dict[str, Any]], field: str) -> str:
    labels = sorted({k for r in rows for k in (r.get(field) or {})}, key=list(INSTRUMENT_NAMES).index)
    if not labels:
        return ""
    body = []
    for r in rows:
        d = r.get(field) or {}
        if not d:
            continue
        body.append([r["name"], *(_pct(d.get(k)) for k in labels)])
    return M.table_markdown(body, ["Model", *(INSTRUMENT_NAMES.get(k, k) for k in labels)])


def hard_views_section(
    rows: Sequence[dict[str, Any]], hard_rows: Sequence[dict[str, Any]], info: dict[str, Any]
) -> list[str]:
    """The hard-views benchmark: a table beside the test split's numbers, and per-instrument shares."""
    std = {r["name"]: r for r in rows}

    def test(r: dict[str, Any], key: str) -> str:  # the same model (or reference) on the test split
        return _pct(std.get(REAL if r["name"] == HARD_REAL else r["name"], {}).get(key))

    judged = any(r.get("hard_judge_accuracy") is not None for r in hard_rows)
    body = [
        [
            r["name"],
            _pct(r.get("hard_knn_accuracy")),
            test(r, "knn_accuracy"),
            *([_pct(r.get("hard_judge_accuracy")), test(r, "judge_accuracy")] if judged else []),
            _pct(r["hard_instrument_accuracy"]),
            test(r, "instrument_accuracy"),
        ]
        for r in hard_rows
    ]
    judge_cols = ["Judge hard % ↑", "Judge test % ↑"] if judged else []
    lines = [
        "## Hard views (synthetic)",
        "",
        f"A second synthetic set, `{info.get('cache', '?')}`: {info.get('n_tracks', '?')} performances, "
        f"{info.get('minutes', float('nan')):.1f} minutes, rendered with `minet-train synth --views hard` "
        "(other seed, pieces of music none of the training corpus uses; every camera yawed 50-80°, upper-body "
        "close-ups with the hands at or past the frame edge, OpenPose-style tracking at 24-25 fps: "
        "`training/synth/variety.py`, `HARD`). KNN: 1-NN of the movement embeddings of its 4-s crops against "
        "the training split's; judge / log-mel stats: the share of 1-s segments of the model's audio that the "
        "instrument judge / the previous classifier (fitted on the training split's renders) names as the "
        "instrument played.",
        "",
        M.table_markdown(
            body,
            [
                "Model",
                "KNN hard % ↑",
                "KNN test % ↑",
                *judge_cols,
                "Log-mel stats hard % ↑",
                "Log-mel stats test % ↑",
            ],
        ),
        "",
    ]
    for key, what in (
        ("hard_judge_per_class", "Instrument judge"),
        ("hard_instrument_per_class", "Log-mel-statistics classifier"),
        ("hard_knn_per_class", "1-NN of the movement embedding"),
    ):
        per = [r for r in hard_rows if r.get(key)]
        if per:
            lines += [f"{what} on the hard views, per instrument, %:", "", per_instrument_table(per, key), ""]
    return lines


def spectrogram_grid(figure: dict[str, dict[str, Any]], path: Path, columns: Sequence[str]) -> bool:
    rows = []
    for inst, cols in figure.items():
        present = [(c, np.asarray(cols[c], np.float32)) for c in columns if c in cols]
        if len(present) >= 2:
            rows.append((INSTRUMENT_NAMES.get(inst, inst), present))
    if not rows:
        return False
    M.spectrogram_figure(rows, path)
    return True


def write_report(
    results: dict[str, Any],
    figure: dict[str, dict[str, Any]],
    out_dir: str | PathLike[str],
    command: str,
) -> Path:
    """Write README.md, results.json and the figures into ``out_dir``; returns the README path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = results["rows"]
    extra = results["extra"]
    opts = results["options"]

    columns = [MODEL_NAMES["minet"], MODEL_NAMES["minet_midi"], "ground truth"]
    has_fig = spectrogram_grid(figure, out / "spectrograms.png", columns)
    others = [r["name"] for r in rows if r["model_type"] not in ("reference", "minet", "minet_midi")]
    has_fig_all = spectrogram_grid(
        figure, out / "spectrograms_all.png", [*columns[:2], *others, "ground truth"]
    )

    lines = [
        "# Evaluation report",
        "",
        f"All models on the test split of one synthetic corpus: {results['n_test_tracks']} performances, "
        f"{results['test_minutes']:.1f} minutes (pieces never seen in training). Cache: `{results['cache']}`.",
        "",
        "Reproduce (on two CPU cores about two and a half hours with the baselines' training, the evaluation alone "
        "about half an hour):",
        "",
        "```",
        command,
        "```",
        "",
        "Every model runs as the app runs it (a `Session` on the bundle generates from the performance's keypoint "
        "file, and from its notes for the MIDI-conditioned models); "
        f"Griffin-Lim {opts['griffin_lim_iters']} iterations; {opts['takes']} takes per performance for the "
        "stochastic MI Nets, one for the deterministic baselines.",
        "",
    ]
    main_rows = [r for r in rows if r.get("ndb") is not None or r.get("instrument_accuracy") is not None]
    main_section = [  # (none with --hard-views-only)
        "## Main table",
        "",
        main_table(main_rows),
        "",
        "* **NDB** (MI Net paper §4): k-means with k = "
        f"{opts['ndb_k']} on {extra.get('ndb_train_segments', '?')} ground-truth training log-spectrogram segments of "
        f"{opts['segment_seconds']:g} s (pooled to a 64 × 4 grid); the number of cells whose share of generated "
        "segments differs from the training share (two-proportion test, α = 0.05); lower is better, up to 50. "
        "JS: Jensen-Shannon divergence of the two cell histograms. "
        f"The test set's own NDB is the reference, as in the paper. Samples per row: "
        + ", ".join(f"{r['name']} {r['n_samples']}" for r in rows if r.get("n_samples"))
        + ".",
        "* **KNN**: 1-nearest-neighbour accuracy, cosine similarity, of movement embeddings of "
        f"{opts['knn_crop_seconds']:g}-s skeleton crops (test-split queries, training-split neighbours; the MI Net paper "
        "Table 2). MI Net: the movement encoder's final state; RNN Seq2Seq: the encoder's final state; "
        "Graph-Transformer: the mean of the ST-GCN outputs over time and joints. The frame regressor has none.",
        "* **Log-mel MSE** (Visually Indicated Music Table 1): generated audio's 80-band log-mel against the ground-truth render's, "
        "frame by frame. An unconditional generator is not asked to reproduce the recording; the MIDI-conditioned "
        "ones are.",
        f"* **Pitch accuracy** (Visually Indicated Music): frames of the first {opts['audio_seconds']:g} s of each performance where "
        "the score has one sounding note and the tracked f0 of the audio lies within a semitone of it. "
        "**Onset F1**: detected onsets against the score's note onsets, 50 ms tolerance.",
        "* **Instrument (judge)**: the instrument judge (`training/evaluate/instrument_judge.md`: a CNN on log-mel "
        "trained on the corpus' training-split scores rendered with three General MIDI soundfonts, with room, "
        "microphone and Griffin-Lim augmentation) names the instrument of each generated 1-s segment: an "
        "objective stand-in for the paper's listening test (does it sound like the instrument being played?). "
        f"Its own reference row, **{JUDGE_LOSO}**, is its leave-one-soundfont-out accuracy (trained on two "
        "soundfonts, tested on the third"
        + (
            f"; {100 * extra['judge']['loso_mean']:.1f} %"
            if (extra.get("judge") or {}).get("loso_mean")
            else ""
        )
        + "). **Instrument (log-mel stats)**: the previous classifier (a logistic regression on log-mel statistics "
        f"fitted on the FluidR3 renders of the training split only, {extra.get('classifier_train_segments', '?')} "
        "segments), kept beside it for one release. Both judge the same segments.",
        f"* **RTF**: generation wall time / audio duration on this machine ({opts['device']}, the whole pipeline "
        "including Griffin-Lim).",
        f"* **{REAL}** and **{ORACLE}** are not models: the first is the performance's FluidSynth render itself, "
        "the second the "
        "recording's log-spectrogram inverted by Griffin-Lim with the same iterations (the ceiling of any model "
        "here, which all produce spectrograms and invert them).",
        f"* **{VQ_ORACLE}**: the recording's log-spectrogram encoded to codes and decoded by the MI Net bundles' "
        "VQ-VAE, then Griffin-Lim: what MI Net's prior would sound like if it picked the recording's own codes, "
        "so the gap between this row and MI Net's is the prior's, the gap to the row above the VQ-VAE's.",
        "",
    ]
    if main_rows:
        lines += main_section
    if has_fig:
        lines += [
            "## Spectrograms (MI Net paper Fig. 6)",
            "",
            "Generated without content, with content (MIDI), and the ground truth, for the first "
            f"{opts['figure_seconds']:g} s of one test performance per instrument:",
            "",
            "![spectrograms](spectrograms.png)",
            "",
        ]
    if has_fig_all:
        lines += ["All models on the same performances:", "", "![all models](spectrograms_all.png)", ""]

    knn_rows = [r for r in rows if r.get("knn_per_class")]
    if knn_rows:
        lines += [
            "## Movement embeddings (MI Net paper Table 2, Fig. 7)",
            "",
            "1-NN accuracy per instrument, %:",
            "",
            per_instrument_table(knn_rows, "knn_per_class"),
            "",
        ]
        for r in knn_rows:
            png = f"tsne_{r['model_type']}.png"
            if (out / png).is_file():
                lines += [f"![t-SNE {r['name']}]({png})", ""]

    hard_rows = [r for r in rows if r.get("hard_instrument_accuracy") is not None]
    if hard_rows:
        lines += hard_views_section(rows, hard_rows, extra.get("hard_views", {}))

    judge_rows = [r for r in rows if r.get("judge_per_class")]
    clf_rows = [r for r in rows if r.get("instrument_per_class")]
    if judge_rows or clf_rows:
        lines += ["## Instrument identification per instrument", ""]
    if judge_rows:
        lines += [
            "Share of segments the instrument judge assigns to the instrument being played, %:",
            "",
            per_instrument_table(judge_rows, "judge_per_class"),
            "",
        ]
    if clf_rows:
        lines += [
            "The same segments by the previous classifier (log-mel statistics, FluidR3 renders only), %:",
            "",
            per_instrument_table(clf_rows, "instrument_per_class"),
            "",
        ]

    l2 = extra.get("vqvae_l2")
    if l2:
        lines += [
            "## VQ-VAE: multi-band residual blocks (MI Net paper Table 4)",
            "",
            "Test reconstruction error of two VQ-VAEs trained with the same recipe, steps and data, one with MBR "
            "blocks and one with plain 1-D convolutions (4-s crops of the test split):",
            "",
            M.table_markdown(
                [[k, f"{v['l2_normalized']:.4f}", f"{v['l2']:.4f}"] for k, v in l2.items()],
                ["VQ-VAE", "L2 (standardised log-spectrogram) ↓", "L2 (log-magnitude) ↓"],
            ),
            "",
        ]
    nll = extra.get("prior_nll")
    if nll:
        lines += [
            "## Prior NLL (MI Net paper Table 5)",
            "",
            "Teacher-forced negative log-likelihood of the test split's codes, nats per code (lower is better):",
            "",
            M.table_markdown([[k, f"{v:.3f}"] for k, v in nll.items()], ["Prior", "NLL ↓"]),
            "",
        ]
    demos = extra.get("demos")
    if demos:
        lines += [
            "## The bundled demo performances",
            "",
            "Each demo in `resources/demo/` generated by the bundled models, and the instrument the judge hears in "
            "it (share of its 1-s segments assigned to the instrument being played; in brackets the previous "
            "classifier's). The last two columns: the demo's own recording (a FluidSynth render) encoded and "
            "decoded by the model's VQ-VAE, then Griffin-Lim, which bounds what the prior can reach:",
            "",
            M.table_markdown(
                [
                    [
                        d["demo"],
                        d["model"],
                        f"{d['heard']} ({d.get('classifier_heard', '–')})",
                        f"{_pct(d['share'])} ({_pct(d.get('classifier_share'))})",
                        f"{d.get('vqvae_heard', '–')} ({d.get('vqvae_classifier_heard', '–')})",
                        f"{_pct(d.get('vqvae_share'))} ({_pct(d.get('vqvae_classifier_share'))})",
                    ]
                    for d in demos
                ],
                [
                    "Demo",
                    "Model",
                    "Heard as",
                    "Segments correct %",
                    "Recording via VQ-VAE heard as",
                    "Correct %",
                ],
            ),
            "",
        ]
    notes = extra.get("notes")
    if notes:
        lines += ["## Notes", "", *[f"* {n}" for n in notes], ""]
    lines += [
        f"Wall time of this run: {extra.get('seconds', 0) / 60:.1f} min (tracks already generated in the work "
        "folder are read back, not generated again). Numbers: `results.json`.",
        "",
    ]

    readme = out / "README.md"
    with atomic_path(readme) as tmp:
        Path(tmp).write_text("\n".join(lines), encoding="utf-8")
    with atomic_path(out / "results.json") as tmp:
        Path(tmp).write_text(json.dumps(results, indent=1, sort_keys=True), encoding="utf-8")
    return readme
