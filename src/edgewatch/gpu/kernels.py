"""The engine's Triton kernels, each loaded only where Triton imports (CPU-only wheels,
Windows): without it, their callers run the torch code each kernel replaces."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable


@functools.cache
def triton_kernel(module: str, name: str) -> Callable | None:
    """``edgewatch.gpu.<module>.<name>``, or None where Triton does not import."""
    try:
        return getattr(importlib.import_module(f"edgewatch.gpu.{module}"), name)
    except ImportError:
        return None


def nms_kernel() -> Callable | None:
    return triton_kernel("nms_kernel", "greedy_nms_kernel")


def resize_kernel() -> Callable | None:
    return triton_kernel("resize_kernel", "resized_rgb")
