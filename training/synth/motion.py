"""Note-driven body and hand motion, reported the way MediaPipe Holistic reports a real player.

The performer is a small 3-D kinematic model in *shoulder widths* (x: image right = the performer's left,
y: down, z: toward the camera, origin at the neck):

* a torso (neck, two shoulders) that sways with the beat, breathes before phrases and leans into bow strokes;
* two arms solved by two-bone inverse kinematics from the shoulder to an instrument-specific wrist target,
  with an instrument-specific elbow direction (the violinist's left elbow under the instrument, the
  flautist's right elbow out to the side);
* two 21-point hands (MediaPipe order) whose fingers are flexion chains; which fingers are curled depends on
  the pitch: the string player's left-hand finger and position along the neck, woodwind hole patterns,
  trumpet/horn/tuba valve combinations; the trombone's right hand follows the slide position.

Notes drive the motion: bow strokes change direction at every onset with a speed that follows the velocity,
fingers land a frame before the sound, winds breathe and lower the instrument in rests.

Every performance draws, from one :class:`~training.synth.variety.Ranges` (all ranges and the reasons for them
live there): the player's proportions and posture (upright to slumped, leaning), the way the instrument is
held (the alto saxophone on its strap at the right hip, the horn's bell on the knee, a standing cellist, ...),
seated or standing, left-handed where instruments are built mirrored; a camera with its own frame rate (one
per piece), yaw, pitch, roll, distance (perspective) and framing, from a wide shot to an upper-body close-up
with the hands at or past the frame edge; and a tracker, MediaPipe- or OpenPose-style, whose jitter grows
with distance and speed, which loses hands in fast motion, swaps left and right hands for a few frames and
reports low-confidence joints (:func:`track`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from minet_desktop.core.skeleton import (
    L_ELBOW,
    L_HAND,
    L_SHOULDER,
    L_WRIST,
    N_JOINTS,
    NECK,
    R_ELBOW,
    R_HAND,
    R_SHOULDER,
    R_WRIST,
)
from minet_desktop.media.midi import Note
from training.synth.instruments import Instrument
from training.synth.variety import HOLDS, LEFT_HANDED_OK, STANDARD, Ranges

FPS = 30.0
FRAME_SIZE = (1280, 720)
#: Camera distance for the weak perspective, in shoulder widths (~2.7 m).
CAMERA_DISTANCE = 7.0

# Hand model, in hand lengths, in the hand's frame (u: toward the fingers, v: toward the thumb side,
# w: out of the palm). MCP joints (u, v) of index..little and their (proximal, middle, distal) lengths.
_MCP = np.array([[0.52, 0.13], [0.55, 0.03], [0.52, -0.06], [0.47, -0.15]])
_SEG = np.array([[0.20, 0.12, 0.09], [0.22, 0.14, 0.10], [0.20, 0.13, 0.09], [0.16, 0.10, 0.08]])
_SPLAY = np.radians([9.0, 0.0, -7.0, -15.0])
_FLEX = np.radians([75.0, 95.0, 70.0])  # MCP, PIP, DIP at curl 1
_THUMB_BASE = np.array([0.13, 0.13])
_THUMB_SEG = np.array([0.17, 0.14, 0.11])


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _bcast(v: np.ndarray, T: int) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return np.broadcast_to(v, (T, 3)).copy() if v.ndim == 1 else v


def hand_points(
    wrist: np.ndarray, fingers: np.ndarray, palm: np.ndarray, side: str, curls: np.ndarray, length: float
) -> np.ndarray:
    """``(T, 20, 3)`` hand points 1..20 (MediaPipe order) of a hand.

    Parameters
    ----------
    wrist
        ``(T, 3)`` wrist position.
    fingers, palm
        ``(T, 3)`` or ``(3,)``: direction the straight fingers point and the palm normal (orthogonalised here).
    side
        "R" or "L" (decides on which side the thumb is).
    curls
        ``(T, 5)`` flexion of thumb, index, middle, ring, little in [0, 1].
    length
        Hand length (wrist to middle fingertip, straight).
    """
    T = wrist.shape[0]
    U = _unit(_bcast(fingers, T))
    W = _bcast(palm, T)
    W = _unit(W - np.sum(W * U, axis=1, keepdims=True) * U)
    V = np.cross(W, U) if side == "R" else np.cross(U, W)
    out = np.empty((T, 20, 3))
    # Thumb: opposes (turns toward the palm and across it) as it curls.
    c = curls[:, 0:1]
    base = _THUMB_BASE[0] * U + _THUMB_BASE[1] * V
    d0 = _unit(0.55 * U + (0.85 - 0.55 * c) * V + 0.45 * c * W)
    pos = base.copy()
    out[:, 0] = pos
    ang = np.zeros((T, 1))
    for k, (seg, flex) in enumerate(zip(_THUMB_SEG, np.radians([20.0, 35.0, 45.0]), strict=False)):
        ang = ang + flex * c
        pos = pos + seg * (np.cos(ang) * d0 + np.sin(ang) * W)
        if k < 2:
            out[:, 1 + k] = pos
    out[:, 3] = pos
    # Shift so thumb CMC..tip are points 1..4 (CMC, MCP, IP, tip).
    out[:, 0:4] = np.stack([base, out[:, 1], out[:, 2], out[:, 3]], axis=1)
    for f in range(4):
        c = curls[:, f + 1 : f + 2]
        splay = _SPLAY[f] * (1.0 - 0.6 * c)
        d0 = np.cos(splay) * U + np.sin(splay) * V
        pos = _MCP[f, 0] * U + _MCP[f, 1] * V
        out[:, 4 + 4 * f] = pos
        ang = np.zeros((T, 1))
        for k in range(3):
            ang = ang + _FLEX[k] * c
            pos = pos + _SEG[f, k] * (np.cos(ang) * d0 + np.sin(ang) * W)
            out[:, 4 + 4 * f + k + 1] = pos
    return wrist[:, None, :] + length * out


def two_bone_ik(
    shoulder: np.ndarray, target: np.ndarray, upper: float, fore: float, pole: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Elbow and (reachable) wrist for a shoulder -> wrist target, elbow bent toward ``pole``."""
    T = shoulder.shape[0]
    d = target - shoulder
    L = np.linalg.norm(d, axis=1, keepdims=True)
    Lc = np.clip(L, abs(upper - fore) + 1e-3, (upper + fore) * 0.995)
    u = d / np.maximum(L, 1e-9)
    wrist = shoulder + u * Lc
    cos_a = (upper**2 + Lc**2 - fore**2) / (2 * upper * Lc)
    sin_a = np.sqrt(np.clip(1 - cos_a**2, 0, 1))
    p = _bcast(pole, T)
    p = p - np.sum(p * u, axis=1, keepdims=True) * u
    p = _unit(p)
    elbow = shoulder + u * (upper * cos_a) + p * (upper * sin_a)
    return elbow, wrist


# --------------------------------------------------------------------------------------------------------
# Note-derived controls


