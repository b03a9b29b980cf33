"""`edgewatch run`, `edgewatch detect` and `edgewatch config check`."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edgewatch.cli.common import config_of, log, stop_on_signals
from edgewatch.config import Config, ConfigValidationError, config_from_dict, load_config
from edgewatch.errors import EdgewatchError, WorkerCrashed
from edgewatch.redact import redact

if TYPE_CHECKING:
    from edgewatch.pipeline.pipeline import Pipeline
    from edgewatch.web.server import WebServer


def add_parsers(commands: argparse._SubParsersAction) -> None:
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
    web = run.add_mutually_exclusive_group()
    web.add_argument("--web-port", type=int, metavar="PORT", help="web dashboard port (8971)")
    web.add_argument("--no-web", action="store_true", help="do not serve the web dashboard")
    run.add_argument(
        "--mqtt",
        metavar="HOST[:PORT]",
        help="publish detections to this MQTT broker (see the mqtt and outputs.mqtt sections)",
    )
    run.set_defaults(func=cmd_run)

    detect = commands.add_parser("detect", help="detect objects in images, print JSON")
    detect.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    detect.add_argument("--config", type=Path, help="YAML config whose detector to use")
    detect.set_defaults(func=cmd_detect)

    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser(
        "check", help="validate a config file: every problem a run would stop on, in one pass"
    )
    check.add_argument("file", type=Path, nargs="?", help="the config file (or --config)")
    check.add_argument("--config", type=Path, help="the config file")
    check.set_defaults(func=cmd_config_check)


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
    if args.no_web or args.web_port is not None:
        web = data.setdefault("web", {})
        if args.no_web:
            web["enabled"] = False
        if args.web_port is not None:
            web["port"] = args.web_port
    if args.mqtt:
        host, _, port = args.mqtt.rpartition(":") if ":" in args.mqtt else (args.mqtt, "", "")
        outputs.setdefault("mqtt", {})["enabled"] = True
        broker = data.setdefault("mqtt", {})
        broker["host"] = host or args.mqtt
        if port:
            broker["port"] = port
    return config_from_dict(data, str(args.config) if args.config else "the command line")


def cmd_run(args: argparse.Namespace) -> int:
    from edgewatch.pipeline import build_pipeline

    config = config_for_run(args)
    logging.getLogger().setLevel(
        args.log_level.upper() if args.log_level else config.log_level.upper()
    )
    pipeline = build_pipeline(config, stop=stop_on_signals())
    server = start_web(config, pipeline)
    try:
        summary = pipeline.run()
    finally:
        if server is not None:
            server.stop()
    stages = summary.stats["stages_ms"]
    log.info(
        "done: %s frames in %.1f s (%.1f frames/s); per frame: %s",
        sum(summary.frames.values()),
        summary.elapsed_s,
        summary.fps,
        ", ".join(f"{k} {v:.1f} ms" for k, v in stages.items()),
    )
    if summary.crashed:
        raise WorkerCrashed(summary.crashed)
    for name, what in summary.output_errors.items():
        print(f"edgewatch: error: output {name} is incomplete: {redact(what)}", file=sys.stderr)
    if summary.output_errors or (summary.source_errors and not summary.frames):
        return 1
    return 0


def start_web(config: Config, pipeline: Pipeline) -> WebServer | None:
    """The dashboard over this run (config.web.enabled), its pictures from the pipeline's
    live view; if it cannot start, the opened pipeline is closed and the error raised."""
    if not config.web.enabled:
        return None
    from edgewatch.pipeline.outputs import live_view
    from edgewatch.web.server import WebServer

    try:
        server = WebServer(config, live=live_view(pipeline))
        server.start()
    except BaseException:
        pipeline.stop.set()
        for reader in pipeline.readers:
            reader.source.close()
        for sink in pipeline.sinks:
            try:
                sink.close()
            except Exception:  # the start's error is the one to report
                log.debug("closing output %s failed", sink.name, exc_info=True)
        raise
    return server


def cmd_detect(args: argparse.Namespace) -> int:
    import cv2

    from edgewatch.detect import create_detector
    from edgewatch.outputs.message import build_message
    from edgewatch.types import Frame

    config = config_of(args)
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
    from edgewatch.pipeline.preflight import preflight

    path = args.config or args.file
    if path is None:
        raise EdgewatchError("config check: which file?", "edgewatch config check --config FILE")
    try:
        config = load_config(path)
        problems = preflight(config)
    except ConfigValidationError as error:
        problems = error.problems
    if problems:
        print(f"{path}: {len(problems)} problem(s)")
        for problem in problems:
            print(f"  {redact(problem)}")
        return 1
    cameras = ", ".join(f"{c.name} ({c.source})" for c in config.cameras)
    print(redact(f"{path}: OK — {len(config.cameras)} camera(s): {cameras}"))
    return 0
