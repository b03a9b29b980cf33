"""The back-office commands: `ingest`, `forward`, `influx setup|task|dashboard`,
`telegraf-config`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgewatch.cli.common import config_of, stop_on_signals
from edgewatch.errors import ConfigError


def add_parsers(commands: argparse._SubParsersAction) -> None:
    ingest = commands.add_parser(
        "ingest", help="MQTT detection messages into InfluxDB, as Telegraf would"
    )
    ingest.add_argument("--config", type=Path, help="YAML config (mqtt, influx, ingest)")
    ingest.add_argument(
        "--dead-letters",
        type=int,
        nargs="?",
        const=20,
        metavar="N",
        help="list the newest N (20) messages ingest could not write, and why; then exit",
    )
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
    dashboard.add_argument(
        "--bucket",
        help="the InfluxDB 2.x bucket the queries read (default influx.bucket; for a 1.x "
        "database that InfluxDB 2.x serves through a DBRP mapping: database/retention_policy)",
    )
    dashboard.set_defaults(func=cmd_influx_dashboard)

    telegraf = commands.add_parser(
        "telegraf-config", help="print a telegraf.conf equivalent to `edgewatch ingest`"
    )
    telegraf.add_argument("--config", type=Path, help="YAML config to generate it from")
    telegraf.set_defaults(func=cmd_telegraf_config)


def cmd_ingest(args: argparse.Namespace) -> int:
    config = config_of(args)
    if args.dead_letters is not None:
        return print_dead_letters(config.ingest.deadletter_path, args.dead_letters)
    from edgewatch.services.ingest import run_ingest

    run_ingest(config, stop_on_signals())
    return 0


def print_dead_letters(path: Path, limit: int) -> int:
    import time

    from edgewatch.services.deadletters import DeadLetters

    if not path.exists():
        print(f"no dead letters ({path} does not exist)")
        return 0
    store = DeadLetters(path, max_messages=10**9)
    try:
        letters = store.latest(limit)
        print(f"{store.count()} dead letter(s) in {path}, newest first:")
    finally:
        store.close()
    for letter in letters:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(letter.received))
        preview = letter.payload[:120].decode("utf-8", "backslashreplace")
        print(f"{when}  {letter.topic}  {letter.size} bytes: {letter.reason}\n    {preview!r}")
    return 0


def cmd_forward(args: argparse.Namespace) -> int:
    from edgewatch.services.forward import run_forward

    return run_forward(config_of(args), stop_on_signals(), once=args.once, timeout_s=args.timeout)


def cmd_influx_setup(args: argparse.Namespace) -> int:
    from edgewatch.services.influx_setup import setup_influx

    target = "cloud" if args.cloud else "edge"
    for said in setup_influx(
        config_of(args), continuous_queries=args.continuous_queries, target=target
    ):
        print(said)
    return 0


def cmd_influx_task(args: argparse.Namespace) -> int:
    from edgewatch.services.flux import flux_task

    print(flux_task(config_of(args)), end="")
    return 0


def cmd_influx_dashboard(args: argparse.Namespace) -> int:
    from edgewatch.services.dashboard import dashboard_template

    config = config_of(args)
    if args.bucket:
        config = config.model_copy(
            update={"influx": config.influx.model_copy(update={"bucket": args.bucket})}
        )
    elif config.influx.api != "v2":
        raise ConfigError(
            "the dashboard is an InfluxDB 2.x template (Flux queries, `influx apply`), and "
            "influx.api is v1: InfluxDB 1.x cannot import it",
            "for an InfluxDB 2.x edge set influx.api: v2 with influx.org and influx.bucket; "
            "for a 2.x serving this 1.x database, pass --bucket DATABASE/RETENTION_POLICY",
        )
    print(json.dumps(dashboard_template(config), indent=2))
    return 0


def cmd_telegraf_config(args: argparse.Namespace) -> int:
    from edgewatch.services.telegraf import telegraf_config

    source = str(args.config) if args.config else "the defaults"
    print(telegraf_config(config_of(args), source), end="")
    return 0