@dataclass
class Controls:
    """Per-frame signals derived from the notes."""

    t: np.ndarray  # (T,) seconds
    note: np.ndarray  # (T,) index of the note that is sounding or being prepared (fingers land early)
    sounding: np.ndarray  # (T,) bool
    velocity: np.ndarray  # (T,) 0..1 loudness
    lift: np.ndarray  # (T,) 0..1: instrument lowered / bow lifted in a long rest
    inhale: np.ndarray  # (T,) 0..1: breathing in before a phrase
    beat: np.ndarray  # (T,) beats (quarter notes) elapsed, continuous
    onset_frames: np.ndarray  # frame of each note onset


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def controls(
    notes: Sequence[Note],
    beat_times: np.ndarray,
    n_frames: int,
    lead: float | None = None,
    fps: float = FPS,
) -> Controls:
    """Per-frame controls at ``fps``; fingers land ``lead`` seconds (default one frame) before the sound."""
    lead = 1.0 / fps if lead is None else lead
    t = np.arange(n_frames) / fps
    on = np.array([n.onset for n in notes])
    off = np.array([n.offset for n in notes])
    # The note a frame prepares for: the last one whose onset (minus the landing lead) has passed.
    idx = np.searchsorted(on - lead, t, side="right") - 1
    idx = np.clip(idx, 0, len(notes) - 1)
    # During a rest, hands already go to the next note shortly before it.
    sounding = (t >= on[idx]) & (t < off[idx])
    vel = np.array([n.velocity for n in notes], np.float64)[idx] / 127.0
    lift = np.zeros(n_frames)
    inhale = np.zeros(n_frames)
    gaps = [(0.0, on[0])] + [(off[i], on[i + 1]) for i in range(len(notes) - 1)] + [(off[-1], t[-1] + 1.0)]
    for k, (a, b) in enumerate(gaps):
        g = b - a
        if g >= 1.3:  # long rest: lower the instrument after 0.3 s, raise it again 0.8 s before the entry
            down = _smoothstep((t - a - 0.25) / 0.45)
            up = 1 - _smoothstep((t - (b - 0.85)) / 0.5) if k < len(gaps) - 1 else np.ones_like(t)
            lift = np.maximum(lift, np.where((t >= a) & (t <= b), np.minimum(down, up), 0.0))
        if g >= 0.15 and k < len(gaps) - 1:  # breath before the entry
            dur = min(0.45, g)
            x = (t - (b - dur)) / dur
            inhale = np.maximum(
                inhale, np.where((x >= 0) & (x <= 1.2), np.sin(np.pi * np.clip(x / 1.2, 0, 1)), 0.0)
            )
    if beat_times.size >= 2:
        beat = np.interp(
            t, beat_times, np.arange(beat_times.size, dtype=np.float64), left=np.nan, right=np.nan
        )
        period0 = beat_times[1] - beat_times[0]
        period1 = beat_times[-1] - beat_times[-2]
        beat = np.where(t < beat_times[0], (t - beat_times[0]) / period0, beat)
        beat = np.where(t > beat_times[-1], beat_times.size - 1 + (t - beat_times[-1]) / period1, beat)
    else:
        beat = t * 2.0
    onset_frames = np.round(on * fps).astype(int)
    return Controls(t, idx, sounding, vel, lift, inhale, beat, onset_frames)


def _per_note_steps(values: np.ndarray, c: Controls) -> np.ndarray:
    """Per-frame values from per-note values (fingers land one frame early), 3-frame smoothed transitions."""
    v = np.asarray(values, np.float64)[c.note]
    if v.ndim == 1:
        v = v[:, None]
    k = np.array([0.25, 0.5, 0.25])
    padded = np.concatenate([v[:1], v, v[-1:]], axis=0)
    return k[0] * padded[:-2] + k[1] * padded[1:-1] + k[2] * padded[2:]


# --------------------------------------------------------------------------------------------------------
# Fingerings


def string_fingering(pitch: int, open_strings: Sequence[int]) -> tuple[int, int, int]:
    """(string index, position shift in semitones, finger 0-4) of a bowed-string pitch."""
    s = max((i for i, o in enumerate(open_strings) if o <= pitch), default=0)
    semis = pitch - open_strings[s]
    if semis < 0:
        return 0, 0, 0
    if semis <= 7:
        return s, 0, (0, 1, 1, 2, 2, 3, 3, 4)[semis]
    return s, semis - 3, 2


def woodwind_pattern(pitch: int, low: int) -> np.ndarray:
    """Closed (1) / open (0) per (L thumb, L1, L2, L3, L little, R1, R2, R3, R little) for a pitch."""
    rel = (pitch - low) % 12
    register = (pitch - low) // 12
    closed = (6, 6, 5, 5, 4, 3, 3, 2, 2, 1, 1, 0)[rel]
    holes = [1 if i < closed else 0 for i in range(6)]
    chromatic = rel in (1, 3, 6, 8, 10)
    return np.array(
        [
            1 if register >= 1 or rel == 0 else 0,
            *holes[:3],
            1 if rel in (6, 8, 10) else 0,
            *holes[3:],
            1 if rel in (1, 3) or (chromatic and rel == 10) else 0,
        ],
        np.float64,
    )


_VALVES = {0: (0, 0, 0), 1: (0, 1, 0), 2: (1, 0, 0), 3: (1, 1, 0), 4: (0, 1, 1), 5: (1, 0, 1), 6: (1, 1, 1)}


def brass_valves(pitch: int, partials: Sequence[int]) -> tuple[int, int]:
    """(lowering in semitones 0-6, i.e. slide position - 1, partial index) for a brass pitch."""
    best = None
    for i, p in enumerate(partials):
        s = p - pitch
        if 0 <= s <= 6 and (best is None or s < best[0]):
            best = (s, i)
    if best is None:  # below the lowest partial's reach or in a gap: nearest
        i = int(np.argmin([abs(p - pitch) for p in partials]))
        best = (int(np.clip(partials[i] - pitch, 0, 6)), i)
    return best


# --------------------------------------------------------------------------------------------------------
# Performance


