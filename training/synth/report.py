"""``minet-train synth-report DIR``: minutes and pitch ranges per instrument, and a skeleton contact sheet.

The contact sheet has one row per instrument and up to :data:`PER_ROW` performances in it, each drawn in its
whole camera frame (so framing, camera angle and hands past the frame edge show), labelled with the way it is
held, the camera yaw, the tracker and the frame rate when the corpus's ``synth.json`` records them.

Works on any URMP-layout folder with ``Kp_*.npz`` keypoints (the synthetic corpus or real URMP with extracted
keypoints): it reads what the training cache would read, through ``training.datasets.urmp.read_urmp``.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np

from minet_desktop.core.atomic import atomic_path
from minet_desktop.core.errors import InputError
from minet_desktop.media.midi import read_notes_txt
from minet_desktop.pose.keypoint_file import KeypointFile
from training.datasets.base import INSTRUMENT_CODES, INSTRUMENT_NAMES

TILE = 320
#: Performances per instrument on the contact sheet.
PER_ROW = 6
CONTACT_SHEET = "contact_sheet.png"
_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(pitch: int) -> str:
    return f"{_NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def best_frame(kp: np.ndarray) -> int:
    """A frame near the middle of the track where every joint was tracked (or the most complete one)."""
    ok = (kp[:, 2] >= 0.3).sum(axis=1)
    full = np.flatnonzero(ok == ok.max())
    mid = kp.shape[0] // 2
    return int(full[np.argmin(np.abs(full - mid))])


def draw_tile(
    kp_frame: np.ndarray, label: str, size: int = TILE, box: tuple[float, float, float] | None = None
) -> np.ndarray:
    """One skeleton frame ``(3, 47)`` (pixels) drawn into a ``size`` x ``size`` RGB tile with a label."""
    import cv2

    from training.synth.video import crop_box, draw_skeleton

    f = kp_frame.copy()
    if box is None:
        # Include the head (not a tracked joint): about 0.9 shoulder widths above the neck.
        width = float(np.hypot(*(f[:2, 1] - f[:2, 4])))
        head = f[:, :1].copy()
        head[1] -= 0.9 * width
        x0, y0, side = crop_box(_with_point(f, head), margin=0.12)
    else:
        x0, y0, side = box
    s = size / side
    f[0] = (f[0] - x0) * s
    f[1] = (f[1] - y0) * s
    tile = np.full((size, size, 3), 255, np.uint8)
    draw_skeleton(tile, f, scale=size / 320)
    cv2.putText(tile, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.rectangle(tile, (0, 0), (size - 1, size - 1), (200, 200, 200), 1)
    return tile


def draw_frame_tile(
    kp_frame: np.ndarray, frame_size: tuple[int, int], label: str, width: int = TILE
) -> np.ndarray:
    """One skeleton frame ``(3, 47)`` drawn in its whole camera frame, scaled to ``width`` pixels wide."""
    import cv2

    from training.synth.video import draw_skeleton

    fw, fh = (int(frame_size[0]), int(frame_size[1])) if frame_size[0] > 0 else (1280, 720)
    s = width / fw
    height = max(1, int(round(fh * s)))
    f = kp_frame.copy()
    f[0] *= s
    f[1] *= s
    tile = np.full((height, width, 3), 255, np.uint8)
    draw_skeleton(tile, f, scale=0.45)
    cv2.putText(tile, label, (5, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(tile, (0, 0), (width - 1, height - 1), (160, 160, 160), 1)
    return tile


def _views(root: Path) -> dict[tuple[str, str], dict]:
    """(piece folder, player number) -> the view recorded in synth.json (empty when there is none)."""
    import json

    try:
        m = json.loads((root / "synth.json").read_text())
        return {
            (p["folder"], str(pl["player"])): {**pl.get("view", {}), "fps": pl.get("fps")}
            for p in m["pieces"]
            for pl in p["players"]
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _soundfont_line(root: Path) -> str | None:
    """ "soundfonts: A n pieces (test t), B ..." from synth.json when its pieces record one (None otherwise)."""
    import json
    from collections import Counter

    try:
        pieces = json.loads((root / "synth.json").read_text())["pieces"]
        n = Counter(p["soundfont"] for p in pieces)
        test = Counter(p["soundfont"] for p in pieces if p.get("split") == "test")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return "soundfonts: " + ", ".join(f"{sf} {k} pieces (test {test[sf]})" for sf, k in n.most_common())


def _view_label(code: str, view: dict, fps: float) -> str:
    parts = [code]
    if view.get("hold"):
        parts.append(view["hold"])
    elif "seated" in view:
        parts.append("seated" if view["seated"] else "standing")
    if view.get("left_handed"):
        parts.append("left-h.")
    if "yaw_deg" in view:
        parts.append(f"yaw {view['yaw_deg']:+.0f}")
    if view.get("framing") == "closeup":
        parts.append("close")
    if view.get("tracker"):
        parts.append("OP" if view["tracker"] == "openpose" else "MP")
    parts.append(f"{fps:g}fps")
    return " ".join(parts)


def _with_point(f: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """``(1, 3, 47)`` keypoints whose unused slot (a low-confidence joint, or the neck) also covers ``extra``."""
    g = np.concatenate([f, extra], axis=1)  # (3, 48)
    ok = g[2] >= 0.3
    xs, ys = g[0][ok], g[1][ok]
    box = np.zeros((1, 3, 47), np.float32)
    box[0, 0, :2] = [xs.min(), xs.max()]
    box[0, 1, :2] = [ys.min(), ys.max()]
    box[0, 2, :2] = 1.0
    return box


def write_report(corpus_dir: str | PathLike[str], out_png: str | PathLike[str] | None = None) -> str:
    """Summarise a URMP-layout corpus and write the contact sheet; returns the report text.

    Parameters
    ----------
    corpus_dir
        Corpus folder (e.g. written by ``minet-train synth``).
    out_png
        Contact sheet path; ``<corpus_dir>/contact_sheet.png`` when None.

    Raises
    ------
    InputError
        The folder is missing or holds no track with keypoints.
    """
    import cv2
    import soundfile as sf

    from training.datasets.urmp import read_urmp

    root = Path(corpus_dir)
    if not root.is_dir():
        raise InputError(root, "corpus folder not found")
    tracks, problems = read_urmp(root)
    views = _views(root)
    per: dict[str, dict] = {}
    for tr in tracks:
        d = per.setdefault(
            tr.instrument,
            {"seconds": 0.0, "tracks": 0, "lo": 127, "hi": 0, "kp": None, "lost": [], "tiles": []},
        )
        try:
            d["seconds"] += sf.info(str(tr.audio_path)).duration
        except Exception:  # noqa: BLE001 - reported by the reader already
            continue
        d["tracks"] += 1
        if tr.notes_path is not None:
            notes = read_notes_txt(tr.notes_path)
            d["lo"] = min(d["lo"], min(n.pitch for n in notes))
            d["hi"] = max(d["hi"], max(n.pitch for n in notes))
        if tr.keypoints_path is not None and tr.keypoints_kind == "npz":
            kf = KeypointFile.load(tr.keypoints_path)
            kp = kf.keypoints
            d["lost"].append(((kp[:, 2, 7] == 0).mean() + (kp[:, 2, 27] == 0).mean()) / 2)
            if d["kp"] is None:
                d["kp"] = kp[best_frame(kp)]
            if len(d["tiles"]) < PER_ROW:
                player = tr.keypoints_path.name.split("_")[1]
                view = views.get((tr.keypoints_path.parent.name, player), {})
                label = _view_label(tr.instrument, view, kf.fps)
                d["tiles"].append(draw_frame_tile(kp[best_frame(kp)], kf.frame_size, label))
    if not any(d["kp"] is not None for d in per.values()):
        raise InputError(root, "no track with keypoints (Kp_*.npz) found")
    lines = [
        f"{root}: {sum(d['tracks'] for d in per.values())} tracks, "
        f"{sum(d['seconds'] for d in per.values()) / 60:.1f} minutes"
    ]
    sf_line = _soundfont_line(root)
    if sf_line:
        lines.append(sf_line)
    lines.append(f"{'instrument':<13}{'tracks':>7}{'minutes':>9}  pitch range        hands lost")
    rows = []
    for code in INSTRUMENT_CODES:
        if code not in per:
            continue
        d = per[code]
        rng = (
            f"{note_name(d['lo'])}-{note_name(d['hi'])} ({d['lo']}-{d['hi']})" if d["hi"] >= d["lo"] else "-"
        )
        lost = f"{100 * float(np.mean(d['lost'])):.1f} %" if d["lost"] else "-"
        lines.append(
            f"{INSTRUMENT_NAMES[code]:<13}{d['tracks']:>7}{d['seconds'] / 60:>9.2f}  {rng:<18} {lost:>6}"
        )
        if d["tiles"]:
            rows.append(d["tiles"])
    if problems:
        lines.append(f"{len(problems)} problem(s) while reading:")
        lines.extend(f"  {p}" for p in problems.problems[:20])
    cols = max(len(r) for r in rows)
    h = max(t.shape[0] for r in rows for t in r)
    blank = np.full((h, TILE, 3), 255, np.uint8)
    sheet = np.vstack([
        np.hstack([np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0)), constant_values=255) for t in r]
                  + [blank] * (cols - len(r)))
        for r in rows
    ])  # fmt: skip
    png = Path(out_png) if out_png is not None else root / CONTACT_SHEET
    with atomic_path(png, suffix=".png") as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
            raise InputError(png, "could not write the contact sheet")
    lines.append(f"contact sheet: {png}")
    return "\n".join(lines)
