"""The embedded history behind the dashboard's panels: the reported frames, as the MQTT
and InfluxDB outputs report them, in SQLite beside the event store (``web.history_path``).

    frame -> ReportPolicy -> build_message -> a `frames` row + an `objects` row per object

The same frames (`edgewatch.outputs.report`: a camera's first frame, every
``every_n_frames``th, and at once when the objects change; the policy of
``outputs.influx`` when that output is on, else of ``outputs.mqtt``) and the same objects
(`edgewatch.outputs.message`) as the InfluxDB points, so the panels read the same from
either store. Rows are written in batches (a transaction a second at most), and rows
older than ``web.history_retention`` are deleted at start and every `PRUNE_EVERY_S`.

Schema (`SCHEMA`; times are capture times in epoch seconds, confidences 0..1):

    frames(camera TEXT, time REAL, frame_number INTEGER, total_num_obj INTEGER,
           avg_confidence REAL)        -- NULL avg_confidence: a frame without objects
    objects(camera TEXT, time REAL, frame_number INTEGER, object_id INTEGER, label TEXT,
            confidence REAL, box_width REAL, box_height REAL, unique_com_id TEXT)
                                       -- NULL object_id: untracked (the message's 2**64-1)
    indexes frames(camera, time), objects(camera, time)

An object's row and its frame's row share (camera, time, frame_number). Readers open
the file read-only beside the writer (WAL: they never block it), e.g.
``SELECT time, total_num_obj FROM frames WHERE camera = ? AND time >= ? ORDER BY time``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from edgewatch.clients.sqlite import open_database, transaction
from edgewatch.outputs.base import StreamInfo
from edgewatch.outputs.message import build_message
from edgewatch.outputs.report import ReportedOutputConfig
from edgewatch.outputs.web import WebConfig
from edgewatch.types import UNTRACKED_OBJECT_ID, Detections, Frame

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS frames (
    camera TEXT NOT NULL,
    time REAL NOT NULL,
    frame_number INTEGER NOT NULL,
    total_num_obj INTEGER NOT NULL,
    avg_confidence REAL
);
CREATE INDEX IF NOT EXISTS frames_camera_time ON frames (camera, time);
CREATE TABLE IF NOT EXISTS objects (
    camera TEXT NOT NULL,
    time REAL NOT NULL,
    frame_number INTEGER NOT NULL,
    object_id INTEGER,
    label TEXT NOT NULL,
    confidence REAL NOT NULL,
    box_width REAL NOT NULL,
    box_height REAL NOT NULL,
    unique_com_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_camera_time ON objects (camera, time);
"""

TABLES = ("frames", "objects")
FLUSH_S = 1.0  # rows wait at most this long (while frames come) before a transaction
BATCH_ROWS = 500  # or until this many are waiting
PRUNE_EVERY_S = 600.0

# The cameras of a table, found through its (camera, time) index one step per camera
# (a loose index scan) instead of reading every row.
_CAMERAS = """
WITH RECURSIVE c(name) AS (
    SELECT (SELECT MIN(camera) FROM {table})
    UNION ALL
    SELECT (SELECT MIN(camera) FROM {table} WHERE camera > c.name) FROM c
    WHERE c.name IS NOT NULL
)
SELECT name FROM c WHERE name IS NOT NULL
"""


class HistorySink:
    """The reported frames and their objects into the SQLite history (see the module)."""

    name = "history"
    wants_annotated = False
    lossless = True  # a few rows a second per camera: cheap, and the panels want them all

    def __init__(self, config: WebConfig, report: ReportedOutputConfig) -> None:
        """``report``: the output whose choice of frames to follow (outputs.influx when
        it is on, else outputs.mqtt)."""
        self.path = Path(config.history_path)
        self.retention_s = config.history_retention
        self.policy = report.report_policy()
        self._db = None
        self._lock = threading.Lock()  # the runner writes; stats() may come from elsewhere
        self._frames: list[tuple] = []
        self._objects: list[tuple] = []
        self._waiting_since = 0.0
        self._next_prune = 0.0
        self.written = {"frames": 0, "objects": 0, "pruned": 0}

    def open(self, streams: Sequence[StreamInfo]) -> None:
        self._db = open_database(self.path, SCHEMA, what="web history", setting="web.history_path")
        self.prune()

    def write(self, frame: Frame, detections: Detections) -> None:
        if self.policy.due(frame.camera, detections):
            self._add(build_message(frame, detections))
        now = time.monotonic()
        if self._frames and (
            now - self._waiting_since >= FLUSH_S
            or len(self._frames) + len(self._objects) >= BATCH_ROWS
        ):
            self.flush()
        if now >= self._next_prune:
            self.prune()

    def _add(self, message: dict) -> None:
        camera, when = message["camera"], message["timestamp"]
        number = message["detection_frame_number"]
        results = message["inference_results"]
        average = (
            round(sum(o["confidence"] for o in results) / len(results), 4) if results else None
        )
        if not self._frames:
            self._waiting_since = time.monotonic()
        self._frames.append((camera, when, number, message["total_num_obj"], average))
        self._objects.extend(
            (
                camera,
                when,
                number,
                None if o["objectID"] == UNTRACKED_OBJECT_ID else o["objectID"],
                o["label"],
                o["confidence"],
                o["box_width"],
                o["box_height"],
                o["unique_com_id"],
            )  # fmt: skip
            for o in results
        )

    def flush(self) -> None:
        """Write the waiting rows in one transaction."""
        if not self._frames or self._db is None:
            return
        frames, objects = self._frames, self._objects
        self._frames, self._objects = [], []
        with self._lock, transaction(self._db):
            self._db.executemany("INSERT INTO frames VALUES (?, ?, ?, ?, ?)", frames)
            self._db.executemany("INSERT INTO objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", objects)
        self.written["frames"] += len(frames)
        self.written["objects"] += len(objects)

    def prune(self, now: float | None = None) -> int:
        """Delete the rows older than the retention; returns how many went."""
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        if self._db is None:
            return 0
        cutoff = (time.time() if now is None else now) - self.retention_s
        deleted = 0
        with self._lock, transaction(self._db):
            for table in TABLES:
                cameras = [row[0] for row in self._db.execute(_CAMERAS.format(table=table))]
                for camera in cameras:
                    deleted += self._db.execute(
                        f"DELETE FROM {table} WHERE camera = ? AND time < ?", (camera, cutoff)
                    ).rowcount
        if deleted:
            log.debug("web history: deleted %d rows older than %.0f s", deleted, self.retention_s)
        self.written["pruned"] += deleted
        return deleted

    def stats(self) -> dict:
        """Rows written (frames, objects) and pruned."""
        return dict(self.written)

    def close(self) -> None:
        if self._db is None:
            return
        try:
            self.flush()
        finally:
            with self._lock:
                self._db.close()
                self._db = None
