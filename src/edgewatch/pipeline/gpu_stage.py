"""The GPU engine in `edgewatch run`: shard processes decode (NVDEC), detect and track
every camera; this stage hands their results to the outputs, in place of the camera
readers and the detection stage of the CPU pipeline.

A camera's picture comes to the host only when something looks at it: a video output
that wants it now (an RTSP viewer connected, the web page's live view open, a recording;
`VideoStage.wants`, asked five times a second) or, with events on, a frame with objects
in view (their snapshots). MQTT, InfluxDB and JSON lines need only the boxes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from edgewatch.config import Config
from edgewatch.detect.coco import COCO_CLASS_NAMES
from edgewatch.detect.filters import DetectionFilter
from edgewatch.errors import SourceError
from edgewatch.gpu.shard import FrameResult, ShardJob
from edgewatch.gpu.shards import default_processes, plan_shards
from edgewatch.outputs.base import StreamInfo
from edgewatch.paths import sample_clip
from edgewatch.sources import create_source
from edgewatch.stats import PipelineStats
from edgewatch.types import Detections, Frame, no_picture

log = logging.getLogger(__name__)

Submit = Callable[[Frame, Detections], None]


def shard_jobs(
    config: Config, detector: dict, device: str, *, video: bool = False,
    processes: int | None = None,
) -> list[ShardJob]:  # fmt: skip
    """The cameras spread over shard processes on ``device`` ("cuda:N", or "cpu" with
    OpenCV decoding: the same layout where there is no GPU); ``detector``:
    the detector config's fields (down to the tracker's low threshold). ``video``: a
    video output may want the cameras' pictures (each gets a flag to raise then).
    ``processes``: shard processes (default: one per core, no more than cameras)."""
    cameras = {camera.name: camera for camera in config.cameras}
    slots = {name: slot for slot, name in enumerate(cameras)} if video else {}
    events = config.events.enabled
    processes = processes or default_processes(len(cameras), os.cpu_count() or 1)
    high = tuple(DetectionFilter(config.detector, COCO_CLASS_NAMES).thresholds.tolist())
    # Colours need the picture on the host: on the GPU path the tracker uses position.
    tracker = config.tracking.model_copy(update={"appearance": False}).model_dump(mode="json")
    jobs = []
    for shard in plan_shards(list(cameras), processes, [int(device.partition(":")[2] or 0)]):
        mine = [cameras[name] for name in shard.cameras]
        on_cpu = device == "cpu"  # the engine's layout without a GPU: its tests in CI
        jobs.append(
            ShardJob(
                replace(shard, device="cpu") if on_cpu else shard,
                {c.name: str(sample_clip() if c.source == "sample" else c.source) for c in mine},
                detector,
                tracker if config.tracking.enabled else None,
                high,
                max_batch=max(config.detector.batch_size, 64),  # 64: GPU time a frame flattens
                watch_slots={name: slots[name] for name in shard.cameras if name in slots},
                events=frozenset(shard.cameras) if events else frozenset(),
                looped=frozenset(c.name for c in mine if c.looped),
                paced=frozenset(c.name for c in mine if c.paced),
                limits={c.name: c.max_frames for c in mine if c.max_frames},
                decoder="cpu" if on_cpu else "nvdec",
                model_path=str(config.detector.model_path or "") or None,
            )
        )
    return jobs


def gpu_decodes(config: Config) -> bool:
    """Every camera is one NVDEC can take (files, RTSP, HTTP; not a V4L2 webcam) and
    PyNvVideoCodec is installed."""
    from edgewatch.gpu.decode import nvdec_available

    return nvdec_available() and not any(
        str(camera.source).startswith("/dev/video") for camera in config.cameras
    )


def probe_streams(config: Config) -> list[StreamInfo]:
    """Each camera's size and rate for the outputs, read once on the CPU; a live camera
    not reachable yet gets its configured size (or 1280x720), as in the CPU pipeline."""
    streams = []
    for camera in config.cameras:
        source = create_source(camera)
        try:
            width, height, fps = source.open()
        except SourceError as error:
            if not source.live:
                raise
            log.warning("%s; the GPU engine will keep retrying", error)
            width, height, fps = camera.width or 1280, camera.height or 720, camera.fps or 25.0
        finally:
            source.close()
        streams.append(StreamInfo(camera.name, width, height, fps))
    return streams


class GpuStage:
    """Runs until every shard has ended or ``stop`` is set; the CPU detection stage's
    interface for `Pipeline` (``run``, ``frames_done``, ``heartbeat``). ``wants``: whether
    a video output wants a camera's pictures now."""

    WATCH_INTERVAL_S = 0.2  # how often ``wants`` is asked: a viewer's picture starts soon

    def __init__(
        self, jobs: Sequence[ShardJob], stats: PipelineStats, stop: threading.Event,
        wants: Callable[[str], bool] | None = None,
    ) -> None:  # fmt: skip
        self.jobs, self.stats, self.stop, self.wants = list(jobs), stats, stop, wants
        self.frames_done: dict[str, int] = {}
        self.heartbeat: Callable[[], None] = lambda: None

    def run(self, outputs: Sequence[Submit]) -> None:
        from edgewatch.gpu.engine import GpuEngine

        ended = threading.Event()
        with GpuEngine(self.jobs) as engine:
            threading.Thread(target=lambda: (self.stop.wait(), engine.stop()), daemon=True).start()
            if self.wants is not None:
                self._follow_viewers(engine, ended)
            try:
                self._hand_over(engine, outputs)
            finally:
                ended.set()
        for index, error in engine.errors.items():
            log.error("GPU shard %d ended: %s", index, error)

    def _hand_over(self, engine, outputs: Sequence[Submit]) -> None:
        for result in engine.results():
            self.heartbeat()
            frame, detections = _frame(result), _detections(result)
            # Capture to here: decoding, detection, tracking and the hand-over.
            self.stats.time("gpu.latency", time.time() - result.timestamp)
            self.frames_done[frame.camera] = self.frames_done.get(frame.camera, 0) + 1
            for submit in outputs:
                submit(frame, detections)

    def _follow_viewers(self, engine, ended: threading.Event) -> None:
        """Raises and lowers each camera's picture flag as viewers come and go, now and
        then every `WATCH_INTERVAL_S` until ``ended``."""

        def update() -> None:
            for camera in engine.watchable:
                engine.watch(camera, self.wants(camera))

        def follow() -> None:
            while not ended.wait(self.WATCH_INTERVAL_S):
                update()

        update()
        threading.Thread(target=follow, name="gpu-viewers", daemon=True).start()


def _frame(result: FrameResult) -> Frame:
    if result.picture is not None:
        return Frame(result.camera, result.index, result.timestamp, result.picture)
    return Frame(
        result.camera, result.index, result.timestamp,
        yuv=no_picture(result.width, result.height),
    )  # fmt: skip


def _detections(result: FrameResult) -> Detections:
    return Detections(
        xyxy=result.xyxy,
        confidence=result.confidence,
        class_id=result.class_id,
        tracker_id=result.tracker_id,
        class_names=COCO_CLASS_NAMES,
        data=dict(result.data),
    )
