"""InfluxQL over HTTP (`/query`): what `edgewatch influx setup` and `forward` ask InfluxDB.

    client = InfluxQL(config.influx)
    client.execute('CREATE DATABASE "edgewatch"')          # POST: statements that change things
    for series in client.select('SELECT last(*) FROM ...', db="edgewatch"):
        series.name, series.tags, series.rows()            # rows as dicts, times in ns

InfluxDB 1.x speaks it natively; 2.x through its 1.x-compatible `/query` (with a token and
a DBRP mapping). Failures come in three kinds, because callers treat them differently:
`InfluxUnavailable` (not reachable, 5xx: try again later), `InfluxError` (credentials or a
missing database: the configuration must change) and `InfluxQueryError` (InfluxDB refused
the statement). Credentials travel only in headers, never in URLs, logs or errors.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field

from edgewatch.clients.influx.config import InfluxConfig
from edgewatch.clients.influx.writer import InfluxError, auth_headers
from edgewatch.errors import ConfigError, EdgewatchError


class InfluxUnavailable(EdgewatchError):
    """InfluxDB cannot be reached or answered 5xx: the same request may work later."""


class InfluxQueryError(EdgewatchError):
    """InfluxDB refused a statement (bad syntax, a conflicting definition ...)."""


@dataclass(slots=True)
class Series:
    """One series of a result: its measurement, tag values and rows."""

    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list] = field(default_factory=list)

    def rows(self) -> Iterator[dict]:
        for values in self.values:
            yield dict(zip(self.columns, values, strict=True))


def quote_ident(name: str) -> str:
    """An InfluxQL identifier in double quotes: database, policy, measurement, field."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxQL:
    """One InfluxDB's `/query` endpoint; a fresh connection per request (they are rare)."""

    def __init__(self, config: InfluxConfig, *, role: str = "influx") -> None:
        """``role`` names the config section in messages (influx, cloud)."""
        self.config = config
        self.role = role
        parts = urllib.parse.urlsplit(config.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{role}.url {config.url!r} is not an http(s) URL",
                              "e.g. http://127.0.0.1:8086")  # fmt: skip
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._base = parts.path.rstrip("/")
        self.where = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        self._headers = auth_headers(config)

    def execute(self, statement: str, *, db: str | None = None) -> list[dict]:
        """A statement that changes something (CREATE, ALTER, DROP), sent with POST."""
        return self._request(statement, db=db, post=True)

    def select(self, statement: str, *, db: str | None = None) -> list[Series]:
        """A read-only statement (SELECT, SHOW); the series of its first result."""
        results = self._request(statement, db=db, post=False)
        return [
            Series(s.get("name", ""), s.get("tags") or {}, s["columns"], s.get("values") or [])
            for s in (results[0].get("series") or [] if results else [])
        ]

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:  # fmt: skip
        """Any HTTP request to this InfluxDB with its credentials (the 2.x API's setup
        calls); connection failures become `InfluxUnavailable`."""
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        connection = cls(self._host, self._port, timeout=self.config.timeout_s)
        try:
            connection.request(
                method, self._base + path, body, {**self._headers, **(headers or {})}
            )
            response = connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as error:
            reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
            raise InfluxUnavailable(
                f"InfluxDB at {self.where} ({self.role}) is not reachable ({reason})",
                f"check that it runs and {self.role}.url",
            ) from None
        finally:
            connection.close()

    def _request(self, statement: str, *, db: str | None, post: bool) -> list[dict]:
        params = {"q": statement, "epoch": "ns"}
        if db:
            params["db"] = db
        encoded = urllib.parse.urlencode(params)
        if post:
            status, body = self.request(
                "POST", "/query", encoded.encode(),
                {"Content-Type": "application/x-www-form-urlencoded"},
            )  # fmt: skip
        else:
            status, body = self.request("GET", f"/query?{encoded}")
        text = body.decode("utf-8", "replace")
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            data = {"error": text.strip()[:300]}
        if status in (401, 403):
            what = (
                f"{self.role}.username/password"
                if self.config.api == "v1"
                else f"{self.role}.token"
            )
            raise InfluxError(
                f"InfluxDB at {self.where} refused our credentials (HTTP {status}: "
                f"{data.get('error') or data.get('message') or ''})",
                f"check {what}",
            )
        if status >= 500 or status == 429:
            raise InfluxUnavailable(
                f"InfluxDB at {self.where} ({self.role}) answered HTTP {status}: "
                f"{data.get('error') or data.get('message') or text[:200]}",
                "it may be starting or overloaded; edgewatch tries again",
            )
        if status != 200 or data.get("error"):
            raise InfluxQueryError(
                f"InfluxDB at {self.where} refused {statement[:120]!r}: "
                f"{data.get('error') or data.get('message') or f'HTTP {status}'}",
                "a bug or a version difference; please report it with this line",
            )
        results = data.get("results") or []
        for result in results:
            if result.get("error"):
                error = result["error"]
                if error.startswith("database not found"):
                    raise InfluxError(
                        f"InfluxDB at {self.where} has no database {db!r} ({error})",
                        f"create it with `edgewatch influx setup`, or check {self.role}.database",
                    )
                raise InfluxQueryError(
                    f"InfluxDB at {self.where} refused {statement[:120]!r}: {error}",
                    "check the names in the config (database, retention policy, measurement)",
                )
        return results
