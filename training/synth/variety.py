"""How widely simulated performances vary: every range the simulator draws a performer, camera and tracker from.

One frozen dataclass, :class:`Ranges`, holds them all, with the reason for each; :data:`STANDARD` is what the
training corpus is drawn from and :data:`HARD` the hard-views benchmark (``minet-train synth --views hard``):
obliquer cameras, only upper-body close-ups with hands at or past the frame edge, only OpenPose-style tracking
(Solos' skeletons) at 24-25 fps. The hard set lies outside everything the shipped models' simulator drew
(camera yaw N(0, 9 deg), whole upper body in frame, MediaPipe-style tracking at 30 fps) and at or past the
edge of :data:`STANDARD` (yaw up to 80 deg against 70, tighter crops).

Angles are in degrees, lengths in shoulder widths (the body model's unit), probabilities in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

#: Ways of holding each instrument, with how often players are seen holding it that way in concert and
#: lesson videos (weights, normalised when drawn). See ``training.synth.motion.perform`` for the geometry.
HOLDS: dict[str, tuple[tuple[str, float], ...]] = {
    # Alto/tenor hang on a neck strap: at the right hip (standing, or seated with the bell beside the right
    # thigh), or in front between the knees (seated tenor); the soprano is held straight out like a clarinet.
    "sax": (("strap_hip", 0.55), ("strap_front", 0.25), ("soprano", 0.20)),
    # Seated with an endpin (the usual), or standing with a long endpin (some soloists, jazz/folk players).
    "vc": (("seated", 0.8), ("standing", 0.2)),
    # Standing (orchestra, jazz) or on a high stool (orchestra, long rehearsals).
    "db": (("standing", 0.6), ("stool", 0.4)),
    # Horn: bell resting on the right knee (seated orchestral) or held free off the leg (seated or standing).
    "hn": (("bell_knee", 0.55), ("bell_free", 0.45)),
    # Tuba in the lap (seated) or on a strap/stand while standing (bands, street players).
    "tba": (("lap", 0.75), ("standing", 0.25)),
    # Bassoon on a seat strap (seated: low) or on a neck/harness strap (standing: higher).
    "bn": (("seated", 0.7), ("standing", 0.3)),
}

#: Instruments also built (and filmed) left-handed: the mirrored pose with the roles of the hands swapped.
#: Bowed strings are strung in reverse by some left-handed players; trumpets and trombones exist mirrored;
#: woodwinds and the horn are essentially never mirrored.
LEFT_HANDED_OK = ("vn", "va", "vc", "db", "tpt", "tbn")


@dataclass(frozen=True)
class Ranges:
    """Every random range of a simulated performance, with the reason for it.

    A performance draws one value from each (uniformly in ``(lo, hi)`` unless said otherwise); the audio of a
    corpus never depends on these (it is rendered from its own random stream before any of them is drawn).
    """

    # -- the video -------------------------------------------------------------------------------------
    #: Camera frame rates seen in real performance videos: film 24, PAL 25 (Solos/YouTube concerts),
    #: NTSC 29.97 (URMP) and phones at 30. One per piece (all players of a piece share one video).
    fps: tuple[float, ...] = (24.0, 25.0, 29.97, 30.0)

    # -- the performer ---------------------------------------------------------------------------------
    #: Relative spread (sd) of upper arm, forearm and hand length against shoulder width: adult anthropometry
    #: varies about 5-7 % per segment, independently enough that arm/shoulder ratios differ visibly.
    limb_sd: float = 0.07
    #: Forward lean of the torso (positive: slumped over the instrument, negative: leaning back while playing
    #: loud or high). Seated players lean more on average; the range covers both.
    lean_forward_deg: tuple[float, float] = (-10.0, 20.0)
    #: Sideways lean (weight on one leg, leaning into a bow stroke or away from a music stand).
    lean_side_deg: tuple[float, float] = (-8.0, 8.0)
    #: Body turn relative to the instrument's usual facing (players angle themselves to a stand or a
    #: partner); adds to the camera's yaw but moves the instrument with the body.
    body_turn_deg: tuple[float, float] = (-15.0, 15.0)
    #: Shoulders rounded forward / dropped (0 upright .. 1 slumped): amateurs and long sessions.
    slump: tuple[float, float] = (0.0, 1.0)
    #: Probability of a seated player for instruments played either way (winds, trumpet, trombone):
    #: orchestra and lessons are seated, solo/jazz/street mostly standing.
    seated_p: float = 0.5
    #: How steeply a mouth-held instrument points down (added to its usual angle): oboists and clarinettists
    #: range from nearly vertical to 45 deg out, flautists droop the flute, trumpeters point the bell down.
    instrument_pitch_deg: tuple[float, float] = (-12.0, 15.0)
    #: Sideways angle of a mouth-held instrument about the mouth.
    instrument_yaw_deg: tuple[float, float] = (-12.0, 12.0)
    #: Share of left-handed players among instruments in :data:`LEFT_HANDED_OK` (about 1 in 20; rarer than
    #: left-handedness itself, since most left-handers learn the standard instrument).
    left_handed_p: float = 0.05

    # -- the camera -------------------------------------------------------------------------------------
    #: Camera yaw around the player, |yaw| drawn uniformly in this range with a random sign: front-on
    #: to strongly oblique, as in concert videos filmed from the side of a stage.
    camera_yaw_deg: tuple[float, float] = (0.0, 70.0)
    #: Camera elevation (positive: looking down from a balcony or a tripod above eye level).
    camera_pitch_deg: tuple[float, float] = (-20.0, 20.0)
    #: Camera roll (handheld phones, a tripod not quite level): normal with this sd, clipped at 3 sd.
    camera_roll_sd_deg: float = 4.0
    #: Camera distance in shoulder widths (the strength of the perspective): about 1.6 m (a phone close to a
    #: seated player) to 5 m (a concert camera).
    camera_distance: tuple[float, float] = (4.0, 13.0)
    #: Share of upper-body close-ups (the performer's head and shoulders fill the frame, the lower part of
    #: the instrument and the hands at or below the frame edge), the rest framed wide enough for everything.
    closeup_p: float = 0.35
    #: Close-up: fraction of the performer's (head-to-lowest-hand) height inside the frame; below 1 the
    #: lowest hand is cut off by the frame edge.
    closeup_visible: tuple[float, float] = (0.85, 1.1)
    #: Wide shot: the performer's upper body (head to lowest hand) as a fraction of the frame height; small
    #: values are a whole-body or stage shot where the player is a small figure.
    wide_fill: tuple[float, float] = (0.3, 0.9)

    # -- the tracker ------------------------------------------------------------------------------------
    #: Share of OpenPose-style tracking (Solos' skeletons: per-frame detection without temporal smoothing,
    #: continuous hand confidences, single finger points dropped), the rest MediaPipe-style.
    openpose_p: float = 0.35
    #: Jitter floor in pixels (detector resolution: grows, relative to the body, as the player gets smaller).
    jitter_px: tuple[float, float] = (0.8, 2.5)
    #: Jitter relative to the body size (shoulder widths), at rest.
    jitter_rel: tuple[float, float] = (0.003, 0.008)
    #: Extra jitter per unit of joint speed (motion blur): pixels of sd per pixel per frame of motion.
    jitter_speed: tuple[float, float] = (0.03, 0.12)
    #: Wrist speed (shoulder widths per second) above which a hand is often lost (motion blur), and the
    #: chance per fast frame.
    fast_hand_speed: tuple[float, float] = (2.0, 4.0)
    fast_hand_loss: tuple[float, float] = (0.2, 0.7)
    #: Fraction of frames in which left and right hands are swapped (in bursts of 2-6 frames).
    hand_swap_rate: tuple[float, float] = (0.0, 0.01)
    #: Fraction of frames with no person at all.
    frame_drop: tuple[float, float] = (0.003, 0.02)

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if isinstance(value, tuple) and len(value) == 2 and name != "fps" and not value[0] <= value[1]:
                raise ValueError(f"Ranges.{name}: low {value[0]} above high {value[1]}")
        if not self.fps or min(self.fps) <= 0:
            raise ValueError(f"Ranges.fps must be positive frame rates, got {self.fps}")


#: The training corpus.
STANDARD = Ranges()

#: The hard-views benchmark: outside the shipped models' simulator everywhere, at or past STANDARD's edges.
HARD = Ranges(
    fps=(24.0, 25.0),
    camera_yaw_deg=(50.0, 80.0),
    camera_pitch_deg=(-25.0, 25.0),
    closeup_p=1.0,
    closeup_visible=(0.7, 0.95),
    openpose_p=1.0,
    hand_swap_rate=(0.005, 0.015),
)

#: ``minet-train synth --views NAME``.
VIEWS: dict[str, Ranges] = {"standard": STANDARD, "hard": HARD}
