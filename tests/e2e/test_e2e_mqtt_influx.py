"""The reference data path, every hop real: the pipeline on the real footage -> mosquitto
-> `edgewatch ingest` -> influxd 1.6.7 -> InfluxQL."""

from __future__ import annotations

import json
import threading
import time

import yaml
from conftest import edgewatch, wait_for

from edgewatch.bench.localservers import Influxd, Mosquitto
from edgewatch.config import config_from_dict
from edgewatch.services.ingest import run_ingest


def test_every_detected_object_becomes_one_point_in_influxdb(tmp_path):
    with Mosquitto(tmp_path / "mqtt") as broker, Influxd(tmp_path / "influx") as influx:
        influx.query("CREATE DATABASE edgewatch", post=True)
        settings = {
            "cameras": [{"name": "yard", "source": "sample", "realtime": False,
                         "max_frames": 60}],
            "outputs": {
                "rtsp": {"enabled": False},
                "jsonl": {"path": str(tmp_path / "d.jsonl")},
                "mqtt": {"enabled": True, "every_n_frames": 1,
                         "outbox_path": str(tmp_path / "outbox.sqlite3")},
            },
            "mqtt": {"port": broker.port},
            "influx": {"url": influx.url, "database": "edgewatch", "flush_interval_s": 0.2},
            "ingest": {"host_tag": "edge1"},
        }  # fmt: skip
        config_file = tmp_path / "edgewatch.yaml"
        config_file.write_text(yaml.safe_dump(settings))
        stop = threading.Event()
        ingest = threading.Thread(
            target=run_ingest, args=(config_from_dict(settings), stop), daemon=True
        )
        ingest.start()
        try:
            time.sleep(1)  # subscribed before the first message
            result = edgewatch("run", "--no-web", "--config", str(config_file))
            assert result.returncode == 0, result.stderr
            messages = [
                json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()
            ]
            published = sum(m["total_num_obj"] for m in messages)
            assert len(messages) == 60 and published > 60  # several people per frame

            def stored() -> int:
                rows = influx.rows(
                    "SELECT count(confidence) FROM BW_Inference_results", "edgewatch"
                )
                return rows[0]["count"] if rows else 0

            assert wait_for(lambda: stored() == published, 30), (stored(), published)
        finally:
            stop.set()
            ingest.join(15)
        # Objects of one frame do not overwrite each other: one series per obj tag.
        busiest = max(messages, key=lambda m: m["total_num_obj"])
        rows = influx.rows(
            "SELECT * FROM BW_Inference_results WHERE detection_frame_number = "
            f"{busiest['detection_frame_number']} GROUP BY *",
            "edgewatch",
        )
        assert sorted(r["obj"] for r in rows) == sorted(
            o["unique_com_id"] for o in busiest["inference_results"]
        )
        first = rows[0]
        assert first["host"] == "edge1" and first["camera"] == "yard"
        assert first["topic"] == "edgewatch/yard/inference"
        by_obj = {o["unique_com_id"]: o for o in busiest["inference_results"]}
        for row in rows:
            sent = by_obj[row["obj"]]
            assert row["label"] == sent["label"]
            assert abs(row["confidence"] - sent["confidence"]) < 1e-9
            assert row["coor_left"] == sent["coor_left"] and row["box_width"] == sent["box_width"]
            assert row["total_num_obj"] == busiest["total_num_obj"]
            # The frame's capture time is the point's time.
            assert abs(row["time"] / 1e9 - busiest["timestamp"]) < 1e-3
