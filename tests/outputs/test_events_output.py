"""EventSink end to end: events into the store, over a real mosquitto through the MQTT
sink's outbox, and into a real influxd as their own measurement."""

import json
import threading

import pytest
from event_scenes import config, feet_box, frame, tracked

from edgewatch.bench.localservers import Influxd, Mosquitto
from edgewatch.clients.influx.config import InfluxConfig
from edgewatch.clients.influx.writer import InfluxWriter
from edgewatch.clients.mqtt.client import connect, connect_options, create_client
from edgewatch.clients.mqtt.config import MqttConfig
from edgewatch.errors import ConfigError
from edgewatch.events.store import EventStore
from edgewatch.outputs.base import StreamInfo
from edgewatch.outputs.events import EventSink
from edgewatch.outputs.mqtt import MqttOutputConfig, MqttSink

pytestmark = pytest.mark.timeout(90)
ZONE = {
    "name": "porch",
    "camera": "yard",
    "points": [[200, 200], [400, 200], [400, 400], [200, 400]],
}
GATE = {"name": "gate", "camera": "yard", "a": [320, 0], "b": [320, 480]}
STREAM = StreamInfo("yard", 640, 480, 10.0)


class Subscriber:
    def __init__(self, broker: Mosquitto, topic: str) -> None:
        self.messages, self.changed = [], threading.Condition()
        options = connect_options(MqttConfig(port=broker.port), role="events-test")
        self.client = create_client(options)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        connect(self.client, options)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, client, userdata, message) -> None:
        with self.changed:
            self.messages.append(message)
            self.changed.notify_all()

    def wait_for(self, n: int, timeout: float = 15) -> list:
        with self.changed:
            self.changed.wait_for(lambda: len(self.messages) >= n, timeout)
            return list(self.messages)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def walk(sink: EventSink) -> None:
    """A person walks into the porch zone, across the gate line, and out of view."""
    xs = list(range(100, 560, 20))
    for i, x in enumerate(xs):
        sink.write(frame(i / 10), tracked((4, feet_box(x, 300), 0.6 + i / 100)))
    for i in range(30):
        sink.write(frame(len(xs) / 10 + i / 10), tracked())


EXPECTED = [
    ("entered", None),
    ("zone_entered", "porch"),
    ("line_crossed", "gate"),
    ("zone_left", "porch"),
    ("left", None),
]


def test_events_go_to_store_mqtt_and_influx(tmp_path):
    events_config = config(
        zones=[ZONE],
        lines=[GATE],
        left_after_s=1,
        store_path=tmp_path / "events.sqlite3",
        snapshots={"dir": tmp_path / "snaps"},
    )
    with Mosquitto(tmp_path / "mosquitto") as broker, Influxd(tmp_path / "influx") as influx:
        influx.query("CREATE DATABASE edge", post=True)
        subscriber = Subscriber(broker, "edgewatch/yard/events")
        mqtt_sink = MqttSink(
            MqttOutputConfig(enabled=True, qos=1, outbox_path=tmp_path / "outbox.sqlite3"),
            MqttConfig(port=broker.port),
            labels=["person"],
        )
        writer = InfluxWriter(
            InfluxConfig(url=influx.url, database="edge", flush_interval_s=0.2)
        ).start()
        sink = EventSink(events_config, mqtt=mqtt_sink, influx_writer=writer)
        mqtt_sink.open([STREAM])
        sink.open([STREAM])
        walk(sink)
        sink.close()

        messages = subscriber.wait_for(len(EXPECTED))
        payloads = [json.loads(m.payload) for m in messages]
        assert [(p["kind"], p["zone"]) for p in payloads] == EXPECTED
        assert {m.qos for m in messages} == {1}
        crossed = payloads[2]
        assert crossed["direction"] == "right->left" and crossed["track_id"] == 4
        left = payloads[-1]
        assert left["id"] == payloads[0]["id"] and left["end"] > left["start"]
        assert left["best_confidence"] == pytest.approx(0.6 + 22 / 100, abs=1e-6)
        assert left["snapshot"].endswith(f"/yard/{left['id']}.jpg")
        assert (tmp_path / "snaps" / "yard" / f"{left['id']}.jpg").exists()

        rows = influx.rows("SELECT * FROM edgewatch_events", "edge")
        assert sorted((r["kind"], r["zone"] or None) for r in rows) == sorted(EXPECTED)
        row = next(r for r in rows if r["kind"] == "left")
        assert row["camera"] == "yard" and row["label"] == "person" and row["track_id"] == 4
        assert row["duration_s"] == pytest.approx(left["duration_s"], abs=1e-3)
        subscriber.close()
        mqtt_sink.close()

    store = EventStore(tmp_path / "events.sqlite3")
    stored = store.query()
    assert sorted(e.kind for e in stored) == ["left", "line_crossed", "zone_left"]
    store.close()


def test_store_is_the_default_with_nothing_else_configured(tmp_path):
    events_config = config(
        zones=[ZONE],
        left_after_s=1,
        store_path=tmp_path / "ev.sqlite3",
        snapshots={"enabled": False},
    )
    sink = EventSink(events_config)
    sink.open([STREAM])
    walk(sink)
    sink.close()
    store = EventStore(tmp_path / "ev.sqlite3")
    assert {e.kind for e in store.query()} == {"left", "zone_left"}
    assert all(e.snapshot is None for e in store.query())
    store.close()


def test_open_refuses_zones_outside_the_frame(tmp_path):
    events_config = config(
        zones=[{**ZONE, "points": [[0, 0], [900, 0], [900, 100]]}],
        store_path=tmp_path / "ev.sqlite3",
    )
    with pytest.raises(ConfigError, match="outside the 640x480 frame"):
        EventSink(events_config).open([STREAM])


def test_a_failing_destination_does_not_stop_the_others(tmp_path):
    class BrokenMqtt:
        def publish(self, topic, payload, camera):
            raise OSError("disk full")

    events_config = config(
        left_after_s=1, store_path=tmp_path / "ev.sqlite3", snapshots={"enabled": False}
    )
    sink = EventSink(events_config, mqtt=BrokenMqtt())
    sink.open([STREAM])
    walk(sink)
    sink.close()
    assert sink.counts["errors.mqtt"] == 2 and sink.counts["events.left"] == 1
