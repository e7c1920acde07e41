"""Which instrument: the "Sounds like" line next to Generate, and the instrument list that overrides it."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from gui_helpers import synthetic_keypoints

from minet_desktop.core.instruments import INSTRUMENT_CODES
from minet_desktop.gui.generate_panel import AUTO_INSTRUMENT, UNSTEERED_INSTRUMENT
from minet_desktop.model.bundle import build_modules, save_bundle
from minet_desktop.model.config import BundleConfig, InstrumentPrototypesConfig
from minet_desktop.model.instruments import InstrumentPrototypes
from minet_desktop.pose.keypoint_file import sidecar_path


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _no_performance_detector(request, monkeypatch, tmp_path):
    """These tests drive the prototypes on made-up keypoints, which the app's performance detector rightly
    reads as no one playing; a test that wants the detector says so (``uses_detector`` in its name)."""
    if "uses_detector" not in request.node.name:
        monkeypatch.setattr(
            "minet_desktop.engine.session.performance_detector_path", lambda: tmp_path / "none.safetensors"
        )


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """A tiny MI Net with prototypes of the 13 instruments (random, spread apart) and one without."""
    folder = tmp_path_factory.mktemp("instrument_bundles")
    cfg = BundleConfig.tiny()
    torch.manual_seed(1)
    modules = build_modules(cfg)
    plain = save_bundle(folder / "plain.safetensors", cfg, *modules, model_card="# Tiny")
    pc = InstrumentPrototypesConfig(
        codes=INSTRUMENT_CODES, temperature=0.05, max_distance=1e6, min_motion=0.0
    )
    protos = InstrumentPrototypes(pc, cfg.movement.out_features)
    protos.prototypes.copy_(0.3 * torch.randn(len(INSTRUMENT_CODES), cfg.movement.out_features))
    with_protos = save_bundle(
        folder / "protos.safetensors",
        dataclasses.replace(cfg, instruments=pc),
        *modules,
        model_card="# Tiny",
        instruments=protos,
    )
    steer_cfg = dataclasses.replace(pc, auto_steer=1.0)
    steer_protos = InstrumentPrototypes(steer_cfg, cfg.movement.out_features)
    steer_protos.load_state_dict(protos.state_dict())
    steered = save_bundle(
        folder / "steered.safetensors",
        dataclasses.replace(cfg, instruments=steer_cfg),
        *modules,
        model_card="# Tiny",
        instruments=steer_protos,
    )
    return {"plain": plain, "protos": with_protos, "steered": steered}


def _open(make_window, qtbot, model, video_path, keypoint_file_for):
    kf = keypoint_file_for(video_path)
    kf.save(sidecar_path(video_path))
    window = make_window(model_path=model)
    qtbot.waitUntil(
        lambda: window.generation.session is not None and window.generation.model_job is None, timeout=10_000
    )
    assert window.open_and_wait(video_path)  # (keypoints from the sidecar, read in the background)
    qtbot.waitUntil(lambda: window.generation.detection is None, timeout=10_000)
    return window, kf


def test_opening_a_performance_shows_what_it_sounds_like(
    make_window, qtbot, bundles, video_path, keypoint_file_for
):
    window, kf = _open(make_window, qtbot, bundles["protos"], video_path, keypoint_file_for)
    detection = window.generation.session.detect(window.keypoints)
    expected = detection.summary()
    assert window.panel.sounds_like_text() == f"Sounds like: {expected}"
    assert " % - " in expected  # "viola 56 % - cello 20 % - oboe 11 %"
    assert window.errors == []


def test_clicking_an_instrument_under_sounds_like_chooses_it(
    make_window, qtbot, bundles, video_path, keypoint_file_for
):
    window, _ = _open(make_window, qtbot, bundles["protos"], video_path, keypoint_file_for)
    label, combo = window.panel.sounds_like_label, window.panel.instrument_combo
    second = window.generation.session.detect(window.keypoints).probabilities[1][0]
    assert f'<a href="{second}">' in label.text()  # each named instrument is a link
    assert combo.currentText() == AUTO_INSTRUMENT
    label.linkActivated.emit(second)
    from minet_desktop.core.instruments import instrument_name

    assert combo.currentText() == instrument_name(second).capitalize()
    assert window.panel.options().instrument == second
    label.linkActivated.emit("not-an-instrument")  # (a link the label never makes) changes nothing
    assert window.panel.options().instrument == second and window.errors == []


def test_a_model_that_cannot_be_told_an_instrument_shows_no_links(qtbot) -> None:
    from minet_desktop.engine.instruments import Detection
    from minet_desktop.gui.generate_panel import GeneratePanel

    panel = GeneratePanel()
    qtbot.addWidget(panel)
    detection = Detection(
        probabilities=[("va", 0.56), ("vc", 0.2)], uncertain=True, reason="a <test> & reason"
    )
    panel.show_detection(detection)
    assert "<a " not in panel.sounds_like_label.text() and "&lt;test&gt;" in panel.sounds_like_label.text()
    assert panel.sounds_like_text() == f"Sounds like: {detection.summary()}"
    panel.sounds_like_label.linkActivated.emit("va")
    assert panel.options().instrument is None
    panel.set_instruments(("va", "vc"))
    panel.show_detection(detection)
    assert '<a href="va">viola</a> 56 %' in panel.sounds_like_label.text()


def test_the_chosen_instrument_is_what_generation_plays(
    make_window, qtbot, bundles, video_path, keypoint_file_for
):
    window, _ = _open(make_window, qtbot, bundles["protos"], video_path, keypoint_file_for)
    combo = window.panel.instrument_combo
    assert combo.isEnabled() and combo.itemText(0) == AUTO_INSTRUMENT
    assert combo.count() == 16 and combo.itemText(15) == UNSTEERED_INSTRUMENT  # after the 13 and a separator
    asked = []
    session = window.generation.session
    original = session.iter_generate

    def spy(*args, **kwargs):
        asked.append((kwargs.get("instrument"), kwargs.get("auto_steer")))
        return original(*args, **kwargs)

    session.iter_generate = spy
    window.panel.select_instrument("va")
    assert combo.currentText() == "Viola"
    window.generation.start()
    qtbot.waitUntil(lambda: window.generation.job is None, timeout=20_000)
    window.panel.select_instrument(None)
    window.generation.start()
    qtbot.waitUntil(lambda: window.generation.job is None, timeout=20_000)
    combo.setCurrentIndex(15)
    assert window.panel.options().instrument is None and window.panel.options().auto_steer is False
    window.generation.start()
    qtbot.waitUntil(lambda: window.generation.job is None, timeout=20_000)
    assert asked == [("va", None), (None, None), (None, False)] and window.errors == []


def test_auto_says_which_instrument_it_played(make_window, qtbot, bundles, video_path, keypoint_file_for):
    window, _ = _open(make_window, qtbot, bundles["steered"], video_path, keypoint_file_for)
    best = window.generation.session.detect(window.keypoints).best[0]
    window.generation.start()
    qtbot.waitUntil(lambda: window.generation.job is None, timeout=20_000)
    assert window.generation.result.steered_to == best and window.errors == []
    from minet_desktop.core.instruments import instrument_name

    assert f"played as {instrument_name(best)}" in window.panel.stage_label.text()


def test_uses_detector_movement_of_no_one_playing_is_uncertain_and_auto_does_not_steer(
    make_window, qtbot, bundles, video_path, keypoint_file_for
):
    from minet_desktop.engine.paths import performance_detector_path

    if not performance_detector_path().is_file():
        pytest.skip("no bundled performance detector")
    window, _ = _open(make_window, qtbot, bundles["steered"], video_path, keypoint_file_for)
    assert window.generation.session.performance is not None
    text = window.panel.sounds_like_text()
    assert "uncertain (the movement does not look like someone playing an instrument)" in text, text
    window.generation.start()
    qtbot.waitUntil(lambda: window.generation.job is None, timeout=20_000)
    assert window.generation.result.steered_to is None and window.errors == []


def test_a_model_without_prototypes_says_it_cannot_tell_and_has_no_choice(
    make_window, qtbot, bundles, video_path, keypoint_file_for
):
    window, _ = _open(make_window, qtbot, bundles["plain"], video_path, keypoint_file_for)
    assert not window.panel.instrument_combo.isEnabled()
    assert window.panel.options().instrument is None
    assert "cannot tell the instrument" in window.panel.sounds_like_label.text()


def test_a_performance_without_a_person_says_so(make_window, qtbot, bundles, video_path, keypoint_file_for):
    kf = keypoint_file_for(video_path)
    nobody = dataclasses.replace(
        kf, keypoints=synthetic_keypoints(kf.n_frames, confidence=0.0), detected_fraction=0.0
    )
    nobody.save(sidecar_path(video_path))
    window = make_window(model_path=bundles["protos"])
    qtbot.waitUntil(
        lambda: window.generation.session is not None and window.generation.model_job is None, timeout=10_000
    )
    assert window.open_and_wait(video_path)  # (keypoints from the sidecar, read in the background)
    qtbot.waitUntil(lambda: window.generation.detection is None, timeout=10_000)
    assert "no person was detected" in window.panel.sounds_like_label.text()


def test_keep_the_scores_octaves_is_offered_for_a_midi_model_asked_for_an_instrument(qtbot) -> None:
    from minet_desktop.gui.generate_panel import GeneratePanel

    panel = GeneratePanel()
    qtbot.addWidget(panel)
    check = panel.keep_octaves_check
    panel.set_model("midi.safetensors", "minet_midi")
    panel.set_instruments(INSTRUMENT_CODES)
    assert not check.isEnabled()  # Auto: the notes are played as written anyway
    panel.select_instrument("tba")
    assert check.isEnabled() and panel.options().keep_octaves is False
    check.setChecked(True)
    assert panel.options() == dataclasses.replace(panel.options(), instrument="tba", keep_octaves=True)
    panel.select_instrument(None)
    assert not check.isEnabled() and panel.options().keep_octaves is False
    panel.select_instrument("tba")
    panel.set_model("minet.safetensors", "minet")  # a model without notes has no octaves to keep
    assert not check.isEnabled() and panel.options().keep_octaves is False


def test_notes_start_on_the_movements_unless_the_switch_is_off(
    make_window, qtbot, bundles, video_path, keypoint_file_for
):
    window, _ = _open(make_window, qtbot, bundles["protos"], video_path, keypoint_file_for)
    check = window.panel.articulate_check
    assert check.isChecked() and window.panel.options().articulate  # on at first launch
    asked = []
    session = window.generation.session
    original = session.iter_generate

    def spy(*args, **kwargs):
        asked.append(kwargs.get("articulation", "default"))
        return original(*args, **kwargs)

    session.iter_generate = spy
    window.generation.start()
    qtbot.waitUntil(lambda: window.generation.job is None, timeout=20_000)
    check.setChecked(False)
    window.generation.start()
    qtbot.waitUntil(lambda: window.generation.job is None, timeout=20_000)
    assert asked == ["default", None] and window.errors == []


def test_live_mode_shows_what_the_live_movement_sounds_like_and_plays_the_instrument_clicked(
    make_window, qtbot, bundles, monkeypatch
):
    import numpy as np
    from gui_helpers import VIDEO_SIZE

    from minet_desktop.media.camera import FakeCamera

    monkeypatch.setattr("minet_desktop.gui.live_mode.LIVE_DETECT_MS", 250)
    monkeypatch.setattr("minet_desktop.engine.live.MIN_RECENT_S", 0.5)

    class Pose:
        n = 0

        def __call__(self, rgb):
            Pose.n += 1
            kp = synthetic_keypoints(1)[0]
            kp[0] += 3.0 * np.sin(Pose.n / 4.0)
            return kp

        def close(self):
            pass

    w, h = VIDEO_SIZE
    frames = [np.full((h, w, 3), 40 * i, np.uint8) for i in range(4)]
    window = make_window(
        model_path=bundles["protos"],
        camera_factory=lambda index: FakeCamera(frames, fps=60.0, name="fake camera"),
        camera_list=lambda: [(0, "Fake camera 0")],
        pose_factory=Pose,
    )
    qtbot.waitUntil(
        lambda: window.generation.session is not None and window.generation.model_job is None, timeout=10_000
    )
    window.live.refresh_cameras()
    window.live.set_live(True)
    qtbot.waitUntil(lambda: window.panel.sounds_like_text().startswith("Sounds like (live)"), timeout=10_000)
    assert "last" in window.panel.sounds_like_label.toolTip()
    assert " % - " in window.panel.sounds_like_text()
    qtbot.waitUntil(lambda: window.live.pipeline.generating, timeout=10_000)
    label = window.panel.sounds_like_label
    assert label.text().count("<a href=") == 3  # the three instruments shown can each be clicked
    label.linkActivated.emit("fl")  # the musician picks flute while playing
    generator = window.live.pipeline._generator
    assert window.panel.options().instrument == "fl" and generator.instrument == "fl"
    window.panel.select_instrument(None)  # back to Auto: unsteered in live mode
    assert generator.instrument is None
    window.live.set_live(False)
    qtbot.waitUntil(lambda: window.live.detection is None, timeout=10_000)
    assert "live" not in window.panel.sounds_like_text() and window.errors == []
