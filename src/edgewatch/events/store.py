"""The embedded event store: one SQLite row per event, updated as the event changes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from edgewatch.clients.sqlite import open_database
from edgewatch.events.engine import Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    camera TEXT NOT NULL,
    kind TEXT NOT NULL,
    zone TEXT,
    label TEXT NOT NULL,
    track_id INTEGER NOT NULL,
    start REAL NOT NULL,
    "end" REAL,
    best_confidence REAL NOT NULL,
    snapshot TEXT,
    direction TEXT
);
CREATE INDEX IF NOT EXISTS events_start ON events (start);
CREATE INDEX IF NOT EXISTS events_camera_start ON events (camera, start);
"""
COLUMNS = (
    "id",
    "camera",
    "kind",
    "zone",
    "label",
    "track_id",
    "start",
    "end",
    "best_confidence",
    "snapshot",
    "direction",
)
_QUOTED = ", ".join(f'"{c}"' for c in COLUMNS)


class EventStore:
    """SQLite in WAL mode: the CLI may read while the pipeline writes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = open_database(self.path, SCHEMA, what="event store", setting="events.store_path")

    def upsert(self, event: Event) -> None:
        """Insert the event, or replace the row of the same id with its new state."""
        values = tuple(getattr(event, c) for c in COLUMNS)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in COLUMNS[1:])
        with self._lock:
            self._db.execute(
                f"INSERT INTO events ({_QUOTED}) VALUES ({', '.join('?' * len(COLUMNS))}) "
                f"ON CONFLICT(id) DO UPDATE SET {updates}",
                values,
            )

    def query(
        self,
        *,
        since_s: float | None = None,
        camera: str | None = None,
        label: str | None = None,
        zone: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        now: float | None = None,
    ) -> list[Event]:
        """Newest first. ``since_s``: events still open, or that started or ended within
        the last ``since_s`` seconds."""
        where, args = [], []
        if since_s is not None:
            cutoff = (time.time() if now is None else now) - since_s
            where.append('(start >= ? OR "end" IS NULL OR "end" >= ?)')
            args += [cutoff, cutoff]
        for column, value in (("camera", camera), ("label", label), ("zone", zone), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = f"SELECT {_QUOTED} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start DESC, id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [Event(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
