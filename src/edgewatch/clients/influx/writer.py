"""Batched, retried writes of line protocol to InfluxDB over HTTP (1.x and 2.x APIs).

    writer = InfluxWriter(config.influx, stats=stats).start()
    writer.write(lines, on_done=lambda result: ...)    # never blocks on the network
    writer.close()                                     # flushes, within timeout_s

One background thread sends. What a ``write()`` call hands over (a group: one message's
points) stays together in one batch, and its ``on_done`` gets a `WriteResult` once its fate
is known: how many points InfluxDB has, how many it refused as bad data (4xx: retrying
cannot help) and why. A refused batch may be a partial write (InfluxDB 1.x keeps the good
points of a batch and refuses the rest), so it is sent again group by group, and a refused
group point by point: the counts are exact, and a point written twice is the same point.
Connection errors, 5xx and 429 are retried with exponential backoff for as long as it
takes, the points kept in memory (up to ``max_pending_points``). Configuration errors
InfluxDB reports (no such database, bad login) stop the writer: `error` says what to fix,
and the points are neither written nor called back. Tokens and passwords go only into
request headers, never into URLs, logs or exceptions.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edgewatch.clients.influx.config import InfluxConfig
from edgewatch.clients.secrets import resolve_secret
from edgewatch.errors import ConfigError, EdgewatchError
from edgewatch.stats import PipelineStats
from edgewatch.supervise import SupervisedThread

log = logging.getLogger(__name__)

PASSWORD_ENV = "EDGEWATCH_INFLUX_PASSWORD"
TOKEN_ENV = "EDGEWATCH_INFLUX_TOKEN"
FIRST_RETRY_S = 0.5
RETRY_LOG_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The fate of one ``write()`` call's points."""

    written: int
    rejected: int = 0
    reason: str = ""  # InfluxDB's words for the refusal

    @property
    def ok(self) -> bool:
        return self.rejected == 0


OnDone = Callable[[WriteResult], None]


class InfluxError(EdgewatchError):
    """InfluxDB refuses our writes for a reason only the configuration can fix."""


@dataclass(slots=True)
class _Group:
    lines: Sequence[str]
    data: bytes  # the lines encoded, by the producer: a bad string fails there, not here
    on_done: OnDone | None
    seq: int


@dataclass(slots=True)
class _Outcome:
    kind: str  # "ok", "retry", "reject" or "fatal"
    reason: str
    error: InfluxError | None = None


