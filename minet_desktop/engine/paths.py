"""Where the files shipped with the app live (torch-free, so the GUI can ask before loading a model)."""

from __future__ import annotations

import sys
from pathlib import Path

from minet_desktop.engine import model_types


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


def performance_detector_path() -> Path:
    """The performance detector shipped with the app: ``resources/models/performance.safetensors``."""
    return RESOURCES / "models" / "performance.safetensors"


def bundled_model_path(model_type: str) -> Path:
    """Where the app looks for its bundle of ``model_type`` (``resources/models/<name>``, the registry's
    :attr:`~minet_desktop.engine.model_types.ModelType.bundled_file`; it may be absent)."""
    entry = model_types.model_type(model_type)
    if entry is None or entry.bundled_file is None:
        raise KeyError(f"no model of type {model_type!r} ships with the app")
    return RESOURCES / "models" / entry.bundled_file


def demo_dir() -> Path:
    """Demo performances (video + keypoint sidecar + MIDI + reference audio): ``resources/demo/``."""
    return RESOURCES / "demo"
