"""Demo performances for `resources/demo/`: a video, its keypoint sidecar and the score of one synthetic player.

Each demo is cut from a synthetic corpus (`minet-train synth`), preferably from a piece of its test split so the
bundled model has not heard it:

    <name>.mp4                  the performer drawn as a stick figure (what the tracker reported), at the performance's frame rate
    <name>.mp4.keypoints.npz    the tracked keypoints, tied to the video by its SHA-256 (found automatically)
    <name>.mid                  the notes the performer plays (for MIDI-conditioned generation)
    <name>.wav                  what the synthetic performer sounded like (FluidSynth), for comparison

The keypoints are the corpus's tracker output (jitter, dropped joints), so the app shows exactly what a model
sees; the video is drawn from them, so overlay and picture agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from minet_desktop.core.atomic import file_sha256
from minet_desktop.core.errors import InputError
from minet_desktop.media.audio_io import read_audio, write_wav
from minet_desktop.media.midi import Note, read_notes_txt, write_midi
from minet_desktop.pose.keypoint_file import KeypointFile, sidecar_path
from training.datasets.base import GM_PROGRAMS, INSTRUMENT_NAMES
from training.datasets.urmp import read_urmp
from training.synth.video import draw_skeleton, write_video

#: Frame of the demo videos: small enough to ship, large enough to see the fingers.
DEMO_SIZE = (640, 360)


@dataclass(frozen=True)
class Demo:
    name: str
    instrument: str
    video: Path
    keypoints: Path
    midi: Path
    audio: Path
    seconds: float


def _test_pieces(cache_dir: Path | None) -> set[str]:
    if cache_dir is None:
        return set()
    manifest = json.loads((cache_dir / "manifest.json").read_text(encoding="utf-8"))
    return {t["piece"] for t in manifest["tracks"].values() if t.get("split") == "test"}


def _views(corpus: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """The camera and tracker drawn for every player of a synthetic corpus (``synth.json``), by (folder, player)."""
    manifest = corpus / "synth.json"
    if not manifest.is_file():
        return {}
    try:
        pieces = json.loads(manifest.read_text(encoding="utf-8"))["pieces"]
        return {
            (p["folder"], int(pl["player"])): dict(pl.get("view") or {})
            for p in pieces
            for pl in p["players"]
        }
    except (ValueError, KeyError, TypeError):
        return {}


def _unclear(view: dict[str, Any]) -> tuple[int, float]:
    """How far a view is from the one a first-time user should meet: a whole upper body, facing the camera
    (a demo is a showcase, the hard views are for the evaluation). Lower is clearer; no view: neutral."""
    if not view:
        return (0, 0.0)
    odd = int(view.get("framing") == "closeup") + int(view.get("tracker") == "openpose")
    odd += int(bool(view.get("left_handed")))
    return (odd, abs(float(view.get("yaw_deg", 0.0))))


def _player(track_id: str) -> int:
    """The player number of a corpus track id (``urmp/<piece>/<player>_<code>``)."""
    try:
        return int(track_id.rsplit("/", 1)[-1].split("_", 1)[0])
    except ValueError:
        return 0


def _fit(kp: np.ndarray, size: tuple[int, int], margin: float = 0.12) -> np.ndarray:
    """Scale and centre the performer into a ``size`` frame (one transform for the whole clip)."""
    ok = kp[:, 2] >= 0.3
    xs, ys = kp[:, 0][ok], kp[:, 1][ok]
    x0, x1, y0, y1 = np.percentile(xs, 1), np.percentile(xs, 99), np.percentile(ys, 1), np.percentile(ys, 99)
    # Leave room above the neck for the head the drawing adds.
    y0 -= 0.6 * (x1 - x0) / 2
    w, h = size
    s = min(w * (1 - 2 * margin) / max(x1 - x0, 1), h * (1 - 2 * margin) / max(y1 - y0, 1))
    out = kp.copy()
    out[:, 0] = (kp[:, 0] - (x0 + x1) / 2) * s + w / 2
    out[:, 1] = (kp[:, 1] - (y0 + y1) / 2) * s + h / 2
    return out


def make_demos(
    corpus_dir: str | PathLike[str],
    out_dir: str | PathLike[str],
    instruments: list[str],
    seconds: float = 12.0,
    cache_dir: str | PathLike[str] | None = None,
) -> list[Demo]:
    """Cut one demo per instrument from ``corpus_dir`` into ``out_dir``: test-split pieces first, and among
    them the clearest view (whole upper body, facing the camera, MediaPipe-style tracking)."""
    corpus = Path(corpus_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tracks, _ = read_urmp(corpus)
    test = _test_pieces(Path(cache_dir) if cache_dir else None)
    views = _views(corpus)
    demos: list[Demo] = []
    for code in instruments:
        if code not in INSTRUMENT_NAMES:
            raise InputError(None, f"unknown instrument code {code!r}")
        candidates = [t for t in tracks if t.instrument == code and t.notes_path is not None]
        candidates.sort(
            key=lambda t: (
                t.piece not in test,
                _unclear(views.get((t.audio_path.parent.name, _player(t.track_id)), {})),
                t.track_id,
            )
        )
        if not candidates:
            raise InputError(corpus, f"no {INSTRUMENT_NAMES[code]} track with notes in this corpus")
        track = candidates[0]
        kf = track.load_keypoints()
        if kf is None:
            raise InputError(track.audio_path, "this track has no keypoints")
        n = min(kf.n_frames, int(round(seconds * kf.fps)))
        kp = _fit(kf.keypoints[:n], DEMO_SIZE)
        name = INSTRUMENT_NAMES[code].lower().replace(" ", "_")
        video = out / f"{name}.mp4"

        def frames(kp: np.ndarray = kp):
            for t in range(kp.shape[0]):
                img = np.full((DEMO_SIZE[1], DEMO_SIZE[0], 3), 245, np.uint8)
                yield draw_skeleton(img, kp[t], scale=1.2)

        write_video(video, frames(), fps=kf.fps)
        KeypointFile(
            kp, kf.fps, DEMO_SIZE, file_sha256(video), video.name, float((kp[:, 2, 0] > 0).mean())
        ).save(sidecar_path(video))
        duration = n / kf.fps
        notes = [
            Note(nt.onset, min(nt.offset, duration), nt.pitch, nt.velocity)
            for nt in read_notes_txt(track.notes_path)
            if nt.onset < duration - 0.05
        ]
        midi = out / f"{name}.mid"
        write_midi(midi, notes, program=GM_PROGRAMS[code])
        wave, sr = read_audio(track.audio_path)
        audio = out / f"{name}.wav"
        write_wav(audio, wave[: int(round(duration * sr))], sr)
        demos.append(Demo(name, code, video, sidecar_path(video), midi, audio, duration))
    return demos
