"""What the dashboard asks the event store beyond its list of episodes: line-crossing
and zone-entry counts per hour or day, and the values the filters offer.

A read-only connection of its own to the store's file (WAL: it never blocks the writer);
the sums are SQL over the happenings' time index, so a month of events is counted in the
database, not carried into Python.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path

from edgewatch.clients.sqlite import open_readonly
from edgewatch.events.model import KINDS

#: Bucket starts in the box's local time (a day is a local day), back in epoch seconds.
_BUCKET_SQL = {
    "hour": "CAST(strftime('%s', strftime('%Y-%m-%d %H:00:00', time, 'unixepoch', "
    "'localtime'), 'utc') AS REAL)",
    "day": "CAST(strftime('%s', time, 'unixepoch', 'localtime', 'start of day', 'utc') AS REAL)",
}
BUCKETS = tuple(_BUCKET_SQL)


class AnswerCache:
    """Answers already built, for as long as the store has not changed and at most
    ``max_age_s``: browsers poll the same list every few seconds, and most polls find
    nothing new. Small (``size`` answers), oldest out first."""

    def __init__(self, size: int = 32, max_age_s: float = 2.0) -> None:
        self.size, self.max_age_s = size, max_age_s
        self._lock = threading.Lock()
        self._answers: dict[tuple, tuple[float, object]] = {}

    def get(self, key: tuple):
        with self._lock:
            found = self._answers.get(key)
        if found is None or time.monotonic() - found[0] > self.max_age_s:
            return None
        return found[1]

    def put(self, key: tuple, answer) -> None:
        with self._lock:
            self._answers.pop(key, None)
            while len(self._answers) >= self.size:
                self._answers.pop(next(iter(self._answers)))
            self._answers[key] = (time.monotonic(), answer)


class EndedEvents:
    """Each ended episode's JSON, kept by its `EventStore.episode_keys` key: the engine
    saves nothing after an episode's end, so a page of the events list builds only its
    open episodes and those not seen yet (building an event costs ~0.17 ms of Python;
    reading its key, far less). At most ``size`` (~1.4 KB each), least recently used out
    first."""

    def __init__(self, size: int = 5000) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._json: OrderedDict[tuple, bytes] = OrderedDict()

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            found = self._json.get(key)
            if found is not None:
                self._json.move_to_end(key)
            return found

    def put(self, key: tuple, body: bytes) -> None:
        with self._lock:
            self._json[key] = body
            self._json.move_to_end(key)
            while len(self._json) > self.size:
                self._json.popitem(last=False)


class EventQueries:
    """Counts and facets over the event store at ``path`` (made by `EventStore`)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._facets: tuple[int, dict] | None = None  # (store version, answer)

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is None and self.path.exists():
            self._db = open_readonly(self.path)
        return self._db

    def counts(
        self,
        *,
        camera: str | None = None,
        since_s: float = 86400,
        bucket: str = "hour",
        now: float | None = None,
    ) -> dict:
        """Crossings per line and direction, entries per zone: per bucket and in all."""
        if bucket not in _BUCKET_SQL:
            raise ValueError(f"bucket is one of {', '.join(BUCKETS)}, not {bucket!r}")
        cutoff = (time.time() if now is None else now) - since_s
        sql = (
            f"SELECT camera, kind, zone, direction, {_BUCKET_SQL[bucket]} AS start, COUNT(*) "
            "FROM happenings WHERE time >= ? AND kind IN ('line_crossed', 'zone_entered')"
        )
        args: list = [cutoff]
        if camera is not None:
            sql += " AND camera = ?"
            args.append(camera)
        sql += " GROUP BY camera, kind, zone, direction, start ORDER BY start, camera, zone"
        with self._lock:
            db = self._connect()
            rows = [] if db is None else _rows(db, sql, args)
        lines, zones = [], []
        line_totals: dict[tuple, int] = {}
        zone_totals: dict[tuple, int] = {}
        for cam, kind, zone, direction, start, count in rows:
            if kind == "line_crossed":
                lines.append({"camera": cam, "line": zone, "direction": direction,
                              "start": start, "count": count})  # fmt: skip
                key = (cam, zone, direction)
                line_totals[key] = line_totals.get(key, 0) + count
            else:
                zones.append({"camera": cam, "zone": zone, "start": start, "count": count})
                zone_totals[(cam, zone)] = zone_totals.get((cam, zone), 0) + count
        return {
            "bucket": bucket,
            "since": cutoff,
            "lines": lines,
            "zones": zones,
            "totals": {
                "lines": [
                    {"camera": c, "line": z, "direction": d, "count": n}
                    for (c, z, d), n in sorted(line_totals.items(), key=_none_last)
                ],
                "zones": [
                    {"camera": c, "zone": z, "count": n}
                    for (c, z), n in sorted(zone_totals.items(), key=_none_last)
                ],
            },
        }

    def version(self) -> int | None:
        """Changes whenever another connection (the pipeline's store) commits to the
        file: SQLite's ``PRAGMA data_version``. None before the file exists."""
        with self._lock:
            db = self._connect()
            return None if db is None else _version(db)

    def facets(self) -> dict:
        """The cameras, labels, zones/lines and kinds present in the store; kept until
        the store changes (`version`): each is a scan of a table."""
        empty: dict = {"cameras": [], "labels": [], "zones": [], "kinds": []}
        with self._lock:
            db = self._connect()
            if db is None:
                return empty
            version = _version(db)
            if self._facets is not None and self._facets[0] == version:
                return self._facets[1]
            try:
                answer = self._read_facets(db)
            except sqlite3.OperationalError:  # the store's tables are not there yet
                return empty
            self._facets = (version, answer)
            return answer

    @staticmethod
    def _read_facets(db: sqlite3.Connection) -> dict:
        return {
            "cameras": _distinct(db, "SELECT DISTINCT camera FROM episodes"),
            "labels": _distinct(db, "SELECT DISTINCT label FROM episodes"),
            "zones": _distinct(db, "SELECT DISTINCT zone FROM happenings WHERE zone IS NOT NULL"),
            "kinds": _distinct(db, "SELECT DISTINCT kind FROM happenings"),
        }

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _version(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA data_version").fetchone()[0]


def _rows(db: sqlite3.Connection, sql: str, args: list) -> list[tuple]:
    try:
        return db.execute(sql, args).fetchall()
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):
            return []
        raise


def _distinct(db: sqlite3.Connection, sql: str) -> list[str]:
    return sorted(row[0] for row in db.execute(sql) if row[0] is not None)


def _none_last(item: tuple) -> tuple:
    return tuple((v is None, v or "") for v in item[0])


def merge_facets(stored: dict, *, cameras: list[str], zones: list[str]) -> dict:
    """What the store holds, with what the config names (cameras, zones and lines) and
    every kind the engine raises, so the filters offer them before the first event."""
    return {
        "cameras": sorted({*stored["cameras"], *cameras}),
        "labels": list(stored["labels"]),
        "zones": sorted({*stored["zones"], *zones}),
        "kinds": sorted({*stored["kinds"], *KINDS}, key=_kind_order),
    }


def _kind_order(kind: str) -> tuple[int, str]:
    return (KINDS.index(kind) if kind in KINDS else len(KINDS), kind)
