"""`edgewatch forward` between two real influxd 1.6.7 (edge and cloud) on loopback.

The edge gets raw points at known times; the cloud must end up with exactly one point per
series (object tag) per window, each field the last value of that window, stamped with the
window's end, whatever stops in between: a restart mid-way, the cloud going away.
"""

import http.client
import json
import random
import signal
import subprocess
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from conftest import VENV_BIN, edgewatch, wait_for

from edgewatch.bench.localservers import Influxd
from edgewatch.clients.influx.line_protocol import line
from edgewatch.config import config_from_dict
from edgewatch.services.forward import Forwarder

pytestmark = pytest.mark.timeout(180)
M, SYS = "BW_Inference_results", "edge_system"
NS = 1_000_000_000
HOUR = 3600
CLOUD_PASSWORD = "cloud-pw-77a1-secret"


@pytest.fixture
def edge_cloud(tmp_path):
    with Influxd(tmp_path / "edge") as edge, Influxd(tmp_path / "cloud") as cloud:
        edge.query("CREATE DATABASE edge", post=True)
        cloud.query("CREATE DATABASE cloud", post=True)
        yield edge, cloud


def settings(tmp_path, edge_url, cloud_url, **forward) -> dict:
    return {
        "influx": {"url": edge_url, "database": "edge"},
        "cloud": {"url": cloud_url, "database": "cloud"},
        "forward": {
            "checkpoint_path": str(tmp_path / "checkpoint.json"),
            "every": "1h",
            "window": "10m",
            "delay": "1m",
            "max_catch_up": "1d",
            **forward,
        },
    }


def write_file(tmp_path, data: dict):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def raw_history(start_s: int, end_s: int, step_s: int = 10, seed: int = 1) -> list[tuple]:
    """(measurement, tags, fields, time_ns): 2 cameras x 3 objects every step, and system
    statistics whose GPU field comes and goes (each field's last value is its own)."""
    rng = random.Random(seed)
    points = []
    for t in range(start_s, end_s, step_s):
        ns = t * NS + rng.randrange(0, NS)
        for camera in ("front", "yard"):
            for k in range(1, 4):
                fields = {
                    "classID": float(rng.choice([0, 2])),
                    "label": rng.choice(["person", "car"]),
                    "confidence": round(rng.random(), 4),
                    "coor_left": round(rng.uniform(0, 700), 1),
                    "box_width": round(rng.uniform(10, 200), 1),
                    "objectID": float(rng.randrange(1, 99)),
                    "detection_frame_number": float(t),
                    "total_num_obj": 3.0,
                }
                tags = {"host": "box", "topic": f"edgewatch/{camera}/inference",
                        "obj": f"OBJ{k}", "camera": camera}  # fmt: skip
                points.append((M, tags, fields, ns))
        fields = {"cpu_percent": round(rng.uniform(0, 100), 1)}
        if rng.random() < 0.5:
            fields["gpu0_util_percent"] = round(rng.uniform(0, 100), 1)
        points.append((SYS, {"host": "box", "topic": "edgewatch/box/system"}, fields, ns))
    return points


def expected_summaries(points, window_s: int, until_ns: int) -> dict:
    """(measurement, tags, window end ns) -> {field: last value}, windows ending by until."""
    window_ns = window_s * NS
    last: dict[tuple, dict] = defaultdict(dict)
    for measurement, tags, fields, ns in sorted(points, key=lambda p: p[3]):
        end = ns - ns % window_ns + window_ns
        if end > until_ns:
            continue
        last[(measurement, tuple(sorted(tags.items())), end)].update(fields)
    return dict(last)


def cloud_summaries(cloud) -> dict:
    got = {}
    for measurement in (M, SYS):
        result = cloud.query(f'SELECT * FROM "{measurement}" GROUP BY *', "cloud")["results"][0]
        for series in result.get("series", []):
            tags = tuple(sorted((k, v) for k, v in series["tags"].items() if v))
            for values in series["values"]:
                row = dict(zip(series["columns"], values, strict=True))
                ns = row.pop("time")
                key = (measurement, tags, ns)
                assert key not in got, f"two points for {key}"
                got[key] = {k: v for k, v in row.items() if v is not None}
    return got


def load_history(edge, now_s: int, hours: int = 3):
    points = raw_history(now_s - hours * HOUR, now_s)
    edge.write([line(m, t, f, ns) for m, t, f, ns in points], "edge")
    return points


