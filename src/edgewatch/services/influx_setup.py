"""`edgewatch influx setup`: create what the config names in InfluxDB, idempotently.

1.x: the database, the retention policy (or the default policy's duration) and, on
request, continuous queries that downsample on the edge as `edgewatch forward` does.
2.x: the bucket, with its retention. Each run reads what exists first and changes only
what differs, so running it again changes nothing and says so.

The continuous queries keep the last value of each field per ``forward.window`` and
series. Unlike `edgewatch forward` and the Flux task, which stamp a summary with its
window's end, InfluxQL stamps it with the window's START: the same summary, one window
earlier on the time axis. InfluxDB computes each window once, soon after it closes (there is
no ``forward.delay`` here), so a point that reaches the database later misses its summary.
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from dataclasses import dataclass
from typing import Literal

from edgewatch.clients.influx.config import InfluxConfig
from edgewatch.clients.influx.line_protocol import FRAME_FIELDS, OBJECT_FIELDS
from edgewatch.clients.influx.query import (
    InfluxQL,
    InfluxQueryError,
    InfluxUnavailable,
    quote_ident,
)
from edgewatch.clients.influx.writer import InfluxError
from edgewatch.config import Config
from edgewatch.durations import format_duration
from edgewatch.errors import ConfigError

Target = Literal["edge", "cloud"]

CQ_PREFIX = "edgewatch_forward_"  # our continuous queries: one per forwarded measurement
MIN_RETENTION_S = 3600  # InfluxDB 1.x refuses shorter retention policies
_HEX_ID = re.compile(r"[0-9a-f]{16}")


def setup_influx(
    config: Config, *, continuous_queries: bool = False, target: Target = "edge"
) -> list[str]:
    """Create or adjust the database / bucket of ``config.influx`` (target "edge") or
    ``config.cloud`` ("cloud"); one line per thing created, altered or already right."""
    influx, role = _target_config(config, target)
    if continuous_queries and target == "cloud":
        raise ConfigError(
            "continuous queries run on the edge database, not the cloud",
            "drop --cloud or --continuous-queries",
        )
    if influx.api == "v2":
        if continuous_queries:
            raise ConfigError(
                f"{role}.api is v2: InfluxDB 2.x has no continuous queries",
                "use `edgewatch influx task` for the Flux task that downsamples instead",
            )
        return _setup_bucket(InfluxQL(influx, role=role), influx, role)

    retention_s = _retention_seconds(influx.retention, f"{role}.retention")
    if continuous_queries and config.forward.cq_retention_policy == influx.retention_policy:
        raise _same_policy_error(influx.retention_policy)
    cq_retention_s = _retention_seconds(config.forward.cq_retention, "forward.cq_retention")
    client = InfluxQL(influx, role=role)
    lines = [_ensure_database(client, influx.database)]
    lines.append(_ensure_main_policy(client, influx, role, retention_s))
    if continuous_queries:
        lines += _ensure_continuous_queries(client, config, cq_retention_s)
    return lines


def _target_config(config: Config, target: Target) -> tuple[InfluxConfig, str]:
    if target == "edge":
        return config.influx, "influx"
    if config.cloud is None:
        raise ConfigError("the config has no cloud section", "add cloud: with the cloud's url")
    return config.cloud, "cloud"


def _retention_seconds(value: float | None, name: str) -> int:
    """Whole seconds, 0 for forever (as InfluxDB writes it)."""
    if value is None:
        return 0
    if value != round(value) or value < MIN_RETENTION_S:
        raise ConfigError(
            f"{name} is {value:g} s; InfluxDB keeps points for whole seconds, at least 1h",
            f"set {name} to 1h or more, or leave it unset for forever",
        )
    return round(value)


def _human(seconds: int) -> str:
    return format_duration(seconds) if seconds else "forever"


# -- 1.x: database and retention policies -------------------------------------------------


@dataclass(slots=True)
class _Policy:
    name: str
    duration_s: int  # 0: forever
    shard_s: int
    default: bool


def _go_seconds(text: str) -> int:
    """InfluxDB's Go durations ("720h0m0s", "0s") -> whole seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)", text)
    return round(sum(float(n) * units[u] for n, u in parts))


