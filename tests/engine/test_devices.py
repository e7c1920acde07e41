"""What the status bar says generation runs on."""

import sys
import types

from minet_desktop.engine.devices import compute_device_name


def test_compute_device_name_uses_cuda_when_available(monkeypatch):
    cuda = types.SimpleNamespace(is_available=lambda: True, get_device_name=lambda i: "NVIDIA H100")
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    assert compute_device_name() == "NVIDIA H100"
    cuda.is_available = lambda: False
    assert compute_device_name() == "CPU"
