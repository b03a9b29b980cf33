"""`edgewatch ingest` end to end: real paho publishers -> real mosquitto -> ingest -> real
influxd, through an InfluxDB outage and an ingest crash, losing nothing."""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import paho.mqtt.client as mqtt
import pytest

from edgewatch.bench.localservers import Influxd, Mosquitto
from edgewatch.clients.influx.writer import InfluxError
from edgewatch.config import Config
from edgewatch.services.ingest import Ingest, run_ingest

pytestmark = pytest.mark.timeout(120)
M = "BW_Inference_results"
INFLUX_PASSWORD = "influx-pw-5e1d-secret"


@pytest.fixture
def servers(tmp_path):
    with Mosquitto(tmp_path / "mqtt") as broker, Influxd(tmp_path / "influx") as influx:
        influx.query("CREATE DATABASE edge", post=True)
        yield broker, influx


def ingest_config(broker, influx, **influx_overrides) -> Config:
    return Config.model_validate(
        {
            "mqtt": {"port": broker.port},
            "influx": {
                "url": influx.url,
                "database": "edge",
                "retry_max_s": 0.5,
                "timeout_s": 2,
                **influx_overrides,
            },  # fmt: skip
            "ingest": {
                "client_id": "ingest-test",
                "host_tag": "edgebox",
                "deadletter_path": str(influx.workdir / "deadletters.sqlite3"),
            },
            "pipeline": {"stats_interval_s": 0},
        }
    )


@contextmanager
def running(config):
    """Ingest in a thread, subscribed when entered; stopped (and its error raised) on exit."""
    ingest, stop, errors = Ingest(config), threading.Event(), []

    def run():
        try:
            ingest.run(stop)
        except Exception as error:
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ingest.subscribed.wait(10) or errors, "ingest did not subscribe"
    try:
        yield ingest
    finally:
        stop.set()
        thread.join(30)
    if errors:
        raise errors[0]


def detection(i: int, objects: int, camera: str = "front") -> dict:
    return {
        "camera": camera,
        "timestamp": 1_700_000_000 + i / 10,
        "detection_frame_number": i,
        "total_num_obj": objects,
        "inference_results": [
            {
                "classID": 1,
                "label": "person",
                "confidence": 0.9,
                "coor_left": 1.5,
                "coor_top": 2,
                "box_width": 30,
                "box_height": 60,
                "objectID": 2**64 - 1,
                "unique_com_id": f"OBJ{k + 1}",
            }  # fmt: skip
            for k in range(objects)
        ],
    }


