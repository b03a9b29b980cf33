"""Detection workers: several frames detected at once, every camera's frames still handed
on in order; a failing batch is counted and skipped as before."""

import random
import threading
import time

import numpy as np

from edgewatch.pipeline.detection import DetectionStage
from edgewatch.pipeline.queues import FrameInbox
from edgewatch.stats import PipelineStats
from edgewatch.types import Detections, Frame

NAMES = {0: "person"}


class Jittery:
    """Takes a random while per call, so that workers finish out of order."""

    class_names = NAMES
    thread_safe = True

    def __init__(self, fail_on: set[int] = frozenset()) -> None:
        self.fail_on, self.concurrent, self.most = fail_on, 0, 0
        self.lock = threading.Lock()

    def detect(self, images):
        with self.lock:
            self.concurrent += 1
            self.most = max(self.most, self.concurrent)
        try:
            time.sleep(random.uniform(0, 0.01))
            if int(images[0][0, 0, 0]) in self.fail_on:
                raise RuntimeError("a bad frame")
            return [Detections.empty(NAMES) for _ in images]
        finally:
            with self.lock:
                self.concurrent -= 1


def run(detector, frames_per_camera=60, cameras=("a", "b")) -> tuple[dict, PipelineStats]:
    inbox: FrameInbox[Frame] = FrameInbox(list(cameras), 1000)
    stop, stats, seen = threading.Event(), PipelineStats(), {c: [] for c in cameras}
    for i in range(frames_per_camera):
        for camera in cameras:
            image = np.full((4, 4, 3), i % 256, np.uint8)
            inbox.put(camera, Frame(camera, i, 1_700_000_000 + i, image), lossless=True, stop=stop)
    for camera in cameras:
        inbox.finish(camera)
    stage = DetectionStage(inbox, detector, None, batch_size=1, stats=stats, stop=stop, workers=3)
    stage.run([lambda frame, detections: seen[frame.camera].append(frame.index)])
    return seen, stats


def test_three_workers_detect_at_once_and_each_camera_keeps_its_order():
    detector = Jittery()
    seen, _ = run(detector)
    assert seen == {"a": list(range(60)), "b": list(range(60))}
    assert detector.most >= 2  # the workers did run side by side


def test_a_failing_batch_is_counted_and_skipped_and_the_order_holds():
    seen, stats = run(Jittery(fail_on={7, 30}))
    expected = [i for i in range(60) if i not in (7, 30)]
    assert seen == {"a": expected, "b": expected}
    assert stats.counters["errors.detect"] == 4
