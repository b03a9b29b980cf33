"""Zones, lines and where events go. Checks that need the cameras or the frame size are
functions (`EventsConfig.validate_against`, `EventsConfig.check_inside`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from edgewatch.configbase import ConfigModel
from edgewatch.errors import ConfigError
from edgewatch.geometry import Point, self_intersection
from edgewatch.paths import default_state_dir


def _fmt(point: Point) -> str:
    return f"[{point[0]:g}, {point[1]:g}]"


def _outside(what: str, points: Iterable[Point], width: int, height: int) -> None:
    for x, y in points:
        if not (0 <= x <= width and 0 <= y <= height):
            raise ConfigError(
                f"{what}: point {_fmt((x, y))} lies outside the {width}x{height} frame",
                f"points are pixels, x in 0..{width} and y in 0..{height}",
            )


class ZoneConfig(ConfigModel):
    """A named area of one camera's picture; objects' feet (box bottom centre) count."""

    name: str = Field(min_length=1, description="Zone name, unique per camera (events name it).")
    camera: str = Field(description="The camera whose picture the points are in.")
    points: list[Point] = Field(
        description="Polygon corners [[x, y], ...] in pixels of the camera's frame, in order; "
        "at least 3, edges must not cross."
    )
    loiter_s: float | None = Field(
        None, gt=0, description="Raise a loitering event once an object stays this long."
    )
    labels: list[str] | None = Field(
        None, description="Only these labels count in this zone (e.g. [person]); default all."
    )

    @field_validator("points")
    @classmethod
    def _polygon(cls, points: list[Point]) -> list[Point]:
        if len(points) < 3:
            raise ValueError(f"a zone needs at least 3 points, got {len(points)}")
        crossing = self_intersection(points)
        if crossing is not None:
            i, j = crossing
            n = len(points)
            raise ValueError(
                f"the polygon crosses itself: edge {i} ({_fmt(points[i])} -> "
                f"{_fmt(points[(i + 1) % n])}) meets edge {j} ({_fmt(points[j])} -> "
                f"{_fmt(points[(j + 1) % n])}); list the corners in order around the zone"
            )
        return points

    def check_inside(self, width: int, height: int) -> None:
        _outside(f"zone {self.name!r} of camera {self.camera!r}", self.points, width, height)


class LineConfig(ConfigModel):
    """A named line; crossing it raises an event with the direction."""

    name: str = Field(min_length=1, description="Line name, unique per camera.")
    camera: str = Field(description="The camera whose picture the points are in.")
    a: Point = Field(description="Start [x, y] in pixels; the direction is told along a->b.")
    b: Point = Field(description="End [x, y] in pixels.")
    labels: list[str] | None = Field(None, description="Only these labels count; default all.")

    @model_validator(mode="after")
    def _not_a_point(self) -> LineConfig:
        if tuple(self.a) == tuple(self.b):
            raise ValueError(f"line {self.name!r}: a and b are the same point {_fmt(self.a)}")
        return self

    def check_inside(self, width: int, height: int) -> None:
        _outside(f"line {self.name!r} of camera {self.camera!r}", [self.a, self.b], width, height)


class SnapshotConfig(ConfigModel):
    """The JPEG of each object's best frame, box drawn, kept on disk."""

    enabled: bool = Field(True, description="Save snapshots at all.")
    dir: Path = Field(
        default_factory=lambda: default_state_dir() / "snapshots",
        description="Folder of snapshots: <dir>/<camera>/<event id>.jpg.",
    )
    max_age_days: float = Field(14.0, gt=0, description="Snapshots older than this are deleted.")
    max_total_mb: float = Field(
        1000.0, gt=0, description="Beyond this total size the oldest snapshots are deleted."
    )
    jpeg_quality: int = Field(85, ge=10, le=100, description="JPEG quality, 10-100.")
    min_interval_s: float = Field(
        0.5, ge=0, description="Shortest time between two frame copies of one object."
    )
    write_after_s: float = Field(
        5.0,
        gt=0,
        description="Write an object's snapshot this long after it appeared, "
        "not only when it leaves (rewritten then if a better frame came).",
    )


class LabelFilter(ConfigModel):
    """When an object of one label becomes an episode (Frigate's object filters). The
    tracker has already held back objects whose score is under the class threshold."""

    min_score: float | None = Field(
        None, ge=0, le=1, description="Least track score (median of recent confidences)."
    )
    min_frames: int = Field(1, ge=1, description="Frames the object must be reported in first.")
    min_area: float = Field(0.0, ge=0, description="Least box area in pixels.")
    max_area: float | None = Field(None, gt=0, description="Largest box area in pixels.")
    min_ratio: float | None = Field(None, gt=0, description="Least width/height of the box.")
    max_ratio: float | None = Field(None, gt=0, description="Largest width/height of the box.")


