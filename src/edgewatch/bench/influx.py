"""`edgewatch bench influx`: points/s into a real InfluxDB (`influx_writes`), and
`forward`'s time for an hour of raw data (`forward`), each on influxd started here."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from edgewatch.bench.forward import print_forward_bench, run_forward_bench
from edgewatch.bench.influx_writes import bench_writer
from edgewatch.bench.localservers import Influxd
from edgewatch.machine import describe_machine


def print_influx_bench(args) -> int:
    """Starts influxd on loopback (Debian's 1.6.7), runs both benchmarks, prints them."""
    print(describe_machine())
    with (
        tempfile.TemporaryDirectory(prefix="edgewatch-bench-") as folder,
        Influxd(Path(folder) / "influxd") as influx,
    ):
        writer = bench_writer(influx.url, points=args.points, group=args.objects)
    forward = run_forward_bench(cameras=4, objects=args.objects)
    n, w, s = writer["naive"], writer["writer"], writer["spool"]
    print(f"influx writes: {writer['points']:,} points, {writer['group']} per frame, "
          f"batches of {writer['batch_size']}")  # fmt: skip
    print(f"  naive, one HTTP POST per frame:  {n['points_per_s']:>9,} points/s")
    print(f"  InfluxWriter (ingest):           {w['points_per_s']:>9,} points/s")
    print(f"  direct output, spool + writer:   {s['points_per_s']:>9,} points/s "
          f"(appends alone {s['append_only_points_per_s']:,}/s)")  # fmt: skip
    print_forward_bench(forward)
    if args.json:
        Path(args.json).write_text(json.dumps({"writer": writer, "forward": forward}, indent=2))
    return 0
