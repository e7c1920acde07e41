"""The packaged Linux app, built once for this module with packaging/build_linux.sh and run as a user would.

Builds the one-folder PyInstaller bundle, its .tar.zst and .deb into a temporary folder (5 to 6 minutes and
10 GB on 2 CPU cores; removed afterwards), then runs the frozen executable from an unrelated folder: its
self-test (the default model generates a second of a demo), the app started offscreen up to "init finished"
with a demo open (friture's smoke test: tlecomte/friture scripts/smoke_test.py), and MediaPipe extraction
of a real photo. Sizes and times are printed (pytest -s) and written up in packaging/README.md.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "packaging" / "build_linux.sh"
NAME = "minet-desktop"
BUILD_TIMEOUT_S = 1800
RUN_TIMEOUT_S = 300
#: Installed for training and tests only; the spec leaves them out (hundreds of MB each).
LEFT_OUT = ("training", "triton", "jax", "jaxlib", "tensorboard", "lightning", "sklearn", "sympy", "PyQt5")


@dataclass
class Build:
    app: Path  # the one-folder app: app / NAME is the executable
    archive: Path
    deb: Path
    seconds: float
    log: str

    @property
    def exe(self) -> Path:
        return self.app / NAME

    @property
    def internal(self) -> Path:
        return self.app / "_internal"


def _size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


@pytest.fixture(scope="module")
def build() -> Iterator[Build]:
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip(
            "PyInstaller is not installed (scripts/install.sh --dev installs it from requirements/dev.txt)"
        )
    # Not tmp_path_factory: pytest keeps the last three runs' folders, 10 GB each here.
    root = Path(tempfile.mkdtemp(prefix="minet-desktop-bundle-"))
    try:
        env = {
            **os.environ,
            "PYTHON": sys.executable,
            "PYINSTALLER_CONFIG_DIR": str(root / "pyinstaller-cache"),
        }
        cmd = [str(BUILD_SCRIPT), "--out", str(root / "out"), "--work", str(root / "work")]
        # The fastest archive level, and no checks in the script: the tests below run them themselves.
        cmd += ["--level", "1", "--deb", "--no-checks"]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        seconds = time.monotonic() - t0
        log = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"packaging/build_linux.sh failed:\n{log[-6000:]}"
        out = root / "out"
        (archive,) = out.glob(f"{NAME}-*-linux-*.tar.zst")
        (deb,) = out.glob(f"{NAME}_*.deb")
        result = Build(app=out / NAME, archive=archive, deb=deb, seconds=seconds, log=log)
        steps = [line for line in proc.stdout.splitlines() if line.startswith(("==", "   "))]
        print(
            f"\nbuilt in {seconds:.0f} s: app {_size_mb(result.app):.0f} MB, "
            f"{archive.name} {_size_mb(archive):.0f} MB, {deb.name} {_size_mb(deb):.0f} MB\n"
            + "\n".join(steps)
        )
        yield result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(build: Build, args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The frozen app, from a folder outside the repository, with settings kept out of the user's home."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    full_env.update(XDG_CONFIG_HOME=str(cwd / "config"), **env)
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(build.exe), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    print(f"\n$ {NAME} {' '.join(args)}  ({time.monotonic() - t0:.1f} s)\n{proc.stdout}{proc.stderr[-3000:]}")
    return proc


def test_self_test_generates_audio_with_the_bundled_model(build, tmp_path):
    wav = tmp_path / "self_test.wav"
    proc = _run(build, ["--self-test", "-o", str(wav)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "self-test passed" in out and "frozen app" in out
    # The model, the demo and PortAudio come from inside the bundle, not from the source tree or the system.
    assert f"{build.internal / 'resources' / 'models' / 'minet.safetensors'}" in out
    assert f"{build.internal / 'libportaudio.so.2'}" in out
    import soundfile as sf

    wave, sr = sf.read(wav, dtype="float32")
    assert sr == 16_000 and wave.shape == (sr,)
    assert np.isfinite(wave).all() and np.sqrt(np.mean(wave**2)) > 1e-3


def test_app_starts_offscreen_with_a_demo_open(build, tmp_path):
    demo = build.internal / "resources" / "demo" / "violin.mp4"
    proc = _run(
        build, [str(demo)], cwd=tmp_path, QT_QPA_PLATFORM="offscreen", MINET_DESKTOP_EXIT_AFTER_INIT="1"
    )
    log = proc.stdout + proc.stderr
    # Exit status 0 also says the demo opened: with MINET_DESKTOP_EXIT_AFTER_INIT a failure to open is status 1.
    assert proc.returncode == 0, log
    assert "init finished" in log
    assert "Traceback" not in log and "qt.qpa.plugin" not in log


def test_extracts_keypoints_with_the_bundled_mediapipe(build, tmp_path, opencv_data):
    out = tmp_path / "messi.npz"
    proc = _run(build, ["extract", str(opencv_data / "messi5.jpg"), "-o", str(out)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "person detected in 100% of frames" in proc.stdout
    from minet_desktop.pose.keypoint_file import KeypointFile

    kf = KeypointFile.load(out)
    assert kf.keypoints.shape == (1, 3, 47)
    # Neck, shoulders, elbows, wrists (joints 0-6) of a man standing in the photo are all found.
    assert (kf.keypoints[0, 2, :7] > 0).all()


def test_training_stack_and_other_bindings_are_left_out(build):
    present = [name for name in LEFT_OUT if (build.internal / name).exists()]
    assert not present, f"the bundle carries {present}, which the app never imports (see the spec's excludes)"
    assert (build.internal / "torch").is_dir() and (build.internal / "PySide6").is_dir()


def _files(app: Path) -> dict[str, int]:
    """Relative path -> size of every file and link in the app folder (links count 0)."""
    return {
        f"{NAME}/{p.relative_to(app).as_posix()}": (0 if p.is_symlink() else p.stat().st_size)
        for p in app.rglob("*")
        if p.is_symlink() or p.is_file()
    }


def test_archive_holds_the_whole_app(build):
    listing = subprocess.run(
        f"zstd -dc '{build.archive}' | tar -tvf -",
        shell=True,
        capture_output=True,
        text=True,
        check=True,
        timeout=RUN_TIMEOUT_S,
    ).stdout
    archived = {}
    for line in listing.splitlines():
        fields = line.split(maxsplit=5)
        kind, size, name = fields[0][0], int(fields[2]), fields[5]
        if kind == "-":
            archived[name] = size
        elif kind == "l":
            archived[name.split(" -> ")[0]] = 0
    assert archived == _files(build.app)


def test_deb_installs_the_app_under_opt(build):
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(build.deb), "Package", "Version", "Architecture"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    from minet_desktop import __version__

    assert f"Package: {NAME}" in fields and f"Version: {__version__}" in fields
    contents = subprocess.run(
        ["dpkg-deb", "-c", str(build.deb)], capture_output=True, text=True, check=True, timeout=RUN_TIMEOUT_S
    ).stdout
    assert f"./usr/bin/{NAME} -> /opt/{NAME}/{NAME}" in contents
    assert f"./usr/share/applications/{NAME}.desktop" in contents
    under_opt = [line for line in contents.splitlines() if f" ./opt/{NAME}/" in line and line[0] in "-l"]
    assert len(under_opt) == len(_files(build.app))
