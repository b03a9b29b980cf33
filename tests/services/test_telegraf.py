"""The generated telegraf.conf. Telegraf cannot be installed here, so the file is parsed as
TOML and checked against the options Telegraf's plug-in documentation lists."""

from __future__ import annotations

import tomllib

from conftest import edgewatch

from edgewatch.config import config_from_dict
from edgewatch.services.telegraf import telegraf_config

# Options from Telegraf's documentation (README/sample.conf of each plug-in), plus the
# options every plug-in takes (alias, namepass, namedrop ...).
COMMON = {"alias", "name_override", "namepass", "namedrop", "tagpass", "tagdrop", "order"}
MQTT_CONSUMER = COMMON | {
    "servers", "topics", "topic_tag", "qos", "connection_timeout", "persistent_session",
    "client_id", "username", "password", "tls_ca", "tls_cert", "tls_key",
    "insecure_skip_verify", "data_format", "json_v2", "max_undelivered_messages",
}  # fmt: skip
JSON_V2 = {"measurement_name", "measurement_name_path", "timestamp_path", "timestamp_format",
           "timestamp_timezone", "field", "tag", "object"}  # fmt: skip
JSON_V2_OBJECT = {"path", "disable_prepend_keys", "included_keys", "excluded_keys", "tags",
                  "renames", "fields", "timestamp_key", "optional"}  # fmt: skip
STARLARK = COMMON | {"source", "script", "constants"}
INFLUXDB_V2 = COMMON | {"urls", "token", "organization", "bucket", "bucket_tag", "timeout",
                        "content_encoding", "tls_ca", "insecure_skip_verify"}  # fmt: skip
INFLUXDB_V1 = COMMON | {"urls", "database", "retention_policy", "username", "password",
                        "skip_database_creation", "timeout", "content_encoding"}  # fmt: skip


def generated(data: dict | None = None) -> dict:
    return tomllib.loads(telegraf_config(config_from_dict(data or {})))


CLOUD = {"url": "https://cloud.example:8086", "api": "v2", "org": "c", "bucket": "b"}


def test_config_follows_the_reference_design():
    conf = generated({"influx": {"api": "v2", "url": "http://127.0.0.1:8086", "org": "home",
                                 "bucket": "edge"}, "cloud": CLOUD})  # fmt: skip
    vision, system = conf["inputs"]["mqtt_consumer"]
    assert vision["alias"] == "vision_pipeline"
    assert vision["name_override"] == "BW_Inference_results"
    assert vision["topics"] == ["edgewatch/+/inference"]
    assert vision["qos"] == 2 and vision["connection_timeout"] == "30s"
    assert vision["client_id"].startswith("edgewatch-telegraf-")
    assert vision["data_format"] == "json_v2"
    obj = vision["json_v2"][0]["object"][0]
    assert obj["path"] == "@this" and obj["disable_prepend_keys"] is True
    starlark = conf["processors"]["starlark"][0]
    assert starlark["namepass"] == ["BW_Inference_results"]
    assert 'metric.tags["obj"]' in starlark["source"] and "unique_com_id" in starlark["source"]
    edge, cloud = conf["outputs"]["influxdb_v2"]
    assert edge["alias"] == "edge" and "BW_Inference_results" in edge["namepass"]
    assert cloud["namedrop"] == ["BW_Inference_results"]
    # System statistics reach both: the edge passes them, the cloud does not drop them.
    assert system["name_override"] in edge["namepass"]
    assert system["name_override"] not in cloud["namedrop"]
    assert (edge["organization"], edge["bucket"]) == ("home", "edge")


def test_without_a_cloud_section_there_is_no_cloud_output():
    """Regression: it wrote a cloud output of unset ${EDGEWATCH_CLOUD_*} variables."""
    text = telegraf_config(config_from_dict({}))
    conf = tomllib.loads(text)
    outputs = [o for kind in conf["outputs"].values() for o in kind]
    assert [o["alias"] for o in outputs] == ["edge"]
    assert "EDGEWATCH_CLOUD" not in text


def test_every_option_is_one_telegraf_documents():
    conf = generated({"influx": {"api": "v2", "org": "o", "bucket": "b"}})
    for consumer in conf["inputs"]["mqtt_consumer"]:
        assert set(consumer) <= MQTT_CONSUMER, set(consumer) - MQTT_CONSUMER
        for parser in consumer["json_v2"]:
            assert set(parser) <= JSON_V2
            for obj in parser["object"]:
                assert set(obj) <= JSON_V2_OBJECT
    assert set(conf["processors"]["starlark"][0]) <= STARLARK
    for output in conf["outputs"]["influxdb_v2"]:
        assert set(output) <= INFLUXDB_V2


def test_influxdb_1x_edge_gets_the_v1_output():
    conf = generated({"influx": {"api": "v1", "database": "edge"}})
    (edge,) = conf["outputs"]["influxdb"]
    assert set(edge) <= INFLUXDB_V1 and edge["database"] == "edge"


def test_tls_and_password_come_from_the_config_and_the_secret_stays_out():
    conf_text = telegraf_config(config_from_dict({"mqtt": {
        "host": "broker.lan", "port": 8883, "username": "edge", "password": "hunter22",
        "tls": {"ca_file": "/etc/edgewatch/ca.crt"}}}))  # fmt: skip
    assert "hunter22" not in conf_text
    consumer = tomllib.loads(conf_text)["inputs"]["mqtt_consumer"][0]
    assert consumer["servers"] == ["ssl://broker.lan:8883"]
    assert consumer["tls_ca"] == "/etc/edgewatch/ca.crt"
    assert consumer["username"] == "edge"
    assert consumer["password"] == "${EDGEWATCH_MQTT_PASSWORD}"


def test_custom_topics_and_measurement_are_used():
    conf = generated({"mqtt": {"topic": "site1/{camera}/det"},
                      "influx": {"measurement": "detections"}})  # fmt: skip
    consumer = conf["inputs"]["mqtt_consumer"][0]
    assert consumer["topics"] == ["site1/+/det"] and consumer["name_override"] == "detections"
    assert conf["processors"]["starlark"][0]["namepass"] == ["detections"]


def test_command_prints_parseable_toml(tmp_path):
    result = edgewatch("telegraf-config")
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout)["inputs"]["mqtt_consumer"][0]["alias"] == "vision_pipeline"
