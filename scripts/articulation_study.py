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
        choices=("settings", "shape"),
        default="shape",
        help="settings: thresholds, smoothing and dips of the movement events (the first table); shape: the "
        "events' source (movement events, the bundle's onset detector, the score) by the strength of each "
        "note's attack (the second table)",
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
