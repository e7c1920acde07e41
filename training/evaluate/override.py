"""Does the instrument override work? Every test performance played as every other instrument, judged.

For each instrument of the test split, ``sources`` performances (their first ``seconds`` s) are generated with
the instrument override set to each of the *other* instruments; the evaluation's judge (the classifier fitted
on the real recordings of the training split) names the instrument of every 1-s segment. The table gives, per
chosen instrument, the share of segments heard as it, and the onset F1 of the overridden audio against the
source performance's score next to that of the audio generated without an override: the timing should still
follow the movement. The judge is the evaluation's instrument judge (``training.evaluate.judge``) when one is
trained, else the classifier fitted on the training split's ground-truth recordings (the report names which).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from minet_desktop.core.instruments import instrument_name
from minet_desktop.pose.keypoint_file import KeypointFile
from training.evaluate.run import EvalTrack, Evaluation, TrackAudioResult, track_excerpt


@dataclass
class OverrideRow:
    """One chosen instrument: segments heard as it, and onset F1 against the sources' scores."""

    instrument: str
    segments: int = 0
    heard: int = 0
    onset_matched: float = 0.0
    onset_ref: int = 0
    onset_est: int = 0
    heard_as: dict[str, int] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return self.heard / self.segments if self.segments else float("nan")

    @property
    def onset_f1(self) -> float:
        return _f1(self.onset_matched, self.onset_ref, self.onset_est)


def _f1(matched: float, n_ref: int, n_est: int) -> float:
    if not n_ref or not n_est:
        return 0.0
    p, r = matched / n_est, matched / n_ref
    return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class OverrideReport:
    bundle: str
    seconds: float
    strength: float
    contrast: float
    split: str
    rows: list[OverrideRow]
    auto: OverrideRow  # the sources without an override, judged against their own instrument
    minutes: float = 0.0
    judge: str = (
        "classifier"  # "judge" (training.evaluate.judge) or "classifier" (training.evaluate.classifier)
    )

    @property
    def accuracy(self) -> float:
        n = sum(r.segments for r in self.rows)
        return sum(r.heard for r in self.rows) / n if n else float("nan")

    @property
    def onset_f1(self) -> float:
        return _f1(
            sum(r.onset_matched for r in self.rows),
            sum(r.onset_ref for r in self.rows),
            sum(r.onset_est for r in self.rows),
        )

    def markdown(self) -> str:
        lines = [
            "| Chosen instrument | Segments | Heard as chosen % | Most often heard otherwise | Onset F1 |",
            "| --- | ---: | ---: | --- | ---: |",
        ]
        for r in self.rows:
            other = sorted(((n, c) for c, n in r.heard_as.items() if c != r.instrument), reverse=True)
            miss = f"{instrument_name(other[0][1])} ({other[0][0]})" if other else "-"
            lines.append(
                f"| {instrument_name(r.instrument)} | {r.segments} | {100 * r.accuracy:.1f} | {miss} | "
                f"{r.onset_f1:.2f} |"
            )
        lines.append(
            f"| **all** | {sum(r.segments for r in self.rows)} | **{100 * self.accuracy:.1f}** | | "
            f"{self.onset_f1:.2f} |"
        )
        lines.append(
            f"| no override (its own instrument) | {self.auto.segments} | {100 * self.auto.accuracy:.1f} | | "
            f"{self.auto.onset_f1:.2f} |"
        )
        return "\n".join(lines)


def _add(row: OverrideRow, r: TrackAudioResult, label: str) -> None:
    heard = r.judge_pred if r.judge_pred is not None else r.clf_pred
    row.segments += len(heard)
    row.heard += sum(1 for x in heard if x == label)
    for x in heard:
        row.heard_as[x] = row.heard_as.get(x, 0) + 1
    row.onset_matched += r.onset_matched
    row.onset_ref += r.onset_ref
    row.onset_est += r.onset_est


def pick_sources(tracks: Sequence[EvalTrack], per_instrument: int) -> list[EvalTrack]:
    """The first ``per_instrument`` test tracks of every instrument (in track order)."""
    out: list[EvalTrack] = []
    for code in dict.fromkeys(t.instrument for t in tracks):
        out += [t for t in tracks if t.instrument == code][:per_instrument]
    return out


