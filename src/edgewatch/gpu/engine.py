"""The GPU engine's main-process side: starts the shard processes and gathers what they
send.

Cameras are spread over shard processes (`shards.plan_shards`), the shards over the GPUs
(``cuda:N``). Each shard decodes, detects and tracks its own cameras (`shard.run_shard`)
and sends only results: boxes, track IDs, a message, a picture where someone looks. The
main process does no per-pixel work, so one process can gather thousands of frames a
second.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import time
from collections.abc import Iterator

from edgewatch.gpu.shard import FrameResult, ShardJob, run_shard

log = logging.getLogger(__name__)

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class GpuEngine:
    """``with GpuEngine(jobs) as engine: for result in engine.results(): ...``; the
    shards' figures are in ``engine.stats`` once `results` has ended."""

    def __init__(self, jobs: list[ShardJob], *, start_together: bool = False) -> None:
        """``start_together``: `__enter__` returns once every shard has loaded its model,
        and they all start decoding then (a benchmark's streams start at one moment;
        loading takes seconds, and unevenly)."""
        self.jobs = jobs
        # CUDA cannot be used in a forked child: every shard is a fresh interpreter.
        context = multiprocessing.get_context("spawn")
        self._queue = context.Queue(maxsize=1024)
        self._stop = context.Event()
        self._ready = context.Value("i", 0) if start_together else None
        self._go = context.Event() if start_together else None
        # One flag a camera with a video output: raised while that output wants pictures.
        # Read by the shards for every frame, so without a lock (a byte is written whole).
        self._slots = {camera: slot for job in jobs for camera, slot in job.watch_slots.items()}
        self._watched = context.RawArray("b", max(self._slots.values(), default=-1) + 1)
        self._processes = [
            context.Process(
                target=run_shard,
                args=(job, self._queue, self._stop, self._ready, self._go, self._watched),
                name=f"edgewatch-gpu-shard-{job.shard.index}",
                daemon=True,
            )  # fmt: skip
            for job in jobs
        ]
        self.stats: dict[int, dict] = {}
        self.errors: dict[int, str] = {}

    def __enter__(self) -> GpuEngine:
        # One CPU thread per library in each shard: with a dozen shards each spinning up
        # a pool per core (OpenMP, OpenBLAS), the pools fight over the cores (measured on
        # an H200 box: 14 of 16 cores busy, frames late).
        saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
        os.environ.update({name: "1" for name in THREAD_VARIABLES})
        try:
            for process in self._processes:
                process.start()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        if self._go is not None:
            self._start_together()
        return self

    def _start_together(self, timeout_s: float = 300.0) -> None:
        """Every shard ready (or one dead: it is reported by `results`), then go."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._ready.value < len(self._processes):
            if not all(process.is_alive() for process in self._processes):
                break
            time.sleep(0.05)
        self._go.set()

    def __exit__(self, *exc) -> None:
        self.close()

    def results(self, poll_s: float = 0.5) -> Iterator[FrameResult]:
        """Every frame's result as the shards send them, until every shard has ended."""
        ended: set[int] = set()
        while len(ended) < len(self._processes):
            try:
                item = self._queue.get(timeout=poll_s)
            except queue.Empty:
                for job, process in zip(self.jobs, self._processes, strict=True):
                    if not process.is_alive() and job.shard.index not in ended:
                        ended.add(job.shard.index)  # died without a word: counted below
                        self.errors.setdefault(job.shard.index, f"exit code {process.exitcode}")
                continue
            if isinstance(item, tuple):
                kind, index, payload = item
                ended.add(index)
                if kind == "stats":
                    self.stats[index] = payload
                else:
                    self.errors[index] = payload
                    log.error("GPU shard %d failed: %s", index, payload)
                continue
            yield from item

    @property
    def watchable(self) -> list[str]:
        """The cameras `watch` acts on: those given a slot (a video output)."""
        return list(self._slots)

    def watch(self, camera: str, wanted: bool) -> None:
        """Whether ``camera``'s pictures go to the host from now on (a camera without a
        slot in its job's ``watch_slots`` is not asked about)."""
        slot = self._slots.get(camera)
        if slot is not None:
            self._watched[slot] = wanted

    def stop(self) -> None:
        """Asks every shard to end (they finish the batch in hand)."""
        self._stop.set()

    def close(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        for process in self._processes:
            process.join(timeout=timeout_s)
            if process.is_alive():
                process.terminate()
