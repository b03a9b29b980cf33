"""Sanity bounds on the API's speed, far from its target so that a loaded machine does not
fail them: the target (the events list over 10,000 episodes, p95 under 50 ms) is measured
by `edgewatch bench web`, not here. These catch a tenfold slip (a lost index, a sort of
every row) and the delayed-ACK stall."""

from __future__ import annotations

import time

from edgewatch.bench.web import QUERIES, fill_store, fresh


def test_the_events_list_over_10000_events_stays_fast(store, logged_in):
    fill_store(store, 10_000, now=time.time())
    for path in QUERIES.values():
        assert len(logged_in.get(path).json()["events"]) > 0, path
    latencies = []
    for n in range(40):
        for path in QUERIES.values():
            started = time.perf_counter()
            answer = logged_in.get(fresh(path, n))  # not from the answer cache
            latencies.append(time.perf_counter() - started)
            assert answer.status == 200
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    assert p95 < 0.5, (
        f"p95 {1000 * p95:.1f} ms, median {1000 * latencies[len(latencies) // 2]:.1f} ms"
    )
    facets = logged_in.get("/api/events/facets").json()
    assert facets["cameras"][:3] == ["driveway", "garden", "street"]
    counts = logged_in.get("/api/counts?since_s=604800&bucket=day").json()
    assert sum(t["count"] for t in counts["totals"]["lines"]) > 3000


def test_small_answers_do_not_wait_for_delayed_acks(logged_in):
    """Regression: the server's socket was made without naming TCP, so asyncio left
    Nagle's algorithm on and every answer (headers and body written apart) waited ~40 ms
    for the client's delayed ACK."""
    latencies = []
    for _ in range(30):
        started = time.perf_counter()
        assert logged_in.get("/api/session").status == 200
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    assert latencies[len(latencies) // 2] < 0.030, f"median {1000 * latencies[15]:.1f} ms"
