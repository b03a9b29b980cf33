"""The detection stage: frames from every camera -> motion gating -> detector -> tracker ->
the outputs' queues.

    dispatcher (this stage's thread): takes frames from the inbox, plans each (skip it,
        the whole frame, or crops), hands skipped frames on at once, and queues the rest
    ``workers`` threads: run the detector on queued frames at the same time (ONNX Runtime
        releases the GIL, so two workers keep two cores busy)

Frames reach the tracker and the outputs in each camera's order: a frame that is ready
early waits for its camera's earlier frames, never for another camera's. A skipped frame
never waits behind a detection of another camera, so quiet cameras keep their pace while
busy ones are detected.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from edgewatch.detect.base import Detector
from edgewatch.detect.regions import crops_of, merge_crops
from edgewatch.pipeline.gating import MOVING_PX_S, SKIP, WHOLE, CameraGate, Plan
from edgewatch.pipeline.queues import FrameInbox
from edgewatch.stats import PipelineStats
from edgewatch.supervise import SupervisedThread
from edgewatch.track.cameras import CameraTrackers
from edgewatch.types import Detections, Frame

log = logging.getLogger(__name__)

MAX_DETECTOR_FAILURES = 20
LIVE_MAX_WAIT_S = 0.5  # a live frame older than this when a worker is free goes undetected
NOTHING = np.zeros((0, 4))
FAILED = object()  # a frame whose detection failed: counted, skipped, its turn passes

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
        live: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        """``gates``: motion gating per camera (needs ``trackers``: they fill the frames
        not detected); None detects every frame whole. ``live``: cameras that keep their
        pace when every worker is busy: their frame is then not detected (the tracker
        predicts it, as for a skipped one) instead of holding up every camera. Files
        (not in ``live``) wait for a worker: every frame of theirs is detected."""
        self.inbox, self.detector, self.trackers = inbox, detector, trackers
        self.gates = gates if trackers is not None else None
        self.batch_size, self.workers, self.live = batch_size, workers, live
        self.stats, self.stop = stats, stop
        self.frames_done: dict[str, int] = {}
        self.heartbeat: Callable[[], None] = lambda: None  # the running thread's beat
        # Room for a second frame per worker: a burst (cameras refreshing together) waits
        # a moment instead of going undetected; more would only add latency.
        self._jobs: queue.Queue = queue.Queue(maxsize=4 * workers)
        self._turn = threading.Lock()  # the trackers and the hand-over
        self._taken: dict[str, int] = {}  # per camera: frames taken
        self._next: dict[str, int] = {}  # per camera: the next frame to hand on
        self._ready: dict[str, dict[int, tuple]] = {}  # per camera: frames waiting their turn
        self._failures_in_a_row = 0
        self._outputs: Sequence[Submit] = ()
        self._workers: list[SupervisedThread] = []

    def run(self, outputs: Sequence[Submit]) -> None:
        """The dispatcher; starts the workers, and ends them once the cameras ended."""
        self._outputs = outputs
        self._workers = [
            SupervisedThread(self._work, name=f"detector-{i + 1}") for i in range(self.workers)
        ]
        for worker in self._workers:
            worker.start()
        try:
            self._dispatch()
        finally:
            for worker in self._workers:
                if worker.is_alive():
                    self._jobs.put(None)
            for worker in self._workers:
                worker.join()

    def _dispatch(self) -> None:
        while True:
            self.heartbeat()
            batch = self.inbox.take(self.batch_size)
            if batch is None:
                return
            if not batch:
                continue
            plans = self._plan(batch)
            tickets = [self._ticket(frame.camera) for frame in batch]
            job = []
            for frame, plan, ticket in zip(batch, plans, tickets, strict=True):
                if plan.skipped:
                    self._done(ticket, frame, plan, None)
                else:
                    job.append((frame, plan, ticket))
            if not job:
                continue
            if all(frame.camera in self.live for frame, _, _ in job) and self.trackers:
                try:
                    self._jobs.put_nowait(job)
                except queue.Full:  # every worker busy: keep the pace, predict this one
                    for frame, _, ticket in job:
                        if self.gates is None or self.gates[frame.camera].overdue(frame):
                            self.stats.count("undetected." + frame.camera)
                        self._done(ticket, frame, SKIP, None)
                    continue
            elif not self._queue(job):
                return
            for frame, plan, _ in job:
                self.stats.count("detected." + frame.camera)
                if plan.regions is not None:
                    self.stats.count("crops." + frame.camera, len(plan.regions))
                if self.gates is not None:
                    self.gates[frame.camera].detecting(frame, plan)

    def _queue(self, job: list) -> bool:
        """Waits while every worker is busy (that is the pace); False once a worker died
        (its failure is logged and ends the run)."""
        while True:
            try:
                self._jobs.put(job, timeout=1.0)
                return True
            except queue.Full:
                if not all(worker.is_alive() for worker in self._workers):
                    return False

    def _ticket(self, camera: str) -> tuple[str, int]:
        number = self._taken.get(camera, 0)
        self._taken[camera] = number + 1
        return camera, number

    def _plan(self, batch: list[Frame]) -> list[Plan]:
        """What to look at in each frame, in each camera's order."""
        if self.gates is None:
            return [WHOLE] * len(batch)
        plans = []
        for frame in batch:
            gate = self.gates[frame.camera]
            moving = NOTHING
            if gate.motion is not None:
                with self._turn:  # the tracker moves on in the hand-over, under this lock
                    moving = self.trackers.moving_boxes(frame.camera, MOVING_PX_S)
            plan = gate.plan(frame, moving)
            self.stats.count(("skipped." if plan.skipped else "wanted.") + frame.camera)
            plans.append(plan)
        return plans

    def _work(self) -> None:
        """A worker: detects the queued frames, then hands them on when their turn comes."""
        beat = threading.current_thread().beat
        while True:
            beat()
            try:
                job = self._jobs.get(timeout=1.0)
            except queue.Empty:
                continue
            if job is None:
                return
            if self._stale(job):
                continue
            frames, plans, tickets = zip(*job, strict=True)
            results = self._detect(list(frames), list(plans))
            for i, (frame, plan, ticket) in enumerate(job):
                self._done(ticket, frame, plan, FAILED if results is None else results[i])

    def _stale(self, job: list) -> bool:
        """A live camera's frame that waited too long for a worker is handed on without
        detection (the tracker predicts it): detecting it now would put every later frame
        of its camera behind the wall clock."""
        if not all(frame.camera in self.live for frame, _, _ in job) or self.trackers is None:
            return False
        if time.time() - min(frame.timestamp for frame, _, _ in job) <= LIVE_MAX_WAIT_S:
            return False
        for frame, _, ticket in job:
            self.stats.count("detected." + frame.camera, -1)
            self.stats.count("undetected." + frame.camera)
            self._done(ticket, frame, SKIP, None)
        return True

    def _detect(self, batch: list[Frame], plans: list[Plan]) -> list[Detections] | None:
        """Per frame, its detections in frame pixels; None when the detector failed."""
        images, spans = [], []
        for frame, plan in zip(batch, plans, strict=True):
            crops = [frame.image] if plan.regions is None else crops_of(frame.image, plan.regions)
            spans.append((len(images), len(images) + len(crops)))
            images += crops
        started = time.perf_counter()
        try:
            found = self.detector.detect(images)
            results = [
                found[a] if plan.regions is None
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

    def _done(self, ticket: tuple[str, int], frame: Frame, plan: Plan, detections) -> None:
        """Hands on this camera's frames whose turn has come: this one, if its earlier
        ones are through, and those that were waiting for it."""
        camera, number = ticket
        with self._turn:
            waiting = self._ready.setdefault(camera, {})
            waiting[number] = (frame, plan, detections)
            turn = self._next.get(camera, 0)
            while turn in waiting:
                frame, plan, detections = waiting.pop(turn)
                turn += 1
                self._next[camera] = turn
                if detections is not FAILED:
                    self._hand_on(frame, plan, detections)

    def _hand_on(self, frame: Frame, plan: Plan, detections: Detections | None) -> None:
        """Track the frame (a skipped one too: its objects are predicted), then give it to
        every output."""
        if self.trackers is not None:
            started = time.perf_counter()
            observed = None if plan.skipped else plan.regions
            # The detector has made the BGR picture already; appearance reads it.
            image = frame.image if detections is not None else None
            detections = self.trackers.update(
                frame.camera, detections, frame.timestamp, observed=observed, image=image
            )
            self.stats.time("track", time.perf_counter() - started)
        self.frames_done[frame.camera] = self.frames_done.get(frame.camera, 0) + 1
        for submit in self._outputs:
            submit(frame, detections)
