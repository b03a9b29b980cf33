"""`bench_events`: the event engine's cost per frame on synthetic tracked objects."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from edgewatch.events.config import EventsConfig, LineConfig, SnapshotConfig, ZoneConfig
from edgewatch.events.engine import EventEngine
from edgewatch.events.snapshots import SnapshotWriter
from edgewatch.types import Detections, Frame

WIDTH, HEIGHT, FPS = 1280, 720, 10.0


def _config(snapshot_dir: Path) -> EventsConfig:
    return EventsConfig(
        enabled=True,
        zones=[
            ZoneConfig(
                name="drive",
                camera="bench",
                points=[[0, 400], [640, 380], [640, 720], [0, 720]],
                loiter_s=20,
            ),
            ZoneConfig(
                name="porch",
                camera="bench",
                points=[[700, 300], [1100, 300], [1200, 700], [650, 700]],
            ),
        ],
        lines=[LineConfig(name="gate", camera="bench", a=[640, 0], b=[640, 720])],
        snapshots=SnapshotConfig(dir=snapshot_dir),
    )


def _run(objects: int, frames: int, snapshot_dir: Path | None) -> dict:
    rng = np.random.default_rng(0)
    config = _config(snapshot_dir or Path(tempfile.gettempdir()))
    keeper = SnapshotWriter(config.snapshots) if snapshot_dir else None
    engine = EventEngine("bench", config, snapshots=keeper)
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    start = rng.uniform([0, 100], [WIDTH - 80, HEIGHT - 160], size=(objects, 2))
    velocity = rng.uniform(-8, 8, size=(objects, 2))
    velocity[: objects // 3] = 0  # a third parked
    size = np.array([60.0, 150.0])
    ids = np.arange(1, objects + 1)
    class_id = np.where(ids % 4 == 0, 2, 0)  # people and a few cars
    times, events = [], 0
    for i in range(frames):
        pos = start + velocity * i
        pos[:, 0] = np.abs((pos[:, 0] % (2 * (WIDTH - 60))) - (WIDTH - 60))  # bounce
        pos[:, 1] = np.clip(pos[:, 1], 0, HEIGHT - 150)
        detections = Detections(
            xyxy=np.concatenate([pos, pos + size], axis=1),
            confidence=rng.uniform(0.4, 0.95, objects),
            class_id=class_id,
            tracker_id=ids,
            class_names={0: "person", 2: "car"},
            data={"seen_s": np.full(objects, i / FPS), "score": np.full(objects, 0.8)},
        )
        frame = Frame("bench", i, 1_700_000_000 + i / FPS, image)
        t0 = time.perf_counter()
        events += len(engine.update(frame, detections))
        times.append(time.perf_counter() - t0)
    us = np.array(times) * 1e6
    return {
        "per_frame_us_mean": round(float(us.mean()), 1),
        "per_frame_us_p50": round(float(np.percentile(us, 50)), 1),
        "per_frame_us_p99": round(float(np.percentile(us, 99)), 1),
        "events": events,
        "snapshots_written": keeper.written if keeper else 0,
    }


def bench_events(objects: int = 50, frames: int = 500) -> dict:
    """Per-frame cost of `EventEngine.update` with ``objects`` tracked objects, 2 zones and
    1 line, at 1280x720: without snapshots, and with them (JPEG writes of episodes,
    zone entries and crossings)."""
    result = {"objects": objects, "frames": frames, "zones": 2, "lines": 1}
    result["engine"] = _run(objects, frames, None)
    with tempfile.TemporaryDirectory() as folder:
        result["with_snapshots"] = _run(objects, frames, Path(folder))
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(bench_events(), indent=2))
