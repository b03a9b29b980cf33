"""Outputs off the hot path: one thread and one bounded queue per sink, and the drawing
stage that feeds the video outputs."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from edgewatch.draw.annotate import Annotator
from edgewatch.errors import EdgewatchError
from edgewatch.outputs.base import Selective, Sink, Watched
from edgewatch.pipeline.queues import BoundedQueue, Closed
from edgewatch.stats import PipelineStats
from edgewatch.supervise import SupervisedThread
from edgewatch.types import Detections, Frame

log = logging.getLogger(__name__)


class SinkRunner(SupervisedThread):
    """Feeds one sink from its own queue. A failing write is logged and counted, never
    raised into the pipeline; the sink keeps getting the frames after it."""

    def __init__(self, sink: Sink, stats: PipelineStats, capacity: int) -> None:
        super().__init__(name=f"sink-{sink.name}", restart=True)
        self.sink = sink
        self.stats = stats
        self.queue: BoundedQueue[tuple[Frame, Detections]] = BoundedQueue(capacity)
        self.errors = 0
        self.first_error: str | None = None
        self.selective = isinstance(sink, Selective)

    def submit(self, frame: Frame, detections: Detections) -> None:
        if self.selective and not self.sink.wants(frame.camera):
            return  # nothing to do with it: not even a thread switch
        # A lossless sink makes the caller wait even while stopping: what was detected
        # before Ctrl-C is still written. Sinks never stop draining, so this cannot hang.
        self.queue.put((frame, detections), lossless=self.sink.lossless)
        if self.queue.dropped:
            self.stats.counters[f"dropped.{self.sink.name}"] = self.queue.dropped

    def work(self) -> None:
        while True:
            self.beat()
            try:
                frame, detections = self.queue.get(timeout=1.0)
            except TimeoutError:
                continue
            except Closed:
                break
            started = time.perf_counter()
            try:
                self.sink.write(frame, detections)
            except Exception as error:
                self._failed(error)
            self.stats.time(f"sink.{self.sink.name}", time.perf_counter() - started)
        try:
            self.sink.close()
        except Exception as error:
            self._failed(error, closing=True)

    def _failed(self, error: Exception, *, closing: bool = False) -> None:
        """Counted; logged the first time (one line for a problem the user can fix, the
        traceback for a bug), then one line per hundred."""
        self.errors += 1
        self.stats.count(f"errors.{self.sink.name}")
        self.first_error = self.first_error or str(error)
        if self.errors == 1:
            what = "closing output %s failed" if closing else "output %s failed; it keeps going"
            if isinstance(error, EdgewatchError):
                log.error(what + ": %s", self.sink.name, error)
            else:
                log.exception(what, self.sink.name)
        elif self.errors % 100 == 0:
            log.error("output %s: %d failures, latest: %s", self.sink.name, self.errors, error)

    def finish(self) -> None:
        """Let the queued frames through, then close the sink (call `join` to wait)."""
        self.queue.close()


class VideoStage:
    """A sink to the pipeline: draws each frame once (`Annotator`) in its runner's
    thread and hands it to the runner of every video output. Closing it drains them."""

    name = "annotate"
    wants_annotated = False

    def __init__(
        self, annotator: Annotator, video: Sequence[SinkRunner], stats: PipelineStats
    ) -> None:
        self.annotator = annotator
        self.video = list(video)
        self.stats = stats
        # Recording must not lose frames, so neither may the stage that feeds it.
        self.lossless = any(runner.sink.lossless for runner in self.video)

    def open(self, streams) -> None:
        pass

    def wants(self, camera: str) -> bool:
        """Nobody watching the RTSP stream and nothing recording it: nothing to draw."""
        return any(self._wanted(runner, camera) for runner in self.video)

    @staticmethod
    def _wanted(runner: SinkRunner, camera: str) -> bool:
        return not isinstance(runner.sink, Watched) or runner.sink.watched(camera)

    def write(self, frame: Frame, detections: Detections) -> None:
        wanted = [runner for runner in self.video if self._wanted(runner, frame.camera)]
        if not wanted or not frame.has_picture:  # on the GPU: asked for, not yet here
            return
        started = time.perf_counter()
        frame = self.annotator(frame, detections)
        self.stats.time("draw", time.perf_counter() - started)
        for runner in wanted:
            runner.submit(frame, detections)

    def close(self) -> None:
        for runner in self.video:
            runner.finish()
        for runner in self.video:
            runner.join()