@dataclass
class Performer:
    """One player's proportions, posture and way of holding the instrument, one camera and one tracker.

    Drawn by :meth:`sample` from a :class:`~training.synth.variety.Ranges`; the camera's ``scale`` and
    ``center`` are set by :func:`frame_camera` once the pose is known (the framing follows what the player
    does with the instrument, as a camera operator's would).
    """

    upper: float
    fore: float
    hand: float
    mouth: float  # neck -> mouth height
    sway: float
    sway_phase: float
    scale: float  # pixels per shoulder width
    center: tuple[float, float]  # neck position in pixels
    yaw: float
    roll: float
    pressed: float  # finger curl when pressing
    lifted: float
    offset: np.ndarray  # small per-player offset of instrument targets
    fps: float = FPS
    pitch: float = 0.0  # camera elevation, radians
    distance: float = CAMERA_DISTANCE  # shoulder widths
    lean_forward: float = 0.0  # radians, positive: slumped over the instrument
    lean_side: float = 0.0
    body_turn: float = 0.0
    slump: float = 0.0  # 0 upright .. 1 shoulders rounded and dropped
    seated: bool = False
    hold: str = ""  # a way of holding the instrument (variety.HOLDS), "" for the instrument's only way
    left_handed: bool = False
    instrument_pitch: float = 0.0  # radians, mouth-held instruments
    instrument_yaw: float = 0.0
    framing: str = "wide"  # "wide" or "closeup"
    framing_amount: float = 0.7  # wide: fill of the frame height; closeup: visible fraction
    tracker: str = "mediapipe"  # or "openpose"
    jitter_px: float = 1.5
    jitter_rel: float = 0.006
    jitter_speed: float = 0.05
    fast_hand_speed: float = 3.0
    fast_hand_loss: float = 0.4
    hand_swap_rate: float = 0.0
    frame_drop: float = 0.01

    @classmethod
    def sample(
        cls, inst: Instrument, rng: np.random.Generator, ranges: Ranges | None = None, fps: float = FPS
    ) -> Performer:
        """A performer of ``inst`` with every free parameter drawn from ``ranges`` (STANDARD when None)."""
        R = STANDARD if ranges is None else ranges
        u = lambda lohi: float(rng.uniform(*lohi))  # noqa: E731
        r = rng.normal(1.0, R.limb_sd, 3)
        holds = HOLDS.get(inst.code)
        hold = ""
        if holds:
            w = np.array([x[1] for x in holds])
            hold = holds[int(rng.choice(len(holds), p=w / w.sum()))][0]
        if inst.code in ("vc", "bn", "tba"):
            seated = hold in ("seated", "lap")
        elif inst.code == "db":
            seated = hold == "stool"
        elif inst.code == "hn":
            seated = hold == "bell_knee" or bool(rng.random() < R.seated_p)
        elif inst.code in ("vn", "va"):
            seated = bool(rng.random() < R.seated_p)
        else:
            seated = bool(rng.random() < R.seated_p) and hold != "strap_hip"
        lean = u(R.lean_forward_deg) + (4.0 if seated else 0.0)
        roll_sd = R.camera_roll_sd_deg
        yaw = u(R.camera_yaw_deg) * (1.0 if rng.random() < 0.5 else -1.0)
        closeup = bool(rng.random() < R.closeup_p)
        openpose = bool(rng.random() < R.openpose_p)
        return cls(
            upper=0.84 * r[0], fore=0.72 * r[1], hand=0.50 * r[2],
            mouth=float(rng.uniform(0.44, 0.54)),
            sway=float(rng.uniform(0.012, 0.05)) * (1.5 if inst.family == "bowed" else 1.0),
            sway_phase=float(rng.uniform(0, 2 * np.pi)),
            scale=200.0, center=(FRAME_SIZE[0] / 2, FRAME_SIZE[1] / 3),  # set by frame_camera
            yaw=float(np.radians(yaw)),
            roll=float(np.radians(np.clip(rng.normal(0, roll_sd), -3 * roll_sd, 3 * roll_sd))),
            pressed=float(rng.uniform(0.62, 0.78)),
            lifted=float(rng.uniform(0.22, 0.38)),
            offset=rng.normal(0, 0.035, 3),
            fps=float(fps),
            pitch=float(np.radians(u(R.camera_pitch_deg))),
            distance=u(R.camera_distance),
            lean_forward=float(np.radians(lean)),
            lean_side=float(np.radians(u(R.lean_side_deg))),
            body_turn=float(np.radians(u(R.body_turn_deg))),
            slump=u(R.slump),
            seated=seated,
            hold=hold,
            left_handed=inst.code in LEFT_HANDED_OK and bool(rng.random() < R.left_handed_p),
            instrument_pitch=float(np.radians(u(R.instrument_pitch_deg))),
            instrument_yaw=float(np.radians(u(R.instrument_yaw_deg))),
            framing="closeup" if closeup else "wide",
            framing_amount=u(R.closeup_visible if closeup else R.wide_fill),
            tracker="openpose" if openpose else "mediapipe",
            jitter_px=u(R.jitter_px) * (1.6 if openpose else 1.0),
            jitter_rel=u(R.jitter_rel) * (1.4 if openpose else 1.0),
            jitter_speed=u(R.jitter_speed),
            fast_hand_speed=u(R.fast_hand_speed),
            fast_hand_loss=u(R.fast_hand_loss),
            hand_swap_rate=u(R.hand_swap_rate) * (1.5 if openpose else 0.5),
            frame_drop=u(R.frame_drop),
        )  # fmt: skip


@dataclass
class Pose3D:
    """Clean (noise-free) performance in body units plus what tests and drawings need."""

    joints: np.ndarray  # (T, 47, 3) shoulder-width units, camera-facing body frame
    lines: list[np.ndarray] = field(default_factory=list)  # instrument segments (T, 2, 3)
    events: dict[str, np.ndarray] = field(default_factory=dict)  # name -> frames of motion events


def _torso(perf: Performer, c: Controls, inst: Instrument, rng: np.random.Generator, extra_roll: np.ndarray):
    """Per-frame rotation (T,3,3) and translation (T,3) of the body frame, and shoulder offsets."""
    T = c.t.size
    ph = np.pi * c.beat + perf.sway_phase  # one sway cycle every two beats
    drift = _lowpass_noise(rng, T, 0.03, 2.5, fps=perf.fps)
    x = perf.sway * np.sin(ph) + drift[:, 0]
    y = 0.25 * perf.sway * np.abs(np.sin(ph)) + 0.6 * drift[:, 1]
    breath = inst.family != "bowed"
    y = y - (0.03 * c.inhale if breath else 0.012 * np.sin(2 * np.pi * 0.25 * c.t))
    y = y + 0.12 * c.lift * (inst.family != "bowed")
    roll = 0.6 * perf.sway * np.sin(ph + 0.5) + extra_roll + 0.3 * drift[:, 2] + perf.lean_side
    yaw = 0.5 * drift[:, 2] + perf.body_turn
    cr, sr, cy, sy = np.cos(roll), np.sin(roll), np.cos(yaw), np.sin(yaw)
    Rz = np.zeros((T, 3, 3))
    Rz[:, 0, 0], Rz[:, 0, 1], Rz[:, 1, 0], Rz[:, 1, 1], Rz[:, 2, 2] = cr, -sr, sr, cr, 1
    Ry = np.zeros((T, 3, 3))
    Ry[:, 0, 0], Ry[:, 0, 2], Ry[:, 2, 0], Ry[:, 2, 2], Ry[:, 1, 1] = cy, sy, -sy, cy, 1
    # Leaning forward about the neck: what is below the neck (chest, instrument) moves back under it.
    Rx = _rot_x(-perf.lean_forward)
    R = Rz @ Ry @ Rx
    trans = np.stack([x, y, np.zeros(T)], axis=1)
    # Shoulders rise when breathing in (winds).
    shoulder_lift = -0.025 * c.inhale if breath else np.zeros(T)
    return R, trans, shoulder_lift


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _lowpass_noise(
    rng: np.random.Generator, T: int, sigma: float, seconds: float, dims: int = 3, fps: float = FPS
) -> np.ndarray:
    """Smooth random drift: white noise filtered by an exponential of time constant ``seconds``."""
    a = np.exp(-1.0 / (seconds * fps))
    w = rng.normal(0, sigma * np.sqrt(1 - a * a), (T, dims))
    out = np.empty_like(w)
    acc = rng.normal(0, sigma, dims)
    for i in range(T):
        acc = a * acc + w[i]
        out[i] = acc
    return out


