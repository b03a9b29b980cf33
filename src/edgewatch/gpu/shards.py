"""Which cameras each decode process takes, and on which GPU.

A shard is one process: it decodes its cameras with NVDEC (one decoder thread per
camera) on one GPU. Cameras are dealt round-robin so shards differ by one camera at
most, and shards are dealt round-robin over the GPUs so each GPU gets its share.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    """One decode process: its position, its GPU ("cuda:0") and its camera names."""

    index: int
    device: str
    cameras: tuple[str, ...]


def plan_shards(cameras: Sequence[str], processes: int, devices: Sequence[int]) -> list[Shard]:
    """``cameras`` over ``min(processes, len(cameras))`` shards over the GPUs ``devices``.

    The same arguments give the same plan, so a restarted shard takes the same cameras.
    No shard is empty; no cameras, no shards.
    """
    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    if not devices:
        raise ValueError("devices is empty: name at least one GPU index, such as [0]")
    repeated = sorted(name for name, count in Counter(cameras).items() if count > 1)
    if repeated:
        raise ValueError(f"camera names must be unique, repeated: {', '.join(repeated)}")
    names = tuple(cameras)
    count = min(processes, len(names))
    return [
        Shard(
            index=index,
            device=f"cuda:{devices[index % len(devices)]}",
            cameras=names[index::count],
        )
        for index in range(count)
    ]


def default_processes(streams: int, cpu_cores: int) -> int:
    """How many shard processes to run for ``streams`` cameras on one GPU: one per core,
    no more than cameras."""
    # Measured on an H200 box with 16 cores (`edgewatch bench gpu`): at first a frame
    # cost about 7 ms of CPU in Python, which a process runs a core at a time (the
    # GIL): 64 H.264 streams did 1,045 frames/s with 8 processes, 1,514 with 16. A frame
    # now costs about 2.6 ms, and fewer, fuller shards detect in larger batches: paced
    # 128 H.264, p95 latency 268 ms with 16, 184 with 12, 211 with 8 (one call); 16
    # stays the default until a run compares them as fast as they go too (README).
    return min(streams, max(1, cpu_cores))
