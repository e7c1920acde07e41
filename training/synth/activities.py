"""People who are not playing an instrument, filmed and tracked like the corpus' performers.

The negatives of the performance detector (:mod:`training.train.performance`): a video a musician opens may
show someone talking about the piece, walking on stage, waving, clapping, typing, on the phone, drinking,
stretching, playing a ball game or just standing. Each is drawn here as a movement of the same body model as
the performers (:func:`training.synth.motion.assemble`: proportions, posture, IK arms, hands), filmed by a
camera and tracker drawn from the same :class:`~training.synth.variety.Ranges` (:func:`frame_camera`,
:func:`track`), so the detector cannot tell them apart by the camera, the tracker or the body, only by what
the arms and hands do.

Every activity varies at random per person (where the hands rest, how big, fast and often the gestures
are, one hand or both, seated or standing, left- or right-handed gestures). Body frame: shoulder widths,
x to the person's left, y down, z forward (toward a camera at yaw 0).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from training.synth.instruments import get_instrument
from training.synth.motion import (
    FPS,
    Hands,
    Performer,
    Pose3D,
    _lowpass_noise,
    _rot_x,
    assemble,
    frame_camera,
    track,
)
from training.synth.variety import STANDARD, Ranges

#: Share of people filmed head and shoulders (an interview, a teacher talking to a webcam): the top
#: ``HEAD_AND_SHOULDERS`` of head-to-lowest-hand in the frame, the hands mostly below its edge.
HEAD_AND_SHOULDERS_P = 0.3
HEAD_AND_SHOULDERS = (0.45, 0.8)

#: Every activity :func:`act` draws, in a fixed order (the detector's leave-one-out folds use it).
ACTIVITIES = ("talk", "walk", "idle", "wave", "clap", "phone", "type", "drink", "stretch", "ball")

#: Kinds of not playing that no training run uses, only checks (``minet-train playing-check``): how the
#: detector does on movement it never saw. Conducting is the one a music app meets most: arms that beat time.
UNSEEN_ACTIVITIES = ("conduct",)

_DOWN = np.array([0.0, 1.0, 0.0])
_FWD = np.array([0.0, 0.0, 1.0])


@dataclasses.dataclass(frozen=True)
class _Rest:
    """Where a hand rests between gestures."""

    w: np.ndarray  # wrist target (3,), body frame
    f: np.ndarray  # fingers' direction
    n: np.ndarray  # palm normal
    curl: float


def _rests(rng: np.random.Generator, side: float) -> dict[str, _Rest]:
    """Rest poses of one hand; ``side`` +1 for the left hand, -1 for the right (x mirrors)."""
    j = lambda s=0.04: rng.normal(0, s, 3)  # noqa: E731
    return {
        "hang": _Rest(np.array([0.60 * side, 1.58, 0.0]) + j(), _DOWN, np.array([-side, 0.0, 0.2]), 0.35),
        "front": _Rest(np.array([0.22 * side, 1.05, 0.42]) + j(), np.array([-0.4 * side, 0.3, 0.8]),
                       np.array([-0.3 * side, -0.9, 0.2]), 0.3),
        "clasped": _Rest(np.array([0.06 * side, 1.30, 0.28]) + j(0.02), np.array([-side, 0.3, 0.3]),
                         np.array([0.0, 0.0, -1.0]), 0.55),
        "crossed": _Rest(np.array([-0.28 * side, 0.72, 0.30]) + j(0.02), np.array([-side, 0.0, 0.0]),
                         np.array([0.0, 0.0, -1.0]), 0.5),
        "hips": _Rest(np.array([0.78 * side, 1.12, -0.02]) + j(0.03), np.array([-side, 0.5, 0.0]),
                      np.array([side, 0.0, 0.3]), 0.25),
        "pocket": _Rest(np.array([0.56 * side, 1.32, 0.10]) + j(0.02), _DOWN, np.array([-side, 0.0, 0.0]), 0.7),
        "desk": _Rest(np.array([0.30 * side, 1.02, 0.62]) + j(0.03), _FWD, _DOWN * -1.0, 0.4),
    }  # fmt: skip


def _phrases(rng: np.random.Generator, T: int, fps: float, on: tuple[float, float], off: tuple[float, float]):
    """Bool (T,): bursts of activity of ``on`` seconds separated by ``off`` seconds (speech phrases, rallies)."""
    out = np.zeros(T, bool)
    t = int(rng.uniform(0, off[1]) * fps)
    while t < T:
        n = int(rng.uniform(*on) * fps)
        out[t : t + n] = True
        t += n + int(rng.uniform(*off) * fps)
    return out


def _strokes(rng: np.random.Generator, T: int, fps: float, rate: float, size: float, active: np.ndarray):
    """(T, 3) gesture strokes: at about ``rate`` per second while ``active``, a quick move of about ``size``
    to a new place and a slower return (beat gestures of speech); smooth between."""
    target = np.zeros((T, 3))
    cur = np.zeros(3)
    for i in range(T):
        if active[i] and rng.random() < rate / fps:
            cur = rng.normal(0, size, 3) * np.array([1.0, 0.8, 0.6])
        elif not active[i]:
            cur = cur * 0.9
        target[i] = cur
    # a critically damped follower: fast strokes, no jumps
    out = np.zeros((T, 3))
    pos, vel = np.zeros(3), np.zeros(3)
    k = float(rng.uniform(60.0, 140.0))
    d = 2.0 * np.sqrt(k)
    for i in range(T):
        acc = k * (target[i] - pos) - d * vel
        vel = vel + acc / fps
        pos = pos + vel / fps
        out[i] = pos
    return out


def _pole(rest: _Rest, side: float) -> np.ndarray:
    """Where the elbow points: back for a hanging arm, out and down for a raised one."""
    return np.array([0.4 * side, 0.2, -1.0]) if rest.w[1] > 1.3 else np.array([side, 0.6, -0.2])


def _rest_hands(rng: np.random.Generator, T: int, left: _Rest, right: _Rest) -> Hands:
    def tile(v: np.ndarray) -> np.ndarray:
        return np.broadcast_to(v, (T, 3)).copy()

    return Hands(
        lw=tile(left.w), rw=tile(right.w), lf=left.f, ln=left.n, rf=right.f, rn=right.n,
        lpole=_pole(left, 1.0), rpole=_pole(right, -1.0),
        curls_l=np.full((T, 5), left.curl) + _lowpass_noise(rng, T, 0.08, 0.6, 5),
        curls_r=np.full((T, 5), right.curl) + _lowpass_noise(rng, T, 0.08, 0.6, 5),
    )  # fmt: skip


def _periodic(t: np.ndarray, hz: float, rng: np.random.Generator) -> np.ndarray:
    """A slightly irregular oscillation at about ``hz`` (phase drifts like a person's)."""
    drift = np.cumsum(rng.normal(0, 0.02, t.size))
    return np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi) + drift)