def _policies(client: InfluxQL, db: str) -> dict[str, _Policy]:
    policies = {}
    for series in client.select(f"SHOW RETENTION POLICIES ON {quote_ident(db)}"):
        for row in series.rows():
            policies[row["name"]] = _Policy(
                row["name"],
                _go_seconds(row["duration"]),
                _go_seconds(row["shardGroupDuration"]),
                bool(row["default"]),
            )
    return policies


def _ensure_database(client: InfluxQL, db: str) -> str:
    names = {row["name"] for s in client.select("SHOW DATABASES") for row in s.rows()}
    if db in names:
        return f"database {db}: already exists"
    client.execute(f"CREATE DATABASE {quote_ident(db)}")
    return f"database {db}: created"


def _ensure_main_policy(client: InfluxQL, influx: InfluxConfig, role: str, want_s: int) -> str:
    db = influx.database
    policies = _policies(client, db)
    if influx.retention_policy:
        return _ensure_policy(client, db, influx.retention_policy, want_s, policies, default=True)
    default = next((p for p in policies.values() if p.default), None)
    if default is None:
        raise ConfigError(
            f"database {db} has no default retention policy",
            f"name the one to write to in {role}.retention_policy",
        )
    if influx.retention is None:  # nothing asked of the default policy: leave it be
        keeps = _human(default.duration_s)
        return f"retention policy {default.name} on {db}: keeps {keeps} ({role}.retention unset)"
    return _ensure_policy(client, db, default.name, want_s, policies, default=True)


def _ensure_policy(
    client: InfluxQL,
    db: str,
    name: str,
    want_s: int,
    policies: dict[str, _Policy],
    *,
    default: bool,
) -> str:
    """Create the policy, or set its duration when it differs; its default flag is
    set only on creation (an existing setup's choice of default is left alone)."""
    what = f"retention policy {name} on {db}"
    duration = format_duration(want_s) if want_s else "INF"
    policy = policies.get(name)
    if policy is None:
        client.execute(
            f"CREATE RETENTION POLICY {quote_ident(name)} ON {quote_ident(db)} "
            f"DURATION {duration} REPLICATION 1" + (" DEFAULT" if default else "")
        )
        return f"{what}: created, keeps {_human(want_s)}" + (" (default)" if default else "")
    if policy.duration_s == want_s:
        return f"{what}: already keeps {_human(want_s)}"
    statement = (
        f"ALTER RETENTION POLICY {quote_ident(name)} ON {quote_ident(db)} DURATION {duration}"
    )
    if want_s and want_s < policy.shard_s:
        # InfluxDB refuses a duration shorter than the shard groups; use what it would
        # pick for a new policy of this duration.
        statement += f" SHARD DURATION {format_duration(_default_shard_s(want_s))}"
    client.execute(statement)
    return f"{what}: retention changed from {_human(policy.duration_s)} to {_human(want_s)}"


def _default_shard_s(duration_s: int) -> int:
    """InfluxDB 1.x's shard group duration for a new policy of this duration."""
    if duration_s >= 180 * 86400:
        return 7 * 86400
    return 86400 if duration_s >= 2 * 86400 else 3600


# -- 1.x: continuous queries --------------------------------------------------------------


