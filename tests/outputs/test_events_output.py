"""EventSink end to end: events into the store, over a real mosquitto through the MQTT
sink's outbox, and into a real influxd as their own measurement."""

import json
import threading
import time

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
        subscriber = Subscriber(broker, "edgewatch/#")
        mqtt_sink = MqttSink(
            MqttOutputConfig(enabled=True, qos=1, outbox_path=tmp_path / "outbox.sqlite3"),
            MqttConfig(port=broker.port),
            events=events_config,
        )
        writer = InfluxWriter(
            InfluxConfig(url=influx.url, database="edge", flush_interval_s=0.2)
        ).start()
        sink = EventSink(events_config, mqtt=mqtt_sink, influx_writer=writer)
        mqtt_sink.open([STREAM])
        sink.open([STREAM])
        walk(sink)
        sink.close()
        mqtt_sink.close()

        messages = subscriber.wait_for(30)
        by_topic: dict[str, list] = {}
        for m in messages:
            by_topic.setdefault(m.topic, []).append(m)
        # Each happening once, in order, on the camera's events topic (QoS 1).
        happenings = [json.loads(m.payload) for m in by_topic["edgewatch/yard/events"]]
        assert [(h["kind"], h["zone"]) for h in happenings] == EXPECTED
        assert {m.qos for m in by_topic["edgewatch/yard/events"]} == {1}
        crossed = happenings[2]
        assert crossed["direction"] == "right->left" and crossed["track_id"] == 4
        assert crossed["time"].endswith("Z") and crossed["snapshot"].startswith("yard/")
        # One story: new, updates, end, with before and after.
        changes = [json.loads(m.payload) for m in by_topic["edgewatch/events"]]
        assert changes[0]["type"] == "new" and changes[0]["before"] is None
        assert changes[-1]["type"] == "end" and {c["type"] for c in changes[1:-1]} == {"update"}
        assert len({c["after"]["id"] for c in changes}) == 1
        final = changes[-1]["after"]
        assert final["entered_zones"] == ["porch"] and final["current_zones"] == []
        assert final["crossings"][0]["line"] == "gate"
        assert final["top_score"] == pytest.approx(0.6 + 22 / 100, abs=1e-3)
        assert changes[-1]["before"]["end_time"] is None and final["end_time"] is not None
        assert (tmp_path / "snaps" / final["snapshot"]).is_file()
        # The snapshot as JPEG bytes, retained; counts that go back to 0.
        (jpeg, *_) = by_topic["edgewatch/yard/person/snapshot"]
        assert jpeg.retain is False or jpeg.payload[:2] == b"\xff\xd8"
        assert jpeg.payload[:2] == b"\xff\xd8"
        counts = [m.payload for m in by_topic["edgewatch/yard/person"]]
        assert counts[0] == b"1" and counts[-1] == b"0"
        zone_counts = [m.payload for m in by_topic["edgewatch/yard/zones/porch/person"]]
        assert zone_counts == [b"1", b"0"]

        rows = influx.rows("SELECT * FROM edgewatch_events", "edge")
        assert sorted((r["kind"], r["zone"] or None) for r in rows) == sorted(EXPECTED)
        row = next(r for r in rows if r["kind"] == "line_crossed")
        assert row["camera"] == "yard" and row["label"] == "person" and row["track_id"] == 4
        assert row["direction"] == "right->left"
        subscriber.close()

    store = EventStore(tmp_path / "events.sqlite3")
    (stored,) = store.episodes()
    assert [h.kind for h in stored.happenings] == [kind for kind, _ in EXPECTED]
    store.close()


def test_home_assistant_entities_appear_and_go_with_the_config(tmp_path):
    """Entities for labels seen or named, not for every class; a zone dropped from the
    config takes its entities with it (empty retained configs)."""
    with Mosquitto(tmp_path / "mosquitto") as broker:

        def run(zones) -> None:
            events_config = config(
                zones=zones, left_after_s=1, store_path=tmp_path / "ev.sqlite3",
                snapshots={"dir": tmp_path / "snaps"},
            )  # fmt: skip
            mqtt_sink = MqttSink(
                MqttOutputConfig(
                    enabled=True, home_assistant=True, outbox_path=tmp_path / "outbox.sqlite3",
                    home_assistant_state=tmp_path / "ha.json",
                ),
                MqttConfig(port=broker.port),
                events=events_config,
            )  # fmt: skip
            sink = EventSink(events_config, mqtt=mqtt_sink)
            mqtt_sink.open([STREAM])
            sink.open([STREAM])
            walk(sink)
            sink.close()
            mqtt_sink.close()

        run([{**ZONE, "labels": ["person", "dog"]}])
        subscriber = Subscriber(broker, "homeassistant/#")
        retained = {m.topic: m.payload for m in subscriber.wait_for(11, timeout=5)}
        subscriber.close()
        configs = {topic: json.loads(payload) for topic, payload in retained.items() if payload}
        names = sorted(topic.split("/")[1] + ":" + topic.split("/")[2] for topic in configs)
        assert names == [
            "binary_sensor:edgewatch_yard_dog_occupancy",
            "binary_sensor:edgewatch_yard_person_occupancy",
            "binary_sensor:edgewatch_yard_porch_dog_occupancy",
            "binary_sensor:edgewatch_yard_porch_person_occupancy",
            "event:edgewatch_yard_events",
            "image:edgewatch_yard_dog_snapshot",
            "image:edgewatch_yard_person_snapshot",
            "sensor:edgewatch_yard_dog_count",
            "sensor:edgewatch_yard_person_count",
            "sensor:edgewatch_yard_porch_dog_count",
            "sensor:edgewatch_yard_porch_person_count",
        ]  # person seen; dog named by the zone; no car, bus, truck ... never seen
        occupancy = configs[
            "homeassistant/binary_sensor/edgewatch_yard_porch_person_occupancy/config"
        ]
        assert occupancy["state_topic"] == "edgewatch/yard/zones/porch/person"
        assert occupancy["device_class"] == "occupancy"
        event = configs["homeassistant/event/edgewatch_yard_events/config"]
        assert (
            event["state_topic"] == "edgewatch/yard/events"
            and "line_crossed" in event["event_types"]
        )
        image = configs["homeassistant/image/edgewatch_yard_person_snapshot/config"]
        assert image["image_topic"] == "edgewatch/yard/person/snapshot"

        run([])  # the zone is gone
        subscriber = Subscriber(broker, "homeassistant/#")
        time.sleep(1)
        retained = {m.topic for m in subscriber.messages}
        subscriber.close()
        assert not any("porch" in topic for topic in retained)
        assert "homeassistant/sensor/edgewatch_yard_person_count/config" in retained


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
    (stored,) = store.episodes()
    assert [h.kind for h in stored.happenings][-2:] == ["zone_left", "left"]
    assert stored.episode.snapshot is None
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
        def publish(self, topic, payload, camera, retain=False):
            raise OSError("disk full")

        def announce(self, camera, label, zone=None):
            pass

    events_config = config(
        left_after_s=1, store_path=tmp_path / "ev.sqlite3", snapshots={"enabled": False}
    )
    sink = EventSink(events_config, mqtt=BrokenMqtt())
    sink.open([STREAM])
    walk(sink)
    sink.close()
    assert sink.counts["errors.mqtt"] > 2 and sink.counts["events.left"] == 1
    assert sink.counts["episodes.end"] == 1
