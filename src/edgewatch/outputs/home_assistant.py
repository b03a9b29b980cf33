"""Home Assistant MQTT discovery: each camera's object counts as sensors, no YAML needed.

Home Assistant reads retained configs under ``<prefix>/sensor/<object id>/config``; each
sensor here counts, in every detection message of its camera, the objects of one label.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from edgewatch.clients.mqtt.config import MqttConfig


def _slug(text: str) -> str:
    # Discovery object ids and unique ids allow [a-zA-Z0-9_-] only.
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "_"


def discovery_messages(
    mqtt: MqttConfig, camera: str, labels: Sequence[str], *, prefix: str
) -> list[tuple[str, bytes]]:
    """``(topic, payload)`` of each sensor's discovery config, to publish retained."""
    device = {
        "identifiers": [f"edgewatch_{_slug(camera)}"],
        "name": f"edgewatch {camera}",
        "manufacturer": "edgewatch",
        "model": "camera",
    }
    messages = []
    for label in labels:
        object_id = f"edgewatch_{_slug(camera)}_{_slug(label)}"
        config_payload = {
            "name": f"{label} count",
            "unique_id": object_id,
            "object_id": object_id,
            "state_topic": mqtt.detection_topic(camera),
            "value_template": (
                "{{ value_json.inference_results | selectattr('label', 'equalto', "
                f"{json.dumps(label)}) | list | length }}}}"
            ),
            "state_class": "measurement",
            "unit_of_measurement": "objects",
            "icon": "mdi:cctv",
            "availability_topic": mqtt.camera_status_topic(camera),
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
        }
        topic = f"{prefix}/sensor/{object_id}/config"
        messages.append((topic, json.dumps(config_payload).encode()))
    return messages
