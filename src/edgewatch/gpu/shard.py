"""One shard process of the GPU engine: its cameras decoded on NVDEC, detected in batches,
tracked, and the results sent to the main process.

    decode threads (one per camera): NVDEC -> NV12 on the GPU -> the batch collector
    this process's main thread: a batch (full, or the oldest frame waited max_wait_s)
        -> NV12 to 300x300 RGB, 16 frames a launch -> the SSD in fp16 -> boxes
        and NMS on the GPU -> only the final boxes to the host
    its tracking thread (the previous batch, while the next is on the GPU): each
        camera's tracker -> (the detection message) -> the results queue

Frames stay on the GPU; a camera's picture goes to the host only when something looks at
it: a video output that wants it now (an RTSP viewer, the web page's live view, a
recording; the main process raises the camera's flag in ``watched``), or its events,
while objects are in view (a snapshot is taken only of an object). Decoding, not inference,
is the ceiling (PLATFORM: NVDEC 4,000-5,000 1080p frames/s an H200; the SSD far more), so
a shard keeps many NVDEC sessions busy with threads (PyNvVideoCodec releases the GIL) and
the GPU is shared by several shard processes, each with its own Python interpreter for
the per-frame work (tracking, messages).
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edgewatch.gpu.shards import Shard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardJob:
    """What a shard process is asked to do (pickled to it: plain data only)."""

    shard: Shard
    sources: dict[str, str]  # camera -> file or URL
    detector: dict  # DetectorConfig fields
    tracker: dict | None  # TrackerConfig fields; None: untracked
    high_confidence: tuple[float, ...] = ()  # per class id: the user's thresholds (tracker)
    max_batch: int = 64
    max_wait_s: float = 0.02
    pace_fps: float | None = None  # every camera paced at this rate (the bench)
    paced: frozenset[str] = frozenset()  # cameras paced at their own rate (realtime files)
    # Paced cameras: when in its frame period each captures (0 to 1, default 0). Cameras
    # that run on their own clocks capture at moments spread over the period; all at 0,
    # every camera's frame arrives at one instant (the benchmark's worst case).
    phases: dict[str, float] = field(default_factory=dict)
    loop: bool = False  # every file starts again at its end (the bench)
    looped: frozenset[str] = frozenset()  # cameras whose file starts again at its end
    decode_only: bool = False  # the NVDEC ceiling: decode and count, nothing else
    run_s: float | None = None  # end this long after the shard's first decoded frame
    pictures: frozenset[str] = frozenset()  # cameras whose every BGR frame goes to the host
    watch_slots: dict[str, int] = field(default_factory=dict)  # camera -> its flag in watched
    events: frozenset[str] = frozenset()  # cameras whose frames with objects go to the host
    messages: bool = False  # build the detection message JSON here (the bench)
    model_path: str | None = None  # an ONNX build of the SSD to use instead of the cache
    decoder: str = "nvdec"  # or "cpu": OpenCV decoding (no NVDEC; the tests without a GPU)
    max_frames: int | None = None  # per camera, then it ends
    limits: dict[str, int] = field(default_factory=dict)  # per camera: its own max_frames
    max_waiting: int = 256  # frames waiting for detection past which new ones are dropped
    cuda_waiting: str = "blocking"  # how a thread waits for the GPU: "blocking" or "spin"
    gil_switch_s: float = 0.0005  # sys.setswitchinterval in the shard (Python's default 0.005)


@dataclass
class FrameResult:
    """One frame's outcome, sent to the main process."""

    camera: str
    index: int
    timestamp: float  # capture time (epoch seconds)
    width: int
    height: int
    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray
    data: dict[str, np.ndarray]  # the tracker's columns: seen_s, score
    picture: np.ndarray | None = None  # BGR, where something looks (see the module)
    message: bytes | None = None
    taken_at: float = 0.0  # epoch seconds: its batch left the collector
    detected_at: float = 0.0  # its batch's boxes reached the host


