import logging
from pathlib import Path

import pytest
from conftest import edgewatch

from edgewatch.config import Config, ConfigValidationError, config_from_dict, load_config
from edgewatch.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edgewatch.yaml"
    path.write_text(text)
    return path


def test_example_config_is_valid_and_documents_the_defaults():
    config = load_config(REPO / "config.example.yaml")
    assert config.cameras[0].source == "sample"
    assert config.outputs.rtsp.host == "127.0.0.1"
    assert config.detector.class_confidence == {"person": 0.4}


def test_example_config_names_every_tracking_and_events_key_at_its_default():
    from edgewatch.events.config import EventsConfig, LabelFilter, SnapshotConfig
    from edgewatch.track.config import TrackerConfig

    text = (REPO / "config.example.yaml").read_text()
    for model in (TrackerConfig, EventsConfig, LabelFilter, SnapshotConfig):
        for key in model.model_fields:
            assert f"{key}:" in text, f"config.example.yaml does not name {model.__name__}.{key}"
    example = load_config(REPO / "config.example.yaml")
    assert example.tracking == TrackerConfig()
    assert example.events.model_dump(exclude={"store_path", "snapshots"}) == EventsConfig(
        store_path=example.events.store_path, snapshots=example.events.snapshots
    ).model_dump(exclude={"store_path", "snapshots"})


def test_empty_file_gives_the_defaults(tmp_path):
    config = load_config(write(tmp_path, ""))
    assert [c.name for c in config.cameras] == ["sample"]


def test_unknown_key_is_named_with_its_path(tmp_path):
    path = write(tmp_path, "detector:\n  confidnce: 0.3\n")
    with pytest.raises(ConfigValidationError) as caught:
        load_config(path)
    assert caught.value.problems == ["detector.confidnce: unknown key (a typo?)"]


def test_every_problem_is_listed_field_by_field(tmp_path):
    path = write(
        tmp_path,
        "cameras:\n  - name: 'bad name!'\n    source: x.mp4\noutputs:\n  rtsp:\n    port: 70000\n",
    )
    with pytest.raises(ConfigValidationError) as caught:
        load_config(path)
    problems = caught.value.problems
    assert any(p.startswith("cameras.0.name: camera name 'bad name!'") for p in problems)
    assert any(p.startswith("outputs.rtsp.port:") for p in problems)


def test_duplicate_camera_names_are_rejected(tmp_path):
    path = write(tmp_path, "cameras:\n  - {name: a, source: x}\n  - {name: a, source: y}\n")
    with pytest.raises(ConfigError, match="repeated: a"):
        load_config(path)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "cameras:\n  - name: a\n   source: [\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_config(path)


def test_missing_config_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_config_check_prints_each_problem_and_exits_1(tmp_path):
    path = write(tmp_path, "detector:\n  confidence: 2\n  bogus: 1\n")
    result = edgewatch("config", "check", str(path))
    assert result.returncode == 1
    assert "2 problem(s)" in result.stdout
    assert "detector.confidence: Input should be less than or equal to 1" in result.stdout
    assert "detector.bogus: unknown key" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_config_check_accepts_the_example():
    result = edgewatch("config", "check", str(REPO / "config.example.yaml"))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_bad_config_for_run_is_one_line_without_traceback(tmp_path):
    path = write(tmp_path, "cameras: 5\n")
    result = edgewatch("run", "--config", str(path), "--no-rtsp")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgewatch: error: ")
    assert "cameras" in lines[0] and "Traceback" not in result.stderr


def test_settings_of_0_1_still_load_from_their_old_place_with_a_deprecation_line(caplog):
    old = {
        "outputs": {
            "mqtt": {"enabled": True, "host": "broker.lan", "port": 8883, "username": "edge",
                     "topic": "site/{camera}/det", "publish_on_change": False,
                     "system_interval_s": 2},
            "influx": {"write_on_change": False},
        },
        "pipeline": {"camera_queue": 8},
    }  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="edgewatch.config"):
        config = config_from_dict(old)
    broker = config.mqtt
    assert (broker.host, broker.port, broker.username) == ("broker.lan", 8883, "edge")
    assert config.mqtt.detection_topic("door") == "site/door/det"
    assert config.outputs.mqtt.enabled and not config.outputs.mqtt.report_on_change
    assert not config.outputs.influx.report_on_change
    assert config.pipeline.system_interval_s == 2 and config.pipeline.camera_queue == 8
    notes = [r.getMessage() for r in caplog.records]
    assert "config: outputs.mqtt.host is deprecated, write mqtt.host instead" in notes[0]
    assert len(notes) == 7  # one line per moved key
    assert old["outputs"]["mqtt"]["host"] == "broker.lan"  # the caller's dict is untouched


def test_a_setting_at_its_new_place_wins_over_the_old_one():
    config = config_from_dict({"mqtt": {"port": 1884}, "outputs": {"mqtt": {"port": 1885}}})
    assert config.mqtt.port == 1884


def test_the_new_sections_load_without_a_deprecation_line(caplog):
    with caplog.at_level(logging.WARNING, logger="edgewatch.config"):
        config = config_from_dict(
            {"mqtt": {"host": "b"}, "outputs": {"mqtt": {"report_on_change": False}}}
        )
    assert config.mqtt.host == "b" and not caplog.records
    assert Config().pipeline.system_interval_s == 5.0


def test_example_config_names_every_web_key_at_its_default():
    from edgewatch.outputs.web import WebConfig

    text = (REPO / "config.example.yaml").read_text()
    for key in WebConfig.model_fields:
        assert f"{key}:" in text, f"config.example.yaml does not name web.{key}"
    example = load_config(REPO / "config.example.yaml")
    assert example.web == WebConfig(history_path=example.web.history_path)


def test_run_flags_turn_the_web_dashboard_off_or_move_its_port():
    from edgewatch.cli import build_parser
    from edgewatch.cli.run import config_for_run

    def run_config(*flags):
        return config_for_run(build_parser().parse_args(["run", *flags]))

    assert run_config().web.enabled and run_config().web.port == 8971
    assert not run_config("--no-web").web.enabled
    assert run_config("--web-port", "9000").web.port == 9000
    with pytest.raises(SystemExit):  # one or the other
        build_parser().parse_args(["run", "--no-web", "--web-port", "9000"])
