"""Bad input never costs a user their files, their memory or a traceback (issue 19).

Every case feeds a small crafted file or option to ``minet-desktop`` or ``minet-train`` (in process, tiny
random-weight model, no training) and asserts what a user must see: exit status 2, one line on stderr that
names the file (or the option) and says what is wrong, no traceback, an answer within seconds, and every file
that was there before exactly as it was (no input overwritten, no output or ``.part`` file left behind).

How new loaders inherit the suite: add one row to :data:`FILE_LOADERS` (a command line that reads a file of
some kind) and it is fed every generic hostile file in :data:`HOSTILE_FILES` (empty, random bytes, a folder, a
link loop, a missing file, a FIFO that would block a reader forever, an object-dtype array); cases specific to
a format go into :data:`CASES` with the ``@case`` decorator.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from minet_desktop import cli as desktop_cli
from minet_desktop.core.atomic import atomic_path, atomic_write_bytes, file_sha256
from minet_desktop.core.config import CacheConfig, to_dict
from minet_desktop.core.errors import InputError
from minet_desktop.model.bundle import build_modules, save_bundle
from minet_desktop.model.config import BundleConfig
from minet_desktop.pose.formats import write_openpose_folder, write_solos
from minet_desktop.pose.keypoint_file import KeypointFile, sidecar_path
from training import cli as train_cli
from training.cache import FORMAT_VERSION, MANIFEST_NAME

#: Every command must answer (refuse, or finish) within this many seconds.
TIME_LIMIT_S = 60
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False

# --------------------------------------------------------------------------------------------------------
# Crafted inputs
# --------------------------------------------------------------------------------------------------------


def performer(n_frames: int = 45, fps: float = 30.0, seed: int = 0) -> np.ndarray:
    """``(T, 3, 47)`` keypoints of a swaying performer in pixels, every joint detected."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fps
    base = rng.uniform(200, 400, size=(2, 47))
    base[:, 1] = base[:, 0] + [-60, 0]
    base[:, 4] = base[:, 0] + [60, 0]
    xy = base[None] + 15 * np.sin(2 * np.pi * 1.3 * t[:, None, None] + rng.uniform(0, 6, (2, 47))[None])
    conf = np.full((n_frames, 1, 47), 0.9)
    return np.concatenate([xy, conf], axis=1).astype(np.float32)


def keypoint_file(
    path: Path, kp: np.ndarray | None = None, fps: float = 30.0, frame_size=(640, 480), detected: float = 1.0
) -> Path:
    KeypointFile(
        keypoints=performer() if kp is None else kp,
        fps=fps,
        frame_size=frame_size,
        source_sha256="0" * 64,
        source_name="performance.mp4",
        detected_fraction=detected,
    ).save(path)
    return path


def npz_with_lying_header(path: Path, rows: int) -> Path:
    """A keypoint file whose 'keypoints' header claims ``rows`` frames but holds a few bytes."""
    good = keypoint_file(path.with_name("good.npz"))
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "keypoints.npy":
                header = {"descr": "<f4", "fortran_order": False, "shape": (rows, 3, 47)}
                buf = io.BytesIO()
                np.lib.format.write_array_header_1_0(buf, header)
                data = buf.getvalue() + b"\0" * 64
            dst.writestr(name, data)
    good.unlink()
    return path


def tiny_bundle(path: Path) -> Path:
    torch.manual_seed(1)
    cfg = BundleConfig.tiny("minet")
    return save_bundle(path, cfg, *build_modules(cfg), model_card="tiny")


def rewrite_bundle(src: Path, dst: Path, tensors=None, config=None) -> Path:
    """``src`` with some tensors replaced and/or its config JSON edited (``config(dict) -> dict``)."""
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
        state = {k: f.get_tensor(k) for k in f.keys()}
    state.update(tensors or {})
    if config is not None:
        meta["config"] = json.dumps(config(json.loads(meta["config"])))
    save_file(state, str(dst), metadata=meta)
    return dst


