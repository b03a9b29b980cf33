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

import json
import math
import re
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
MAX_KEY_CHARS = 200  # a system statistics key longer than this is no statistic
MAX_STRING_FIELD = 16_384  # characters; InfluxDB refuses string fields over 64 KiB of UTF-8


class MalformedMessage(ValueError):
    """A message that cannot become points; the text says exactly what is wrong."""


#: Points InfluxDB can store: 2000-01-01 .. now + `MAX_FUTURE_S` (a camera clock a day
#: ahead is a wrong clock; 1e12 s, year 33658, is InfluxDB's refusal waiting to happen).
EARLIEST_S = 946_684_800.0
MAX_FUTURE_S = 86_400.0
#: Characters line protocol cannot carry in a key or value: control characters (a
#: newline ends the point) and lone UTF-16 surrogates (not encodable as UTF-8).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def decode_message(payload: bytes, *, max_bytes: int) -> object:
    """The JSON of an MQTT message, or `MalformedMessage`: too large, not UTF-8, not
    JSON, or nested too deeply for the parser (a few thousand levels)."""
    if len(payload) > max_bytes:
        raise MalformedMessage(f"{len(payload):,} bytes, more than the {max_bytes:,} allowed")
    try:
        return json.loads(payload)
    except RecursionError:
        raise MalformedMessage("JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedMessage(f"not JSON ({error})") from None


def check_text(text: str, where: str) -> str:
    """``text``, if line protocol can carry it; else `MalformedMessage`."""
    bad = _UNSAFE.search(text)
    if bad:
        raise MalformedMessage(f"{where} holds the character {bad.group()!r}, not allowed")
    return text


def finite_float(value: object, where: str) -> float:
    """A JSON number as the float field InfluxDB stores; `MalformedMessage` for anything
    else, and for numbers beyond float range (1e999 parses as inf, 10**400 as an int
    that no float holds)."""
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        raise MalformedMessage(f"{where} must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise MalformedMessage(f"{where} is {value!r:.40}, beyond what a float field holds")
    return number


# InfluxDB 1.x reads a backslash as an escape only before a comma, equals sign or space;
# elsewhere it is a literal character, so backslashes are not doubled. One at the very end
# would escape the separator after it, so those are dropped. A raw newline would end the line.
def _escape(text: str, specials: str) -> str:
    text = check_text(text.rstrip("\\").replace("\n", "\\n"), f"{text[:40]!r}")
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
        if not -(2**63) <= value < 2**63:
            raise MalformedMessage(f"integer field {value:.40} does not fit InfluxDB's 64 bits")
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MalformedMessage(f"field value {value} is not finite (InfluxDB rejects it)")
        return repr(value)
    if isinstance(value, str):
        check_text(value, "a string field")
        if len(value) > MAX_STRING_FIELD:
            raise MalformedMessage(f"a string field of {len(value):,} characters (64 KiB at most)")
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
    head = _name(escape_measurement(measurement), "the measurement")
    for key in sorted(tags):
        value = escape_key(tags[key])
        if value:
            head += f",{_name(escape_key(key), 'a tag key')}={value}"
    body = ",".join(f"{_name(escape_key(k), 'a field key')}={format_field(v)}"
                    for k, v in fields.items())  # fmt: skip
    return f"{head} {body}" if timestamp_ns is None else f"{head} {body} {timestamp_ns}"


def _name(escaped: str, what: str) -> str:
    """InfluxDB refuses empty names, and "time" as a tag or field key."""
    if not escaped or (escaped == "time" and what != "the measurement"):
        raise MalformedMessage(f"{what} {escaped!r} is not a name InfluxDB takes")
    return escaped


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
    if not _is_number(ts):
        raise MalformedMessage(f"'timestamp' must be epoch seconds, got {ts!r:.40}")
    seconds = finite_float(ts, "'timestamp'")
    if not EARLIEST_S <= seconds <= time.time() + MAX_FUTURE_S:
        raise MalformedMessage(
            f"'timestamp' {seconds:.10g} is not a time of this century up to tomorrow "
            "(epoch seconds; is the camera's clock wrong?)"
        )
    return epoch_ns(seconds)


def _field(value: object, types: tuple[type, ...], where: str) -> FieldValue:
    """A message value as a field: numbers as floats (as json_v2), strings checked."""
    if types is _NUMBER:
        return finite_float(value, where)
    if not isinstance(value, str):
        raise MalformedMessage(f"{where} must be a string, got {type(value).__name__}")
    return check_text(value, where)


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
        frame_fields[key] = finite_float(message[key], f"'{key}'")
    camera = _field(message.get("camera", ""), (str,), "'camera'")
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
        check_text(obj_id, f"{where}.unique_com_id")
        if obj_id in seen:
            # Same tags and time: InfluxDB would keep only the last of them.
            raise MalformedMessage(f"{where}.unique_com_id {obj_id!r} repeats in the frame")
        seen.add(obj_id)
        fields: dict[str, FieldValue] = {}
        for key, types in OBJECT_FIELDS.items():
            if key not in obj:
                raise MalformedMessage(f"{where}.{key} is missing")
            fields[key] = _field(obj[key], types, f"{where}.{key}")
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
    fields: dict[str, FieldValue] = {}
    for key, value in message.items():
        if key == "timestamp" or not _is_number(value):
            continue
        check_text(key, f"the key {key[:40]!r}")
        if not 0 < len(key) <= MAX_KEY_CHARS:
            raise MalformedMessage(f"the key {key[:40]!r} is empty or over {MAX_KEY_CHARS} long")
        fields[key] = finite_float(value, f"{key!r}")
    if not fields:
        raise MalformedMessage("a system statistics message has no numeric value")
    return line(measurement, {"host": host, "topic": topic}, fields, timestamp)
