"""`edgewatch bench chaos` in CI, at 2 minutes: the whole stack (the pipeline on the real
footage, mosquitto, ingest, influxd) under a seeded schedule of kills and poison messages
loses and duplicates nothing, and its processes' memory stays flat."""

import json

import pytest
from conftest import edgewatch


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_minutes_of_kills_lose_and_duplicate_nothing(tmp_path):
    report = tmp_path / "chaos.json"
    result = edgewatch("bench", "chaos", "--minutes", "2", "--seed", "1", "--json", str(report),
                       timeout=540)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(report.read_text())
    assert len(figures["schedule"]) >= 4  # something was killed
    mqtt, direct = figures["mqtt_path"], figures["direct_path"]
    assert mqtt["messages_produced"] > 500 and direct["groups_produced"] > 500
    assert mqtt["messages_lost_before_broker"] == mqtt["messages_waiting"] == 0
    assert mqtt["points_lost"] == mqtt["points_duplicated"] == 0
    assert mqtt["points_delivered"] == mqtt["points_expected"] > 0
    assert direct["groups_lost"] == direct["groups_incomplete"] == direct["groups_waiting"] == 0
    assert direct["groups_delivered"] == direct["groups_produced"]
    poison = figures["poison"]
    assert poison["sent"] > 0 and poison["dead_letters"] >= poison["sent"]
    for memory in figures["memory"].values():
        for life in memory["measured"]:
            if life["seconds"] >= 30:
                assert life["growth_percent"] < 5, life
