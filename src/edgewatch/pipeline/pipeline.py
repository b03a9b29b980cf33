"""The running pipeline: every thread starts and stops here, in an order written down.

camera readers (sources/reader.py: decode, pace, reconnect)
  -> FrameInbox: one bounded queue per camera (live drops oldest, files wait)
  -> DetectionStage thread: batches across cameras -> detector -> per-camera tracker
  -> one SinkRunner per output (its own thread and bounded queue):
       jsonl, mqtt, influx, events ...
       annotate: the VideoStage draws once -> SinkRunner per video output (rtsp, record)
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from edgewatch.config import Config
from edgewatch.detect.base import Detector
from edgewatch.outputs.base import Relay, ReportsStats, Sink, TakesSystemStats
from edgewatch.pipeline.detection import DetectionStage
from edgewatch.pipeline.gpu_stage import GpuStage
from edgewatch.pipeline.queues import FrameInbox
from edgewatch.pipeline.runners import SinkRunner
from edgewatch.pipeline.system import SystemPublisher
from edgewatch.sources.reader import CameraReader
from edgewatch.stats import PipelineStats
from edgewatch.supervise import SupervisedThread, crashed
from edgewatch.types import Frame

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    frames: dict[str, int]
    elapsed_s: float
    stats: dict
    source_errors: list[str] = field(default_factory=list)
    #: Outputs that failed: their data is incomplete (name -> what happened).
    output_errors: dict[str, str] = field(default_factory=dict)
    #: A worker thread that failed beyond restarting ended the run (one line), or None.
    crashed: str | None = None

    @property
    def fps(self) -> float:
        return sum(self.frames.values()) / self.elapsed_s if self.elapsed_s else 0.0


@dataclass
class Pipeline:
    """The opened parts; `run` blocks until every camera has ended or ``stop`` is set.

    ``runners`` feed the outputs (the drawing stage among them, feeding ``video_runners``).
    Nothing runs until `run`.
    """

    config: Config
    detector: Detector | None  # None: the GPU engine's shards hold the detector
    sinks: list[Sink]
    readers: list[CameraReader]
    inbox: FrameInbox[Frame]
    detection: DetectionStage | GpuStage
    runners: list[SinkRunner]
    video_runners: list[SinkRunner]
    stop: threading.Event
    stats: PipelineStats

    @property
    def frames_done(self) -> dict[str, int]:
        return self.detection.frames_done

    def run(self) -> RunSummary:
        started = time.monotonic()
        self.stats.started = started
        # Consumers before producers, so no frame waits on a thread that is not there yet.
        for runner in [*self.video_runners, *self.runners]:
            runner.start()
        submit = [runner.submit for runner in self.runners]
        detecting = SupervisedThread(lambda: self.detection.run(submit), name="detector")
        self.detection.heartbeat = detecting.beat
        detecting.start()
        for reader in self.readers:
            reader.start()
        self._supervise(detecting, started)
        for reader in self.readers:
            reader.join(timeout=5)
        self.stats.counters.update(
            {f"dropped.camera.{name}": n for name, n in self.inbox.dropped.items() if n}
        )
        return RunSummary(
            frames=dict(self.frames_done),
            elapsed_s=time.monotonic() - started,
            stats=self.snapshot(),
            source_errors=[str(r.error) for r in self.readers if r.error],
            output_errors={
                r.sink.name: f"{r.errors} failure(s), the first: {r.first_error}"
                for r in [*self.runners, *self.video_runners]
                if r.errors
            },
            crashed=crashed(),
        )

    def _supervise(self, detecting: threading.Thread, started: float) -> None:
        """Progress lines and system statistics until detection ends (every camera ended,
        or ``stop``), then the outputs close."""
        interval = self.config.pipeline.stats_interval_s
        next_report = started + interval
        system = self._system_publisher()
        try:
            while detecting.is_alive():
                detecting.join(0.2)
                if crashed():  # a worker failed for good: stop, so systemd starts us again
                    break
                if interval and time.monotonic() >= next_report:
                    self._log_progress(started)
                    next_report += interval
                if system:
                    system.tick()
        finally:
            self.stop.set()
            detecting.join()
            self._close_outputs()

    def _system_publisher(self) -> SystemPublisher | None:
        takers = [sink for sink in self.sinks if isinstance(sink, TakesSystemStats)]
        interval = self.config.pipeline.system_interval_s
        return (
            SystemPublisher(takers, interval, self.stats.snapshot) if takers and interval else None
        )

    def _close_outputs(self) -> None:
        """One after the other, each drained first: outputs that send through others
        (events publish through MQTT) close before the rest, so their last messages go
        out; the drawing stage closes the video outputs behind it."""
        relays = [r for r in self.runners if isinstance(r.sink, Relay)]
        for runner in [*relays, *(r for r in self.runners if r not in relays)]:
            runner.finish()
            runner.join()

    def snapshot(self) -> dict:
        snapshot = self.stats.snapshot()
        for sink in self.sinks:
            if isinstance(sink, ReportsStats):
                snapshot[sink.name] = sink.stats()
        return snapshot

    def _log_progress(self, started: float) -> None:
        elapsed = time.monotonic() - started
        rates = ", ".join(
            f"{name} {count / elapsed:.1f} fps" for name, count in self.frames_done.items()
        )
        drops = {k: v for k, v in self.inbox.dropped.items() if v}
        log.info("processed %s%s", rates or "no frames yet", f"; dropped {drops}" if drops else "")
