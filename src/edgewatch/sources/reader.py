"""One thread per camera: decode, pace, reconnect, and hand frames to the detector."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edgewatch.errors import SourceError
from edgewatch.sources.base import Source
from edgewatch.stats import PipelineStats
from edgewatch.supervise import SupervisedThread
from edgewatch.types import Frame

log = logging.getLogger(__name__)

LATE_S = 0.5  # a paced file this far behind its clock skips frames to catch up

#: Receives each decoded frame; returns False when the pipeline no longer takes frames.
FrameHandler = Callable[[Frame], bool]


class CameraReader(SupervisedThread):
    """Reads one source until its end, ``max_frames`` or ``stop``.

    A live source that fails (at start or later) is retried with exponential backoff and
    one log line per state change; the pipeline never dies because a camera did. A file
    source's errors end this camera only. A bug in the reader itself (an unexpected
    exception) restarts a live camera's reading and ends a file camera's.
    """

    def __init__(
        self,
        source: Source,
        handle: FrameHandler,
        stats: PipelineStats,
        stop: threading.Event,
        *,
        realtime: bool,
        loop: bool,
        opened: tuple[int, int, float] | None = None,
        on_finish: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(name=f"reader-{source.camera.name}", restart=source.live)
        self.source = source
        self.camera = source.camera
        self.handle = handle
        self.stats = stats
        self.stop_event = stop
        self.realtime = realtime or source.live
        self.loop = loop
        self.on_finish = on_finish
        self.frames_read = 0
        self.fps = opened[2] if opened else 10.0
        self.error: SourceError | None = None
        self._opened = opened  # the pipeline opens each source once to learn its size
        self._warned_late = False
        # A file's clock: wall and monotonic time of its first frame's moment. Set on the
        # first pass and kept by the next ones, so a looped file's time runs on evenly.
        self._clock: tuple[float, float] | None = None

    def work(self) -> None:
        if self.source.live:
            self._run_live()
        else:
            self._run_file()

    def finish(self) -> None:
        self.source.close()
        if self.on_finish:
            self.on_finish(self.camera.name)

    def _wait(self, seconds: float) -> bool:
        """Sleeps (beating) until ``seconds`` passed or stop is set; True when stopped."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.beat()
            if self.stop_event.wait(min(left, 1.0)):
                return True
        return self.stop_event.is_set()

    def _done(self) -> bool:
        limit = self.camera.max_frames
        return self.stop_event.is_set() or (limit is not None and self.frames_read >= limit)

    def _run_file(self) -> None:
        # Where each pass over a looped file starts on the file's clock: one frame interval
        # after the previous pass's last frame.
        offset = 0.0
        while not self._done():
            if self._opened is None:
                try:
                    self._opened = self.source.open()
                except SourceError as error:
                    self.error = error
                    log.error("%s", error)
                    return
            self.fps = self._opened[2]
            self._opened = None
            last = self._read_until_end(offset)
            if not self.loop or self.frames_read == 0:
                return
            offset = last + 1.0 / self.fps
            self.source.close()

    def _run_live(self) -> None:
        delay = 1.0
        connected_once = self._opened is not None  # opened by the pipeline at start
        while not self._done():
            if self._opened is None:
                try:
                    self._opened = self.source.open()
                except SourceError as error:
                    log.warning("%s; retrying in %.0f s", error, delay)
                    self.stats.count(f"reconnect_failures.{self.camera.name}")
                    if self._wait(delay):
                        return
                    delay = min(delay * 2, self.camera.reconnect_max_s)
                    continue
                if connected_once:
                    log.info("camera %s: reconnected", self.camera.name)
                    self.stats.count(f"reconnects.{self.camera.name}")
                connected_once = True
            delay = 1.0
            self.fps = self._opened[2]
            self._opened = None
            try:
                self._read_until_end(0.0)
            except SourceError as error:
                log.warning(
                    "camera %s: stream lost (%s); reconnecting", self.camera.name, error.problem
                )
            else:
                if not self._done():
                    log.warning("camera %s: stream ended; reconnecting", self.camera.name)
            self.source.close()

    def _late(self) -> None:
        self.stats.count(f"late.{self.camera.name}")
        if not self._warned_late:
            self._warned_late = True
            log.warning(
                "camera %s: the file decodes slower than real time; skipping frames to "
                "keep its clock (counted as late.%s)", self.camera.name, self.camera.name,
            )  # fmt: skip

    def _read_until_end(self, offset: float) -> float:
        """Decode and hand on frames; returns the last frame's time on the file's clock
        (``offset``, where this pass starts on it, plus its presentation time)."""
        fps = self.fps
        if self._clock is None:
            self._clock = (time.time(), time.monotonic())
        started_wall, started_mono = self._clock
        first_pts: float | None = None
        pts = 0.0
        decoded = 0  # frames of this pass, skipped ones too: the time of those without pts
        decode_started = time.perf_counter()
        for image, pts_or_none in self.source.frames():
            self.stats.time("decode", time.perf_counter() - decode_started)
            if pts_or_none is None:
                pts = decoded / fps
            else:
                first_pts = pts_or_none if first_pts is None else first_pts
                pts = pts_or_none - first_pts
            decoded += 1
            if self.source.live:
                timestamp = time.time()
            else:
                timestamp = started_wall + offset + pts
                if self.realtime:  # deliver as a camera would, not as fast as we can read
                    wait = started_mono + offset + pts - time.monotonic()
                    if wait > 0 and self._wait(wait):
                        break
                    if wait < -LATE_S:  # decoding is slower than the clip: skip to now
                        self._late()
                        decode_started = time.perf_counter()
                        continue
            frame = (
                Frame(self.camera.name, self.frames_read, timestamp, image)
                if image.ndim == 3
                else Frame(self.camera.name, self.frames_read, timestamp, yuv=image)
            )
            self.beat()
            if not self.handle(frame):
                break
            self.frames_read += 1
            self.stats.count(f"frames_in.{self.camera.name}")
            if self._done():
                break
            decode_started = time.perf_counter()
        return offset + pts