def _bowing(
    notes: Sequence[Note], c: Controls, rng: np.random.Generator, bow_len: float, fps: float = FPS
) -> tuple[np.ndarray, np.ndarray]:
    """Bow contact position along the bow (0 = frog .. bow_len = tip) per frame, and direction-change frames.

    Every note is a new stroke in the opposite direction (detache); the stroke length follows velocity and
    duration. In rests longer than 0.4 s the bow is retaken: lifted and carried back toward the frog, and the
    next stroke is a down-bow.
    """
    T = c.t.size
    lo, hi = 0.08 * bow_len, 0.95 * bow_len
    speed_scale = float(rng.uniform(0.55, 0.9)) * bow_len  # bow lengths per second at full velocity
    pos = np.empty(T)
    knots_t: list[float] = [0.0]
    knots_p: list[float] = [float(rng.uniform(0.2, 0.4)) * bow_len]
    direction = 1.0
    changes: list[float] = []
    prev_off = 0.0
    for i, n in enumerate(notes):
        gap = n.onset - prev_off
        cur = knots_p[-1]
        if i > 0 and gap > 0.4:
            # retake: glide back toward the lower half during the rest
            knots_t.append(prev_off + 0.1)
            knots_p.append(cur)
            cur = float(rng.uniform(0.15, 0.35)) * bow_len
            knots_t.append(n.onset - 0.1)
            knots_p.append(cur)
            direction = 1.0
        elif i > 0:
            direction = -direction
        length = speed_scale * (0.35 + n.velocity / 127.0) * n.duration
        length = float(np.clip(length, 0.06 * bow_len, 0.8 * bow_len))
        room = (hi - cur) if direction > 0 else (cur - lo)
        if room < 0.06 * bow_len:  # no room this way: this stroke is short
            length = max(room, 0.03 * bow_len)
        length = min(length, max(room, 0.03 * bow_len))
        knots_t.append(n.onset)
        knots_p.append(cur)
        if i > 0:
            changes.append(n.onset)
        end_t = max(n.offset, n.onset + 2.0 / fps)
        knots_t.append(end_t)
        knots_p.append(cur + direction * length)
        prev_off = end_t
    knots_t.append(c.t[-1] + 1.0)
    knots_p.append(knots_p[-1])
    kt = np.array(knots_t)
    order = np.argsort(kt, kind="stable")
    kt = np.maximum.accumulate(kt[order])
    kp = np.array(knots_p)[order]
    pos = np.interp(c.t, kt, kp)
    change_frames = np.round(np.array(changes) * fps).astype(int)
    return pos, change_frames


@dataclass
class Hands:
    """What the arms and hands do, in the body frame (shoulder widths; x to the performer's left, y down,
    z forward): wrist targets ``lw``/``rw`` (T, 3), the directions the straight fingers point (``lf``/``rf``)
    and the palm normals (``ln``/``rn``), (3,) or (T, 3), where the elbows point (``lpole``/``rpole``) and
    the finger curls (T, 5) (thumb .. little, 0 straight .. 1 fist)."""

    lw: np.ndarray
    rw: np.ndarray
    lf: np.ndarray
    ln: np.ndarray
    rf: np.ndarray
    rn: np.ndarray
    lpole: np.ndarray
    rpole: np.ndarray
    curls_l: np.ndarray
    curls_r: np.ndarray


