"""`edgewatch influx setup`: against a real influxd 1.6.7, and a stand-in for InfluxDB 2.x."""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edgewatch.bench.localservers import Influxd
from edgewatch.clients.influx.line_protocol import FRAME_FIELDS, OBJECT_FIELDS, line
from edgewatch.clients.influx.writer import InfluxError
from edgewatch.config import Config
from edgewatch.errors import ConfigError
from edgewatch.services.influx_setup import setup_influx

pytestmark = pytest.mark.timeout(120)

CHANGES = ("created", "changed", "replaced", "dropped")
DETECTIONS, SYSTEM = "BW_Inference_results", "edge_system"


@pytest.fixture
def influx(tmp_path):
    with Influxd(tmp_path / "influx") as server:
        yield server


def v1_config(influx, *, forward=None, **section) -> Config:
    return Config.model_validate(
        {"influx": {"url": influx.url, **section}, "forward": forward or {}}
    )


def changed(lines: list[str]) -> list[str]:
    return [said for said in lines if any(word in said for word in CHANGES)]


def show(influx, statement: str) -> list:
    return influx.query(statement)["results"][0].get("series", [])


def policy(influx, name: str, db: str = "edgewatch") -> dict:
    rows = influx.rows(f'SHOW RETENTION POLICIES ON "{db}"', db)
    return next(row for row in rows if row["name"] == name)


def continuous_queries(influx) -> dict[str, str]:
    return {
        name: q
        for series in show(influx, "SHOW CONTINUOUS QUERIES")
        for name, q in series.get("values") or []
    }


def write(influx, lines: list[str]) -> None:
    influx.write(lines, "edgewatch")


# -- 1.x: database and retention policies -------------------------------------------------


def test_database_is_created_and_a_second_run_changes_nothing(influx):
    config = v1_config(influx, retention_policy="edge", retention="30d")
    first = setup_influx(config, continuous_queries=True)
    assert "database edgewatch: created" in first
    assert [v[0] for v in show(influx, "SHOW DATABASES")[0]["values"]] == ["edgewatch"]
    before = [
        show(influx, q)
        for q in ('SHOW RETENTION POLICIES ON "edgewatch"', "SHOW CONTINUOUS QUERIES")
    ]

    second = setup_influx(config, continuous_queries=True)

    assert changed(second) == []
    assert "database edgewatch: already exists" in second
    assert len(second) == len(first)
    after = [
        show(influx, q)
        for q in ('SHOW RETENTION POLICIES ON "edgewatch"', "SHOW CONTINUOUS QUERIES")
    ]
    assert after == before


def test_retention_policy_is_created_then_altered_when_the_retention_changes(influx):
    said = setup_influx(v1_config(influx, retention_policy="edge", retention="400d"))
    assert "retention policy edge on edgewatch: created, keeps 400d (default)" in said
    assert policy(influx, "edge") == {
        "name": "edge",
        "duration": "9600h0m0s",
        "shardGroupDuration": "168h0m0s",
        "replicaN": 1,
        "default": True,
    }

    said = setup_influx(v1_config(influx, retention_policy="edge", retention="30d"))
    assert "retention policy edge on edgewatch: retention changed from 400d to 30d" in said
    assert policy(influx, "edge")["duration"] == "720h0m0s"

    # Shorter than the policy's 7-day shard groups: InfluxDB needs the shards shrunk too.
    said = setup_influx(v1_config(influx, retention_policy="edge", retention="1d"))
    assert "retention policy edge on edgewatch: retention changed from 30d to 1d" in said
    assert policy(influx, "edge")["duration"] == "24h0m0s"
    assert policy(influx, "edge")["shardGroupDuration"] == "1h0m0s"

    said = setup_influx(v1_config(influx, retention_policy="edge"))
    assert "retention policy edge on edgewatch: retention changed from 1d to forever" in said
    assert policy(influx, "edge")["duration"] == "0s"
    assert changed(setup_influx(v1_config(influx, retention_policy="edge"))) == []


def test_default_policy_is_altered_when_only_retention_is_set(influx):
    said = setup_influx(v1_config(influx, retention="7d"))
    assert "retention policy autogen on edgewatch: retention changed from forever to 7d" in said
    assert policy(influx, "autogen")["duration"] == "168h0m0s"
    assert policy(influx, "autogen")["default"] is True

    assert "retention policy autogen on edgewatch: already keeps 7d" in setup_influx(
        v1_config(influx, retention="7d")
    )
    # Without a retention, the default policy is left as it is.
    assert changed(setup_influx(v1_config(influx))) == []
    assert policy(influx, "autogen")["duration"] == "168h0m0s"


