"""`edgewatch ingest`: detection messages from MQTT into InfluxDB, as Telegraf would.

Nothing is lost to an InfluxDB outage or an ingest crash: the subscription is a persistent
session (clean_session=False, a fixed client id) and each message is acknowledged only once
its points are written (paho ``manual_ack``). Until then the broker keeps it and sends it
again after a reconnect; a message written twice rewrites the same points, since a point
is identified by its series and time. The broker also sends only a window of
unacknowledged messages (mosquitto: 20 per client), so while InfluxDB is down ingest holds
just that window and the broker queues the rest (mosquitto: ``max_queued_messages``, 1000
by default; raise it for long outages).

Malformed messages (not JSON, wrong shape) are logged, counted, acknowledged and skipped.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import paho.mqtt.client as mqtt

from edgewatch.clients.influx.line_protocol import (
    MalformedMessage,
    decode_message,
    detection_points,
    system_point,
)
from edgewatch.clients.influx.writer import InfluxError, InfluxWriter, WriteResult
from edgewatch.clients.mqtt.client import MqttError, connect, connect_options, create_client
from edgewatch.config import Config
from edgewatch.errors import WorkerCrashed
from edgewatch.services.deadletters import DeadLetters
from edgewatch.stats import PipelineStats
from edgewatch.supervise import SupervisedThread, crashed

log = logging.getLogger(__name__)

# Send a batch once no message came for this long: with a window of 20 unacknowledged
# messages, waiting for a full batch or flush_interval_s would stall the broker.
LINGER_S = 0.01
MALFORMED_LOG_EVERY_S = 10.0
RECONNECT_MAX_S = 30


class Ingest:
    """One subscription, one writer. `run()` blocks until ``stop`` is set."""

    def __init__(self, config: Config, *, stats: PipelineStats | None = None) -> None:
        self.config = config
        self.stats = stats if stats is not None else PipelineStats()
        mqtt_config = config.mqtt
        self.host = config.ingest.host_tag or socket.gethostname()
        self.detection_filter = mqtt_config.topic.replace("{camera}", "+")
        self.system_filter = mqtt_config.system_topic.replace("{host}", "+")
        self.topics = config.ingest.topics or [self.detection_filter, self.system_filter]
        self.qos = config.ingest.qos
        # Never mqtt.client_id: that is the pipeline's, and a broker drops one of
        # two clients sharing an id. A fixed id is what makes the session persistent.
        client_id = config.ingest.client_id or f"edgewatch-ingest-{socket.gethostname()}"
        self.options = connect_options(mqtt_config, role="ingest", client_id=client_id)
        self.writer = InfluxWriter(config.influx, stats=self.stats, linger_s=LINGER_S)
        self.subscribed = threading.Event()
        self._stop = threading.Event()
        self._generation = 0  # of the connection; an ack belongs to the one it came on
        self._client: mqtt.Client | None = None
        self.dead_letters: DeadLetters | None = None
        self._malformed_logged_at = float("-inf")
        self._malformed_unlogged = 0

    def run(self, stop: threading.Event) -> PipelineStats:
        self._stop = stop
        outputs = self.config.outputs
        if outputs.influx.enabled and outputs.mqtt.enabled:
            log.warning(
                "this config turns on both outputs.influx and outputs.mqtt: the pipeline "
                "writes its points to InfluxDB itself, and ingest writes the same points "
                "again from MQTT (twice the load for the same data); turn one path off"
            )
        self.writer.check()  # a missing database or bad login fails here, before any message
        ingest = self.config.ingest
        self.dead_letters = DeadLetters(ingest.deadletter_path, ingest.deadletter_max_messages)
        client = self._client = create_client(self.options, clean_session=False)
        self.writer.start()
        client.manual_ack_set(True)
        client.reconnect_delay_set(1, RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        try:
            if not self._connect(client):
                return self.stats
            # paho's network loop, reconnecting by itself; supervised, as every worker is.
            network = SupervisedThread(client.loop_forever, name="mqtt-ingest", beats=False)
            network.start()
            interval = self.config.pipeline.stats_interval_s
            next_log = time.monotonic() + interval
            while not stop.wait(0.2):
                if self.writer.error is not None:
                    raise self.writer.error
                if crashed() or not network.is_alive():
                    raise WorkerCrashed(crashed() or "the MQTT network loop ended")
                if interval and time.monotonic() >= next_log:
                    next_log += interval
                    log.info("ingest: %s", self.summary())
        finally:
            # Write (and so acknowledge) what we hold; anything left stays on the broker.
            self.writer.close()
            client.disconnect()
            self.dead_letters.close()
            log.info("ingest stopped: %s", self.summary())
        return self.stats

    def summary(self) -> str:
        counters = self.stats.snapshot()["counters"]
        names = ("received", "points_written", "malformed", "dead_letters", "write_errors",
                 "retries")  # fmt: skip
        parts = [f"{name} {counters.get(name, 0)}" for name in names]
        return ", ".join(parts) + f", pending points {self.writer.pending_points}"

    def _connect(self, client: mqtt.Client) -> bool:
        """The first connection, retried while the broker is unreachable; paho's loop
        reconnects after that. False when stopped first."""
        delay = 1.0
        while not self._stop.is_set():
            try:
                connect(client, self.options)
                return True
            except MqttError as error:
                if error.permanent:
                    raise
                log.warning("%s; retrying in %.0f s", error, delay)
            self._stop.wait(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)
        return False

    # -- paho callbacks (its network thread) ------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s refused ingest: %s", self.options.broker, reason)
            return
        self._generation += 1
        client.subscribe([(topic, self.qos) for topic in self.topics])
        log.info("ingest connected to %s as %s (session %s), subscribing to %s",
                 self.options.broker, self.options.client_id,
                 "resumed" if flags.session_present else "new", ", ".join(self.topics))  # fmt: skip

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            log.error("MQTT broker refused the subscription: %s", ", ".join(refused))
        else:
            self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        if not self._stop.is_set():
            log.warning("MQTT connection to %s lost (%s); reconnecting, unacknowledged "
                        "messages will come again", self.options.broker, reason)  # fmt: skip

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        """Every message ends acknowledged: written, or kept as a dead letter. Nothing a
        message holds may stop this thread (it would stop ingest for good)."""
        self.stats.count("received")
        generation = self._generation

        def ack() -> None:
            # On a newer connection the broker has already sent the message again.
            if generation == self._generation:
                client.ack(message.mid, message.qos)

        def on_done(result: WriteResult) -> None:
            if result.rejected:  # refused as bad data: it would be refused again
                reason = f"InfluxDB refused {result.rejected} of its points: {result.reason}"
                self._dead_letter(message, reason)
            ack()

        try:
            lines = self._points(message)
            if not lines:  # a frame without objects: nothing to write, as with Telegraf
                ack()
                return
            # Full (InfluxDB down for long): wait here. The broker's window is then full and
            # it keeps the rest; if this outlasts the keepalive, the session survives.
            while not self.writer.write(lines, on_done, wait_s=1.0):
                if self._stop.is_set():
                    return
        except MalformedMessage as error:
            self.stats.count("malformed")
            self._log_malformed(message.topic, error)
            self._dead_letter(message, str(error))
            ack()
        except InfluxError:
            return  # the writer stopped on it; run() raises it
        except Exception as error:  # a bug of ours: costs this message, not the thread
            self.stats.count("errors.internal")
            if self.stats.counters["errors.internal"] == 1:
                log.exception("ingest failed on a message on %s; it goes to the dead letters",
                              message.topic)  # fmt: skip
            self._dead_letter(message, f"internal error: {type(error).__name__}: {error}")
            ack()

    def _dead_letter(self, message: mqtt.MQTTMessage, reason: str) -> None:
        self.stats.count("dead_letters")
        try:
            self.dead_letters.add(message.topic, bytes(message.payload), reason)
        except Exception:  # a full disk must not stop ingest either
            self.stats.count("errors.dead_letters")
            log.exception("cannot keep a dead letter in %s", self.config.ingest.deadletter_path)

    def _points(self, message: mqtt.MQTTMessage) -> list[str]:
        payload = decode_message(message.payload, max_bytes=self.config.ingest.max_message_bytes)
        received_ns = time.time_ns()
        measurement = self.config.influx.measurement
        if isinstance(payload, dict) and "inference_results" in payload:
            return detection_points(payload, topic=message.topic, host=self.host,
                                    measurement=measurement, received_ns=received_ns)  # fmt: skip
        if mqtt.topic_matches_sub(self.system_filter, message.topic):
            measurement = self.config.influx.system_measurement
            return [system_point(payload, topic=message.topic, host=self.host,
                                 measurement=measurement, received_ns=received_ns)]  # fmt: skip
        raise MalformedMessage("no 'inference_results', and not a system statistics topic")

    def _log_malformed(self, topic: str, error: MalformedMessage) -> None:
        now = time.monotonic()
        if now - self._malformed_logged_at < MALFORMED_LOG_EVERY_S:
            self._malformed_unlogged += 1
            return
        more = f" ({self._malformed_unlogged} more not logged)" if self._malformed_unlogged else ""
        log.warning("malformed message on %s, kept as a dead letter: %.300s%s", topic, error, more)
        self._malformed_logged_at, self._malformed_unlogged = now, 0


def run_ingest(
    config: Config, stop: threading.Event, *, stats: PipelineStats | None = None
) -> PipelineStats:
    """`edgewatch ingest` until ``stop`` is set; returns its counters.

    Raises `InfluxError` (no such database, bad login), `MqttError` (bad login or TLS) or
    `ConfigError`: all `EdgewatchError`, for the CLI to print as one line.
    """
    return Ingest(config, stats=stats).run(stop)
