"""Wiring: cameras -> detector -> outputs, each stage behind a bounded queue.

reader threads (one per camera, decode)
    -> FrameInbox (per-camera queues; live drops oldest, files wait)
    -> detector thread (batches across cameras)
    -> SinkRunner per output (JSON lines ...) and the Annotator (draws once)
           -> SinkRunner per video output (RTSP, recording)
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from edgewatch.config import Config
from edgewatch.detect.base import Detector
from edgewatch.errors import EdgewatchError, SourceError
from edgewatch.outputs.base import Sink, StreamInfo
from edgewatch.queues import FrameInbox
from edgewatch.sinks import Annotator, SinkRunner
from edgewatch.sources import create_source
from edgewatch.sources.reader import CameraReader
from edgewatch.stats import PipelineStats
from edgewatch.types import Detections, Frame

log = logging.getLogger(__name__)

MAX_DETECTOR_FAILURES = 20


def create_sinks(config: Config) -> list[Sink]:
    """The outputs the config turns on; imported lazily so unused ones cost nothing."""
    outputs = config.outputs
    sinks: list[Sink] = []
    if outputs.rtsp.enabled:
        from edgewatch.outputs.rtsp import RtspSink

        sinks.append(RtspSink(outputs.rtsp))
    if outputs.record.path:
        from edgewatch.outputs.record import RecordSink

        sinks.append(RecordSink(outputs.record.path, crf=outputs.record.crf))
    if outputs.jsonl.path:
        from edgewatch.outputs.jsonl import JsonlSink

        sinks.append(JsonlSink(outputs.jsonl.path))
    mqtt_sink = None
    if outputs.mqtt.enabled:
        from edgewatch.mqtt.sink import MqttSink

        mqtt_sink = MqttSink(outputs.mqtt, labels=config.detector.classes)
        sinks.append(mqtt_sink)
    if outputs.influx.enabled:
        from edgewatch.outputs.influx import InfluxSink

        sinks.append(InfluxSink(config))
    if config.events.enabled:
        from edgewatch.events.sink import EventSink, outbox_publisher

        writer = None
        if config.events.influx:
            from edgewatch.outputs.influx import SpooledInfluxWriter

            # Through a spool of its own (next to the event store): events wait on disk
            # while InfluxDB is away, as detection points do.
            store = config.events.store_path
            writer = SpooledInfluxWriter(
                config.influx,
                store.with_name(f"{store.stem}-influx-spool.sqlite3"),
                config.outputs.influx.spool_max_points,
                setting="events.store_path",
            )
        publish = outbox_publisher(mqtt_sink, config.events) if mqtt_sink else None
        # First: it closes (publishing its last events) before the MQTT output does.
        sinks.insert(0, EventSink(config.events, publish=publish, influx_writer=writer))
    return sinks


@dataclass
class RunSummary:
    frames: dict[str, int]
    elapsed_s: float
    stats: dict
    source_errors: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return sum(self.frames.values()) / self.elapsed_s if self.elapsed_s else 0.0


@dataclass
class Pipeline:
    """The running parts; `run` blocks until every camera has ended or `stop` is set."""

    config: Config
    detector: Detector
    sinks: list[Sink]
    readers: list[CameraReader]
    inbox: FrameInbox[Frame]
    runners: list[SinkRunner]
    stop: threading.Event
    stats: PipelineStats
    tracking: TrackingStage | None = None
    frames_done: dict[str, int] = field(default_factory=dict)

    def run(self) -> RunSummary:
        started = time.monotonic()
        self.stats.started = started
        for runner in self.runners:
            runner.start()
        for reader in self.readers:
            reader.start()
        detecting = threading.Thread(target=self._detect_loop, name="detector", daemon=True)
        detecting.start()
        next_report = started + self.config.pipeline.stats_interval_s
        system = SystemPublisher.for_pipeline(self)
        try:
            while detecting.is_alive():
                detecting.join(0.2)
                if self.config.pipeline.stats_interval_s and time.monotonic() >= next_report:
                    self._log_progress(started)
                    next_report += self.config.pipeline.stats_interval_s
                if system:
                    system.tick()
        finally:
            self.stop.set()
            detecting.join()
            self._close_outputs()
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
        )

    def snapshot(self) -> dict:
        snapshot = self.stats.snapshot()
        for sink in self.sinks:
            sink_stats = getattr(sink, "stats", None)
            if callable(sink_stats):
                snapshot[sink.name] = sink_stats()
        return snapshot

    def _detect_loop(self) -> None:
        batch_size = self.config.detector.batch_size
        failures_in_a_row = 0
        while True:
            batch = self.inbox.take(batch_size)
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
            if self.tracking is not None:
                started = time.perf_counter()
                results = [self.tracking.update(f, d) for f, d in zip(batch, results, strict=True)]
                self.stats.time("track", time.perf_counter() - started, len(batch))
            for frame, detections in zip(batch, results, strict=True):
                self.frames_done[frame.camera] = self.frames_done.get(frame.camera, 0) + 1
                for runner in self.runners:
                    runner.submit(frame, detections)

    def _close_outputs(self) -> None:
        # One after the other, in order: the events output publishes its last events
        # through the MQTT output, so it must close first. The annotator's close drains
        # the video sinks behind it.
        for runner in self.runners:
            runner.finish()
            runner.join()

    def _log_progress(self, started: float) -> None:
        elapsed = time.monotonic() - started
        rates = ", ".join(
            f"{name} {count / elapsed:.1f} fps" for name, count in self.frames_done.items()
        )
        drops = {k: v for k, v in self.inbox.dropped.items() if v}
        log.info("processed %s%s", rates or "no frames yet", f"; dropped {drops}" if drops else "")


class TrackingStage:
    """One ByteTracker per camera. The detector is asked for detections down to the
    tracker's low threshold; the user's per-class thresholds mark which are "high" (start
    and first-match tracks), the rest can only continue a track already followed."""

    def __init__(self, config: Config, detector: Detector) -> None:
        from edgewatch.detect.filters import DetectionFilter
        from edgewatch.track.bytetrack import ByteTracker

        self.thresholds = DetectionFilter(config.detector, detector.class_names).thresholds
        self.trackers = {
            camera.name: ByteTracker(config.tracking, detector.class_names)
            for camera in config.cameras
        }

    @staticmethod
    def detector_config(config: Config):
        """The detector config with every threshold lowered to the tracker's low one."""
        low = config.tracking.low_confidence
        detector = config.detector
        return detector.model_copy(
            update={
                "confidence": min(detector.confidence, low),
                "class_confidence": {k: min(v, low) for k, v in detector.class_confidence.items()},
            }
        )

    def update(self, frame: Frame, detections: Detections) -> Detections:
        ids = np.clip(detections.class_id, 0, len(self.thresholds) - 1)
        detections.data["high"] = detections.confidence >= self.thresholds[ids]
        tracked = self.trackers[frame.camera].update(detections, frame.timestamp)
        tracked.data.pop("high", None)
        return tracked


