"""Suite-wide settings: headless Qt, a null audio device, and the `gpu` marker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Headless everywhere: Qt draws offscreen and ALSA talks to a null device (no sound card on CI).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_ASOUNDRC = Path(__file__).parent / "data" / "asoundrc-null"
os.environ.setdefault("ALSA_CONFIG_PATH", str(_ASOUNDRC))

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:  # pragma: no cover - torch always installed
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def opencv_data() -> Path:
    """Real photos and a video of people from Debian's opencv-doc (installed by .ci/run)."""
    if not (OPENCV_DATA / "messi5.jpg").exists():
        pytest.fail(f"{OPENCV_DATA} is missing: install Debian's opencv-doc (see .ci/run)")
    return OPENCV_DATA
