"""The reference dashboard's panels for one camera over a time range, from either store
of reported frames: the box's own SQLite (`SqliteHistory`, what `outputs.history` writes)
or the edge InfluxDB (`InfluxHistory`, through InfluxQL on 1.x, when ``influx:`` is set).

Both answer the same question the same way: each backend reduces the range to
`Aggregates` (per time bucket: the mean objects per frame, mean box size and confidence,
objects per label; each object's label runs), and `panels` turns those into the
``/api/panels`` answer. The sums happen inside the database (SQL ``GROUP BY``, InfluxQL
``GROUP BY time``), so a day of frames is not carried into Python.

"Per frame" differs in one way: InfluxDB holds no point for a frame without objects
(Telegraf writes none), so there the means are over frames that had objects.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from edgewatch.clients.influx.config import InfluxConfig
from edgewatch.clients.influx.query import InfluxQL, quote_ident, quote_string
from edgewatch.clients.sqlite import open_readonly

log = logging.getLogger(__name__)

MAX_BUCKETS = 1500  # a chart wider than this many points shows nothing more
MAX_TIMELINE_OBJECTS = 200  # the objects seen last; older ones would not fit a chart
MAX_TIMELINE_POINTS = 200_000  # InfluxDB: the newest raw points read for the timeline
NS = 1_000_000_000
#: Object ids that are no track: DeepStream's 2**64 - 1, or a negative sentinel.
MAX_TRACK_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Window:
    """[since, until] in epoch seconds, cut into buckets of ``bucket_s`` aligned to the
    epoch (as InfluxQL's ``GROUP BY time`` aligns them)."""

    since: float
    until: float
    bucket_s: int

    @classmethod
    def last(cls, since_s: float, bucket_s: int, now: float | None = None) -> Window:
        until = time.time() if now is None else now
        since_s = max(1.0, since_s)
        bucket_s = max(int(bucket_s), 1, math.ceil(since_s / MAX_BUCKETS))
        return cls(until - since_s, until, bucket_s)

    @property
    def origin(self) -> float:
        return math.floor(self.since / self.bucket_s) * self.bucket_s

    @property
    def count(self) -> int:
        return int((self.until - self.origin) // self.bucket_s) + 1

    def bucket(self, t: float) -> int:
        return int((t - self.origin) // self.bucket_s)


@dataclass(frozen=True, slots=True)
class Segment:
    """One run of an object under one label."""

    object: int
    label: str
    start: float
    end: float


@dataclass(slots=True)
class Aggregates:
    """What a backend reduces a window to; bucket index -> values."""

    frames: dict[int, tuple[float, int]] = field(default_factory=dict)  # mean total, frames
    boxes: dict[int, tuple[float, float, float]] = field(default_factory=dict)  # w, h, conf
    labels: dict[str, dict[int, int]] = field(default_factory=dict)  # label -> objects
    latest: tuple[int, int] | None = None  # last frame number, its total
    confidence: float | None = None  # mean over the window, 0..1
    segments: list[Segment] = field(default_factory=list)


class History(Protocol):
    """The panels' source; `SqliteHistory` or `InfluxHistory`."""

    def panels(
        self, camera: str, *, since_s: float, bucket_s: int, now: float | None = None
    ) -> dict: ...

    def close(self) -> None: ...


class _Panels:
    """`panels` for both backends: `_aggregate` is all a backend writes."""

    def _aggregate(self, camera: str, window: Window) -> Aggregates:
        raise NotImplementedError

    def panels(
        self, camera: str, *, since_s: float = 3600, bucket_s: int = 60, now: float | None = None
    ) -> dict:
        window = Window.last(since_s, bucket_s, now)
        return build_panels(camera, window, self._aggregate(camera, window))


def build_panels(camera: str, window: Window, found: Aggregates) -> dict:
    n = window.count
    times = [window.origin + i * window.bucket_s for i in range(n)]

    def column(values: dict[int, float], scale: float = 1.0) -> list[float | None]:
        return [None if i not in values else round(values[i] * scale, 3) for i in range(n)]

    frames = {i: count for i, (_, count) in found.frames.items()}
    per_label = {}
    for label, counts in sorted(found.labels.items()):
        per_label[label] = [
            round(counts.get(i, 0) / frames[i], 3) if frames.get(i) else None for i in range(n)
        ]
    latest = found.latest
    return {
        "camera": camera,
        "since": window.since,
        "until": window.until,
        "bucket_s": window.bucket_s,
        "last_frame_number": None if latest is None else latest[0],
        "current_total": 0 if latest is None else latest[1],
        "avg_confidence_pct": None
        if found.confidence is None
        else round(found.confidence * 100, 2),
        "series": {
            "time": times,
            "detections": column({i: mean for i, (mean, _) in found.frames.items()}),
            "avg_box_width": column({i: b[0] for i, b in found.boxes.items()}),
            "avg_box_height": column({i: b[1] for i, b in found.boxes.items()}),
            "avg_confidence_pct": column({i: b[2] for i, b in found.boxes.items()}, 100),
            "objects_per_label": per_label,
        },
        "label_timeline": [
            {"object": s.object, "label": s.label, "start": s.start, "end": s.end}
            for s in found.segments
        ],
        "state_changes": state_changes(found.segments),
    }


def state_changes(segments: Iterable[Segment]) -> list[dict]:
    """Each time an object's label changed, and how long it had kept the old one (from
    the first report of the old label to the first of the new)."""
    changes, previous = [], None
    for segment in sorted(segments, key=lambda s: (s.object, s.start)):
        if previous is not None and previous.object == segment.object:
            changes.append(
                {
                    "object": segment.object,
                    "from": previous.label,
                    "to": segment.label,
                    "time": segment.start,
                    "kept_s": round(segment.start - previous.start, 3),
                }
            )
        previous = segment
    changes.sort(key=lambda c: c["time"])
    return changes


def label_runs(rows: Iterable[tuple[float, int, str]]) -> list[Segment]:
    """(time, object, label) rows in time order -> each object's runs of one label."""
    open_runs: dict[int, list] = {}  # object -> [label, start, end]
    done: list[Segment] = []
    for t, obj, label in rows:
        run = open_runs.get(obj)
        if run is not None and run[0] == label:
            run[2] = t
            continue
        if run is not None:
            done.append(Segment(obj, run[0], run[1], run[2]))
        open_runs[obj] = [label, t, t]
    done.extend(Segment(obj, r[0], r[1], r[2]) for obj, r in open_runs.items())
    return newest_objects(done)


def newest_objects(segments: list[Segment]) -> list[Segment]:
    """The segments of the `MAX_TIMELINE_OBJECTS` objects seen last, by object and time."""
    last_seen: dict[int, float] = {}
    for s in segments:
        last_seen[s.object] = max(s.end, last_seen.get(s.object, s.end))
    keep = set(sorted(last_seen, key=last_seen.__getitem__)[-MAX_TIMELINE_OBJECTS:])
    return sorted((s for s in segments if s.object in keep), key=lambda s: (s.object, s.start))


def _tracked(object_id) -> bool:
    return object_id is not None and 0 <= object_id <= MAX_TRACK_ID


# -- SQLite ----------------------------------------------------------------------------

_RUNS_SQL = """
WITH marked AS (
    SELECT object_id, label, time,
           label IS NOT LAG(label) OVER (PARTITION BY object_id ORDER BY time) AS change
    FROM objects
    WHERE camera = ? AND time >= ? AND time <= ? AND object_id >= 0 AND object_id <= ?
), runs AS (
    SELECT object_id, label, time,
           SUM(change) OVER (PARTITION BY object_id ORDER BY time
                             ROWS UNBOUNDED PRECEDING) AS run
    FROM marked
)
SELECT object_id, label, MIN(time), MAX(time) FROM runs GROUP BY object_id, run
"""


class SqliteHistory(_Panels):
    """The history file `outputs.history` writes (tables ``frames`` and ``objects``),
    read through a read-only connection; a missing file is an empty history."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is None and self.path.exists():
            self._db = open_readonly(self.path)
        return self._db

    def _aggregate(self, camera: str, window: Window) -> Aggregates:
        with self._lock:
            db = self._connect()
            if db is None:
                return Aggregates()
            try:
                return self._query(db, camera, window)
            except sqlite3.OperationalError as error:
                if "no such table" in str(error):  # the writer has not made its tables yet
                    return Aggregates()
                raise

    @staticmethod
    def _query(db: sqlite3.Connection, camera: str, window: Window) -> Aggregates:
        span = (camera, window.since, window.until)
        where = "WHERE camera = ? AND time >= ? AND time <= ?"
        bucket = f"CAST((time - {window.origin!r}) / {window.bucket_s} AS INTEGER)"
        found = Aggregates()
        for i, mean, count in db.execute(
            f"SELECT {bucket} AS b, AVG(total_num_obj), COUNT(*) FROM frames {where} GROUP BY b",
            span,
        ):
            found.frames[i] = (mean, count)
        for i, width, height, confidence in db.execute(
            f"SELECT {bucket} AS b, AVG(box_width), AVG(box_height), AVG(confidence) "
            f"FROM objects {where} GROUP BY b",
            span,
        ):
            found.boxes[i] = (width, height, confidence)
        for i, label, count in db.execute(
            f"SELECT {bucket} AS b, label, COUNT(*) FROM objects {where} GROUP BY b, label", span
        ):
            found.labels.setdefault(label, {})[i] = count
        row = db.execute(
            f"SELECT frame_number, total_num_obj FROM frames {where} ORDER BY time DESC LIMIT 1",
            span,
        ).fetchone()
        found.latest = None if row is None else (int(row[0]), int(row[1]))
        mean = db.execute(f"SELECT AVG(confidence) FROM objects {where}", span).fetchone()
        found.confidence = mean[0]
        segments = [
            Segment(int(obj), label, start, end)
            for obj, label, start, end in db.execute(_RUNS_SQL, (*span, MAX_TRACK_ID))
        ]
        found.segments = newest_objects(segments)
        return found

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


# -- InfluxDB --------------------------------------------------------------------------


class InfluxHistory(_Panels):
    """The detection points in the edge InfluxDB (``influx.measurement``, one point per
    object, tags host/topic/obj/camera, the message's keys as fields), read with InfluxQL.

    A frame's points share its time and fields; the point of its first object (tag
    ``obj`` = ``OBJ1``) stands for the frame, so frames are not counted once per object.
    """

    def __init__(self, config: InfluxConfig) -> None:
        self.config = config
        self.client = InfluxQL(config, role="influx")
        source = quote_ident(config.measurement)
        if config.retention_policy:
            source = f"{quote_ident(config.retention_policy)}.{source}"
        self.source = source
        self.database = config.database

    def _select(self, statement: str):
        return self.client.select(statement, db=self.database)

    def _aggregate(self, camera: str, window: Window) -> Aggregates:
        where = (
            f'WHERE "camera" = {quote_string(camera)} AND time >= {round(window.since * NS)} '
            f"AND time <= {round(window.until * NS)}"
        )
        frame = f"{where} AND \"obj\" = 'OBJ1'"
        by_time = f"GROUP BY time({window.bucket_s}s) fill(none)"
        src = self.source
        found = Aggregates()
        for t, mean, count in self._values(
            f'SELECT mean("total_num_obj"), count("total_num_obj") FROM {src} {frame} {by_time}'
        ):
            found.frames[window.bucket(t / NS)] = (mean, count)
        for t, width, height, confidence in self._values(
            f'SELECT mean("box_width"), mean("box_height"), mean("confidence") FROM {src} '
            f"{where} {by_time}"
        ):
            found.boxes[window.bucket(t / NS)] = (width, height, confidence)
        labels = [row[1] for row in self._values(f'SELECT DISTINCT("label") FROM {src} {where}')]
        for label in labels:
            counts = found.labels.setdefault(label, {})
            for t, count in self._values(
                f'SELECT count("confidence") FROM {src} {where} '
                f'AND "label" = {quote_string(label)} {by_time}'
            ):
                counts[window.bucket(t / NS)] = count
        for _, number, total in self._values(
            f'SELECT "detection_frame_number", "total_num_obj" FROM {src} {frame} '
            "ORDER BY time DESC LIMIT 1"
        ):
            found.latest = (int(number), int(total))
        for _, mean in self._values(f'SELECT mean("confidence") FROM {src} {where}'):
            found.confidence = mean
        rows = self._values(
            f'SELECT "objectID", "label" FROM {src} {where} '
            f"ORDER BY time DESC LIMIT {MAX_TIMELINE_POINTS}"
        )
        found.segments = label_runs(
            (t / NS, int(obj), label) for t, obj, label in reversed(rows) if _tracked(obj)
        )
        return found

    def _values(self, statement: str) -> list[list]:
        values: list[list] = []
        for series in self._select(statement):
            values.extend(series.values)
        return values

    def close(self) -> None:
        pass


def open_history(config) -> History:
    """InfluxDB when the config names one (``influx:`` set in the file), else the box's
    SQLite history (``web.history_path``)."""
    if "influx" in config.model_fields_set:
        return InfluxHistory(config.influx)
    return SqliteHistory(config.web.history_path)
