"""Tracked detections in, events out: the scene, named zones and lines, loitering.

An object's position is its feet: the bottom centre of its box. One `Event` record lives
through its changes and keeps its id: an ``entered`` event becomes ``left`` (with
``end``) when the object leaves, ``zone_entered`` becomes ``zone_left``; ``loitering``
gets its ``end`` when the stay in the zone ends; ``line_crossed`` is instantaneous.
`EventEngine.update` returns every event created or changed by that frame.

Line direction: seen on screen, "left" and "right" are the sides of the arrow a -> b (as
if walking from a to b). An object going from the left side to the right side crosses
``left->right``. In image pixels (y down) the right side is where (b - a) x (p - a) > 0.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from edgewatch.events.config import EventsConfig
from edgewatch.events.snapshots import SnapshotKeeper
from edgewatch.geometry import Polygon, box_iou, segments_intersect
from edgewatch.types import NO_TRACK, Detections, Frame

LINE_MARGIN_PX = 2.0  # feet this close to a line keep their side: no crossings from jitter
KINDS = ("entered", "left", "zone_entered", "zone_left", "line_crossed", "loitering")


@dataclass(slots=True)
class Event:
    id: str
    camera: str
    kind: str
    zone: str | None  # zone or line name; None for the scene
    label: str
    track_id: int
    start: float  # epoch seconds
    end: float | None = None  # None while ongoing
    best_confidence: float = 0.0
    snapshot: str | None = None  # path of the JPEG (written when the object leaves, or sooner)
    direction: str | None = None  # line_crossed: "left->right" or "right->left"

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def to_dict(self) -> dict:
        return {**asdict(self), "duration_s": self.duration_s}


def new_event_id(start: float) -> str:
    """Sortable by time, unique without coordination: 20261124-165012-3f9a1c2b."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(start)) + "-" + uuid.uuid4().hex[:8]


@dataclass(slots=True)
class _Stay:
    event: Event
    outside_since: float | None = None
    loiter: Event | None = None


@dataclass(slots=True)
class _Track:
    track_id: int
    label: str
    class_id: int
    scene: Event
    last_seen: float
    box: np.ndarray
    zone_ok: list[bool]  # per zone: its labels admit this object
    line_ok: list[bool]
    stays: dict[int, _Stay] = field(default_factory=dict)  # zone index -> stay
    sides: list[float] = field(default_factory=list)  # per line: -1 left, +1 right, 0 unknown
    side_points: list[tuple[float, float]] = field(default_factory=list)
    snapshot_due: bool = True