def test_retention_under_an_hour_is_a_config_error_before_anything_is_created(influx):
    with pytest.raises(ConfigError, match="influx.retention"):
        setup_influx(v1_config(influx, retention="30m"))
    assert show(influx, "SHOW DATABASES")[0].get("values") is None


# -- 1.x: continuous queries --------------------------------------------------------------


def detection(obj: str, seconds: float, k: int) -> str:
    fields = {key: float(10 * k + len(obj)) for key in OBJECT_FIELDS}
    fields |= {"label": f"label-{obj}-{k}"} | {key: float(k) for key in FRAME_FIELDS}
    tags = {"host": "box", "topic": "t", "obj": obj, "camera": "cam"}
    return line(DETECTIONS, tags, fields, round(seconds * 1e9))


def system(seconds: float, k: int) -> str:
    return line(SYSTEM, {"host": "box"}, {"cpu": float(k), "mem": 100.0 + k}, round(seconds * 1e9))


def summaries(influx, measurement: str) -> dict[tuple, list[dict]]:
    """(tags, window start ns) -> the rows the continuous query wrote there."""
    q = f'SELECT * FROM "edgewatch"."downsampled"."{measurement}" GROUP BY *'
    found: dict[tuple, list[dict]] = {}
    for series in show(influx, q):
        tags = tuple(sorted(series["tags"].items()))
        for values in series["values"]:
            row = dict(zip(series["columns"], values, strict=True))
            found.setdefault((tags, row.pop("time")), []).append(row)
    return found


def expected_last(influx, measurement: str, windows: list[int]) -> dict[tuple, dict]:
    """From the raw points: per series and window, the last value of each field."""
    expected = {}
    for s in windows:
        q = (
            f'SELECT * FROM "edgewatch"."autogen"."{measurement}" '
            f"WHERE time >= {s * 10**9} AND time < {(s + 1) * 10**9} GROUP BY *"
        )
        for series in show(influx, q):
            tags = tuple(sorted(series["tags"].items()))
            last = dict(zip(series["columns"], series["values"][-1], strict=True))
            last.pop("time")
            expected[(tags, s * 10**9)] = last
    return expected


def test_continuous_queries_keep_the_last_value_per_window_and_series(influx):
    config = v1_config(influx, forward={"window": 1, "every": 2})
    setup_influx(config)
    write(influx, [system(time.time() - 3600, 0)])  # so SHOW FIELD KEYS lists cpu and mem
    said = setup_influx(config, continuous_queries=True)
    assert any(
        "edgewatch_forward_edge_system on edgewatch: created (last value of 2" in s for s in said
    )

    # Three whole seconds, each with three points per series written early in the second:
    # the query computes a window once it has closed.
    windows = []
    for k in range(3):
        now = time.time()
        time.sleep(math.ceil(now) - now + 0.05)
        s = math.floor(time.time())
        windows.append(s)
        points = []
        for j in range(3):
            at = s + 0.01 * (j + 1)
            points += [detection("a", at, 3 * k + j), detection("bb", at, 3 * k + j)]
            points.append(system(at, 3 * k + j))
        write(influx, points)

    want = {m: expected_last(influx, m, windows) for m in (DETECTIONS, SYSTEM)}
    assert len(want[DETECTIONS]) == 6 and len(want[SYSTEM]) == 3
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = {m: summaries(influx, m) for m in (DETECTIONS, SYSTEM)}
        if all(key in got[m] for m in want for key in want[m]):
            break
        time.sleep(0.5)
    for measurement, expected in want.items():
        for key, last in expected.items():
            # One point per series and window, stamped with the window's start.
            assert got[measurement].get(key) == [last], (measurement, key)
    # Field names kept: no last_ prefix.
    assert set(next(iter(got[DETECTIONS].values()))[0]) == {*OBJECT_FIELDS, *FRAME_FIELDS}
    assert set(next(iter(got[SYSTEM].values()))[0]) == {"cpu", "mem"}


