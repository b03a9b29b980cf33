"""Points to InfluxDB through an on-disk spool: nothing is lost while InfluxDB is away.

    points -> DurableQueue (SQLite) -> SpoolFeeder thread -> InfluxWriter (batches, retries)

`SpooledInfluxWriter.write` only appends to the spool; the feeder hands its groups to the
writer in order and deletes them once InfluxDB confirmed them. While InfluxDB is down the
writer holds at most ``max_pending_points`` in memory and the spool the rest on disk; a
crash loses nothing, since unconfirmed groups are sent again on the next start (a point
written twice overwrites itself: same series, same time). The pipeline's InfluxDB output
and its events output each write through one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from edgewatch.clients.durable_queue import DurableQueue
from edgewatch.clients.influx.config import InfluxConfig
from edgewatch.clients.influx.writer import InfluxError, InfluxWriter, WriteResult
from edgewatch.stats import PipelineStats
from edgewatch.supervise import SupervisedThread

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.5  # the feeder's longest nap; an append wakes it at once
ROOM_WAIT_S = 1.0  # how long one hand-over waits for room in a full writer
DROP_LOG_EVERY = 10_000  # points: the first drop is logged, then one line per this many


class SpoolFeeder:
    """Hands spooled groups to an `InfluxWriter` in id order, and acks them in the spool
    once InfluxDB has them. Owns the writer's lifetime from `start` to `close`."""

    def __init__(self, spool: DurableQueue, writer: InfluxWriter, *, batch_points: int) -> None:
        self.spool, self.writer, self.batch_points = spool, writer, batch_points
        self.written = self.rejected = 0  # points, as the writer reported them
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._deadline = float("inf")
        # A restart begins again at the oldest group: at worst some are sent twice.
        self._thread = SupervisedThread(self._run, name="influx-feeder", restart=True)

    def start(self) -> SpoolFeeder:
        self.writer.start()
        self._thread.start()
        return self

    def wake(self) -> None:
        """New groups are in the spool."""
        self._wake.set()

    def close(self, timeout: float) -> None:
        """Hand over what is left and let the writer flush it, all within about
        ``timeout``; whatever InfluxDB has not confirmed by then stays in the spool."""
        deadline = time.monotonic() + timeout
        self._deadline = deadline
        self._closing.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout + ROOM_WAIT_S + 1)
        self.writer.close(max(deadline - time.monotonic(), 0.5))

    def _run(self) -> None:
        cursor = 0  # the newest group handed over; older unconfirmed ones are the writer's
        while True:
            self._thread.beat()
            self._wake.clear()  # before peeking: an append after it is not missed
            groups = self.spool.peek(self.batch_points, after_id=cursor)
            if not groups:
                if self._closing.is_set():
                    return
                self._wake.wait(IDLE_WAIT_S)
                continue
            lines = [line for group in groups for line in group.lines]
            on_done = partial(self._done, [group.id for group in groups])
            try:
                while not self.writer.write(lines, on_done, wait_s=ROOM_WAIT_S):
                    # Full: InfluxDB is away. The spool keeps the rest meanwhile.
                    if self._closing.is_set() and time.monotonic() >= self._deadline:
                        return
            except InfluxError as error:
                # No such database, bad login: fixing the config is needed. Points keep
                # going to the spool and are sent by the next run.
                log.error("InfluxDB output stopped: %s; points wait in %s", error, self.spool.path)
                return
            cursor = groups[-1].id

    def _done(self, ids: list[int], result: WriteResult) -> None:
        # Called on the writer's thread once InfluxDB answered for these groups. Points
        # refused as bad data (the writer logged InfluxDB's words) would be refused again:
        # acked too, rather than left blocking the spool.
        self.spool.ack(ids)
        self.written += result.written
        self.rejected += result.rejected


class SpooledInfluxWriter:
    """Points to one InfluxDB through an on-disk spool: `write` only appends; a
    `SpoolFeeder` sends them in order and forgets them once InfluxDB confirmed them.

    Opening checks the database: a missing one or a refused login raises `InfluxError`
    here (the run stops with one line); an unreachable InfluxDB does not, the spool keeps
    the points until it is back. Used by the InfluxDB output and by the events output."""

    def __init__(
        self, influx: InfluxConfig, spool_path: Path, max_points: int, *, setting: str
    ) -> None:
        self.influx = influx
        # The writer's own counters: while InfluxDB is away it counts every refused
        # hand-over, which says nothing about the pipeline; stats() picks what matters.
        self.writer_stats = PipelineStats()
        self.spool = DurableQueue(spool_path, max_points, what="InfluxDB spool", setting=setting)
        try:
            writer = InfluxWriter(influx, stats=self.writer_stats)
            writer.check()
        except Exception:
            self.spool.close()
            raise
        backlog = self.spool.depth()
        if backlog:
            log.info("InfluxDB spool %s holds %d points from before; sending them first",
                     self.spool.path, backlog)  # fmt: skip
        self.feeder = SpoolFeeder(self.spool, writer, batch_points=influx.batch_size).start()
        self.spooled = 0
        self._lock = threading.Lock()  # write() may come from several threads
        self._closed = False

    def write(self, lines: Sequence[str]) -> None:
        if self._closed or not lines:
            return
        dropped = self.spool.append_lines(lines)
        with self._lock:
            self.spooled += len(lines)
        self.feeder.wake()
        if dropped:
            total = self.spool.dropped
            if total == dropped or total // DROP_LOG_EVERY != (total - dropped) // DROP_LOG_EVERY:
                log.warning("InfluxDB spool %s full (%d points): dropped the oldest, %d so far",
                            self.spool.path, self.spool.max_size, total)  # fmt: skip

    def stats(self) -> dict:
        return {
            "spooled": self.spooled,
            "written": self.feeder.written,
            "rejected": self.feeder.rejected,
            "spool_depth": self.spool.depth(),
            "dropped": self.spool.dropped,
            "pending": self.feeder.writer.pending_points,
            "retries": self.writer_stats.counters.get("retries", 0),
        }

    def close(self, timeout: float | None = None) -> None:
        """Send what InfluxDB takes within ``timeout`` (influx.timeout_s); the rest waits
        in the spool for the next start."""
        if self._closed:
            return
        self._closed = True
        self.feeder.close(self.influx.timeout_s if timeout is None else timeout)
        left = self.spool.depth()
        if left:
            log.info("InfluxDB: %d points wait in %s for the next start", left, self.spool.path)
        self.spool.close()
