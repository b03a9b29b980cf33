"""`edgewatch influx setup|task|dashboard` as a user runs them (real influxd 1.6.7 for setup)."""

import json

import yaml
from conftest import edgewatch

from edgewatch.bench.localservers import Influxd


def test_setup_creates_then_says_nothing_changed(tmp_path):
    with Influxd(tmp_path / "influx") as influx:
        config = tmp_path / "c.yaml"
        config.write_text(yaml.safe_dump({"influx": {"url": influx.url, "database": "cams",
                                                     "retention": "30d"}}))  # fmt: skip
        first = edgewatch("influx", "setup", "--config", str(config), "--continuous-queries")
        assert first.returncode == 0, first.stderr
        assert "created" in first.stdout
        databases = influx.rows("SHOW DATABASES", "cams")
        assert {"name": "cams"} in databases
        queries = influx.query("SHOW CONTINUOUS QUERIES")["results"][0]["series"]
        assert any(s["name"] == "cams" and s.get("values") for s in queries)

        second = edgewatch("influx", "setup", "--config", str(config), "--continuous-queries")
        assert second.returncode == 0, second.stderr
        assert "created" not in second.stdout and "already" in second.stdout


def test_task_and_dashboard_print_documents_or_one_line(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "influx": {"api": "v2", "org": "home", "bucket": "edge", "token": "edge-token-1f"},
        "cloud": {"url": "https://cloud.example:8086", "api": "v2", "org": "c", "bucket": "b",
                  "org_id": "0123456789abcdef", "bucket_id": "fedcba9876543210",
                  "token": "cloud-token-9e"},
    }))  # fmt: skip
    task = edgewatch("influx", "task", "--config", str(config))
    assert task.returncode == 0, task.stderr
    assert 'option task = {name: "edge_to_cloud"' in task.stdout
    assert 'bucketID: "fedcba9876543210"' in task.stdout
    dashboard = edgewatch("influx", "dashboard", "--config", str(config))
    assert dashboard.returncode == 0, dashboard.stderr
    assert json.loads(dashboard.stdout)[0]["kind"] == "Dashboard"
    for output in (task.stdout, dashboard.stdout):
        assert "token-1f" not in output and "token-9e" not in output

    missing = edgewatch("influx", "task")  # the defaults name no cloud
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "cloud.org_id" in missing.stderr
    assert "Traceback" not in missing.stderr
