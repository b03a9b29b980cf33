"""`edgewatch bench [pipeline|tracking|accuracy|quality|ingest|influx|chaos|fuzz|gpu|web]`."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parsers(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser(
        "bench",
        help="measure the pipeline against a naive loop; bench ingest: MQTT -> InfluxDB; "
        "bench influx: writes into InfluxDB and forward; bench chaos: the whole stack under "
        "kills, audited for loss; bench accuracy: int8 and motion gating against the full "
        "detector on the footage; bench quality: IDs and alarms against the people counted "
        "by eye; bench fuzz: strangers' bytes into every input; bench gpu: 1080p cameras "
        "through NVDEC and the GPU detector; bench web: the dashboard's events API and the "
        "CPU of a watching browser",
    )
    bench.add_argument(
        "what",
        nargs="?",
        choices=[
            "pipeline",
            "tracking",
            "accuracy",
            "quality",
            "ingest",
            "influx",
            "chaos",
            "fuzz",
            "gpu",
            "web",
        ],
        default="pipeline",
    )
    bench.add_argument("--messages", type=int, default=3000, help="ingest: messages to send")
    bench.add_argument("--objects", type=int, default=5, help="ingest, influx: objects per message")
    bench.add_argument(
        "--points", type=int, default=200_000, help="influx: points to write per path"
    )
    bench.add_argument(
        "--frames", type=int, default=0, help="frames of the clip to use (default: all)"
    )
    bench.add_argument("--source", default="sample", help="video file to use (default: sample)")
    bench.add_argument(
        "--cameras",
        type=int,
        metavar="N",
        help="pipeline: the most live cameras to try; finds how many keep up, with motion "
        "gating and without",
    )
    bench.add_argument(
        "--detect-fps", type=float, default=5, help="--cameras: detections a second (5)"
    )
    bench.add_argument("--minutes", type=float, default=10, help="chaos: how long (10)")
    bench.add_argument("--seed", type=int, default=1, help="chaos: the schedule's seed (1)")
    bench.add_argument("--cases", type=int, default=10_000, help="fuzz: cases per property")
    bench.add_argument("--videos", type=int, default=60, help="fuzz: damaged video files")
    bench.add_argument("--streams", help="gpu: stream counts to try at 30 fps, e.g. 96,128,160 (8)")
    bench.add_argument("--seconds", type=float, default=20, help="gpu: seconds per run (20)")
    bench.add_argument("--events", type=int, default=10_000, help="web: events in the store")
    bench.add_argument("--clients", type=int, default=4, help="web: concurrent API clients (4)")
    bench.add_argument(
        "--no-viewer", action="store_true", help="web: the API only, not the watching browser"
    )
    bench.add_argument(
        "--processes", type=int, help="gpu: shard processes (default: from streams and cores)"
    )
    bench.add_argument(
        "--compare-settings", action="store_true",
        help="gpu: also run the engine with CUDA's spinning waits and Python's 5 ms GIL switch",
    )  # fmt: skip
    bench.add_argument(
        "--in-phase", action="store_true",
        help="gpu: paced copies all capture at one instant (the worst case), not at moments "
        "spread over the frame period as cameras on their own clocks do",
    )  # fmt: skip
    bench.add_argument("--model-path", help="gpu: an ONNX build of the SSD instead of the cache's")
    bench.add_argument("--json", type=Path, help="also write the figures as JSON here")
    bench.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "tracking":
        from edgewatch.bench.tracking import print_tracking_bench

        return print_tracking_bench(args)
    if args.what == "accuracy":
        from edgewatch.bench.accuracy import print_accuracy_bench

        return print_accuracy_bench(args)
    if args.what == "quality":
        from edgewatch.bench.quality import print_quality_bench

        return print_quality_bench(args)
    if args.what == "influx":
        from edgewatch.bench.influx import print_influx_bench

        return print_influx_bench(args)
    if args.what == "fuzz":
        from edgewatch.bench.fuzz import print_fuzz_bench

        return print_fuzz_bench(args)
    if args.what == "chaos":
        from edgewatch.bench.chaos import print_chaos_bench

        return print_chaos_bench(args)
    if args.what == "gpu":
        from edgewatch.bench.gpu import print_gpu

        return print_gpu(args)
    if args.what == "web":
        from edgewatch.bench.web import print_web_bench

        return print_web_bench(args)
    if args.what == "ingest":
        from edgewatch.bench.ingest import print_ingest_bench

        return print_ingest_bench(args)
    if args.cameras:
        from edgewatch.bench.cameras import print_cameras_bench

        return print_cameras_bench(args)
    from edgewatch.bench.pipeline import run_bench

    return run_bench(args)
