"""A bounded, on-disk queue of InfluxDB points not yet confirmed by InfluxDB.

For the pipeline's own InfluxDB output it plays the broker's role: points wait here while
InfluxDB is away and survive a restart or a crash of edgewatch. A group (the points of one
reported frame) leaves only once InfluxDB has it (`ack`), so a crash costs at most a
point written twice, and a point written twice overwrites itself. The bound is in points:
beyond it the oldest groups are dropped, counted in the file so the count survives restarts.
Like the MQTT outbox, but bounded in points rather than messages.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgewatch.errors import ConfigError
from edgewatch.sqlite import open_database

SETTING = "outputs.influx.spool_path"

SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: ids give the order
    points INTEGER NOT NULL,
    payload TEXT NOT NULL                  -- the group's lines, joined by newlines
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class SpoolGroup:
    id: int
    lines: list[str]


class Spool:
    """SQLite in WAL mode with synchronous=NORMAL (see `edgewatch.sqlite`): no append
    waits for a disk flush, and a process crash loses nothing."""

    def __init__(self, path: Path, max_points: int, *, setting: str = SETTING) -> None:
        """``setting`` names the config key behind ``path`` in error messages."""
        self.path = Path(path)
        self.max_points = max_points
        self._lock = threading.Lock()
        self._db = open_database(
            self.path,
            SCHEMA,
            what="InfluxDB spool",
            setting=setting,
            hint=" (delete the file if it is not an edgewatch spool)",
        )
        try:
            depth = self._db.execute("SELECT COALESCE(SUM(points), 0) FROM spool").fetchone()[0]
            row = self._db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
        except sqlite3.Error as error:
            self._db.close()
            raise ConfigError(
                f"{self.path} is not an edgewatch InfluxDB spool ({error})",
                f"set {setting} to another file, or delete this one",
            ) from None
        self._depth = depth
        self._dropped = row[0] if row else 0
        self._closed = False

    def append(self, lines: Sequence[str]) -> int:
        """Queue one group of points at the end; returns how many old points were dropped
        to stay within ``max_points``."""
        if not lines:
            return 0
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO spool (points, payload) VALUES (?, ?)", (len(lines), "\n".join(lines))
            )
            self._depth += len(lines)
            excess = self._depth - self.max_points
            if excess <= 0:
                return 0
            # Whole groups, oldest first, until the excess is covered (the new group too,
            # should it alone exceed the bound).
            dropped, last_id = 0, 0
            for group_id, points in self._db.execute("SELECT id, points FROM spool ORDER BY id"):
                dropped += points
                last_id = group_id
                if dropped >= excess:
                    break
            self._db.execute("DELETE FROM spool WHERE id <= ?", (last_id,))
            self._db.execute(
                "INSERT INTO counters VALUES ('dropped', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (dropped,),
            )
            self._depth -= dropped
            self._dropped += dropped
            return dropped

    def peek(self, max_points: int, after_id: int = 0) -> list[SpoolGroup]:
        """Groups with ids above ``after_id``, oldest first, up to ``max_points`` points in
        all (at least one group, however large); they stay queued until acked."""
        groups, points = [], 0
        with self._lock:
            # SQLite reads rows as they are iterated: stopping early reads no more.
            rows = self._db.execute(
                "SELECT id, points, payload FROM spool WHERE id > ? ORDER BY id", (after_id,)
            )
            for group_id, n, payload in rows:
                if groups and points + n > max_points:
                    break
                groups.append(SpoolGroup(group_id, payload.split("\n")))
                points += n
            rows.close()
        return groups

    def ack(self, ids: Sequence[int]) -> None:
        """Forget groups InfluxDB has (ids already dropped are ignored)."""
        if not ids:
            return
        with self._lock:
            if self._closed:
                return  # a late confirmation after close: the rows are simply sent again
            rows = self._db.execute(
                "DELETE FROM spool WHERE id IN (SELECT value FROM json_each(?)) RETURNING points",
                (json.dumps(list(ids)),),
            ).fetchall()
            self._depth -= sum(n for (n,) in rows)

    @property
    def depth_points(self) -> int:
        """Points waiting (sent but unconfirmed ones included)."""
        return self._depth

    @property
    def dropped(self) -> int:
        """Points dropped at the bound, over the life of this file."""
        return self._dropped

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
