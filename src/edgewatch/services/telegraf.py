"""`edgewatch telegraf-config`: the reference design's telegraf.conf, from the edgewatch config.

Telegraf does exactly what `edgewatch ingest` does (MQTT -> one point per object ->
InfluxDB), for boxes that already run it. Every option used is one that Telegraf's plug-in
documentation lists: inputs.mqtt_consumer, the json_v2 parser, processors.starlark,
outputs.influxdb_v2 (or outputs.influxdb for 1.x). Secrets are never written into the file:
Telegraf reads them from the environment (`${VAR}`) when it starts.
"""

from __future__ import annotations

import json
import socket

from edgewatch.clients.influx.config import InfluxConfig
from edgewatch.config import Config

# Copies the per-frame object number into the tag `obj`, so that the objects of one frame
# (same measurement, tags and timestamp) do not overwrite each other in InfluxDB. The field
# itself is then dropped: the tag holds it, and the points match `edgewatch ingest`'s.
STARLARK_OBJ_TAG = """
def apply(metric):
    obj = metric.fields.pop("unique_com_id", None)
    if obj == None:
        return None  # a frame with no objects: no point, as edgewatch ingest writes none
    metric.tags["obj"] = str(obj)
    return metric
"""

# Frame-level keys that are not fields of a detection point (the timestamp is the point's
# time; the rest describe the frame, not the object).
EXCLUDED_KEYS = ["timestamp", "capture_time", "frame_width", "frame_height"]


def _toml(value) -> str:
    """A TOML value: strings, numbers, booleans and lists of them (JSON spells them alike)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def _table(header: str, options: dict, indent: str = "") -> list[str]:
    lines = [f"{indent}{header}"]
    lines += [f"{indent}  {key} = {_toml(value)}" for key, value in options.items()]
    return lines


def _broker_options(config: Config, *, client_role: str) -> dict:
    mqtt = config.mqtt
    scheme = "ssl" if mqtt.tls else "tcp"
    options = {
        "servers": [f"{scheme}://{mqtt.host}:{mqtt.port}"],
        "qos": 2,
        "connection_timeout": "30s",
        "persistent_session": True,
        "client_id": f"edgewatch-telegraf-{client_role}-{socket.gethostname()}",
    }
    if mqtt.username:
        options["username"] = mqtt.username
        options["password"] = "${EDGEWATCH_MQTT_PASSWORD}"
    if mqtt.tls:
        if mqtt.tls.ca_file:
            options["tls_ca"] = str(mqtt.tls.ca_file)
        if mqtt.tls.cert_file:
            options["tls_cert"] = str(mqtt.tls.cert_file)
        if mqtt.tls.key_file:
            options["tls_key"] = str(mqtt.tls.key_file)
        if mqtt.tls.insecure:
            options["insecure_skip_verify"] = True
    return options


def _wildcard(topic: str) -> str:
    return topic.replace("{camera}", "+").replace("{host}", "+")


def _consumer(
    config: Config, *, alias: str, measurement: str, topic: str, json_object: dict
) -> list[str]:
    """An mqtt_consumer whose json_v2 parser takes each message's `timestamp` as the time
    and turns the message (each entry of its arrays) into metrics."""
    consumer = {
        "alias": alias,
        "name_override": measurement,
        **_broker_options(config, client_role=alias),
        "topics": [_wildcard(topic)],
        "topic_tag": "topic",
        "data_format": "json_v2",
    }
    return [
        *_table("[[inputs.mqtt_consumer]]", consumer),
        *_table(
            "[[inputs.mqtt_consumer.json_v2]]",
            {"timestamp_path": "timestamp", "timestamp_format": "unix"},
            "  ",
        ),
        *_table(
            "[[inputs.mqtt_consumer.json_v2.object]]",
            {"path": "@this", "disable_prepend_keys": True, **json_object},
            "    ",
        ),
    ]


def _output(influx: InfluxConfig, *, alias: str, token_env: str, route: dict) -> list[str]:
    if influx.api == "v2":
        options = {
            "alias": alias,
            "urls": [influx.url],
            "token": f"${{{token_env}}}",
            "organization": influx.org or "",
            "bucket": influx.bucket or "",
            **route,
        }
        return _table("[[outputs.influxdb_v2]]", options)
    options = {"alias": alias, "urls": [influx.url], "database": influx.database, **route}
    if influx.retention_policy:
        options["retention_policy"] = influx.retention_policy
    if influx.username:
        options["username"] = influx.username
        options["password"] = f"${{{token_env}}}"
    return _table("[[outputs.influxdb]]", options)


def telegraf_config(config: Config, source: str = "the default configuration") -> str:
    mqtt, edge = config.mqtt, config.influx
    cloud = config.cloud or InfluxConfig(
        url="${EDGEWATCH_CLOUD_URL}", api="v2", org="${EDGEWATCH_CLOUD_ORG}",
        bucket="${EDGEWATCH_CLOUD_BUCKET}",
    )  # fmt: skip
    inference, system = edge.measurement, edge.system_measurement
    lines = [
        f"# telegraf.conf generated by `edgewatch telegraf-config` from {source}.",
        "# The same path as `edgewatch ingest`: MQTT -> one point per detected object ->",
        "# InfluxDB on the edge; system statistics to the edge and the cloud. Secrets come",
        "# from the environment: EDGEWATCH_MQTT_PASSWORD, EDGEWATCH_INFLUX_TOKEN,",
        "# EDGEWATCH_CLOUD_INFLUX_TOKEN.",
        "",
        *_table(
            "[agent]",
            {"interval": "10s", "flush_interval": "1s", "omit_hostname": False, "hostname": ""},
        ),  # fmt: skip
        "",
        "# Detection messages: each entry of inference_results becomes one metric that",
        "# carries the frame-level fields (detection_frame_number, total_num_obj ...).",
        *_consumer(
            config,
            alias="vision_pipeline",
            measurement=inference,
            topic=mqtt.topic,
            json_object={"tags": ["camera"], "excluded_keys": EXCLUDED_KEYS},
        ),  # fmt: skip
        "",
        "# System statistics of the edge box: one flat JSON object per message.",
        *_consumer(
            config,
            alias="edge_system",
            measurement=system,
            topic=mqtt.system_topic,
            json_object={"excluded_keys": ["timestamp"]},
        ),  # fmt: skip
        "",
        *_table("[[processors.starlark]]", {"namepass": [inference]}),
        "  source = '''" + STARLARK_OBJ_TAG + "'''",
        "",
        "# The edge keeps raw detections and system statistics.",
        *_output(
            edge,
            alias="edge",
            token_env="EDGEWATCH_INFLUX_TOKEN",
            route={"namepass": [inference, system]},
        ),  # fmt: skip
        "",
        "# The cloud gets system statistics here; detections only downsampled, by",
        "# `edgewatch forward` or the Flux task of `edgewatch influx task`.",
        *_output(
            cloud,
            alias="cloud",
            token_env="EDGEWATCH_CLOUD_INFLUX_TOKEN",
            route={"namedrop": [inference]},
        ),  # fmt: skip
    ]
    return "\n".join(lines) + "\n"
