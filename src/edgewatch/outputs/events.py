"""The events output: per-camera engines; each event to the store, MQTT and InfluxDB.

    sink = EventSink(config.events, mqtt=mqtt_sink,
                     influx_writer=SpooledInfluxWriter(config.influx, spool_path, ...))

A failing destination is logged and counted and never stops the others: the store is
the record on the box, MQTT and InfluxDB get what they can.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Sequence

from edgewatch.clients.influx.line_protocol import FieldValue, epoch_ns, line
from edgewatch.events.config import EventsConfig
from edgewatch.events.engine import Event, EventEngine
from edgewatch.events.snapshots import SnapshotKeeper, prune
from edgewatch.events.store import EventStore
from edgewatch.outputs.base import Publisher, StreamInfo
from edgewatch.types import Detections, Frame

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 600.0


def event_payload(event: Event) -> bytes:
    return json.dumps(event.to_dict(), separators=(",", ":")).encode()


def event_point(event: Event, measurement: str) -> str:
    """One point per event state, at the event's start: tags camera, kind, zone, label."""
    fields: dict[str, FieldValue] = {
        "id": event.id,
        "track_id": int(event.track_id),
        "confidence": float(event.best_confidence),
        "start": float(event.start),
    }
    if event.end is not None:
        fields["end"] = float(event.end)
        fields["duration_s"] = float(event.end - event.start)
    if event.direction:
        fields["direction"] = event.direction
    if event.snapshot:
        fields["snapshot"] = event.snapshot
    tags = {
        "camera": event.camera,
        "kind": event.kind,
        "zone": event.zone or "",
        "label": event.label,
    }
    return line(measurement, tags, fields, epoch_ns(event.start))


class EventSink:
    name = "events"
    wants_annotated = False
    lossless = True  # events are few and must not be lost; the engine is cheap

    def __init__(
        self,
        config: EventsConfig,
        *,
        mqtt: Publisher | None = None,
        influx_writer=None,
        store: EventStore | None = None,
    ) -> None:
        """``mqtt``: the MQTT output, whose outbox, QoS and per-camera order events share.
        ``influx_writer``: anything with ``write(lines)`` and ``close()`` (the pipeline
        gives a `SpooledInfluxWriter`; a started `InfluxWriter` works too); this sink's
        close closes it."""
        self.config = config
        self.mqtt = mqtt
        self.influx = influx_writer
        self.store = store
        self.snapshots = SnapshotKeeper(config.snapshots) if config.snapshots.enabled else None
        self.engines: dict[str, EventEngine] = {}
        self.counts: Counter[str] = Counter()  # events, and errors per destination
        self._pruned_at = 0.0

    def open(self, streams: Sequence[StreamInfo]) -> None:
        """Zones and lines checked against each frame size; a point outside is a
        `ConfigError` here, before the first frame."""
        for stream in streams:
            self.config.check_inside(stream.camera, stream.width, stream.height)
        if self.store is None:
            self.store = EventStore(self.config.store_path)
        for stream in streams:
            self.engines[stream.camera] = self._engine(stream.camera)
        self._prune()

    def _engine(self, camera: str) -> EventEngine:
        return EventEngine(camera, self.config, snapshots=self.snapshots)

    def write(self, frame: Frame, detections: Detections) -> None:
        engine = self.engines.get(frame.camera)
        if engine is None:
            engine = self.engines[frame.camera] = self._engine(frame.camera)
        self.deliver(engine.update(frame, detections))
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
            self._prune()

    def deliver(self, events: list[Event]) -> None:
        for event in events:
            self.counts[f"events.{event.kind}"] += 1
            self._try("store", self.store.upsert, event)
            if self.mqtt is not None:
                topic = self.config.mqtt_topic.replace("{camera}", event.camera)
                self._try("mqtt", self.mqtt.publish, topic, event_payload(event), event.camera)
            if self.influx is not None:
                point = event_point(event, self.config.influx_measurement)
                self._try("influx", self.influx.write, [point])

    def _try(self, where: str, call, *args) -> None:
        try:
            call(*args)
        except Exception:
            self.counts[f"errors.{where}"] += 1
            if self.counts[f"errors.{where}"] == 1:
                log.exception("events: sending to %s failed; counting further failures", where)

    def _prune(self) -> None:
        self._pruned_at = time.monotonic()
        if self.snapshots is None:
            return
        config = self.config.snapshots
        try:
            deleted = prune(
                config.dir,
                max_age_s=config.max_age_days * 86400,
                max_total_bytes=int(config.max_total_mb * 1e6),
            )
        except OSError as error:
            log.warning("events: cannot prune snapshots in %s (%s)", config.dir, error)
            return
        if deleted:
            log.info("events: deleted %d old snapshots from %s", deleted, config.dir)

    def stats(self) -> dict:
        return dict(self.counts)

    def relays_through(self) -> Sequence[object]:
        return [self.mqtt] if self.mqtt is not None else []

    def close(self) -> None:
        """Objects still in view end with the stream: their events close, snapshots written."""
        for engine in self.engines.values():
            self.deliver(engine.finish())
        if self.influx is not None:
            self.influx.close()
        if self.store is not None:
            self.store.close()