def _act_hands(kind: str, rng: np.random.Generator, T: int, fps: float) -> tuple[Hands, dict[str, float]]:
    """The arms' movement of ``kind``, and how the torso moves with it (sway, bob, travel, lean)."""
    t = np.arange(T) / fps
    L, Rr = _rests(rng, 1.0), _rests(rng, -1.0)
    body = {"sway": float(rng.uniform(0.01, 0.04)), "bob": 0.0, "bob_hz": 0.0, "travel": 0.0, "lean": 0.0}
    lead_left = bool(rng.random() < 0.3)  # gestures led by the left hand (left-handed people, or habit)
    if kind == "talk":
        rest = str(rng.choice(["front", "clasped", "hang", "front"]))
        h = _rest_hands(rng, T, L[rest], Rr[rest])
        active = _phrases(rng, T, fps, (1.5, 5.0), (0.4, 2.5))
        size = float(rng.uniform(0.08, 0.28))
        rate = float(rng.uniform(1.2, 3.0))
        both = float(rng.uniform(0.0, 1.0))
        lead = (
            _strokes(rng, T, fps, rate, size, active) + np.array([0.0, -0.35, 0.25]) * active[:, None] * 0.8
        )
        other = _strokes(rng, T, fps, rate * both, size * both, active) + (
            np.array([0.0, -0.3, 0.2]) * active[:, None] * both
        )
        if lead_left:
            h.lw, h.rw = h.lw + lead, h.rw + other * np.array([-1.0, 1.0, 1.0])
        else:
            h.rw, h.lw = h.rw + lead * np.array([-1.0, 1.0, 1.0]), h.lw + other
        h.curls_l += 0.3 * _lowpass_noise(rng, T, 0.5, 0.4, 5)
        h.curls_r += 0.3 * _lowpass_noise(rng, T, 0.5, 0.4, 5)
        body["lean"] = float(rng.uniform(-0.05, 0.15))
    elif kind == "walk":
        h = _rest_hands(rng, T, L["hang"], Rr["hang"])
        hz = float(rng.uniform(0.8, 1.05))  # one arm swing per two steps
        amp = float(rng.uniform(0.12, 0.35))
        s = _periodic(t, hz, rng)
        h.lw[:, 2] += amp * s
        h.rw[:, 2] -= amp * s
        h.lw[:, 1] -= 0.15 * amp * np.abs(s)
        h.rw[:, 1] -= 0.15 * amp * np.abs(s)
        if rng.random() < 0.3:  # one hand in a pocket or carrying something
            h.rw = np.broadcast_to(Rr["pocket"].w, (T, 3)).copy()
        body.update(bob=float(rng.uniform(0.015, 0.04)), bob_hz=2 * hz, travel=float(rng.uniform(-1.2, 1.2)))
    elif kind == "idle":
        rest = str(rng.choice(["hang", "clasped", "crossed", "hips", "pocket", "front"]))
        rest_r = rest if rng.random() < 0.7 else str(rng.choice(["hang", "pocket", "hips"]))
        h = _rest_hands(rng, T, L[rest], Rr[rest_r])
        h.lw += _lowpass_noise(rng, T, 0.05, 1.5)
        h.rw += _lowpass_noise(rng, T, 0.05, 1.5)
        body["sway"] = float(rng.uniform(0.02, 0.08))
    elif kind == "wave":
        h = _rest_hands(rng, T, L["hang"], Rr["hang"])
        up = _phrases(rng, T, fps, (1.0, 4.0), (0.5, 3.0))
        ramp = np.convolve(up.astype(float), np.ones(int(0.3 * fps)) / int(0.3 * fps), mode="same")
        hand = np.array([-0.75, -0.55, 0.15]) + rng.normal(0, 0.08, 3)
        wave = np.zeros((T, 3))
        wave[:, 0] = float(rng.uniform(0.08, 0.22)) * _periodic(t, float(rng.uniform(1.5, 3.5)), rng)
        path = (hand - Rr["hang"].w)[None] * ramp[:, None] + wave * ramp[:, None]
        if lead_left:
            h.lw += path * np.array([-1.0, 1.0, 1.0])
            h.lf, h.ln = np.array([0.0, -1.0, 0.0]), np.array([0.0, 0.0, 1.0])
        else:
            h.rw += path
            h.rf, h.rn = np.array([0.0, -1.0, 0.0]), np.array([0.0, 0.0, 1.0])
        h.curls_l *= 0.5
        h.curls_r *= 0.5
    elif kind == "clap":
        h = _rest_hands(rng, T, L["front"], Rr["front"])
        hz = float(rng.uniform(1.5, 4.0))
        gap = float(rng.uniform(0.12, 0.3))
        s = 0.5 * (1 + _periodic(t, hz, rng))
        centre = np.array([0.0, float(rng.uniform(0.55, 1.0)), float(rng.uniform(0.35, 0.55))])
        on = _phrases(rng, T, fps, (2.0, 8.0), (0.3, 2.0))
        for w, sgn in ((h.lw, 1.0), (h.rw, -1.0)):
            clap = centre + np.array([sgn, 0.0, 0.0]) * (0.04 + gap * s)[:, None]
            w[:] = np.where(on[:, None], clap, w)
        h.lf, h.ln = np.array([0.0, -0.7, 0.7]), np.array([-1.0, 0.0, 0.0])
        h.rf, h.rn = np.array([0.0, -0.7, 0.7]), np.array([1.0, 0.0, 0.0])
        h.curls_l *= 0.3
        h.curls_r *= 0.3
    elif kind == "phone":
        to_ear = rng.random() < 0.35
        h = _rest_hands(rng, T, L["hang"] if to_ear else L["front"], Rr["front"])
        if to_ear:
            h.rw[:] = np.array([-0.30, -0.50, 0.08]) + rng.normal(0, 0.03, 3)
            h.rf, h.rn = np.array([0.1, -1.0, 0.1]), np.array([1.0, 0.0, 0.0])
            h.lw += _lowpass_noise(rng, T, 0.08, 1.0)
        else:
            phone = np.array([0.0, float(rng.uniform(0.75, 1.15)), float(rng.uniform(0.35, 0.55))])
            h.lw[:] = phone + np.array([0.07, 0.02, 0.0])
            h.rw[:] = phone + np.array([-0.07, 0.02, 0.0])
            h.lf, h.ln = np.array([-0.3, -0.6, 0.7]), np.array([0.0, -0.6, -0.6])
            h.rf, h.rn = np.array([0.3, -0.6, 0.7]), np.array([0.0, -0.6, -0.6])
            taps = _phrases(rng, T, fps, (0.5, 3.0), (0.5, 3.0))
            h.curls_r[:, 0] = 0.3 + 0.3 * taps * (0.5 + 0.5 * _periodic(t, float(rng.uniform(2.0, 5.0)), rng))
            h.lw += _lowpass_noise(rng, T, 0.03, 1.0)
            h.rw += _lowpass_noise(rng, T, 0.03, 1.0)
    elif kind == "type":
        h = _rest_hands(rng, T, L["desk"], Rr["desk"])
        h.lw += _lowpass_noise(rng, T, 0.04, 0.5)
        h.rw += _lowpass_noise(rng, T, 0.04, 0.5)
        keys = _phrases(rng, T, fps, (1.0, 6.0), (0.3, 3.0))
        for c in (h.curls_l, h.curls_r):
            c[:, 1:] = 0.35 + 0.25 * keys[:, None] * (rng.random((T, 4)) < 0.25)
        if rng.random() < 0.4:  # the mouse
            h.rw[:] = Rr["desk"].w + np.array([-0.35, 0.0, 0.05]) + _lowpass_noise(rng, T, 0.06, 0.4)
        body["lean"] = float(rng.uniform(0.05, 0.3))
    elif kind == "drink":
        h = _rest_hands(rng, T, L["front"], Rr["front"])
        sip = _phrases(rng, T, fps, (1.0, 3.0), (2.0, 6.0))
        ramp = np.convolve(sip.astype(float), np.ones(int(0.5 * fps)) / int(0.5 * fps), mode="same")
        mouth = np.array([-0.05, -0.35, 0.22]) + rng.normal(0, 0.03, 3)
        w = h.lw if lead_left else h.rw
        w += (mouth * np.array([-1.0 if lead_left else 1.0, 1.0, 1.0]) - w[0])[None] * ramp[:, None]
        if lead_left:
            h.curls_l[:] = 0.6
        else:
            h.curls_r[:] = 0.6
    elif kind == "stretch":
        h = _rest_hands(rng, T, L["hang"], Rr["hang"])
        hz = float(rng.uniform(0.2, 0.8))
        s = 0.5 * (1 + _periodic(t, hz, rng))
        if rng.random() < 0.5:  # arms up overhead and down
            top = np.array([0.35, -1.45, 0.1])
        else:  # arms out to the sides and in (jumping jacks, a shoulder stretch)
            top = np.array([1.4, -0.3, 0.0])
        h.lw = h.lw + (top - L["hang"].w)[None] * s[:, None]
        h.rw = h.rw + (top * np.array([-1.0, 1.0, 1.0]) - Rr["hang"].w)[None] * s[:, None]
        body.update(bob=float(rng.uniform(0.0, 0.15)), bob_hz=hz * 2)
    elif kind == "ball":
        h = _rest_hands(rng, T, L["front"], Rr["front"])
        plays = {
            "set": (np.array([0.18, -1.2, 0.35]), np.array([-0.18, -1.2, 0.35])),
            "bump": (np.array([0.04, 1.15, 0.75]), np.array([-0.04, 1.15, 0.75])),
            "spike": (np.array([0.3, 0.6, 0.5]), np.array([-0.35, -1.5, -0.1])),
            "ready": (np.array([0.35, 0.9, 0.5]), np.array([-0.35, 0.9, 0.5])),
        }
        names = list(plays)
        lw, rw = np.zeros((T, 3)), np.zeros((T, 3))
        i = 0
        while i < T:
            name = names[int(rng.integers(len(names)))]
            n = int(rng.uniform(0.4, 1.5) * fps)
            a, b = plays[name]
            lw[i : i + n], rw[i : i + n] = a + rng.normal(0, 0.08, 3), b + rng.normal(0, 0.08, 3)
            i += n
        k = np.ones(int(0.15 * fps)) / int(0.15 * fps)
        h.lw = np.stack([np.convolve(lw[:, d], k, mode="same") for d in range(3)], axis=1)
        h.rw = np.stack([np.convolve(rw[:, d], k, mode="same") for d in range(3)], axis=1)
        h.curls_l *= 0.4
        h.curls_r *= 0.4
        body.update(bob=float(rng.uniform(0.05, 0.25)), bob_hz=float(rng.uniform(0.5, 1.5)),
                    travel=float(rng.uniform(-0.8, 0.8)), lean=float(rng.uniform(0.0, 0.3)))  # fmt: skip
    elif kind == "conduct":
        # The baton hand beats a 2-, 3- or 4-beat pattern in front of the chest (down on the first beat, then
        # across and back up), the other hand rests at the chest, cues now and then, or mirrors the baton hand.
        h = _rest_hands(rng, T, L["front"], Rr["front"])
        bpm = float(rng.uniform(60.0, 140.0))
        beats = int(rng.choice([2, 3, 4]))
        amp = float(rng.uniform(0.2, 0.45))
        beat = t * bpm / 60.0 + np.cumsum(rng.normal(0, 0.002, T))
        k = np.floor(beat).astype(int) % beats
        f = beat - np.floor(beat)
        # each beat's point in the pattern (x: across, y: down), body frame, for the right hand
        points = {2: [(0.0, 1.0), (0.0, 0.2)], 3: [(0.0, 1.0), (-0.7, 0.6), (0.0, 0.0)],
                  4: [(0.0, 1.0), (0.6, 0.6), (-0.7, 0.6), (0.0, 0.0)]}[beats]  # fmt: skip
        pts = np.array(points)
        a, b = pts[k], pts[(k + 1) % beats]
        bounce = np.sin(np.pi * f)[:, None] * np.array([0.0, -0.35])  # the rebound between ictuses
        path = a + (b - a) * (f * f * (3 - 2 * f))[:, None] + bounce
        top = np.array([-0.35, float(rng.uniform(0.1, 0.5)), float(rng.uniform(0.35, 0.6))])
        h.rw = top + amp * np.column_stack([path[:, 0], path[:, 1], 0.15 * path[:, 1]])
        h.rf, h.rn = np.array([0.3, -0.3, 0.9]), np.array([0.0, 1.0, 0.2])
        h.curls_r[:] = 0.6  # holding the baton
        if rng.random() < 0.4:  # the other hand mirrors the beat
            h.lw = h.rw * np.array([-1.0, 1.0, 1.0])
        else:
            cue = _phrases(rng, T, fps, (0.5, 1.5), (2.0, 6.0))
            h.lw = h.lw + (np.array([0.35, -0.45, 0.3]) - L["front"].w)[None] * cue[:, None] * 0.8
        body["sway"] = float(rng.uniform(0.02, 0.06))
    else:
        known = ", ".join(ACTIVITIES + UNSEEN_ACTIVITIES)
        raise ValueError(f"unknown activity {kind!r}; known: {known}")
    return h, body


