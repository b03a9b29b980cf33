"""`detector.device`: auto falls back to the CPU; a GPU that is not there is a clear error."""

from __future__ import annotations

import sys

import pytest

from edgewatch.detect.base import DetectorConfig
from edgewatch.errors import ConfigError
from edgewatch.gpu.device import resolve_device


def test_cpu_is_cpu_and_auto_without_torch_is_the_cpu(monkeypatch):
    assert resolve_device("cpu") == "cpu"
    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ConfigError, match="needs PyTorch"):
        resolve_device("cuda")


def test_a_gpu_that_is_not_there_is_named():
    torch = pytest.importorskip("torch")
    count = torch.cuda.device_count()
    assert resolve_device("auto") == ("cuda:0" if count else "cpu")
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ConfigError, match=f"sees {count} CUDA GPU"):
        resolve_device(f"cuda:{count}")


def test_the_setting_is_checked():
    assert DetectorConfig(device="cuda:1").device == "cuda:1"
    with pytest.raises(ValueError):
        DetectorConfig(device="gpu")
