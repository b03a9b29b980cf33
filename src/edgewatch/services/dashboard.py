"""The reference design's detection dashboard as an InfluxDB 2 template.

    edgewatch influx dashboard --config edge.yaml > dashboard.json
    influx apply --file dashboard.json

The template is what `influx apply` reads (pkger): one Dashboard resource whose charts are
Flux queries on the detection measurement. Every chart follows the rules pkger checks on
import (influxdata/influxdb pkger/parser_models.go, validProperties): sizes above zero, a hex
on every color, min and max colors on gauges, x and y axes, geometry and position on XY
charts, a known wrapping on tables.

Queries read from `influx.bucket`; without one (a 1.x config) from `database/retention
policy`, the bucket name InfluxDB 1.8's Flux and `influxd upgrade` give a 1.x database.
"""

from __future__ import annotations

from edgewatch.config import Config
from edgewatch.services.flux import flux_string, flux_strings

# What tells one tracked object from another across boxes and cameras (OBJ1 repeats).
OBJECT_COLUMNS = ("host", "camera", "obj")
_TEXT_COLOR = {"id": "base", "name": "laser", "type": "text", "hex": "#00C9FF", "value": 0}
_LINE_COLORS = [
    {"id": "line-1", "name": "Nineteen Eighty Four", "type": "scale", "hex": "#31C0F6"},
    {"id": "line-2", "name": "Nineteen Eighty Four", "type": "scale", "hex": "#A500A5"},
    {"id": "line-3", "name": "Nineteen Eighty Four", "type": "scale", "hex": "#FF7E27"},
]


def dashboard_bucket(config: Config) -> str:
    """influx.bucket, else the 1.x database as a bucket name: database[/retention policy]."""
    influx = config.influx
    if influx.bucket:
        return influx.bucket
    rp = f"/{influx.retention_policy}" if influx.retention_policy else ""
    return influx.database + rp


def _query(config: Config, fields: tuple[str, ...], *steps: str) -> str:
    """The detection points of ``fields`` in the dashboard's time range, then ``steps``."""
    field_test = " or ".join(f"r._field == {flux_string(name)}" for name in fields)
    lines = [
        f"from(bucket: {flux_string(dashboard_bucket(config))})",
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)",
        f"  |> filter(fn: (r) => r._measurement == {flux_string(config.influx.measurement)})",
        f"  |> filter(fn: (r) => {field_test})",
        *(f"  {step}" if step.startswith("//") else f"  |> {step}" for step in steps),
    ]
    return "\n".join(lines) + "\n"


def _chart(kind: str, name: str, query: str, x: int, y: int, width: int, height: int,
           **properties) -> dict:  # fmt: skip
    return {"kind": kind, "name": name, "queries": [{"query": query}],
            "xPos": x, "yPos": y, "width": width, "height": height, **properties}  # fmt: skip


def _frame_number(config: Config) -> dict:
    query = _query(
        config,
        ("detection_frame_number",),
        "// The newest point of any camera: frame numbers count per camera.",
        "group()",
        'sort(columns: ["_time"])',
        "last()",
    )
    return _chart("Single_Stat", "Last frame number", query, 0, 0, 4, 3,
                  decimalPlaces=0, colors=[_TEXT_COLOR])  # fmt: skip


def _total_detections(config: Config) -> dict:
    query = _query(
        config,
        ("total_num_obj",),
        "// Each camera's newest frame total (every object point carries it), summed over",
        "// cameras. An empty frame writes no point, so a camera keeps its last count.",
        f"group(columns: {flux_strings(('host', 'camera'))})",
        'sort(columns: ["_time"])',
        "last()",
        "group()",
        "sum()",
    )
    return _chart("Single_Stat", "Current total detections", query, 4, 0, 4, 3,
                  decimalPlaces=0, colors=[_TEXT_COLOR])  # fmt: skip


