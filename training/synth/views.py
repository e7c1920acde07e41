"""The same synthetic performance seen by other cameras and trackers: label-free multi-view pairs.

A synthetic corpus draws one camera and one tracker per player (:class:`~training.synth.motion.Performer`).
The 3-D performance behind it is a function of the corpus' seed, so it can be replayed without rendering any
audio and filmed again: each extra view keeps the player (body, posture, hold, every movement, the frame
rate) and draws a new camera (yaw, pitch, roll, distance, framing) and a new tracker (MediaPipe or OpenPose,
jitter, hand losses, swaps, dropped frames) from the same :class:`~training.synth.variety.Ranges`.

Two views of one moment are a pair that differs only by how it was filmed, the signal of multi-view
self-supervision (time-contrastive networks, Sermanet et al. 2018). Nothing here reads or writes an
instrument label; the views carry exactly what the corpus' own skeleton carries.

Entry point: :func:`write_views` (``minet-train views``), which writes ``views/<track dir>.npy`` beside a
prepared cache: ``(V, T, 3, 47)`` float16, the cache's model-ready layout (``model_frames``), view 0 being
the cache's own skeleton.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from minet_desktop.core.atomic import atomic_path, atomic_write_text
from minet_desktop.core.errors import InputError

#: Folder beside a cache's ``tracks/`` that holds the views, and its index.
VIEWS_DIR = "views"
VIEWS_INDEX = "views.json"
VIEWS_FORMAT = 1

#: What a new camera and tracker redraw; everything else about the performer (the player) stays.
CAMERA_FIELDS = (
    "yaw", "roll", "pitch", "distance", "framing", "framing_amount", "tracker", "jitter_px", "jitter_rel",
    "jitter_speed", "fast_hand_speed", "fast_hand_loss", "hand_swap_rate", "frame_drop",
)  # fmt: skip


def refilm(pose: Any, perf: Any, inst: Any, rng: np.random.Generator, ranges: Any) -> tuple[np.ndarray, Any]:
    """``pose`` filmed by a new camera and tracker drawn from ``ranges``: ``(T, 3, 47)`` keypoints and the
    new :class:`~training.synth.motion.Performer` (the player's own fields unchanged)."""
    from training.synth.motion import Performer, frame_camera, track

    drawn = Performer.sample(inst, rng, ranges, perf.fps)
    new = dataclasses.replace(perf, **{f: getattr(drawn, f) for f in CAMERA_FIELDS})
    frame_camera(pose, new, rng)
    return track(pose, new, inst, rng), new


def replay_players(
    plan: Any, seed: int, views: str = "standard", melody_file: str | None = None
) -> list[Any]:
    """The players of one planned piece exactly as :func:`~training.synth.corpus.render_piece` performs
    them, without the audio: ``[(player k, instrument, Pose3D, Performer, keypoints, fps)]``.

    The keypoints are the bytes the corpus wrote (the same streams are drawn in the same order)."""
    from training.synth.corpus import play_parts
    from training.synth.motion import perform, track

    _, parts, motion_rngs, fps, ranges = play_parts(plan, seed, views, melody_file)
    duration = max(p[2].duration for p in parts)
    out = []
    for k, (_, inst, played, _) in enumerate(parts, start=1):
        mrng = motion_rngs[k - 1]
        pose, perf = perform(inst, played.notes, played.beat_times, duration, mrng, ranges=ranges, fps=fps)
        kp = track(pose, perf, inst, mrng)
        out.append((k, inst, pose, perf, kp, fps))
    return out


def piece_views(
    plan: Any, seed: int, n_views: int, views: str = "standard", view_seed: int = 0
) -> Iterator[tuple[int, str, float, list[np.ndarray]]]:
    """``(player k, instrument code, fps, [keypoints of view 0 .. n_views])`` for each player of ``plan``:
    view 0 is the corpus' own, the others are new cameras and trackers from ``views``' ranges, drawn from
    ``view_seed`` (a stream apart from the corpus')."""
    from training.synth.variety import VIEWS

    ranges = VIEWS[views]
    for k, inst, pose, perf, kp, fps in replay_players(plan, seed, views):
        vs = np.random.SeedSequence([int(seed), 0x71E5, int(view_seed), plan.index, k])
        kps = [kp]
        for r in vs.spawn(n_views):
            kps.append(refilm(pose, perf, inst, np.random.default_rng(r), ranges)[0])
        yield k, inst.code, fps, kps


def _corpus_plans(corpus: Path) -> tuple[dict[str, Any], list[Any]]:
    from training.synth import instruments as instr
    from training.synth.corpus import MANIFEST, plan_corpus

    path = corpus / MANIFEST
    if not path.is_file():
        raise InputError(path, "not found: views need the synthetic corpus the cache was prepared from")
    try:
        m = json.loads(path.read_text())
        insts = [
            instr.with_range(instr.get_instrument(i["code"]), i["low"], i["high"]) for i in m["instruments"]
        ]
        pieces = None
        if m.get("excluded_pieces"):
            raise InputError(path, "views of a corpus made with --exclude are not supported")
        plans = plan_corpus(float(m["minutes"]), insts, int(m["seed"]), tuple(m["track_seconds"]), pieces)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"not a synthetic corpus manifest ({exc})") from None
    if [p.folder for p in plans] != [p["folder"] for p in m["pieces"]]:
        raise InputError(path, "the corpus' pieces are not what its seed plans (made by another version?)")
    return m, plans


