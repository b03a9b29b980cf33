"""Points/s into a real InfluxDB, three ways, on the same points.

`bench_writer` compares the naive way (one HTTP POST per frame, as a script would),
`InfluxWriter` alone (batched, what ingest uses), and the pipeline's direct output (the
spool's `DurableQueue.append_lines` + `SpoolFeeder` + the same writer: every point on
disk first). The caller brings the InfluxDB (`edgewatch.bench.localservers.Influxd` will
do); each path writes into a fresh database of its own, dropped again at the end.
"""

from __future__ import annotations

import http.client
import random
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

from edgewatch.clients.durable_queue import DurableQueue
from edgewatch.clients.influx.config import InfluxConfig
from edgewatch.clients.influx.line_protocol import detection_points
from edgewatch.clients.influx.query import InfluxQL
from edgewatch.clients.influx.spooled import SpoolFeeder
from edgewatch.clients.influx.writer import InfluxWriter, WriteResult

MEASUREMENT = InfluxConfig().measurement
BASE_NS = 1_700_000_000 * 10**9
CLOSE_S = 300.0  # the final flush: long enough never to give points up
NAIVE_FRAMES = 2000  # one request per frame is slow: a sample is enough for its rate


def bench_writer(
    influx_url: str, points: int = 200_000, group: int = 5, *, batch_size: int | None = None
) -> dict:
    """Points/s of (a) the writer alone and (b) spool + feeder + writer, each timed from
    the first point handed over until InfluxDB confirmed the last; ``group`` points per
    write (one reported frame's objects). ``batch_size``: default that of `InfluxConfig`."""
    groups = _groups(points // group, group)
    total = len(groups) * group
    batch_size = batch_size or InfluxConfig().batch_size
    results = {"points": total, "group": group, "batch_size": batch_size}
    client = InfluxQL(InfluxConfig(url=influx_url))
    with tempfile.TemporaryDirectory(prefix="edgewatch-influx-bench-") as folder:
        paths = (("naive", _one_post_per_frame), ("writer", _writer_alone),
                 ("spool", _through_spool))  # fmt: skip
        for name, run in paths:
            database = f"edgewatch_bench_{name}_{uuid.uuid4().hex[:8]}"
            client.execute(f'CREATE DATABASE "{database}"')
            try:
                config = InfluxConfig(url=influx_url, database=database, batch_size=batch_size)
                used = groups[:NAIVE_FRAMES] if name == "naive" else groups
                results[name] = run(config, used, Path(folder))
                stored, sent = _count(client, database), sum(len(g) for g in used)
                if stored != sent:
                    raise RuntimeError(f"{name}: InfluxDB holds {stored} of {sent} points")
            finally:
                client.execute(f'DROP DATABASE "{database}"')
    results["spool_cost"] = round(
        1 - results["spool"]["points_per_s"] / results["writer"]["points_per_s"], 3
    )
    return results


def _groups(count: int, objects: int) -> list[list[str]]:
    """The points of ``count`` frames, as the InfluxDB output makes them, with values that
    vary as real boxes do (constant values would flatter InfluxDB's parsing and storage)."""
    rng = random.Random(11)
    groups = []
    for i in range(count):
        message = {
            "camera": "bench",
            "timestamp": (BASE_NS + i * 100_000_000) / 1e9,  # 10 frames/s
            "detection_frame_number": i,
            "total_num_obj": objects,
            "inference_results": [
                {
                    "classID": rng.choice((0, 2)),
                    "label": rng.choice(("person", "car")),
                    "confidence": round(rng.uniform(0.3, 1.0), 4),
                    "coor_left": round(rng.uniform(0, 700), 1),
                    "coor_top": round(rng.uniform(0, 500), 1),
                    "box_width": round(rng.uniform(20, 200), 1),
                    "box_height": round(rng.uniform(40, 300), 1),
                    "objectID": rng.randrange(1, 500),
                    "unique_com_id": f"OBJ{k + 1}",
                }
                for k in range(objects)
            ],
        }
        groups.append(
            detection_points(
                message, topic="edgewatch/bench/inference", host="bench", measurement=MEASUREMENT
            )  # fmt: skip
        )
    return groups


def _one_post_per_frame(config: InfluxConfig, groups: list[list[str]], _folder: Path) -> dict:
    parts = urllib.parse.urlsplit(config.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    path = f"/write?db={urllib.parse.quote(config.database)}&precision=ns"
    started = time.perf_counter()
    for lines in groups:
        connection.request("POST", path, "\n".join(lines).encode())
        response = connection.getresponse()
        response.read()
        if response.status != 204:
            raise RuntimeError(f"naive: HTTP {response.status}")
    elapsed = time.perf_counter() - started
    connection.close()
    return _figures(groups, elapsed)


def write_all(config: InfluxConfig, groups: list[list[str]]) -> None:
    """Every group through a fresh `InfluxWriter`, returning once InfluxDB confirmed all;
    close() sends the last, partial batch without waiting flush_interval_s."""
    confirmed = 0

    def on_done(_result: WriteResult) -> None:
        nonlocal confirmed
        confirmed += 1

    writer = InfluxWriter(config).start()
    for lines in groups:
        while not writer.write(lines, on_done, wait_s=1.0):
            pass
    writer.close(CLOSE_S)
    if confirmed != len(groups):
        raise RuntimeError(f"writer: {confirmed} of {len(groups)} groups confirmed")


def _writer_alone(config: InfluxConfig, groups: list[list[str]], _folder: Path) -> dict:
    started = time.perf_counter()
    write_all(config, groups)
    return _figures(groups, time.perf_counter() - started)


def _through_spool(config: InfluxConfig, groups: list[list[str]], folder: Path) -> dict:
    points = sum(len(lines) for lines in groups)
    spool = DurableQueue(
        folder / f"{config.database}.sqlite3", points, what="InfluxDB spool", setting="bench"
    )
    feeder = SpoolFeeder(spool, InfluxWriter(config), batch_points=config.batch_size).start()
    started = time.perf_counter()
    for lines in groups:
        spool.append_lines(lines)
        feeder.wake()
    appended = time.perf_counter() - started
    feeder.close(CLOSE_S)  # hands over the rest, then as the writer alone
    elapsed = time.perf_counter() - started
    left = spool.depth()
    spool.close()
    if left or feeder.written != points:
        raise RuntimeError(f"spool: {feeder.written} of {points} points confirmed, {left} left")
    return {**_figures(groups, elapsed), "append_only_points_per_s": round(points / appended)}


def _figures(groups: list[list[str]], elapsed: float) -> dict:
    points = sum(len(lines) for lines in groups)
    return {"seconds": round(elapsed, 3), "points_per_s": round(points / elapsed)}


def _count(client: InfluxQL, database: str) -> int:
    series = client.select(f"SELECT count(confidence) FROM {MEASUREMENT}", db=database)
    return series[0].values[0][1] if series else 0