def _average_confidence(config: Config) -> dict:
    query = _query(
        config,
        ("confidence",),
        "group()",
        "mean()",
        "map(fn: (r) => ({r with _value: r._value * 100.0}))",
    )
    colors = [
        {"id": "min", "name": "fire", "type": "min", "hex": "#DC4E58", "value": 0},
        {"id": "warn", "name": "pineapple", "type": "threshold", "hex": "#FFB94A", "value": 50},
        {"id": "good", "name": "rainforest", "type": "threshold", "hex": "#4ED8A0", "value": 75},
        {"id": "max", "name": "rainforest", "type": "max", "hex": "#4ED8A0", "value": 100},
    ]
    return _chart("Gauge", "Average confidence", query, 8, 0, 4, 3,
                  suffix="%", decimalPlaces=1, colors=colors)  # fmt: skip


def _labels_per_object(config: Config) -> dict:
    # A mosaic draws a row per distinct ySeriesColumns value and colours its tiles by the
    # fill column, so it wants one row per object and time. Pivoting with obj in the row key
    # gives that, the label in a column named `label`; pivoting obj into the columns would
    # give a column per object, which a mosaic cannot draw.
    query = _query(
        config,
        ("label",),
        'group(columns: ["host", "camera"])',
        'pivot(rowKey: ["_time", "obj"], columnKey: ["_field"], valueColumn: "_value")',
        f"group(columns: {flux_strings(OBJECT_COLUMNS)})",
        f"keep(columns: {flux_strings(('_time', *OBJECT_COLUMNS, 'label'))})",
    )
    # yCol is the single y column of older UIs; newer ones read ySeriesColumns.
    return _chart(
        "Mosaic", "Labels per object", query, 0, 3, 12, 4,
        xCol="_time", yCol="obj", ySeriesColumns=list(OBJECT_COLUMNS),
        yLabelColumns=list(OBJECT_COLUMNS), yLabelColumnSeparator=" ", fillColumns=["label"],
        colors=_LINE_COLORS, axes=[{"name": "x", "label": ""}, {"name": "y", "label": "object"}],
    )  # fmt: skip


def _state_durations(config: Config) -> dict:
    query = _query(
        config,
        ("label",),
        "// Seconds from the first to the last sighting of each object with each label:",
        "// elapsed() gives the gaps between consecutive sightings, sum() adds them up.",
        "// A label seen only once has no gap to add, so it shows no seconds.",
        f"group(columns: {flux_strings((*OBJECT_COLUMNS, '_value'))})",
        'sort(columns: ["_time"])',
        "elapsed(unit: 1s)",
        'sum(column: "elapsed")',
        "group()",
        'rename(columns: {_value: "label", elapsed: "seconds"})',
        'sort(columns: ["seconds"], desc: true)',
    )
    field_options = [
        {"fieldName": name, "displayName": name, "visible": True}
        for name in (*OBJECT_COLUMNS, "label", "seconds")
    ]
    return _chart(
        "Table", "Detection state changes", query, 0, 7, 6, 5,
        colors=[_TEXT_COLOR], fieldOptions=field_options,
        tableOptions={"verticalTimeAxis": True, "sortBy": "seconds", "wrapping": "truncate",
                      "fixFirstColumn": False},
    )  # fmt: skip


def _box_size(config: Config) -> dict:
    query = _query(
        config,
        ("box_width", "box_height"),
        "// One line per field: the mean over every object in view.",
        'group(columns: ["_field"])',
        "aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)",
    )
    axes = [
        {"name": "x", "label": "", "scale": "linear", "base": "10"},
        {"name": "y", "label": "pixels", "scale": "linear", "base": "10"},
    ]
    return _chart("XY", "Box width and height", query, 6, 7, 6, 5, geom="line",
                  position="overlaid", xCol="_time", yCol="_value", axes=axes,
                  colors=_LINE_COLORS)  # fmt: skip


def dashboard_template(config: Config) -> list[dict]:
    """The template `influx apply --file` imports: JSON-serialisable, one Dashboard."""
    charts = [
        _frame_number(config),
        _total_detections(config),
        _average_confidence(config),
        _labels_per_object(config),
        _state_durations(config),
        _box_size(config),
    ]
    description = (
        f"edgewatch detections ({config.influx.measurement}): frames, objects in view, "
        "confidence, labels per tracked object and box sizes."
    )
    return [
        {
            "apiVersion": "influxdata.com/v2alpha1",
            "kind": "Dashboard",
            "metadata": {"name": "edgewatch-detections"},
            "spec": {
                "name": "Edgewatch detections",
                "description": description,
                "charts": charts,
            },
        }
    ]
