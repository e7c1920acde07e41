"""Choose the articulation's settings (minet_desktop.engine.articulation) on the validation split.

Generates the first 10 s of every validation performance once without articulation (seed 0), then articulates the
spectrogram with each setting and scores, with the evaluation's detector and judge: onset F1 against the score,
and the share of 1-s segments the instrument judge hears as the instrument played.

    python scripts/articulation_study.py resources/models/minet.safetensors --cache runs/default/cache

A MIDI model articulates its score's note onsets (what generation does for it); MI Net the movement's events.

Measured (2026-12-05, 26 validation performances, the shipped bundles, about 10 min each), onset F1 / heard %:

| | MI Net | MI Net + MIDI |
| --- | --- | --- |
| no articulation | 0.393 / 75.0 | 0.539 / 67.3 |
| threshold 0.5, no smoothing, dip 12 dB (shipped) | 0.502 / 75.0 | 0.683 / 66.5 |
| threshold 0.5, no smoothing, dip 20 dB | 0.508 / 75.0 | 0.710 / 65.8 |
| threshold 0.8, no smoothing, dip 12 dB | 0.503 / 75.0 | 0.683 / 66.5 |
| threshold 0.5, median over 80 ms, dip 12 dB | 0.499 / 74.6 | 0.709 / 66.2 |

Every other setting lies within these. A limit on how fast a frequency bin may rise between events (1-6 dB per
frame) was tried too and changed F1 by 0.02 at most; it is not kept. One setting for both models: dip 12 dB costs
the MIDI model 0.03 of F1 against 20 dB and saves it 0.7 points of the instrument heard.

The gap in the waveform (``--grid gap``; the shipped dips and attacks at the onset detector's events, or the
score's, then a gap before each; measured 2026-12-05 on the same 26 performances), onset F1 / heard %:

| | MI Net | MI Net + MIDI |
| --- | --- | --- |
| no gap | 0.612 / 75.0 | 0.699 / 65.8 |
| 12 dB, 20 ms, rise 5 ms | 0.672 / 75.0 | 0.787 / 66.2 |
| 20 dB, 40 ms, rise 5 ms | 0.747 / 74.6 | 0.877 / 66.9 |
| 30 dB, 40 ms, rise 15 ms | 0.739 / 74.6 | 0.883 / 66.5 |
| 30 dB, 30 ms, rise 5 ms | 0.746 / 74.6 | 0.877 / 65.8 |
| **30 dB, 40 ms, rise 5 ms, at most a third of the note before (shipped)** | **0.771 / 74.6** | **0.898 / 66.2** |
| 30 dB, 60 ms, rise 5 ms | 0.779 / 74.6 | 0.906 / 65.0 |
| 40 dB, 60 ms, rise 5 ms | 0.793 / 75.0 | 0.914 / 65.4 |

Deeper and longer gaps gain another 0.01-0.02 and make fast passages choppier; the cap on a third of the note
before costs at most 0.008.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch

from minet_desktop.engine.articulation import (
    Articulation,
    articulate,
    detected_events,
    gap_gain,
    movement_events,
    note_onsets,
)
from minet_desktop.engine.motion import skeleton_frames
from minet_desktop.engine.session import Session, notes_for_clip
from minet_desktop.features.audio import spectrogram_to_audio
from training.evaluate import metrics as M
from training.evaluate.judge import InstrumentJudge
from training.evaluate.run import load_test_tracks, track_excerpt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bundle")
    ap.add_argument("--cache", required=True)
    ap.add_argument("--split", default="val")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument(
        "--grid",
        choices=("settings", "shape", "gap"),
        default="shape",
        help="settings: thresholds, smoothing and dips of the movement events (the first table); shape: the "
        "events' source (movement events, the bundle's onset detector, the score) by the strength of each "
        "note's attack (the second table); gap: the shipped articulation at the bundle's events (its onset "
        "detector, or the score) with a gap in the waveform before each note, by depth and length",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    session = Session(args.bundle, device="cpu")
    backend = session.backend
    judge = InstrumentJudge.load()
    fr = backend.audio.frame_rate
    grid: list[tuple[str, str, Articulation]] = []  # (label, events' source, settings)
    if args.grid == "settings":
        src = "score" if backend.needs_notes else "movement"
        grid = [
            (f"threshold {a.threshold} smooth {a.smooth_s:g} s dip {a.dip_db:g} dB", src, a)
            for a in (
                Articulation(threshold=thr, smooth_s=sm, dip_db=dip, accent_db=0.0)
                for thr, sm, dip in itertools.product((0.5, 0.8), (0.0, 0.08), (12.0, 20.0))
            )
        ]
    elif args.grid == "gap":
        src = (
            "score"
            if backend.needs_notes
            else ("detector" if backend.bundle.onsets is not None else "movement")
        )
        grid = [(f"{src} events, no gap", src, Articulation())] + [
            (
                f"{src} events, gap {db:g} dB {1000 * g:g} ms, rise {1000 * r:g} ms, share {share:g}",
                src,
                Articulation(gap_db=db, gap_s=g, gap_rise_s=r, gap_max_share=share),
            )
            for db, g, r, share in [
                *itertools.product((12.0, 20.0, 30.0), (0.02, 0.04), (0.005, 0.015), (1.0,)),
                *itertools.product((30.0, 40.0), (0.03, 0.04, 0.06), (0.005,), (1.0, 0.33)),
            ]
        ]
    else:
        sources = ["score"] if backend.needs_notes else ["movement"]
        if not backend.needs_notes and backend.bundle.onsets is not None:
            sources.append("detector")
        grid = [
            (f"{src} events, accent {acc:g} dB", src, Articulation(accent_db=acc))
            for src in sources
            for acc in (0.0, 3.0, 6.0, 9.0)
        ]
    totals: dict[str, list[float]] = {}

    def add(key: str, o: M.OnsetResult, heard: int, segments: int) -> None:
        t = totals.setdefault(key, [0, 0, 0, 0, 0])
        for i, v in enumerate((o.n_matched, o.n_ref, o.n_est, heard, segments)):
            t[i] += v

    for t in load_test_tracks(args.cache, args.split):
        kf, notes = track_excerpt(t, args.seconds)
        r = session.generate(
            kf, notes=notes if backend.needs_notes else None, seed=0, griffin_lim_iters=32, articulation=None
        )
        wave, sr = r.waveform[0], r.sample_rate
        ref = np.array([n.onset for n in notes if n.onset < len(wave) / sr - 0.05])
        frames, _ = skeleton_frames(kf.keypoints, kf.fps, backend.audio, backend.skeleton)
        events: dict[str, np.ndarray] = {}
        if backend.needs_notes:
            seq, _ = notes_for_clip(notes, backend.audio.frame_rate, frames.shape[0], kf.duration, "notes")
            events["score"] = note_onsets(seq)
        if backend.bundle.onsets is not None:
            events["detector"] = detected_events(backend.bundle.onsets, frames, fr)
        for key, src, setting in [("none", "", None), *grid]:
            if setting is None:
                w2 = wave
            else:
                ev = movement_events(frames, fr, setting) if src == "movement" else events[src]
                spec = articulate(torch.from_numpy(r.spectrogram[0]), ev, fr, setting).numpy()
                w2 = spectrogram_to_audio(spec, backend.audio, n_iter=32, length=len(wave))
                w2 = w2 * gap_gain(len(w2), ev, fr, sr, setting)
            heard, _ = judge.judge_audio(w2, sr)
            add(
                key,
                M.onset_scores(ref, M.detect_onsets(w2, sr)),
                sum(h == t.instrument for h in heard),
                len(heard),
            )
        print(t.id, flush=True)
    for key, (m, n_ref, n_est, heard, segs) in totals.items():
        p, rec = m / max(n_est, 1), m / max(n_ref, 1)
        print(
            f"{key:>36}: onset P {p:.3f} R {rec:.3f} F1 {2 * p * rec / max(p + rec, 1e-9):.3f}; "
            f"heard {100 * heard / max(segs, 1):.1f} %"
        )


if __name__ == "__main__":
    main()
