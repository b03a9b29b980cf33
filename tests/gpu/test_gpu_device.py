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


def test_how_threads_wait_for_the_gpu_is_set_only_where_a_driver_takes_it():
    import subprocess

    from edgewatch.gpu.device import set_cuda_waiting

    torch = pytest.importorskip("torch")
    # In a fresh process, as a shard sets it before anything uses the GPU: True on a GPU
    # machine (the driver took the flag), False without a driver, never an error.
    code = "from edgewatch.gpu.device import set_cuda_waiting as s; print(s(0, 'blocking'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(torch.cuda.is_available())
    assert set_cuda_waiting(0, "spin") in (True, False)


def test_the_primary_context_is_the_one_pytorch_works_in():
    import subprocess

    pytest.importorskip("torch")
    # A fresh process: PyTorch makes the primary context current on its first CUDA call.
    code = (
        "import ctypes, torch; from edgewatch.gpu.device import primary_context as p\n"
        "if not torch.cuda.is_available(): print(p(0) == 0); raise SystemExit\n"
        "torch.zeros(1, device='cuda'); c = ctypes.c_void_p()\n"
        "ctypes.CDLL('libcuda.so.1').cuCtxGetCurrent(ctypes.byref(c)); print(p(0) == c.value != 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