class InfluxWriter:
    """Line protocol to one InfluxDB; reusable by any producer of points."""

    def __init__(
        self,
        config: InfluxConfig,
        *,
        stats: PipelineStats | None = None,
        linger_s: float | None = None,
    ) -> None:
        """``linger_s``: also send once no point arrived for this long. Ingest sets it: the
        broker sends only a window of unacknowledged messages, so waiting for a full batch
        would stall it."""
        self.config = config
        self.stats = stats if stats is not None else PipelineStats()
        self.linger_s = linger_s
        self._path, self._headers = _request_target(config)
        parts = urllib.parse.urlsplit(config.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"influx.url {config.url!r} is not an http(s) URL",
                              "e.g. http://127.0.0.1:8086")  # fmt: skip
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        # For logs and errors: never the user info a URL may carry.
        self.where = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        self._connection: http.client.HTTPConnection | None = None

        self._cond = threading.Condition()
        self._groups: deque[_Group] = deque()
        self._pending_points = 0
        self._first_at = 0.0  # when the oldest pending point arrived
        self._last_at = 0.0
        self._seq = 0  # of the last group handed over
        self._done_seq = 0  # every group up to this one is written or refused
        self._flush_to = 0
        self._closing = False
        self._close_requested = threading.Event()
        self._deadline = float("inf")  # of the final flush, once closing
        self.error: InfluxError | None = None
        self._thread: SupervisedThread | None = None

    # -- the producer's side ------------------------------------------------------------

    def start(self) -> InfluxWriter:
        self._thread = SupervisedThread(self._run, name="influx-writer")
        self._thread.start()
        return self

    def write(
        self, lines: Sequence[str], on_done: OnDone | None = None, *, wait_s: float = 0.0
    ) -> bool:
        """Queue points. When ``max_pending_points`` are already waiting, wait up to
        ``wait_s`` for room, then return False with nothing queued. Raises the writer's
        `InfluxError` once it has stopped on one, and UnicodeEncodeError for a line that
        is not valid text (a lone surrogate): nothing is queued then."""
        data = "\n".join(lines).encode("utf-8")
        with self._cond:
            has_room = self._cond.wait_for(
                lambda: (
                    self.error is not None
                    or not self._groups
                    or self._pending_points + len(lines) <= self.config.max_pending_points
                ),
                wait_s,
            )
            if self.error is not None:
                raise self.error
            if not has_room:
                self.stats.count("points_refused", len(lines))
                return False
            now = time.monotonic()
            if not self._groups:
                self._first_at = now
            self._last_at = now
            self._seq += 1
            self._groups.append(_Group(lines, data, on_done, self._seq))
            self._pending_points += len(lines)
            if len(self._groups) == 1 or self._pending_points >= self.config.batch_size:
                self._cond.notify_all()  # the sender sets its clock by the first point
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Send what was handed over so far now; True once it is written or refused."""
        with self._cond:
            target = self._seq
            self._flush_to = max(self._flush_to, target)
            self._cond.notify_all()
            return (
                self._cond.wait_for(
                    lambda: self._done_seq >= target or self.error is not None or not self._alive(),
                    timeout,
                )
                and self._done_seq >= target
            )

    def close(self, timeout: float | None = None) -> None:
        """Flush for at most ``timeout`` (default ``timeout_s``) and stop. Points still unsent
        then are given up without their ``on_done``: ingest leaves their messages unacked."""
        timeout = self.config.timeout_s if timeout is None else timeout
        with self._cond:
            self._closing = True
            self._close_requested.set()
            self._deadline = time.monotonic() + timeout
            self._flush_to = self._seq
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout + self.config.timeout_s + 1)
        self._drop_connection()

    def check(self) -> None:
        """An empty write: raises `InfluxError` when the database or login is wrong. An
        unreachable InfluxDB is only logged; writes wait for it. Call it before start()."""
        if self._thread is not None:
            raise RuntimeError("check() shares the sending thread's connection: call it first")
        outcome = self._post(b"")
        if outcome.kind == "fatal":
            raise outcome.error
        if outcome.kind == "retry":
            log.warning("InfluxDB at %s is not reachable yet (%s); points wait for it",
                        self.where, outcome.reason)  # fmt: skip

    @property
    def pending_points(self) -> int:
        return self._pending_points

    def __enter__(self) -> InfluxWriter:
        return self.start()

    def __exit__(self, *_) -> None:
        self.close()

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the sending thread -------------------------------------------------------------

    def _due(self, now: float) -> float | None:
        """0 when a batch should go now, else seconds until one will (None: nothing queued)."""
        if not self._groups:
            return None
        if (
            self._closing
            or self._pending_points >= self.config.batch_size
            or self._flush_to >= self._groups[0].seq
        ):
            return 0.0
        wait = self._first_at + self.config.flush_interval_s - now
        if self.linger_s is not None:
            wait = min(wait, self._last_at + self.linger_s - now)
        return max(wait, 0.0)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    self._thread.beat()
                    due = self._due(time.monotonic())
                    if due == 0.0:
                        break
                    if due is None and self._closing:
                        return
                    self._cond.wait(1.0 if due is None else min(due, 1.0))
                batch = self._take_batch()
            if not self._send(batch):
                return

    def _take_batch(self) -> list[_Group]:
        """Whole groups, up to batch_size points (one group may exceed it alone)."""
        batch, points = [], 0
        for group in self._groups:
            if batch and points + len(group.lines) > self.config.batch_size:
                break
            batch.append(group)
            points += len(group.lines)
        # Left in the queue until sent, so pending_points counts them and write() sees them;
        # only this thread removes groups.
        return batch

    def _send(self, batch: list[_Group]) -> bool:
        """Until written, refused or given up; False when this thread must stop."""
        points = sum(len(group.lines) for group in batch)
        started = time.monotonic()
        outcome = self._post_until_answered(b"\n".join(group.data for group in batch))
        if outcome is None:
            return False
        self.stats.time("influx_write", time.monotonic() - started, points)
        if outcome.kind == "ok":
            results = [WriteResult(len(group.lines)) for group in batch]
            self.stats.count("batches_written")
        else:
            results = self._isolate(batch, outcome.reason)
            if results is None:
                return False
        written = sum(result.written for result in results)
        rejected = points - written
        self.stats.count("points_written", written)
        if rejected:
            self.stats.count("write_errors")
            self.stats.count("points_rejected", rejected)
            log.error("InfluxDB at %s refused %d of a batch of %d points as bad data: %s",
                      self.where, rejected, points, outcome.reason)  # fmt: skip
        with self._cond:
            for _ in batch:
                self._groups.popleft()
            self._pending_points -= points
            self._done_seq = batch[-1].seq
            if self._groups:
                self._first_at = time.monotonic()
            self._cond.notify_all()
        for group, result in zip(batch, results, strict=True):
            if group.on_done is not None:
                try:
                    group.on_done(result)
                except Exception:
                    log.exception("on_done callback failed")
        return True

    def _isolate(self, batch: list[_Group], reason: str) -> list[WriteResult] | None:
        """A refused batch, sent again group by group and a refused group point by point,
        so that exactly the bad points are refused (None: this thread must stop)."""
        results = []
        for group in batch:
            if len(batch) > 1:
                outcome = self._post_until_answered(group.data)
                if outcome is None:
                    return None
                if outcome.kind == "ok":
                    results.append(WriteResult(len(group.lines)))
                    continue
                reason = outcome.reason
            if len(group.lines) == 1:
                results.append(WriteResult(0, 1, reason))
                continue
            written, reasons = 0, []
            for line in group.lines:
                outcome = self._post_until_answered(line.encode("utf-8"))
                if outcome is None:
                    return None
                if outcome.kind == "ok":
                    written += 1
                else:
                    reasons.append(outcome.reason)
            results.append(WriteResult(written, len(reasons), "; ".join(dict.fromkeys(reasons))))
        return results

    def _post_until_answered(self, body: bytes) -> _Outcome | None:
        """POSTs until InfluxDB takes or refuses ``body`` (an "ok" or "reject" outcome),
        retrying what may pass later; None when this thread must stop (a fatal answer, or
        closing with the deadline passed)."""
        failing_since, delay, attempts, last_log = None, FIRST_RETRY_S, 0, 0.0
        while True:
            outcome = self._post(body)
            if outcome.kind in ("ok", "reject"):
                if failing_since is not None:
                    log.info("InfluxDB write to %s works again after %d retries (%.1f s)",
                             self.where, attempts, time.monotonic() - failing_since)  # fmt: skip
                return outcome
            self.stats.count("write_errors")
            if outcome.kind == "fatal":
                log.error("%s", outcome.error)
                with self._cond:
                    self.error = outcome.error
                    self._cond.notify_all()
                return None
            now = time.monotonic()
            if failing_since is None:
                failing_since = now
            attempts += 1
            if now - last_log >= RETRY_LOG_EVERY_S:
                last_log = now
                log.warning("InfluxDB write to %s failed (%s); retrying, %d points kept",
                            self.where, outcome.reason, self._pending_points)  # fmt: skip
            if self._closing and now + delay > self._deadline:
                log.warning("giving up %d unsent points on close (InfluxDB: %s)",
                            self._pending_points, outcome.reason)  # fmt: skip
                return None
            if self._closing:
                time.sleep(delay)
            else:
                self._close_requested.wait(delay)  # close() cuts the wait short: one last try
            self._thread.beat()
            self.stats.count("retries")
            delay = min(delay * 2, self.config.retry_max_s)

    # -- HTTP -----------------------------------------------------------------------------

    def _post(self, body: bytes) -> _Outcome:
        try:
            if self._connection is None:
                cls = (
                    http.client.HTTPSConnection
                    if self._scheme == "https"
                    else http.client.HTTPConnection
                )
                self._connection = cls(self._host, self._port, timeout=self.config.timeout_s)
            self._connection.request("POST", self._path, body, self._headers)
            response = self._connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as error:
            # A kept-alive connection the server closed looks the same: reconnect next time.
            self._drop_connection()
            reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
            return _Outcome("retry", reason)
        if response.status in (200, 204):
            return _Outcome("ok", "")
        return _classify(self.config, self.where, response.status, _error_text(text))

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _error_text(body: str) -> str:
    """InfluxDB's own words: 1.x sends {"error": ...}, 2.x {"code": ..., "message": ...}."""
    try:
        data = json.loads(body)
        return str(data.get("error") or data.get("message") or body).strip()
    except (ValueError, AttributeError):
        return body.strip()[:300]


