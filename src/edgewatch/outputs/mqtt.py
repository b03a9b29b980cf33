"""The MQTT output: detection messages per camera, through an on-disk outbox.

`MqttSink.write` only decides whether a frame is reported and appends its message to the
outbox (a `DurableQueue`); it never touches the network. One `CameraLink` per camera owns one MQTT
connection, whose will is that camera's retained ``offline`` status: a connection carries
a single will, so per-camera availability that the broker itself reports when edgewatch
dies needs one connection per camera. The link sends the camera's queued messages in
order and deletes them only once the broker acknowledged them (QoS 0: once written to
the socket). A lost connection is replaced by a fresh client that resends from the
oldest unacknowledged row: at least once, in order; a duplicate is harmless downstream
(the same InfluxDB point is written twice).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import paho.mqtt.client as mqtt
from pydantic import Field

from edgewatch.clients.durable_queue import DurableQueue
from edgewatch.clients.mqtt.client import MqttError, connect, connect_options, create_client
from edgewatch.clients.mqtt.config import MqttConfig
from edgewatch.events.config import EventsConfig
from edgewatch.outputs.base import StreamInfo
from edgewatch.outputs.home_assistant import HomeAssistant
from edgewatch.outputs.message import build_message
from edgewatch.outputs.report import ReportedOutputConfig
from edgewatch.paths import default_state_dir
from edgewatch.supervise import SupervisedThread
from edgewatch.types import Detections, Frame

log = logging.getLogger(__name__)

WINDOW = 20  # messages in flight per connection: throughput without losing the order
CONNECT_TIMEOUT_S = 5.0
CLOSE_FLUSH_S = 5.0  # close() sends what it can in this time; the rest waits on disk
RETRY_MIN_S, RETRY_MAX_S = 1.0, 30.0


class MqttOutputConfig(ReportedOutputConfig):
    """Detection messages to the broker of the `mqtt` section, one topic per camera."""

    enabled: bool = Field(False, description="Publish detections over MQTT.")
    qos: Literal[0, 1, 2] = Field(1, description="QoS of detection, event and status messages.")
    outbox_path: Path = Field(
        default_factory=lambda: default_state_dir() / "mqtt-outbox.sqlite3",
        description="On-disk queue of messages not yet acknowledged by the broker; it "
        "survives restarts.",
    )
    outbox_max_messages: int = Field(
        100_000, ge=10, description="Outbox bound; beyond it the oldest are dropped and counted."
    )
    home_assistant: bool = Field(
        False,
        description="Announce entities to Home Assistant (MQTT discovery): occupancy and "
        "counts per camera, zone and label, snapshots, events. They come from the events "
        "output: needs events.enabled.",
    )
    discovery_prefix: str = Field("homeassistant", description="Home Assistant discovery prefix.")
    home_assistant_state: Path = Field(
        default_factory=lambda: default_state_dir() / "home-assistant.json",
        description="What was announced to Home Assistant (to remove what the config drops).",
    )


class CameraLink(SupervisedThread):
    """One camera's connection: status, discovery, and its messages from the outbox."""

    def __init__(self, sink: MqttSink, camera: str) -> None:
        super().__init__(name=f"mqtt-{camera}", restart=True)
        config, broker = sink.config, sink.broker
        self.sink, self.camera, self.outbox, self.qos = sink, camera, sink.outbox, config.qos
        # One client id per camera: two connections with one id would kick each other off.
        client_id = f"{broker.client_id}-{camera}" if broker.client_id else None
        self.options = connect_options(broker, role=camera, client_id=client_id)
        self.status_topic = broker.camera_status_topic(camera)
        self.first_attempt = threading.Event()
        self.first_error: MqttError | None = None
        self.connected = False
        self.stop_at: float | None = None  # set by close(): flush until then, then leave
        self.wake = threading.Event()
        self.published = self.acked = self.reconnects = 0

    def work(self) -> None:
        delay, outage = RETRY_MIN_S, None
        while self.stop_at is None:
            will = (self.status_topic, "offline", self.qos, True)
            client = create_client(self.options, will=will)
            client.max_inflight_messages_set(WINDOW)
            try:
                connect(client, self.options, timeout=CONNECT_TIMEOUT_S)
            except MqttError as error:
                if error.permanent and not self.first_attempt.is_set():
                    self.first_error = error  # open() raises it: retrying cannot fix a login
                    self.first_attempt.set()
                    return
                # One line per outage, not per retry; a refused login always shows.
                if outage is None or (error.permanent and outage != str(error)):
                    level = logging.ERROR if error.permanent else logging.WARNING
                    log.log(
                        level,
                        "camera %s: %s; retrying, messages wait in %s",
                        self.camera,
                        error,
                        self.outbox.path,
                    )
                    outage = str(error)
                self.first_attempt.set()  # after the log line: open() waits on it
                if self.wake.wait(delay):
                    break  # closing while the broker is away: the outbox keeps the rest
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            self.first_attempt.set()
            if outage is not None:
                self.reconnects += 1
                log.info(
                    "camera %s: connected to MQTT broker %s; sending %d queued messages",
                    self.camera,
                    self.options.broker,
                    self.outbox.depth(self.camera),
                )
            delay = RETRY_MIN_S
            lost = self._session(client)
            if lost is None:
                break  # closed cleanly
            outage = f"lost: {lost}"
            log.warning(
                "camera %s: connection to MQTT broker %s lost (%s); reconnecting, "
                "messages wait in %s",
                self.camera,
                self.options.broker,
                lost,
                self.outbox.path,
            )
        self.first_attempt.set()

    def _session(self, client: mqtt.Client) -> str | None:
        """Send until the connection drops (returns why) or close() is done (None)."""
        in_flight: dict[int, int] = {}  # paho mid -> outbox row id
        acked: list[int] = []
        cursor = 0  # the newest row handed to paho in this session

        def on_publish(client, userdata, mid, reason, properties):
            row = in_flight.pop(mid, None)
            if row is not None:
                acked.append(row)

        client.on_publish = on_publish
        client.publish(self.status_topic, "online", qos=self.qos, retain=True)
        if self.sink.home_assistant is not None:
            for topic, payload in self.sink.home_assistant.announcements(self.camera):
                client.publish(topic, payload, qos=self.qos, retain=True)
        self.connected = True
        try:
            while True:
                self.beat()
                rc = client.loop(timeout=0.05)
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    return mqtt.error_string(rc)
                if acked:
                    self.outbox.ack(acked)
                    self.acked += len(acked)
                    acked.clear()
                free = WINDOW - len(in_flight)
                rows = self.outbox.peek(free, stream=self.camera, after_id=cursor) if free else []
                for row in rows:
                    info = client.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
                    if _send_failed(info):
                        # Lost while sending (the broker went between two loops): this
                        # row and the rest stay in the outbox for the next connection.
                        return mqtt.error_string(info.rc)
                    if info.is_published():  # QoS 0 written at once: on_publish came early
                        acked.append(row.id)
                    else:
                        in_flight[info.mid] = row.id
                    cursor = row.id
                    self.published += 1
                if self.stop_at is not None:
                    drained = not rows and not in_flight
                    if drained or time.monotonic() >= self.stop_at:
                        self._leave(client)
                        return None
        finally:
            self.connected = False
            self.outbox.ack(acked)  # acknowledged just before the end: not to be sent again
            self.acked += len(acked)

    def _leave(self, client: mqtt.Client) -> None:
        """A clean goodbye: ``offline`` retained, then DISCONNECT (so no will is sent)."""
        info = client.publish(self.status_topic, "offline", qos=self.qos, retain=True)
        if _send_failed(info):
            return  # the connection is gone already: the broker sends the will instead
        deadline = time.monotonic() + 1.0
        while not info.is_published() and time.monotonic() < deadline:
            if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                return
        client.disconnect()

    def close(self, deadline: float) -> None:
        self.stop_at = deadline
        self.wake.set()


