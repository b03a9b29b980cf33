"""The live view behind the web dashboard: each camera's latest annotated picture as a
JPEG, and what is going on there now (state, frames/s, objects in view).

Two sinks share the state, because the drawing stage hands annotated frames only to the
video outputs somebody watches:

- `LiveSink` (a video output, ``Watched``) gets the annotated frames of the cameras a
  browser shows, and encodes at most ``web.live_fps`` JPEGs a second of each. Nobody
  watching: the drawing stage draws nothing for it and nothing is encoded.
- `CameraStateSink` (``LiveSink.state_sink``) gets every frame undrawn and only notes its
  number, time, size and detections: the cameras' state and figures without a picture.

Written by the pipeline's runner threads, read by the web server's request threads: all
state sits behind one lock, and JPEG encoding happens outside it.

A camera's ``state``: ``starting`` (no frame yet), ``live`` (a frame within `STALL_S`),
``stalled`` (none since), ``reconnecting`` (a live camera whose stream was lost: its
reader failed to connect since the last frame, or it has been silent past its
``timeout_s``), ``ended`` (its reader finished, its ``max_frames`` were read, or the
pipeline closed). Its objects in view are those of its latest frame while it is ``live``,
and none in any other state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from edgewatch.outputs.base import StreamInfo
from edgewatch.outputs.web import WebConfig
from edgewatch.sources.base import CameraConfig
from edgewatch.stats import sample_key
from edgewatch.types import Detections, Frame

log = logging.getLogger(__name__)

STALL_S = 5.0  # no frame for this long: the camera has stalled
WATCH_S = 3.0  # a picture fetched this recently: somebody watches the camera
FPS_WINDOW = 30  # frame arrivals the frame rate is measured over


@dataclass(frozen=True, slots=True)
class SourceFigures:
    """What the pipeline knows of one camera's reader beyond the frames it delivered."""

    live: bool | None  # a camera (RTSP, HTTP, V4L2), not a file; None: tell by its source
    ended: bool = False  # its reader has finished for good
    reconnects: int = 0
    reconnect_failures: int = 0
    drops: int = 0  # frames lost before detection (full queue, a file behind its clock)


#: Reads the figures of every camera now; `LiveSink.follow` takes it.
FiguresProbe = Callable[[], Mapping[str, SourceFigures]]


class _Camera:
    """One camera's state; guarded by the `LiveSink` lock."""

    __slots__ = (
        "name", "config", "width", "height", "arrivals", "last_seen", "last_frame",
        "last_time", "detections", "jpeg", "seq", "next_picture", "watched_until",
        "encoded", "encode_s", "failures_live",
    )  # fmt: skip

    def __init__(self, name: str, config: CameraConfig | None = None) -> None:
        self.name, self.config = name, config
        self.width = self.height = 0
        self.arrivals: deque[float] = deque(maxlen=FPS_WINDOW)  # monotonic times
        self.last_seen: float | None = None  # monotonic time of the latest frame
        self.last_frame: int | None = None
        self.last_time: float | None = None  # its capture time (epoch seconds)
        self.detections: Detections | None = None
        self.jpeg: bytes | None = None
        self.seq = 0  # pictures encoded so far; MJPEG waits for the next
        self.next_picture = 0.0
        self.watched_until = 0.0
        self.encoded, self.encode_s = 0, 0.0
        self.failures_live = 0  # reconnect failures counted when last seen live

    def fps(self, now: float) -> float:
        if len(self.arrivals) < 2 or now - self.arrivals[-1] >= STALL_S:
            return 0.0
        span = self.arrivals[-1] - self.arrivals[0]
        return round((len(self.arrivals) - 1) / span, 2) if span > 0 else 0.0

    def state(self, figures: SourceFigures | None, now: float, closed: bool) -> str:
        if closed or (figures is not None and figures.ended):
            return "ended"
        live = figures.live if figures is not None else None
        if live is None:
            live = self.config is not None and self.config.live
        failures = figures.reconnect_failures if figures is not None else 0
        if self.last_seen is not None and now - self.last_seen < STALL_S:
            self.failures_live = failures
            return "live"
        limit = self.config.max_frames if self.config else None
        if limit is not None and self.last_frame is not None and self.last_frame + 1 >= limit:
            return "ended"
        if live:
            timeout = self.config.timeout_s if self.config else 10.0
            lost = self.last_seen is not None and now - self.last_seen >= timeout
            if failures > self.failures_live or lost:
                return "reconnecting"
        return "starting" if self.last_seen is None else "stalled"

    def describe(self, figures: SourceFigures | None, now: float, closed: bool) -> dict:
        """What `LiveSink.cameras` tells of it. Objects are in view only while the camera
        is live: the last frame's detections of an ended or silent camera are not there
        now."""
        state = self.state(figures, now, closed)
        detections = self.detections if state == "live" else None
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "fps": self.fps(now),
            "state": state,
            "last_frame": self.last_frame,
            "last_time": self.last_time,
            "objects": dict(sorted(Counter(detections.labels).items())) if detections else {},
            "detections": len(detections) if detections else 0,
        }


