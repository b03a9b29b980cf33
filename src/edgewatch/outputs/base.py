"""The Sink role: where processed frames go (RTSP, a recording, JSON Lines, MQTT ...),
and the optional abilities a sink may declare."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from edgewatch.types import Detections, Frame


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a sink needs to know about a camera before its first frame arrives."""

    camera: str
    width: int
    height: int
    fps: float


class Sink(Protocol):
    """Takes every processed frame of every camera.

    The pipeline calls `write` from one thread of its own per sink, behind a bounded
    queue, so a slow sink never stalls detection. ``wants_annotated`` sinks receive
    frames with boxes already drawn. ``lossless`` sinks make the pipeline wait when their
    queue is full; the others lose their oldest queued frame (counted) instead.
    """

    name: str
    wants_annotated: bool
    lossless: bool

    def open(self, streams: Sequence[StreamInfo]) -> None: ...

    def write(self, frame: Frame, detections: Detections) -> None: ...

    def close(self) -> None:
        """Flush and release everything; called once, after the last `write`."""
        ...


# Optional abilities. The pipeline checks for them with isinstance(), so a sink has one
# by defining the method: nothing to inherit, nothing to register.


@runtime_checkable
class ReportsStats(Protocol):
    """Figures for the run summary and the system statistics (published, dropped ...)."""

    def stats(self) -> dict: ...


@runtime_checkable
class TakesSystemStats(Protocol):
    """Sends the box's health sample (CPU, memory, GPU, the pipeline's figures) on, every
    ``pipeline.system_interval_s``; called from the pipeline's supervising thread."""

    def publish_system(self, sample: dict) -> None: ...


@runtime_checkable
class Publisher(Protocol):
    """Queues one MQTT message on a camera's connection (the MQTT output), and tells Home
    Assistant about labels seen."""

    def publish(self, topic: str, payload: bytes, camera: str, *, retain: bool = False) -> None: ...

    def announce(self, camera: str, label: str, zone: str | None = None) -> None: ...


@runtime_checkable
class Relay(Protocol):
    """Sends through other sinks (events publish through the MQTT output): the pipeline
    closes it before them, so its last messages still go out."""

    def relays_through(self) -> Sequence[object]: ...


@runtime_checkable
class Watched(Protocol):
    """A video output that needs frames only while someone watches (RTSP): when none of
    the video outputs does, the drawing stage draws nothing."""

    def watched(self, camera: str) -> bool: ...


@runtime_checkable
class Selective(Protocol):
    """Takes a camera's frames only while it ``wants`` them (the drawing stage, when no
    video output wants them): the pipeline does not even queue the others."""

    def wants(self, camera: str) -> bool: ...