def run_shard(job: ShardJob, results, stop, ready=None, go=None, watched=None) -> None:
    """The shard process's body: ``results`` (a multiprocessing queue) gets lists of
    FrameResult, then ``("stats", shard index, dict)`` when the shard ends; ``stop`` (a
    multiprocessing event) ends it early. With ``ready`` (a shared counter) and ``go``
    (an event), the shard counts itself ready once its model is loaded and starts
    decoding only at ``go``: every shard of a benchmark starts at the same moment.
    ``watched``: shared flags, one per slot of ``job.watch_slots``, raised while a video
    output wants that camera's pictures."""
    import cv2
    import torch

    from edgewatch.gpu.device import set_cuda_waiting

    torch.set_num_threads(1)  # the shard's CPU work is per frame and small: no pools
    cv2.setNumThreads(1)
    # The decoding threads take the GIL for a moment per frame; behind a main thread
    # busy with a batch they would wait up to the switch interval each time (5 ms by
    # default, several times a frame), and a paced camera falls behind.
    sys.setswitchinterval(job.gil_switch_s)
    if job.shard.device.startswith("cuda"):
        device = torch.device(job.shard.device)
        set_cuda_waiting(device.index or 0, job.cuda_waiting)
        torch.cuda.set_device(device)
    started = time.perf_counter()
    try:
        figures = _Shard(job, results, stop, ready, go, watched).run()
    except Exception as error:  # the main process reports it; the shard cannot go on
        log.exception("GPU shard %d failed", job.shard.index)
        results.put(("error", job.shard.index, f"{type(error).__name__}: {error}"))
        return
    figures["wall_s"] = time.perf_counter() - started
    results.put(("stats", job.shard.index, figures))