def make_cache(root: Path, n_frames: int = 40) -> Path:
    """A two-track training cache (manifest + arrays, a violin and a cello) as ``minet-train prepare`` writes
    it; the cases spoil track ``t0``."""
    cfg = CacheConfig()
    shapes = {
        "spec": [n_frames, cfg.audio.n_bins],
        "skeleton": [n_frames, 3, 47],
        "notes": [n_frames],
        "mel": [20, cfg.mel.n_mels],
    }
    dtypes = {"spec": np.float16, "skeleton": np.float32, "notes": np.int16, "mel": np.float16}
    tracks = {}
    for i, instrument in enumerate(("vn", "vc")):
        tdir = root / "tracks" / f"t{i}"
        tdir.mkdir(parents=True)
        for name, shape in shapes.items():
            np.save(tdir / f"{name}.npy", np.zeros(shape, dtypes[name]))
        tracks[f"t{i}"] = {
            "id": f"t{i}",
            "dir": f"tracks/t{i}",
            "n_frames": n_frames,
            "n_mel_frames": 20,
            "duration": 0.64,
            "split": "train",
            "instrument": instrument,
            "piece": f"p{i}",
            "shapes": json.loads(json.dumps(shapes)),
            "has_notes": False,
        }
    manifest = {"format_version": FORMAT_VERSION, "config": to_dict(cfg), "tracks": tracks}
    (root / MANIFEST_NAME).write_text(json.dumps(manifest))
    return root


# --------------------------------------------------------------------------------------------------------
# The harness
# --------------------------------------------------------------------------------------------------------


@dataclass
class Env:
    tmp: Path
    model: Path  # a tiny MI Net bundle

    def kp(self, name: str = "perf.npz", **kw) -> Path:
        return keypoint_file(self.tmp / name, **kw)

    def vqvae(self, config: Path | str = "tiny", *extra: str, cache: Path | None = None) -> list[str]:
        """``minet-train vqvae`` into RUN in the case's folder (the cache need not exist: refused before)."""
        cache = cache or self.tmp / "cache"
        return [
            "vqvae",
            "--cache",
            str(cache),
            "--out",
            str(self.tmp / "run"),
            "--config",
            str(config),
            *extra,
        ]

    def gen(self, src: Path | str, *extra: str, out: str = "out.wav") -> list[str]:
        return [
            "generate",
            str(src),
            "-o",
            str(self.tmp / out),
            "--model",
            str(self.model),
            "--seed",
            "0",
            *extra,
        ]


#: A case returns (which CLI, argv, the text the one error line must contain).
Case = Callable[[Env], tuple[str, list[str], str]]
CASES: dict[str, Case] = {}


