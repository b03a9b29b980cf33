"""What every command shares: reading the config, stopping on signals."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from edgewatch.config import Config, load_config

log = logging.getLogger("edgewatch")


def config_of(args: argparse.Namespace) -> Config:
    """The config file given with --config, or the defaults."""
    return load_config(args.config) if getattr(args, "config", None) else Config()


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM: long-running commands finish their work in
    flight and exit 0."""
    stop = threading.Event()

    def request_stop(signum, _frame):
        log.info("%s received; finishing the work in flight", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stop
