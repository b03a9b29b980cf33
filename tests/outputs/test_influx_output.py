"""The pipeline's own InfluxDB output on the real footage into a real influxd 1.6.7: the
points ingest would write, through an outage and a crash, losing nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time

import pytest
import yaml
from conftest import VENV_BIN, edgewatch, wait_for

from edgewatch.bench.localservers import Influxd
from edgewatch.clients.durable_queue import DurableQueue
from edgewatch.clients.influx.line_protocol import epoch_ns
from edgewatch.config import config_from_dict
from edgewatch.pipeline import build_pipeline

pytestmark = pytest.mark.timeout(180)
M = "BW_Inference_results"
PASSWORD = "influx-pw-7c2e-secret"


@pytest.fixture
def influx(tmp_path):
    with Influxd(tmp_path / "influx") as server:
        server.query("CREATE DATABASE edge", post=True)
        yield server


def settings(tmp_path, influx, vtest_path, *, realtime=False, **influx_overrides) -> dict:
    return {
        "cameras": [{"name": "yard", "source": str(vtest_path), "realtime": realtime}],
        "outputs": {
            "rtsp": {"enabled": False},
            "influx": {"enabled": True, "every_n_frames": 1,
                       "spool_path": str(tmp_path / "spool.sqlite3")},
        },
        "influx": {"url": influx.url, "database": "edge", "flush_interval_s": 0.2,
                   "retry_max_s": 0.5, "timeout_s": 5, **influx_overrides},
        "ingest": {"host_tag": "edge1"},
        # Detection points only: these tests count them against the JSON lines.
        "pipeline": {"stats_interval_s": 0, "system_interval_s": 0},
    }  # fmt: skip


def write_config(tmp_path, data: dict, name: str = "cfg.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def read_messages(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def expected_points(messages: list[dict]) -> dict[tuple, dict]:
    """(camera, obj, time in ns) -> the object, for every object of every message."""
    return {
        (m["camera"], o["unique_com_id"], epoch_ns(m["timestamp"])): {**o, "message": m}
        for m in messages
        for o in m["inference_results"]
    }


def stored_points(influx) -> dict[tuple, dict]:
    rows = influx.rows(f"SELECT * FROM {M} GROUP BY *", "edge")
    points = {(r["camera"], r["obj"], r["time"]): r for r in rows}
    assert len(points) == len(rows)
    return points


def count_stored(influx) -> int:
    rows = influx.rows(f"SELECT count(confidence) FROM {M}", "edge")
    return rows[0]["count"] if rows else 0


def open_spool(path) -> DurableQueue:
    return DurableQueue(path, 10**6, what="InfluxDB spool", setting="outputs.influx.spool_path")


def spooled_points(path) -> int:
    """Read from outside, as another process would (WAL lets readers in)."""
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        try:
            return db.execute("SELECT COALESCE(SUM(size), 0) FROM queue").fetchone()[0]
        except sqlite3.OperationalError:  # the table is not created yet
            return 0


def test_run_writes_exactly_one_point_per_detected_object(tmp_path, influx, vtest_path):
    config = write_config(tmp_path, settings(tmp_path, influx, vtest_path))
    out = tmp_path / "out.jsonl"
    result = edgewatch("run", "--no-web", "--config", str(config), "--max-frames", "120",
                       "--no-rtsp", "--json-out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    messages = read_messages(out)
    assert len(messages) == 120
    expected = expected_points(messages)
    assert len(expected) == sum(m["total_num_obj"] for m in messages) > 120

    stored = stored_points(influx)
    assert stored.keys() == expected.keys()
    for key, row in stored.items():
        sent = expected[key]
        message = sent["message"]
        assert row["host"] == "edge1"
        assert row["topic"] == "edgewatch/yard/inference"  # as the MQTT message's topic
        assert row["label"] == sent["label"]
        assert row["confidence"] == sent["confidence"]
        assert row["coor_left"] == sent["coor_left"] and row["box_height"] == sent["box_height"]
        assert row["objectID"] == float(sent["objectID"])
        assert row["detection_frame_number"] == message["detection_frame_number"]
        assert row["total_num_obj"] == message["total_num_obj"]
    # Objects of one frame are separate series (obj tag), so none overwrote another.
    busiest = max(messages, key=lambda m: m["total_num_obj"])
    at = epoch_ns(busiest["timestamp"])
    objs = sorted(obj for (_, obj, t) in stored if t == at)
    assert objs == sorted(o["unique_com_id"] for o in busiest["inference_results"])
    assert len(set(objs)) == busiest["total_num_obj"] > 1
    assert open_spool(tmp_path / "spool.sqlite3").depth() == 0


def test_an_influxdb_outage_mid_run_loses_nothing_and_adds_nothing(tmp_path, influx, vtest_path):
    data = settings(tmp_path, influx, vtest_path, realtime=True,
                    batch_size=20, max_pending_points=60)  # fmt: skip
    data["cameras"][0]["max_frames"] = 130  # 13 s of footage at its own 10 fps
    data["outputs"]["jsonl"] = {"path": str(tmp_path / "out.jsonl")}
    pipeline = build_pipeline(config_from_dict(data))
    sink = next(s for s in pipeline.sinks if s.name == "influx")
    summary = []
    running = threading.Thread(target=lambda: summary.append(pipeline.run()), daemon=True)
    running.start()

    assert wait_for(lambda: count_stored(influx) > 0, 20), sink.stats()
    influx.stop()
    down_since = time.monotonic()
    # The writer holds at most max_pending_points; the spool holds the rest.
    assert wait_for(lambda: sink.stats()["spool_depth"] > 120, 15), sink.stats()
    assert sink.stats()["pending"] <= 60
    time.sleep(max(0.0, 5 - (time.monotonic() - down_since)))
    while_down = sink.stats()
    assert while_down["spool_depth"] > 120 and while_down["pending"] <= 60
    influx.start()  # same data folder and port
    running.join(60)
    assert not running.is_alive() and summary

    messages = read_messages(tmp_path / "out.jsonl")
    assert len(messages) == 130
    expected = expected_points(messages)
    stored = stored_points(influx)
    assert stored.keys() == expected.keys()
    assert len(stored) == len(expected)
    final = summary[0].stats["influx"]
    assert final["spool_depth"] == 0 and final["dropped"] == 0
    assert final["spooled"] == final["written"] == len(expected)
    assert final["retries"] > 0
    assert spooled_points(tmp_path / "spool.sqlite3") == 0


def test_points_of_a_killed_run_are_replayed_by_the_next(tmp_path, influx, vtest_path):
    spool_path = tmp_path / "spool.sqlite3"
    config = write_config(tmp_path, settings(tmp_path, influx, vtest_path, realtime=True))
    influx.stop()  # down from the start: an unreachable InfluxDB does not stop the run
    first = subprocess.Popen(
        [str(VENV_BIN / "edgewatch"), "run", "--no-web", "--config", str(config), "--no-rtsp",
         "--max-frames", "300"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert wait_for(lambda: spooled_points(spool_path) >= 40, 40)
    finally:
        first.send_signal(signal.SIGKILL)
        output = first.communicate(timeout=10)[0]
    assert "not reachable yet" in output
    # What the killed run left: every point it reported, since nothing could be written.
    spool = open_spool(spool_path)
    left = [line for group in spool.peek(10**6) for line in group.lines]
    spool.close()
    assert len(left) >= 40
    from_first = set()
    for point in left:  # measurement,tags fields time; a label may hold a space
        tags = dict(kv.split("=", 1) for kv in point.split(" ", 1)[0].split(",")[1:])
        from_first.add((tags["camera"], tags["obj"], int(point.rsplit(" ", 1)[1])))
    assert len(from_first) == len(left)

    influx.start()
    out = tmp_path / "second.jsonl"
    result = edgewatch("run", "--no-web", "--config", str(config), "--no-rtsp",
                       "--max-frames", "30", "--json-out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"holds {len(left)} points from before" in result.stderr
    from_second = expected_points(read_messages(out)).keys()
    assert from_second and not from_second & from_first
    assert stored_points(influx).keys() == from_first | from_second
    assert spooled_points(spool_path) == 0


@pytest.mark.parametrize("password_from", ["config", "env"])
def test_a_missing_database_stops_run_with_one_line(tmp_path, influx, vtest_path, password_from):
    data = settings(tmp_path, influx, vtest_path, database="nope", username="edge")
    env = {}
    if password_from == "config":
        data["influx"]["password"] = PASSWORD
    else:
        env["EDGEWATCH_INFLUX_PASSWORD"] = PASSWORD
    config = write_config(tmp_path, data)
    result = edgewatch("run", "--no-web", "--config", str(config), "--no-rtsp", "--max-frames", "5",
                       env=env)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    errors = [line for line in output.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, output
    assert errors[0].startswith("edgewatch: error: ")
    assert "'nope'" in errors[0] and "edgewatch influx setup" in errors[0]
    assert "Traceback" not in output
    assert PASSWORD not in output


def test_system_statistics_go_to_influxdb_without_a_broker(tmp_path, influx, vtest_path):
    data = settings(tmp_path, influx, vtest_path, realtime=True)
    data["pipeline"]["system_interval_s"] = 1  # MQTT stays off
    result = edgewatch(
        "run", "--no-web", "--config", str(write_config(tmp_path, data)), "--max-frames", "40"
    )
    assert result.returncode == 0, result.stderr
    rows = influx.rows('SELECT * FROM "edge_system"', "edge")
    assert len(rows) >= 2  # 4 s of video, one sample a second
    assert all(row["host"] == "edge1" and row["topic"].endswith("/system") for row in rows)
    assert all(0 <= row["cpu_percent"] <= 100 * os.cpu_count() for row in rows)


def test_spooled_writer_keeps_points_across_an_outage_and_a_restart(tmp_path, influx):
    """What the events output relies on: points written while InfluxDB is down wait in
    the spool through a restart of edgewatch and arrive once it is back."""
    from edgewatch.clients.influx.config import InfluxConfig
    from edgewatch.clients.influx.spooled import SpooledInfluxWriter

    config = InfluxConfig(url=influx.url, database="edge", flush_interval_s=0.1, timeout_s=2)
    spool = tmp_path / "events-influx-spool.sqlite3"
    points = [f'edgewatch_events,camera=yard kind="entered",n={i} {10**18 + i}' for i in range(5)]
    first = SpooledInfluxWriter(config, spool, 1000, setting="events.store_path")
    influx.stop()
    first.write(points[:3])
    first.write(points[3:])
    first.close(timeout=1)  # InfluxDB is away: they stay on disk
    assert spooled_points(spool) == 5

    influx.start()
    second = SpooledInfluxWriter(config, spool, 1000, setting="events.store_path")
    assert wait_for(lambda: second.stats()["written"] == 5, 15), second.stats()
    second.close()
    rows = influx.rows("SELECT n FROM edgewatch_events", "edge")
    assert sorted(row["n"] for row in rows) == [0, 1, 2, 3, 4]
    assert spooled_points(spool) == 0


def test_events_reach_influxdb_through_their_own_spool(tmp_path, influx, vtest_path):
    data = settings(tmp_path, influx, vtest_path)
    data["outputs"]["influx"]["enabled"] = False  # events alone
    data["events"] = {"enabled": True, "influx": True,
                      "store_path": str(tmp_path / "events.sqlite3"),
                      "snapshots": {"enabled": False}}  # fmt: skip
    config = write_config(tmp_path, data)
    result = edgewatch("run", "--no-web", "--config", str(config), "--max-frames", "100")
    assert result.returncode == 0, result.stderr
    listed = edgewatch("events", "--config", str(config), "--since", "1h")
    rows = influx.rows("SELECT * FROM edgewatch_events", "edge")
    assert rows, "no event reached InfluxDB"
    kinds = {row["kind"] for row in rows}
    assert "entered" in kinds
    assert spooled_points(tmp_path / "events-influx-spool.sqlite3") == 0
    assert listed.returncode == 0 and "person" in listed.stdout  # the store has them too
