"""PyInstaller runtime hook: let sounddevice find the PortAudio library bundled with the app on Linux.

pyinstaller-hooks-contrib's sounddevice hook copies the system's ``libportaudio.so.2`` into the bundle, but
sounddevice looks PortAudio up with ``ctypes.util.find_library``, which on Linux asks ldconfig and so finds
only a system copy: on a computer without libportaudio2, playback and the live mode would fail. This runs
before the app's code and points the look-up at the bundled copy. (Windows and macOS bundle sounddevice's own
PortAudio from ``_sounddevice_data``, which sounddevice finds without help.)
"""


def _use_bundled_portaudio() -> None:
    import ctypes.util
    import os
    import sys

    bundle = getattr(sys, "_MEIPASS", None)
    if not sys.platform.startswith("linux") or not bundle:
        return
    bundled = os.path.join(bundle, "libportaudio.so.2")
    if not os.path.isfile(bundled):
        return
    find_library = ctypes.util.find_library

    def find_library_bundled_first(name: str) -> str | None:
        return bundled if name == "portaudio" else find_library(name)

    ctypes.util.find_library = find_library_bundled_first


_use_bundled_portaudio()
