"""The reference design's `edge_to_cloud` InfluxDB 2 task, as Flux built from the config.

It runs inside the edge InfluxDB 2.x: every `forward.every` it takes the last value of each
field per `forward.window` and series, and writes those summaries to the cloud InfluxDB
with experimental.to(). Install it on the edge:

    edgewatch influx task --config edge.yaml > task.flux
    influx secret update --key cloud_token --value <the cloud's API token>
    influx task create --file task.flux

The cloud token lives in the edge's secret store (the key is `forward.token_secret_key`):
the task text, which anyone allowed to read tasks can see, holds only the key's name.

One change from the reference design: it groups by host, topic and camera as well as obj.
experimental.to() writes every group-key column as a tag and every other column as a
field, so with only obj in the key, host, topic and camera would become string fields and
two cameras' OBJ1 in the same window would be one cloud series, the later overwriting the
earlier.
"""

from __future__ import annotations

from edgewatch.config import Config
from edgewatch.durations import format_duration
from edgewatch.errors import ConfigError

# The tags that tell the edge's series apart; they must stay tags in the cloud.
SERIES_TAGS = ("host", "topic", "camera", "obj")


def flux_string(text: str) -> str:
    """``text`` as a Flux string literal. ``${`` is escaped too: Flux would interpolate it."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


def flux_strings(items: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(flux_string(item) for item in items) + "]"


def measurement_filter(measurements: list[str]) -> str:
    """``(r) => r._measurement == "a" or r._measurement == "b"``."""
    tests = " or ".join(f"r._measurement == {flux_string(name)}" for name in measurements)
    return f"(r) => {tests}"


def forwarded_measurements(config: Config) -> list[str]:
    """As `edgewatch forward` does: forward.measurements, else detections and system stats."""
    influx = config.influx
    return config.forward.measurements or [influx.measurement, influx.system_measurement]


def _missing_settings(config: Config) -> list[str]:
    cloud = config.cloud
    missing = [
        f"cloud.{key}"
        for key in ("url", "org_id", "bucket_id")
        if cloud is None or not getattr(cloud, key)
    ]
    if not config.influx.bucket:
        missing.append("influx.bucket")
    return missing


def flux_task(config: Config) -> str:
    """The Flux text of the forwarding task; a ConfigError names every setting it lacks.

    It groups by host, topic, camera and obj where the reference grouped by obj alone:
    experimental.to() makes the group key tags, so these stay tags and two cameras' OBJ1
    stay two series in the cloud.
    """
    missing = _missing_settings(config)
    if missing:
        raise ConfigError(
            f"the Flux task needs {', '.join(missing)} (the cloud's IDs, the edge's bucket)",
            "set them in the config; `influx org list` and `influx bucket list` on the cloud "
            "instance show the organisation and bucket IDs",
        )
    forward, cloud = config.forward, config.cloud
    every, window = format_duration(forward.every), format_duration(forward.window)
    task_options = f"name: {flux_string(forward.task_name)}, every: {every}"
    if forward.delay:
        # Tasks keep now() at the scheduled time, so the offset lets late points arrive
        # without moving the range, as `edgewatch forward` waits forward.delay.
        task_options += f", offset: {format_duration(forward.delay)}"
    group_columns = flux_strings(("_measurement", *SERIES_TAGS))
    return f"""\
import "influxdata/influxdb/secrets"
import "experimental"

option task = {{{task_options}}}

// The cloud's API token, from this InfluxDB's secret store.
cloud_token = secrets.get(key: {flux_string(forward.token_secret_key)})

from(bucket: {flux_string(config.influx.bucket)})
    |> range(start: -{every})
    |> filter(fn: {measurement_filter(forwarded_measurements(config))})
    |> aggregateWindow(every: {window}, fn: last, createEmpty: false)
    |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
    |> drop(columns: ["_start", "_stop"])
    // experimental.to() writes group-key columns as tags and all others as fields: with
    // only obj in the key, host/topic/camera would become fields and two cameras' OBJ1
    // in one window would overwrite each other in the cloud.
    |> group(columns: {group_columns})
    |> experimental.to(
        host: {flux_string(cloud.url)},
        orgID: {flux_string(cloud.org_id)},
        bucketID: {flux_string(cloud.bucket_id)},
        token: cloud_token
    )
"""