def _ensure_continuous_queries(client: InfluxQL, config: Config, cq_retention_s: int) -> list[str]:
    influx, forward = config.influx, config.forward
    db, target_rp = influx.database, forward.cq_retention_policy
    policies = _policies(client, db)
    source_rp = influx.retention_policy or next(p.name for p in policies.values() if p.default)
    if target_rp == source_rp:
        raise _same_policy_error(target_rp)
    lines = [_ensure_policy(client, db, target_rp, cq_retention_s, policies, default=False)]

    existing = _continuous_queries(client, db)
    measurements = forward.measurements or [influx.measurement, influx.system_measurement]
    wanted = set()
    for measurement in measurements:
        name = CQ_PREFIX + measurement
        wanted.add(name)
        fields = _fields(client, influx, source_rp, measurement)
        statement = continuous_query(
            name,
            db=db,
            source_rp=source_rp,
            target_rp=target_rp,
            measurement=measurement,
            fields=fields,
            every_s=forward.every,
            window_s=forward.window,
            delay_s=forward.delay,
        )
        what = f"continuous query {name} on {db}"
        if fields:
            about = (
                f"last value of {len(fields)} fields of {measurement} per "
                f"{format_duration(forward.window)} into {target_rp}"
            )
        else:
            about = (
                f"last(*): {measurement} has no fields yet, so the summaries' fields get the "
                "last_ prefix; run setup again once data has arrived to list them"
            )
        if name not in existing:
            client.execute(statement)
            lines.append(f"{what}: created ({about})")
        elif _same_query(existing[name], statement):
            lines.append(f"{what}: already as configured ({about})")
        else:
            # InfluxQL cannot alter a continuous query: replace it.
            client.execute(f"DROP CONTINUOUS QUERY {quote_ident(name)} ON {quote_ident(db)}")
            client.execute(statement)
            lines.append(f"{what}: replaced, its definition differed ({about})")
    for name in sorted(n for n in existing if n.startswith(CQ_PREFIX) and n not in wanted):
        client.execute(f"DROP CONTINUOUS QUERY {quote_ident(name)} ON {quote_ident(db)}")
        lines.append(f"continuous query {name} on {db}: dropped (no longer forwarded)")
    return lines


def _same_policy_error(name: str) -> ConfigError:
    return ConfigError(
        f"forward.cq_retention_policy {name!r} is the policy the raw points are in",
        "name another policy for the summaries (default: downsampled)",
    )


def continuous_query(
    name: str,
    *,
    db: str,
    source_rp: str,
    target_rp: str,
    measurement: str,
    fields: list[str],
    every_s: float,
    window_s: float,
    delay_s: float = 0.0,
) -> str:
    """The CREATE CONTINUOUS QUERY statement: the last value of each field per window and
    series, recomputed every ``every`` over the last ``every`` plus ``delay`` rounded up to
    whole windows, so points that reach the edge late (a spool or broker draining) still
    get into their window's summary, as `forward`'s delay lets them. Named ``last(f) AS f``
    keeps the field names; without fields, ``last(*)`` names them last_<field>."""
    selected = ", ".join(f"last({quote_ident(f)}) AS {quote_ident(f)}" for f in fields) or "last(*)"
    late_windows = math.ceil(delay_s / window_s - 1e-9) if delay_s > 0 else 0
    every, window = format_duration(every_s), format_duration(window_s)
    span = format_duration(every_s + late_windows * window_s)
    q = quote_ident
    return (
        f"CREATE CONTINUOUS QUERY {q(name)} ON {q(db)} RESAMPLE EVERY {every} FOR {span} "
        f"BEGIN SELECT {selected} INTO {q(db)}.{q(target_rp)}.:MEASUREMENT "
        f"FROM {q(db)}.{q(source_rp)}.{q(measurement)} GROUP BY time({window}), * END"
    )


def _fields(client: InfluxQL, influx: InfluxConfig, rp: str, measurement: str) -> list[str]:
    """The detection measurement's fields are known; others' are what InfluxDB has seen."""
    if measurement == influx.measurement:
        return [*OBJECT_FIELDS, *FRAME_FIELDS]
    statement = (
        f"SHOW FIELD KEYS ON {quote_ident(influx.database)} "
        f"FROM {quote_ident(rp)}.{quote_ident(measurement)}"
    )
    return [row["fieldKey"] for s in client.select(statement) for row in s.rows()]


def _continuous_queries(client: InfluxQL, db: str) -> dict[str, str]:
    return {
        row["name"]: row["query"]
        for series in client.select("SHOW CONTINUOUS QUERIES")
        if series.name == db
        for row in series.rows()
    }


_DURATION = re.compile(r"(?<![\w.])(\d+)([wdhms])(?!\w)")
_UNIT_S = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def _same_query(shown: str, statement: str) -> bool:
    """InfluxDB shows a query re-rendered: quotes only where needed, 7d as 1w. Compare
    without quotes and with durations in seconds."""

    def canonical(text: str) -> str:
        text = _DURATION.sub(lambda m: f"{int(m[1]) * _UNIT_S[m[2]]}s", text.replace('"', ""))
        return " ".join(text.split())

    return canonical(shown) == canonical(statement)


# -- 2.x: the bucket ----------------------------------------------------------------------


