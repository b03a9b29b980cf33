"""Which frames an output reports: every Nth per camera, and at once when the objects change.

Shared by the MQTT and InfluxDB outputs, so a broker and the database see the same frames.
"""

from __future__ import annotations

from collections import Counter

from pydantic import Field

from edgewatch.configbase import ConfigModel
from edgewatch.types import NO_TRACK, Detections


class ReportedOutputConfig(ConfigModel):
    """What the outputs that report detection messages (MQTT, InfluxDB) share."""

    every_n_frames: int = Field(
        30,
        ge=1,
        description="Report every Nth processed frame (1: every frame), and always at once "
        "when the objects in view change.",
    )
    report_on_change: bool = Field(
        True, description="Report at once when an object appears or leaves."
    )

    def report_policy(self) -> ReportPolicy:
        return ReportPolicy(self.every_n_frames, self.report_on_change)


def object_set(detections: Detections) -> tuple:
    """What "the objects changed" compares: per-label counts, and the track ids of
    tracked objects (a person swapped for another person is a change)."""
    counts = tuple(sorted(Counter(detections.labels).items()))
    tracked = detections.tracker_id != NO_TRACK
    if not tracked.any():
        return counts
    ids = sorted(
        zip(detections[tracked].labels, detections.tracker_id[tracked].tolist(), strict=True)
    )
    return counts, tuple(ids)


class ReportPolicy:
    """A camera's first frame is reported, then every ``every_n_frames``th, and (with
    ``on_change``) any frame whose objects differ from the previous frame's."""

    def __init__(self, every_n_frames: int, on_change: bool = True) -> None:
        self.every_n_frames = every_n_frames
        self.on_change = on_change
        self._last: dict[str, tuple[tuple, int]] = {}  # camera -> (object set, frames since)

    def due(self, camera: str, detections: Detections) -> bool:
        """Whether to report this frame; call it once for every frame, reported or not."""
        objects = object_set(detections)
        last = self._last.get(camera)
        changed = last is not None and last[0] != objects and self.on_change
        due = last is None or last[1] + 1 >= self.every_n_frames
        if not (due or changed):
            self._last[camera] = (objects, last[1] + 1)
            return False
        self._last[camera] = (objects, 0)
        return True
