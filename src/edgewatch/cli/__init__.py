"""The `edgewatch` command line: argument parsing and printing; the work is done below."""

from __future__ import annotations

import argparse
import logging
import sys

from edgewatch import __version__
from edgewatch.cli import bench, events, run, services, web
from edgewatch.errors import EdgewatchError, WorkerCrashed
from edgewatch.redact import RedactingFormatter, redact

#: The command families, in the order `edgewatch --help` lists them.
COMMAND_MODULES = (run, web, events, services, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgewatch", description="Vision-AI camera watcher for the edge."
    )
    parser.add_argument("--version", action="version", version=f"edgewatch {__version__}")
    _add_log_level(parser, default=None)
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parsers(commands)
    # Every command takes --log-level too, after its name: `edgewatch run --log-level debug`.
    # SUPPRESS: given before the command, a subcommand's default must not overwrite it.
    for sub in _all_subparsers(parser):
        _add_log_level(sub, default=argparse.SUPPRESS)
    return parser


def _add_log_level(parser: argparse.ArgumentParser, *, default) -> None:
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default=default,
        help="least important log messages shown (default: from config, info)",
    )


def _all_subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += [sub, *_all_subparsers(sub)]
    return found


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=(args.log_level or "info").upper(), handlers=[handler], force=True)
    try:
        return args.func(args)
    except WorkerCrashed as error:
        print(f"edgewatch: error: {redact(str(error))}", file=sys.stderr)
        return 1
    except EdgewatchError as error:
        print(f"edgewatch: error: {redact(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