def _torso(perf: Performer, rng: np.random.Generator, T: int, body: dict[str, float]):
    """Rotation (T, 3, 3), translation (T, 3) and shoulder lift (T,) of the body frame."""
    fps = perf.fps
    t = np.arange(T) / fps
    drift = _lowpass_noise(rng, T, 0.03, 2.5, fps=fps)
    ph = 2 * np.pi * float(rng.uniform(0.15, 0.5)) * t + perf.sway_phase
    x = body["sway"] * np.sin(ph) + drift[:, 0]
    if body["travel"]:  # walking across: a camera that follows, but not exactly
        x = x + body["travel"] * np.sin(2 * np.pi * t / max(t[-1], 1.0) / 2)
    y = 0.6 * drift[:, 1] - body["bob"] * np.abs(np.sin(np.pi * body["bob_hz"] * t))
    roll = 0.6 * body["sway"] * np.sin(ph + 0.5) + 0.3 * drift[:, 2] + perf.lean_side
    yaw = 0.5 * drift[:, 2] + perf.body_turn
    cr, sr, cy, sy = np.cos(roll), np.sin(roll), np.cos(yaw), np.sin(yaw)
    Rz = np.zeros((T, 3, 3))
    Rz[:, 0, 0], Rz[:, 0, 1], Rz[:, 1, 0], Rz[:, 1, 1], Rz[:, 2, 2] = cr, -sr, sr, cr, 1
    Ry = np.zeros((T, 3, 3))
    Ry[:, 0, 0], Ry[:, 0, 2], Ry[:, 2, 0], Ry[:, 2, 2], Ry[:, 1, 1] = cy, sy, -sy, cy, 1
    R = Rz @ Ry @ _rot_x(-(perf.lean_forward + body["lean"]))
    return R, np.stack([x, y, np.zeros(T)], axis=1), np.zeros(T)


