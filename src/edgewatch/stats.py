"""Counters and timings of every stage, cheap enough to keep on in production."""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field


def sample_key(name: str) -> str:
    """A name (a camera, a stage, a sensor) as the system sample spells it in its keys:
    ``fps_<camera>``, ``temp_<chip>_c`` ... (`pipeline.system`)."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_").lower() or "sensor"


@dataclass(slots=True)
class Timing:
    """Running total of one stage's cost per item."""

    count: int = 0
    total_s: float = 0.0
    max_s: float = 0.0

    def add(self, seconds: float, items: int = 1) -> None:
        self.count += items
        self.total_s += seconds
        self.max_s = max(self.max_s, seconds / max(items, 1))

    @property
    def mean_ms(self) -> float:
        return 1000.0 * self.total_s / self.count if self.count else 0.0


@dataclass
class PipelineStats:
    """Shared by all stages. Updates are from one thread per key, so a lock is only
    needed where a new key is created (the per-frame path takes none)."""

    started: float = field(default_factory=time.monotonic)
    timings: dict[str, Timing] = field(default_factory=lambda: defaultdict(Timing))
    counters: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def time(self, stage: str, seconds: float, items: int = 1) -> None:
        timing = self.timings.get(stage)
        if timing is None:
            with self._lock:
                timing = self.timings[stage]
        timing.add(seconds, items)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:  # several threads count some names (errors, detections)
            self.counters[name] += n

    def snapshot(self) -> dict:
        elapsed = time.monotonic() - self.started
        with self._lock:
            return {
                "elapsed_s": round(elapsed, 3),
                "stages_ms": {k: round(v.mean_ms, 3) for k, v in self.timings.items()},
                "counters": dict(self.counters),
            }
