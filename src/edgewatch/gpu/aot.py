"""The SSD compiled ahead of time (AOTInductor): built once per model, GPU and PyTorch
into the cache folder, then loaded by every shard in a fraction of a second.

Why compiled: eager PyTorch leaves each of the SSD's 76 convolutions' bias add and clamp
(ReLU6) to kernels of their own, each reading and writing the whole activation again.
Profiled on an H200, a batch of 64 spent 2.1 + 0.74 ms in them against 2.2 ms in the
convolutions; `torch.compile` fuses them, and the network took 3.24 ms instead of 5.80.
Why ahead of time: `torch.compile` in every shard traces and compiles at each start, and
8 or 16 shards doing so at once had not started after 200 s on that machine. A package
built once loads in 0.1 s (a 2-core EPYC, the SSD built for its CPU).

The first process to want a package builds it under a lock on the cache folder; the
others wait for it and load it. Where building fails (no C++ compiler, an op the
compiler lacks), the plain network runs, after one warning.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import torch

from edgewatch.paths import built_in_place, folder_locked

log = logging.getLogger(__name__)

FORMAT = "1"  # bump when what goes into a package changes
MIN_BATCH, MAX_BATCH = 2, 1024  # a batch of one runs the plain network (see `CompiledNetwork`)


def package_key(model_file: Path, device: torch.device, dtype: torch.dtype) -> str:
    """What a package depends on: the model's bytes, PyTorch (its compiler and kernels),
    the GPU (Triton compiles for its architecture) and the compute dtype."""
    digest = hashlib.sha256(f"{FORMAT}:{torch.__version__}:{torch.version.cuda}:{dtype}:".encode())
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        digest.update(f"{props.name}:{props.major}.{props.minor}".encode())
    with open(model_file, "rb") as file:
        digest.update(hashlib.file_digest(file, "sha256").digest())
    return digest.hexdigest()[:16]


class CompiledNetwork:
    """``network``'s AOTInductor package for ``example``'s device, from ``folder`` or
    built into it; called like the network. Batches of MIN_BATCH and more run compiled
    (one package serves every size); a batch of one runs the plain network (exporting
    with the batch free from 1 would make 1 a special case)."""

    def __init__(self, network: torch.nn.Module, example: torch.Tensor, folder: Path, key: str):
        self.network = network
        self.path = Path(folder) / f"ssd-aot-{key}.pt2"
        self._run = _load_or_build(network, example, self.path)

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if len(batch) < MIN_BATCH:
            return self.network(batch)
        return tuple(self._run(batch))


def compiled_network(
    network: torch.nn.Module, example: torch.Tensor, folder: Path, key: str
) -> Callable | None:
    """A `CompiledNetwork`, or None (after a warning) where it cannot be built or loaded."""
    try:
        return CompiledNetwork(network, example, folder, key)
    except Exception as error:  # no C++ compiler, an op the compiler lacks, a full disk
        log.warning("the SSD runs uncompiled: its compiled form could not be made: %s", error)
        return None


def _load_or_build(network: torch.nn.Module, example: torch.Tensor, path: Path) -> Callable:
    path.parent.mkdir(parents=True, exist_ok=True)
    with folder_locked(path.parent):  # one builder; the others wait, then load
        if not path.exists():
            _build(network, example, path)
    from torch._inductor import aoti_load_package  # importing the compiler takes a second

    return aoti_load_package(str(path))


def _build(network: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    from torch._inductor import aoti_compile_and_package

    log.info("compiling the SSD for %s into %s (once; a minute or two)", example.device, path)
    batch = torch.export.Dim("batch", min=MIN_BATCH, max=MAX_BATCH)
    with torch.inference_mode(False), torch.no_grad():
        exported = torch.export.export(network, (example,), dynamic_shapes=({0: batch},))
    with built_in_place(path, suffix=".tmp.pt2") as temporary:  # the compiler wants .pt2
        aoti_compile_and_package(exported, package_path=str(temporary))
