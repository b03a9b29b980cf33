"""Home Assistant MQTT discovery: entities that appear by themselves, and go when the
config drops them.

Per camera: an ``event`` entity (every happening: entered, zone_entered, line_crossed ...).
Per camera and label, and per zone and label: an occupancy ``binary_sensor`` and a count
``sensor``, both reading the retained count the events output publishes
(``edgewatch/<camera>/<label>``, ``edgewatch/<camera>/zones/<zone>/<label>``); per camera
and label an ``image`` entity with the latest snapshot. Labels are those named in the
camera's zones and lines, plus those actually seen there (remembered across restarts),
not every class the detector knows.

What was announced is remembered in a small state file; announcements the current config
no longer makes (a camera, zone or label gone) are removed with an empty retained config,
as Home Assistant expects.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path

from edgewatch.clients.mqtt.config import MqttConfig
from edgewatch.events.config import EventsConfig
from edgewatch.events.model import KINDS
from edgewatch.paths import write_private

log = logging.getLogger(__name__)

Message = tuple[str, bytes]


def _slug(text: str) -> str:
    # Discovery object ids and unique ids allow [a-zA-Z0-9_-] only.
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "_"


def count_topic(camera: str, label: str, zone: str | None = None) -> str:
    if zone is None:
        return f"edgewatch/{camera}/{label}"
    return f"edgewatch/{camera}/zones/{zone}/{label}"


class HomeAssistant:
    """The discovery messages of one edgewatch instance. Thread-safe: the events output
    reports what it sees, each camera's MQTT connection announces on connect."""

    def __init__(
        self,
        broker: MqttConfig,
        events: EventsConfig,
        cameras: Sequence[str],
        *,
        prefix: str,
        state_path: Path,
    ) -> None:
        self.broker, self.events, self.prefix = broker, events, prefix
        self.cameras = list(cameras)
        self.state_path = Path(state_path)
        self._lock = threading.Lock()
        stored = self._load()
        # (camera, zone or "") -> labels; seen before, for cameras and zones still there
        self.labels: dict[tuple[str, str], set[str]] = {}
        for camera in self.cameras:
            places = ["", *(z.name for z in events.zones_of(camera))]
            for place in places:
                named = self._named(camera, place)
                seen = set(stored.get("seen", {}).get(camera, {}).get(place, []))
                self.labels[(camera, place)] = named | seen
        self._announced: set[str] = set(stored.get("topics", []))

    def _named(self, camera: str, place: str) -> set[str]:
        """Labels the config names for a camera ("" : its zones' and lines' labels) or a zone."""
        if place:
            zone = next(z for z in self.events.zones_of(camera) if z.name == place)
            return set(zone.labels or ())
        items = [*self.events.zones_of(camera), *self.events.lines_of(camera)]
        return {label for item in items for label in (item.labels or ())}

    # -- what to publish ---------------------------------------------------------------

    def removals(self) -> list[Message]:
        """Empty retained configs for what was announced before and is not wanted now."""
        with self._lock:
            wanted = {topic for camera in self.cameras for topic, _ in self._configs(camera)}
            stale = sorted(self._announced - wanted)
            self._announced = wanted
            self._save()
        if stale:
            log.info("Home Assistant: removing %d entities the config no longer has", len(stale))
        return [(topic, b"") for topic in stale]

    def announcements(self, camera: str) -> list[Message]:
        """Every discovery config of ``camera`` (sent on each connect, retained)."""
        with self._lock:
            return self._configs(camera)

    def saw(self, camera: str, label: str, zone: str | None = None) -> list[Message]:
        """Discovery configs for a label newly seen at a camera or zone (else nothing)."""
        key = (camera, zone or "")
        with self._lock:
            labels = self.labels.get(key)
            if labels is None or label in labels:
                return []
            labels.add(label)
            messages = self._label_configs(camera, label, zone)
            self._announced.update(topic for topic, _ in messages)
            self._save()
            return messages

    # -- the entities ------------------------------------------------------------------

    def _configs(self, camera: str) -> list[Message]:
        messages = [self._event_entity(camera)]
        for (cam, place), labels in self.labels.items():
            if cam == camera:
                for label in sorted(labels):
                    messages += self._label_configs(camera, label, place or None)
        return messages

    def _device(self, camera: str) -> dict:
        return {
            "identifiers": [f"edgewatch_{_slug(camera)}"],
            "name": f"edgewatch {camera}",
            "manufacturer": "edgewatch",
            "model": "camera",
        }

    def _common(self, camera: str, object_id: str, name: str) -> dict:
        return {
            "name": name,
            "unique_id": object_id,
            "object_id": object_id,
            "availability_topic": self.broker.camera_status_topic(camera),
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": self._device(camera),
        }

    def _message(self, component: str, object_id: str, payload: dict) -> Message:
        return f"{self.prefix}/{component}/{object_id}/config", json.dumps(payload).encode()

    def _event_entity(self, camera: str) -> Message:
        object_id = f"edgewatch_{_slug(camera)}_events"
        payload = self._common(camera, object_id, "events")
        payload.update({
            "state_topic": self.events.happenings_topic.replace("{camera}", camera),
            "event_types": list(KINDS),
            "icon": "mdi:cctv",
        })  # fmt: skip
        return self._message("event", object_id, payload)

    def _label_configs(self, camera: str, label: str, zone: str | None) -> list[Message]:
        where = f"{camera} {zone}" if zone else camera
        object_id = f"edgewatch_{_slug(where)}_{_slug(label)}"
        state = count_topic(camera, label, zone)
        title = f"{zone} {label}" if zone else label
        occupancy = self._common(camera, f"{object_id}_occupancy", f"{title} occupancy")
        occupancy.update({
            "state_topic": state,
            "value_template": "{{ 'ON' if value | int(0) > 0 else 'OFF' }}",
            "device_class": "occupancy",
        })  # fmt: skip
        count = self._common(camera, f"{object_id}_count", f"{title} count")
        count.update({
            "state_topic": state,
            "state_class": "measurement",
            "unit_of_measurement": "objects",
            "icon": "mdi:counter",
        })  # fmt: skip
        messages = [
            self._message("binary_sensor", f"{object_id}_occupancy", occupancy),
            self._message("sensor", f"{object_id}_count", count),
        ]
        if zone is None:
            image = self._common(camera, f"{object_id}_snapshot", f"{label} snapshot")
            image.update({
                "image_topic": self.events.snapshot_topic.replace("{camera}", camera)
                .replace("{label}", label),
                "content_type": "image/jpeg",
            })  # fmt: skip
            messages.append(self._message("image", f"{object_id}_snapshot", image))
        return messages

    # -- memory ------------------------------------------------------------------------

    def _load(self) -> dict:
        try:
            return json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.warning(
                "Home Assistant: cannot read %s (%s); starting afresh", self.state_path, error
            )
            return {}

    def _save(self) -> None:
        seen: dict[str, dict[str, list[str]]] = {}
        for (camera, place), labels in self.labels.items():
            seen.setdefault(camera, {})[place] = sorted(labels)
        data = {"topics": sorted(self._announced), "seen": seen}
        try:
            write_private(self.state_path, json.dumps(data, indent=1).encode())
        except OSError as error:
            log.warning("Home Assistant: cannot write %s (%s)", self.state_path, error)
