"""Tracked objects in, episodes and happenings out: one story per object.

An object becomes an episode once it is *confirmed* (`events.filters` of its label: score,
size, shape, frames seen; the tracker has already held back objects whose score is under
their class's threshold). From then on every change of it is one `Change` (``new``,
``update``, ``end``) with the happenings that caused it, so that one person walking
through raises one ``new``, a few ``update`` and one ``end``, not a storm.

An object's position is its feet: the bottom centre of its box. Flicker is debounced:
a zone is entered after ``zone_enter_frames`` observations inside and left after
``zone_exit_s`` outside; a line is crossed once the object has stood
``line_frames`` observations on the other side (and its path from the last point on the
old side to the first on the new one cuts the line), so feet jittering on an edge raise
nothing.

Line direction: seen on screen, "left" and "right" are the sides of the arrow a -> b (as
if walking from a to b). An object going from the left side to the right side crosses
``left->right``. In image pixels (y down) the right side is where (b - a) x (p - a) > 0.

Snapshots are written before any change that names them is returned (`SnapshotWriter`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edgewatch.events.config import EventsConfig, LabelFilter
from edgewatch.events.model import Change, Crossing, Episode, Happening, new_id
from edgewatch.events.snapshots import SnapshotWriter
from edgewatch.geometry import Polygon, box_iou, paired_iou, segments_intersect
from edgewatch.types import NO_TRACK, Detections, Frame

LINE_MARGIN_PX = 2.0  # feet nearer a line than this (or events.line_margin) keep their side
STILL_IOU = 0.8  # a box overlapping where it stood by this much has not moved
NOWHERE = np.full(4, np.nan)  # the anchor of an object that has stood nowhere yet


@dataclass(slots=True)
class _Object:
    """What the engine knows of one tracked object (confirmed or not yet)."""

    track_id: int
    label: str
    class_id: int
    first_seen: float
    last_seen: float
    box: np.ndarray
    frames: int = 0
    score: float = 0.0
    top_score: float = 0.0
    episode: Episode | None = None
    # Per zone: the debounced state, observations against it, when outside began.
    inside: list[bool] = field(default_factory=list)
    against: list[int] = field(default_factory=list)
    outside_since: list[float | None] = field(default_factory=list)
    stay_start: list[float | None] = field(default_factory=list)
    loitered: list[bool] = field(default_factory=list)
    # Per line: the side it stands on (-1 left, +1 right, 0 unknown), a side it may be
    # crossing to and for how many observations, the last point on its side.
    side: list[float] = field(default_factory=list)
    pending: list[tuple[float, int]] = field(default_factory=list)
    side_point: list[tuple[float, float]] = field(default_factory=list)
    anchor: np.ndarray | None = None  # where it stood still since anchor_time
    anchor_time: float = 0.0
    best_kept: float = 0.0  # confidence of the frame kept for the snapshot
    best_written: float = 0.0


class EventEngine:
    """Episodes of one camera. Not thread-safe: one sink thread calls it per frame."""

    def __init__(
        self, camera: str, config: EventsConfig, *, snapshots: SnapshotWriter | None = None
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
        self.objects: dict[int, _Object] = {}
        self._ended: deque[tuple[float, _Object]] = deque()  # for parked-car blinks
        self._changes: dict[str, Change] = {}

    # -- per frame ---------------------------------------------------------------------

    def update(self, frame: Frame, detections: Detections) -> list[Change]:
        now = frame.timestamp
        d = detections[detections.tracker_id != NO_TRACK]
        ids = d.tracker_id.tolist()
        if ids:
            xyxy = d.xyxy.astype(np.float64)
            feet = np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]], axis=1)
            inside = self._inside(feet, len(ids))
            sides = self._sides(feet, xyxy[:, 3] - xyxy[:, 1], len(ids))
            scores = d.data.get("score", d.confidence)
            # The tracker's score is a median of confidences this engine may not have seen
            # (those before the track was confirmed): its best is the top of those.
            tops = d.data.get("top_score", d.confidence)
            current = set(ids)
            objects = [
                self.objects.get(tid) or self._arrive(d, i, xyxy[i], current, now)
                for i, tid in enumerate(ids)
            ]
            # Stillness of every object at once: its box against where it last stood.
            anchors = np.array([NOWHERE if o.anchor is None else o.anchor for o in objects])
            moved = ~(paired_iou(xyxy, anchors) >= STILL_IOU)
            boxes = [tuple(box) for box in xyxy.tolist()]
            for i, obj in enumerate(objects):
                obj.last_seen, obj.box = now, xyxy[i]
                obj.frames += 1
                obj.score = float(scores[i])
                conf = float(d.confidence[i])
                obj.top_score = max(obj.top_score, conf, float(tops[i]))
                if obj.episode is None and self._confirmed(obj):
                    self._begin(obj, frame, now)
                self._zones(obj, inside[i], frame, now)
                self._lines(obj, sides[i], tuple(feet[i].tolist()), frame, now)
                if obj.episode is not None:
                    self._follow(obj, frame, conf, now, moved=bool(moved[i]), box=boxes[i])
        seen = set(ids)
        for obj in [o for tid, o in self.objects.items() if tid not in seen]:
            limit = self.config.left_after_s
            if obj.episode is not None and obj.episode.stationary:
                limit = max(limit, self.config.stationary_left_after_s)
            if now - obj.last_seen >= limit:
                self._end(obj)
        self._forget(now)
        return self._flush()

    def finish(self) -> list[Change]:
        """End every object still in view (the stream ended)."""
        for obj in list(self.objects.values()):
            self._end(obj)
        self._forget(float("inf"))
        return self._flush()

    def occupancy(self) -> dict[tuple[str | None, str], int]:
        """Confirmed objects in view now: ``(zone or None for the camera, label) -> count``."""
        counts: dict[tuple[str | None, str], int] = {}
        for obj in self.objects.values():
            if obj.episode is None or obj.episode.end is not None:
                continue
            for zone in (None, *obj.episode.zones):
                counts[(zone, obj.label)] = counts.get((zone, obj.label), 0) + 1
        return counts

    # -- geometry ----------------------------------------------------------------------

    def _inside(self, feet: np.ndarray, n: int) -> list[list[bool]]:
        if not self.zones:
            return [[] for _ in range(n)]
        return np.stack([p.contains(feet) for p in self._polygons]).T.tolist()

    def _sides(self, feet: np.ndarray, heights: np.ndarray, n: int) -> list[list[float]]:
        if not self.lines:
            return [[] for _ in range(n)]
        rel = feet[None, :, :] - self._a[:, None, :]
        ab = (self._b - self._a)[:, None, :]
        dist = (ab[..., 0] * rel[..., 1] - ab[..., 1] * rel[..., 0]) / self._length[:, None]
        margin = np.maximum(LINE_MARGIN_PX, self.config.line_margin * heights)[None, :]
        return np.where(np.abs(dist) <= margin, 0.0, np.sign(dist)).T.tolist()

    # -- an object's life --------------------------------------------------------------

    def _arrive(self, d: Detections, i: int, box: np.ndarray, current: set, now: float):
        tid, label = int(d.tracker_id[i]), d.label(i)
        same = self._same_object(box, label, current, now)
        if same is not None:
            # A detector blink made the tracker start over: the same object, same story.
            self.objects.pop(same.track_id, None)
            same.track_id = tid
            if same.episode is not None:
                same.episode.track_id = tid
            self.objects[tid] = same
            return same
        seen = d.data.get("seen_s")
        first = now - float(seen[i]) if seen is not None and np.isfinite(seen[i]) else now
        obj = _Object(tid, label, int(d.class_id[i]), first, now, box)
        obj.inside = [False] * len(self.zones)
        obj.against = [0] * len(self.zones)
        obj.outside_since = [None] * len(self.zones)
        obj.stay_start = [None] * len(self.zones)
        obj.loitered = [False] * len(self.zones)
        obj.side = [0.0] * len(self.lines)
        obj.pending = [(0.0, 0)] * len(self.lines)
        obj.side_point = [(0.0, 0.0)] * len(self.lines)
        self.objects[tid] = obj
        return obj

    def _same_object(self, box, label: str, current: set, now: float) -> _Object | None:
        """The unseen object of this label, still open, that the new box overlaps."""
        candidates = [
            o for tid, o in self.objects.items()
            if tid not in current and o.label == label and o.episode is not None
        ]  # fmt: skip
        if not candidates:
            return None
        ious = box_iou(box, np.stack([o.box for o in candidates]))
        best = int(np.argmax(ious))
        return candidates[best] if ious[best] >= self.config.stationary_iou else None

    def _filter(self, label: str) -> LabelFilter:
        return self.config.filters.get(label) or LabelFilter()

    def _confirmed(self, obj: _Object) -> bool:
        rule = self._filter(obj.label)
        x1, y1, x2, y2 = obj.box
        w, h = max(x2 - x1, 0.0), max(y2 - y1, 0.0)
        area = w * h
        ratio = w / h if h else 0.0
        return (
            obj.frames >= rule.min_frames
            and (rule.min_score is None or obj.score >= rule.min_score)
            and area >= rule.min_area
            and (rule.max_area is None or area <= rule.max_area)
            and (rule.min_ratio is None or ratio >= rule.min_ratio)
            and (rule.max_ratio is None or ratio <= rule.max_ratio)
        )

    def _begin(self, obj: _Object, frame: Frame, now: float) -> None:
        episode = Episode(
            new_id(obj.first_seen), self.camera, obj.label, obj.track_id, obj.first_seen,
            score=obj.score, top_score=obj.top_score, box=_box(obj.box),
        )  # fmt: skip
        obj.episode = episode
        happening = self._happening(obj, "entered", now)
        if self.snapshots is not None:
            self.snapshots.keep(episode.id, frame.image, obj.box, obj.top_score, now)
            obj.best_kept = obj.best_written = obj.top_score
            self.snapshots.write_best(episode, obj.class_id, self.zones, self.lines)
        self._change(obj, "new", before=None, happenings=[happening])

    def _follow(
        self, obj: _Object, frame: Frame, conf: float, now: float, *, moved: bool, box: tuple
    ) -> None:
        """The episode's running figures; a better snapshot now and then; stillness
        (``moved``: the box left where the object stood). An ``update`` goes out only for
        the snapshot and stillness, not for every new box."""
        episode = obj.episode
        keeper = self.snapshots
        if keeper is not None and conf > obj.best_kept and keeper.may_copy(episode.id, now):
            keeper.keep(episode.id, frame.image, obj.box, conf, now)
            obj.best_kept = conf
        rewrite = (
            keeper is not None
            and obj.best_kept > obj.best_written + 0.05
            and now - (episode.snapshot_time or 0.0) >= keeper.config.write_after_s
        )
        if moved:
            obj.anchor, obj.anchor_time = obj.box.copy(), now
        still = not moved and now - obj.anchor_time >= self.config.stationary_after_s
        before = episode.copy() if rewrite or still != episode.stationary else None
        episode.score, episode.top_score, episode.box = obj.score, obj.top_score, box
        if before is None:
            return
        if rewrite:
            keeper.write_best(episode, obj.class_id, self.zones, self.lines)
            obj.best_written = obj.best_kept
        episode.stationary = still
        self._change(obj, "update", before=before)

    def _zones(self, obj: _Object, inside: list[bool], frame: Frame, now: float) -> None:
        cfg = self.config
        for z, is_inside in enumerate(inside):
            zone = self.zones[z]
            if zone.labels is not None and obj.label not in zone.labels:
                continue
            if is_inside:
                obj.outside_since[z] = None
                if not obj.inside[z]:
                    obj.against[z] += 1
                    if obj.against[z] >= cfg.zone_enter_frames:
                        obj.inside[z], obj.against[z], obj.stay_start[z] = True, 0, now
                        self._zone_change(obj, z, True, frame, now)
                elif (
                    zone.loiter_s is not None
                    and not obj.loitered[z]
                    and now - obj.stay_start[z] >= zone.loiter_s
                    and obj.episode is not None
                ):
                    obj.loitered[z] = True
                    before = obj.episode.copy()
                    obj.episode.loitering.append(zone.name)
                    h = self._happening(obj, "loitering", now, zone=zone.name)
                    self._change(obj, "update", before=before, happenings=[h])
            else:
                obj.against[z] = 0
                if obj.inside[z]:
                    if obj.outside_since[z] is None:
                        obj.outside_since[z] = now
                    if now - obj.outside_since[z] >= cfg.zone_exit_s:
                        self._leave_zone(obj, z, obj.outside_since[z])
        # An object confirmed while already inside a zone enters it now.
        if obj.episode is not None:
            for z, zone in enumerate(self.zones):
                if obj.inside[z] and zone.name not in obj.episode.zones:
                    self._zone_change(obj, z, True, frame, now)

    def _zone_change(self, obj: _Object, z: int, entered: bool, frame, now: float) -> None:
        episode = obj.episode
        if episode is None:
            return  # followed, not yet confirmed: the entry is told at confirmation
        name = self.zones[z].name
        before = episode.copy()
        if entered:
            episode.zones.append(name)
            if name not in episode.entered_zones:
                episode.entered_zones.append(name)
        else:
            episode.zones.remove(name)
        kind = "zone_entered" if entered else "zone_left"
        happening = self._happening(obj, kind, now, zone=name)
        if entered and frame is not None and self.snapshots is not None:
            self.snapshots.write_happening(
                happening, frame.image, obj.box, obj.class_id, self.zones, self.lines
            )
        self._change(obj, "update", before=before, happenings=[happening])

    def _leave_zone(self, obj: _Object, z: int, at: float) -> None:
        obj.inside[z], obj.outside_since[z], obj.loitered[z] = False, None, False
        if obj.episode is not None and self.zones[z].name in obj.episode.zones:
            self._zone_change(obj, z, False, None, at)

    def _lines(self, obj: _Object, sides, point, frame: Frame, now: float) -> None:
        for k, side in enumerate(sides):
            line = self.lines[k]
            if side == 0.0 or (line.labels is not None and obj.label not in line.labels):
                continue
            if obj.side[k] == 0.0 or side == obj.side[k]:
                obj.side[k], obj.pending[k], obj.side_point[k] = side, (0.0, 0), point
                continue
            pending, count = obj.pending[k]
            count = count + 1 if pending == side else 1
            obj.pending[k] = (side, count)
            if count < self.config.line_frames:
                continue
            if segments_intersect(obj.side_point[k], point, line.a, line.b):
                self._crossed(obj, k, side, frame, now)
            obj.side[k], obj.pending[k], obj.side_point[k] = side, (0.0, 0), point

    def _crossed(self, obj: _Object, k: int, side: float, frame: Frame, now: float) -> None:
        if obj.episode is None:
            return
        line = self.lines[k]
        direction = "left->right" if side > 0 else "right->left"
        before = obj.episode.copy()
        obj.episode.crossings.append(Crossing(line.name, direction, now))
        happening = self._happening(obj, "line_crossed", now, zone=line.name)
        happening.direction = direction
        if self.snapshots is not None:
            self.snapshots.write_happening(
                happening, frame.image, obj.box, obj.class_id, self.zones, self.lines
            )
        self._change(obj, "update", before=before, happenings=[happening])

    def _end(self, obj: _Object) -> None:
        """The object left: its zones, then its episode."""
        self.objects.pop(obj.track_id, None)
        for z in range(len(self.zones)):
            if obj.inside[z]:
                self._leave_zone(obj, z, obj.outside_since[z] or obj.last_seen)
        episode = obj.episode
        if episode is None:
            return
        before = episode.copy()
        episode.end = obj.last_seen
        if self.snapshots is not None and obj.best_kept > obj.best_written:
            self.snapshots.write_best(episode, obj.class_id, self.zones, self.lines)
        happening = self._happening(obj, "left", obj.last_seen)
        self._change(obj, "end", before=before, happenings=[happening])
        self._ended.append((obj.last_seen, obj))

    def _forget(self, now: float) -> None:
        window = self.config.stationary_window_s
        while self._ended and now - self._ended[0][0] > window:
            _, obj = self._ended.popleft()
            if self.snapshots is not None:
                self.snapshots.drop(obj.episode.id)

    # -- what goes out -----------------------------------------------------------------

    def _happening(self, obj: _Object, kind: str, at: float, *, zone: str | None = None):
        return Happening(
            obj.episode.id, self.camera, kind, obj.label, obj.track_id, at, zone=zone,
            confidence=obj.top_score,
        )  # fmt: skip

    def _change(self, obj: _Object, kind: str, *, before: Episode | None, happenings=()):
        """Several changes of one episode in one frame go out as one: the first state
        before, the last after; ``new`` and ``end`` outrank ``update``."""
        episode = obj.episode
        pending = self._changes.get(episode.id)
        if pending is None:
            self._changes[episode.id] = Change(kind, before, episode, list(happenings))
            return
        pending.happenings.extend(happenings)
        if kind != "update":
            pending.type = kind if pending.type != "new" else "new"

    def _flush(self) -> list[Change]:
        out = []
        for change in self._changes.values():
            change.after = change.after.copy()
            out.append(change)
        self._changes = {}
        return out


def _box(xyxy: np.ndarray) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return (x1, y1, x2, y2)
