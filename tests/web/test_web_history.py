"""The panels from the SQLite history (written by the real HistorySink) and from a real
influxd (written as ingest writes it): the figures the test computes by hand, and the
same answer from both stores."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from edgewatch.bench.localservers import Influxd, free_port
from edgewatch.clients.influx.config import InfluxConfig
from edgewatch.clients.influx.line_protocol import detection_points
from edgewatch.outputs.history import HistorySink
from edgewatch.outputs.message import build_message
from edgewatch.outputs.report import ReportedOutputConfig
from edgewatch.types import NO_TRACK, Detections, Frame
from edgewatch.web import schemas
from edgewatch.web.history import InfluxHistory, SqliteHistory
from edgewatch.web.server import WebServer

from .tools import Client

NAMES = {0: "person", 2: "car", 7: "truck", 17: "dog"}
NOW = math.floor(time.time() / 60) * 60 - 30.0  # just past, half-way through a minute
START = NOW - 1200  # 20 minutes of frames, one every 2 s
IMAGE = np.zeros((576, 768, 3), np.uint8)


def scene():
    """(frame, detections): person 1 all along; object 2 a car that becomes a truck
    half-way; an untracked dog every third frame; no object at all every 50th frame."""
    for k in range(600):
        t = START + 2 * k + 0.25
        rows = [(1, 0, (100, 100, 150, 200), 0.9 - 0.001 * (k % 7))]
        rows.append((2, 2 if k < 300 else 7, (300, 200, 420, 280), 0.6 + 0.002 * (k % 5)))
        if k % 3 == 0:
            rows.append((NO_TRACK, 17, (500, 400, 540, 430), 0.5))
        if k % 50 == 49:
            rows = []
        detections = Detections(
            xyxy=np.array([r[2] for r in rows], np.float32).reshape(-1, 4),
            confidence=np.array([r[3] for r in rows], np.float32),
            class_id=np.array([r[1] for r in rows], np.int32),
            tracker_id=np.array([r[0] for r in rows], np.int64),
            class_names=NAMES,
        )
        yield Frame("yard", 1000 + k, t, IMAGE), detections


def close(a, b, tolerance: float = 1e-3) -> bool:
    """Equal, numbers within ``tolerance``, through lists and dicts (approx cannot nest)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], tolerance) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, tolerance) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | int) and isinstance(b, float | int):
        return abs(a - b) <= tolerance
    return a == b


def write_sqlite(config) -> None:
    sink = HistorySink(config.web, ReportedOutputConfig(every_n_frames=1))
    sink.open([])
    for frame, detections in scene():
        sink.write(frame, detections)
    sink.close()


