"""The InfluxDB 2 dashboard template (edgewatch.services.dashboard).

There is no InfluxDB 2.x server here (only 1.6.7), so `influx apply` cannot import it: these
are structure tests. Every chart is checked against the rules InfluxDB's template parser
applies on import, and every query is parsed with tests/flux_syntax.py.
"""

from __future__ import annotations

import itertools
import json
import re

import pytest
from flux_syntax import parse

from edgewatch.config import Config, config_from_dict
from edgewatch.services.dashboard import dashboard_template

CELLS = {
    "Last frame number": "Single_Stat",
    "Current total detections": "Single_Stat",
    "Average confidence": "Gauge",
    "Labels per object": "Mosaic",
    "Detection state changes": "Table",
    "Box width and height": "XY",
}

# The rules of influxdata/influxdb pkger/parser_models.go: chart.validProperties (with
# validBaseProps, colors.valid, colors.hasTypes, axes.hasAxes, validPosition, validGeometry,
# validTableOptions), chartKind.ok, dashboardNameMinLength; metadata.name must be a
# DNS-1123 label (pkger/parser.go isDNS1123Label).
CHART_KINDS = {"gauge", "geo", "heatmap", "histogram", "markdown", "mosaic", "scatter",
               "single_stat", "single_stat_plus_line", "table", "xy", "band"}  # fmt: skip
GEOMETRIES = {"line", "step", "stacked", "monotoneX", "bar"}
WRAPPINGS = {"", "single-line", "truncate", "wrap"}
NEEDS_AXES = {"heatmap": {"x", "y"}, "histogram": {"x"}, "scatter": {"x", "y"},
              "single_stat_plus_line": {"x", "y"}, "xy": {"x", "y"}}  # fmt: skip


def pkger_problems(chart: dict) -> list[str]:
    kind = chart.get("kind", "").strip().lower()
    if kind not in CHART_KINDS:
        return [f"invalid chart kind {kind!r}"]
    if kind == "markdown":
        return []
    problems = [f"{size} must be > 0" for size in ("width", "height") if chart.get(size, 0) <= 0]
    colors = chart.get("colors", [])
    problems += [f"color {i} has no hex" for i, color in enumerate(colors) if not color.get("hex")]
    if kind == "gauge":
        types = {color.get("type") for color in colors}
        problems += [f"gauge has no {t!r} color" for t in ("min", "max") if t not in types]
    names = {axis.get("name") for axis in chart.get("axes", [])}
    problems += [f"axis {a!r} missing" for a in sorted(NEEDS_AXES.get(kind, set()) - names)]
    position = chart.get("position", "").lower()
    if kind in ("xy", "single_stat_plus_line") and position not in ("", "overlaid", "stacked"):
        problems.append(f"invalid position {chart['position']!r}")
    if kind == "xy" and chart.get("geom") not in GEOMETRIES:
        problems.append(f"invalid geom {chart.get('geom')!r}")
    if kind == "table" and chart.get("tableOptions", {}).get("wrapping", "") not in WRAPPINGS:
        problems.append("invalid tableOptions.wrapping")
    return problems


def template_problems(template: list[dict]) -> list[str]:
    problems = []
    for resource in template:
        name, spec = resource["metadata"]["name"], resource["spec"]
        if len(name) > 63 or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name):
            problems.append(f"metadata.name {name!r} is not a DNS-1123 label")
        if len(spec.get("name", name).strip()) < 2:
            problems.append("dashboard name shorter than 2 characters")
        for chart in spec["charts"]:
            problems += [f"{chart.get('name')}: {p}" for p in pkger_problems(chart)]
    return problems


def make_config(**influx) -> Config:
    return config_from_dict({"influx": {"api": "v2", "bucket": "edge", **influx}})


def charts_of(config: Config) -> dict[str, dict]:
    (dashboard,) = dashboard_template(config)
    return {chart["name"]: chart for chart in dashboard["spec"]["charts"]}


def steps(chart: dict) -> list[tuple[str, dict[str, str]]]:
    (query,) = chart["queries"]
    (pipeline,) = parse(query["query"]).pipelines()
    return pipeline


def step(chart: dict, name: str) -> dict[str, str]:
    (args,) = [args for step_name, args in steps(chart) if step_name == name]
    return args


def grid_squares(cell: dict) -> set[tuple[int, int]]:
    return set(itertools.product(range(cell["xPos"], cell["xPos"] + cell["width"]),
                                 range(cell["yPos"], cell["yPos"] + cell["height"])))  # fmt: skip


def test_template_survives_a_json_round_trip():
    template = dashboard_template(make_config())
    assert json.loads(json.dumps(template)) == template


def test_template_is_one_dashboard_resource():
    (dashboard,) = dashboard_template(make_config())
    assert dashboard["apiVersion"] == "influxdata.com/v2alpha1"
    assert dashboard["kind"] == "Dashboard"
    assert dashboard["metadata"] == {"name": "edgewatch-detections"}
    assert dashboard["spec"]["name"] and dashboard["spec"]["description"]


def test_template_passes_the_rules_influx_apply_enforces():
    assert template_problems(dashboard_template(make_config())) == []