def write_views(
    corpus: str | PathLike[str],
    cache: str | PathLike[str],
    n_views: int = 2,
    view_seed: int = 0,
    splits: Sequence[str] = ("train",),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write ``n_views`` extra views of every cache track of ``splits`` that comes from ``corpus``.

    Each is put through the cache's own ``model_frames`` at the track's frame count; view 0 is the cache's
    skeleton as it is. Checks on the way that the replayed view 0 is the corpus' keypoints (same bytes), so
    views never pair a skeleton with another performance. Returns the index written to ``views.json``.
    """
    from minet_desktop.core.skeleton import model_frames
    from minet_desktop.pose.keypoint_file import KeypointFile
    from training.cache import load_manifest, manifest_config

    corpus, cache = Path(corpus), Path(cache)
    if n_views < 1:
        raise ValueError("n_views must be >= 1")
    manifest = load_manifest(cache)
    cfg = manifest_config(manifest)
    m, plans = _corpus_plans(corpus)
    views = str(m.get("views", "standard"))
    wanted = [
        e for e in manifest["tracks"].values() if e.get("split") in splits and e.get("dataset") == "urmp"
    ]
    by_piece: dict[str, list[dict[str, Any]]] = {}
    for e in wanted:
        by_piece.setdefault(e["piece"], []).append(e)
    out_dir = cache / VIEWS_DIR
    out_dir.mkdir(exist_ok=True)
    index: dict[str, Any] = {"format": VIEWS_FORMAT, "n_views": int(n_views), "view_seed": int(view_seed),
                             "corpus_seed": int(m["seed"]), "views": views, "tracks": {}}  # fmt: skip
    t0 = time.perf_counter()
    done = 0
    thr = cfg.skeleton.confidence_threshold
    for plan in plans:
        entries = by_piece.get(f"{plan.piece_no:02d}_{plan.name}")
        if not entries:
            continue
        for k, code, fps, kps in piece_views(plan, int(m["seed"]), n_views, views, view_seed):
            ent = next((e for e in entries if e["id"].endswith(f"/{k}_{code}")), None)
            if ent is None:
                continue
            kp_file = next((corpus / plan.folder).glob(f"Kp_{k}_{code}_*.npz"), None)
            if kp_file is not None:
                stored = KeypointFile.load(kp_file).keypoints
                if stored.shape != kps[0].shape or not np.array_equal(stored, kps[0]):
                    raise InputError(
                        kp_file, "the replayed performance differs from this file; views not written"
                    )
            T = int(ent["n_frames"])
            skel = np.load(cache / ent["dir"] / "skeleton.npy", mmap_mode="r")
            frames = [np.asarray(skel, np.float32)]
            for kp in kps[1:]:
                frames.append(model_frames(kp, fps, cfg.audio.frame_rate, T, thr)[0])
            arr = np.stack(frames).astype(np.float16)
            name = Path(ent["dir"]).name + ".npy"
            with atomic_path(out_dir / name) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, arr)
            index["tracks"][ent["id"]] = {"file": f"{VIEWS_DIR}/{name}"}
            done += 1
            if progress:
                progress(f"{done}/{len(wanted)} {ent['id']} ({time.perf_counter() - t0:.0f} s)")
    atomic_write_text(cache / VIEWS_INDEX, json.dumps(index, indent=1, sort_keys=True) + "\n")
    return index