def person(rng: np.random.Generator, ranges: Ranges | None = None, fps: float = FPS) -> Performer:
    """A person (body, posture, camera, tracker) drawn from ``ranges`` as a performer is, without an
    instrument: no hold, right-handed body, never mirrored; some filmed head and shoulders."""
    p = Performer.sample(get_instrument("vn"), rng, ranges, fps)  # the instrument's own fields are reset
    p = dataclasses.replace(p, hold="", left_handed=False, seated=bool(rng.random() < 0.35))
    if rng.random() < HEAD_AND_SHOULDERS_P:
        p = dataclasses.replace(p, framing="closeup", framing_amount=float(rng.uniform(*HEAD_AND_SHOULDERS)))
    return p


def act(
    kind: str,
    duration: float,
    rng: np.random.Generator,
    ranges: Ranges | None = None,
    fps: float | None = None,
) -> tuple[Pose3D, Performer, np.ndarray]:
    """A person doing ``kind`` (one of :data:`ACTIVITIES` or :data:`UNSEEN_ACTIVITIES`) for ``duration`` seconds,
    filmed and tracked:
    the clean pose, the person (with the camera) and the tracker's ``(T, 3, 47)`` keypoints."""
    R_ = STANDARD if ranges is None else ranges
    fps = float(rng.choice(R_.fps)) if fps is None else float(fps)
    perf = person(rng, R_, fps)
    if kind == "walk":
        perf = dataclasses.replace(perf, seated=False)
    T = max(int(np.ceil(duration * fps)), 2)
    hands, body = _act_hands(kind, rng, T, fps)
    R, trans, lift = _torso(perf, rng, T, body)
    joints, _ = assemble(perf, R, trans, lift, hands, [], rng)
    pose = Pose3D(joints)
    frame_camera(pose, perf, rng)
    return pose, perf, track(pose, perf, None, rng)
