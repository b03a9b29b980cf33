"""The machine a benchmark ran on, printed at the top of each: the same detector took 21
ms a frame on one 2-core box and 48 ms on another of the same kind, so figures are only
comparable beside the CPU that made them."""

from __future__ import annotations

import os
import platform
from pathlib import Path

#: Vector extensions that decide inference speed on a CPU, as /proc/cpuinfo names them.
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_model() -> str:
    for line in _cpuinfo():
        if line.startswith(("model name", "Model", "Hardware")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def vector_extensions() -> list[str]:
    for line in _cpuinfo():
        if line.startswith(("flags", "Features")):
            flags = set(line.split(":", 1)[1].split())
            return [flag for flag in VECTOR_FLAGS if flag in flags] or sorted(flags)[:8]
    return []


def physical_cores() -> int | None:
    """Distinct (physical id, core id) pairs in /proc/cpuinfo; None where it does not say.
    Fewer than the logical CPUs where two hardware threads share each core (SMT), and
    two threads on one core do far less than two cores' work."""
    cores: set[tuple[str, str]] = set()
    package = "0"
    for line in _cpuinfo():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            package = value.strip()
        elif key == "core id":
            cores.add((package, value.strip()))
    return len(cores) or None


def usable_cores() -> int:
    """The CPUs this process may run on (a container or `taskset` may allow fewer than
    the machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def describe_machine() -> str:
    """One line: CPU model, cores this process may use (and the physical cores, where
    hardware threads share them), vector extensions."""
    cores = usable_cores()
    physical = physical_cores()
    shared = f" ({physical} physical)" if physical and physical < (os.cpu_count() or 0) else ""
    flags = " ".join(vector_extensions()) or "unknown"
    return f"CPU: {cpu_model()}, {cores} cores{shared}, vector extensions: {flags}"


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []
