"""The embedded event store (SQLite): one row per episode, updated as it changes, and one
row per happening, written once and never changed.

Stores of edgewatch 0.1 kept one ``events`` row per event whose kind changed as it went
on; their rows are carried over on open (an episode each, with the happening the row was
last), and the old table is left as it was. Episode columns added since the first
``episodes`` table (`ADDED_COLUMNS`) are added to older stores on open.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from edgewatch.clients.sqlite import open_database, transaction
from edgewatch.events.model import Crossing, Episode, Happening

SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    id TEXT PRIMARY KEY,
    camera TEXT NOT NULL,
    label TEXT NOT NULL,
    track_id INTEGER NOT NULL,
    start REAL NOT NULL,
    "end" REAL,
    score REAL NOT NULL,
    top_score REAL NOT NULL,
    entered_zones TEXT NOT NULL,
    crossings TEXT NOT NULL,
    loitering TEXT NOT NULL,
    snapshot TEXT,
    thumbnail TEXT,
    stationary INTEGER NOT NULL,
    box TEXT NOT NULL DEFAULT '[0, 0, 0, 0]',
    zones TEXT NOT NULL DEFAULT '[]',
    snapshot_time REAL
);
CREATE INDEX IF NOT EXISTS episodes_start ON episodes (start);
CREATE TABLE IF NOT EXISTS happenings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    episode TEXT NOT NULL,
    camera TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    track_id INTEGER NOT NULL,
    time REAL NOT NULL,
    zone TEXT,
    direction TEXT,
    confidence REAL NOT NULL,
    snapshot TEXT
);
CREATE INDEX IF NOT EXISTS happenings_episode ON happenings (episode);
CREATE INDEX IF NOT EXISTS happenings_time ON happenings (time);
"""

#: Episode columns later than the first ``episodes`` table, as SCHEMA declares them.
ADDED_COLUMNS = {
    "box": "TEXT NOT NULL DEFAULT '[0, 0, 0, 0]'",  # the last box, xyxy pixels
    "zones": "TEXT NOT NULL DEFAULT '[]'",  # the zones it is in now
    "snapshot_time": "REAL",
}
_EPISODE = (
    "id", "camera", "label", "track_id", "start", "end", "score", "top_score",
    "entered_zones", "crossings", "loitering", "snapshot", "thumbnail", "stationary",
    *ADDED_COLUMNS,
)  # fmt: skip
_HAPPENING = (
    "episode", "camera", "kind", "label", "track_id", "time", "zone", "direction",
    "confidence", "snapshot",
)  # fmt: skip


def _quoted(columns) -> str:
    return ", ".join(f'"{c}"' for c in columns)


_NEWEST_FIRST = "ORDER BY start DESC, id DESC LIMIT ?"


