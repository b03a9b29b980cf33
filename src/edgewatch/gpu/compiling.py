"""torch.compile for the GPU engine's hot tensor code, where it can run.

Eager PyTorch leaves each of the SSD's 76 convolutions' bias add and clamp (ReLU6) to
kernels of their own, each reading and writing the whole activation again: profiled on
an H200, a batch of 64 spent as much GPU time in them (2.1 + 0.7 ms) as in the
convolutions (2.2 ms). Compiled, Triton fuses them, and the network's batch of 64 took
3.2 ms instead of 5.8. The detector input's conversion is a chain of small element-wise
steps that fuse the same way.

Triton comes with PyTorch's CUDA wheels and builds its kernels with the box's C
compiler. Where Triton is missing, on the CPU, or when compiling fails, the plain
function runs, after one warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

log = logging.getLogger(__name__)


def can_compile(device: torch.device) -> bool:
    """A CUDA device and Triton to compile for it. Not the CPU: Inductor's C++ there
    needs a compiler on the box and gains little on these small graphs."""
    if device.type != "cuda":
        return False
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


class Compiled:
    """``function`` compiled at its first call, its first argument's first dimension
    (the batch) left free: one compile serves every batch size of 2 or more. A batch of
    one runs the plain function (compiling would specialize it: a second compile, as
    long as the first), and so does every call once compiling has failed."""

    def __init__(self, function: Callable, what: str) -> None:
        self.function, self.what = function, what
        # Only the batch is dynamic: with every dimension symbolic (dynamic=True), the
        # SSD took 4 times as long to compile (65 s against 249 on a 2-core EPYC).
        self._compiled: Callable | None = torch.compile(function, dynamic=False)

    @property
    def compiling(self) -> bool:
        """Whether calls still go to the compiled function (no failure so far)."""
        return self._compiled is not None

    def __call__(self, batch: torch.Tensor, *args):
        if self._compiled is None or len(batch) < 2:
            return self.function(batch, *args)
        torch._dynamo.mark_dynamic(batch, 0)
        try:
            return self._compiled(batch, *args)
        except Exception as error:  # Triton without a C compiler, an op Inductor lacks
            log.warning("%s runs uncompiled: torch.compile failed: %s", self.what, error)
            self._compiled = None
            return self.function(batch, *args)
