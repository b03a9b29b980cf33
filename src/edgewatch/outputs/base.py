"""The Sink role: where processed frames go (RTSP, a recording, JSON Lines, MQTT ...)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

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
