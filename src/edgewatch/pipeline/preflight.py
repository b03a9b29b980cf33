"""What `edgewatch config check` checks beyond the config's own rules: the things a run
would fail on at start, found without starting one, each reported, all in one pass."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from edgewatch.config import Config
from edgewatch.errors import EdgewatchError
from edgewatch.sources import create_source


def preflight(config: Config) -> list[str]:
    """One line per problem; empty when a run could start."""
    return [*_frames_and_zones(config), *_writable_places(config)]


def _frames_and_zones(config: Config) -> Iterator[str]:
    """Files are opened to learn their frame size, so zones and lines drawn outside it are
    found now (live cameras are not dialled: they are checked when the run opens them)."""
    for camera in config.cameras:
        source = create_source(camera)
        if source.live:
            continue
        try:
            width, height, _ = source.open()
        except EdgewatchError as error:
            yield f"cameras.{camera.name}: {error}"
            continue
        finally:
            source.close()
        for item in [*config.events.zones_of(camera.name), *config.events.lines_of(camera.name)]:
            try:
                item.check_inside(width, height)
            except EdgewatchError as error:
                yield f"events: {error}"


def _writable_places(config: Config) -> Iterator[str]:
    """The files edgewatch keeps on the box, for the outputs and services turned on."""
    places: dict[str, Path] = {}
    if config.outputs.mqtt.enabled:
        places["outputs.mqtt.outbox_path"] = config.outputs.mqtt.outbox_path
    if config.outputs.influx.enabled:
        places["outputs.influx.spool_path"] = config.outputs.influx.spool_path
    if config.events.enabled:
        places["events.store_path"] = config.events.store_path
        if config.events.snapshots.enabled:
            places["events.snapshots.dir"] = config.events.snapshots.dir / "x"
    if config.web.enabled:
        places["web.history_path"] = config.web.history_path
    for setting, path in places.items():
        folder = _nearest_existing(Path(path).expanduser().parent)
        if not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)):
            yield f"{setting}: {path} cannot be created in {folder} (not a writable folder)"


def _nearest_existing(path: Path) -> Path:
    for folder in (path, *path.parents):
        if folder.exists():
            return folder
    return path