class LiveSink:
    """The dashboard's live pictures and camera states (see the module's docstring).

    The web app calls `cameras`, `latest_jpeg`, `wait_for_jpeg` and `system`; fetching a
    camera's picture is what makes it watched for the next `WATCH_S` seconds.
    """

    name = "live"
    wants_annotated = True
    lossless = False

    def __init__(self, config: WebConfig, cameras: Sequence[CameraConfig] = ()) -> None:
        self.config = config
        self._period = 1.0 / config.live_fps
        self._cond = threading.Condition()
        self._cameras = {camera.name: _Camera(camera.name, camera) for camera in cameras}
        self._sample: dict = {}
        self._figures: FiguresProbe | None = None
        self._closed = False
        self.state_sink = CameraStateSink(self)

    def follow(self, figures: FiguresProbe) -> None:
        """Read each camera's reader figures (reconnects, drops, ended) through this when
        asked; `edgewatch.pipeline.outputs.live_view` calls it."""
        self._figures = figures

    # The Sink role, for the annotated frames of watched cameras.

    def open(self, streams: Sequence[StreamInfo]) -> None:
        with self._cond:
            for stream in streams:
                camera = self._camera(stream.camera)
                camera.width, camera.height = stream.width, stream.height

    def write(self, frame: Frame, detections: Detections) -> None:
        now = time.monotonic()
        with self._cond:
            camera = self._camera(frame.camera)
            if now >= camera.watched_until or now < camera.next_picture:
                return
            # At most live_fps a second in the long run; a frame a little early (jitter
            # of a camera at exactly live_fps) still counts.
            camera.next_picture = max(camera.next_picture + self._period, now + self._period / 2)
        import cv2

        started = time.perf_counter()
        ok, data = cv2.imencode(
            ".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality]
        )
        spent = time.perf_counter() - started
        if not ok:
            raise RuntimeError(f"JPEG encoding of a {frame.width}x{frame.height} frame failed")
        with self._cond:
            camera.jpeg = data.tobytes()
            camera.seq += 1
            camera.encoded += 1
            camera.encode_s += spent
            self._cond.notify_all()

    def watched(self, camera: str) -> bool:
        """A browser fetched this camera's picture within the last `WATCH_S` seconds."""
        state = self._cameras.get(camera)
        return state is not None and time.monotonic() < state.watched_until

    def close(self) -> None:
        self._end()

    # For the web app (request threads).

    def latest_jpeg(self, camera: str) -> bytes | None:
        """The latest annotated picture (None: none yet, or no such camera); marks the
        camera watched, so the next pictures get encoded."""
        found = self.wait_for_jpeg(camera, 0, 0.0)
        return found[1] if found else None

    def wait_for_jpeg(
        self, camera: str, after_seq: int, timeout: float
    ) -> tuple[int, bytes] | None:
        """The first picture newer than ``after_seq``, as (seq, JPEG); None when none came
        within ``timeout`` seconds, the camera is unknown, or the pipeline has ended.
        Keeps the camera watched while it waits (an MJPEG stream calls it in a loop)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            state = self._cameras.get(camera)
            if state is None:
                return None
            while True:
                now = time.monotonic()
                state.watched_until = now + WATCH_S
                if state.jpeg is not None and state.seq > after_seq:
                    return state.seq, state.jpeg
                if self._closed or now >= deadline:
                    return None
                self._cond.wait(min(deadline - now, 1.0))

    def cameras(self) -> list[dict]:
        """Per camera: name, width, height, fps (measured), state, last_frame (its index),
        last_time (its capture time), objects in view ({label: count}), detections."""
        figures = self._read(self._figures)
        now = time.monotonic()
        with self._cond:
            return [
                camera.describe(figures.get(camera.name), now, self._closed)
                for camera in self._cameras.values()
            ]

    def system(self) -> dict:
        """The latest system sample (`edgewatch.pipeline.system`'s flat numbers:
        cpu_percent, mem_percent, temp_*_c, gpu*_*, fps_<camera> ...; {} before the first),
        with each camera's ``reconnects_<camera>`` and ``dropped_camera_<camera>`` as they
        are now (the pipeline's own figures, spelled as the sample spells them)."""
        figures = self._read(self._figures)
        with self._cond:
            sample = dict(self._sample)
        for name, known in figures.items():
            key = sample_key(name)
            sample[f"reconnects_{key}"] = float(known.reconnects)
            sample[f"dropped_camera_{key}"] = float(known.drops)
        return sample

    # TakesSystemStats and ReportsStats.

    def publish_system(self, sample: dict) -> None:
        with self._cond:
            self._sample = dict(sample)

    def stats(self) -> dict:
        """Per camera: pictures encoded, their mean encode_ms (None before any), watched."""
        now = time.monotonic()
        with self._cond:
            return {
                camera.name: {
                    "pictures": camera.encoded,
                    "encode_ms": round(1000 * camera.encode_s / camera.encoded, 2)
                    if camera.encoded
                    else None,
                    "watched": now < camera.watched_until,
                }
                for camera in self._cameras.values()
            }

    # For CameraStateSink.

    def _observe(self, frame: Frame, detections: Detections) -> None:
        now = time.monotonic()
        with self._cond:
            camera = self._camera(frame.camera)
            camera.arrivals.append(now)
            camera.last_seen = now
            camera.last_frame, camera.last_time = frame.index, frame.timestamp
            camera.width, camera.height = frame.width, frame.height
            camera.detections = detections

    def _end(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()  # MJPEG streams end

    def _camera(self, name: str) -> _Camera:
        camera = self._cameras.get(name)
        if camera is None:
            camera = self._cameras[name] = _Camera(name)
        return camera

    @staticmethod
    def _read(probe: Callable[[], Mapping] | None) -> Mapping:
        """A probe's answer; {} without one, or when it fails (figures are never worth an
        error page)."""
        if probe is None:
            return {}
        try:
            return probe()
        except Exception:
            log.debug("reading the pipeline's figures failed", exc_info=True)
            return {}


class CameraStateSink:
    """Every frame, undrawn, for `LiveSink`'s camera states: the index, time, size and
    detections of the latest frame of each camera, and when it came."""

    name = "live-state"
    wants_annotated = False
    lossless = False

    def __init__(self, live: LiveSink) -> None:
        self.live = live

    def open(self, streams: Sequence[StreamInfo]) -> None:
        pass  # LiveSink.open takes the sizes

    def write(self, frame: Frame, detections: Detections) -> None:
        self.live._observe(frame, detections)

    def close(self) -> None:
        self.live._end()