def evaluate_override(
    ev: Evaluation,
    bundle: str | PathLike[str],
    seconds: float = 10.0,
    per_instrument: int = 1,
    targets: Sequence[str] | None = None,
    seed: int = 0,
    strength: float | None = None,
    midi: bool = False,
    log: Callable[[str], None] = print,
    contrast: float | None = None,
) -> OverrideReport:
    """Generate and judge (see the module docstring); ``strength`` and ``contrast`` override the bundle's for a
    measurement; ``targets``: only these chosen instruments; ``midi``: the sources' scores condition a MIDI
    model."""
    from minet_desktop.engine.session import Session

    session = Session(bundle, device=ev.opts.device)
    protos = session.backend.bundle.instruments  # type: ignore[attr-defined]
    if protos is None:
        raise ValueError(f"{bundle}: no instrument prototypes")
    if strength is not None:
        protos.cfg = dataclasses.replace(protos.cfg, strength=strength)
    if contrast is not None:
        protos.cfg = dataclasses.replace(protos.cfg, contrast=contrast)
    codes = [c for c in (targets or session.instruments)]
    for c in codes:
        protos.index(c)  # ValueError naming the model's codes for an unknown one
    sources = pick_sources(ev.tracks, per_instrument)
    rows = {c: OverrideRow(c) for c in codes}
    auto = OverrideRow("auto")
    opts = dataclasses.replace(ev.opts, audio_seconds=seconds)
    t_start = time.perf_counter()

    def run(
        t: EvalTrack, kf: KeypointFile, notes: Any, instrument: str | None, label: str
    ) -> TrackAudioResult:
        res = session.generate(
            kf,
            notes=notes,
            seed=seed,
            griffin_lim_iters=ev.opts.griffin_lim_iters,
            instrument=instrument,
        )
        from training.evaluate.run import score_audio

        return score_audio(
            res.waveform[0],
            res.sample_rate,
            t,
            ev.notes[t.id],
            ev.classifier,
            opts,
            ev.mel_frames_per_segment,
            ev.judge,  # None only when no judge is trained: the classifier's answer is used then
        )

    for i, t in enumerate(sources):
        kf, excerpt_notes = track_excerpt(t, seconds)
        notes = excerpt_notes if midi else None
        _add(auto, run(t, kf, notes, None, t.instrument), t.instrument)
        for c in codes:
            if c == t.instrument:
                continue
            _add(rows[c], run(t, kf, notes, c, c), c)
        log(
            f"  override: {i + 1}/{len(sources)} {t.id} ({time.perf_counter() - t_start:.0f} s); so far "
            + ", ".join(f"{c} {100 * r.accuracy:.0f}" for c, r in rows.items() if r.segments)
        )
    return OverrideReport(
        str(bundle),
        seconds,
        protos.cfg.strength,
        protos.cfg.contrast,
        ev.split,
        list(rows.values()),
        auto,
        (time.perf_counter() - t_start) / 60,
        "judge" if ev.judge is not None else "classifier",
    )


def report_json(report: OverrideReport) -> dict[str, Any]:
    d = dataclasses.asdict(report)
    d["accuracy"] = report.accuracy
    d["onset_f1"] = report.onset_f1
    for r, row in zip(d["rows"], report.rows, strict=True):
        r["accuracy"], r["onset_f1"] = row.accuracy, row.onset_f1
    return d


def write_report(report: OverrideReport, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "override.json").write_text(json.dumps(report_json(report), indent=1))
    head = (
        f"Sources: the {report.split} split, first {report.seconds:g} s; strength {report.strength:g}, "
        f"contrast {report.contrast:g}; judged by the {'instrument judge' if report.judge == 'judge' else 'classifier'}.\n\n"
    )
    (out / "override.md").write_text(head + report.markdown() + "\n")


__all__ = ["OverrideReport", "OverrideRow", "evaluate_override", "pick_sources", "write_report"]
