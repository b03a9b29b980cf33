"""`edgewatch forward`: the edge's points, downsampled, into the cloud InfluxDB.

What the reference design's hourly Flux task does, for an edge InfluxDB 1.x: for every
``window`` (10 min) and every series (measurement + tags, so per object tag ``obj`` and
camera), the last value of each field goes to the cloud, stamped with the window's end
(Flux's ``aggregateWindow`` stamps ``_stop``). Raw points never leave the box.

Nothing is lost or repeated across restarts and outages:

- A checkpoint file records the end of the last window the cloud confirmed. Work goes in
  chunks of ``every`` (at least 1 h); the checkpoint moves only after the cloud has a
  whole chunk.
- After an outage of the edge or the cloud, the next pass forwards every window since the
  checkpoint (back to ``max_catch_up``, capped by the edge's retention).
- A window is forwarded once it ended ``delay`` ago, so points still travelling to the
  edge database (a spool or broker draining) are in it.
- A crash between the cloud's confirmation and the checkpoint write resends that chunk;
  the points are identical (same series, same time), so InfluxDB keeps one of each.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from edgewatch.clients.influx.line_protocol import FieldValue, line
from edgewatch.clients.influx.query import InfluxQL, InfluxUnavailable, quote_ident
from edgewatch.clients.influx.writer import InfluxWriter, WriteResult
from edgewatch.config import Config
from edgewatch.errors import ConfigError
from edgewatch.stats import PipelineStats

log = logging.getLogger(__name__)

NS = 1_000_000_000
RETRY_MIN_S, RETRY_MAX_S = 1.0, 60.0
MIN_CHUNK_S = 3600
LAST_PREFIX = "last_"  # InfluxQL names the columns of last(*) last_<field>


def iso(ns: int) -> str:
    return (
        datetime.fromtimestamp(ns / NS, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


class Checkpoint:
    """The end (ns) of the last window the cloud has, in a small JSON file written
    atomically (temporary file, fsync, rename): a crash leaves the old or the new one."""

    def __init__(self, path: Path, *, target: str) -> None:
        """``target`` names the edge and cloud pair; a checkpoint of another pair is not
        ours to resume from (a new cloud database gets the history again)."""
        self.path = Path(path)
        self.target = target

    def load(self) -> int | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"cannot read the forward checkpoint {self.path} ({error})",
                "fix forward.checkpoint_path; deleting the file re-sends up to "
                "forward.max_catch_up of history (harmless: the same points)",
            ) from None
        if data.get("target") != self.target:
            log.warning("checkpoint %s was for %s; starting over for %s",
                        self.path, data.get("target"), self.target)  # fmt: skip
            return None
        return int(data["forwarded_until_ns"])

    def save(self, until_ns: int) -> None:
        data = {"target": self.target, "forwarded_until_ns": until_ns,
                "forwarded_until": iso(until_ns)}  # fmt: skip
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "w", encoding="utf-8") as file:
                json.dump(data, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except OSError as error:
            raise ConfigError(
                f"cannot write the forward checkpoint {self.path} ({error.strerror})",
                "set forward.checkpoint_path to a file in a folder edgewatch may write",
            ) from None


@dataclass
class PassResult:
    """One pass over the windows due: what reached the cloud."""

    chunks: int = 0
    windows: int = 0
    points: int = 0
    first_ns: int | None = None
    until_ns: int | None = None
    caught_up: bool = True  # False: stopped (or timed out) before the last due window


class CloudTimeout(Exception):
    """The cloud did not confirm a chunk in time (one-shot mode)."""


class Forwarder:
    """Reads window summaries from the edge (InfluxQL) and writes them to the cloud."""

    def __init__(self, config: Config, *, stats: PipelineStats | None = None) -> None:
        if config.cloud is None:
            raise ConfigError(
                "`edgewatch forward` needs a cloud section (the InfluxDB to forward to)",
                "add cloud: {url: ..., database: ...} (1.x) or {api: v2, org, bucket, token}",
            )
        if config.influx.api != "v1":
            raise ConfigError(
                "`edgewatch forward` reads the edge database with InfluxQL (InfluxDB 1.x); "
                "influx.api is v2",
                "with InfluxDB 2.x on the edge, let it forward by itself: install the task "
                "`edgewatch influx task` prints",
            )
        self.config = config
        self.forward = config.forward
        self.stats = stats if stats is not None else PipelineStats()
        self.edge = InfluxQL(config.influx, role="influx")
        self.cloud = InfluxWriter(config.cloud, stats=self.stats)
        self.database = config.influx.database
        self.measurements = self.forward.measurements or [
            config.influx.measurement,
            config.influx.system_measurement,
        ]
        self.window_ns = round(self.forward.window) * NS
        # Work (and the checkpoint) moves a chunk at a time: `every`, but at least an hour,
        # so catching up a week of short windows is 168 queries, not 300,000.
        every_s = round(self.forward.every)
        self.chunk_ns = every_s * math.ceil(MIN_CHUNK_S / every_s) * NS
        cloud_name = config.cloud.bucket if config.cloud.api == "v2" else config.cloud.database
        self.checkpoint = Checkpoint(
            self.forward.checkpoint_path,
            target=f"{self.edge.where}/{self.database} -> {self.cloud.where}/{cloud_name}",
        )
        self._started = False

    # -- what is due ------------------------------------------------------------------

    def due_range(self, now_s: float | None = None) -> tuple[int, int]:
        """[start, end) in ns of the windows that ended at least ``delay`` ago and the
        cloud does not have yet; start == end when nothing is due."""
        now_ns = round((time.time() if now_s is None else now_s) * NS)
        end = self._align(now_ns - round(self.forward.delay * NS))
        reach_s = self.forward.max_catch_up
        if self.config.influx.retention:
            reach_s = min(reach_s, self.config.influx.retention)
        oldest = self._align(now_ns - round(reach_s * NS))
        checkpoint = self.checkpoint.load()
        start = oldest if checkpoint is None else max(self._align(checkpoint), oldest)
        if checkpoint is not None and checkpoint < oldest:
            log.warning("the cloud lacks %s .. %s: older than forward.max_catch_up or the "
                        "edge's retention, so gone", iso(checkpoint), iso(oldest))  # fmt: skip
        return start, max(start, end)

    def _align(self, ns: int) -> int:
        return ns - ns % self.window_ns

    # -- one pass ---------------------------------------------------------------------

    def check(self) -> None:
        """Wrong names or credentials on either side fail here with one line; a side that
        is merely unreachable is retried later."""
        self.cloud.check()
        try:
            self.edge.select("SHOW MEASUREMENTS LIMIT 1", db=self.database)
        except InfluxUnavailable as error:
            log.warning("%s; forwarding waits for it", error.problem)

    def run_pass(
        self, stop: threading.Event, *, now_s: float | None = None, timeout_s: float | None = None
    ) -> PassResult:
        """Forward every due window, a chunk at a time. Raises `InfluxUnavailable` when the
        edge cannot be read, `CloudTimeout` when the cloud did not confirm a chunk within
        ``timeout_s`` (None: wait as long as it takes, or until ``stop``)."""
        if not self._started:
            self.cloud.start()
            self._started = True
        start, end = self.due_range(now_s)
        result = PassResult()
        chunk_start = start
        while chunk_start < end:
            if stop.is_set():
                result.caught_up = False
                break
            chunk_end = min(end, chunk_start - chunk_start % self.chunk_ns + self.chunk_ns)
            lines = self.read_chunk(chunk_start, chunk_end)
            if not self._write(lines, stop, timeout_s):
                result.caught_up = False
                break
            self.checkpoint.save(chunk_end)
            windows = (chunk_end - chunk_start) // self.window_ns
            log.info("forwarded %s .. %s: %d windows, %d points",
                     iso(chunk_start), iso(chunk_end), windows, len(lines))  # fmt: skip
            result.chunks += 1
            result.windows += windows
            result.points += len(lines)
            result.first_ns = chunk_start if result.first_ns is None else result.first_ns
            result.until_ns = chunk_end
            self.stats.count("windows_forwarded", windows)
            self.stats.count("points_forwarded", len(lines))
            chunk_start = chunk_end
        return result

    def read_chunk(self, start_ns: int, end_ns: int) -> list[str]:
        """The window summaries of [start, end) of every forwarded measurement."""
        started = time.perf_counter()
        lines = []
        for measurement in self.measurements:
            lines.extend(self._summaries(measurement, start_ns, end_ns))
        self.stats.time("edge_read", time.perf_counter() - started)
        return lines

    def _summaries(self, measurement: str, start_ns: int, end_ns: int) -> list[str]:
        types = self._field_types(measurement)
        if not types:
            return []  # nothing written to it yet
        source = quote_ident(measurement)
        if self.config.influx.retention_policy:
            source = f"{quote_ident(self.config.influx.retention_policy)}.{source}"
        window_s = self.window_ns // NS
        statement = (
            f"SELECT last(*) FROM {source} WHERE time >= {start_ns} AND time < {end_ns} "
            f"GROUP BY time({window_s}s), * fill(none)"
        )
        lines = []
        for series in self.edge.select(statement, db=self.database):
            for row in series.rows():
                fields: dict[str, FieldValue] = {}
                for column, value in row.items():
                    name = column.removeprefix(LAST_PREFIX)
                    if column == "time" or value is None or name not in types:
                        continue
                    fields[name] = _typed(value, types[name])
                if fields:
                    # Stamped with the window's end, as Flux's aggregateWindow does.
                    stamp = row["time"] + self.window_ns
                    lines.append(line(measurement, series.tags, fields, stamp))
        return lines

    def _field_types(self, measurement: str) -> dict[str, str]:
        """Field name -> float/integer/string/boolean. JSON cannot tell 1.0 from 1, and a
        float field written back as an integer would conflict in the cloud."""
        series = self.edge.select(
            f"SHOW FIELD KEYS FROM {quote_ident(measurement)}", db=self.database
        )
        return {row["fieldKey"]: row["fieldType"] for s in series for row in s.rows()}

    def _write(self, lines: list[str], stop: threading.Event, timeout_s: float | None) -> bool:
        """Hand a chunk to the cloud writer and wait for its confirmation. False: stopped or
        timed out first (the checkpoint stays, so the chunk is sent again next time)."""
        if not lines:
            return True
        done = threading.Semaphore(0)
        refused: list[int] = []
        batch = self.cloud.config.batch_size
        groups = [lines[i : i + batch] for i in range(0, len(lines), batch)]
        deadline = math.inf if timeout_s is None else time.monotonic() + timeout_s

        def on_done(result: WriteResult) -> None:
            if result.rejected:
                refused.append(result.rejected)
            done.release()

        for group in groups:
            while not self.cloud.write(group, on_done, wait_s=1):
                if stop.is_set():
                    return False
                if time.monotonic() > deadline:
                    raise CloudTimeout
        self.cloud.flush(timeout=0)  # send now: the chunk is complete, no point lingering
        for _ in groups:
            while not done.acquire(timeout=0.5):
                if self.cloud.error is not None:
                    raise self.cloud.error
                if stop.is_set():
                    return False
                if time.monotonic() > deadline:
                    raise CloudTimeout
        if refused:
            # Bad data: sending it again cannot help, and holding the checkpoint would
            # stop every later window too.
            log.error("the cloud refused %d points of this chunk as bad data; moving on",
                      sum(refused))  # fmt: skip
            self.stats.count("points_refused", sum(refused))
        return True

    def close(self) -> None:
        if self._started:
            self.cloud.close(timeout=1.0)

    # -- the service --------------------------------------------------------------------

    def serve(self, stop: threading.Event) -> None:
        """Forward what is due now, then once per ``every`` (at the boundary plus
        ``delay``); an unreachable side is retried with backoff, never given up."""
        retry_s = RETRY_MIN_S
        while not stop.is_set():
            try:
                result = self.run_pass(stop)
                retry_s = RETRY_MIN_S
            except InfluxUnavailable as error:
                log.warning("%s; retrying in %.0f s", error.problem, retry_s)
                stop.wait(retry_s)
                retry_s = min(retry_s * 2, RETRY_MAX_S)
                continue
            if not result.caught_up:
                continue
            now = time.time()
            every = self.forward.every
            next_run = (now // every + 1) * every + self.forward.delay
            if next_run - every > now:  # still before this period's run time
                next_run -= every
            stop.wait(max(next_run - now, 0.05))


def _typed(value: object, field_type: str) -> FieldValue:
    if field_type == "float":
        return float(value)
    if field_type == "integer":
        return int(value)
    if field_type == "boolean":
        return bool(value)
    return str(value)


def run_forward(config: Config, stop: threading.Event, *, once: bool, timeout_s: float) -> int:
    """`edgewatch forward`: the service, or (``once``) one pass for cron. One pass exits 1
    when a side is unreachable or the cloud too slow: nothing is lost, the next run
    resumes at the checkpoint."""
    forwarder = Forwarder(config)
    forwarder.check()
    try:
        if not once:
            log.info("forwarding %s every %.0f s in %.0f s windows to %s",
                     ", ".join(forwarder.measurements), forwarder.forward.every,
                     forwarder.forward.window, forwarder.cloud.where)  # fmt: skip
            forwarder.serve(stop)
            return 0
        try:
            result = forwarder.run_pass(stop, timeout_s=timeout_s)
        except InfluxUnavailable as error:
            print(f"edgewatch: {error.problem}; nothing lost, the next run catches up")
            return 1
        except CloudTimeout:
            print(f"edgewatch: the cloud at {forwarder.cloud.where} did not confirm within "
                  f"{timeout_s:.0f} s; nothing lost, the next run catches up")  # fmt: skip
            return 1
        if result.windows:
            print(f"forwarded {result.windows} windows ({iso(result.first_ns)} .. "
                  f"{iso(result.until_ns)}), {result.points} points")  # fmt: skip
        else:
            print("nothing to forward: the cloud is up to date")
        return 0 if result.caught_up else 1
    finally:
        forwarder.close()