def _send_failed(info: mqtt.MQTTMessageInfo) -> bool:
    """paho could not send the message (the connection went); its ``is_published()``
    would raise."""
    return info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN)


class MqttSink:
    """Detection messages to ``topic`` per camera: every Nth frame, and at once when the
    objects in view change. Lossless: the outbox, not the frame queue, applies the bound."""

    name = "mqtt"
    wants_annotated = False
    lossless = True

    def __init__(
        self, config: MqttOutputConfig, broker: MqttConfig, *, events: EventsConfig | None = None
    ) -> None:
        """``events``: the events config, whose zones and lines Home Assistant's entities
        follow."""
        self.config, self.broker, self.events = config, broker, events
        self.home_assistant: HomeAssistant | None = None
        if config.home_assistant and not (events and events.enabled):
            log.warning(
                "outputs.mqtt.home_assistant: Home Assistant's entities come from events; "
                "set events.enabled: true to get them"
            )
        self.outbox: DurableQueue | None = None
        self.links: dict[str, CameraLink] = {}
        self.policy = config.report_policy()
        self._closed = False

    def open(self, streams: Sequence[StreamInfo]) -> None:
        """Open the outbox and connect; a refused login or TLS setup stops the run here,
        a broker that is merely away is retried in the background."""
        self.outbox = DurableQueue(
            self.config.outbox_path,
            self.config.outbox_max_messages,
            what="MQTT outbox",
            setting="outputs.mqtt.outbox_path",
        )
        if self.config.home_assistant and self.events and self.events.enabled and streams:
            self.home_assistant = HomeAssistant(
                self.broker,
                self.events,
                [stream.camera for stream in streams],
                prefix=self.config.discovery_prefix,
                state_path=self.config.home_assistant_state,
            )
            for topic, payload in self.home_assistant.removals():
                self.publish(topic, payload, streams[0].camera, retain=True)
        backlog = self.outbox.depth()
        if backlog:
            log.info(
                "MQTT outbox %s holds %d messages from before; sending them first",
                self.outbox.path,
                backlog,
            )
        try:
            for stream in streams:
                self.links[stream.camera] = CameraLink(self, stream.camera)
        except MqttError:
            self.outbox.close()
            raise
        for link in self.links.values():
            link.start()
        for link in self.links.values():
            link.first_attempt.wait(CONNECT_TIMEOUT_S + 1)
            if link.first_error is not None:
                self.close(flush_s=0)
                raise link.first_error

    def write(self, frame: Frame, detections: Detections) -> None:
        if self._closed:
            return
        if not self.policy.due(frame.camera, detections):
            return
        payload = json.dumps(build_message(frame, detections), separators=(",", ":")).encode()
        self.publish(self.broker.detection_topic(frame.camera), payload, frame.camera)

    def publish(self, topic: str, payload: bytes, camera: str, *, retain: bool = False) -> None:
        """Queue one message on ``camera``'s connection: this output's QoS, its order per
        camera, its retries. The events output publishes through here too."""
        if self.outbox is None:
            raise RuntimeError("the MQTT output is not open")
        dropped = self.outbox.append(
            payload, stream=camera, topic=topic, qos=self.config.qos, retain=retain
        )
        if dropped:
            total = self.outbox.dropped
            if total == dropped or total % 1000 < dropped:  # the first, then every thousandth
                log.warning(
                    "MQTT outbox full (%d messages): dropped the oldest, %d so far",
                    self.config.outbox_max_messages,
                    total,
                )

    def announce(self, camera: str, label: str, zone: str | None = None) -> None:
        """A label seen at a camera (or in one of its zones): Home Assistant gets its
        entities the first time."""
        if self.home_assistant is not None:
            for topic, payload in self.home_assistant.saw(camera, label, zone):
                self.publish(topic, payload, camera, retain=True)

    def publish_system(self, sample: dict) -> None:
        """System statistics to ``system_topic``, through the same outbox (they ride on the
        first camera's connection: statistics have no will of their own)."""
        if self._closed or not self.links:
            return
        topic = self.broker.host_system_topic(socket.gethostname())
        payload = json.dumps(sample, separators=(",", ":")).encode()
        self.publish(topic, payload, next(iter(self.links)))

    def stats(self) -> dict:
        links = self.links.values()
        return {
            "published": sum(link.published for link in links),
            "acked": sum(link.acked for link in links),
            "dropped": self.outbox.dropped if self.outbox else 0,
            "queued": self.outbox.depth() if self.outbox else 0,
            "reconnects": sum(link.reconnects for link in links),
            "connected": bool(self.links) and all(link.connected for link in links),
        }

    def close(self, flush_s: float = CLOSE_FLUSH_S) -> None:
        """Send what can go within ``flush_s``, say ``offline``; the rest stays on disk."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + flush_s
        for link in self.links.values():
            link.close(deadline)
        for link in self.links.values():
            link.join(timeout=flush_s + CONNECT_TIMEOUT_S + 2)
        if self.outbox is not None:
            left = self.outbox.depth()
            if left:
                log.info("MQTT: %d messages wait in %s for the next start", left, self.outbox.path)
            self.outbox.close()
