#!/usr/bin/env bash
# Builds MI Net Desktop for macOS: "MI Net Desktop.app", checked with its self-test and an offscreen start, and a
# .dmg to drag it into Applications from.
#
#   packaging/macos/build_macos.sh [--out DIR] [--work DIR] [--no-dmg]
#
#   --out DIR    where the results go (default: dist/ at the repository root):
#                  DIR/MI Net Desktop.app                      the app (Contents/MacOS/minet-desktop-cli for the
#                                                              command line)
#                  DIR/minet-desktop-VERSION-macos-ARCH.dmg    the disk image
#   --work DIR   PyInstaller's scratch folder (default: build/pyinstaller)
#   --no-dmg     build and check the app only
#
# Needs Python 3.11 (python.org or Homebrew) and the Xcode command line tools (codesign, hdiutil). Without
# PYTHON set, a virtual environment .venv-macos/ is created (or reused) and the app installed into it with the
# project's pins as constraints (requirements/lock.txt: the Linux CUDA packages are not needed by PyTorch on macOS
# and are skipped) plus PyInstaller from requirements/dev.txt.
#
# Signing: PyInstaller signs ad hoc, which runs on the machine that built it. To hand the .dmg to others, set
# MINET_CODESIGN_IDENTITY="Developer ID Application: ..." (used by the spec) and MINET_NOTARY_PROFILE to a
# `xcrun notarytool store-credentials` profile: the .dmg is then notarized and stapled.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)

out=$REPO/dist
work=$REPO/build/pyinstaller
dmg=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --no-dmg) dmg=0; shift ;;
    *) echo "usage: packaging/macos/build_macos.sh [--out DIR] [--work DIR] [--no-dmg]" >&2; exit 2 ;;
  esac
done
[ "$(uname -s)" = Darwin ] || { echo "error: this script runs on macOS (Linux: packaging/build_linux.sh)" >&2; exit 1; }
mkdir -p "$out" "$work"
out=$(cd "$out" && pwd)
work=$(cd "$work" && pwd)

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  venv=$REPO/.venv-macos
  if [ ! -x "$venv/bin/python" ]; then
    echo "== creating $venv"
    python3.11 -m venv "$venv"
  fi
  PY=$venv/bin/python
  echo "== installing the app and PyInstaller into $venv"
  "$PY" -m pip install -q --disable-pip-version-check -c requirements/lock.txt -r requirements/dev.txt -e .
fi
version=$("$PY" -c 'import minet_desktop; print(minet_desktop.__version__)')
arch=$(uname -m)
app="$out/MI Net Desktop.app"
start=$(date +%s)

echo "== PyInstaller: $app"
rm -rf "$app" "$out/minet-desktop"
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$out" --workpath "$work" packaging/minet_desktop.spec
echo "   built in $(( $(date +%s) - start )) s"

# The .app's own executable is windowed (no terminal output); its -cli twin in Contents/MacOS runs the checks.
cli="$app/Contents/MacOS/minet-desktop-cli"
echo "== self-test"
"$cli" --self-test -o "$work/self_test.wav"
echo "== offscreen start"
QT_QPA_PLATFORM=offscreen MINET_DESKTOP_EXIT_AFTER_INIT=1 \
  "$cli" "$app/Contents/Resources/resources/demo/violin.mp4" 2>&1 | tee "$work/start.log"
grep -q "init finished" "$work/start.log" || { echo "error: the app did not finish starting" >&2; exit 1; }

if [ "$dmg" = 1 ]; then
  image=$out/minet-desktop-$version-macos-$arch.dmg
  echo "== disk image: $image"
  stage=$work/dmg
  rm -rf "$stage" "$image"
  mkdir -p "$stage"
  # ditto keeps the bundle's symlinks, extended attributes and signatures intact.
  ditto "$app" "$stage/MI Net Desktop.app"
  ln -s /Applications "$stage/Applications"
  hdiutil create -volname "MI Net Desktop" -srcfolder "$stage" -fs HFS+ -format UDZO -ov "$image"
  rm -rf "$stage"
  if [ -n "${MINET_CODESIGN_IDENTITY:-}" ]; then
    codesign --sign "$MINET_CODESIGN_IDENTITY" --timestamp "$image"
  fi
  if [ -n "${MINET_NOTARY_PROFILE:-}" ]; then
    xcrun notarytool submit "$image" --keychain-profile "$MINET_NOTARY_PROFILE" --wait
    xcrun stapler staple "$image"
  fi
fi

echo "== done in $(( $(date +%s) - start )) s"
echo "   app  $app ($(du -sh "$app" | cut -f1))"
[ "$dmg" = 1 ] && echo "   dmg  $image ($(du -sh "$image" | cut -f1))"
exit 0