def _classify(config: InfluxConfig, where: str, status: int, text: str) -> _Outcome:
    reason = f"HTTP {status}: {text}" if text else f"HTTP {status}"
    if "retention policy not found" in text:  # 1.x answers it with a 500
        error = InfluxError(
            f"InfluxDB at {where} has no retention policy {config.retention_policy!r} in "
            f"database {config.database!r} ({reason})",
            "check influx.retention_policy (unset: the database's default)",
        )
        return _Outcome("fatal", reason, error)
    if status == 429 or status >= 500:
        return _Outcome("retry", reason)
    if status == 404:
        if config.api == "v1":
            db = config.database
            error = InfluxError(
                f"InfluxDB at {where} has no database {db!r} ({reason})",
                f"create it: `edgewatch influx setup`, or `influx -execute 'CREATE DATABASE "
                f'"{db}"\'`; check influx.database and influx.retention_policy',
            )
        else:
            error = InfluxError(
                f"InfluxDB at {where} has no bucket {config.bucket!r} in org {config.org!r} "
                f"({reason})",
                "create it (`influx bucket create`) or check influx.org and influx.bucket",
            )
        return _Outcome("fatal", reason, error)
    if status in (401, 403):
        what = "influx.username/password" if config.api == "v1" else "influx.token"
        error = InfluxError(
            f"InfluxDB at {where} refused our credentials ({reason})",
            f"check {what} and that it may write to the "
            + ("database" if config.api == "v1" else "bucket"),
        )
        return _Outcome("fatal", reason, error)
    return _Outcome("reject", reason)


