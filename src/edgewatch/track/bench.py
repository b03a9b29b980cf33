"""Tracker cost on synthetic scenes, for `edgewatch bench`."""

from __future__ import annotations

import time

import numpy as np

from edgewatch.track.bytetrack import ByteTracker
from edgewatch.track.config import TrackerConfig
from edgewatch.types import Detections


def synthetic_scene(
    objects: int, frames: int, *, fps: float = 10.0, seed: int = 0
) -> list[Detections]:
    """Boxes moving at constant speed in a 1920x1080 view, bouncing off its edges, with
    pixel noise: all stay in view, so an ideal tracker gives exactly `objects` IDs."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(30, 120, (objects, 2))
    start = rng.uniform([0, 0], [1920, 1080], (objects, 2))
    velocity = rng.uniform(-60, 60, (objects, 2))  # pixels per second
    scenes = []
    for i in range(frames):
        travelled = (start + velocity * i / fps) % [3840, 2160]
        centre = np.where(travelled > [1920, 1080], [3840, 2160] - travelled, travelled)
        xyxy = np.hstack([centre - size / 2, centre + size / 2])
        xyxy += rng.normal(0, 1.5, xyxy.shape)
        scenes.append(
            Detections(
                xyxy=xyxy,
                confidence=rng.uniform(0.3, 0.95, objects),
                class_id=np.zeros(objects, np.int32),
                class_names={0: "person"},
            )
        )
    return scenes


def bench_tracker(objects: int = 50, frames: int = 500) -> dict:
    """Mean and 95th-percentile cost of one `ByteTracker.update`, in milliseconds."""
    scene = synthetic_scene(objects, frames)
    tracker = ByteTracker(TrackerConfig(), {0: "person"})
    times = np.empty(frames)
    ids: set[int] = set()
    for i, detections in enumerate(scene):
        start = time.perf_counter()
        out = tracker.update(detections, i / 10.0)
        times[i] = time.perf_counter() - start
        ids.update(out.tracker_id.tolist())
    return {
        "objects": objects,
        "frames": frames,
        "ms_per_frame_mean": float(times.mean() * 1e3),
        "ms_per_frame_p95": float(np.percentile(times, 95) * 1e3),
        "track_ids": len(ids),
    }
