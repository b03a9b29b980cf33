"""The `edgewatch` command line: argument parsing and printing; the work is done below."""

from __future__ import annotations

import argparse
import logging
import sys

from edgewatch import __version__
from edgewatch.cli import bench, events, run, services
from edgewatch.errors import EdgewatchError, WorkerCrashed

#: The command families, in the order `edgewatch --help` lists them.
COMMAND_MODULES = (run, events, services, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgewatch", description="Vision-AI camera watcher for the edge."
    )
    parser.add_argument("--version", action="version", version=f"edgewatch {__version__}")
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="least important log messages shown (default: from config, info)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=(args.log_level or "info").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except WorkerCrashed as error:
        print(f"edgewatch: error: {error}", file=sys.stderr)
        return 1
    except EdgewatchError as error:
        print(f"edgewatch: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