def _request_target(config: InfluxConfig) -> tuple[str, dict[str, str]]:
    """The write path with its query string, and the headers (credentials among them)."""
    base = urllib.parse.urlsplit(config.url).path.rstrip("/")
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    if config.api == "v1":
        query = {"db": config.database, "precision": "ns"}
        if config.retention_policy:
            query["rp"] = config.retention_policy
        headers.update(auth_headers(config))
        return f"{base}/write?{urllib.parse.urlencode(query)}", headers
    missing = [name for name in ("org", "bucket") if not getattr(config, name)]
    if missing:
        raise ConfigError(
            f"influx.api is v2 but influx.{', influx.'.join(missing)} is not set",
            "the 2.x API needs an org, a bucket and a token with write access",
        )
    headers.update(auth_headers(config))
    query = {"org": config.org, "bucket": config.bucket, "precision": "ns"}
    return f"{base}/api/v2/write?{urllib.parse.urlencode(query)}", headers


def auth_headers(config: InfluxConfig) -> dict[str, str]:
    """The Authorization header the config's credentials make (none for an open 1.x)."""
    if config.api == "v1":
        password = resolve_secret(
            config.password, config.password_file, PASSWORD_ENV, what="InfluxDB password"
        )
        if password is not None and not config.username:
            raise ConfigError("influx: a password is set but no username", "set influx.username")
        if not config.username:
            return {}
        login = base64.b64encode(f"{config.username}:{password or ''}".encode()).decode()
        return {"Authorization": f"Basic {login}"}
    token = resolve_secret(config.token, config.token_file, TOKEN_ENV, what="InfluxDB token")
    if token is None:
        raise ConfigError(
            f"influx.api is v2 but no token is set (influx.token, token_file or ${TOKEN_ENV})",
            "the 2.x API needs a token with access to the bucket",
        )
    return {"Authorization": f"Token {token}"}
