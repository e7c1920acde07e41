"""The model and demos shipped in resources/: what a new user gets when they press Generate."""

import numpy as np
import pytest

from minet_desktop.core.config import AudioConfig
from minet_desktop.engine.paths import default_model_path, demo_dir
from minet_desktop.model.bundle import read_bundle_config
from minet_desktop.pose.keypoint_file import find_sidecar

DEMOS = ("violin", "cello", "flute", "trumpet")


def test_the_default_bundles_are_shipped_with_cards():
    for name, kind in (("minet", "minet"), ("minet_midi", "minet_midi")):
        path = default_model_path().with_name(f"{name}.safetensors")
        cfg, card = read_bundle_config(path)
        assert cfg.model_type == kind
        assert cfg.audio == AudioConfig(), (
            "the app's audio settings come from the bundle and must be the paper's"
        )
        assert "## Training" in card and "nats/code" in card
        # The card says what, if anything, uses the instrument labels (issue 16).
        assert "the only place the instrument labels are used" in " ".join(card.replace("*", "").split())
        assert path.stat().st_size < 60e6


def test_the_default_bundles_are_what_the_default_recipe_builds():
    """scripts/train_default_model.sh reproduces the shipped models from training/recipes/default.toml: the
    bundles' architecture must be that recipe's, or the reproduction recipe has drifted from what ships."""
    from training.train.config import load_recipe

    recipe = load_recipe("default").model
    for name, content in (("minet", False), ("minet_midi", True)):
        cfg, _ = read_bundle_config(default_model_path().with_name(f"{name}.safetensors"))
        want = recipe.bundle_config(content=content)
        # Since issue 16 the priors also take the movement encoder's per-frame motion.
        assert cfg.prior.per_frame_motion, name
        assert (cfg.vqvae, cfg.movement, cfg.prior, cfg.content) == (
            want.vqvae,
            want.movement,
            want.prior,
            want.content,
        ), name
        # They carry the instrument prototypes `minet-train prototypes` adds (detection and override).
        assert cfg.instruments is not None and len(cfg.instruments.codes) == 13, name
    # MI Net finds where notes start in the movement with the onset detector `minet-train onsets` adds (issue 16);
    # the MIDI model starts them at its score's notes.
    cfg, card = read_bundle_config(default_model_path())
    assert cfg.onsets is not None and "minet-train onsets" in card


@pytest.mark.parametrize("name", DEMOS)
def test_every_demo_has_video_keypoints_midi_and_audio(name):
    video = demo_dir() / f"{name}.mp4"
    kf = find_sidecar(video)
    assert kf is not None, f"{video} has no matching keypoint sidecar"
    assert kf.detected_fraction > 0.9 and abs(kf.duration - 12.0) < 0.1
    for suffix in (".mid", ".wav"):
        assert (demo_dir() / f"{name}{suffix}").is_file()


@pytest.mark.slow
def test_the_default_model_generates_from_a_demo():
    from minet_desktop.engine.session import Session

    session = Session(default_model_path(), device="cpu")
    kf = find_sidecar(demo_dir() / "violin.mp4")
    result = session.generate(kf, takes=1, seed=0, griffin_lim_iters=4)
    wave = result.waveform[0]
    assert wave.shape[0] == round(kf.duration * session.sample_rate)
    assert np.isfinite(wave).all() and 0.001 < float(np.sqrt(np.mean(wave**2))) < 1.0
