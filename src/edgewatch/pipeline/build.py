"""Assembling a pipeline from the config: cameras opened, detector loaded, outputs opened.
Nothing runs yet; `Pipeline.run` starts every thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import numpy as np

from edgewatch.config import Config
from edgewatch.detect.base import Detector, DetectorConfig, SquareInput, ThreadSafe
from edgewatch.draw.annotate import Annotator
from edgewatch.errors import EdgewatchError, SourceError
from edgewatch.gpu.device import resolve_device
from edgewatch.machine import usable_cores
from edgewatch.outputs.base import Sink, StreamInfo
from edgewatch.pipeline.detection import DetectionStage
from edgewatch.pipeline.gating import CameraGate
from edgewatch.pipeline.outputs import create_sinks
from edgewatch.pipeline.pipeline import Pipeline
from edgewatch.pipeline.queues import FrameInbox
from edgewatch.pipeline.runners import SinkRunner, VideoStage
from edgewatch.sources import create_source
from edgewatch.sources.reader import CameraReader
from edgewatch.stats import PipelineStats
from edgewatch.track.cameras import CameraTrackers
from edgewatch.types import Frame

log = logging.getLogger(__name__)


def build_pipeline(
    config: Config,
    *,
    detector: Detector | None = None,
    sinks: Sequence[Sink] | None = None,
    stop: threading.Event | None = None,
) -> Pipeline:
    """Open the cameras, load the detector and open the outputs; raises EdgewatchError
    for anything the user must fix before a run can start.

    ``detector``: use this one instead of the config's. ``sinks``: these outputs instead
    of the ones the config turns on (`edgewatch.pipeline.outputs.create_sinks` gives those,
    to run beside your own). ``stop``: set it to end the run (the CLI sets it on SIGINT).
    """
    stop = stop or threading.Event()
    stats = PipelineStats()
    inbox: FrameInbox[Frame] = FrameInbox(
        [c.name for c in config.cameras], config.pipeline.camera_queue
    )
    device = "cpu" if detector is not None else resolve_device(config.detector.device)
    if device != "cpu":
        from edgewatch.pipeline.gpu_stage import gpu_decodes

        if gpu_decodes(config):
            return build_gpu_pipeline(config, device, sinks, stop, stats, inbox)
        from edgewatch.gpu.ssd_torch import TorchSsd

        log.info("detecting on %s; decoding on the CPU (PyNvVideoCodec is not installed)", device)
        detector = TorchSsd(detector_config(config), device=device)
    gates: dict[str, CameraGate] = {}
    readers, streams = open_streams(config, stop, stats, inbox, gates)
    try:
        if detector is None:
            from edgewatch.detect import create_detector

            detector = create_detector(detector_config(config))
            warm_up(detector, config.detector.batch_size)
        sinks = list(create_sinks(config) if sinks is None else sinks)
        open_sinks(sinks, streams)
    except EdgewatchError:
        for reader in readers:
            reader.source.close()
        raise
    if isinstance(detector, SquareInput):
        for gate in gates.values():
            gate.input_size = detector.input_size
    video, runners = _runners(config, sinks, stats)
    detection = DetectionStage(
        inbox,
        detector,
        trackers(config, detector),
        batch_size=config.detector.batch_size,
        stats=stats,
        stop=stop,
        workers=detector_workers(config, detector),
        gates=gates,
        live={reader.camera.name for reader in readers if reader.realtime},
    )
    return Pipeline(config, detector, sinks, readers, inbox, detection, runners, video, stop, stats)


def _runners(
    config: Config, sinks: Sequence[Sink], stats: PipelineStats
) -> tuple[list[SinkRunner], list[SinkRunner]]:
    """(video runners, the other runners with the drawing stage that feeds the video)."""
    capacity = config.pipeline.sink_queue
    video = [SinkRunner(s, stats, capacity) for s in sinks if s.wants_annotated]
    runners = [SinkRunner(s, stats, capacity) for s in sinks if not s.wants_annotated]
    if video:
        annotator = Annotator(
            {c.name: (config.events.zones_of(c.name), config.events.lines_of(c.name))
             for c in config.cameras},
            copy=config.events.enabled,
            motion={c.name for c in config.cameras if c.draw_motion},
        )  # fmt: skip
        runners.append(SinkRunner(VideoStage(annotator, video, stats), stats, capacity))
    return video, runners


def build_gpu_pipeline(
    config: Config,
    device: str,
    sinks: Sequence[Sink] | None,
    stop: threading.Event,
    stats: PipelineStats,
    inbox: FrameInbox[Frame],
) -> Pipeline:
    """The GPU engine in place of the camera readers and the detection stage: every
    camera decoded on NVDEC, detected and tracked in shard processes on ``device``."""
    from edgewatch.pipeline.gpu_stage import GpuStage, probe_streams, shard_jobs

    streams = probe_streams(config)
    sinks = list(create_sinks(config) if sinks is None else sinks)
    open_sinks(sinks, streams)
    video, runners = _runners(config, sinks, stats)
    detector = detector_config(config).model_dump(mode="json")
    jobs = shard_jobs(config, detector, device, video=bool(video))
    drawing = next((r.sink for r in runners if isinstance(r.sink, VideoStage)), None)
    log.info(
        "GPU engine on %s: %d camera(s) in %d shard process(es), decoding on NVDEC",
        device, len(config.cameras), len(jobs),
    )  # fmt: skip
    stage = GpuStage(jobs, stats, stop, wants=drawing.wants if drawing else None)
    return Pipeline(config, None, sinks, [], inbox, stage, runners, video, stop, stats)


GATE_INPUT = 300  # crop side for motion gating until the detector says its own


def warm_up(detector: Detector, batch_size: int) -> None:
    """One full batch before the first frame: the runtime sizes its memory for the largest
    batch now, not minutes into the run (where it would look like a leak), and the first
    camera frame does not wait for it."""
    detector.detect([np.zeros((300, 300, 3), np.uint8)] * batch_size)


def detector_workers(config: Config, detector: Detector) -> int:
    """``detector.workers``, or one per core this process may use; one for a detector
    that cannot run in several threads at once."""
    if not (isinstance(detector, ThreadSafe) and detector.thread_safe):
        return 1
    return config.detector.workers or usable_cores()


def detector_config(config: Config) -> DetectorConfig:
    """With tracking on, the detector reports down to the tracker's low threshold: the
    tracker's second stage continues tracks with them (a person half hidden)."""
    detector = config.detector
    if not config.tracking.enabled:
        return detector
    low = config.tracking.low_confidence
    return detector.model_copy(
        update={
            "confidence": min(detector.confidence, low),
            "class_confidence": {k: min(v, low) for k, v in detector.class_confidence.items()},
        }
    )


