"""Tracking and events end to end: the real footage through `edgewatch run` with a zone
and a line, events to the SQLite store, snapshots on disk, MQTT to a real mosquitto,
zones drawn on the video, and `edgewatch events` listing them."""

from __future__ import annotations

import json
import threading

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import yaml
from conftest import edgewatch, read_frames

from edgewatch.bench.localservers import Mosquitto

WALKWAY = [[300, 150], [760, 150], [760, 330], [300, 330]]  # where people walk in vtest.avi


def test_events_from_the_real_footage(tmp_path, vtest_path):
    with Mosquitto(tmp_path / "mqtt") as broker:
        received: list[dict] = []
        subscribed = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.on_connect = lambda c, *_: c.subscribe("edgewatch/yard/events", qos=1)
        client.on_subscribe = lambda *_: subscribed.set()
        client.on_message = lambda _c, _u, msg: received.append(json.loads(msg.payload))
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        assert subscribed.wait(5)
        config = tmp_path / "edgewatch.yaml"
        config.write_text(yaml.safe_dump({
            "cameras": [{"name": "yard", "source": "sample", "realtime": False,
                         "max_frames": 150}],
            "events": {
                "enabled": True,
                "zones": [{"name": "walkway", "camera": "yard", "points": WALKWAY}],
                "lines": [{"name": "post", "camera": "yard", "a": [430, 100], "b": [430, 400]}],
                "store_path": str(tmp_path / "events.sqlite3"),
                "snapshots": {"dir": str(tmp_path / "snapshots"), "write_after_s": 1},
            },
            "outputs": {
                "rtsp": {"enabled": False},
                "record": {"path": str(tmp_path / "yard.mp4")},
                "mqtt": {"enabled": True, "outbox_path": str(tmp_path / "outbox.sqlite3")},
            },
            "mqtt": {"port": broker.port},
        }))  # fmt: skip
        result = edgewatch("run", "--no-web", "--config", str(config))
        assert result.returncode == 0, result.stderr
        client.loop_stop()

    listing = edgewatch("events", "--config", str(config), "--since", "1d")
    assert listing.returncode == 0, listing.stderr
    # One row per object, with its story: the zone, the line, leaving.
    assert "person" in listing.stdout and "entered walkway" in listing.stdout
    assert "left walkway" in listing.stdout and "crossed post" in listing.stdout
    in_zone = edgewatch("events", "--config", str(config), "--kind", "zone_entered", "--json")
    zone_rows = [json.loads(line) for line in in_zone.stdout.splitlines()]
    assert zone_rows and all("walkway" in row["entered_zones"] for row in zone_rows)

    kinds = {event["kind"] for event in received}
    assert {"entered", "left", "zone_entered", "zone_left", "line_crossed"} <= kinds, kinds
    entered = [e for e in received if e["kind"] == "entered" and e["label"] == "person"]
    assert entered and all(e["track_id"] >= 1 and e["camera"] == "yard" for e in entered)
    # Every happening MQTT carried is in the store, under --zone / --kind too.
    zone_entries = {e["episode"] for e in received if e["kind"] == "zone_entered"}
    assert zone_entries == {row["id"] for row in zone_rows}
    # People walk through the clip; the parked car raises one episode, not one per blink.
    cars = {
        e["episode"] for e in received if e["kind"] == "entered" and e["label"] in ("car", "truck")
    }
    assert 1 <= len(cars) <= 2
    # No snapshot is announced before it exists.
    for event in received:
        if event["snapshot"]:
            assert (tmp_path / "snapshots" / event["snapshot"]).is_file()

    frames = [p for p in (tmp_path / "snapshots").rglob("*.jpg") if not p.stem.endswith("-crop")]
    crops = list((tmp_path / "snapshots").rglob("*-crop.jpg"))
    assert frames and crops
    image = cv2.imread(str(frames[0]))
    assert image is not None and image.shape == (576, 768, 3)  # the whole frame, annotated
    height, width = cv2.imread(str(crops[0])).shape[:2]
    assert height == width >= 160  # the object, square, for a phone notification

    # The zone outline is drawn on the video where the raw footage has none of it.
    recorded, raw = read_frames(tmp_path / "yard.mp4", [10])[0], read_frames(vtest_path, [10])[0]
    y = 150
    changed = np.abs(recorded[y, 320:740].astype(int) - raw[y, 320:740].astype(int)).sum(axis=1)
    assert (changed > 60).mean() > 0.5
