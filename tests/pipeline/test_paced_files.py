"""A `realtime` file camera keeps the wall clock like a live camera: when detection
cannot keep up it drops its oldest frames (counted) instead of falling behind."""

from __future__ import annotations

import threading
import time

from edgewatch.config import config_from_dict
from edgewatch.detect.coco import COCO_CLASS_NAMES
from edgewatch.pipeline import build_pipeline
from edgewatch.types import Detections


class SlowDetector:
    """Stands for a box too slow for its camera (4 detections a second against the clip's
    10 frames a second): the real detector on this machine is fast enough to hide it."""

    class_names = COCO_CLASS_NAMES
    thread_safe = False

    def detect(self, images):
        time.sleep(0.25 * len(images))
        return [Detections.empty(COCO_CLASS_NAMES) for _ in images]


class Lag:
    name, wants_annotated, lossless = "lag", False, True

    def __init__(self) -> None:
        self.lags: list[float] = []

    def open(self, streams) -> None:
        pass

    def write(self, frame, detections) -> None:
        self.lags.append(time.time() - frame.timestamp)

    def close(self) -> None:
        pass


def test_a_paced_file_behind_detection_drops_frames_and_keeps_time():
    config = config_from_dict({
        "cameras": [{"name": "c", "source": "sample", "realtime": True,
                     "motion": {"enabled": False}}],
        "outputs": {"rtsp": {"enabled": False}},
        "pipeline": {"stats_interval_s": 0},
    })  # fmt: skip
    stop = threading.Event()
    lag = Lag()
    pipeline = build_pipeline(config, detector=SlowDetector(), sinks=[lag], stop=stop)
    threading.Timer(12.0, stop.set).start()
    summary = pipeline.run()
    counters = summary.stats["counters"]
    late = lag.lags[len(lag.lags) // 2 :]  # after the start
    assert late and max(late) < 1.0, max(late)
    # Frames the detector could not take were tracked without it or dropped, and counted.
    skipped = counters.get("undetected.c", 0) + sum(pipeline.inbox.dropped.values())
    assert skipped > 20
