"""The ingest benchmark starts its own mosquitto and influxd and reports real figures."""

import pytest

from edgewatch.bench.ingest import run_ingest_bench


@pytest.mark.timeout(120)
def test_bench_reports_latency_and_throughput_with_nothing_lost():
    result = run_ingest_bench(messages=200, objects=5, latency_samples=3)
    assert result["latency_ms"]["samples"] == 3
    assert 0 < result["latency_ms"]["median"] < 5000
    assert result["throughput"]["messages_per_s"] > 0
    assert result["counters"]["points_written"] == 200 * 5 + 3
    assert result["counters"].get("malformed", 0) == 0
