"""`edgewatch ingest` as a user runs it: real mosquitto and influxd."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import paho.mqtt.client as mqtt
import yaml
from conftest import VENV_BIN, edgewatch

from edgewatch.bench.localservers import Influxd, Mosquitto


def write_config(path, broker, influx, database="edgewatch"):
    path.write_text(yaml.safe_dump({
        "mqtt": {"port": broker.port},
        "influx": {"url": influx.url, "database": database, "flush_interval_s": 0.2},
        "ingest": {"client_id": "ingest-cli-test"},
    }))  # fmt: skip
    return path


def test_missing_database_is_one_line_naming_the_fix(tmp_path):
    with Mosquitto(tmp_path / "m") as broker, Influxd(tmp_path / "i") as influx:
        config = write_config(tmp_path / "c.yaml", broker, influx, database="nope")
        result = edgewatch("ingest", "--config", str(config), timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("edgewatch: error:")]
    assert "nope" in line


def test_ingest_runs_until_sigterm_and_writes_what_it_received(tmp_path):
    with Mosquitto(tmp_path / "m") as broker, Influxd(tmp_path / "i") as influx:
        influx.query("CREATE DATABASE edgewatch", post=True)
        config = write_config(tmp_path / "c.yaml", broker, influx)
        process = subprocess.Popen(
            [str(VENV_BIN / "edgewatch"), "ingest", "--config", str(config)],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            time.sleep(2)
            publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
            publisher.connect("127.0.0.1", broker.port)
            publisher.loop_start()
            message = {
                "camera": "door", "timestamp": time.time(), "detection_frame_number": 7,
                "total_num_obj": 1, "inference_results": [{
                    "classID": 0, "label": "person", "confidence": 0.9, "coor_left": 1.0,
                    "coor_top": 2.0, "box_width": 3.0, "box_height": 4.0,
                    "objectID": 18446744073709551615, "unique_com_id": "OBJ1"}],
            }  # fmt: skip
            publisher.publish(
                "edgewatch/door/inference", json.dumps(message), qos=1
            ).wait_for_publish(5)
            publisher.publish("edgewatch/door/inference", b"not json", qos=1).wait_for_publish(5)
            deadline = time.monotonic() + 20
            rows = []
            while not rows and time.monotonic() < deadline:
                rows = influx.rows("SELECT * FROM BW_Inference_results", "edgewatch")
                time.sleep(0.2)
            publisher.loop_stop()
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert len(rows) == 1 and rows[0]["obj"] == "OBJ1" and rows[0]["label"] == "person"
    assert "malformed" in stderr.lower()  # the bad payload was logged and skipped
