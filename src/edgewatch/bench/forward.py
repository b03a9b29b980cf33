"""How long `edgewatch forward` takes for one hour of raw data, on two real influxd.

The hour the issue names: 4 cameras, one detection message a second each, 5 objects per
message (72,000 points), plus system statistics every 5 s. They are written to the edge
with the pipeline's `InfluxWriter`, then one
forwarding pass is timed over exactly that hour (6 windows of 10 minutes). Beside it, the
baseline a forwarder without downsampling would pay: reading the raw hour back out of
the edge (`SELECT *`), before even sending 72,000 points to the cloud.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from edgewatch.bench.influx_writes import write_all
from edgewatch.bench.localservers import Influxd
from edgewatch.clients.influx.config import InfluxConfig
from edgewatch.clients.influx.line_protocol import line
from edgewatch.clients.influx.query import InfluxQL
from edgewatch.config import config_from_dict
from edgewatch.services.forward import Forwarder

NS = 1_000_000_000
EDGE_DB, CLOUD_DB = "forward_bench_edge", "forward_bench_cloud"
MEASUREMENT = InfluxConfig().measurement


def raw_hour(hour_start_s: int, *, cameras: int, objects: int, seed: int = 7) -> list[str]:
    """Detection points as `edgewatch ingest` or the direct output write them."""
    rng = random.Random(seed)
    lines = []
    for t in range(hour_start_s, hour_start_s + 3600):
        for c in range(cameras):
            camera = f"cam{c + 1}"
            ns = t * NS + c * 1000 + rng.randrange(0, NS // 2)
            for k in range(1, objects + 1):
                tags = {"host": "edge-box", "topic": f"edgewatch/{camera}/inference",
                        "obj": f"OBJ{k}", "camera": camera}  # fmt: skip
                fields = {
                    "classID": 0.0,
                    "label": "person",
                    "confidence": round(rng.uniform(0.3, 1.0), 4),
                    "coor_left": round(rng.uniform(0, 700), 1),
                    "coor_top": round(rng.uniform(0, 500), 1),
                    "box_width": round(rng.uniform(20, 200), 1),
                    "box_height": round(rng.uniform(40, 300), 1),
                    "objectID": float(rng.randrange(1, 500)),
                    "detection_frame_number": float(t - hour_start_s),
                    "total_num_obj": float(objects),
                }
                lines.append(line(MEASUREMENT, tags, fields, ns))
        if t % 5 == 0:
            fields = {"cpu_percent": round(rng.uniform(5, 90), 1), "mem_percent": 41.0}
            tags = {"host": "edge-box", "topic": "edgewatch/edge-box/system"}
            lines.append(line("edge_system", tags, fields, t * NS))
    return lines


def run_forward_bench(*, cameras: int = 4, objects: int = 5) -> dict:

    with (
        tempfile.TemporaryDirectory(prefix="edgewatch-forward-bench-") as folder,
        ExitStack() as stack,
    ):
        edge = stack.enter_context(Influxd(Path(folder) / "edge"))
        cloud = stack.enter_context(Influxd(Path(folder) / "cloud"))
        edge.query(f"CREATE DATABASE {EDGE_DB}", post=True)
        cloud.query(f"CREATE DATABASE {CLOUD_DB}", post=True)
        config = config_from_dict(
            {
                "influx": {"url": edge.url, "database": EDGE_DB},
                "cloud": {"url": cloud.url, "database": CLOUD_DB},
                "forward": {"every": "1h", "window": "10m", "delay": "1m",
                            "max_catch_up": "2h",
                            "checkpoint_path": str(Path(folder) / "checkpoint.json")},
            }
        )  # fmt: skip
        hour_start = int(time.time()) // 3600 * 3600 - 3600  # the last whole hour
        lines = raw_hour(hour_start, cameras=cameras, objects=objects)

        # The writer, as the pipeline's direct output and ingest use it.
        group = cameras * objects  # one second of messages per write() call
        groups = [lines[i : i + group] for i in range(0, len(lines), group)]
        started = time.perf_counter()
        write_all(config.influx, groups)
        write_s = time.perf_counter() - started

        # Baseline: what shipping the raw hour would have to read first.
        edge_ql = InfluxQL(config.influx)
        started = time.perf_counter()
        raw_rows = sum(
            len(series.values)
            for series in edge_ql.select(
                f"SELECT * FROM {MEASUREMENT} WHERE time >= {hour_start * NS} "
                f"AND time < {(hour_start + 3600) * NS}",
                db=EDGE_DB,
            )
        )
        raw_read_s = time.perf_counter() - started

        # ... and send to the cloud (the same writer, a database of its own).
        cloud.query("CREATE DATABASE raw_copy", post=True)
        raw_cloud = config.cloud.model_copy(update={"database": "raw_copy"})
        started = time.perf_counter()
        write_all(raw_cloud, groups)
        raw_write_s = time.perf_counter() - started

        forwarder = Forwarder(config)
        forwarder.check()
        forwarder.checkpoint.save(hour_start * NS)  # exactly that hour's 6 windows are due
        stop = threading.Event()
        started = time.perf_counter()
        result = forwarder.run_pass(stop, now_s=hour_start + 3600 + 61)
        forward_s = time.perf_counter() - started
        forwarder.close()
        in_cloud = sum(
            len(s.get("values", []))
            for s in cloud.query(f"SELECT * FROM {MEASUREMENT} GROUP BY *", CLOUD_DB)["results"][
                0
            ].get("series", [])
        )
        return {
            "cameras": cameras,
            "objects_per_message": objects,
            "raw_points": len(lines),
            "writer_seconds": round(write_s, 3),
            "forward_seconds": round(forward_s, 3),
            "forward_windows": result.windows,
            "forward_points": result.points,
            "cloud_detection_points": in_cloud,
            "baseline_raw_read_seconds": round(raw_read_s, 3),
            "baseline_raw_write_seconds": round(raw_write_s, 3),
            "baseline_raw_rows": raw_rows,
        }


def print_forward_bench(figures: dict) -> None:
    f = figures
    print(f"forward: one hour of raw data, {f['cameras']} cameras x 1 message/s x "
          f"{f['objects_per_message']} objects = {f['raw_points']:,} points")  # fmt: skip
    print(f"  loaded into the edge by InfluxWriter in {f['writer_seconds']} s "
          f"({f['raw_points'] / f['writer_seconds']:,.0f} points/s)")  # fmt: skip
    print(f"  forward pass: {f['forward_seconds']} s for {f['forward_windows']} windows -> "
          f"{f['forward_points']} points to the cloud "
          f"({f['cloud_detection_points']} detection summaries)")  # fmt: skip
    raw_s = f["baseline_raw_read_seconds"] + f["baseline_raw_write_seconds"]
    print(f"  baseline, shipping the raw hour instead: read {f['baseline_raw_read_seconds']} s "
          f"({f['baseline_raw_rows']:,} rows) + write {f['baseline_raw_write_seconds']} s = "
          f"{raw_s:.3f} s, and {f['raw_points']:,} points in the cloud")  # fmt: skip
