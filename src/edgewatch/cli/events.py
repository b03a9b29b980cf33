"""`edgewatch events`: list events from the store on this box."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from edgewatch import durations
from edgewatch.cli.common import config_of
from edgewatch.errors import ConfigError
from edgewatch.events.store import EventStore


def parse_duration(text: str) -> float:
    """--since: '30s', '15m', '1h', '2d' (or plain seconds) -> seconds."""
    try:
        return durations.parse_duration(text)
    except ValueError:
        raise ConfigError(f"--since {text!r} is not a duration", "e.g. 30s, 15m, 1h, 2d") from None


def add_parsers(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "events", help="list security events: entered/left, zones, lines, loitering"
    )
    parser.set_defaults(func=list_events)
    parser.add_argument("--config", type=Path, help="YAML config (events.store_path)")
    parser.add_argument("--store", type=Path, help="event store file (overrides the config)")
    parser.add_argument("--since", default="1d", help="how far back: 30s, 15m, 1h, 2d (1d)")
    parser.add_argument("--camera", help="only this camera")
    parser.add_argument("--label", help="only this label, e.g. person")
    parser.add_argument("--zone", help="only this zone or line")
    parser.add_argument("--kind", help="only this kind, e.g. line_crossed")
    parser.add_argument("--limit", type=int, default=100, help="most rows shown (100)")


def _store_path(args: argparse.Namespace) -> Path:
    if args.store:
        return Path(args.store)
    return config_of(args).events.store_path


def _fmt_time(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def list_events(args: argparse.Namespace) -> int:
    path = _store_path(args)
    if not path.exists():
        raise ConfigError(f"no event store at {path}", "run edgewatch with events enabled first")
    store = EventStore(path)
    try:
        events = store.query(
            since_s=parse_duration(args.since) if args.since else None,
            camera=args.camera,
            label=args.label,
            zone=args.zone,
            kind=args.kind,
            limit=args.limit,
        )
    finally:
        store.close()
    header = (
        "time",
        "camera",
        "kind",
        "zone/line",
        "label",
        "track",
        "duration",
        "conf",
        "snapshot",
    )
    rows = [header]
    for e in events:
        duration = "ongoing" if e.end is None else f"{e.end - e.start:.1f}s"
        zone = e.zone or "-"
        if e.direction:
            zone += f" ({e.direction})"
        rows.append(
            (
                _fmt_time(e.start),
                e.camera,
                e.kind,
                zone,
                e.label,
                str(e.track_id),
                duration,
                f"{e.best_confidence:.2f}",
                e.snapshot or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    if not events:
        print("(no events)")
    return 0
