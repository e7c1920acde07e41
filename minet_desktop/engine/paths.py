"""Where the files shipped with the app live (torch-free, so the GUI can ask before loading a model)."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """``resources/``: next to the packages in a frozen app, at the top of the source tree otherwise.

    A PyInstaller app (``packaging/``) unpacks its data under ``sys._MEIPASS`` (``_internal/`` next to the
    executable, ``Contents/Frameworks`` in a macOS .app) and the spec puts ``resources/`` there; a source or
    editable install finds it two levels above this package.
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


#: ``resources/`` of this installation (see :func:`resources_dir`).
RESOURCES = resources_dir()


def default_model_path() -> Path:
    """The MI Net bundle shipped with the app: ``resources/models/minet.safetensors``."""
    return RESOURCES / "models" / "minet.safetensors"


#: model_type -> the file name of the bundle of that type shipped in ``resources/models/`` (when it is).
BUNDLED_MODELS = {
    "minet": "minet.safetensors",
    "minet_midi": "minet_midi.safetensors",
    "frame_regressor": "regressor.safetensors",
    "frame_regressor_midi": "regressor_midi.safetensors",
}


def bundled_model_path(model_type: str) -> Path:
    """Where the app looks for its bundle of ``model_type`` (``resources/models/<name>``; it may be absent)."""
    return RESOURCES / "models" / BUNDLED_MODELS[model_type]


def demo_dir() -> Path:
    """Demo performances (video + keypoint sidecar + MIDI + reference audio): ``resources/demo/``."""
    return RESOURCES / "demo"
