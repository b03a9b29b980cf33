"""InfluxWriter: batches into a real influxd (1.x API), retries through an outage, refuses
bad data once, and fails clearly on a missing database. The 2.x API is checked against a
small recording HTTP server standing in for InfluxDB 2.x, which cannot be installed here."""

import base64
import json
import logging
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edgewatch.bench.localservers import Influxd
from edgewatch.clients.influx.config import InfluxConfig
from edgewatch.clients.influx.writer import InfluxError, InfluxWriter
from edgewatch.errors import ConfigError

pytestmark = pytest.mark.timeout(60)
TOKEN = "tok-3f9a-very-secret"
PASSWORD = "pw-77c1-very-secret"


class RecordingServer:
    """Records each request; answers with the queued (status, body) replies, then 204."""

    def __init__(self):
        self.requests, self.replies = [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append((self.path, dict(self.headers), body.decode()))
                status, text = outer.replies.pop(0) if outer.replies else (204, "")
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    server = RecordingServer()
    yield server
    server.close()


@pytest.fixture
def influx(tmp_path):
    with Influxd(tmp_path) as server:
        server.query("CREATE DATABASE edge", post=True)
        yield server


def count(influx, db="edge"):
    rows = influx.rows("SELECT count(v) FROM m", db)
    return rows[0]["count"] if rows else 0


def points(n, start=0):
    return [f"m,obj=OBJ{i} v={i}.0 {1_700_000_000_000_000_000 + i}" for i in range(start, n)]


def test_v1_writes_batches_into_influxd(influx):
    config = InfluxConfig(url=influx.url, database="edge", batch_size=100, flush_interval_s=0.2)
    done = []
    with InfluxWriter(config) as writer:
        for i in range(0, 1000, 10):
            assert writer.write(points(i + 10, i), on_done=done.append)
        assert writer.flush(10)
        stats = writer.stats.snapshot()["counters"]
    assert count(influx) == 1000
    assert [result.ok for result in done] == [True] * 100
    assert stats["points_written"] == 1000
    assert stats["batches_written"] == 10  # full batches of 100, never a split write() call


def test_a_point_waits_at_most_flush_interval(influx):
    config = InfluxConfig(url=influx.url, database="edge", flush_interval_s=0.3)
    with InfluxWriter(config) as writer:
        written = threading.Event()
        started = time.monotonic()
        writer.write(points(1), on_done=lambda ok: written.set())
        assert written.wait(5)
        assert 0.25 < time.monotonic() - started < 2


def test_influxd_outage_is_retried_and_loses_nothing(influx, caplog):
    caplog.set_level(logging.INFO)
    config = InfluxConfig(
        url=influx.url, database="edge", flush_interval_s=0.1, retry_max_s=0.5, timeout_s=2
    )
    with InfluxWriter(config) as writer:
        writer.write(points(100))
        assert writer.flush(10)
        influx.stop()
        writer.write(points(300, 100))
        time.sleep(2)  # several failed attempts
        assert writer.pending_points == 200
        influx.start()
        assert writer.flush(15)
        stats = writer.stats.snapshot()["counters"]
    assert count(influx) == 300
    assert stats["retries"] >= 2
    assert "retrying, 200 points kept" in caplog.text
    assert "works again" in caplog.text


def test_missing_database_is_a_clear_error(influx):
    writer = InfluxWriter(InfluxConfig(url=influx.url, database="nope"))
    with pytest.raises(InfluxError) as error:
        writer.check()
    assert "has no database 'nope'" in str(error.value)
    assert "CREATE DATABASE" in error.value.hint
    with writer:
        writer.write(points(1))
        writer.flush(10)
        assert isinstance(writer.error, InfluxError)
        with pytest.raises(InfluxError, match="no database"):
            writer.write(points(1))


def test_bad_data_is_refused_once_logged_and_counted(influx, caplog):
    config = InfluxConfig(url=influx.url, database="edge", flush_interval_s=0.1)
    done = []
    with InfluxWriter(config) as writer:
        # v is a float in the later points of the same shard (week)
        writer.write(["m v=1i 1699999999000000000"], on_done=done.append)
        writer.flush(10)
        writer.write(points(5), on_done=done.append)
        writer.flush(10)
        stats = writer.stats.snapshot()["counters"]
    assert [result.ok for result in done] == [True, False]
    assert (done[1].written, done[1].rejected) == (0, 5)
    assert "field type conflict" in done[1].reason
    assert stats["points_rejected"] == 5
    assert stats.get("retries", 0) == 0
    assert "refused 5 of a batch of 5 points as bad data: HTTP 400: partial write: field type " in (
        caplog.text
    )


def test_v2_request_has_org_bucket_precision_and_token(fake):
    """Stands in for InfluxDB 2.x (not installable here): checks the request we send."""
    config = InfluxConfig(url=fake.url + "/", api="v2", org="home", bucket="cams/edge", token=TOKEN)
    with InfluxWriter(config) as writer:
        writer.write(points(3))
        assert writer.flush(10)
    ((path, headers, body),) = fake.requests
    url = urllib.parse.urlsplit(path)
    assert url.path == "/api/v2/write"
    assert urllib.parse.parse_qs(url.query) == {
        "org": ["home"],
        "bucket": ["cams/edge"],
        "precision": ["ns"],
    }
    assert headers["Authorization"] == f"Token {TOKEN}"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert body == "\n".join(points(3))


def test_v1_request_logs_in_with_basic_auth_and_keeps_the_password_out_of_the_url(fake):
    config = InfluxConfig(url=fake.url, database="edge", retention_policy="week",
                          username="edge", password=PASSWORD)  # fmt: skip
    with InfluxWriter(config) as writer:
        writer.write(points(1))
        assert writer.flush(10)
    ((path, headers, _),) = fake.requests
    assert path == "/write?db=edge&precision=ns&rp=week"
    assert base64.b64decode(headers["Authorization"].split()[1]).decode() == f"edge:{PASSWORD}"


def test_v2_token_from_the_environment(fake, monkeypatch):
    monkeypatch.setenv("EDGEWATCH_INFLUX_TOKEN", TOKEN)
    with InfluxWriter(InfluxConfig(url=fake.url, api="v2", org="o", bucket="b")) as writer:
        writer.write(points(1))
        assert writer.flush(10)
    assert fake.requests[0][1]["Authorization"] == f"Token {TOKEN}"


def test_v2_without_token_is_a_config_error(monkeypatch):
    monkeypatch.delenv("EDGEWATCH_INFLUX_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="token"):
        InfluxWriter(InfluxConfig(api="v2", org="o", bucket="b"))


def test_5xx_and_429_are_retried_and_401_stops_without_leaking_the_token(fake, caplog):
    caplog.set_level(logging.DEBUG)
    config = InfluxConfig(url=fake.url, api="v2", org="o", bucket="b", token=TOKEN,
                          flush_interval_s=0.05, retry_max_s=0.1)  # fmt: skip
    fake.replies = [(503, '{"code":"unavailable","message":"busy"}'), (429, "")]
    with InfluxWriter(config) as writer:
        writer.write(points(2))
        assert writer.flush(10)
        assert writer.stats.snapshot()["counters"]["retries"] == 2
    assert len(fake.requests) == 3
    fake.replies = [(401, json.dumps({"code": "unauthorized", "message": "unauthorized access"}))]
    writer = InfluxWriter(config)
    with pytest.raises(InfluxError) as error:
        writer.check()
    assert "refused our credentials" in str(error.value)
    assert "influx.token" in error.value.hint
    assert TOKEN not in str(error.value) + repr(error.value) + caplog.text


def test_a_full_buffer_refuses_new_points(tmp_path):
    # Nothing listens on this port: every write fails and is retried.
    config = InfluxConfig(url="http://127.0.0.1:9", max_pending_points=10, retry_max_s=0.2)
    with InfluxWriter(config) as writer:
        assert writer.write(points(8))
        assert not writer.write(points(5), wait_s=0.1)
        assert writer.stats.snapshot()["counters"]["points_refused"] == 5
        writer.close(timeout=0.2)
