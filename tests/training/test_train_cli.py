"""`minet-train prepare` and `cache-info` as a user runs them."""

from __future__ import annotations

from test_cache import notes_from, synthetic_keypoints, tone

from training.cli import main
from training.datasets.urmp import write_urmp_piece


def test_prepare_then_cache_info(tmp_path, capsys):
    data = tmp_path / "urmp"
    for i, (a, b) in enumerate((("vn", "vc"), ("fl", "cl"), ("vn", "fl"), ("vc", "cl")), start=1):
        write_urmp_piece(
            data,
            i,
            f"Piece{i}",
            [
                (a, tone(1.5, 440), 16_000, notes_from(69, 1.5), synthetic_keypoints(1.5, seed=2 * i)),
                (b, tone(1.5, 220), 16_000, notes_from(57, 1.5), synthetic_keypoints(1.5, seed=2 * i + 1)),
            ],
        )
    cache = tmp_path / "cache"
    assert main(["prepare", str(data), "--out", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "8 track(s) ready" in out
    assert main(["prepare", str(data), "--out", str(cache)]) == 0
    assert "8 already up to date" in capsys.readouterr().out

    assert main(["cache-info", str(cache)]) == 0
    info = capsys.readouterr().out
    assert "16000 Hz, n_fft 2048, hop 256, 1024 bins (62.5 frames/s)" in info
    test_row = next(line for line in info.splitlines() if line.startswith("test"))
    assert all(code in test_row.split() for code in ("vn", "vc", "fl", "cl")), info


def test_prepare_of_a_folder_that_is_not_a_dataset_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["prepare", str(tmp_path / "empty"), "--out", str(tmp_path / "cache")])
    err = capsys.readouterr()
    assert code in (1, 2)
    assert "empty" in (err.err + err.out) and "Traceback" not in err.err


def test_cache_info_on_a_missing_cache_names_it(tmp_path, capsys):
    assert main(["cache-info", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


def test_synth_corpus_is_read_by_prepare_unchanged(tmp_path, capsys):
    corpus = tmp_path / "synth"
    assert (
        main(["synth", "--out", str(corpus), "--minutes", "0.5", "--instruments", "vc,fl", "--workers", "1"])
        == 0
    )
    assert "minutes per instrument" in capsys.readouterr().out
    assert main(["synth-report", str(corpus)]) == 0
    report = capsys.readouterr().out
    assert "cello" in report and "flute" in report and (corpus / "contact_sheet.png").stat().st_size > 0
    assert main(["prepare", str(corpus), "--out", str(tmp_path / "cache")]) == 0
    assert "failed" not in capsys.readouterr().out

    # Demo performances cut from it: the app finds the keypoints next to the video, the MIDI parses.
    demo = tmp_path / "demo"
    args = ["demo", str(corpus), "--out", str(demo), "--instruments", "fl", "--seconds", "3"]
    assert main([*args, "--cache", str(tmp_path / "cache")]) == 0
    from minet_desktop.media.midi import read_midi_notes
    from minet_desktop.media.video import VideoReader
    from minet_desktop.pose.keypoint_file import find_sidecar

    kf = find_sidecar(demo / "flute.mp4")
    assert kf is not None and kf.n_frames == 90 and kf.frame_size == (640, 360)
    with VideoReader(demo / "flute.mp4") as video:
        assert video.size == (640, 360) and abs(video.frame_count - 90) <= 1
    assert all(n.onset < 3.0 for n in read_midi_notes(demo / "flute.mid"))
    # Of the corpus's flutes (test pieces first), the demo is the clearest view a first-time user can meet.
    import json

    from training.demos import _player, _unclear, _views

    views = _views(corpus)
    info = json.loads((corpus / "synth.json").read_text())
    flutes = [
        (p["folder"], pl["player"]) for p in info["pieces"] for pl in p["players"] if pl["instrument"] == "fl"
    ]
    assert flutes and all(k in views for k in flutes)
    assert (
        _unclear({"framing": "wide", "tracker": "mediapipe", "yaw_deg": -5.0})
        < _unclear({"framing": "wide", "tracker": "mediapipe", "yaw_deg": 30.0})
        < _unclear({"framing": "closeup", "tracker": "mediapipe", "yaw_deg": 0.0})
        < _unclear({"framing": "closeup", "tracker": "openpose", "yaw_deg": 0.0})
    )
    assert _player("urmp/01_Jig/2_fl") == 2


def test_synth_refuses_an_unknown_instrument(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "s"), "--minutes", "1", "--instruments", "vn,kazoo"]) == 2
    assert "kazoo" in capsys.readouterr().err
