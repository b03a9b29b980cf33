"""`edgewatch web`: the dashboard alone, over the box's stores (events, history, the
InfluxDB), with no cameras running; `edgewatch run` serves the same pages beside its
pipeline."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from edgewatch.cli.common import config_of, stop_on_signals


def add_parsers(commands: argparse._SubParsersAction) -> None:
    web = commands.add_parser(
        "web", help="serve the web dashboard over the stored events and history (no cameras)"
    )
    web.add_argument("--config", type=Path, help="YAML config (web, events, influx)")
    web.add_argument("--port", type=int, metavar="PORT", help="port instead of web.port (8971)")
    web.set_defaults(func=cmd_web)


def cmd_web(args: argparse.Namespace) -> int:
    from edgewatch.web.server import WebServer

    config = config_of(args)
    logging.getLogger().setLevel(
        args.log_level.upper() if args.log_level else config.log_level.upper()
    )
    if args.port is not None:
        web = config.web.model_validate({**config.web.model_dump(), "port": args.port})
        config = config.model_copy(update={"web": web})
    stop = stop_on_signals()
    server = WebServer(config, live=None)  # served even with web.enabled off: asked for
    server.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
    return 0
