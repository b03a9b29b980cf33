"""The `edgewatch` command line."""

from __future__ import annotations

import argparse
import json
import logging
import re
import signal
import sys
import threading
from pathlib import Path

from edgewatch import __version__
from edgewatch.config import Config, ConfigValidationError, config_from_dict, load_config
from edgewatch.errors import EdgewatchError

log = logging.getLogger("edgewatch")


def _camera_name(uri: str, index: int, taken: set[str]) -> str:
    if uri == "sample":
        base = "sample"
    elif "://" in uri or uri.startswith("/dev/"):
        base = f"cam{index + 1}"
    else:
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(uri).stem).lstrip("._-")[:40] or "video"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def config_for_run(args: argparse.Namespace) -> Config:
    """The config file (or the defaults) with the command-line flags applied over it."""
    config = load_config(args.config) if args.config else Config()
    data = config.model_dump(mode="python", exclude_unset=True)
    if args.source:
        # Zones and lines belong to the config's cameras, which --source replaces.
        events = data.get("events")
        if isinstance(events, dict) and (events.get("zones") or events.get("lines")):
            log.warning("--source replaces the config's cameras: their zones and lines are off")
            events["zones"], events["lines"] = [], []
        taken: set[str] = set()
        data["cameras"] = [
            {"name": _camera_name(uri, i, taken), "source": uri}
            for i, uri in enumerate(args.source)
        ]
    else:
        data["cameras"] = [c.model_dump(exclude_unset=True) for c in config.cameras]
    if args.max_frames is not None:
        for camera in data["cameras"]:
            camera["max_frames"] = args.max_frames
    outputs = data.setdefault("outputs", {})
    if args.json_out:
        outputs.setdefault("jsonl", {})["path"] = args.json_out
    if args.record:
        outputs.setdefault("record", {})["path"] = args.record
    rtsp = outputs.setdefault("rtsp", {})
    if args.no_rtsp:
        rtsp["enabled"] = False
    if args.rtsp_port is not None:
        rtsp["port"] = args.rtsp_port
    if args.mqtt:
        host, _, port = args.mqtt.rpartition(":") if ":" in args.mqtt else (args.mqtt, "", "")
        mqtt = outputs.setdefault("mqtt", {})
        mqtt.update(enabled=True, host=host or args.mqtt)
        if port:
            mqtt["port"] = port
    return config_from_dict(data, str(args.config) if args.config else "the command line")


def cmd_run(args: argparse.Namespace) -> int:
    from edgewatch.pipeline import build_pipeline

    config = config_for_run(args)
    logging.getLogger().setLevel(
        args.log_level.upper() if args.log_level else config.log_level.upper()
    )
    pipeline = build_pipeline(config, stop=_stop_on_signals())
    summary = pipeline.run()
    stages = summary.stats["stages_ms"]
    log.info(
        "done: %s frames in %.1f s (%.1f frames/s); per frame: %s",
        sum(summary.frames.values()),
        summary.elapsed_s,
        summary.fps,
        ", ".join(f"{k} {v:.1f} ms" for k, v in stages.items()),
    )
    if summary.source_errors and not summary.frames:
        return 1
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    import cv2

    from edgewatch.detect import create_detector
    from edgewatch.outputs.message import build_message
    from edgewatch.types import Frame

    config = load_config(args.config) if args.config else Config()
    images = []
    for path in args.images:
        if not Path(path).is_file():
            raise EdgewatchError(f"image {path} does not exist", "check the path")
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise EdgewatchError(
                f"cannot read {path} as an image", "give a JPEG, PNG, BMP or TIFF file"
            )
        images.append((Path(path), image))
    detector = create_detector(config.detector)
    results = detector.detect([image for _, image in images])
    for (path, image), detections in zip(images, results, strict=True):
        frame = Frame(path.stem, 0, path.stat().st_mtime, image)
        message = {"image": str(path), **build_message(frame, detections)}
        print(json.dumps(message))
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigValidationError as error:
        print(f"{args.file}: {len(error.problems)} problem(s)")
        for problem in error.problems:
            print(f"  {problem}")
        return 1
    cameras = ", ".join(f"{c.name} ({c.source})" for c in config.cameras)
    print(f"{args.file}: OK — {len(config.cameras)} camera(s): {cameras}")
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def request_stop(signum, _frame):
        log.info("%s received; finishing the work in flight", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stop


def cmd_ingest(args: argparse.Namespace) -> int:
    from edgewatch.influx.ingest import run_ingest

    config = load_config(args.config) if args.config else Config()
    run_ingest(config, _stop_on_signals())
    return 0


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config) if args.config else Config()


def cmd_forward(args: argparse.Namespace) -> int:
    from edgewatch.influx.forward import run_forward

    return run_forward(_config(args), _stop_on_signals(), once=args.once, timeout_s=args.timeout)


def cmd_influx_setup(args: argparse.Namespace) -> int:
    from edgewatch.influx.setup import setup_influx

    target = "cloud" if args.cloud else "edge"
    for said in setup_influx(
        _config(args), continuous_queries=args.continuous_queries, target=target
    ):
        print(said)
    return 0


def cmd_influx_task(args: argparse.Namespace) -> int:
    from edgewatch.influx.flux import flux_task

    print(flux_task(_config(args)), end="")
    return 0


def cmd_influx_dashboard(args: argparse.Namespace) -> int:
    from edgewatch.influx.dashboard import dashboard_template

    print(json.dumps(dashboard_template(_config(args)), indent=2))
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    from edgewatch.events.cli import list_events

    return list_events(args)