def test_once_forwards_the_last_value_of_every_field_per_window_and_object(edge_cloud, tmp_path):
    edge, cloud = edge_cloud
    now = int(time.time())
    points = load_history(edge, now)
    config = write_file(tmp_path, settings(tmp_path, edge.url, cloud.url))

    result = edgewatch("forward", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "forwarded" in result.stdout

    until = (now - 60) // 600 * 600 * NS  # windows that ended a minute (delay) ago
    expected = expected_summaries(points, 600, until)
    got = cloud_summaries(cloud)
    assert got == expected
    # 3 hours of 10-minute windows, 6 objects and the system series: summaries only.
    windows = {key[2] for key in expected}
    first_end = ((now - 3 * HOUR) // 600 + 1) * 600 * NS
    assert windows == set(range(first_end, until + 1, 600 * NS))
    assert len(windows) >= 17
    assert len(got) == len(windows) * 7
    raw = len(points)
    assert len(got) < raw / 50, "raw points must not reach the cloud"
    # Field types survive: float fields stay floats (a JSON 1.0 reads as 1).
    keys = cloud.rows('SHOW FIELD KEYS FROM "BW_Inference_results"', "cloud")
    assert {k["fieldKey"]: k["fieldType"] for k in keys}["classID"] == "float"
    assert {k["fieldKey"]: k["fieldType"] for k in keys}["label"] == "string"

    again = edgewatch("forward", "--once", "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert "nothing to forward" in again.stdout
    assert cloud_summaries(cloud) == got
    checkpoint = json.loads((tmp_path / "checkpoint.json").read_text())
    assert checkpoint["forwarded_until_ns"] == until


class FailingRelay:
    """An HTTP relay in front of the real cloud influxd that passes the first ``allow``
    writes and answers 503 to the rest until `heal()`: a cloud failing at an exact point."""

    def __init__(self, target_url: str, allow: int) -> None:
        self.allow, self.writes = allow, 0
        self.healthy = threading.Event()
        relay = self
        host, port = target_url.removeprefix("http://").split(":")

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _relay(self, method):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if method == "POST" and self.path.startswith("/write"):
                    relay.writes += 1
                    if relay.writes > relay.allow and not relay.healthy.is_set():
                        self.send_response(503)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                connection = http.client.HTTPConnection(host, int(port), timeout=10)
                connection.request(method, self.path, body or None, dict(self.headers))
                response = connection.getresponse()
                data = response.read()
                self.send_response(response.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                connection.close()

            def do_GET(self):
                self._relay("GET")

            def do_POST(self):
                self._relay("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def heal(self):
        self.healthy.set()

    def close(self):
        self.server.shutdown()


def test_a_restart_in_the_middle_repeats_nothing_and_misses_nothing(edge_cloud, tmp_path):
    edge, cloud = edge_cloud
    now = int(time.time())
    points = load_history(edge, now, hours=6)
    relay = FailingRelay(cloud.url, allow=3)  # the 1st write is check()'s empty one
    try:
        data = settings(tmp_path, edge.url, relay.url, max_catch_up="6h")
        config = write_file(tmp_path, data)
        # The service stalls on the 3rd chunk, retrying; it is killed there.
        service = subprocess.Popen(
            [str(VENV_BIN / "edgewatch"), "forward", "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        checkpoint = tmp_path / "checkpoint.json"
        assert wait_for(lambda: relay.writes >= 5, 30), "the service never got stuck"
        service.send_signal(signal.SIGKILL)
        service.wait(10)
        done_until = json.loads(checkpoint.read_text())["forwarded_until_ns"]
        first_run = service.stdout.read()
        assert first_run.count("forwarded ") == 2, first_run

        relay.heal()
        result = edgewatch("forward", "--once", "--config", str(config))
        assert result.returncode == 0, result.stderr
        # It resumed exactly at the checkpoint: no chunk before it was sent again.
        chunks = [ln for ln in result.stderr.splitlines() if "forwarded " in ln]
        first_chunk_start = chunks[0].split("forwarded ")[1].split(" ..")[0]
        assert first_chunk_start == time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(done_until // NS)
        )
        until = (now - 60) // 600 * 600 * NS
        assert cloud_summaries(cloud) == expected_summaries(points, 600, until)
    finally:
        relay.close()


def test_cloud_stopped_during_a_run_then_back_gets_every_missed_window(edge_cloud, tmp_path):
    """The service with 1 s windows on live points; the cloud influxd is stopped for a
    while, then started again on the same data."""
    edge, cloud = edge_cloud
    data = settings(tmp_path, edge.url, cloud.url, every="2s", window="1s", delay="1s")
    data["cloud"]["timeout_s"] = 1
    data["cloud"]["retry_max_s"] = 1
    config = write_file(tmp_path, data)
    written: list[tuple] = []
    stop = threading.Event()

    def produce():  # one point per object every 100 ms, at the current time
        rng = random.Random(3)
        while not stop.is_set():
            ns = time.time_ns()
            batch = []
            for k in (1, 2):
                tags = {"host": "box", "topic": "t", "obj": f"OBJ{k}", "camera": "c"}
                fields = {"confidence": round(rng.random(), 4), "label": "person"}
                batch.append((M, tags, fields, ns))
            edge.write([line(*p) for p in batch], "edge")
            written.extend(batch)
            time.sleep(0.1)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    service = subprocess.Popen(
        [str(VENV_BIN / "edgewatch"), "forward", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        checkpoint = tmp_path / "checkpoint.json"
        assert wait_for(checkpoint.exists, 20)
        cloud.stop()
        time.sleep(6)
        stalled_at = json.loads(checkpoint.read_text())["forwarded_until_ns"]
        cloud.start()
        # Caught up: the checkpoint passes the time the cloud came back.
        back = time.time_ns()
        caught_up = wait_for(
            lambda: json.loads(checkpoint.read_text())["forwarded_until_ns"] > back, 30
        )
        stop.set()
        producer.join()
    finally:
        service.send_signal(signal.SIGTERM)
        output = service.communicate(timeout=20)[0]
    assert caught_up, output
    assert service.returncode == 0, output
    assert "failed" in output  # the writer logged the outage and retried
    until = json.loads(checkpoint.read_text())["forwarded_until_ns"]
    assert until - stalled_at > 6 * NS  # the outage's windows were forwarded later
    expected = expected_summaries(written, 1, until)
    got = cloud_summaries(cloud)
    # Windows before the first forwarded one are outside this test (max_catch_up: 1d
    # covers them all, so compare everything the producer wrote up to the checkpoint).
    assert got == expected


def test_edge_unreachable_once_exits_1_and_loses_nothing(tmp_path):
    with Influxd(tmp_path / "cloud") as cloud:
        cloud.query("CREATE DATABASE cloud", post=True)
        config = write_file(tmp_path, settings(tmp_path, "http://127.0.0.1:9", cloud.url))
        result = edgewatch("forward", "--once", "--config", str(config))
    assert result.returncode == 1
    assert "not reachable" in result.stdout and "nothing lost" in result.stdout
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "checkpoint.json").exists()


def test_config_mistakes_give_one_line(edge_cloud, tmp_path):
    edge, cloud = edge_cloud
    no_cloud = settings(tmp_path, edge.url, cloud.url)
    del no_cloud["cloud"]
    result = edgewatch("forward", "--once", "--config", str(write_file(tmp_path, no_cloud)))
    assert result.returncode == 2 and "needs a cloud section" in result.stderr

    wrong_db = settings(tmp_path, edge.url, cloud.url)
    wrong_db["cloud"].update(database="nope", username="u", password=CLOUD_PASSWORD)
    result = edgewatch("forward", "--once", "--config", str(write_file(tmp_path, wrong_db)))
    assert result.returncode == 2, result.stderr
    assert "no database 'nope'" in result.stderr
    assert CLOUD_PASSWORD not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr

    v2_edge = settings(tmp_path, edge.url, cloud.url)
    v2_edge["influx"].update(api="v2", org="o", bucket="b", token="t")
    result = edgewatch("forward", "--once", "--config", str(write_file(tmp_path, v2_edge)))
    assert result.returncode == 2 and "edgewatch influx task" in result.stderr


def test_due_range_respects_delay_catch_up_and_retention(tmp_path):
    data = settings(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9", max_catch_up="2h")
    data["influx"]["retention"] = "1h"
    forwarder = Forwarder(config_from_dict(data))
    now = 10 * HOUR + 5 * 60 + 30  # 10:05:30
    start, end = forwarder.due_range(now)
    assert end == 10 * HOUR * NS  # 10:00-10:10 has not ended a minute ago
    assert start == (9 * HOUR) * NS  # retention (1 h) caps the 2 h catch-up, aligned down
    forwarder.checkpoint.save(9 * HOUR * NS + 1800 * NS)
    assert forwarder.due_range(now) == (9 * HOUR * NS + 1800 * NS, 10 * HOUR * NS)


def test_points_of_the_pipelines_direct_output_forwarded_per_window(
    edge_cloud, tmp_path, vtest_path
):
    """The whole edge-to-cloud path on the real footage: `edgewatch run` writes raw points
    to the edge (outputs.influx), `forward --once` sends 1 s window summaries."""
    edge, cloud = edge_cloud
    data = settings(tmp_path, edge.url, cloud.url, every="1s", window="1s", delay="0s")
    data["cameras"] = [{"name": "yard", "source": str(vtest_path), "realtime": True}]
    data["outputs"] = {
        "rtsp": {"enabled": False},
        "influx": {"enabled": True, "every_n_frames": 1,
                   "spool_path": str(tmp_path / "spool.sqlite3")},
    }  # fmt: skip
    config = write_file(tmp_path, data)
    # ~6 s of video
    run = edgewatch("run", "--no-web", "--config", str(config), "--max-frames", "60")
    assert run.returncode == 0, run.stderr
    time.sleep(1.1)  # the last window ends
    result = edgewatch("forward", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr

    raw = []
    response = edge.query(f'SELECT * FROM "{M}" GROUP BY *', "edge")["results"][0]
    for series in response["series"]:
        tags = {k: v for k, v in series["tags"].items() if v}
        for values in series["values"]:
            row = dict(zip(series["columns"], values, strict=True))
            ns = row.pop("time")
            raw.append((M, tags, {k: v for k, v in row.items() if v is not None}, ns))
    assert len(raw) > 100  # the footage's people and cars over 60 frames
    until = json.loads((tmp_path / "checkpoint.json").read_text())["forwarded_until_ns"]
    assert until > max(p[3] for p in raw)  # every raw point's window was due
    expected = expected_summaries(raw, 1, until)
    got = {key: value for key, value in cloud_summaries(cloud).items() if key[0] == M}
    assert got == expected
    assert len({key[2] for key in got}) >= 5  # several windows
    assert len(got) < len(raw)
