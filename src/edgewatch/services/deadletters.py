"""Messages `edgewatch ingest` could not turn into points, kept for a person to look at.

A poison message (not JSON, nested too deeply, a number no float holds, a lone surrogate,
a time in the year 33658 ...) is acknowledged, so the broker does not deliver it again
and again, and kept here with the reason instead: bounded, oldest dropped first, private
to the user (0600). `edgewatch ingest --dead-letters` lists them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from edgewatch.clients.sqlite import open_database

SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received REAL NOT NULL,           -- epoch seconds
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    size INTEGER NOT NULL,            -- of the whole payload, in bytes
    payload BLOB NOT NULL             -- its first KEEP_BYTES
);
"""
KEEP_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    received: float
    topic: str
    reason: str
    size: int
    payload: bytes


class DeadLetters:
    """The store; thread-safe (paho's thread adds, the writer's thread adds)."""

    def __init__(self, path: Path, max_messages: int) -> None:
        self.path = Path(path)
        self.max_messages = max_messages
        self._lock = threading.Lock()
        self._db = open_database(
            self.path, SCHEMA, what="dead-letter store", setting="ingest.deadletter_path"
        )

    def add(self, topic: str, payload: bytes, reason: str) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO dead_letters (received, topic, reason, size, payload) "
                "VALUES (?, ?, ?, ?, ?)",
                (time.time(), _text(topic), _text(reason), len(payload), payload[:KEEP_BYTES]),
            )
            self._db.execute(
                "DELETE FROM dead_letters WHERE id <= (SELECT MAX(id) FROM dead_letters) - ?",
                (self.max_messages,),
            )

    def latest(self, limit: int = 20) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, received, topic, reason, size, payload FROM dead_letters "
                "ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [DeadLetter(*row[:5], bytes(row[5])) for row in rows]

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _text(text: str) -> str:
    """Storable whatever it holds (a reason may quote a lone surrogate)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