class _Shard:
    def __init__(self, job: ShardJob, results, stop, ready=None, go=None, watched=None):
        from edgewatch.gpu.batching import BatchCollector

        self.job, self.results, self.stop = job, results, stop
        self.ready, self.go, self.watched = ready, go, watched
        self.gpu_id = int(job.shard.device.split(":")[1]) if ":" in job.shard.device else 0
        self.collector = BatchCollector(job.max_batch, job.max_wait_s)
        self.decoded: dict[str, int] = {}
        self.dropped: dict[str, int] = {}
        # Paced: how long after its capture each frame left the decoder (the latest, so
        # that a camera paced for days keeps no growing list).
        self.lag: deque[float] = deque(maxlen=100_000)
        self.first_frame, self.last_frame = float("inf"), 0.0  # epoch seconds, any camera
        self.decode_s = 0.0
        # CPU time by thread role: decoding, detecting (the main thread), tracking.
        self.cpu_s = {"decode_threads": 0.0, "main_thread": 0.0, "tracking_thread": 0.0}
        self.times = {"prepare": 0.0, "infer": 0.0, "track": 0.0, "send": 0.0}
        self._lock = threading.Lock()
        self._running = 0
        self._opening = set(job.sources)  # cameras whose first decoder is not primed yet
        self._opened = threading.Condition(self._lock)
        self._started = threading.Event()  # decoded frames may flow
        self.detector_kind: str | None = None  # how its SSD runs (None: decoding only)

    def run(self) -> dict:
        detector = trackers = None
        if not self.job.decode_only:
            detector, trackers = self._load()
            self.detector_kind = detector.describe()
        threads = [
            threading.Thread(target=self._decode, args=(camera, source), daemon=True)
            for camera, source in self.job.sources.items()
        ]
        self._running = len(threads)
        for thread in threads:
            thread.start()  # each opens and primes its decoder, then waits for _started
        if self.go is not None:
            with self._opened:
                while self._opening and not self.stop.is_set():
                    self._opened.wait(0.1)
            with self.ready.get_lock():
                self.ready.value += 1
            while not (self.go.wait(0.1) or self.stop.is_set()):
                pass
        self._started.set()
        if self.job.decode_only:
            for thread in threads:
                thread.join()
        else:
            self._detect_and_track(detector, trackers)
        return {
            "decoded": sum(self.decoded.values()),
            "dropped": sum(self.dropped.values()),
            "decode_s": self.decode_s,
            "lag_p95_s": float(np.percentile(self.lag, 95)) if self.lag else 0.0,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            **{f"{stage}_s": seconds for stage, seconds in self.times.items()},
            **{f"{role}_cpu_s": seconds for role, seconds in self.cpu_s.items()},
            **self.collector.stats(),
            "detector": self.detector_kind,
        }

    def _load(self):
        import torch

        from edgewatch.detect.base import DetectorConfig
        from edgewatch.gpu.frames import detector_input, nv12_to_bgr_host
        from edgewatch.gpu.ssd_torch import TorchSsd
        from edgewatch.track.cameras import CameraTrackers
        from edgewatch.track.config import TrackerConfig

        config = DetectorConfig(**self.job.detector)
        detector = TorchSsd(config, device=self.job.shard.device, model_path=self.job.model_path)
        detector.warm_up(self.job.max_batch)
        # The detector input's and the pictures' kernels too, before the first frame:
        # CUDA loads a kernel at its first launch (see `TorchSsd.warm_up`).
        blank = torch.zeros((1080 * 3 // 2, 1920), dtype=torch.uint8, device=detector.device)
        detector_input([blank], detector.input_size)
        nv12_to_bgr_host(blank)
        trackers = None
        if self.job.tracker is not None:
            high = None
            if self.job.high_confidence:
                high = np.array(self.job.high_confidence, np.float32)
            # One tracker, a lane a camera: a batch's frames are tracked a round at a time.
            trackers = CameraTrackers(
                self.job.sources, TrackerConfig(**self.job.tracker), detector.class_names,
                high_confidence=high, together=True,
            )  # fmt: skip
        return detector, trackers

    def _decode(self, camera: str, source: str) -> None:
        """Decodes one camera until it ends, the limit, or ``stop``. A live camera (a
        URL) that fails or ends is opened again, after 1 s doubling to 30 s."""
        live = "://" in source
        backoff = 1.0
        cpu = time.thread_time()
        try:
            while not self.stop.is_set():
                try:
                    self._decode_once(camera, source, live)
                    backoff = 1.0
                except Exception as error:  # one camera's failure is that camera's only
                    log.error("camera %s: GPU decoding failed: %s", camera, error)
                self._primed(camera)  # a camera that cannot open keeps no one waiting
                if not live or self.stop.wait(backoff):
                    break
                backoff = min(backoff * 2, 30.0)
        finally:
            self._primed(camera)
            with self._lock:
                self.cpu_s["decode_threads"] += time.thread_time() - cpu
                self._running -= 1
                if self._running == 0:
                    self.collector.close()

    def _decode_once(self, camera: str, source: str, live: bool) -> None:
        from edgewatch.gpu.decode import open_decoder

        job = self.job
        loop = job.loop or camera in job.looped
        # Live and paced cameras want each frame now; a file read as fast as it goes
        # wants throughput (see NvDecoder's ``immediate``).
        immediate = live or bool(job.pace_fps) or camera in job.paced
        decoder = open_decoder(
            source, self.gpu_id, loop=loop, kind=job.decoder, immediate=immediate
        )
        decoder.prime()
        self._primed(camera)
        while not (self._started.wait(0.1) or self.stop.is_set()):
            pass
        rate = job.pace_fps or (decoder.fps if camera in job.paced else None)
        begin = time.time() + (job.phases.get(camera, 0.0) / rate if rate else 0.0)
        limit = job.limits.get(camera, job.max_frames)
        # Live and paced cameras drop a frame when detection is behind, as on the CPU;
        # a file read as fast as it goes waits instead: every frame of it is detected.
        lossy = live or rate is not None
        pace = None
        if rate:

            def pace(packet: int) -> None:  # a packet waits for its moment
                wait = begin + packet / rate - time.time()
                if wait > 0:
                    time.sleep(wait)

        try:
            for index, nv12 in decoder.frames(pace):
                if self.stop.is_set() or index == limit or self._over():
                    break
                timestamp = self._captured(begin, index, rate)
                self.decoded[camera] = self.decoded.get(camera, 0) + 1
                self.first_frame = min(self.first_frame, timestamp)
                self.last_frame = max(self.last_frame, timestamp)
                if self.job.decode_only:
                    continue
                while self.collector.waiting() >= self.job.max_waiting:
                    if lossy:
                        self.dropped[camera] = self.dropped.get(camera, 0) + 1
                        break
                    time.sleep(0.002)
                else:
                    self.collector.put((camera, index, timestamp, nv12))
        finally:
            with self._lock:
                self.decode_s += decoder.decode_s

    def _primed(self, camera: str) -> None:
        """``camera``'s decoder has its first frame (or failed): one less to wait for."""
        with self._opened:
            self._opening.discard(camera)
            self._opened.notify_all()

    def _over(self) -> bool:
        """``run_s`` has passed since the first frame (not since the start: starting a
        dozen processes with CUDA takes seconds, and unevenly)."""
        return self.job.run_s is not None and time.time() - self.first_frame > self.job.run_s

    def _captured(self, begin: float, index: int, rate: float | None) -> float:
        """The frame's capture time: now, or, paced (a file standing in for a live
        camera), the moment its camera would have taken it; how long after that it left
        the decoder counts as its lag."""
        now = time.time()
        if not rate:
            return now
        captured = begin + index / rate
        self.lag.append(max(now - captured, 0.0))
        return captured

    def _detect_and_track(self, detector, trackers) -> None:
        """This thread detects batch after batch; a second one tracks them and sends the
        results, so that a batch's tracking (Python, holding the GIL) runs while the next
        batch is on the GPU (waits there release the GIL) instead of after it."""
        handoff: queue.Queue = queue.Queue(maxsize=2)  # batches detected, not yet tracked
        failed: list[BaseException] = []

        def track() -> None:
            cpu = time.thread_time()
            try:
                while (item := handoff.get()) is not None:
                    self._track(*item, trackers)
            except BaseException as error:  # the shard fails with it, in the main thread
                failed.append(error)
                while handoff.get() is not None:  # unblock the detecting thread
                    pass
            finally:
                self.cpu_s["tracking_thread"] = time.thread_time() - cpu

        tracking = threading.Thread(target=track, name="tracking", daemon=True)
        tracking.start()
        cpu = time.thread_time()
        try:
            while not failed and (batch := self.collector.take()):
                handoff.put((batch, *self._detect(batch, detector)))
        finally:
            handoff.put(None)
            tracking.join()
            self.cpu_s["main_thread"] = time.thread_time() - cpu
        if failed:
            raise failed[0]

    def _detect(self, batch: list, detector) -> tuple:
        """The batch's detections, sizes and when it was taken and detected."""
        from edgewatch.gpu.frames import detector_input

        clock = time.perf_counter
        taken_at = time.time()
        t0 = clock()
        frames = [item[3] for item in batch]
        images = detector_input(frames, detector.input_size)
        t1 = clock()
        rows = detector.infer(images)
        sizes = [(f.shape[0] * 2 // 3, f.shape[1]) for f in frames]
        found = detector.postprocess(rows, sizes)  # the one host sync
        self.times["prepare"] += t1 - t0
        self.times["infer"] += clock() - t1  # inference and boxes: one sync point
        return found, sizes, taken_at, time.time()

    def _track(self, batch: list, found: list, sizes: list, taken_at: float,
               detected_at: float, trackers) -> None:  # fmt: skip
        from edgewatch.gpu.frames import nv12_to_bgr_host

        clock = time.perf_counter
        t2 = clock()
        if trackers is not None:
            found = trackers.update_batch(
                [(camera, detections, timestamp) for (camera, _, timestamp, _), detections
                 in zip(batch, found, strict=True)]
            )  # fmt: skip
        out = []
        for (camera, index, timestamp, nv12), detections, (height, width) in zip(
            batch, found, sizes, strict=True
        ):
            picture = nv12_to_bgr_host(nv12) if self._looked_at(camera, detections) else None
            result = FrameResult(
                camera, index, timestamp, width, height, detections.xyxy,
                detections.confidence, detections.class_id, detections.tracker_id,
                detections.data, picture, taken_at=taken_at, detected_at=detected_at,
            )  # fmt: skip
            if self.job.messages:
                result.message = _message(result, detections)
            out.append(result)
        t3 = clock()
        self.results.put(out)
        self.times["track"] += t3 - t2
        self.times["send"] += clock() - t3

    def _looked_at(self, camera: str, detections) -> bool:
        """Whether this frame's picture goes to the host (see the module's docstring)."""
        job = self.job
        if camera in job.pictures or (camera in job.events and len(detections)):
            return True
        slot = job.watch_slots.get(camera)
        return slot is not None and self.watched is not None and bool(self.watched[slot])


def _message(result: FrameResult, detections) -> bytes:
    from edgewatch.outputs.message import build_message
    from edgewatch.types import Frame, no_picture

    frame = Frame(
        result.camera, result.index, result.timestamp,
        yuv=no_picture(result.width, result.height),
    )  # fmt: skip
    return json.dumps(build_message(frame, detections)).encode()
