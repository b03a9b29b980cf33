"""The detection stage: batches of frames from every camera -> motion gating -> detector
-> tracker -> the outputs' queues.

``workers`` threads each take a batch and run the detector on it at the same time (ONNX
Runtime releases the GIL, so two workers keep two cores busy). Results are handed on in
the order the batches were taken: a batch that finishes early waits, and its worker takes
the next one; every camera's frames reach the tracker and the outputs in order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from edgewatch.detect.base import Detector
from edgewatch.detect.regions import crops_of, merge_crops
from edgewatch.pipeline.gating import MOVING_PX_S, WHOLE, CameraGate, Plan
from edgewatch.pipeline.queues import FrameInbox
from edgewatch.stats import PipelineStats
from edgewatch.supervise import SupervisedThread
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
        workers: int = 1,
        gates: dict[str, CameraGate] | None = None,
    ) -> None:
        """``gates``: motion gating per camera (needs ``trackers``: they fill the frames
        not detected); None detects every frame whole."""
        self.inbox, self.detector, self.trackers = inbox, detector, trackers
        self.gates = gates if trackers is not None else None
        self.batch_size, self.workers = batch_size, workers
        self.stats, self.stop = stats, stop
        self.frames_done: dict[str, int] = {}
        self.heartbeat: Callable[[], None] = lambda: None  # the running thread's beat
        self._take_lock = threading.Lock()
        self._turn = threading.Condition()
        self._taken = 0  # batches taken so far; a batch's number is its place in the order
        self._handed_on = 0  # batches whose frames went to the outputs
        self._ready: dict[int, tuple] = {}  # finished batches waiting for their turn
        self._failures_in_a_row = 0

    def run(self, outputs: Sequence[Submit]) -> None:
        """The calling thread is one worker; the others are started here and joined."""
        others = [
            SupervisedThread(lambda: self._work(outputs, beat=None), name=f"detector-{i + 2}")
            for i in range(self.workers - 1)
        ]
        for thread in others:
            thread.start()
        try:
            self._work(outputs, beat=self.heartbeat)
        finally:
            for thread in others:
                thread.join()

    def _work(self, outputs: Sequence[Submit], beat: Callable[[], None] | None) -> None:
        beat = beat or threading.current_thread().beat
        while True:
            beat()
            with self._take_lock:
                batch = self.inbox.take(self.batch_size)
                if batch is None:
                    return
                if not batch:
                    continue
                number = self._taken
                self._taken += 1
                plans = self._plan(batch)
            results = self._detect(batch, plans)
            self._finished(number, batch, plans, results, outputs)

    def _finished(self, number: int, batch, plans, results, outputs) -> None:
        """Hands on every finished batch whose turn has come, this one and those that
        waited for it; a batch that finished early waits in ``_ready`` while its worker
        goes on detecting."""
        with self._turn:
            self._ready[number] = (batch, plans, results)
            while self._handed_on in self._ready:
                batch, plans, results = self._ready.pop(self._handed_on)
                try:
                    if results is not None:
                        self._hand_on(batch, plans, results, outputs)
                finally:
                    self._handed_on += 1

    def _plan(self, batch: list[Frame]) -> list[Plan]:
        """What to look at in each frame (in batch order, under the take lock)."""
        if self.gates is None:
            return [WHOLE] * len(batch)
        plans = []
        for frame in batch:
            with self._turn:  # the tracker moves on in the hand-over, under this lock
                moving = self.trackers.moving_boxes(frame.camera, MOVING_PX_S)
            plan = self.gates[frame.camera].plan(frame, moving)
            self.stats.count(("skipped." if plan.skipped else "detected.") + frame.camera)
            if plan.regions is not None and len(plan.regions):
                self.stats.count("crops." + frame.camera, len(plan.regions))
            plans.append(plan)
        return plans

    def _detect(self, batch: list[Frame], plans: list[Plan]) -> list[Detections | None] | None:
        """Per frame: its detections in frame pixels, None where it was skipped. None for
        the whole batch when the detector failed."""
        images, spans = [], []
        for frame, plan in zip(batch, plans, strict=True):
            crops = [frame.image] if plan.regions is None else crops_of(frame.image, plan.regions)
            spans.append((len(images), len(images) + len(crops)))
            images += crops
        if not images:
            return [None] * len(batch)
        started = time.perf_counter()
        try:
            found = self.detector.detect(images)
            results = [
                None if plan.skipped
                else found[a] if plan.regions is None
                else merge_crops(found[a:b], plan.regions, self.detector.class_names)
                for plan, (a, b) in zip(plans, spans, strict=True)
            ]  # fmt: skip
        except Exception:
            # A bad frame or a passing runtime fault costs this batch only; a detector
            # that fails every time stops the run instead of silently reporting nothing.
            with self._turn:
                self._failures_in_a_row += 1
                failures = self._failures_in_a_row
            self.stats.count("errors.detect", len(batch))
            if failures == 1:
                log.exception("detector failed on %d frame(s); skipping them", len(batch))
            if failures == MAX_DETECTOR_FAILURES:
                log.error("detector failed %d times in a row; stopping", failures)
                self.stop.set()
            return None
        with self._turn:
            self._failures_in_a_row = 0
        self.stats.time("detect", time.perf_counter() - started, len(images))
        return results

    def _hand_on(self, batch: list[Frame], plans: list[Plan], results, outputs) -> None:
        """In batch order: track each camera's frames, then give them to every output."""
        if self.trackers is not None:
            started = time.perf_counter()
            results = [
                self.trackers.update(frame.camera, detections, frame.timestamp,
                                     observed=None if plan.skipped else plan.regions)
                for frame, plan, detections in zip(batch, plans, results, strict=True)
            ]  # fmt: skip
            self.stats.time("track", time.perf_counter() - started, len(batch))
        for frame, detections in zip(batch, results, strict=True):
            self.frames_done[frame.camera] = self.frames_done.get(frame.camera, 0) + 1
            for submit in outputs:
                submit(frame, detections)