class SystemPublisher:
    """Sends the box's health and the pipeline's figures every ``system_interval_s`` to
    the outputs that take them (MQTT, the InfluxDB output); sampling costs a
    millisecond, so the supervising loop does it."""

    def __init__(self, pipeline: Pipeline, sinks: list, interval: float) -> None:
        from edgewatch.system_stats import SystemSampler

        self.pipeline, self.sinks, self.interval = pipeline, sinks, interval
        self.sampler = SystemSampler()
        self.next = time.monotonic() + min(interval, 1.0)

    @classmethod
    def for_pipeline(cls, pipeline: Pipeline) -> SystemPublisher | None:
        sinks = [s for s in pipeline.sinks if callable(getattr(s, "publish_system", None))]
        interval = pipeline.config.outputs.mqtt.system_interval_s
        return cls(pipeline, sinks, interval) if sinks and interval else None

    def tick(self) -> None:
        if time.monotonic() < self.next:
            return
        self.next += self.interval
        try:
            sample = self.sampler.sample(self.pipeline.stats.snapshot())
            for sink in self.sinks:
                sink.publish_system(sample)
        except Exception:  # statistics are never worth stopping the pipeline for
            log.exception("publishing system statistics failed")


def open_streams(
    config: Config, stop: threading.Event, stats: PipelineStats, inbox: FrameInbox[Frame]
) -> tuple[list[CameraReader], list[StreamInfo]]:
    """Open every camera once, to fail fast on a bad file and learn each frame size.

    A live camera that cannot be reached yet is not an error: its reader keeps trying,
    and its outputs start with the size configured for it (or 1280x720).
    """
    readers, streams = [], []
    for camera in config.cameras:
        source = create_source(camera)
        opened = None
        try:
            opened = source.open()
        except SourceError as error:
            if not source.live:
                for reader in readers:
                    reader.source.close()
                raise
            log.warning("%s; will keep retrying", error)
        width, height, fps = opened or (
            camera.width or 1280,
            camera.height or 720,
            camera.fps or 25.0,
        )
        is_sample = camera.source == "sample"
        realtime = camera.realtime if camera.realtime is not None else is_sample
        loop = camera.loop if camera.loop is not None else (is_sample and not camera.max_frames)

        def handle(frame: Frame, name: str = camera.name, lossless: bool = not source.live):
            return inbox.put(name, frame, lossless=lossless, stop=stop)

        readers.append(
            CameraReader(
                source,
                handle,
                stats,
                stop,
                realtime=realtime,
                loop=loop,
                opened=opened,
                on_finish=inbox.finish,
            )
        )
        streams.append(StreamInfo(camera.name, width, height, fps))
    return readers, streams


def build_pipeline(
    config: Config, *, detector: Detector | None = None, stop: threading.Event | None = None
) -> Pipeline:
    """Open the cameras, load the detector and open the outputs; raises EdgewatchError
    for anything the user must fix before a run can start."""
    stop = stop or threading.Event()
    stats = PipelineStats()
    inbox: FrameInbox[Frame] = FrameInbox(
        [c.name for c in config.cameras], config.pipeline.camera_queue
    )
    readers, streams = open_streams(config, stop, stats, inbox)
    try:
        tracking_on = config.tracking.enabled
        if detector is None:
            from edgewatch.detect import create_detector

            detector_config = config.detector
            if tracking_on:
                detector_config = TrackingStage.detector_config(config)
            detector = create_detector(detector_config)
        sinks = create_sinks(config)
        opened: list[Sink] = []
        try:
            for sink in sinks:
                sink.open(streams)
                opened.append(sink)
        except EdgewatchError:
            for sink in opened:
                sink.close()
            raise
    except EdgewatchError:
        for reader in readers:
            reader.source.close()
        raise
    capacity = config.pipeline.sink_queue
    video = [SinkRunner(s, stats, capacity) for s in sinks if s.wants_annotated]
    runners = [SinkRunner(s, stats, capacity) for s in sinks if not s.wants_annotated]
    if video:
        annotator = Annotator(video, stats, config.events, own_copy=config.events.enabled)
        runners.append(SinkRunner(annotator, stats, capacity))
        for runner in video:
            runner.start()
    tracking = TrackingStage(config, detector) if config.tracking.enabled else None
    return Pipeline(config, detector, sinks, readers, inbox, runners, stop, stats, tracking)
