"""What generation runs on, asked without loading a model (torch is imported on first call, not on import)."""

from __future__ import annotations

import logging

log = logging.getLogger("minet_desktop")


def compute_device_name() -> str:
    """What generation will run on: the first CUDA GPU's name, else "CPU" (imports torch, slow the first time)."""
    try:
        import torch

        if torch.cuda.is_available():
            return str(torch.cuda.get_device_name(0))
    except Exception:  # a broken CUDA install must not keep the app from starting
        log.exception("could not query CUDA devices")
    return "CPU"