def test_measurement_without_fields_gets_last_star_until_setup_runs_again(influx):
    config = v1_config(influx, forward={"window": 1, "every": 2})
    said = setup_influx(config, continuous_queries=True)
    star = [s for s in said if "edgewatch_forward_edge_system" in s]
    assert "created (last(*)" in star[0] and "last_ prefix" in star[0]
    assert "SELECT last(*) INTO" in continuous_queries(influx)["edgewatch_forward_edge_system"]

    write(influx, [system(time.time() - 60, 1)])
    said = setup_influx(config, continuous_queries=True)
    assert "edgewatch_forward_edge_system on edgewatch: replaced" in " ".join(said)
    assert (
        "last(cpu) AS cpu, last(mem) AS mem"
        in continuous_queries(influx)["edgewatch_forward_edge_system"]
    )


def test_continuous_query_is_replaced_when_the_window_changes_and_kept_otherwise(influx):
    forward = {"window": 1, "every": 2, "delay": 0}
    setup_influx(v1_config(influx, forward=forward), continuous_queries=True)
    cq = "edgewatch_forward_BW_Inference_results"
    assert "RESAMPLE EVERY 2s FOR 2s" in continuous_queries(influx)[cq]
    assert "GROUP BY time(1s), *" in continuous_queries(influx)[cq]

    config = v1_config(influx, forward={"window": "10m", "every": "14d", "delay": 0})
    said = setup_influx(config, continuous_queries=True)
    assert f"continuous query {cq} on edgewatch: replaced" in " ".join(said)
    assert "RESAMPLE EVERY 2w FOR 2w" in continuous_queries(influx)[cq]  # InfluxDB's spelling
    assert "GROUP BY time(10m), *" in continuous_queries(influx)[cq]

    # forward.delay (1 m) reaches one window further back: late points still count.
    config = v1_config(influx, forward={"window": "10m", "every": "1h", "delay": "1m"})
    setup_influx(config, continuous_queries=True)
    assert "RESAMPLE EVERY 1h FOR 70m" in continuous_queries(influx)[cq]

    before = continuous_queries(influx)
    assert changed(setup_influx(config, continuous_queries=True)) == []
    assert continuous_queries(influx) == before

    # A measurement no longer forwarded loses its query.
    config = v1_config(influx, forward={"window": "10m", "every": "14d", "measurements": [SYSTEM]})
    said = setup_influx(config, continuous_queries=True)
    assert f"continuous query {cq} on edgewatch: dropped (no longer forwarded)" in said
    assert list(continuous_queries(influx)) == ["edgewatch_forward_edge_system"]


def test_summaries_into_the_raw_policy_are_refused(influx):
    config = v1_config(influx, retention_policy="downsampled")
    with pytest.raises(ConfigError, match="cq_retention_policy"):
        setup_influx(config, continuous_queries=True)


# -- 2.x: a stand-in server ---------------------------------------------------------------

ORG_ID, TOKEN = "0a1b2c3d4e5f6071", "s3cret-token-value"


class FakeInfluxDB2:
    """Stands in for InfluxDB 2.x, which cannot be installed here: /api/v2/orgs and
    /api/v2/buckets answered as 2.x answers them, every request recorded."""

    def __init__(self):
        self.requests: list[tuple[str, str, dict, object]] = []
        self.buckets: dict[str, dict] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append((self.command, self.path, dict(self.headers), body))
                status, answer = fake.answer(self.command, self.path, self.headers, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _handle

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, method, path, headers, body):
        if headers.get("Authorization") != f"Token {TOKEN}":
            return 401, {"code": "unauthorized", "message": "unauthorized access"}
        url = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if (method, url.path) == ("GET", "/api/v2/orgs"):
            if query.get("org") != "acme":
                return 404, {
                    "code": "not found",
                    "message": f'organization name "{query.get("org")}" not found',
                }
            return 200, {"orgs": [{"id": ORG_ID, "name": "acme"}]}
        if (method, url.path) == ("GET", "/api/v2/buckets"):
            found = [
                b
                for b in self.buckets.values()
                if b["name"] == query["name"] and b["orgID"] == query["orgID"]
            ]
            if not found:
                return 404, {"code": "not found", "message": f'bucket "{query["name"]}" not found'}
            return 200, {"buckets": found}
        if (method, url.path) == ("POST", "/api/v2/buckets"):
            bucket = {**body, "id": f"{len(self.buckets) + 1:016x}", "type": "user"}
            self.buckets[bucket["id"]] = bucket
            return 201, bucket
        if method == "PATCH" and url.path.startswith("/api/v2/buckets/"):
            bucket = self.buckets[url.path.rsplit("/", 1)[1]]
            bucket["retentionRules"] = body["retentionRules"]
            return 200, bucket
        return 404, {"code": "not found", "message": "path not found"}

    def changes(self) -> list[tuple[str, str, object]]:
        return [(m, p, b) for m, p, _, b in self.requests if m in ("POST", "PATCH")]


