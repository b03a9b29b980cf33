"""`edgewatch bench tracking`: tracker and event engine cost on synthetic scenes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np

from edgewatch.bench.events import bench_events
from edgewatch.machine import describe_machine, usable_cores
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


def bench_tracker(objects: int = 50, frames: int = 500, *, appearance: bool = True) -> dict:
    """Mean and 95th-percentile cost of one `ByteTracker.update`, in milliseconds, with
    appearance: each object painted in its own colours on a 1920x1080 picture."""
    scene = synthetic_scene(objects, frames)
    tracker = ByteTracker(TrackerConfig(appearance=appearance), {0: "person"})
    rng = np.random.default_rng(1)
    colours = rng.integers(0, 256, (objects, 2, 3)).tolist()
    background = rng.integers(90, 110, (1080, 1920, 3), dtype=np.uint8)
    times = np.empty(frames)
    ids: set[int] = set()
    for i, detections in enumerate(scene):
        image = background.copy()
        for (x1, y1, x2, y2), (upper, lower) in zip(
            detections.xyxy.astype(int).tolist(), colours, strict=True
        ):
            middle = (y1 + y2) // 2
            cv2.rectangle(image, (x1, y1), (x2, middle), upper, cv2.FILLED)
            cv2.rectangle(image, (x1, middle), (x2, y2), lower, cv2.FILLED)
        start = time.perf_counter()
        out = tracker.update(detections, i / 10.0, image=image)
        times[i] = time.perf_counter() - start
        ids.update(out.tracker_id.tolist())
    return {
        "objects": objects,
        "frames": frames,
        "ms_per_frame_mean": float(times.mean() * 1e3),
        "ms_per_frame_p95": float(np.percentile(times, 95) * 1e3),
        "track_ids": len(ids),
    }


def cpu_reference(seconds: float = 1.0) -> dict:
    """The tracker (8 objects a frame, no appearance) on one core, then in one process per
    core all at once: ms a frame each way. Machines of one kind differ in their CPUs, and
    in what all cores busy together give (shared hardware threads, neighbours on the
    host); a benchmark that loads every core prints this beside its figures."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    cores = usable_cores()
    one = _tracker_ms(time.time(), seconds)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=cores, mp_context=spawn) as pool:
        start = time.time() + 3.0 + 0.1 * cores  # after every worker has started
        loaded = list(pool.map(_tracker_ms, [start] * cores, [seconds] * cores))
    every = float(np.mean(loaded))
    return {
        "cores": cores,
        "one_core_ms": round(one, 4),
        "all_cores_ms": round(every, 4),
        "slowdown": round(every / one, 2),
    }


def _tracker_ms(start: float, seconds: float) -> float:
    """Waits for ``start``, then tracks a looped synthetic scene for ``seconds``: the
    mean ms a frame."""
    scene = synthetic_scene(objects=8, frames=200)
    tracker = ByteTracker(TrackerConfig(appearance=False), {0: "person"})
    time.sleep(max(0.0, start - time.time()))
    frames, began = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - began) < seconds:
        tracker.update(scene[frames % len(scene)], frames / 10.0)
        frames += 1
    return elapsed / frames * 1e3


def bench_cameras_together(cameras: int = 8, objects: int = 8, frames: int = 300) -> dict:
    """ms a camera's frame with a tracker per camera, and with the cameras tracked
    together a round at a time (`CameraTrackers(together=True)`, as the GPU engine's
    shards track a batch), position only, on the same synthetic scenes in one run."""
    from edgewatch.track.cameras import CameraTrackers

    scenes = {f"cam{k}": synthetic_scene(objects, frames, seed=k) for k in range(cameras)}
    config = TrackerConfig(appearance=False)
    timings = {}
    for together in (False, True):
        trackers = CameraTrackers(scenes, config, {0: "person"}, together=together)
        started = time.perf_counter()
        for i in range(frames):
            batch = [(camera, scene[i], i / 10.0) for camera, scene in scenes.items()]
            trackers.update_batch(batch)
        timings[together] = (time.perf_counter() - started) / (frames * cameras) * 1e3
    return {
        "cameras": cameras,
        "objects": objects,
        "apart_ms": round(timings[False], 4),
        "together_ms": round(timings[True], 4),
        "speedup": round(timings[False] / timings[True], 2),
    }


def print_cpu_reference(figures: dict) -> None:
    print(
        f"CPU reference (the tracker, 8 objects a frame): {figures['one_core_ms']:.3f} ms a "
        f"frame on one core, {figures['all_cores_ms']:.3f} with all {figures['cores']} "
        f"cores busy at once ({figures['slowdown']:.2f}x)"
    )


def tracking_bench(frames: int = 500) -> dict:
    """Tracker and event engine cost per frame with 50 objects in view (synthetic)."""
    tracker = bench_tracker(objects=50, frames=frames)
    events = bench_events(objects=50, frames=frames)
    together = bench_cameras_together()
    engine_ms = events["engine"]["per_frame_us_mean"] / 1000
    snapshots_ms = events["with_snapshots"]["per_frame_us_mean"] / 1000
    return {
        "tracker_ms": round(tracker["ms_per_frame_mean"], 3),
        "tracker_ms_p95": round(tracker["ms_per_frame_p95"], 3),
        "events_ms": round(engine_ms, 3),
        "events_with_snapshots_ms": round(snapshots_ms, 3),
        "total_ms": round(tracker["ms_per_frame_mean"] + engine_ms, 3),
        "track_ids": tracker["track_ids"],
        "cameras_together": together,
    }


def print_tracking(figures: dict) -> None:
    print(
        f"tracking + events, 50 objects in view: tracker {figures['tracker_ms']:.3f} ms "
        f"(p95 {figures['tracker_ms_p95']:.3f}), event engine {figures['events_ms']:.3f} ms "
        f"(2 zones, 1 line), total {figures['total_ms']:.3f} ms/frame "
        f"({'MET' if figures['total_ms'] < 1 else 'MISSED'}: < 1 ms); with snapshot "
        f"copies and JPEG writes the engine averages {figures['events_with_snapshots_ms']:.3f} ms"
    )
    together = figures["cameras_together"]
    print(
        f"{together['cameras']} cameras, {together['objects']} objects each, by position: "
        f"{together['apart_ms']:.3f} ms a camera's frame with a tracker each, "
        f"{together['together_ms']:.3f} tracked together a round at a time "
        f"({together['speedup']:.2f}x)"
    )


def print_tracking_bench(args) -> int:
    print(describe_machine())
    figures = tracking_bench(args.frames or 500)
    print_tracking(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0