@dataclass(frozen=True, slots=True)
class EpisodeQuery:
    """Which episodes a listing holds. ``since_s``: episodes still open, or that started
    or ended within the last ``since_s`` seconds (before ``now``, the clock's time by
    default). ``zone`` and ``kind``: episodes with at least one happening in that zone
    or line, of that kind. ``before``: an episode's id; only those after it in
    newest-first order (the next page; none where that episode is not stored)."""

    since_s: float | None = None
    camera: str | None = None
    label: str | None = None
    zone: str | None = None
    kind: str | None = None
    before: str | None = None
    now: float | None = None

    def where(self) -> tuple[str, list]:
        """The WHERE clause (with its leading space, or empty) and its arguments."""
        where, args = [], []
        if self.before is not None:
            start = "(SELECT start FROM episodes WHERE id = ?)"
            where.append(f"(start < {start} OR (start = {start} AND id < ?))")
            args += [self.before, self.before, self.before]
        if self.since_s is not None:
            cutoff = (time.time() if self.now is None else self.now) - self.since_s
            where.append('(start >= ? OR "end" IS NULL OR "end" >= ?)')
            args += [cutoff, cutoff]
        for column, value in (("camera", self.camera), ("label", self.label)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        for column, value in (("zone", self.zone), ("kind", self.kind)):
            if value is not None:
                # "+id": the set is a test on episodes read newest first, which stops at
                # `limit`; without it SQLite fetches and sorts every matching episode
                # (thousands of rows: 20-30 ms at 10,000 episodes instead of 5).
                where.append(f"+id IN (SELECT episode FROM happenings WHERE {column} = ?)")
                args.append(value)
        return (" WHERE " + " AND ".join(where)) if where else "", args


EVERY_EPISODE = EpisodeQuery()


@dataclass(slots=True)
class StoredEpisode:
    episode: Episode
    happenings: list[Happening]


class EventStore:
    """SQLite in WAL mode: the CLI may read while the pipeline writes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = open_database(self.path, SCHEMA, what="event store", setting="events.store_path")
        self._upgrade()

    def save(self, episode: Episode, happenings=()) -> None:
        """The episode's current state, and its new happenings, in one transaction."""
        values = (
            episode.id, episode.camera, episode.label, episode.track_id, episode.start,
            episode.end, episode.score, episode.top_score, json.dumps(episode.entered_zones),
            json.dumps([[c.line, c.direction, c.time] for c in episode.crossings]),
            json.dumps(episode.loitering), episode.snapshot, episode.thumbnail,
            int(episode.stationary), json.dumps([float(v) for v in episode.box]),
            json.dumps(episode.zones), episode.snapshot_time,
        )  # fmt: skip
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in _EPISODE[1:])
        with self._lock, transaction(self._db):
            self._db.execute(
                f"INSERT INTO episodes ({_quoted(_EPISODE)}) VALUES "
                f"({', '.join('?' * len(_EPISODE))}) ON CONFLICT(id) DO UPDATE SET {updates}",
                values,
            )
            self._db.executemany(
                f"INSERT INTO happenings ({_quoted(_HAPPENING)}) VALUES "
                f"({', '.join('?' * len(_HAPPENING))})",
                [tuple(getattr(h, c) for c in _HAPPENING) for h in happenings],
            )

    def episodes(
        self, query: EpisodeQuery = EVERY_EPISODE, limit: int = 100
    ) -> list[StoredEpisode]:
        """Newest first, each with its happenings in order."""
        where, args = query.where()
        sql = f"SELECT {_quoted(_EPISODE)} FROM episodes{where} {_NEWEST_FIRST}"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit)).fetchall()
            return self._with_happenings([_episode(row) for row in rows])

    def episode_keys(self, query: EpisodeQuery = EVERY_EPISODE, limit: int = 100) -> list[tuple]:
        """What `episodes` returns, in its order, as (id, end, snapshot, thumbnail, score,
        top_score): no happenings, no JSON to parse. A reader that keeps what it built of
        ended episodes (the engine saves nothing after an episode's end) by this key
        fetches only the others with `episodes_by_id`; a change of any of these columns
        is a new key."""
        where, args = query.where()
        columns = 'id, "end", snapshot, thumbnail, score, top_score'
        sql = f"SELECT {columns} FROM episodes{where} {_NEWEST_FIRST}"
        with self._lock:
            return self._db.execute(sql, (*args, limit)).fetchall()

    def episodes_by_id(self, ids: list[str]) -> dict[str, StoredEpisode]:
        """These episodes (those that exist), each with its happenings."""
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        sql = f"SELECT {_quoted(_EPISODE)} FROM episodes WHERE id IN ({marks})"
        with self._lock:
            rows = self._db.execute(sql, ids).fetchall()
            found = self._with_happenings([_episode(row) for row in rows])
        return {stored.episode.id: stored for stored in found}

    def _with_happenings(self, found: list[Episode]) -> list[StoredEpisode]:
        """Each episode with its happenings in order (the caller holds the lock)."""
        happenings: dict[str, list[Happening]] = {e.id: [] for e in found}
        if found:
            marks = ", ".join("?" * len(found))
            for row in self._db.execute(
                f"SELECT {_quoted(_HAPPENING)} FROM happenings WHERE episode IN ({marks}) "
                "ORDER BY time, seq",
                [e.id for e in found],
            ):
                happenings[row[0]].append(Happening(*row))
        return [StoredEpisode(e, happenings[e.id]) for e in found]

    def _upgrade(self) -> None:
        """Older stores made current. IMMEDIATE: the write lock before the look at the
        columns, so two processes opening one old store add each column once."""
        with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
            have = {row[1] for row in self._db.execute("PRAGMA table_info(episodes)")}
            for column, declared in ADDED_COLUMNS.items():
                if column not in have:
                    self._db.execute(f'ALTER TABLE episodes ADD COLUMN "{column}" {declared}')
            self._carry_over_v1()

    def _carry_over_v1(self) -> None:
        old = self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'events'"
        ).fetchone()
        if old is None:
            return
        self._db.execute(
            'INSERT OR IGNORE INTO episodes (id, camera, label, track_id, start, "end", '
            "score, top_score, entered_zones, crossings, loitering, snapshot, thumbnail, "
            "stationary) SELECT id, camera, label, track_id, start, "
            '"end", best_confidence, best_confidence, '
            "CASE WHEN zone IS NOT NULL AND kind LIKE 'zone%' THEN json_array(zone) "
            "ELSE '[]' END, "
            "CASE WHEN kind = 'line_crossed' THEN json_array(json_array(zone, direction, "
            "start)) ELSE '[]' END, "
            "CASE WHEN kind = 'loitering' THEN json_array(zone) ELSE '[]' END, "
            "snapshot, NULL, 0 FROM events"
        )
        self._db.execute(
            "INSERT INTO happenings (episode, camera, kind, label, track_id, time, zone, "
            "direction, confidence, snapshot) SELECT id, camera, kind, label, track_id, "
            "start, zone, direction, best_confidence, snapshot FROM events "
            "WHERE id NOT IN (SELECT episode FROM happenings)"
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _episode(row) -> Episode:
    values = dict(zip(_EPISODE, row, strict=True))
    return Episode(
        values["id"], values["camera"], values["label"], values["track_id"], values["start"],
        values["end"], values["score"], values["top_score"],
        box=tuple(json.loads(values["box"])), zones=json.loads(values["zones"]),
        entered_zones=json.loads(values["entered_zones"]),
        crossings=[Crossing(*c) for c in json.loads(values["crossings"])],
        loitering=json.loads(values["loitering"]), snapshot=values["snapshot"],
        thumbnail=values["thumbnail"], snapshot_time=values["snapshot_time"],
        stationary=bool(values["stationary"]),
    )  # fmt: skip
