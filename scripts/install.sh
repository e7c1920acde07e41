#!/usr/bin/env bash
# Installs MI Net Desktop into .venv/ at the repository root.
#   scripts/install.sh          the app (system libraries + pinned Python packages)
#   scripts/install.sh --dev    the app plus the test tools
# Safe to run again: it reuses .venv/ and installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    *) echo "usage: scripts/install.sh [--dev]" >&2; exit 2 ;;
  esac
done

# System libraries: Qt's xcb plugin, PortAudio for sounddevice, FluidSynth + a General MIDI soundfont for the
# synthetic corpus, Xvfb for screenshots, opencv-doc for the real test photos, ffmpeg for video checks, zstd for
# the packaged app's archive (packaging/build_linux.sh).
APT_PACKAGES=(xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 libxcb-cursor0 libegl1 libgl1
  libpulse0 libportaudio2 fluidsynth fluid-soundfont-gm opencv-doc ffmpeg zstd)
# With --dev, the two other General MIDI soundfonts the instrument judge is trained and tested on
# (`minet-train judge`, tests/training/test_judge.py).
[ "$dev" = 1 ] && APT_PACKAGES+=(musescore-general-soundfont-lossless csound-soundfont)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else SUDO="none"; fi
  if [ "$SUDO" = none ] || ! command -v apt-get >/dev/null; then
    echo "warning: please install these system packages yourself: ${missing[*]}" >&2
  else
    echo "installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY=$cand; break
    fi
  done
fi
[ -n "$PY" ] || { echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$PY" -m venv .venv
reqs=(-r requirements/lock.txt)
[ "$dev" = 1 ] && reqs+=(-r requirements/dev.txt)
# One pip call for all pins: they were resolved together (requirements/lock.txt).
.venv/bin/python -m pip install -q --disable-pip-version-check "${reqs[@]}"
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
echo "MI Net Desktop is installed in .venv/ ($(.venv/bin/python -c 'import minet_desktop; print(minet_desktop.__version__)'))"
