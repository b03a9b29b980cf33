"""The Flux task that forwards the edge's data to the cloud (edgewatch.services.flux).

There is no InfluxDB 2.x server here (only 1.6.7, which runs no tasks), so these are structure
tests: the text is parsed with tests/flux_syntax.py and its steps and arguments are checked
against the reference design's edge_to_cloud task.
"""

from __future__ import annotations

import re

import pytest
from flux_syntax import FluxSyntaxError, parse

from edgewatch.config import Config, config_from_dict
from edgewatch.errors import ConfigError
from edgewatch.services.flux import flux_string, flux_task

CLOUD = {
    "api": "v2",
    "url": "https://cloud.example.com:8086",
    "org": "acme",
    "bucket": "fleet",
    "org_id": "0a1b2c3d4e5f6789",
    "bucket_id": "9876f5e4d3c2b1a0",
    "token": "cloud-api-token-do-not-leak",
}


def make_config(forward: dict | None = None, **sections) -> Config:
    data = {"influx": {"api": "v2", "bucket": "edge", "org": "home"}, "cloud": CLOUD}
    data.update(sections)
    if forward:
        data["forward"] = forward
    return config_from_dict(data)


def steps_of(config: Config) -> dict[str, dict[str, str]]:
    (pipeline,) = parse(flux_task(config)).pipelines()
    return dict(pipeline)


def decode(literal: str) -> str:
    """A Flux string literal's value (the escapes flux_string writes)."""
    assert literal[0] == literal[-1] == '"'
    unescape = {"n": "\n", "r": "\r", "t": "\t"}
    return re.sub(r"\\(\$\{|.)", lambda m: unescape.get(m[1], m[1]), literal[1:-1])


def test_task_parses_and_imports_secrets_and_experimental():
    program = parse(flux_task(make_config()))
    assert program.imports == ["influxdata/influxdb/secrets", "experimental"]
    assert len(program.pipelines()) == 1


def test_steps_are_those_of_the_reference_task_in_order():
    (pipeline,) = parse(flux_task(make_config())).pipelines()
    assert [name for name, _ in pipeline] == [
        "from", "range", "filter", "aggregateWindow", "pivot", "drop", "group",
        "experimental.to",
    ]  # fmt: skip
    steps = dict(pipeline)
    assert steps["from"] == {"bucket": '"edge"'}
    assert steps["range"] == {"start": "-1h"}
    assert steps["aggregateWindow"] == {"every": "10m", "fn": "last", "createEmpty": "false"}
    assert steps["pivot"] == {
        "rowKey": '["_time"]', "columnKey": '["_field"]', "valueColumn": '"_value"'
    }  # fmt: skip
    assert steps["drop"] == {"columns": '["_start", "_stop"]'}


def test_filter_names_each_forwarded_measurement():
    default = steps_of(make_config())["filter"]["fn"]
    assert default == (
        '(r) => r._measurement == "BW_Inference_results" or r._measurement == "edge_system"'
    )
    chosen = steps_of(make_config(forward={"measurements": ["cams"]}))["filter"]["fn"]
    assert chosen == '(r) => r._measurement == "cams"'


def test_group_keeps_host_topic_and_camera_as_tags_and_says_why():
    text = flux_task(make_config())
    columns = steps_of(make_config())["group"]["columns"]
    assert columns == '["_measurement", "host", "topic", "camera", "obj"]'
    comment = text[: text.index("|> group(")].rsplit("|> drop(", 1)[1]
    assert "// experimental.to()" in comment and "overwrite" in comment


def test_writes_to_the_cloud_by_id_with_the_secret_token():
    assert steps_of(make_config())["experimental.to"] == {
        "host": '"https://cloud.example.com:8086"',
        "orgID": '"0a1b2c3d4e5f6789"',
        "bucketID": '"9876f5e4d3c2b1a0"',
        "token": "cloud_token",
    }


def test_task_option_takes_name_and_every_from_the_config():
    program = parse(flux_task(make_config()))
    assert program.options["task"].args == {
        "name": '"edge_to_cloud"', "every": "1h", "offset": "1m"
    }  # fmt: skip

    config = make_config(forward={"every": "2h", "window": "15m", "task_name": "to cloud"})
    program = parse(flux_task(config))
    assert program.options["task"].args["name"] == '"to cloud"'
    assert program.options["task"].args["every"] == "2h"
    steps = dict(program.pipelines()[0])
    assert steps["range"] == {"start": "-2h"}
    assert steps["aggregateWindow"]["every"] == "15m"


def test_offset_follows_forward_delay_and_is_left_out_without_one():
    def task_option(delay) -> dict[str, str]:
        return parse(flux_task(make_config(forward={"delay": delay}))).options["task"].args

    assert task_option("5m")["offset"] == "5m"
    assert "offset" not in task_option(0)


def test_token_is_read_from_the_secret_store_by_key():
    secret = parse(flux_task(make_config())).variables["cloud_token"]
    assert (secret.kind, secret.name) == ("call", "secrets.get")
    assert secret.args == {"key": '"cloud_token"'}
    custom = parse(flux_task(make_config(forward={"token_secret_key": "fleet_token"})))
    assert custom.variables["cloud_token"].args == {"key": '"fleet_token"'}


def test_the_cloud_token_never_appears_in_the_task():
    text = flux_task(make_config())
    assert CLOUD["token"] not in text
    assert "secrets.get" in text


def test_missing_settings_give_one_error_naming_each():
    with pytest.raises(ConfigError) as raised:
        flux_task(config_from_dict({}))
    message = str(raised.value)
    for key in ("cloud.url", "cloud.org_id", "cloud.bucket_id", "influx.bucket"):
        assert key in message
    assert "influx org list" in message and "influx bucket list" in message
    assert "\n" not in message


def test_only_the_missing_settings_are_named():
    cloud = {key: value for key, value in CLOUD.items() if key != "bucket_id"}
    with pytest.raises(ConfigError) as raised:
        flux_task(make_config(cloud=cloud))
    assert "cloud.bucket_id" in raised.value.problem
    assert "cloud.org_id" not in raised.value.problem
    assert "influx.bucket" not in raised.value.problem


@pytest.mark.parametrize(
    "text", ["plain", 'say "hi"', "back\\slash", "end\\", "${not interpolated}", "two\nlines"]
)
def test_flux_strings_are_escaped(text):
    literal = flux_string(text)
    assert parse(f"x = {literal}\n").variables["x"].end == len("x = ") + len(literal)
    assert "\n" not in literal
    assert decode(literal) == text


def test_config_values_are_escaped_in_the_task():
    odd = 'my "edge" \\ ${bucket}'
    steps = steps_of(make_config(influx={"api": "v2", "bucket": odd}))
    assert decode(steps["from"]["bucket"]) == odd


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('from(bucket: "a"\n  |> range(start: -1h)', "never closed"),
        ('from(bucket: "a"))', "unbalanced"),
        ('from(bucket: "a) |> last()', "unterminated string"),
        ('from(bucket: "a") |> last', "no call"),
        ('x = "a \\q b"', "invalid escape"),
        ('x = "a ${b}"', "interpolation"),
        ("x = 1 +", "expected"),
    ],
)
def test_the_flux_checker_rejects_malformed_text(text, problem):
    with pytest.raises(FluxSyntaxError, match=problem):
        parse(text)
