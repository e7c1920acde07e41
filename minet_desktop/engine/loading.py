"""Loading a bundle with the backend its ``model_type`` names (:data:`BACKENDS`, one loader per entry of
:data:`~minet_desktop.engine.model_types.MODEL_TYPES`).

Apart from :mod:`~minet_desktop.engine.backends` so that the backends can build on its base classes without
an import cycle.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import safe_open

from minet_desktop.core.errors import InputError
from minet_desktop.engine import model_types
from minet_desktop.engine.backends import GenerationBackend, MINetBackend
from minet_desktop.model.bundle import load_bundle


def _load_minet(path: Path, device: torch.device) -> GenerationBackend:
    return MINetBackend(load_bundle(path, device))


def _load_regressor(path: Path, device: torch.device) -> GenerationBackend:
    # Imported here: the regressor's drawing pulls in OpenCV, which MI Net sessions do not need.
    from minet_desktop.engine.regressor import RegressorBackend
    from minet_desktop.model.regressor import load_regressor_bundle

    return RegressorBackend(load_regressor_bundle(path, device))


def _load_baseline(path: Path, device: torch.device) -> GenerationBackend:
    from minet_desktop.engine.baselines import BaselineBackend
    from minet_desktop.model.baselines import load_baseline_bundle

    return BaselineBackend(load_baseline_bundle(path, device))


#: model_type -> loader(bundle path, device): one per entry of :data:`~minet_desktop.engine.model_types.MODEL_TYPES`.
BACKENDS: dict[str, Callable[[Path, torch.device], GenerationBackend]] = {
    "minet": _load_minet,
    "minet_midi": _load_minet,
    "frame_regressor": _load_regressor,
    "frame_regressor_midi": _load_regressor,
    "seq2seq": _load_baseline,
    "graph_transformer": _load_baseline,
}


def peek_model_type(path: Path) -> str:
    """The ``model_type`` in a bundle's metadata, read without building anything (InputError if unreadable)."""
    if not path.is_file():
        raise InputError(path, "no such model bundle")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        config = json.loads(metadata.get("config", "{}"))
    except Exception as exc:  # safetensors' own error type, OSError, JSON errors on junk files
        raise InputError(path, f"not a model bundle ({type(exc).__name__}: {exc})") from exc
    model_type = config.get("model_type", "minet") if isinstance(config, dict) else None
    if not isinstance(model_type, str):
        raise InputError(path, "not a model bundle (its config names no model type)")
    return model_type


def load_backend(path: Path, device: torch.device) -> GenerationBackend:
    """Load the bundle at ``path`` with the backend its ``model_type`` names."""
    model_type = peek_model_type(path)
    loader = BACKENDS.get(model_type)
    if loader is None or model_types.model_type(model_type) is None:
        raise InputError(
            path,
            f"model type {model_type!r} cannot generate in this version of MI Net Desktop "
            f"(supported: {', '.join(sorted(BACKENDS))})",
        )
    return loader(path, device)