def _setup_bucket(client: InfluxQL, influx: InfluxConfig, role: str) -> list[str]:
    if not influx.bucket:
        raise ConfigError(f"{role}.bucket is not set", "name the bucket to create or check")
    want_s = _retention_seconds(influx.retention, f"{role}.retention")
    rules = [{"type": "expire", "everySeconds": want_s}] if want_s else []
    org_id, org = _org_id(client, influx, role)
    query = urllib.parse.urlencode({"name": influx.bucket, "orgID": org_id})
    data = _api(client, role, "GET", f"/api/v2/buckets?{query}", missing_ok=True)
    found = [b for b in data.get("buckets") or [] if b.get("name") == influx.bucket]

    if not found:
        body = {"orgID": org_id, "name": influx.bucket, "retentionRules": rules}
        bucket = _api(client, role, "POST", "/api/v2/buckets", body)
        line = f"created, keeps {_human(want_s)}"
    else:
        bucket = found[0]
        have_s = _bucket_retention_s(bucket)
        if have_s == want_s:
            line = f"already keeps {_human(want_s)}"
        else:
            body = {"retentionRules": rules}
            _api(client, role, "PATCH", f"/api/v2/buckets/{bucket['id']}", body)
            line = f"retention changed from {_human(have_s)} to {_human(want_s)}"
    bucket_id = bucket.get("id", "?")
    lines = [f"bucket {influx.bucket} (ID {bucket_id}) in org {org} (ID {org_id}): {line}"]
    if influx.bucket_id and influx.bucket_id != bucket_id:
        lines.append(
            f"note: {role}.bucket_id is {influx.bucket_id}, the bucket's ID is {bucket_id}"
        )
    return lines


def _bucket_retention_s(bucket: dict) -> int:
    for rule in bucket.get("retentionRules") or []:
        if rule.get("type") == "expire":
            return int(rule.get("everySeconds") or 0)
    return 0


def _org_id(client: InfluxQL, influx: InfluxConfig, role: str) -> tuple[str, str]:
    """(ID, name to show) of the organisation: ``org_id`` as given, else looked up by
    name (``org`` may also be an ID, as the config allows)."""
    if influx.org_id:
        return influx.org_id, influx.org or influx.org_id
    if not influx.org:
        raise ConfigError(f"{role}.org is not set", "name the organisation (or set org_id)")
    lookups = [("org", influx.org)] + (
        [("orgID", influx.org)] if _HEX_ID.fullmatch(influx.org) else []
    )
    for key, value in lookups:
        query = urllib.parse.urlencode({key: value})
        data = _api(client, role, "GET", f"/api/v2/orgs?{query}", missing_ok=True)
        orgs = [o for o in data.get("orgs") or [] if value in (o.get("name"), o.get("id"))]
        if orgs:
            return orgs[0]["id"], orgs[0].get("name") or value
    raise ConfigError(
        f"InfluxDB at {client.where} has no organisation {influx.org!r} (or the token may "
        "not see it)",
        f"check {role}.org",
    )


def _api(
    client: InfluxQL,
    role: str,
    method: str,
    path: str,
    body: dict | None = None,
    *,
    missing_ok: bool = False,
) -> dict:
    """One 2.x API call; the JSON answer, or {} for a 404 when ``missing_ok``."""
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    status, raw = client.request(method, path, payload, headers)
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        data = {"message": raw.decode("utf-8", "replace").strip()[:200]}
    message = data.get("message") or data.get("error") or f"HTTP {status}"
    if status in (401, 403):
        raise InfluxError(
            f"InfluxDB at {client.where} refused the token (HTTP {status}: {message})",
            f"check {role}.token: it needs read and write access to buckets of {role}.org",
        )
    if status == 404 and missing_ok:
        return {}
    if status >= 500 or status == 429:
        raise InfluxUnavailable(
            f"InfluxDB at {client.where} ({role}) answered HTTP {status}: {message}",
            "it may be starting or overloaded; try again",
        )
    if status >= 300:
        raise InfluxQueryError(
            f"InfluxDB at {client.where} refused {method} {path.split('?')[0]}: {message}",
            f"check {role}.org, {role}.bucket and {role}.retention",
        )
    return data
