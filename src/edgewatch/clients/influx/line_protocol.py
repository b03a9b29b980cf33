"""InfluxDB line protocol, and the detection message turned into points as Telegraf does it.

The reference design's Telegraf (mqtt_consumer + json_v2) writes one point per object of
``inference_results``: measurement ``BW_Inference_results``, tags ``host``, ``topic`` and
``obj`` (the object's ``unique_com_id``), every other key a field. json_v2 makes every JSON
number a float and every string a string field, so we do too: a point written by Telegraf
and one written by `edgewatch ingest` never conflict in field type (and ``objectID``
2**64 - 1, "untracked", fits no int64 anyway). We add the ``camera`` tag.

A frame with no objects gives no point, as Telegraf gives none for an empty array: a
frame-level point would be a series Telegraf never writes, and queries counting points
per object would count it too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

FieldValue = float | int | bool | str

# The object keys that become fields, with the JSON types each may have.
_NUMBER = (int, float)
OBJECT_FIELDS: dict[str, tuple[type, ...]] = {
    "classID": _NUMBER,
    "label": (str,),
    "confidence": _NUMBER,
    "coor_left": _NUMBER,
    "coor_top": _NUMBER,
    "box_width": _NUMBER,
    "box_height": _NUMBER,
    "objectID": _NUMBER,
}
FRAME_FIELDS = ("detection_frame_number", "total_num_obj")


class MalformedMessage(ValueError):
    """A message that cannot become points; the text says exactly what is wrong."""


# InfluxDB 1.x reads a backslash as an escape only before a comma, equals sign or space;
# elsewhere it is a literal character, so backslashes are not doubled. One at the very end
# would escape the separator after it, so those are dropped. A raw newline would end the line.
def _escape(text: str, specials: str) -> str:
    text = text.rstrip("\\").replace("\n", "\\n")
    for char in specials:
        text = text.replace(char, "\\" + char)
    return text


def escape_measurement(name: str) -> str:
    return _escape(name, ", ")


def escape_key(key: str) -> str:
    """Tag keys, tag values and field keys: commas, equals signs and spaces are escaped."""
    return _escape(key, ",= ")


def format_field(value: FieldValue) -> str:
    # bool before int: True is an int in Python, but a boolean in line protocol.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MalformedMessage(f"field value {value} is not finite (InfluxDB rejects it)")
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"a field is float, int, bool or str, not {type(value).__name__}")


def line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue],
    timestamp_ns: int | None = None,
) -> str:
    """One point. Tags are sorted (InfluxDB's recommendation); empty tag values are left
    out, since line protocol cannot carry them."""
    if not fields:
        raise ValueError("a point needs at least one field")
    head = escape_measurement(measurement)
    for key in sorted(tags):
        value = escape_key(tags[key])
        if value:
            head += f",{escape_key(key)}={value}"
    body = ",".join(f"{escape_key(k)}={format_field(v)}" for k, v in fields.items())
    return f"{head} {body}" if timestamp_ns is None else f"{head} {body} {timestamp_ns}"


def epoch_ns(seconds: float) -> int:
    """Epoch seconds -> ns, exact to the microsecond: ``seconds * 1e9`` in floats is off by
    up to ~200 ns today, and a point's time is part of its identity in InfluxDB."""
    whole = math.floor(seconds)
    return whole * 1_000_000_000 + round((seconds - whole) * 1e6) * 1000


def _is_number(value: object) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool)


def _timestamp_ns(message: Mapping, received_ns: int | None) -> int:
    ts = message.get("timestamp")
    if ts is None:
        return received_ns if received_ns is not None else time.time_ns()
    if not _is_number(ts) or not math.isfinite(ts) or ts <= 0:
        raise MalformedMessage(f"'timestamp' must be epoch seconds, got {ts!r}")
    return epoch_ns(ts)


def _check(value: object, types: tuple[type, ...], where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, types):
        expected = "a number" if types is _NUMBER else "a string"
        raise MalformedMessage(f"{where} must be {expected}, got {type(value).__name__}")


def _as_field(value: object) -> FieldValue:
    return value if isinstance(value, str) else float(value)


def detection_points(
    message: object,
    *,
    topic: str,
    host: str,
    measurement: str,
    received_ns: int | None = None,
) -> list[str]:
    """One line per object of a detection message; raises `MalformedMessage`.

    The timestamp is the frame's capture time (``timestamp``), else ``received_ns``.
    """
    if not isinstance(message, Mapping):
        raise MalformedMessage(f"a message is a JSON object, got {type(message).__name__}")
    results = message.get("inference_results")
    if not isinstance(results, list):
        raise MalformedMessage("'inference_results' is missing or not a list")
    frame_fields: dict[str, FieldValue] = {}
    for key in FRAME_FIELDS:
        if key not in message:
            raise MalformedMessage(f"'{key}' is missing")
        _check(message[key], _NUMBER, f"'{key}'")
        frame_fields[key] = float(message[key])
    camera = message.get("camera", "")
    if not isinstance(camera, str):
        raise MalformedMessage(f"'camera' must be a string, got {type(camera).__name__}")
    timestamp = _timestamp_ns(message, received_ns)

    lines = []
    seen: set[str] = set()
    for i, obj in enumerate(results):
        where = f"inference_results[{i}]"
        if not isinstance(obj, Mapping):
            raise MalformedMessage(f"{where} must be an object, got {type(obj).__name__}")
        obj_id = obj.get("unique_com_id")
        if not isinstance(obj_id, str) or not obj_id:
            raise MalformedMessage(f"{where}.unique_com_id is missing or not a string")
        if obj_id in seen:
            # Same tags and time: InfluxDB would keep only the last of them.
            raise MalformedMessage(f"{where}.unique_com_id {obj_id!r} repeats in the frame")
        seen.add(obj_id)
        fields: dict[str, FieldValue] = {}
        for key, types in OBJECT_FIELDS.items():
            if key not in obj:
                raise MalformedMessage(f"{where}.{key} is missing")
            _check(obj[key], types, f"{where}.{key}")
            fields[key] = _as_field(obj[key])
        fields.update(frame_fields)
        tags = {"host": host, "topic": topic, "obj": obj_id, "camera": camera}
        lines.append(line(measurement, tags, fields, timestamp))
    return lines


def system_point(
    message: object, *, topic: str, host: str, measurement: str, received_ns: int | None = None
) -> str:
    """One point of the edge box's system statistics (a flat object of numbers).

    Numbers become float fields, as json_v2 would; ``timestamp`` is the point's time;
    other values (strings, nested objects) are left out rather than failing the message.
    """
    if not isinstance(message, Mapping):
        raise MalformedMessage(f"a message is a JSON object, got {type(message).__name__}")
    timestamp = _timestamp_ns(message, received_ns)
    fields: dict[str, FieldValue] = {
        str(k): float(v)
        for k, v in message.items()
        if k != "timestamp" and _is_number(v) and math.isfinite(v)
    }
    if not fields:
        raise MalformedMessage("a system statistics message has no numeric value")
    return line(measurement, {"host": host, "topic": topic}, fields, timestamp)