def assemble(
    perf: Performer,
    R: np.ndarray,
    trans: np.ndarray,
    sh_lift: np.ndarray,
    hands: Hands,
    lines: Sequence[tuple[np.ndarray, np.ndarray]],
    rng: np.random.Generator,
    raised_shoulder: str = "",
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The 47 joints ``(T, 47, 3)`` of a body whose frame is rotated by ``R`` (T, 3, 3) and moved by
    ``trans`` (T, 3), shoulders lifted by ``sh_lift`` (T,), arms reaching for ``hands``' wrist targets
    (two-bone IK with the performer's proportions, a small tremor) and the ``lines`` (instrument segments,
    body frame) in the world. ``raised_shoulder`` ("L"/"R") is raised a little (the violin's)."""
    T = R.shape[0]
    fps = perf.fps

    def world(p: np.ndarray) -> np.ndarray:  # body frame -> camera-facing world, per frame
        return np.einsum("tij,tj->ti", R, p) + trans

    neck = world(np.zeros((T, 3)))
    # A slumped player's shoulders are rounded forward and dropped.
    hunch = np.array([0.0, 0.05, 0.10]) * perf.slump
    rs_local = np.array([-0.5, 0.0, -0.04]) + hunch + np.array([0.0, 1.0, 0.0]) * sh_lift[:, None]
    ls_local = np.array([0.5, 0.0, -0.04]) + hunch + np.array([0.0, 1.0, 0.0]) * sh_lift[:, None]
    raised = np.array([0.0, -0.04, 0.0])
    if raised_shoulder == "R":
        rs_local = rs_local + raised
    elif raised_shoulder == "L":
        ls_local = ls_local + raised
    rs, ls = world(rs_local), world(ls_local)
    # Small physiological tremor / micro-movement of the hands.
    rw = world(hands.rw + _lowpass_noise(rng, T, 0.006, 0.3, fps=fps))
    lw = world(hands.lw + _lowpass_noise(rng, T, 0.006, 0.3, fps=fps))
    rot = lambda v: np.einsum("tij,tj->ti", R, _bcast(v, T))  # noqa: E731
    re_, rw = two_bone_ik(rs, rw, perf.upper, perf.fore, rot(hands.rpole))
    le_, lw = two_bone_ik(ls, lw, perf.upper, perf.fore, rot(hands.lpole))
    rh = hand_points(rw, rot(hands.rf), rot(hands.rn), "R", np.clip(hands.curls_r, 0, 1), perf.hand)
    lh = hand_points(lw, rot(hands.lf), rot(hands.ln), "L", np.clip(hands.curls_l, 0, 1), perf.hand)
    joints = np.empty((T, N_JOINTS, 3))
    joints[:, NECK], joints[:, R_SHOULDER], joints[:, R_ELBOW], joints[:, R_WRIST] = neck, rs, re_, rw
    joints[:, L_SHOULDER], joints[:, L_ELBOW], joints[:, L_WRIST] = ls, le_, lw
    joints[:, list(R_HAND)] = rh
    joints[:, list(L_HAND)] = lh
    seg = [np.stack([world(a), world(b)], axis=1) for a, b in lines]
    return joints, seg


def perform(
    inst: Instrument,
    notes: Sequence[Note],
    beat_times: np.ndarray,
    duration: float,
    rng: np.random.Generator,
    performer: Performer | None = None,
    *,
    ranges: Ranges | None = None,
    fps: float = FPS,
) -> tuple[Pose3D, Performer]:
    """The clean 3-D performance of ``notes`` on ``inst`` at ``fps``, framed by the performer's camera.

    ``performer`` (drawn from ``ranges`` when None; its own ``fps`` then wins) fixes body, posture, hold,
    camera and tracker.
    """
    if not notes:
        raise ValueError("perform: no notes")
    perf = performer if performer is not None else Performer.sample(inst, rng, ranges, fps)
    fps = perf.fps
    T = max(int(np.ceil(duration * fps)), 2)
    c = controls(notes, beat_times, T, fps=fps)
    pitches = np.array([n.pitch for n in notes])
    mouth = np.array([0.0, -perf.mouth, 0.16])
    curls_r = np.full((T, 5), 0.45)
    curls_l = np.full((T, 5), 0.45)
    lines: list[tuple[np.ndarray, np.ndarray]] = []
    events: dict[str, np.ndarray] = {}
    off = perf.offset
    extra_roll = np.zeros(T)
    P, L = perf.pressed, perf.lifted

    def bc(v):  # broadcast a fixed body-frame point over time
        return np.broadcast_to(np.asarray(v, np.float64), (T, 3)).copy()

    if inst.family == "bowed":
        fing = [string_fingering(int(p), inst.open_strings) for p in pitches]
        strings = np.array([f[0] for f in fing], np.float64)
        shifts = np.array([f[1] for f in fing], np.float64)
        fingers = np.array([f[2] for f in fing])
        string_f = _per_note_steps(strings, c)[:, 0]
        pf = _per_note_steps(1.0 - 2.0 ** (-shifts / 12.0), c)[:, 0]
        pat = np.array([[0.4] + [P if k + 1 <= f and f > 0 else L for k in range(4)] for f in fingers])
        curls_l = _per_note_steps(pat, c)
        finger_changes = [i for i in range(1, len(notes)) if fing[i] != fing[i - 1]]
        events["finger"] = c.onset_frames[finger_changes] if finger_changes else np.zeros(0, int)
        n_str = len(inst.open_strings) - 1
        cross = (string_f - n_str / 2) / max(n_str, 1)  # -0.5 (lowest string) .. 0.5
        if inst.code in ("vn", "va"):
            k = 1.0 if inst.code == "vn" else 1.1
            chin = np.array([0.22, -0.16, 0.16]) + off
            dn = _unit(np.array([0.55, -0.10 if inst.code == "vn" else -0.04, 0.85]))
            nut = chin + dn * 0.95 * k
            string_len = 0.72 * k
            lw = nut[None] - dn[None] * (pf[:, None] * string_len + 0.06) + np.array([-0.02, 0.12, -0.03])
            lw = lw + np.outer(cross, [0.0, 0.04, 0.0])
            lf, ln = np.array([-0.45, -0.85, -0.15]), np.array([-0.6, 0.1, -0.8])
            lpole = np.array([-0.35, 1.0, 0.25])
            contact = chin + dn * 0.2 + np.array([0.0, -0.03, 0.0])
            out0 = _unit(np.array([-0.78, 0.27, 0.49]))
            bow_len = 1.55 * k
            rpole = np.array([-0.6, 0.9, -0.25])
            body = [(chin - dn * 0.12, chin + dn * 0.42 * k), (chin + dn * 0.42 * k, nut + dn * 0.1)]
        else:
            up = inst.code == "db"
            # The scroll rises to the head for a standing bass, a little lower on a stool; a standing
            # cellist's long endpin lifts the cello toward a bass's position.
            if up:
                nut_y, bridge_y = (-0.95, 1.30) if perf.hold != "stool" else (-0.78, 1.15)
            else:
                nut_y, bridge_y = (-0.52, 1.02) if perf.hold != "standing" else (-0.80, 1.15)
            nut = np.array([0.40 if up else 0.36, nut_y, 0.40 if up else 0.42]) + off
            bridge = np.array([0.05, bridge_y, 0.50 if up else 0.52])
            dn = _unit(bridge - nut)
            string_len = float(np.linalg.norm(bridge - nut))
            lw = (
                nut[None] + dn[None] * (pf[:, None] * string_len * 0.95 + 0.12) + np.array([0.13, 0.0, -0.08])
            )
            lw = lw + np.outer(cross, [0.05, 0.0, 0.0])
            lf, ln = np.array([-0.85, 0.3, -0.2]), np.array([-0.25, 0.0, -0.95])
            lpole = np.array([1.0, 0.15, -0.35])
            contact = nut + dn * (string_len - 0.18)
            out0 = _unit(np.array([-1.0, 0.10, 0.15]))
            bow_len = 1.25 if not up else 1.05
            rpole = np.array([-0.5, 1.0, -0.1])
            body = [
                (nut - dn * 0.25, nut + dn * (string_len - 0.6)),
                (nut + dn * (string_len - 0.6), nut + dn * (string_len + 0.55)),
            ]
        bowpos, changes = _bowing(notes, c, rng, bow_len, fps)
        events["bow"] = changes
        # String crossing tilts the bow: rotate the outward bow direction about the string axis.
        ang = np.radians(22.0) * cross * (-1.0 if inst.code in ("vn", "va") else 1.0)
        out = (
            np.cos(ang)[:, None] * out0[None]
            + np.sin(ang)[:, None] * np.cross(dn, out0)[None]
            + (1 - np.cos(ang))[:, None] * np.dot(dn, out0) * dn[None]
        )
        lifted = c.lift[:, None] * np.array([0.0, -0.10, 0.05])
        rw = contact[None] + out * (bowpos[:, None] + 0.06) + lifted + np.array([0.0, -0.05, 0.0])
        rf = np.cross(out, dn)  # fingers drape across the stick
        rf = np.where((rf @ np.array([0.0, 0.0, 1.0]))[:, None] < 0, -rf, rf)
        rn = np.array([0.0, 1.0, 0.2])
        curls_r = np.tile([0.5, 0.45, 0.5, 0.5, 0.35], (T, 1))
        extra_roll = 0.03 * (bowpos / bow_len - 0.5)
        tip = rw - out * 0.06 - out * (bow_len + 0.08)
        lines = [(bc(a), bc(b)) for a, b in body] + [(rw - out * 0.06, tip)]
    elif inst.family in ("flute", "reed"):
        pat = np.array([woodwind_pattern(int(p), inst.low) for p in pitches])
        pc = L + (P - L) * pat
        # left: thumb, L1, L2, L3, L little; right: thumb (support), R1, R2, R3, R little
        curls_l = _per_note_steps(pc[:, :5], c)
        curls_r = _per_note_steps(np.column_stack([np.full(len(pat), 0.45), pc[:, 5:]]), c)
        changes = [i for i in range(1, len(notes)) if not np.array_equal(pat[i], pat[i - 1])]
        events["finger"] = c.onset_frames[changes] if changes else np.zeros(0, int)
        drop = c.lift[:, None] * np.array([0.0, 0.32, 0.12])
        m = mouth + off
        if inst.code == "fl":
            e = m + np.array([0.04, 0.06, 0.06])
            d = _unit(np.array([-1.0, 0.18, 0.22]))
            lw = bc(e + d * 0.24 + np.array([0.03, 0.14, -0.04]))
            lf, ln = np.array([0.05, -0.9, 0.4]), np.array([0.3, 0.0, -0.95])
            rw = bc(e + d * 0.70 + np.array([0.0, 0.13, 0.06]))
            rf, rn = np.array([0.1, -0.8, -0.35]), np.array([0.15, 0.0, -1.0])
            lpole, rpole = np.array([0.5, 1.0, 0.2]), np.array([-0.55, 1.0, -0.15])
            drop = c.lift[:, None] * np.array([0.0, 0.35, 0.05])
            lines = [(bc(e - d * 0.2) + drop, bc(e + d * 1.5) + drop)]
        elif inst.code in ("cl", "ob") or perf.hold == "soprano":
            # (the soprano saxophone is held straight out like a clarinet, a little further from the body)
            tilt = {"cl": 0.58, "ob": 0.40}.get(inst.code, 0.70) + (0.12 if perf.seated else 0.0)
            d = _unit(np.array([0.0, 1.0, tilt]))
            length = 1.7 if inst.code == "cl" else 1.6
            lw = bc(m + d * (0.74 if inst.code == "ob" else 0.82) + np.array([0.12, 0.03, -0.08]))
            rw = bc(m + d * (1.10 if inst.code == "ob" else 1.22) + np.array([-0.13, 0.03, -0.06]))
            lf, ln = np.array([-0.9, 0.15, 0.35]), np.array([-0.65, 0.0, 0.75])
            rf, rn = np.array([0.9, 0.15, 0.35]), np.array([0.65, 0.0, 0.75])
            spread = 0.55 if inst.code == "ob" else 1.0
            lpole, rpole = np.array([spread, 0.8, -0.1]), np.array([-spread, 0.8, -0.1])
            lines = [(bc(m) + drop, bc(m + d * length) + drop)]
        elif inst.code == "sax":
            # Alto/tenor on a neck strap: the crook comes down from the mouth and the body hangs at the right
            # hip (or in front, between the knees): both hands well below the chest, the right one at the hip.
            hip = perf.hold == "strap_hip"
            neck_end = m + np.array([-0.05 if hip else -0.02, 0.24, 0.26])
            d = _unit(np.array([-0.36, 1.0, -0.04]) if hip else np.array([-0.08, 1.0, 0.10]))
            lw = bc(neck_end + d * 0.95 + np.array([0.14, 0.0, 0.02]))
            rw = bc(neck_end + d * 1.38 + np.array([0.10, 0.0, 0.06]))
            lf, ln = np.array([-0.9, 0.2, 0.35]), np.array([-0.5, 0.0, 0.85])
            rf, rn = np.array([-0.6, 0.2, 0.75]), np.array([-0.3, 0.0, 0.95])
            lpole, rpole = np.array([0.8, 1.0, 0.0]), np.array([-1.0, 0.5, -0.2])
            bell = neck_end + d * 1.65
            lines = [
                (bc(m) + drop, bc(neck_end) + drop),
                (bc(neck_end) + drop, bc(bell) + drop),
                (bc(bell) + drop, bc(bell + np.array([0.22, -0.4, 0.12])) + drop),
            ]
        else:  # bassoon: diagonal from the right hip up past the left shoulder
            # (on a seat strap when seated; a neck strap or harness holds it higher when standing)
            boot = np.array([-0.42, 1.05 if perf.hold != "standing" else 0.82, 0.28]) + off
            a = _unit(np.array([0.40, -0.92, -0.06]))
            lw = bc(boot + a * 0.92 + np.array([0.13, 0.0, -0.02]))
            rw = bc(boot + a * 0.32 + np.array([-0.12, 0.0, 0.06]))
            lf, ln = np.array([-0.85, -0.3, 0.35]), np.array([-0.45, 0.0, 0.9])
            rf, rn = np.array([0.75, -0.3, 0.5]), np.array([0.3, 0.0, 0.95])
            lpole, rpole = np.array([0.9, 0.7, -0.1]), np.array([-1.0, 0.6, -0.2])
            bocal = boot + a * 1.2
            lines = [(bc(boot) + drop, bc(boot + a * 2.6) + drop), (bc(bocal) + drop, bc(m) + drop)]
        lw = lw + drop
        rw = rw + drop
    else:  # brass
        vals = [brass_valves(int(p), inst.partials) for p in pitches]
        low = np.array([v[0] for v in vals], np.float64)
        changes = [i for i in range(1, len(notes)) if vals[i][0] != vals[i - 1][0]]
        events["finger" if inst.code != "tbn" else "slide"] = (
            c.onset_frames[changes] if changes else np.zeros(0, int)
        )
        valves = np.array([_VALVES[int(s)] for s in low], np.float64)
        vc = L + (P - L) * valves
        drop = c.lift[:, None] * np.array([0.0, 0.30, 0.10])
        m = mouth + off
        if inst.code == "tpt":
            v = m + np.array([0.02, 0.10, 0.42])
            rw = bc(v + np.array([-0.20, -0.03, -0.10]))
            rf, rn = np.array([0.9, 0.15, 0.3]), np.array([0.0, 1.0, 0.1])
            lw = bc(v + np.array([0.15, 0.14, -0.05]))
            lf, ln = np.array([-0.6, -0.6, 0.4]), np.array([-0.75, 0.0, 0.5])
            curls_r = _per_note_steps(np.column_stack([np.full(len(vc), 0.4), vc, np.full(len(vc), 0.3)]), c)
            curls_l = np.tile([0.5, 0.7, 0.72, 0.75, 0.78], (T, 1))
            lpole, rpole = np.array([0.6, 1.0, -0.1]), np.array([-0.6, 1.0, -0.3])
            lines = [
                (bc(m) + drop, bc(m + np.array([0.0, 0.06, 1.25])) + drop),
                (bc(v + np.array([0.0, -0.05, 0.0])) + drop, bc(v + np.array([0.0, 0.12, 0.0])) + drop),
            ]
        elif inst.code == "hn":
            # Bell resting on the right thigh (seated) puts the horn and both hands lower than held free.
            knee = perf.hold == "bell_knee"
            h = np.array([-0.22, 0.48 if knee else 0.28, 0.45 if knee else 0.42]) + off
            lw = bc(h + np.array([0.14, -0.10, 0.02]))
            lf, ln = np.array([-0.9, 0.2, 0.3]), np.array([-0.3, 0.2, 0.9])
            rw = bc(np.array([-0.68, 0.98, 0.35] if knee else [-0.64, 0.45, 0.05]) + off)
            rf, rn = np.array([0.15, 0.9, -0.3]), np.array([0.9, 0.0, 0.3])
            curls_l = _per_note_steps(np.column_stack([np.full(len(vc), 0.45), vc, np.full(len(vc), 0.3)]), c)
            curls_r = np.tile([0.3, 0.22, 0.22, 0.24, 0.26], (T, 1))
            lpole, rpole = np.array([0.7, 1.0, -0.1]), np.array([-1.0, 0.5, -0.4])
            bell = np.array([-0.80, 1.25, 0.40] if knee else [-0.70, 0.55, -0.05]) + off
            lines = [
                (bc(m) + drop, bc(h) + drop),
                (bc(h + np.array([0.2, 0.0, 0.0])) + drop, bc(bell) + drop),
            ]
        elif inst.code == "tbn":
            s_axis = _unit(np.array([-0.45, 0.62, 1.0]))
            slide = _per_note_steps(0.42 + 0.155 * low, c)[:, 0]
            events["slide"] = events.pop("slide")
            lw = bc(m + np.array([0.12, 0.22, 0.26]))
            lf, ln = np.array([-0.9, -0.3, 0.2]), np.array([-0.3, 0.0, 0.95])
            rw = m[None] + s_axis[None] * slide[:, None] + np.array([-0.04, 0.10, 0.0])
            rf, rn = np.array([0.45, -0.6, 0.4]), np.array([0.0, -0.3, 1.0])
            curls_l = np.tile([0.55, 0.7, 0.72, 0.75, 0.78], (T, 1))
            curls_r = np.tile([0.4, 0.5, 0.5, 0.45, 0.4], (T, 1))
            lpole, rpole = np.array([0.6, 1.0, -0.2]), np.array([-0.6, 1.0, -0.2])
            lines = [
                (bc(m) + drop, m[None] + s_axis[None] * (slide[:, None] + 0.55) + drop),
                (bc(m + np.array([0.1, 0.05, 0.0])) + drop, bc(m + np.array([0.22, 0.1, 0.9])) + drop),
            ]
        else:  # tuba, in the lap (or higher, on a strap or stand, when standing)
            lift_t = np.array([0.0, -0.25 if perf.hold == "standing" else 0.0, 0.0])
            valves_at = np.array([-0.10, 0.30, 0.62]) + off + lift_t
            rw = bc(valves_at + np.array([-0.22, 0.04, -0.04]))
            rf, rn = np.array([0.85, 0.35, 0.2]), np.array([0.1, 1.0, 0.2])
            lw = bc(np.array([0.46, 0.36, 0.42]) + off + lift_t)
            lf, ln = np.array([-0.5, -0.6, 0.4]), np.array([-0.8, 0.0, 0.4])
            curls_r = _per_note_steps(np.column_stack([np.full(len(vc), 0.4), vc, np.full(len(vc), 0.3)]), c)
            curls_l = np.tile([0.4, 0.5, 0.5, 0.55, 0.55], (T, 1))
            lpole, rpole = np.array([1.0, 0.6, -0.2]), np.array([-1.0, 0.7, -0.2])
            body_c = np.array([0.10, 0.80, 0.38]) + off + lift_t
            bell = np.array([0.50, -0.85, 0.32]) + off + lift_t
            lines = [(bc(m), bc(valves_at)), (bc(body_c + np.array([0.0, 0.45, 0.0])), bc(bell))]
            drop = np.zeros((T, 3))
        lw = lw + drop
        rw = rw + drop

    if inst.code in ("fl", "ob", "cl", "tpt", "tbn") or perf.hold == "soprano":
        # How steeply (the flute: how far it droops) and how far sideways this player points the instrument.
        tilt = _rot_z(-0.6 * perf.instrument_pitch) if inst.code == "fl" else _rot_x(perf.instrument_pitch)
        Ri = _rot_y(perf.instrument_yaw) @ tilt
        m0 = mouth + off

        def about(p: np.ndarray) -> np.ndarray:
            return m0 + (np.asarray(p, np.float64) - m0) @ Ri.T

        lw, rw = about(lw), about(rw)
        lf, ln, rf, rn = lf @ Ri.T, ln @ Ri.T, rf @ Ri.T, rn @ Ri.T
        lpole, rpole = lpole @ Ri.T, rpole @ Ri.T
        lines = [(about(a), about(b)) for a, b in lines]
    if perf.left_handed:
        # A left-handed instrument is the mirror image, and each hand does the other's job.
        Mx = np.array([-1.0, 1.0, 1.0])
        lw, rw = rw * Mx, lw * Mx
        lf, rf, ln, rn = rf * Mx, lf * Mx, rn * Mx, ln * Mx
        lpole, rpole = rpole * Mx, lpole * Mx
        curls_l, curls_r = curls_r, curls_l
        lines = [(a * Mx, b * Mx) for a, b in lines]
        extra_roll = -extra_roll

    R, trans, sh_lift = _torso(perf, c, inst, rng, extra_roll)
    raised = ("R" if perf.left_handed else "L") if inst.code in ("vn", "va") else ""
    hands = Hands(lw, rw, lf, ln, rf, rn, lpole, rpole, curls_l, curls_r)
    joints, seg = assemble(perf, R, trans, sh_lift, hands, lines, rng, raised_shoulder=raised)
    pose = Pose3D(joints, seg, events)
    if performer is None:
        frame_camera(pose, perf, rng)
    return pose, perf


# --------------------------------------------------------------------------------------------------------
# Camera and tracker


def _camera_plane(points: np.ndarray, perf: Performer) -> np.ndarray:
    """``(..., 3)`` body units -> ``(..., 2)`` image-plane units around the neck (yaw, pitch, perspective, roll)."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    cy, sy = np.cos(perf.yaw), np.sin(perf.yaw)
    x, z = cy * x + sy * z, -sy * x + cy * z
    cp, sp = np.cos(perf.pitch), np.sin(perf.pitch)
    y, z = cp * y - sp * z, sp * y + cp * z
    k = perf.distance / np.maximum(perf.distance - z, 0.5)
    x, y = x * k, y * k
    cr, sr = np.cos(perf.roll), np.sin(perf.roll)
    return np.stack([cr * x - sr * y, sr * x + cr * y], axis=-1)


def project(points: np.ndarray, perf: Performer) -> np.ndarray:
    """``(..., 3)`` body units -> ``(..., 2)`` pixels (camera yaw/pitch/roll, perspective at its distance)."""
    p = _camera_plane(points, perf)
    return np.stack(
        [perf.center[0] + perf.scale * p[..., 0], perf.center[1] + perf.scale * p[..., 1]], axis=-1
    )


#: The top of the head above the neck, shoulder widths (not a tracked joint; framing keeps it in view).
_HEAD_TOP = 1.1


def frame_camera(pose: Pose3D, perf: Performer, rng: np.random.Generator) -> None:
    """Set the camera's ``scale`` and ``center`` for the performer's framing, from where the body goes.

    Wide shots fit head to lowest hand into ``framing_amount`` of the frame height (and the width), placed
    anywhere in the frame; close-ups show the top ``framing_amount`` of it (so the hands may be past the
    bottom edge), the head near the top edge, the player near the middle.
    """
    w, h = FRAME_SIZE
    head = pose.joints[:, NECK] + np.array([0.0, -_HEAD_TOP, 0.0])
    pts = _camera_plane(np.concatenate([pose.joints, head[:, None]], axis=1), perf)  # (T, 48, 2)
    top, bottom = np.percentile(pts[..., 1].min(axis=1), 5), np.percentile(pts[..., 1].max(axis=1), 95)
    left, right = np.percentile(pts[..., 0].min(axis=1), 5), np.percentile(pts[..., 0].max(axis=1), 95)
    height, width = max(bottom - top, 0.5), max(right - left, 0.5)
    if perf.framing == "closeup":
        margin = float(rng.uniform(-0.04, 0.06)) * h  # the top of the head may be cut a little
        scale = (h - margin) / (perf.framing_amount * height)
        scale = min(scale, 0.8 * w)  # shoulders at most 80 % of the frame width
        x0 = w / 2 + float(rng.uniform(-0.12, 0.12)) * w - scale * (left + right) / 2
        y0 = margin - scale * top
    else:
        scale = min(perf.framing_amount * h / height, 0.92 * w / width)
        slack_x, slack_y = w - scale * width, h - scale * height
        x0 = float(rng.uniform(0.04, 0.96)) * max(slack_x, 0.0) - scale * left
        y0 = float(rng.uniform(0.1, 0.9)) * max(slack_y, 0.0) - scale * top
    perf.scale = float(scale)
    perf.center = (float(x0), float(y0))


def _bursts(rng: np.random.Generator, T: int, rate: float, mean_len: float) -> np.ndarray:
    """Bool (T,) with about ``rate`` of frames covered by bursts of geometric length ``mean_len``."""
    out = np.zeros(T, bool)
    if rate <= 0:
        return out
    p_start = rate / (mean_len * (1 - rate) + rate)
    starts = np.flatnonzero(rng.random(T) < p_start)
    lengths = rng.geometric(1.0 / mean_len, starts.size)
    for s, n in zip(starts, lengths, strict=False):
        out[s : s + n] = True
    return out


def _bursts_of(rng: np.random.Generator, T: int, rate: float, lo: int, hi: int) -> np.ndarray:
    """Bool (T,) with about ``rate`` of frames covered by bursts of ``lo``..``hi`` frames."""
    out = np.zeros(T, bool)
    if rate <= 0:
        return out
    mean = (lo + hi) / 2
    for s in np.flatnonzero(rng.random(T) < rate / mean):
        out[s : s + int(rng.integers(lo, hi + 1))] = True
    return out


def track(
    pose: Pose3D,
    perf: Performer,
    inst: Instrument | None,
    rng: np.random.Generator,
    frame_drop: float | None = None,
) -> np.ndarray:
    """What a tracker reports for a clean pose: ``(T, 3, 47)`` float32 pixels + confidence.

    ``perf.tracker`` picks the tracker's habits. Both: jitter that grows as the player gets smaller in the
    frame (a floor in pixels) and with the joint's speed (motion blur); hands lost in bursts, more often when
    the wrist moves fast or the hand is small or outside the frame; left and right hands swapped for a few
    frames; low-confidence joints behind the instrument; frames without a person. MediaPipe (Holistic):
    temporally smoothed jitter, a hand is found (confidence 1) or lost (zeros), pose joints outside the frame
    are extrapolated with low visibility. OpenPose (Solos' skeletons): per-frame jitter, continuous
    confidences, single finger points dropped, joints outside the frame not reported (zeros).
    ``inst`` None: a person with no instrument (nothing hides a hand or a wrist).
    """
    code = inst.code if inst is not None else ""
    hand_loss = inst.hand_loss if inst is not None else (0.03, 0.03)
    T = pose.joints.shape[0]
    fps = perf.fps
    openpose = perf.tracker == "openpose"
    xy = project(pose.joints, perf)  # (T, 47, 2)
    s = perf.scale
    # Jitter: a floor in pixels plus a share of the body size, plus motion blur along fast joints.
    speed_px = np.zeros((T, N_JOINTS))
    speed_px[1:] = np.linalg.norm(np.diff(xy, axis=0), axis=2)
    sigma = perf.jitter_px + perf.jitter_rel * s + perf.jitter_speed * speed_px  # (T, 47)
    if openpose:  # detection per frame, no smoothing
        body_noise = rng.normal(0, 1, (T, 7, 2))
        hand_whole = rng.normal(0, 0.8, (T, 2, 1, 2))
        hand_pts = rng.normal(0, 1.0, (T, 40, 2))
    else:  # MediaPipe's landmark smoothing makes the jitter temporally correlated
        body_noise = _lowpass_noise(rng, T, 1.0, 0.08, 2 * 7, fps=fps).reshape(T, 7, 2)
        hand_whole = _lowpass_noise(rng, T, 1.2, 0.1, 4, fps=fps).reshape(T, 2, 1, 2)
        hand_pts = rng.normal(0, 0.6, (T, 40, 2))
    xy[:, :7] += body_noise * sigma[:, :7, None]
    xy[:, 7:27] += (hand_whole[:, 0] + hand_pts[:, :20]) * sigma[:, 7:27, None]
    xy[:, 27:47] += (hand_whole[:, 1] + hand_pts[:, 20:]) * sigma[:, 27:47, None]
    conf = np.ones((T, N_JOINTS))
    # Pose visibilities: high for shoulders, lower and noisier toward the wrists; occluded wrists lower.
    base = np.array([0.99, 0.995, 0.96, 0.92, 0.995, 0.96, 0.92])
    if openpose:
        base = base - np.array([0.15, 0.12, 0.18, 0.22, 0.12, 0.18, 0.22])
    if code == "hn":
        base[3 if not perf.left_handed else 6] = 0.55  # the hand inside the bell
    if code in ("vc", "db", "tba"):
        base[[2, 3]] -= 0.05
    vis = base[None] + _lowpass_noise(rng, T, 0.03 if not openpose else 0.08, 0.3, 7, fps=fps)
    dips = _bursts(rng, T, 0.02, 4.0)  # a wrist or elbow briefly hidden behind the instrument
    which = rng.integers(2, 7, T)
    vis[dips, which[dips]] -= rng.uniform(0.5, 0.8, int(dips.sum()))
    conf[:, :7] = np.clip(vis, 0.0, 1.0)
    w, h = FRAME_SIZE
    outside = (xy[..., 0] < 0) | (xy[..., 0] >= w) | (xy[..., 1] < 0) | (xy[..., 1] >= h)
    conf[:, :7] = np.where(outside[:, :7], 0.0 if openpose else np.minimum(conf[:, :7], 0.15), conf[:, :7])
    # Hands: lost in bursts, when the wrist moves fast (blur), when small in the frame or outside it.
    hand_px = perf.hand * s
    small = float(np.clip((60.0 - hand_px) / 60.0, 0.0, 0.8))  # a hand under ~60 px is often missed
    for hand_idx, wrist, rate in (
        (list(R_HAND), R_WRIST, hand_loss[0]),
        (list(L_HAND), L_WRIST, hand_loss[1]),
    ):
        wrist_speed = np.zeros(T)
        wrist_speed[1:] = np.linalg.norm(np.diff(pose.joints[:, wrist], axis=0), axis=1) * fps
        rate = min(0.6, rate * (1.3 if openpose else 1.0) + 0.3 * small)
        lost = _bursts(rng, T, rate, float(rng.uniform(3.0, 8.0)))
        fast = wrist_speed > perf.fast_hand_speed
        lost |= fast & (rng.random(T) < perf.fast_hand_loss)
        lost |= outside[:, hand_idx].mean(axis=1) > 0.3
        if openpose:
            # Continuous per-point confidences; single finger points drop out when unsure.
            hc = np.clip(rng.uniform(0.35, 0.85) + _lowpass_noise(rng, T, 0.12, 0.2, 1, fps=fps), 0.05, 0.95)
            pc = np.clip(hc + rng.normal(0, 0.15, (T, 20)), 0.0, 1.0)
            pc[pc < 0.1] = 0.0
            pc[outside[:, hand_idx]] = 0.0
            conf[:, hand_idx] = np.where(lost[:, None], 0.0, pc)
        else:
            conf[:, hand_idx] = np.where(lost[:, None], 0.0, 1.0)
            # MediaPipe mapping: a hidden pose wrist is replaced by the found hand's own wrist.
            use_hand = (~lost) & (conf[:, wrist] < 0.5)
            conf[use_hand, wrist] = 1.0
    # Left and right hands confused for a few frames.
    swap = _bursts_of(rng, T, perf.hand_swap_rate, 2, 6)
    if swap.any():
        r_idx, l_idx = list(R_HAND), list(L_HAND)
        for arr in (xy, conf):
            tmp = arr[swap][:, r_idx].copy()
            sub = arr[swap]
            sub[:, r_idx] = sub[:, l_idx]
            sub[:, l_idx] = tmp
            arr[swap] = sub
    # Whole frames without a person.
    dropped = _bursts(rng, T, perf.frame_drop if frame_drop is None else frame_drop, 1.6)
    conf[dropped] = 0.0
    kp = np.empty((T, 3, N_JOINTS), np.float32)
    kp[:, 0] = xy[..., 0]
    kp[:, 1] = xy[..., 1]
    kp[:, 2] = conf
    kp[:, :2][np.broadcast_to((conf <= 0)[:, None, :], kp[:, :2].shape)] = 0.0
    return kp