def trackers(config: Config, detector: Detector) -> CameraTrackers | None:
    """One tracker per camera. The user's per-class thresholds mark which detections are
    "high" (start and first-match tracks); the rest can only continue a followed track."""
    if not config.tracking.enabled:
        return None
    from edgewatch.detect.filters import DetectionFilter

    thresholds = DetectionFilter(config.detector, detector.class_names).thresholds
    return CameraTrackers(
        [camera.name for camera in config.cameras],
        config.tracking,
        detector.class_names,
        high_confidence=thresholds,
    )


def open_sinks(sinks: Sequence[Sink], streams: Sequence[StreamInfo]) -> None:
    """Open each output; if one cannot open, close those opened before and re-raise."""
    opened: list[Sink] = []
    try:
        for sink in sinks:
            sink.open(streams)
            opened.append(sink)
    except EdgewatchError:
        for sink in opened:
            sink.close()
        raise


def open_streams(
    config: Config,
    stop: threading.Event,
    stats: PipelineStats,
    inbox: FrameInbox[Frame],
    gates: dict[str, CameraGate],
) -> tuple[list[CameraReader], list[StreamInfo]]:
    """Open every camera once, to fail fast on a bad file and learn each frame size.

    A live camera that cannot be reached yet is not an error: its reader keeps trying,
    and its outputs start with the size configured for it (or 1280x720). Each camera's
    motion gate (filled into ``gates``) sees every frame in the camera's reader thread.
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
        if source.live and opened:
            # Probed for its size only: frames would pile up until the run starts and then
            # arrive seconds old. The reader connects again when it starts.
            source.close()
            opened = None
        realtime, loop = camera.paced, camera.looped

        # Refreshes spread over the cameras: not all of them in one instant.
        offset = camera.motion.refresh_s * len(gates) / max(len(config.cameras), 1)
        gate = gates[camera.name] = CameraGate(
            camera, width, height, input_size=GATE_INPUT, offset=offset
        )

        # A paced file keeps time as a live camera does: behind, it drops its oldest frame.
        lossless = not (source.live or realtime)

        def handle(frame: Frame, name=camera.name, lossless=lossless, gate=gate) -> bool:
            gate.observe(frame)
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
