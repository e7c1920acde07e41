"""Where the files shipped with the app live (torch-free, so the GUI can ask before loading a model)."""

from __future__ import annotations

from pathlib import Path

#: ``resources/`` at the top of the source tree (an editable or source install).
RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def default_model_path() -> Path:
    """The MI Net bundle shipped with the app: ``resources/models/minet.safetensors``."""
    return RESOURCES / "models" / "minet.safetensors"


def demo_dir() -> Path:
    """Demo performances (video + keypoint sidecar + MIDI + reference audio): ``resources/demo/``."""
    return RESOURCES / "demo"