@pytest.fixture
def fake2():
    fake = FakeInfluxDB2()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def v2_config(fake, section="influx", **overrides) -> Config:
    influx = {"url": fake.url, "api": "v2", "org": "acme", "bucket": "edge", "token": TOKEN}
    return Config.model_validate({section: influx | overrides})


def test_v2_bucket_is_created_with_its_retention_and_the_token_header(fake2):
    said = setup_influx(v2_config(fake2, retention="30d"))

    assert said == [
        f"bucket edge (ID 0000000000000001) in org acme (ID {ORG_ID}): created, keeps 30d"
    ]
    body = {
        "orgID": ORG_ID,
        "name": "edge",
        "retentionRules": [{"type": "expire", "everySeconds": 30 * 86400}],
    }
    assert fake2.changes() == [("POST", "/api/v2/buckets", body)]
    assert [(m, p) for m, p, _, _ in fake2.requests][:2] == [
        ("GET", "/api/v2/orgs?org=acme"),
        ("GET", f"/api/v2/buckets?name=edge&orgID={ORG_ID}"),
    ]
    assert all(h["Authorization"] == f"Token {TOKEN}" for _, _, h, _ in fake2.requests)
    post_headers = fake2.requests[-1][2]
    assert post_headers["Content-Type"] == "application/json"


def test_v2_second_run_finds_the_bucket_and_changes_nothing(fake2):
    setup_influx(v2_config(fake2, retention="30d"))
    fake2.requests.clear()

    said = setup_influx(v2_config(fake2, retention="30d"))

    assert said == [
        f"bucket edge (ID 0000000000000001) in org acme (ID {ORG_ID}): already keeps 30d"
    ]
    assert fake2.changes() == []


def test_v2_retention_change_patches_the_bucket(fake2):
    setup_influx(v2_config(fake2, retention="30d"))
    fake2.requests.clear()

    said = setup_influx(v2_config(fake2, retention="7d"))
    assert "retention changed from 30d to 7d" in said[0]
    rules = [{"type": "expire", "everySeconds": 7 * 86400}]
    assert fake2.changes() == [
        ("PATCH", "/api/v2/buckets/0000000000000001", {"retentionRules": rules})
    ]

    said = setup_influx(v2_config(fake2))  # no retention: forever
    assert "retention changed from 7d to forever" in said[0]
    assert fake2.changes()[-1][2] == {"retentionRules": []}


def test_v2_org_id_from_the_config_skips_the_lookup(fake2):
    setup_influx(v2_config(fake2, org=None, org_id=ORG_ID))
    assert not any(p.startswith("/api/v2/orgs") for _, p, _, _ in fake2.requests)


def test_v2_refused_token_is_an_influx_error_without_the_token(fake2):
    wrong = "wrong-token-do-not-print"
    with pytest.raises(InfluxError) as error:
        setup_influx(v2_config(fake2, token=wrong))
    assert "influx.token" in str(error.value) and "401" in str(error.value)
    assert wrong not in str(error.value) and TOKEN not in str(error.value)


def test_v2_unknown_org_is_a_config_error_naming_influx_org(fake2):
    with pytest.raises(ConfigError, match="influx.org") as error:
        setup_influx(v2_config(fake2, org="nobody"))
    assert "'nobody'" in str(error.value)
    assert fake2.changes() == []


def test_v2_has_no_continuous_queries(fake2):
    with pytest.raises(ConfigError, match="edgewatch influx task"):
        setup_influx(v2_config(fake2), continuous_queries=True)
    assert fake2.requests == []


def test_cloud_target_sets_up_the_cloud_section(fake2):
    config = v2_config(fake2, section="cloud", bucket="fleet")
    said = setup_influx(config, target="cloud")
    assert "bucket fleet" in said[0] and "created" in said[0]

    with pytest.raises(InfluxError, match="cloud.token"):
        setup_influx(v2_config(fake2, section="cloud", token="nope"), target="cloud")
    with pytest.raises(ConfigError, match="cloud"):
        setup_influx(Config(), target="cloud")
    with pytest.raises(ConfigError, match="edge database"):
        setup_influx(config, target="cloud", continuous_queries=True)