def expected(messages: list[dict], bucket_s: int, *, skip_empty: bool) -> dict:
    """The panel figures computed by hand from the messages."""
    origin = math.floor((NOW - 1800) / bucket_s) * bucket_s
    frames: dict[int, list[int]] = {}
    boxes: dict[int, list[tuple]] = {}
    labels: dict[str, dict[int, int]] = {}
    for m in messages:
        if skip_empty and not m["inference_results"]:
            continue
        b = int((m["timestamp"] - origin) // bucket_s)
        frames.setdefault(b, []).append(m["total_num_obj"])
        for o in m["inference_results"]:
            boxes.setdefault(b, []).append((o["box_width"], o["box_height"], o["confidence"]))
            labels.setdefault(o["label"], {}).setdefault(b, 0)
            labels[o["label"]][b] += 1
    n = int((NOW - origin) // bucket_s) + 1
    mean = lambda values: round(sum(values) / len(values), 3)  # noqa: E731
    confidences = [o["confidence"] for m in messages for o in m["inference_results"]]
    return {
        "detections": [mean(frames[b]) if b in frames else None for b in range(n)],
        "avg_box_width": [mean([x[0] for x in boxes[b]]) if b in boxes else None for b in range(n)],
        "avg_confidence_pct": [
            round(sum(x[2] for x in boxes[b]) / len(boxes[b]) * 100, 3) if b in boxes else None
            for b in range(n)
        ],
        "objects_per_label": {
            label: [
                round(c.get(b, 0) / len(frames[b]), 3) if b in frames else None for b in range(n)
            ]
            for label, c in sorted(labels.items())
        },  # fmt: skip
        "avg_confidence_pct_all": round(sum(confidences) / len(confidences) * 100, 2),
    }


def test_sqlite_panels_are_the_figures_of_the_reported_frames(config):
    write_sqlite(config)
    messages = [build_message(f, d) for f, d in scene()]
    panels = SqliteHistory(config.web.history_path).panels(
        "yard", since_s=1800, bucket_s=60, now=NOW
    )
    schemas.Panels.model_validate(panels)
    want = expected(messages, 60, skip_empty=False)
    series = panels["series"]
    assert series["time"][0] == math.floor((NOW - 1800) / 60) * 60 and len(series["time"]) == 31
    assert series["detections"][:10] == [None] * 10  # nothing before the scene began
    for key in ("detections", "avg_box_width", "avg_confidence_pct", "objects_per_label"):
        assert close(series[key], want[key]), key
    assert panels["last_frame_number"] == 1599 and panels["current_total"] == 0  # empty frame
    assert panels["avg_confidence_pct"] == pytest.approx(want["avg_confidence_pct_all"], abs=0.01)
    t = [m["timestamp"] for m in messages]
    assert panels["label_timeline"] == [
        {"object": 1, "label": "person", "start": t[0], "end": t[598]},
        {"object": 2, "label": "car", "start": t[0], "end": t[298]},  # 299: empty
        {"object": 2, "label": "truck", "start": t[300], "end": t[598]},
    ]  # the untracked dog has no timeline
    assert panels["state_changes"] == [
        {"object": 2, "from": "car", "to": "truck", "time": t[300], "kept_s": 600.0}
    ]


def test_a_missing_history_is_empty_panels(tmp_path):
    panels = SqliteHistory(tmp_path / "none.sqlite3").panels("yard", since_s=600, bucket_s=60)
    assert panels["last_frame_number"] is None and panels["current_total"] == 0
    assert set(panels["series"]["detections"]) == {None}
    assert panels["label_timeline"] == [] and panels["state_changes"] == []


def test_too_many_buckets_are_made_wider(config):
    panels = SqliteHistory(config.web.history_path).panels("yard", since_s=7 * 86400, bucket_s=1)
    assert panels["bucket_s"] == math.ceil(7 * 86400 / 1500)
    assert len(panels["series"]["time"]) <= 1501


def test_the_panels_endpoint_reads_the_configured_history(config, logged_in):
    write_sqlite(config)
    answer = logged_in.get("/api/panels/yard?since_s=1800&bucket_s=120")
    assert answer.status == 200
    panels = answer.json()
    schemas.Panels.model_validate(panels)
    assert panels["bucket_s"] == 120 and panels["last_frame_number"] == 1599
    assert set(panels["series"]["objects_per_label"]) == {"car", "dog", "person", "truck"}
    assert logged_in.get("/api/panels/yard?bucket_s=0").status == 422


def test_influx_panels_match_the_sqlite_panels_of_the_same_frames(tmp_path, config):
    write_sqlite(config)
    lines = []
    for frame, detections in scene():
        lines += detection_points(build_message(frame, detections), topic="edgewatch/yard",
                                  host="box", measurement="BW_Inference_results")  # fmt: skip
    with Influxd(tmp_path / "influx") as influx:
        influx.query('CREATE DATABASE "edgewatch"', post=True)
        influx.write(lines, "edgewatch")
        from_influx = InfluxHistory(InfluxConfig(url=influx.url, database="edgewatch"))
        panels = from_influx.panels("yard", since_s=1800, bucket_s=60, now=NOW)
        other = from_influx.panels("street", since_s=1800, bucket_s=60, now=NOW)
    schemas.Panels.model_validate(panels)
    messages = [build_message(f, d) for f, d in scene()]
    want = expected(messages, 60, skip_empty=True)  # InfluxDB has no point for empty frames
    series = panels["series"]
    for key in ("detections", "avg_box_width", "avg_confidence_pct", "objects_per_label"):
        assert close(series[key], want[key]), key
    assert panels["avg_confidence_pct"] == pytest.approx(want["avg_confidence_pct_all"], abs=0.01)
    from_sqlite = SqliteHistory(config.web.history_path).panels(
        "yard", since_s=1800, bucket_s=60, now=NOW
    )
    for key in ("label_timeline", "state_changes"):
        assert close(panels[key], from_sqlite[key], 1e-6), key
    # The last frame had no object: InfluxDB's last is the one before.
    assert panels["last_frame_number"] == 1598 and panels["current_total"] == 2
    assert close(series["avg_box_height"], from_sqlite["series"]["avg_box_height"])
    assert other["last_frame_number"] is None and other["label_timeline"] == []


def test_an_unreachable_influxdb_is_a_503_not_a_crash(tmp_path, config, store):
    from_influx = InfluxHistory(InfluxConfig(url=f"http://127.0.0.1:{free_port()}", timeout_s=2))
    from edgewatch.web.app import create_app

    server = WebServer(config, app=create_app(config, history=from_influx, store=store))
    with server:
        client = Client(server.url)
        client.login()
        answer = client.get("/api/panels/yard")
        assert answer.status == 503 and "not reachable" in answer.json()["detail"]
        client.close()
