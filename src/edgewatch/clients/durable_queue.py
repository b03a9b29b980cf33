"""A bounded, on-disk queue of what a server has not confirmed yet: MQTT messages the
broker has not acknowledged (the outbox), InfluxDB points the database has not confirmed
(the spool).

Items wait here while the server is away and survive a restart or a crash of edgewatch.
An item leaves only once the server confirmed it (`ack`), so a crash or a lost
connection costs at most a duplicate, never an item. Each item has a ``size`` that
counts against the bound (1 per MQTT message; the number of points of a frame's group
for InfluxDB); beyond the bound the oldest items are dropped, counted in the file itself
so the count survives restarts. Items keep their order per ``stream`` (one per camera).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgewatch.clients.sqlite import open_database
from edgewatch.errors import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: ids give the order
    stream TEXT NOT NULL,                  -- one ordered stream per camera
    size INTEGER NOT NULL,                 -- what the item counts against the bound
    topic TEXT NOT NULL,                   -- MQTT: where it goes; '' for InfluxDB points
    qos INTEGER NOT NULL,                  -- MQTT delivery: QoS and retain flag
    retain INTEGER NOT NULL,
    payload BLOB NOT NULL                  -- InfluxDB: the group's lines, newline-joined
);
CREATE INDEX IF NOT EXISTS queue_stream ON queue (stream, id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# Files written by edgewatch 0.1 (`Outbox`, `Spool`): their rows move into `queue` once,
# keeping their ids, so an upgrade sends what was waiting.
LEGACY_TABLES = {
    "outbox": "SELECT id, stream, 1, topic, qos, retain, payload FROM outbox",
    "spool": "SELECT id, '', points, '', 0, 0, CAST(payload AS BLOB) FROM spool",
}


@dataclass(frozen=True, slots=True)
class QueuedItem:
    id: int
    topic: str
    payload: bytes
    size: int
    qos: int = 0
    retain: bool = False

    @property
    def lines(self) -> list[str]:
        """An InfluxDB item's points, as line protocol."""
        return self.payload.decode("utf-8").split("\n")


class DurableQueue:
    """SQLite in WAL mode with synchronous=NORMAL (see `edgewatch.clients.sqlite`): no
    append waits for a disk flush, and a process crash loses nothing. Thread-safe."""

    def __init__(self, path: Path, max_size: int, *, what: str, setting: str) -> None:
        """``what`` ("MQTT outbox") and ``setting`` (the config key behind ``path``)
        name it in error messages."""
        self.path = Path(path)
        self.max_size = max_size
        self._lock = threading.Lock()
        self._db = open_database(
            self.path,
            SCHEMA,
            what=what,
            setting=setting,
            hint=f" (delete the file if it is not an edgewatch {what})",
        )
        try:
            self._migrate_legacy_tables()
            depth = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM queue").fetchone()[0]
            row = self._db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
        except sqlite3.Error as error:
            self._db.close()
            raise ConfigError(
                f"{self.path} is not an edgewatch {what} ({error})",
                f"set {setting} to another file, or delete this one",
            ) from None
        self._depth = depth
        self._dropped = row[0] if row else 0
        self._closed = False

    def _migrate_legacy_tables(self) -> None:
        tables = {name for (name,) in self._db.execute("SELECT name FROM sqlite_master")}
        for table, rows in LEGACY_TABLES.items():
            if table in tables:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.execute(
                        "INSERT INTO queue (id, stream, size, topic, qos, retain, payload) " + rows
                    )
                    self._db.execute(f"DROP TABLE {table}")

    def append(
        self,
        payload: bytes,
        *,
        stream: str = "",
        topic: str = "",
        size: int = 1,
        qos: int = 0,
        retain: bool = False,
    ) -> int:
        """Queue one item at the end of ``stream``; returns the size dropped (oldest items
        first, the new one too should it alone exceed the bound) to stay within it."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO queue (stream, size, topic, qos, retain, payload) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (stream, size, topic, qos, int(retain), payload),
            )
            self._depth += size
            excess = self._depth - self.max_size
            if excess <= 0:
                return 0
            # Oldest across all streams: the bound is about disk and memory, not fairness.
            dropped, last_id = 0, 0
            for item_id, item_size in self._db.execute("SELECT id, size FROM queue ORDER BY id"):
                dropped += item_size
                last_id = item_id
                if dropped >= excess:
                    break
            self._db.execute("DELETE FROM queue WHERE id <= ?", (last_id,))
            self._db.execute(
                "INSERT INTO counters VALUES ('dropped', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (dropped,),
            )
            self._depth -= dropped
            self._dropped += dropped
            return dropped

    def append_lines(self, lines: Sequence[str]) -> int:
        """One InfluxDB group (a frame's points) as one item; nothing for no lines."""
        if not lines:
            return 0
        return self.append("\n".join(lines).encode("utf-8"), size=len(lines))

    def peek(
        self, max_size: int, *, stream: str | None = None, after_id: int = 0
    ) -> list[QueuedItem]:
        """Items with ids above ``after_id``, oldest first, up to ``max_size`` in all (at
        least one item, however large); they stay queued until acked."""
        query = "SELECT id, topic, payload, size, qos, retain FROM queue WHERE id > ?"
        args: tuple = (after_id,)
        if stream is not None:
            query += " AND stream = ?"
            args += (stream,)
        items, total = [], 0
        with self._lock:
            # SQLite reads rows as they are iterated: stopping early reads no more.
            rows = self._db.execute(f"{query} ORDER BY id", args)
            for item_id, topic, payload, size, qos, retain in rows:
                if items and total + size > max_size:
                    break
                items.append(QueuedItem(item_id, topic, bytes(payload), size, qos, bool(retain)))
                total += size
            rows.close()
        return items

    def ack(self, ids: Sequence[int]) -> None:
        """Forget confirmed items (ids already dropped or acked are ignored)."""
        if not ids:
            return
        with self._lock:
            if self._closed:
                return  # a late confirmation after close: the items are simply sent again
            rows = self._db.execute(
                "DELETE FROM queue WHERE id IN (SELECT value FROM json_each(?)) RETURNING size",
                (json.dumps(list(ids)),),
            ).fetchall()
            self._depth -= sum(size for (size,) in rows)

    def depth(self, stream: str | None = None) -> int:
        """The size waiting (sent but unconfirmed items included), in all or in one stream."""
        if stream is None:
            return self._depth
        with self._lock:
            query = "SELECT COALESCE(SUM(size), 0) FROM queue WHERE stream = ?"
            return self._db.execute(query, (stream,)).fetchone()[0]

    @property
    def dropped(self) -> int:
        """Size dropped at the bound, over the life of this file."""
        return self._dropped

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
