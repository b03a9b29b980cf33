"""`edgewatch events`: the episodes in the store on this box, with what happened in each."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from edgewatch import durations
from edgewatch.cli.common import config_of
from edgewatch.errors import ConfigError
from edgewatch.events.model import KINDS, Episode, Happening
from edgewatch.events.store import EpisodeQuery, EventStore


def parse_duration(text: str) -> float:
    """--since: '30s', '15m', '1h', '2d' (or plain seconds) -> seconds."""
    try:
        return durations.parse_duration(text)
    except ValueError:
        raise ConfigError(f"--since {text!r} is not a duration", "e.g. 30s, 15m, 1h, 2d") from None


def add_parsers(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "events", help="list episodes (one per object) and what happened in each"
    )
    parser.set_defaults(func=list_events)
    parser.add_argument("--config", type=Path, help="YAML config (events.store_path)")
    parser.add_argument("--store", type=Path, help="event store file (overrides the config)")
    parser.add_argument("--since", default="1d", help="how far back: 30s, 15m, 1h, 2d (1d)")
    parser.add_argument("--camera", help="only this camera")
    parser.add_argument("--label", help="only this label, e.g. person")
    parser.add_argument("--zone", help="only episodes with something in this zone or line")
    parser.add_argument(
        "--kind", choices=KINDS, help="only episodes where this happened, e.g. line_crossed"
    )
    parser.add_argument("--limit", type=int, default=100, help="most episodes shown (100)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")


def _store_path(args: argparse.Namespace) -> Path:
    if args.store:
        return Path(args.store)
    return config_of(args).events.store_path


def _clock(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _what(happening: Happening) -> str:
    return f"{time.strftime('%H:%M:%S', time.localtime(happening.time))} {happening.words()}"


def _row(episode: Episode, happenings: list[Happening]) -> tuple[str, ...]:
    duration = "ongoing" if episode.end is None else f"{episode.end - episode.start:.1f}s"
    story = ", ".join(_what(h) for h in happenings) or "-"
    return (
        _clock(episode.start), episode.camera, episode.label, str(episode.track_id), duration,
        f"{episode.top_score:.2f}", episode.snapshot or "-", story,
    )  # fmt: skip


def list_events(args: argparse.Namespace) -> int:
    path = _store_path(args)
    if not path.exists():
        raise ConfigError(f"no event store at {path}", "run edgewatch with events enabled first")
    store = EventStore(path)
    try:
        query = EpisodeQuery(
            since_s=parse_duration(args.since) if args.since else None,
            camera=args.camera,
            label=args.label,
            zone=args.zone,
            kind=args.kind,
        )
        found = store.episodes(query, args.limit)
    finally:
        store.close()
    if args.json:
        for item in found:
            data = item.episode.to_dict()
            data["happenings"] = [h.to_dict() for h in item.happenings]
            print(json.dumps(data))
        return 0
    header = ("start", "camera", "label", "track", "duration", "top", "snapshot", "what happened")
    rows = [header] + [_row(item.episode, item.happenings) for item in found]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    if not found:
        print("(no episodes)")
    return 0
