"""A bounded, on-disk queue of MQTT messages not yet acknowledged by the broker.

Messages wait here while the broker is away and survive a restart of edgewatch. Rows
leave only when the broker acknowledged them (`ack`), so a crash or a lost connection
costs at most a duplicate, never a message. Beyond the bound the oldest rows are dropped
and counted in the file itself, so the count survives restarts too.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from edgewatch.errors import ConfigError
from edgewatch.sqlite import open_database

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: ids give the order
    stream TEXT NOT NULL,                  -- one ordered stream per camera
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_stream ON outbox (stream, id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Outbox:
    """SQLite in WAL mode with synchronous=NORMAL: a power cut may lose the last moments of
    appends, a process crash loses nothing, and no append waits for a disk flush."""

    def __init__(self, path: Path, max_messages: int) -> None:
        self.path = Path(path)
        self.max_messages = max_messages
        self._lock = threading.Lock()
        self._db = open_database(
            self.path,
            SCHEMA,
            what="MQTT outbox",
            setting="outputs.mqtt.outbox_path",
            hint=" (delete the file if it is not an edgewatch outbox)",
        )
        try:
            self._depth = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            row = self._db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
            self._dropped = row[0] if row else 0
        except sqlite3.Error as error:
            raise ConfigError(
                f"{self.path} is not an edgewatch MQTT outbox ({error})",
                "set outputs.mqtt.outbox_path to another file, or delete this one",
            ) from None

    def append(self, topic: str, payload: bytes, qos: int, retain: bool, *, stream: str) -> int:
        """Queue one message at the end of ``stream``; returns how many old ones were dropped."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO outbox (stream, topic, payload, qos, retain) VALUES (?, ?, ?, ?, ?)",
                (stream, topic, payload, qos, int(retain)),
            )
            self._depth += 1
            excess = self._depth - self.max_messages
            if excess > 0:
                # Oldest across all cameras: the bound is about disk and memory, not fairness.
                self._db.execute(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)",
                    (excess,),
                )
                self._db.execute(
                    "INSERT INTO counters VALUES ('dropped', ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                    (excess,),
                )
                self._depth -= excess
                self._dropped += excess
            return max(excess, 0)

    def peek(self, n: int, *, stream: str | None = None, after_id: int = 0) -> list[OutboxRow]:
        """Up to ``n`` rows, oldest first, with ids above ``after_id``; they stay queued."""
        query = "SELECT id, topic, payload, qos, retain FROM outbox WHERE id > ?"
        args: tuple = (after_id,)
        if stream is not None:
            query += " AND stream = ?"
            args += (stream,)
        with self._lock:
            rows = self._db.execute(f"{query} ORDER BY id LIMIT ?", (*args, n)).fetchall()
        return [OutboxRow(i, t, bytes(p), q, bool(r)) for i, t, p, q, r in rows]

    def ack(self, ids: list[int]) -> None:
        """Forget delivered rows (ids already dropped are ignored)."""
        if not ids:
            return
        with self._lock, self._db:
            self._db.execute("BEGIN")
            deleted = self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            self._depth -= deleted.rowcount

    def depth(self, stream: str | None = None) -> int:
        if stream is None:
            return self._depth
        with self._lock:
            query = "SELECT COUNT(*) FROM outbox WHERE stream = ?"
            return self._db.execute(query, (stream,)).fetchone()[0]

    @property
    def dropped(self) -> int:
        """Messages dropped at the bound, over the life of this file."""
        return self._dropped

    def close(self) -> None:
        with self._lock:
            self._db.close()
