"""What the event engine tells: episodes (one story per object) and happenings.

An `Episode` is one object's visit, from the moment it is confirmed until it is gone: it
changes (its best snapshot, the zones it is in, the lines it crossed, loitering) and each
change goes out as a `Change` (``new``, ``update``, ``end``) carrying the episode
``before`` and ``after``, as Frigate does, so that an automation listens in one place.

A `Happening` is one thing that happened in an episode (``entered``, ``zone_entered``,
``line_crossed`` ...): immutable, written once, listed and filtered on its own.

Messages carry ISO 8601 times (UTC, milliseconds) and rounded numbers.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

KINDS = ("entered", "left", "zone_entered", "zone_left", "line_crossed", "loitering")
CHANGE_TYPES = ("new", "update", "end")


def iso(t: float | None) -> str | None:
    """Epoch seconds as ISO 8601 in UTC with milliseconds: 2026-12-01T14:03:07.120Z."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id(start: float) -> str:
    """Sortable by time, unique without coordination: 20261124-165012-3f9a1c2b."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(start)) + "-" + uuid.uuid4().hex[:8]


@dataclass(slots=True)
class Happening:
    episode: str  # the episode's id
    camera: str
    kind: str
    label: str
    track_id: int
    time: float  # epoch seconds
    zone: str | None = None  # the zone or line; None for the scene
    direction: str | None = None  # line_crossed: "left->right" or "right->left"
    confidence: float = 0.0
    snapshot: str | None = None  # the frame it happened in, the rule drawn (relative path)

    def words(self) -> str:
        """What happened, in words: ``crossed gate left->right``, ``entered driveway``."""
        if self.kind == "line_crossed":
            return f"crossed {self.zone} {self.direction}"
        what = {"zone_entered": "entered", "zone_left": "left", "loitering": "loitering in"}
        return f"{what[self.kind]} {self.zone}" if self.kind in what else self.kind

    def to_dict(self) -> dict:
        return {
            "episode": self.episode,
            "camera": self.camera,
            "kind": self.kind,
            "event_type": self.kind,  # Home Assistant's event entity reads this key
            "label": self.label,
            "track_id": self.track_id,
            "time": iso(self.time),
            "zone": self.zone,
            "direction": self.direction,
            "confidence": round(self.confidence, 3),
            "snapshot": self.snapshot,
        }


@dataclass(slots=True)
class Crossing:
    line: str
    direction: str
    time: float


@dataclass(slots=True)
class Episode:
    id: str
    camera: str
    label: str
    track_id: int
    start: float
    end: float | None = None  # None while the object is in view
    score: float = 0.0  # the tracker's score of the object (median of recent confidences)
    top_score: float = 0.0  # the best confidence seen
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # last box, xyxy pixels
    zones: list[str] = field(default_factory=list)  # zones it is in now
    entered_zones: list[str] = field(default_factory=list)  # every zone it entered, in order
    crossings: list[Crossing] = field(default_factory=list)
    loitering: list[str] = field(default_factory=list)  # zones it loitered in
    snapshot: str | None = None  # best frame, annotated (relative to snapshots.dir)
    thumbnail: str | None = None  # a crop of the object in that frame
    snapshot_time: float | None = None
    stationary: bool = False  # has stood still (a parked car)

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def copy(self) -> Episode:
        return Episode(
            self.id, self.camera, self.label, self.track_id, self.start, self.end,
            self.score, self.top_score, self.box, list(self.zones), list(self.entered_zones),
            list(self.crossings), list(self.loitering), self.snapshot, self.thumbnail,
            self.snapshot_time, self.stationary,
        )  # fmt: skip

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "camera": self.camera,
            "label": self.label,
            "track_id": self.track_id,
            "start_time": iso(self.start),
            "end_time": iso(self.end),
            "duration_s": None if self.end is None else round(self.end - self.start, 1),
            "score": round(self.score, 3),
            "top_score": round(self.top_score, 3),
            "box": [round(v, 1) for v in self.box],
            "current_zones": list(self.zones),
            "entered_zones": list(self.entered_zones),
            "crossings": [
                {"line": c.line, "direction": c.direction, "time": iso(c.time)}
                for c in self.crossings
            ],
            "loitering": list(self.loitering),
            "has_snapshot": self.snapshot is not None,
            "snapshot": self.snapshot,
            "thumbnail": self.thumbnail,
            "snapshot_time": iso(self.snapshot_time),
            "stationary": self.stationary,
        }


@dataclass(slots=True)
class Change:
    """One step of an episode's life, as published: ``before`` is None for ``new``."""

    type: str  # new, update, end
    before: Episode | None
    after: Episode
    happenings: list[Happening] = field(default_factory=list)  # what made it change

    def to_dict(self) -> dict:
        return {
            "type": self.type,
            "before": None if self.before is None else self.before.to_dict(),
            "after": self.after.to_dict(),
        }