class EventsConfig(ConfigModel):
    """Events from tracked objects: scene and zone entries and exits, line crossings,
    loitering. Needs a tracker (untracked objects raise no events)."""

    enabled: bool = Field(False, description="Raise events at all.")
    zones: list[ZoneConfig] = Field(default_factory=list, description="Named zones per camera.")
    lines: list[LineConfig] = Field(default_factory=list, description="Named lines per camera.")
    filters: dict[str, LabelFilter] = Field(
        default_factory=dict,
        description="Per label, when an object becomes an episode: {person: {min_area: 2000, "
        "min_score: 0.6}}.",
    )
    left_after_s: float = Field(
        10.0,
        gt=0,
        description="An object unseen this long has left: its episode ends. The tracker "
        "may find a lost object again for tracking.refind_s (10 s); ending sooner would "
        "start a second episode for it.",
    )
    stationary_after_s: float = Field(
        10.0, gt=0, description="An object that stood still this long is stationary."
    )
    stationary_left_after_s: float = Field(
        60.0,
        gt=0,
        description="A stationary object (a parked car) unseen this long has left: the "
        "detector misses still objects now and then.",
    )
    zone_enter_frames: int = Field(
        2, ge=1, description="Observations inside a zone before the object has entered it."
    )
    zone_exit_s: float = Field(
        1.0,
        ge=0,
        description="An object must be outside a zone this long to have left it "
        "(feet jittering on the edge raise no events).",
    )
    line_frames: int = Field(
        2,
        ge=1,
        description="Observations on the other side of a line before a crossing counts "
        "(feet jittering on the line raise nothing).",
    )
    line_margin: float = Field(
        0.15,
        ge=0,
        le=1,
        description="Feet nearer a line than this share of the box's height keep their "
        "side (a person standing on a line, half hidden, sways across it).",
    )
    stationary_iou: float = Field(
        0.7,
        gt=0,
        le=1,
        description="A new track overlapping an unseen object of the same label by this "
        "IoU is that object (a parked car after a detector blink).",
    )
    stationary_window_s: float = Field(
        30.0, ge=0, description="How long an ended episode's best frame is kept in memory."
    )
    store_path: Path = Field(
        default_factory=lambda: default_state_dir() / "events.sqlite3",
        description="The embedded event store (SQLite) on the box.",
    )
    snapshots: SnapshotConfig = Field(default_factory=SnapshotConfig, description="Snapshots.")
    topic: str = Field(
        "edgewatch/events",
        description="MQTT topic of episode changes: {type: new|update|end, before, after}.",
    )
    happenings_topic: str = Field(
        "edgewatch/{camera}/events",
        description="MQTT topic of each happening (entered, zone_entered, line_crossed ...), "
        "once each; Home Assistant's event entity listens here.",
    )
    snapshot_topic: str = Field(
        "edgewatch/{camera}/{label}/snapshot",
        description="MQTT topic of the latest snapshot JPEG per camera and label (retained).",
    )
    influx: bool = Field(
        False, description="Also write happenings to the InfluxDB of the `influx` section."
    )
    influx_measurement: str = Field(
        "edgewatch_events", description="InfluxDB measurement of happenings, when influx is used."
    )

    @model_validator(mode="after")
    def _names_unique(self) -> EventsConfig:
        seen: set[tuple[str, str]] = set()
        for item in [*self.zones, *self.lines]:
            key = (item.camera, item.name)
            if key in seen:
                raise ValueError(
                    f"camera {item.camera!r} has two zones or lines named {item.name!r}; "
                    "names must be unique per camera"
                )
            seen.add(key)
        return self

    def validate_against(self, cameras: Iterable[str]) -> None:
        """Every zone and line names a configured camera."""
        known = list(cameras)
        for kind, items in (("zone", self.zones), ("line", self.lines)):
            for item in items:
                if item.camera not in known:
                    raise ConfigError(
                        f"events {kind} {item.name!r} names unknown camera {item.camera!r}",
                        f"use one of the configured cameras: {', '.join(known)}",
                    )

    def check_inside(self, camera: str, width: int, height: int) -> None:
        """Every point of ``camera``'s zones and lines lies in its width x height frame."""
        for item in [*self.zones_of(camera), *self.lines_of(camera)]:
            item.check_inside(width, height)

    def zones_of(self, camera: str) -> list[ZoneConfig]:
        return [zone for zone in self.zones if zone.camera == camera]

    def lines_of(self, camera: str) -> list[LineConfig]:
        return [line for line in self.lines if line.camera == camera]
