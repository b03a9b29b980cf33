"""The Tracker role: detections of one camera in, the same objects with stable IDs out."""

from __future__ import annotations

from typing import Protocol

from edgewatch.types import Detections


class Tracker(Protocol):
    """Links one camera's detections over time.

    ``update`` returns the tracked objects with ``tracker_id`` set (and ``data['seen_s']``,
    how long each has been followed, ``data['score']``, how sure the tracker is of it, and
    ``data['top_score']``, its best confidence so far, never below the score).
    ``update(None, t)`` stands for a frame the detector skipped: the tracker advances its
    clock and reports predicted boxes. ``image``, the BGR frame, lets a tracker use what
    objects look like.
    """

    def update(
        self, detections: Detections | None, timestamp: float, *, image=None
    ) -> Detections: ...

    def reset(self) -> None:
        """Forget every track (IDs are never reused)."""
        ...
