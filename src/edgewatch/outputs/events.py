"""The events output: per-camera engines; each change to the store, MQTT and InfluxDB.

    sink = EventSink(config.events, mqtt=mqtt_sink,
                     influx_writer=SpooledInfluxWriter(config.influx, spool_path, ...))

On MQTT, through the MQTT output's outbox (its QoS, its retries, each camera's order):

    events.topic              {type: new|update|end, before, after} per episode change
    events.happenings_topic   each happening once (entered, zone_entered, line_crossed ...)
    events.snapshot_topic     the latest snapshot JPEG per camera and label, retained
    edgewatch/<camera>/<label>, edgewatch/<camera>/zones/<zone>/<label>
                              how many confirmed objects are there now, retained (Home
                              Assistant's occupancy and count entities read these)

The snapshot files are written (by the engine) before the message naming them is queued.
A failing destination is logged and counted and never stops the others: the store is the
record on the box, MQTT and InfluxDB get what they can.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Sequence

from edgewatch.clients.influx.line_protocol import FieldValue, epoch_ns, line
from edgewatch.events.config import EventsConfig
from edgewatch.events.engine import EventEngine
from edgewatch.events.model import Change, Happening
from edgewatch.events.snapshots import SnapshotWriter, prune
from edgewatch.events.store import EventStore
from edgewatch.outputs.base import Publisher, StreamInfo
from edgewatch.outputs.home_assistant import count_topic
from edgewatch.types import Detections, Frame

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 600.0


def happening_point(happening: Happening, measurement: str) -> str:
    """One point per happening, at its time: tags camera, kind, zone, label."""
    fields: dict[str, FieldValue] = {
        "episode": happening.episode,
        "track_id": int(happening.track_id),
        "confidence": round(float(happening.confidence), 3),
    }
    if happening.direction:
        fields["direction"] = happening.direction
    if happening.snapshot:
        fields["snapshot"] = happening.snapshot
    tags = {
        "camera": happening.camera,
        "kind": happening.kind,
        "zone": happening.zone or "",
        "label": happening.label,
    }
    return line(measurement, tags, fields, epoch_ns(happening.time))


def _json(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


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
        self.snapshots = SnapshotWriter(config.snapshots) if config.snapshots.enabled else None
        self.engines: dict[str, EventEngine] = {}
        self.counts: Counter[str] = Counter()  # changes, happenings, errors per destination
        self._occupancy: dict[str, dict] = {}  # camera -> (zone, label) -> count published
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
        self._publish_occupancy(frame.camera, engine)
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
            self._prune()

    def deliver(self, changes: list[Change]) -> None:
        for change in changes:
            self.counts[f"episodes.{change.type}"] += 1
            for happening in change.happenings:
                self.counts[f"events.{happening.kind}"] += 1
            self._try("store", self.store.save, change.after, change.happenings)
            if self.mqtt is not None:
                self._publish(change)
            if self.influx is not None and change.happenings:
                points = [
                    happening_point(h, self.config.influx_measurement) for h in change.happenings
                ]
                self._try("influx", self.influx.write, points)

    def _publish(self, change: Change) -> None:
        episode = change.after
        camera = episode.camera
        self._try("mqtt", self.mqtt.publish, self.config.topic, _json(change.to_dict()), camera)
        topic = self.config.happenings_topic.replace("{camera}", camera)
        for happening in change.happenings:
            self._try("mqtt", self.mqtt.publish, topic, _json(happening.to_dict()), camera)
        rewritten = change.before is None or change.before.snapshot_time != episode.snapshot_time
        jpeg = self.snapshots.jpeg.get(episode.id) if self.snapshots is not None else None
        if rewritten and jpeg is not None:
            snapshot_topic = (
                self.config.snapshot_topic.replace("{camera}", camera)
                .replace("{label}", episode.label)
            )  # fmt: skip
            self._try("mqtt", self.mqtt.publish, snapshot_topic, jpeg, camera, retain=True)

    def _publish_occupancy(self, camera: str, engine: EventEngine) -> None:
        """Counts that changed since the last frame, retained; a place emptied goes to 0."""
        if self.mqtt is None:
            return
        now = engine.occupancy()
        before = self._occupancy.get(camera, {})
        if now == before:
            return
        for key in set(now) | set(before):
            count = now.get(key, 0)
            if before.get(key, 0) == count:
                continue
            zone, label = key
            if count and key not in before:
                self._try("mqtt", self.mqtt.announce, camera, label, zone)
            topic = count_topic(camera, label, zone)
            self._try("mqtt", self.mqtt.publish, topic, str(count).encode(), camera, retain=True)
        self._occupancy[camera] = now

    def _try(self, where: str, call, *args, **kwargs) -> None:
        try:
            call(*args, **kwargs)
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
        """Objects still in view end with the stream: their episodes close."""
        for camera, engine in self.engines.items():
            self.deliver(engine.finish())
            self._publish_occupancy(camera, engine)
        if self.influx is not None:
            self.influx.close()
        if self.store is not None:
            self.store.close()