def cmd_telegraf_config(args: argparse.Namespace) -> int:
    from edgewatch.telegraf import telegraf_config

    config = load_config(args.config) if args.config else Config()
    print(telegraf_config(config, str(args.config) if args.config else "the defaults"), end="")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "tracking":
        from edgewatch.bench import print_tracking_bench

        return print_tracking_bench(args)
    if args.what == "influx":
        from edgewatch.influx.bench import print_influx_bench

        return print_influx_bench(args)
    if args.what == "ingest":
        from edgewatch.ingest_bench import print_ingest_bench

        return print_ingest_bench(args)
    from edgewatch.bench import run_bench

    return run_bench(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgewatch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"edgewatch {__version__}")
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="least important log messages shown (default: from config, info)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the pipeline (default: on the bundled clip)")
    run.add_argument("--config", type=Path, help="YAML config (see config.example.yaml)")
    run.add_argument(
        "--source",
        nargs="+",
        metavar="URI",
        help="cameras to watch instead of the config's: 'sample', a file, "
        "rtsp://..., http://..., /dev/videoN",
    )
    run.add_argument("--max-frames", type=int, metavar="N", help="stop each camera after N frames")
    run.add_argument(
        "--json-out",
        type=Path,
        metavar="PATH",
        help="write one JSON detection message per frame to PATH",
    )
    run.add_argument(
        "--record", type=Path, metavar="PATH", help="record the annotated video to PATH (.mp4)"
    )
    rtsp = run.add_mutually_exclusive_group()
    rtsp.add_argument("--rtsp-port", type=int, metavar="PORT", help="RTSP server port (8554)")
    rtsp.add_argument("--no-rtsp", action="store_true", help="do not serve RTSP")
    run.add_argument(
        "--mqtt",
        metavar="HOST[:PORT]",
        help="publish detections to this MQTT broker (see outputs.mqtt)",
    )
    run.set_defaults(func=cmd_run)

    detect = commands.add_parser("detect", help="detect objects in images, print JSON")
    detect.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    detect.add_argument("--config", type=Path, help="YAML config whose detector to use")
    detect.set_defaults(func=cmd_detect)

    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a config file")
    check.add_argument("file", type=Path)
    check.set_defaults(func=cmd_config_check)

    events = commands.add_parser(
        "events", help="list security events: entered/left, zones, lines, loitering"
    )
    from edgewatch.events.cli import add_arguments as add_events_arguments

    add_events_arguments(events)
    events.set_defaults(func=cmd_events)

    ingest = commands.add_parser(
        "ingest", help="MQTT detection messages into InfluxDB, as Telegraf would"
    )
    ingest.add_argument("--config", type=Path, help="YAML config (outputs.mqtt, influx, ingest)")
    ingest.set_defaults(func=cmd_ingest)

    forward = commands.add_parser(
        "forward",
        help="downsample the edge InfluxDB into the cloud one (a service; --once for cron)",
    )
    forward.add_argument("--config", type=Path, help="YAML config (influx, cloud, forward)")
    forward.add_argument(
        "--once", action="store_true", help="forward what is due, then exit (for cron)"
    )
    forward.add_argument(
        "--timeout",
        type=float,
        default=300,
        metavar="S",
        help="--once: give up (exit 1, nothing lost) when the cloud has not confirmed a "
        "chunk within S seconds (300)",
    )
    forward.set_defaults(func=cmd_forward)

    influx = commands.add_parser("influx", help="InfluxDB set-up, Flux task, dashboard")
    influx_commands = influx.add_subparsers(dest="influx_command", required=True)
    setup = influx_commands.add_parser(
        "setup", help="create the database and retention policy (1.x) or bucket (2.x)"
    )
    setup.add_argument("--config", type=Path, help="YAML config (influx, cloud, forward)")
    setup.add_argument("--cloud", action="store_true", help="set up the cloud instance instead")
    setup.add_argument(
        "--continuous-queries",
        action="store_true",
        help="1.x: also install continuous queries that downsample as `forward` does",
    )
    setup.set_defaults(func=cmd_influx_setup)
    task = influx_commands.add_parser(
        "task", help="print the InfluxDB 2 Flux task that forwards to the cloud"
    )
    task.add_argument("--config", type=Path, help="YAML config (influx, cloud, forward)")
    task.set_defaults(func=cmd_influx_task)
    dashboard = influx_commands.add_parser(
        "dashboard", help="print an importable InfluxDB 2 dashboard template (JSON)"
    )
    dashboard.add_argument("--config", type=Path, help="YAML config (influx)")
    dashboard.set_defaults(func=cmd_influx_dashboard)

    telegraf = commands.add_parser(
        "telegraf-config", help="print a telegraf.conf equivalent to `edgewatch ingest`"
    )
    telegraf.add_argument("--config", type=Path, help="YAML config to generate it from")
    telegraf.set_defaults(func=cmd_telegraf_config)

    bench = commands.add_parser(
        "bench",
        help="measure the pipeline against a naive loop; bench ingest: MQTT -> InfluxDB; "
        "bench influx: writes into InfluxDB and forward",
    )
    bench.add_argument(
        "what",
        nargs="?",
        choices=["pipeline", "tracking", "ingest", "influx"],
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
    bench.add_argument("--json", type=Path, help="also write the figures as JSON here")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=(args.log_level or "info").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except EdgewatchError as error:
        print(f"edgewatch: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
