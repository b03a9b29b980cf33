"""Fuzzing in CI: a few hundred cases of each property `edgewatch bench fuzz` runs by the
ten thousand (the config loader, the ingest validator, the line-protocol encoder), and
damaged copies of the real footage through the video sources and the command."""

import pytest
from conftest import edgewatch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgewatch.bench import fuzz

CI = settings(max_examples=300, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
CONFIGS, CONFIG_TEXTS = fuzz.strategies_for_configs(st)
MEASUREMENT, TAGS, FIELDS = fuzz.strategies_for_points(st)


@CI
@given(CONFIGS)
def test_any_config_structure_loads_or_is_a_config_error(data):
    fuzz.check_config_dict(data)


@CI
@given(CONFIG_TEXTS)
def test_any_config_file_loads_or_is_a_config_error(tmp_path_factory, text):
    fuzz.check_config_text(text, tmp_path_factory.mktemp("cfg"))


@CI
@given(fuzz.strategies_for_messages(st))
def test_any_message_becomes_well_formed_points_or_is_malformed(payload):
    fuzz.check_message(payload)


@CI
@given(MEASUREMENT, TAGS, FIELDS)
def test_any_point_reads_back_as_written_or_is_refused_here(measurement, tags, fields):
    fuzz.check_line(measurement, tags, fields)


def test_the_line_reader_refuses_what_influxdb_refuses():
    for bad in ("m x=1", "m,=v x=1 1", "m,t=v time=1 1", "m x=inf 1", "m x=1 1\nm x=2 2"):
        with pytest.raises(AssertionError):
            fuzz.parse_line(bad)
    assert fuzz.parse_line('m\\ 1,t\\,k=a\\ b s="q\\"x",i=3i 7') == (
        "m 1", {"t,k": "a b"}, {"s": 'q"x', "i": 3}, 7)  # fmt: skip


@pytest.mark.timeout(120)
def test_damaged_copies_of_the_footage_give_frames_or_a_source_error(tmp_path, vtest_path):
    for path in fuzz.damaged_videos(vtest_path, tmp_path, 12, seed=3):
        fuzz.check_video_file(path)


@pytest.mark.timeout(240)
def test_the_command_on_damaged_footage_ends_cleanly(tmp_path, vtest_path):
    """No traceback, no hang, and no silent exit 0 without a frame."""
    for path in fuzz.damaged_videos(vtest_path, tmp_path, 3, seed=5):
        result = edgewatch("run", "--no-web", "--no-rtsp", "--source", str(path),
                           "--max-frames", "20", "--json-out", str(tmp_path / "d.jsonl"),
                           timeout=60)  # fmt: skip
        assert "Traceback" not in result.stderr, result.stderr
        frames = (
            len((tmp_path / "d.jsonl").read_text().splitlines()) if result.returncode == 0 else 0
        )
        if result.returncode == 0:
            assert frames > 0, f"{path.name}: exit 0 without a frame"
        else:
            assert result.returncode == 2 and result.stderr.count("edgewatch: error:") == 1
