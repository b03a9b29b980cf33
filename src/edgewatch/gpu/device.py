"""Which device `detector.device` means on this box."""

from __future__ import annotations

import logging
from pathlib import Path

from edgewatch.errors import ConfigError

log = logging.getLogger(__name__)


def resolve_device(setting: str) -> str:
    """ "cpu" or "cuda:N". ``auto`` is a GPU only when PyTorch is installed and sees one,
    so a box without either runs exactly as before; ``cuda`` without one is an error."""
    if setting == "cpu" or (setting == "auto" and not _nvidia_driver()):
        return "cpu"  # without importing PyTorch: it costs a CPU box 1-2 s and memory
    try:
        import torch
    except ImportError:
        if setting == "auto":
            return "cpu"
        raise ConfigError(
            f"detector.device: {setting} needs PyTorch", "pip install 'edgewatch[gpu]'"
        ) from None
    count = torch.cuda.device_count()
    if setting == "auto":
        return "cuda:0" if count else "cpu"
    index = int(setting.partition(":")[2] or 0)
    if index >= count:
        raise ConfigError(
            f"detector.device: {setting}, but PyTorch sees {count} CUDA GPU(s)",
            "use detector.device: auto, cpu, or an index below the count",
        )
    return f"cuda:{index}"


def _nvidia_driver() -> bool:
    """An NVIDIA driver answers (NVML), or at least its control device exists."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetCount() > 0
    except Exception:  # no NVML library, no driver: look for the device file
        return Path("/dev/nvidiactl").exists()


# CU_CTX_SCHED_BLOCKING_SYNC / CU_CTX_SCHED_SPIN (cuda.h)
_SCHEDULING = {"blocking": 0x04, "spin": 0x01}


def primary_context(gpu_id: int) -> int:
    """The handle of GPU ``gpu_id``'s primary context, the one PyTorch works in, for a
    library that takes a context (PyNvVideoCodec); 0 where the driver is missing or
    refuses. The reference taken here is kept for the life of the process."""
    import ctypes

    found = _cuda_device(gpu_id)
    if found is None:
        return 0
    driver, device = found
    context = ctypes.c_void_p()
    if driver.cuDevicePrimaryCtxRetain(ctypes.byref(context), device):
        return 0
    return context.value or 0


def set_cuda_waiting(gpu_id: int, how: str = "blocking") -> bool:
    """How a thread waiting for GPU ``gpu_id`` waits: ``blocking`` sleeps until the GPU is
    done, ``spin`` polls. CUDA's default (``auto``) spins while there are fewer busy
    threads than cores; a box running a shard per core has as many, and a shard that
    spins while its batch waits behind the others' takes a core from a decoder or a
    tracker. Set on the primary context (which PyTorch and PyNvVideoCodec share) before
    either uses it; False where the driver is missing or refuses."""
    found = _cuda_device(gpu_id)
    if found is None:
        return False
    driver, device = found
    set_flags = getattr(driver, "cuDevicePrimaryCtxSetFlags_v2", None)
    set_flags = set_flags or driver.cuDevicePrimaryCtxSetFlags
    return set_flags(device, _SCHEDULING[how]) == 0


def _cuda_device(gpu_id: int):
    """(the CUDA driver library, device ``gpu_id``), initialised; None without a driver
    or that device."""
    import ctypes

    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    device = ctypes.c_int()
    if driver.cuInit(0) or driver.cuDeviceGet(ctypes.byref(device), gpu_id):
        return None
    return driver, device