def case(fn: Case) -> Case:
    CASES[fn.__name__] = fn
    return fn


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a hash of its bytes (links and FIFOs by what they are, unread)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = Path(dirpath) / name
            st = p.lstat()
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    out[str(p)] = hashlib.sha256(fh.read()).hexdigest()
            else:
                out[str(p)] = f"mode {stat.S_IFMT(st.st_mode):o}"
    return out


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def hang(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s (a hang)")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_cli(which: str, argv: list[str]) -> int:
    main = desktop_cli.main if which == "desktop" else train_cli.main
    try:
        return main(argv)
    except SystemExit as exc:  # argparse
        return int(exc.code or 0)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture
def env(tmp_path: Path, model: Path) -> Env:
    torch.set_num_threads(1)
    return Env(tmp_path, model)


def assert_refused(env: Env, which: str, argv: list[str], named: str, capsys) -> str:
    """Run one command and check everything a user must see when it refuses; returns the error line."""
    before = snapshot(env.tmp)
    model_before = hashlib.sha256(env.model.read_bytes()).hexdigest()
    capsys.readouterr()
    t0 = time.monotonic()
    with time_limit(TIME_LIMIT_S), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc = run_cli(which, argv)  # any exception (a traceback for the user) fails the test here
    elapsed = time.monotonic() - t0
    # A Python warning is two more lines on the user's terminal (pytest would otherwise swallow it).
    assert not caught, [str(w.message) for w in caught]
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, f"exit status {rc}, stderr {err!r}"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"not one error line: {err!r}"
    assert named in lines[0], f"{named!r} is not named in {lines[0]!r}"
    assert "Traceback" not in out + err
    assert elapsed < TIME_LIMIT_S
    assert snapshot(env.tmp) == before, "files changed or were left behind"
    assert hashlib.sha256(env.model.read_bytes()).hexdigest() == model_before
    return lines[0]


# --------------------------------------------------------------------------------------------------------
# Generic hostile files, fed to every loader
# --------------------------------------------------------------------------------------------------------


def _empty(p: Path) -> None:
    p.write_bytes(b"")


def _random_bytes(p: Path) -> None:
    p.write_bytes(np.random.default_rng(7).bytes(4096))


def _folder(p: Path) -> None:
    p.mkdir()


def _link_loop(p: Path) -> None:
    p.symlink_to(p.name)


def _missing(p: Path) -> None:
    pass


def _fifo(p: Path) -> None:
    os.mkfifo(p)  # a reader that opens it blocks until a writer comes: forever


def _object_array(p: Path) -> None:
    arr = np.array([{"payload": 1}], dtype=object)
    if p.suffix == ".npz":
        np.savez(p, keypoints=arr)
    else:
        with open(p, "wb") as fh:
            np.save(fh, arr, allow_pickle=True)


HOSTILE_FILES: dict[str, Callable[[Path], None]] = {
    "empty": _empty,
    "random-bytes": _random_bytes,
    "a-folder": _folder,
    "link-loop": _link_loop,
    "missing": _missing,
    "fifo": _fifo,
    "object-array": _object_array,
}

#: Every command line that reads a file of some kind: (CLI, file suffix, argv for the file at PATH).
FILE_LOADERS: dict[str, tuple[str, str, Callable[[Env, Path], list[str]]]] = {
    "generate-keypoints": ("desktop", ".npz", lambda e, p: e.gen(p)),
    "generate-skeleton-npy": ("desktop", ".npy", lambda e, p: e.gen(p)),
    "info-keypoints": ("desktop", ".npz", lambda e, p: ["info", str(p)]),
    "info-skeleton-npy": ("desktop", ".npy", lambda e, p: ["info", str(p)]),
    "info-bundle": ("desktop", ".safetensors", lambda e, p: ["info", str(p)]),
    "generate-model": ("desktop", ".safetensors", lambda e, p: e.gen(e.kp(), "--model", str(p))),
    "generate-midi": ("desktop", ".mid", lambda e, p: e.gen(e.kp(), "--midi", str(p))),
    "generate-notes-txt": ("desktop", ".txt", lambda e, p: e.gen(e.kp(), "--midi", str(p))),
    "extract-image": ("desktop", ".png", lambda e, p: ["extract", str(p), "-o", str(e.tmp / "kp.npz")]),
    "roundtrip-audio": ("desktop", ".wav", lambda e, p: ["roundtrip", str(p), "-o", str(e.tmp / "rt.wav")]),
    "train-recipe": ("train", ".toml", lambda e, p: e.vqvae(p)),
    "bundle-prior-checkpoint": (
        "train",
        ".ckpt",
        lambda e, p: ["bundle", "--prior", str(p), "-o", str(e.tmp / "model.safetensors")],
    ),
}

#: (loader, hostile file) pairs whose file the loader never opens (it is refused before), or that the loader
#: legitimately reads in another way; none at present.
NOT_APPLICABLE: set[tuple[str, str]] = set()


@pytest.mark.parametrize("loader", sorted(FILE_LOADERS))
@pytest.mark.parametrize("hostile", sorted(HOSTILE_FILES))
def test_every_loader_refuses_every_hostile_file(env: Env, capsys, loader: str, hostile: str) -> None:
    which, suffix, argv_for = FILE_LOADERS[loader]
    path = env.tmp / f"input{suffix}"
    if hostile == "object-array" and suffix not in (".npz", ".npy"):
        _random_bytes(path)  # an object array is only a thing for numpy files; other loaders get junk
    else:
        HOSTILE_FILES[hostile](path)
    argv = argv_for(env, path)
    assert_refused(env, which, argv, str(path), capsys)


# --------------------------------------------------------------------------------------------------------
# Cases of the issue, format by format
# --------------------------------------------------------------------------------------------------------

# --- output paths: never write onto an input ---------------------------------------------------------


def _video(e: Env, name: str = "V.mp4") -> Path:
    """A real 1.5-s video with its up-to-date keypoint sidecar, as after ``minet-desktop extract``: every
    command would go ahead with it (no MediaPipe needed), so only the output check stands between the
    command and the user's video."""
    import cv2

    video = e.tmp / name
    tmp = e.tmp / "writing.mp4"
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
    for i in range(45):
        writer.write(np.full((48, 64, 3), i * 5, np.uint8))
    writer.release()
    tmp.rename(video)
    KeypointFile(performer(45), 30.0, (64, 48), file_sha256(video), video.name, 1.0).save(sidecar_path(video))
    return video


@case
def mux_onto_the_input_video(e: Env):
    video = _video(e)
    return "desktop", e.gen(video, "--mux", str(video)), str(video)


@case
def wav_onto_the_keypoint_file(e: Env):
    kp = e.kp("perf.wav.npz")
    link = e.tmp / "same.wav"
    link.symlink_to(kp.name)  # the same file through a link
    return "desktop", ["generate", str(kp), "-o", str(link), "--model", str(e.model)], str(link)


@case
def extract_onto_the_input_video(e: Env):
    video = _video(e)
    return "desktop", ["extract", str(video), "-o", str(video)], str(video)


@case
def extract_onto_a_video_named_npz(e: Env):
    video = _video(e, "V.npz")
    return "desktop", ["extract", str(video), "-o", str(video)], str(video)


@case
def roundtrip_onto_its_input(e: Env):
    wav = e.tmp / "a.wav"
    wav.write_bytes(b"RIFF....WAVE")
    return "desktop", ["roundtrip", str(wav), "-o", str(wav)], str(wav)


@case
def output_is_an_existing_folder(e: Env):
    (e.tmp / "out.wav").mkdir()
    return "desktop", e.gen(e.kp()), str(e.tmp / "out.wav")


@case
def output_under_a_file(e: Env):
    (e.tmp / "afile").write_text("not a folder")
    return "desktop", e.gen(e.kp(), out="afile/x.wav"), "afile"


@case
def take_output_onto_the_model(e: Env):
    target = e.tmp / "m_take1.wav"
    model_copy = e.tmp / "model.safetensors"
    model_copy.write_bytes(e.model.read_bytes())
    target.symlink_to(model_copy.name)
    return "desktop", e.gen(e.kp(), "--takes", "2", "--model", str(model_copy), out="m.wav"), str(target)


# --- options -----------------------------------------------------------------------------------------


def _option_case(name: str, *opts: str, named: str) -> None:
    def make(e: Env):
        return "desktop", e.gen(e.kp(), *opts), named

    make.__name__ = name
    CASES[name] = make


_option_case("temperature_nan", "--temperature", "nan", named="--temperature")
_option_case("temperature_negative", "--temperature", "-1", named="--temperature")
_option_case("top_k_zero", "--top-k", "0", named="--top-k")
_option_case("top_p_two", "--top-p", "2", named="--top-p")
_option_case("takes_100000", "--takes", "100000", named="--takes")
_option_case("griffin_lim_1e9_spelled", "--griffin-lim-iters", "1e9", named="--griffin-lim-iters")
_option_case("griffin_lim_1e9", "--griffin-lim-iters", "1000000000", named="--griffin-lim-iters")
_option_case("fps_nan", "--fps", "nan", named="--fps")
_option_case("takes_not_a_number", "--takes", "many", named="--takes")


@case
def roundtrip_iters_1e9(e: Env):
    wav = e.tmp / "a.wav"
    wav.write_bytes(b"RIFF....WAVE")
    return "desktop", ["roundtrip", str(wav), "-o", str(e.tmp / "b.wav"), "--iters", "1000000000"], "--iters"


@case
def train_batch_size_zero(e: Env):
    return "train", e.vqvae("tiny", "--batch-size", "0"), "--batch-size 0"


# --- keypoint files ----------------------------------------------------------------------------------


@case
def fps_one_thousandth(e: Env):  # 360 frames = 100 hours: was 23 GB and the OOM killer
    return "desktop", e.gen(e.kp(kp=performer(360), fps=0.001)), "perf.npz"


@case
def fps_1e9(e: Env):
    return "desktop", e.gen(e.kp(fps=1e9)), "perf.npz"


@case
def one_frame_performance(e: Env):
    return "desktop", e.gen(e.kp(kp=performer(1))), "performance.mp4"


@case
def header_claims_1e12_rows(e: Env):
    return "desktop", e.gen(npz_with_lying_header(e.tmp / "big.npz", 10**12)), "big.npz"


@case
def header_claims_1e12_rows_info(e: Env):
    return "desktop", ["info", str(npz_with_lying_header(e.tmp / "big.npz", 10**12))], "big.npz"


@case
def truncated_keypoint_file(e: Env):
    p = e.kp()
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    return "desktop", e.gen(p), "perf.npz"


@case
def coordinates_3e38(e: Env):
    kp = performer()
    kp[5, 0, 3] = 3e38
    return "desktop", e.gen(e.kp(kp=kp)), "perf.npz"


@case
def infinite_confidence(e: Env):
    kp = performer()
    kp[:, 2, 0] = np.inf
    return "desktop", e.gen(e.kp(kp=kp)), "perf.npz"


@case
def negative_frame_size(e: Env):
    return "desktop", e.gen(e.kp(frame_size=(-640, 480))), "perf.npz"


@case
def all_nan_keypoints_generate(e: Env):
    return "desktop", e.gen(e.kp(kp=np.full((45, 3, 47), np.nan, np.float32))), "performance.mp4"


@case
def bare_npy_fps_one_thousandth(e: Env):
    np.save(e.tmp / "s.npy", performer(360))
    return "desktop", e.gen(e.tmp / "s.npy", "--fps", "0.001"), "--fps"


@case
def bare_npy_wrong_shape(e: Env):
    np.save(e.tmp / "s.npy", np.zeros((10, 47, 3), np.float32))
    return "desktop", e.gen(e.tmp / "s.npy"), "s.npy"


@case
def bare_npy_truncated(e: Env):
    np.save(e.tmp / "s.npy", performer())
    data = (e.tmp / "s.npy").read_bytes()
    (e.tmp / "s.npy").write_bytes(data[: len(data) // 2])
    return "desktop", e.gen(e.tmp / "s.npy"), "s.npy"


# --- OpenPose folders --------------------------------------------------------------------------------


def _openpose(e: Env, n: int = 30) -> Path:
    folder = e.tmp / "openpose"
    write_openpose_folder(folder, KeypointFile(performer(n), 30.0, (0, 0), "0" * 64, "x", 1.0))
    return folder


@case
def openpose_symlink_loop(e: Env):
    folder = _openpose(e)
    (folder / "video_000000000099_keypoints.json").symlink_to("video_000000000099_keypoints.json")
    return "desktop", e.gen(folder), "video_000000000099_keypoints.json"


@case
def openpose_folder_is_a_link_loop(e: Env):
    (e.tmp / "loop").symlink_to("loop")
    return "desktop", e.gen(e.tmp / "loop"), "loop"


@case
def openpose_nested_200k_deep(e: Env):
    folder = _openpose(e)
    (folder / "video_000000000031_keypoints.json").write_text(
        '{"people": ' + "[" * 200_000 + "]" * 200_000 + "}"
    )
    return "desktop", e.gen(folder), "video_000000000031_keypoints.json"


@case
def openpose_folder_named_keypoints_json(e: Env):
    folder = _openpose(e)
    (folder / "video_000000000031_keypoints.json").mkdir()
    return "desktop", e.gen(folder), "video_000000000031_keypoints.json"


@case
def openpose_frame_gap_1e12(e: Env):
    folder = _openpose(e, 2)
    (folder / "video_000000000001_keypoints.json").rename(folder / f"video_{10**12:012d}_keypoints.json")
    return "desktop", e.gen(folder), "openpose"


def _openpose_value(name: str, index: int, value: float) -> None:
    """A case: frame 2's ``pose_keypoints_2d[index]`` set to ``value`` (json writes inf as Infinity, which
    Python's reader accepts; 1e39 overflows float32)."""

    def make(e: Env):
        folder = _openpose(e, 5)
        f = folder / "video_000000000002_keypoints.json"
        doc = json.loads(f.read_text())
        doc["people"][0]["pose_keypoints_2d"][index] = value
        f.write_text(json.dumps(doc))
        return "desktop", e.gen(folder), f.name

    CASES[name] = make


_openpose_value("openpose_coordinates_1e39", 3, 1e39)
_openpose_value("openpose_infinite_confidence", 5, float("inf"))
_openpose_value("openpose_confidence_7", 5, 7.0)


@case
def openpose_fifo(e: Env):
    folder = _openpose(e)
    os.mkfifo(folder / "video_000000000031_keypoints.json")
    return "desktop", e.gen(folder), "video_000000000031_keypoints.json"


@case
def openpose_fps_one_thousandth(e: Env):
    return "desktop", e.gen(_openpose(e), "--fps", "0.001"), "--fps"


# --- Solos skeletons ---------------------------------------------------------------------------------


@case
def solos_random_bytes(e: Env):  # was 65 s of audio made from noise
    root = e.tmp / "solos"
    write_solos(root, {"abc": ("Violin", performer(100))})
    (root / "skeleton.npy").write_bytes(np.random.default_rng(3).bytes(100 * 3 * 47 * 4))
    return "desktop", e.gen(root, "--solos-id", "abc"), "skeleton.npy"


@case
def solos_dict_nested_deep(e: Env):
    root = e.tmp / "solos"
    write_solos(root, {"abc": ("Violin", performer(100))})
    (root / "skeleton_dict.json").write_text("[" * 100_000 + "]" * 100_000)
    return "desktop", e.gen(root, "--solos-id", "abc"), "skeleton_dict.json"


@case
def solos_rows_past_the_end(e: Env):
    root = e.tmp / "solos"
    write_solos(root, {"abc": ("Violin", performer(100))})
    (root / "skeleton_dict.json").write_text(json.dumps({"abc": [0, 10**12]}))
    return "desktop", e.gen(root, "--solos-id", "abc"), "skeleton_dict.json"


# --- notes and MIDI ----------------------------------------------------------------------------------


@case
def notes_1e308(e: Env):
    (e.tmp / "n.txt").write_text("0.0\t440.0\t0.5\n1e308\t440.0\t1e308\n")
    return "desktop", e.gen(e.kp(), "--midi", str(e.tmp / "n.txt")), "n.txt"


@case
def notes_nan(e: Env):
    (e.tmp / "n.txt").write_text("nan\t440.0\t0.5\n")
    return "desktop", e.gen(e.kp(), "--midi", str(e.tmp / "n.txt")), "n.txt"


# --- model bundles -----------------------------------------------------------------------------------


@case
def bundle_nan_weights(e: Env):
    with safe_open(str(e.model), framework="pt") as f:
        name = next(k for k in f.keys() if k.startswith("prior.") and k.endswith("weight"))
        t = f.get_tensor(name).clone()
    t.view(-1)[0] = float("nan")
    bad = rewrite_bundle(e.model, e.tmp / "nan.safetensors", tensors={name: t})
    return "desktop", e.gen(e.kp(), "--model", str(bad)), "nan.safetensors"


def _wide_prior(e: Env) -> Path:
    """The tiny bundle whose config claims a 65,536-wide prior (its tensors stay small)."""

    def widen(cfg: dict) -> dict:
        cfg["prior"]["n_embd"] = 65536
        return cfg

    return rewrite_bundle(e.model, e.tmp / "wide.safetensors", config=widen)


@case
def bundle_prior_65536_wide(e: Env):
    return "desktop", e.gen(e.kp(), "--model", str(_wide_prior(e))), "wide.safetensors"


@case
def bundle_prior_65536_wide_info(e: Env):
    return "desktop", ["info", str(_wide_prior(e))], "wide.safetensors"


@case
def bundle_truncated(e: Env):
    bad = e.tmp / "cut.safetensors"
    bad.write_bytes(e.model.read_bytes()[:5000])
    return "desktop", e.gen(e.kp(), "--model", str(bad)), "cut.safetensors"


@case
def bundle_config_nan(e: Env):
    def nan(cfg: dict) -> dict:
        cfg["prior"]["dropout"] = float("nan")
        return cfg

    bad = rewrite_bundle(e.model, e.tmp / "nan_cfg.safetensors", config=nan)
    return "desktop", e.gen(e.kp(), "--model", str(bad)), "nan_cfg.safetensors"


# --- images ------------------------------------------------------------------------------------------


@case
def png_header_100000_square(e: Env):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )
    (e.tmp / "bomb.png").write_bytes(png)
    return "desktop", ["extract", str(e.tmp / "bomb.png"), "-o", str(e.tmp / "bomb.npz")], "bomb.png"


# --- recipes -----------------------------------------------------------------------------------------


def _recipe_case(name: str, text: str, cache: bool = False) -> None:
    """A recipe case; ``cache``: with a usable cache, for recipes that are read and only refused later."""

    def make(e: Env):
        (e.tmp / "r.toml").write_text(text)
        return (
            "train",
            e.vqvae(e.tmp / "r.toml", cache=make_cache(e.tmp / "cache") if cache else None),
            "r.toml",
        )

    make.__name__ = name
    CASES[name] = make


_recipe_case("recipe_crop_seconds_nan", "[train]\ncrop_seconds = nan\n")
_recipe_case("recipe_crop_seconds_inf", "[train]\ncrop_seconds = inf\n")
_recipe_case("recipe_nested_100k_deep", "a = " + "[" * 100_000 + "]" * 100_000 + "\n")
_recipe_case("recipe_comments_only", "# nothing but a comment\n\n# and another\n")
_recipe_case("recipe_unknown_key", "[train]\ncrop_secnds = 4.0\n")
_recipe_case("recipe_batch_size_zero", "[train]\nbatch_size = 0\n")
_recipe_case("recipe_vqvae_65536_channels", "[model.vqvae]\nchannels = 65536\n", cache=True)


# --- caches ------------------------------------------------------------------------------------------


def _cache_case(name: str, corrupt: Callable[[Path], Path], command: str = "cache-info") -> None:
    def make(e: Env):
        root = make_cache(e.tmp / "cache")
        named = corrupt(root / "tracks" / "t0")
        if command == "cache-info":
            return "train", ["cache-info", str(root)], str(named)
        return "train", e.vqvae("tiny", cache=root), str(named)

    make.__name__ = name
    CASES[name] = make


def _truncate_spec(t: Path) -> Path:
    p = t / "spec.npy"
    p.write_bytes(p.read_bytes()[:200])
    return p


def _empty_spec(t: Path) -> Path:
    (t / "spec.npy").write_bytes(b"")
    return t / "spec.npy"


def _object_spec(t: Path) -> Path:
    np.save(t / "spec.npy", np.array([None] * 4, dtype=object), allow_pickle=True)
    return t / "spec.npy"


def _nan_spec(t: Path) -> Path:
    a = np.load(t / "spec.npy")
    a[3, 5] = np.nan
    np.save(t / "spec.npy", a)
    return t / "spec.npy"


def _zero_frames(t: Path) -> Path:
    manifest_path = t.parent.parent / MANIFEST_NAME
    m = json.loads(manifest_path.read_text())
    entry = m["tracks"]["t0"]
    entry["n_frames"] = 0
    for name, shape in entry["shapes"].items():
        if name != "mel":
            shape[0] = 0
            a = np.load(t / f"{name}.npy")
            np.save(t / f"{name}.npy", a[:0])
    manifest_path.write_text(json.dumps(m))
    return t


for _name, _corrupt in {
    "truncated": _truncate_spec,
    "empty": _empty_spec,
    "object_dtype": _object_spec,
    "nan": _nan_spec,
    "zero_frames": _zero_frames,
}.items():
    _cache_case(f"cache_info_{_name}_spec", _corrupt)
    if (
        _name != "nan"
    ):  # NaN in training stops at the first non-finite loss, naming the tracks (test_train_run)
        _cache_case(f"train_on_{_name}_spec", _corrupt, command="vqvae")


# --- training runs -----------------------------------------------------------------------------------


@case
def resume_without_a_checkpoint(e: Env):
    root = make_cache(e.tmp / "cache")
    (e.tmp / "run" / "checkpoints").mkdir(parents=True)
    argv = e.vqvae("tiny", "--resume", cache=root)
    return "train", argv, "checkpoints"


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_in_one_line(env: Env, capsys, name: str) -> None:
    which, argv, named = CASES[name](env)
    assert_refused(env, which, argv, named, capsys)


@pytest.mark.skipif(ROOT, reason="root may write into read-only folders; see test_unwritable_output_folder")
def test_read_only_output_folder(env: Env, capsys) -> None:
    ro = env.tmp / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert_refused(env, "desktop", env.gen(env.kp(), out="ro/x.wav"), "ro", capsys)
    finally:
        ro.chmod(0o700)


def test_unwritable_output_folder(tmp_path: Path, monkeypatch) -> None:
    """Whatever the reason the folder refuses the temporary file (read-only, full, gone), the message names the
    output, not a Python exception."""
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(InputError, match=r"out\.wav: cannot be written \(Permission denied\)"):
        atomic_write_bytes(tmp_path / "out.wav", b"x")


# --------------------------------------------------------------------------------------------------------
# Leftovers of interrupted runs
# --------------------------------------------------------------------------------------------------------


def test_a_killed_runs_part_file_is_removed_by_the_next_write(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "x.wav"
    stale = tmp_path / f".x.wav.{dead.pid}-abcd1234.part.wav"  # what kill -9 left behind
    stale.write_bytes(b"half a wav")
    alive = tmp_path / f".x.wav.{os.getppid()}-efgh5678.part.wav"  # a parallel run, still writing
    alive.write_bytes(b"being written")
    old_style = tmp_path / ".x.wav.q1w2e3r4.part.wav"  # an earlier version's, a day old
    old_style.write_bytes(b"old")
    os.utime(old_style, (time.time() - 86400, time.time() - 86400))
    atomic_write_bytes(target, b"RIFF")
    assert target.read_bytes() == b"RIFF"
    assert not stale.exists() and not old_style.exists()
    assert alive.exists()


def test_an_interrupted_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "x.wav"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.wav"]


# --------------------------------------------------------------------------------------------------------
# What must be accepted: bare skeletons, partial tracking, portrait videos
# --------------------------------------------------------------------------------------------------------


def _generate_ok(env: Env, argv: list[str], capsys) -> str:
    capsys.readouterr()
    with time_limit(TIME_LIMIT_S):
        rc = run_cli("desktop", argv)
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert (env.tmp / "out.wav").is_file()
    return err


def test_a_bare_skeleton_npy_is_a_performance(env: Env, capsys) -> None:
    np.save(env.tmp / "player.npy", performer(60))
    err = _generate_ok(env, env.gen(env.tmp / "player.npy", "--fps", "25"), capsys)
    assert "tracked: body 100%, right hand 100%, left hand 100% of the frames" in err
    assert run_cli("desktop", ["info", str(env.tmp / "player.npy")]) == 0
    assert "frames          60 at 30 fps" in capsys.readouterr().out  # info assumes 30 fps and says so


def test_missing_hands_and_a_performer_who_leaves_the_frame(env: Env, capsys) -> None:
    kp = performer(90)
    kp[:, 2, 7:47] = 0.0  # the tracker never found the hands
    kp[30:60, 2, :] = 0.0  # the performer walks out of the frame for a second
    root = env.tmp / "solos"
    write_solos(root, {"abc": ("Saxophone", kp)})
    err = _generate_ok(env, env.gen(root, "--solos-id", "abc"), capsys)
    assert "tracked: body 67%, right hand 0%, left hand 0% of the frames" in err
    assert "the right hand was tracked in only 0% of the frames" in err


def test_openpose_with_empty_frames_and_a_portrait_video(env: Env, capsys) -> None:
    folder = _openpose(env, 60)
    for n in range(20, 40):  # nobody in these frames
        (folder / f"video_{n:012d}_keypoints.json").write_text('{"version": 1.3, "people": []}')
    err = _generate_ok(env, env.gen(folder), capsys)
    assert "tracked: body 67%" in err
    portrait = env.kp("portrait.npz", frame_size=(720, 1280))
    _generate_ok(env, env.gen(portrait), capsys)


def test_info_reports_nan_and_what_the_data_really_holds(env: Env, capsys) -> None:
    p = env.kp("nan.npz", kp=np.full((45, 3, 47), np.nan, np.float32), detected=0.983)
    capsys.readouterr()
    assert run_cli("desktop", ["info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "person detected 0.0% of frames" in out
    assert "6345 of 6345 values are NaN (100.0%)" in out
    assert "claims a person in 98.3% of frames" in out


def test_mux_into_a_new_file_leaves_the_video_as_it_was(env: Env, capsys) -> None:
    video = _video(env)
    before = video.read_bytes()
    _generate_ok(env, env.gen(video, "--mux", str(env.tmp / "with_sound.mp4")), capsys)
    assert video.read_bytes() == before and (env.tmp / "with_sound.mp4").stat().st_size > 0


def test_an_unreadable_openpose_file_is_named(env: Env, capsys, monkeypatch) -> None:
    """No permission to read one frame's file (as root, chmod cannot take it away: the refusal is simulated)."""
    folder = _openpose(env)
    locked = folder / "video_000000000007_keypoints.json"
    if ROOT:
        real = Path.read_bytes

        def read_bytes(self: Path) -> bytes:
            if self.name == locked.name:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self)

        monkeypatch.setattr(Path, "read_bytes", read_bytes)
    else:
        locked.chmod(0)
    line = assert_refused(env, "desktop", env.gen(folder), locked.name, capsys)
    assert "Permission denied" in line


@pytest.mark.parametrize("name", ["openpose_coordinates_1e39", "mux_onto_the_input_video"])
def test_the_real_program_prints_the_same_one_line(env: Env, name: str) -> None:
    """The harness runs the CLIs in process; a real process (its own warning filters, stderr, exit) agrees.
    (minet-desktop only: importing the training stack alone can take most of a minute on a loaded machine.)"""
    which, argv, named = CASES[name](env)
    module = "minet_desktop.cli" if which == "desktop" else "training.cli"
    before = snapshot(env.tmp)
    proc = subprocess.run(
        [sys.executable, "-m", module, *argv], capture_output=True, text=True, timeout=TIME_LIMIT_S
    )
    lines = proc.stderr.strip().splitlines()
    assert (
        proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0]
    ), proc.stderr
    assert snapshot(env.tmp) == before


_WITHOUT_COMPILER_STACK = """
import builtins, sys
real_import = builtins.__import__
def guarded(name, *args, **kwargs):
    if name.split('.')[0] == 'sympy' or name.startswith('torch._dynamo'):
        raise ModuleNotFoundError(f"No module named {name!r}")
    return real_import(name, *args, **kwargs)
builtins.__import__ = guarded
from dataclasses import replace
from minet_desktop.core.errors import InputError
from minet_desktop.model.bundle import build_checked, build_modules
from minet_desktop.model.config import BundleConfig
cfg = BundleConfig.tiny("minet")
build_checked("tiny.safetensors", lambda: build_modules(cfg))
wide = replace(cfg, prior=replace(cfg.prior, n_embd=65536))
try:
    build_checked("wide.safetensors", lambda: build_modules(wide))
except InputError as exc:
    print(exc)
"""


def test_model_sizes_are_checked_in_the_packaged_app() -> None:
    """The packaged app leaves out sympy and torch's compiler, which PyTorch's meta version of some
    operations imports: the size check must work there too (it failed the frozen app's self-test once)."""
    proc = subprocess.run(
        [sys.executable, "-c", _WITHOUT_COMPILER_STACK], capture_output=True, text=True, timeout=TIME_LIMIT_S
    )
    assert proc.returncode == 0, proc.stderr
    assert "wide.safetensors: the model its config describes would need" in proc.stdout
