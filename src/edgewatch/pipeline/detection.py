"""The detection stage: batches of frames from every camera -> detector -> tracker ->
the outputs' queues. One thread; the detector itself may use several cores."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from edgewatch.detect.base import Detector
from edgewatch.pipeline.queues import FrameInbox
from edgewatch.stats import PipelineStats
from edgewatch.track.cameras import CameraTrackers
from edgewatch.types import Detections, Frame

log = logging.getLogger(__name__)

MAX_DETECTOR_FAILURES = 20

#: Takes one processed frame (the runners' ``submit``).
Submit = Callable[[Frame, Detections], None]


class DetectionStage:
    """Runs until every camera has ended (the inbox says so) or the detector failed
    `MAX_DETECTOR_FAILURES` times in a row (then it sets ``stop``)."""

    def __init__(
        self,
        inbox: FrameInbox[Frame],
        detector: Detector,
        trackers: CameraTrackers | None,
        *,
        batch_size: int,
        stats: PipelineStats,
        stop: threading.Event,
    ) -> None:
        self.inbox, self.detector, self.trackers = inbox, detector, trackers
        self.batch_size = batch_size
        self.stats, self.stop = stats, stop
        self.frames_done: dict[str, int] = {}
        self.heartbeat: Callable[[], None] = lambda: None  # the running thread's beat

    def run(self, outputs: Sequence[Submit]) -> None:
        failures_in_a_row = 0
        while True:
            self.heartbeat()
            batch = self.inbox.take(self.batch_size)
            if batch is None:
                return
            if not batch:
                continue
            started = time.perf_counter()
            try:
                results = self.detector.detect([frame.image for frame in batch])
            except Exception:
                # A bad frame or a passing runtime fault costs this batch only; a detector
                # that fails every time stops the run instead of silently reporting nothing.
                failures_in_a_row += 1
                self.stats.count("errors.detect", len(batch))
                if failures_in_a_row == 1:
                    log.exception("detector failed on %d frame(s); skipping them", len(batch))
                if failures_in_a_row >= MAX_DETECTOR_FAILURES:
                    log.error("detector failed %d times in a row; stopping", failures_in_a_row)
                    self.stop.set()
                    return
                continue
            failures_in_a_row = 0
            self.stats.time("detect", time.perf_counter() - started, len(batch))
            if self.trackers is not None:
                started = time.perf_counter()
                results = [
                    self.trackers.update(frame.camera, detections, frame.timestamp)
                    for frame, detections in zip(batch, results, strict=True)
                ]
                self.stats.time("track", time.perf_counter() - started, len(batch))
            for frame, detections in zip(batch, results, strict=True):
                self.frames_done[frame.camera] = self.frames_done.get(frame.camera, 0) + 1
                for submit in outputs:
                    submit(frame, detections)
