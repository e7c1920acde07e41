#!/usr/bin/env bash
# Builds the Linux app: a one-folder PyInstaller bundle, checked with its self-test and an offscreen start, and a
# .tar.zst of it (optionally a .deb too).
#
#   packaging/build_linux.sh [--out DIR] [--work DIR] [--level N] [--deb] [--no-archive] [--no-checks]
#
#   --out DIR        where the results go (default: dist/ at the repository root, ignored by git):
#                      DIR/minet-desktop/                              the app (run DIR/minet-desktop/minet-desktop)
#                      DIR/minet-desktop-VERSION-linux-ARCH.tar.zst    the folder, archived
#                      DIR/minet-desktop_VERSION_ARCH.deb             with --deb: installs into /opt/minet-desktop
#   --work DIR       PyInstaller's scratch folder (default: build/pyinstaller at the repository root)
#   --level N        zstd level of the archive and the .deb (default 3; 1 is ~40 % faster, ~6 % larger)
#   --deb            also build a Debian package (dpkg-deb)
#   --no-archive     only the folder
#   --no-checks      skip `minet-desktop --self-test` and the offscreen start on the result
#
# The .deb names its builder as maintainer: set DEBFULLNAME and DEBEMAIL (the Debian convention) for releases.
#
# Needs the development install (scripts/install.sh --dev: PyInstaller is pinned in requirements/dev.txt); set
# PYTHON to use another interpreter. Prints the time of each step and the sizes at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

out=$REPO/dist
work=$REPO/build/pyinstaller
level=3
deb=0
archive=1
checks=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --level) level=$2; shift 2 ;;
    --deb) deb=1; shift ;;
    --no-archive) archive=0; shift ;;
    --no-checks) checks=0; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: packaging/build_linux.sh [--out DIR] [--work DIR] [--level N] [--deb] [--no-archive] [--no-checks]" >&2
       exit 2 ;;
  esac
done
mkdir -p "$out" "$work"
out=$(cd "$out" && pwd)
work=$(cd "$work" && pwd)

PY=${PYTHON:-$REPO/.venv/bin/python}
"$PY" -c 'import PyInstaller' 2>/dev/null || {
  echo "error: PyInstaller is not installed for $PY (run scripts/install.sh --dev)" >&2; exit 1; }
if [ "$archive" = 1 ] || [ "$deb" = 1 ]; then
  command -v zstd >/dev/null || { echo "error: zstd is needed for the archive (apt-get install zstd)" >&2; exit 1; }
fi
version=$("$PY" -c 'import minet_desktop; print(minet_desktop.__version__)')
arch=$(uname -m)
name=minet-desktop
app=$out/$name

elapsed() { echo $(( $(date +%s) - $1 )); }
t_all=$(date +%s)

echo "== PyInstaller: $app"
t=$(date +%s)
rm -rf "$app"
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$out" --workpath "$work" \
  packaging/minet_desktop.spec
echo "   built in $(elapsed "$t") s"

if [ "$checks" = 1 ]; then
  echo "== self-test"
  t=$(date +%s)
  "$app/$name" --self-test -o "$work/self_test.wav"
  echo "   self-test in $(elapsed "$t") s"
  echo "== offscreen start"
  t=$(date +%s)
  # The window opens (offscreen) and closes right after "init finished"; settings go to a scratch folder.
  QT_QPA_PLATFORM=offscreen MINET_DESKTOP_EXIT_AFTER_INIT=1 XDG_CONFIG_HOME="$work/config" \
    "$app/$name" "$app/_internal/resources/demo/violin.mp4" 2>&1 | tee "$work/start.log"
  grep -q "init finished" "$work/start.log" || { echo "error: the app did not finish starting" >&2; exit 1; }
  echo "   started in $(elapsed "$t") s"
fi

tarball=""
if [ "$archive" = 1 ]; then
  tarball=$out/$name-$version-linux-$arch.tar.zst
  echo "== archive: $tarball"
  t=$(date +%s)
  # Written under a temporary name and renamed: a failed run never leaves a truncated archive behind.
  tar -C "$out" -cf - "$name" | zstd -q -"$level" -T0 -o "$tarball.part" -f
  mv -f "$tarball.part" "$tarball"
  echo "   archived in $(elapsed "$t") s"
fi

debfile=""
if [ "$deb" = 1 ]; then
  case "$arch" in x86_64) debarch=amd64 ;; aarch64) debarch=arm64 ;; *) debarch=$arch ;; esac
  debfile=$out/${name}_${version}_$debarch.deb
  echo "== Debian package: $debfile"
  t=$(date +%s)
  stage=$work/deb
  rm -rf "$stage"
  mkdir -p "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications"
  # Hard links, not a copy: the app is gigabytes and dpkg-deb only reads it.
  cp -al "$app" "$stage/opt/$name"
  ln -s "/opt/$name/$name" "$stage/usr/bin/$name"
  cat > "$stage/usr/share/applications/$name.desktop" <<EOF
[Desktop Entry]
Type=Application
Name=MI Net Desktop
Comment=Hear the instrument being played in a performance video
Exec=/opt/$name/$name %f
Terminal=false
Categories=AudioVideo;Audio;Education;
MimeType=video/mp4;video/x-msvideo;video/quicktime;video/x-matroska;video/webm;
EOF
  # The bundle carries its libraries except glibc and the OpenGL/EGL drivers, which must match the system's.
  # (getconf, not `ldd --version | head -1`: head closing the pipe early kills ldd with SIGPIPE under pipefail)
  glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
  maintainer="${DEBFULLNAME:-MI Net Desktop build} <${DEBEMAIL:-$(id -un)@$(hostname)}>"
  cat > "$stage/DEBIAN/control" <<EOF
Package: $name
Version: $version
Architecture: $debarch
Maintainer: $maintainer
Installed-Size: $(du -sk "$stage" | cut -f1)
Depends: libc6 (>= $glibc), libgl1, libegl1
Section: sound
Priority: optional
Description: hear the instrument being played in a performance video
 MI Net Desktop turns the body and hand movements of a musician in a video into
 the sound of the instrument being played, offline, on CUDA or the CPU.
 Self-contained (Python, PyTorch, Qt and MediaPipe inside /opt/$name).
EOF
  dpkg-deb --root-owner-group -Zzstd -z"$level" --build "$stage" "$debfile.part" >/dev/null
  mv -f "$debfile.part" "$debfile"
  rm -rf "$stage"
  echo "   packaged in $(elapsed "$t") s"
fi

mb() { echo "$(( $(du -sb "$1" | cut -f1) / 1000000 )) MB"; }
echo "== done in $(elapsed "$t_all") s"
echo "   app      $app ($(mb "$app"), $(find "$app" -type f | wc -l) files)"
[ -n "$tarball" ] && echo "   archive  $tarball ($(mb "$tarball"))"
[ -n "$debfile" ] && echo "   deb      $debfile ($(mb "$debfile"))"
exit 0