def publish(broker, payloads, *, topic="edgewatch/front/inference", every_s=0.0):
    """Real paho publisher at QoS 2; returns once the broker has every message."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    infos = []
    for payload in payloads:
        data = payload if isinstance(payload, bytes) else json.dumps(payload)
        infos.append(client.publish(topic, data, qos=2))
        if every_s:
            time.sleep(every_s)
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


def wait_for_points(influx, expected, timeout=30.0, measurement=M) -> int:
    deadline = time.monotonic() + timeout
    while True:
        rows = influx.rows(f"SELECT count(confidence) FROM {measurement}", "edge")
        n = rows[0]["count"] if rows else 0
        if n >= expected or time.monotonic() > deadline:
            return n
        time.sleep(0.2)


def test_every_object_of_every_message_becomes_a_point(servers):
    broker, influx = servers
    with running(ingest_config(broker, influx)) as ingest:
        publish(broker, [detection(i, 1 + i % 5) for i in range(200)])
        expected = sum(1 + i % 5 for i in range(200))
        assert wait_for_points(influx, expected) == expected
    counters = ingest.stats.snapshot()["counters"]
    assert counters["received"] == 200
    assert counters["points_written"] == expected
    rows = influx.rows(f"SELECT * FROM {M} WHERE detection_frame_number = 4 GROUP BY *", "edge")
    assert sorted(row["obj"] for row in rows) == ["OBJ1", "OBJ2", "OBJ3", "OBJ4", "OBJ5"]
    assert {(r["host"], r["topic"], r["camera"]) for r in rows} == {
        ("edgebox", "edgewatch/front/inference", "front")
    }
    assert {row["time"] for row in rows} == {1_700_000_000_400_000_000}


def test_system_statistics_are_written_as_one_point(servers):
    broker, influx = servers
    with running(ingest_config(broker, influx)):
        publish(broker, [{"cpu_percent": 12.5, "mem_percent": 40}], topic="edgewatch/box1/system")
        deadline = time.monotonic() + 15
        while not (rows := influx.rows("SELECT * FROM edge_system", "edge")):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert rows[0]["cpu_percent"] == 12.5
    assert rows[0]["topic"] == "edgewatch/box1/system"


def test_malformed_messages_are_counted_and_skipped(servers, caplog):
    broker, influx = servers
    bad = [b"not json", b"[1, 2]", json.dumps({"camera": "x"}).encode(),
           json.dumps({**detection(0, 1), "total_num_obj": "one"}).encode()]  # fmt: skip
    with running(ingest_config(broker, influx)) as ingest:
        publish(broker, [detection(1, 2), *bad, detection(2, 3)])
        assert wait_for_points(influx, 5) == 5
    assert ingest.stats.snapshot()["counters"]["malformed"] == 4
    # Rate-limited: the first is logged, the next ones within 10 s only counted.
    lines = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert lines == ["malformed message on edgewatch/front/inference, kept as a dead letter: "
                     "not JSON (Expecting value: line 1 column 1 (char 0))"]  # fmt: skip


def test_influxd_outage_mid_run_loses_nothing(servers, caplog):
    broker, influx = servers
    caplog.set_level(logging.INFO)
    with running(ingest_config(broker, influx)) as ingest:
        publisher = threading.Thread(
            target=publish, args=(broker, [detection(i, 3) for i in range(300)]),
            kwargs={"every_s": 0.01},
        )  # fmt: skip
        publisher.start()
        time.sleep(1)
        influx.stop()
        time.sleep(3)  # the rest is published meanwhile
        influx.start()
        publisher.join(30)
        assert wait_for_points(influx, 900) == 900
    counters = ingest.stats.snapshot()["counters"]
    assert counters["retries"] > 0
    assert "works again" in caplog.text


def test_ingest_killed_mid_run_loses_nothing(servers, tmp_path):
    """A crash (SIGKILL), not a clean stop: unacknowledged messages come again."""
    broker, influx = servers
    config = ingest_config(broker, influx)
    script = (
        "import sys, threading, logging; from edgewatch.config import Config;"
        "from edgewatch.services.ingest import run_ingest;"
        "logging.basicConfig(level=logging.INFO);"
        "run_ingest(Config.model_validate_json(sys.argv[1]), threading.Event())"
    )

    def start():
        with open(tmp_path / "ingest.log", "a") as log:  # the child keeps its own copy
            return subprocess.Popen(
                [sys.executable, "-c", script, config.model_dump_json()], stdout=log, stderr=log
            )

    process = start()
    try:
        deadline = time.monotonic() + 15
        while "subscribing" not in (tmp_path / "ingest.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "ingest.log").read_text()
            time.sleep(0.1)
        publisher = threading.Thread(
            target=publish, args=(broker, [detection(i, 4) for i in range(400)]),
            kwargs={"every_s": 0.005},
        )  # fmt: skip
        publisher.start()
        time.sleep(0.7)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        killed_at = wait_for_points(influx, 0, timeout=0)
        time.sleep(1)
        process = start()
        publisher.join(30)
        assert wait_for_points(influx, 1600) == 1600
    finally:
        process.kill()
        process.wait(10)
    assert 0 < killed_at < 1600, "the kill should land mid-run"
    assert "session resumed" in (tmp_path / "ingest.log").read_text()


def test_missing_database_is_a_clear_error(servers):
    broker, influx = servers
    config = ingest_config(broker, influx, database="nope")
    with pytest.raises(InfluxError) as error:
        run_ingest(config, threading.Event())
    assert "has no database 'nope'" in str(error.value)
    assert "edgewatch influx setup" in str(error.value)


def test_no_secret_in_logs(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with Mosquitto(tmp_path / "mqtt", tls=True) as broker, Influxd(tmp_path / "i") as influx:
        influx.query("CREATE DATABASE edge", post=True)
        config = Config.model_validate(
            {
                "mqtt": {"port": broker.port, "username": broker.USER,
                         "password": broker.PASSWORD, "tls": {"ca_file": str(broker.ca_file)}},
                "influx": {"url": influx.url, "database": "edge", "username": "edge",
                           "password": INFLUX_PASSWORD, "retry_max_s": 0.2, "timeout_s": 1},
                "ingest": {"client_id": "ingest-secret-test"},
                "pipeline": {"stats_interval_s": 0.5},
            }
        )  # fmt: skip
        with running(config):
            influx.stop()  # write failures get logged
            publish_tls(broker, [detection(1, 2)])
            time.sleep(1.5)
            influx.start()
            assert wait_for_points(influx, 2) == 2
    assert "retrying" in caplog.text
    assert broker.PASSWORD not in caplog.text
    assert INFLUX_PASSWORD not in caplog.text


def publish_tls(broker, payloads):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.tls_set(ca_certs=str(broker.ca_file))
    client.username_pw_set(broker.USER, broker.PASSWORD)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    for payload in payloads:
        client.publish("edgewatch/front/inference", json.dumps(payload), qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def poison() -> dict[str, bytes]:
    """What a red-team pass published once each, and what each did to ingest before."""
    good = detection(0, 1)
    surrogate = json.dumps(good).replace('"person"', '"\\ud800"')
    return {
        # RecursionError in paho's network thread: ingest alive, deaf, for good
        "deep": b"[" * 50_000 + b"]" * 50_000,
        # UnicodeEncodeError in the writer's thread
        "surrogate": surrogate.encode(),
        # OverflowError: an int no float holds, on both topics
        "huge frame number": json.dumps({**good, "detection_frame_number": 10**400}).encode(),
        "1e999": json.dumps({**good})
        .replace('"total_num_obj": 1', '"total_num_obj": 1e999')
        .encode(),
        # passed validation, then influxd refused the batch (partial write)
        "year 33658": json.dumps({**good, "timestamp": 1e12}).encode(),
        "too large": b'{"pad": "' + b"x" * 2_000_000 + b'"}',
    }


def test_poison_messages_are_dead_lettered_and_ingest_keeps_writing(servers):
    """Regression: one malformed message (deep JSON, a lone surrogate, a number beyond
    float range) killed paho's or the writer's thread; ingest stayed up, wrote nothing more,
    and the unacknowledged poison killed it again after every restart."""
    broker, influx = servers
    config = ingest_config(broker, influx)
    messages, expected = [], 0
    for i, payload in enumerate(poison().values()):
        messages += [detection(2 * i, 2), payload, detection(2 * i + 1, 1)]
        expected += 3
    with running(config) as ingest:
        publish(broker, messages)
        publish(broker, [{"cpu_percent": 10**400, "mem_percent": 1}],
                topic="edgewatch/box1/system")  # fmt: skip
        publish(broker, [detection(100, 4)])
        assert wait_for_points(influx, expected + 4) == expected + 4
        time.sleep(0.5)
    counters = ingest.stats.snapshot()["counters"]
    assert counters["dead_letters"] == len(poison()) + 1
    assert counters["points_written"] == expected + 4  # the counters match the database
    from edgewatch.services.deadletters import DeadLetters

    store = DeadLetters(config.ingest.deadletter_path, 100)
    reasons = [letter.reason for letter in reversed(store.latest(100))]
    store.close()
    assert len(reasons) == len(poison()) + 1
    assert "nested too deeply" in reasons[0] and "'\\ud800'" in reasons[1]
    assert "year" not in reasons[4] and "this century" in reasons[4]
    assert "2,000,0" in reasons[5]
    # Acknowledged: a restarted ingest gets none of them again.
    with running(config) as again:
        publish(broker, [detection(200, 1)])
        assert wait_for_points(influx, expected + 5) == expected + 5
        time.sleep(0.5)
    assert again.stats.snapshot()["counters"]["received"] == 1


def test_a_partial_write_is_resolved_point_by_point(servers):
    """InfluxDB keeps the good points of a batch and refuses the rest. Regression: the whole
    batch was counted as refused, so the counters no longer matched the database."""
    broker, influx = servers
    # An integer field where ingest writes floats, in the shard (week) of even frames only:
    # InfluxDB refuses their points and keeps the odd frames' (another week's shard).
    influx.write([f"{M},obj=OBJ9,host=x confidence=1i 1700000000000000000"], "edge")
    week = 7 * 86400
    messages = [{**detection(i, 2), "timestamp": 1_700_000_000 + i + (i % 2) * week}
                for i in range(20)]  # fmt: skip
    config = ingest_config(broker, influx)
    with running(config) as ingest:
        publish(broker, messages)
        assert wait_for_points(influx, 21) == 21
        time.sleep(1)
    counters = ingest.stats.snapshot()["counters"]
    assert counters["points_written"] == 20 and counters["points_rejected"] == 20
    assert counters["dead_letters"] == 10  # the even frames, with InfluxDB's reason
    stored = influx.rows(f"SELECT count(box_width) FROM {M}", "edge")[0]["count"]
    assert stored == counters["points_written"]


def test_ingest_beside_the_direct_influxdb_output_warns_of_double_writes(servers, caplog):
    broker, influx = servers
    config = ingest_config(broker, influx).model_copy(deep=True)
    config.outputs.mqtt.enabled = config.outputs.influx.enabled = True
    with running(config):
        pass
    assert "ingest writes the same points again" in caplog.text.replace("\n", " ")
