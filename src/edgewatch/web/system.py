"""The System page's answer: the box's health sample, sorted into host figures, per-camera
figures and the depth of the durable queues (what waits for the broker or the database).

The sample is `pipeline.system`'s flat object of numbers: the live pipeline's latest one
when `edgewatch run` serves the page, or one taken here when `edgewatch web` runs alone.
Queue depths come from the queue files themselves (read-only), so they are right in both
cases and cost the pipeline nothing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from edgewatch.clients.sqlite import open_readonly
from edgewatch.pipeline.system import SystemSampler
from edgewatch.stats import sample_key

HOST_KEYS = ("cpu_percent", "cpu_count", "mem_percent", "mem_used_mb", "mem_available_mb",
             "load1", "load5", "load15", "threads_alive", "threads_crashed")  # fmt: skip
HOST_PREFIXES = ("temp_", "gpu", "jetson_")
QUEUE_CACHE_S = 5.0  # summing a long queue is a table scan: not on every poll


def host_figures(sample: dict) -> dict:
    figures = {k: sample[k] for k in HOST_KEYS if k in sample}
    figures.update({k: v for k, v in sample.items() if k.startswith(HOST_PREFIXES)})
    if "mem_percent" in figures:  # the name the API promises
        figures["memory_percent"] = figures["mem_percent"]
    return figures


def camera_figures(sample: dict, cameras: list[dict]) -> list[dict]:
    """Per camera: frames/s (the live view's own measure, else the sample's), frames
    dropped before detection, reconnects, state."""
    rows = []
    for camera in cameras:
        key = sample_key(camera["name"])
        fps = camera.get("fps")
        rows.append(
            {
                "name": camera["name"],
                "fps": fps if fps is not None else sample.get(f"fps_{key}"),
                "drops": int(sample.get(f"dropped_camera_{key}", 0)),
                "reconnects": int(sample.get(f"reconnects_{key}", 0)),
                "state": camera.get("state"),
            }
        )
    return rows


class QueueDepths:
    """Items waiting in the MQTT outbox and the InfluxDB spool, from their files."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths
        self._lock = threading.Lock()
        self._cached: tuple[float, dict] | None = None

    def read(self) -> dict[str, int | None]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > QUEUE_CACHE_S:
                self._cached = (now, {name: _depth(p) for name, p in self.paths.items()})
            return dict(self._cached[1])


def _depth(path: Path) -> int | None:
    """None where there is no queue file (that output never ran)."""
    if not Path(path).exists():
        return None
    try:
        db = open_readonly(path, timeout=1.0)
        try:
            return int(db.execute("SELECT COALESCE(SUM(size), 0) FROM queue").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return None


class HostSampler:
    """`edgewatch web` alone: one sample a second at most, however many pages poll."""

    def __init__(self) -> None:
        self._sampler = SystemSampler()
        self._lock = threading.Lock()
        self._cached: tuple[float, dict] | None = None

    def sample(self) -> dict:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= 1.0:
                self._cached = (now, self._sampler.sample())
            return self._cached[1]


def system_answer(sample: dict, cameras: list[dict], queues: dict) -> dict:
    return {
        "time": sample.get("timestamp") or time.time(),
        "host": host_figures(sample),
        "cameras": camera_figures(sample, cameras),
        "queues": queues,
        "raw": sample,
    }