class EventEngine:
    """Events of one camera. Not thread-safe: one sink thread calls it per frame."""

    def __init__(
        self, camera: str, config: EventsConfig, *, snapshots: SnapshotKeeper | None = None
    ) -> None:
        self.camera = camera
        self.config = config
        self.zones = config.zones_of(camera)
        self.lines = config.lines_of(camera)
        self._polygons = [Polygon(z.points) for z in self.zones]
        self._a = np.asarray([ln.a for ln in self.lines], np.float64).reshape(-1, 2)
        self._b = np.asarray([ln.b for ln in self.lines], np.float64).reshape(-1, 2)
        self._length = np.linalg.norm(self._b - self._a, axis=1)
        self.snapshots = snapshots
        self.tracks: dict[int, _Track] = {}
        self._ended: deque[tuple[float, _Track]] = deque()  # (ended at, track), oldest first
        self._out: dict[str, Event] = {}

    # -- per frame ---------------------------------------------------------------------

    def update(self, frame: Frame, detections: Detections) -> list[Event]:
        now = frame.timestamp
        tracked = detections.tracker_id != NO_TRACK
        d = detections if tracked.all() else detections[tracked]
        ids = d.tracker_id.tolist()
        current = set(ids)
        if ids:
            xyxy = d.xyxy.astype(np.float64)
            feet = np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]], axis=1)
            inside = (
                np.stack([p.contains(feet) for p in self._polygons]).T.tolist()
                if self.zones
                else [[]] * len(ids)
            )
            if self.lines:
                rel = feet[None, :, :] - self._a[:, None, :]
                ab = (self._b - self._a)[:, None, :]
                dist = (ab[..., 0] * rel[..., 1] - ab[..., 1] * rel[..., 0]) / self._length[:, None]
                sides = np.where(np.abs(dist) <= LINE_MARGIN_PX, 0.0, np.sign(dist)).T.tolist()
            else:
                sides = [[]] * len(ids)
            confs = d.confidence.tolist()
            seen = d.data.get("seen_s")
            new = [i for i, tid in enumerate(ids) if tid not in self.tracks]
            for i in new:
                self._arrive(i, d, xyxy[i], current, now, None if seen is None else seen[i])
            image_copy = None
            feet_list = feet.tolist()
            for i, tid in enumerate(ids):
                track = self.tracks[tid]
                track.last_seen = now
                track.box = xyxy[i]
                conf = confs[i]
                if conf > track.scene.best_confidence:
                    self._improve(track, conf)
                # Against the kept frame, not best_confidence: a copy skipped by the rate
                # limit is made up later if the object is still better than that frame.
                keeper = self.snapshots
                if keeper is not None and keeper.wants(track.scene.id, conf, now):
                    if image_copy is None:
                        image_copy = frame.image.copy()  # the annotator draws on the original
                        keeper.copies += 1
                    keeper.offer(
                        track.scene.id, image_copy, xyxy[i], conf, track.label, track.class_id, now
                    )
                self._zones(track, inside[i], now)
                self._lines(track, sides[i], feet_list[i], now)
                if track.snapshot_due and now - track.scene.start >= self._write_after():
                    track.snapshot_due = False
                    self._write_snapshot(track)
        for tid in [t for t in self.tracks if t not in current]:
            track = self.tracks[tid]
            if now - track.last_seen >= self.config.left_after_s:
                self._end(track)
        self._forget(now)
        out, self._out = self._out, {}
        return [replace(event) for event in out.values()]

    def finish(self) -> list[Event]:
        """End every object still in view (the stream ended); write their snapshots."""
        for track in list(self.tracks.values()):
            self._end(track)
        self._forget(float("inf"))
        out, self._out = self._out, {}
        return [replace(event) for event in out.values()]

    # -- the steps ---------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        self._out[event.id] = event

    def _snapshot_path(self, event_id: str) -> str | None:
        if self.snapshots is None:
            return None
        return str(Path(self.snapshots.config.dir) / self.camera / f"{event_id}.jpg")

    def _write_after(self) -> float:
        return self.snapshots.config.write_after_s if self.snapshots else float("inf")

    def _arrive(self, i: int, d: Detections, box: np.ndarray, current: set, now: float, seen):
        tid, label = int(d.tracker_id[i]), d.label(i)
        same = self._same_object(box, label, current, now)
        if same is not None:
            # A detector blink made the tracker start over: the same object, same event.
            self.tracks.pop(same.track_id, None)
            same.track_id = tid
            self.tracks[tid] = same
            if same.scene.end is not None:
                same.scene.kind, same.scene.end = "entered", None
                self._emit(same.scene)
            return
        start = now - float(seen) if seen is not None and np.isfinite(seen) else now
        event_id = new_event_id(start)
        scene = Event(
            event_id,
            self.camera,
            "entered",
            None,
            label,
            tid,
            start,
            best_confidence=0.0,
            snapshot=self._snapshot_path(event_id),
        )
        track = _Track(
            track_id=tid,
            label=label,
            class_id=int(d.class_id[i]),
            scene=scene,
            last_seen=now,
            box=box,
            zone_ok=[z.labels is None or label in z.labels for z in self.zones],
            line_ok=[ln.labels is None or label in ln.labels for ln in self.lines],
            sides=[0.0] * len(self.lines),
            side_points=[(0.0, 0.0)] * len(self.lines),
        )
        self.tracks[tid] = track
        self._emit(scene)

    def _same_object(self, box, label: str, current: set, now: float) -> _Track | None:
        """The unseen or recently ended track of this label that the new box overlaps."""
        window = self.config.stationary_window_s
        candidates = [t for tid, t in self.tracks.items() if tid not in current]
        candidates += [t for ended_at, t in self._ended if now - ended_at <= window]
        candidates = [t for t in candidates if t.label == label]
        if not candidates:
            return None
        ious = box_iou(box, np.stack([t.box for t in candidates]))
        best = int(np.argmax(ious))
        if ious[best] < self.config.stationary_iou:
            return None
        track = candidates[best]
        for k, (_, t) in enumerate(self._ended):
            if t is track:
                del self._ended[k]
                break
        return track

    def _improve(self, track: _Track, conf: float) -> None:
        track.scene.best_confidence = conf
        for stay in track.stays.values():
            stay.event.best_confidence = max(stay.event.best_confidence, conf)
            if stay.loiter is not None:
                stay.loiter.best_confidence = max(stay.loiter.best_confidence, conf)

    def _zones(self, track: _Track, inside: list[bool], now: float) -> None:
        for z, is_inside in enumerate(inside):
            if not track.zone_ok[z]:
                continue
            stay = track.stays.get(z)
            if is_inside:
                if stay is None:
                    event = self._child(track, "zone_entered", self.zones[z].name, now)
                    track.stays[z] = stay = _Stay(event)
                    self._emit(event)
                stay.outside_since = None
                loiter_s = self.zones[z].loiter_s
                due = loiter_s is not None and now - stay.event.start >= loiter_s
                if due and stay.loiter is None:
                    stay.loiter = self._child(track, "loitering", self.zones[z].name, now)
                    stay.loiter.start = stay.event.start
                    self._emit(stay.loiter)
            elif stay is not None:
                if stay.outside_since is None:
                    stay.outside_since = now
                if now - stay.outside_since >= self.config.zone_exit_s:
                    self._leave_zone(track, z, stay.outside_since)

    def _leave_zone(self, track: _Track, z: int, at: float) -> None:
        stay = track.stays.pop(z)
        stay.event.kind, stay.event.end = "zone_left", at
        self._emit(stay.event)
        if stay.loiter is not None:
            stay.loiter.end = at
            self._emit(stay.loiter)

    def _lines(self, track: _Track, sides: list[float], point: list[float], now: float) -> None:
        for k, side in enumerate(sides):
            if side == 0.0 or not track.line_ok[k]:
                continue
            before = track.sides[k]
            if before != 0.0 and side != before:
                line = self.lines[k]
                if segments_intersect(track.side_points[k], tuple(point), line.a, line.b):
                    event = self._child(track, "line_crossed", line.name, now)
                    event.end = now
                    event.direction = "left->right" if side > 0 else "right->left"
                    self._emit(event)
            track.sides[k] = side
            track.side_points[k] = (point[0], point[1])

    def _child(self, track: _Track, kind: str, name: str, now: float) -> Event:
        return Event(
            new_event_id(now),
            self.camera,
            kind,
            name,
            track.label,
            track.scene.track_id,
            now,
            best_confidence=track.scene.best_confidence,
            snapshot=track.scene.snapshot,
        )

    def _end(self, track: _Track) -> None:
        """The object left: close its events, write its snapshot."""
        self.tracks.pop(track.track_id, None)
        for z in list(track.stays):
            stay = track.stays[z]
            self._leave_zone(track, z, stay.outside_since or track.last_seen)
        track.scene.kind, track.scene.end = "left", track.last_seen
        self._emit(track.scene)
        track.snapshot_due = False
        self._write_snapshot(track)
        self._ended.append((track.last_seen, track))

    def _write_snapshot(self, track: _Track) -> None:
        if self.snapshots is not None and track.scene.snapshot:
            self.snapshots.write(track.scene.id, Path(track.scene.snapshot))

    def _forget(self, now: float) -> None:
        """Drop ended tracks (and their kept frames) once no new track can be them."""
        window = self.config.stationary_window_s
        while self._ended and now - self._ended[0][0] > window:
            _, track = self._ended.popleft()
            if self.snapshots is not None:
                self.snapshots.drop(track.scene.id)