@pytest.mark.parametrize(
    ("chart", "problem"),
    [
        ({"kind": "Pie", "width": 1, "height": 1}, "invalid chart kind"),
        ({"kind": "Table", "width": 0, "height": 1}, "width must be > 0"),
        ({"kind": "Gauge", "width": 1, "height": 1, "colors": [{"type": "min", "hex": "#fff"}]},
         "no 'max' color"),
        ({"kind": "XY", "width": 1, "height": 1, "geom": "curve",
          "axes": [{"name": "x"}, {"name": "y"}]}, "invalid geom"),
        ({"kind": "XY", "width": 1, "height": 1, "geom": "line", "axes": [{"name": "x"}]},
         "axis 'y' missing"),
        ({"kind": "Table", "width": 1, "height": 1, "tableOptions": {"wrapping": "fold"}},
         "wrapping"),
    ],
)  # fmt: skip
def test_the_rule_checker_catches_what_pkger_refuses(chart, problem):
    assert any(problem in found for found in pkger_problems(chart))


def test_the_six_cells_are_there_with_their_kinds():
    assert {name: chart["kind"] for name, chart in charts_of(make_config()).items()} == CELLS


def test_cells_lie_on_the_12_column_grid_without_overlapping():
    cells = charts_of(make_config()).values()
    for cell in cells:
        assert cell["xPos"] >= 0 and cell["yPos"] >= 0 and cell["xPos"] + cell["width"] <= 12
    for a, b in itertools.combinations(cells, 2):
        assert not (grid_squares(a) & grid_squares(b)), f"{a['name']} overlaps {b['name']}"


def test_every_query_reads_the_configured_bucket_and_measurement_in_the_time_range():
    for chart in charts_of(make_config(bucket="cams", measurement="detections")).values():
        pipeline = steps(chart)
        assert pipeline[0] == ("from", {"bucket": '"cams"'})
        assert pipeline[1] == ("range", {"start": "v.timeRangeStart", "stop": "v.timeRangeStop"})
        assert pipeline[2] == ("filter", {"fn": '(r) => r._measurement == "detections"'})


def test_without_a_bucket_queries_read_database_slash_retention_policy():
    config = config_from_dict({"influx": {"database": "cams", "retention_policy": "week"}})
    for chart in charts_of(config).values():
        assert steps(chart)[0] == ("from", {"bucket": '"cams/week"'})


def test_stat_cells_take_the_newest_frame_number_and_sum_the_cameras_totals():
    charts = charts_of(make_config())
    frame = [name for name, _ in steps(charts["Last frame number"])]
    assert 'r._field == "detection_frame_number"' in steps(charts["Last frame number"])[3][1]["fn"]
    assert frame[-1] == "last"
    total = charts["Current total detections"]
    assert 'r._field == "total_num_obj"' in steps(total)[3][1]["fn"]
    assert [name for name, _ in steps(total)][-4:] == ["sort", "last", "group", "sum"]
    assert "camera" in steps(total)[4][1]["columns"]


def test_confidence_gauge_shows_the_mean_as_a_percentage():
    gauge = charts_of(make_config())["Average confidence"]
    assert 'r._field == "confidence"' in steps(gauge)[3][1]["fn"]
    assert "mean" in [name for name, _ in steps(gauge)]
    assert "* 100.0" in step(gauge, "map")["fn"]
    assert gauge["suffix"] == "%"


def test_labels_mosaic_pivots_on_obj_and_its_columns_match_the_query():
    mosaic = charts_of(make_config())["Labels per object"]
    assert 'r._field == "label"' in steps(mosaic)[3][1]["fn"]
    pivot = step(mosaic, "pivot")
    assert '"obj"' in pivot["rowKey"] and pivot["columnKey"] == '["_field"]'
    kept = json.loads(step(mosaic, "keep")["columns"])
    assert mosaic["xCol"] == "_time" and mosaic["yCol"] in mosaic["ySeriesColumns"]
    assert "obj" in mosaic["ySeriesColumns"]
    for column in [mosaic["xCol"], *mosaic["ySeriesColumns"], *mosaic["fillColumns"]]:
        assert column in kept


def test_state_table_sums_the_time_each_object_kept_a_label():
    table = charts_of(make_config())["Detection state changes"]
    assert 'r._field == "label"' in steps(table)[3][1]["fn"]
    names = [name for name, _ in steps(table)]
    assert names.index("elapsed") < names.index("sum")
    assert '"obj"' in steps(table)[4][1]["columns"] and '"_value"' in steps(table)[4][1]["columns"]
    assert table["tableOptions"]["wrapping"] == "truncate"


def test_box_size_chart_averages_width_and_height_per_window():
    xy = charts_of(make_config())["Box width and height"]
    assert steps(xy)[3][1]["fn"] == '(r) => r._field == "box_width" or r._field == "box_height"'
    assert step(xy, "aggregateWindow") == {
        "every": "v.windowPeriod", "fn": "mean", "createEmpty": "false"
    }  # fmt: skip
    assert (xy["geom"], xy["position"]) == ("line", "overlaid")
    assert {axis["name"] for axis in xy["axes"]} == {"x", "y"}
