"""Every output by name, and what each takes from the config.

A builder returns the output the config turns on, or None. Builders import their output
lazily, so an unused one (and its dependencies: GStreamer, paho ...) costs nothing, and
they run in the order of `OUTPUTS`: one may take an output built before it (events
publish through the MQTT output).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from edgewatch.config import Config
from edgewatch.outputs.base import Sink

if TYPE_CHECKING:
    from edgewatch.outputs.live import LiveSink, SourceFigures
    from edgewatch.pipeline.pipeline import Pipeline

Builder = Callable[[Config, dict[str, Sink]], Sink | None]


def _rtsp(config: Config, built: dict[str, Sink]) -> Sink | None:
    if not config.outputs.rtsp.enabled:
        return None
    from edgewatch.outputs.rtsp import RtspSink

    return RtspSink(config.outputs.rtsp)


def _record(config: Config, built: dict[str, Sink]) -> Sink | None:
    if not config.outputs.record.path:
        return None
    from edgewatch.outputs.record import RecordSink

    return RecordSink(config.outputs.record.path, crf=config.outputs.record.crf)


def _jsonl(config: Config, built: dict[str, Sink]) -> Sink | None:
    if not config.outputs.jsonl.path:
        return None
    from edgewatch.outputs.jsonl import JsonlSink

    return JsonlSink(config.outputs.jsonl.path)


def _mqtt(config: Config, built: dict[str, Sink]) -> Sink | None:
    if not config.outputs.mqtt.enabled:
        return None
    from edgewatch.outputs.mqtt import MqttSink

    return MqttSink(config.outputs.mqtt, config.mqtt, events=config.events)


def _influx(config: Config, built: dict[str, Sink]) -> Sink | None:
    if not config.outputs.influx.enabled:
        return None
    from edgewatch.outputs.influx import InfluxSink

    return InfluxSink(config.outputs.influx, config.influx, mqtt=config.mqtt, host=host_tag(config))


def _events(config: Config, built: dict[str, Sink]) -> Sink | None:
    if not config.events.enabled:
        return None
    from edgewatch.outputs.events import EventSink

    writer = None
    if config.events.influx:
        from edgewatch.clients.influx.spooled import SpooledInfluxWriter

        # Through a spool of its own (next to the event store): events wait on disk
        # while InfluxDB is away, as detection points do.
        store = config.events.store_path
        writer = SpooledInfluxWriter(
            config.influx,
            store.with_name(f"{store.stem}-influx-spool.sqlite3"),
            config.outputs.influx.spool_max_points,
            setting="events.store_path",
        )
    return EventSink(config.events, mqtt=built.get("mqtt"), influx_writer=writer)


def _live(config: Config, built: dict[str, Sink]) -> Sink | None:
    if not config.web.enabled:
        return None
    from edgewatch.outputs.live import LiveSink

    return LiveSink(config.web, config.cameras)


def _live_state(config: Config, built: dict[str, Sink]) -> Sink | None:
    """The live view's second half: every frame undrawn, for the cameras' states."""
    from edgewatch.outputs.live import LiveSink

    live = built.get("live")
    return live.state_sink if isinstance(live, LiveSink) else None


def _history(config: Config, built: dict[str, Sink]) -> Sink | None:
    if not config.web.enabled:
        return None
    from edgewatch.outputs.history import HistorySink

    # The frames the database sees when the InfluxDB output is on, else the broker's.
    outputs = config.outputs
    return HistorySink(config.web, outputs.influx if outputs.influx.enabled else outputs.mqtt)


OUTPUTS: dict[str, Builder] = {
    "rtsp": _rtsp,
    "record": _record,
    "jsonl": _jsonl,
    "mqtt": _mqtt,
    "influx": _influx,
    "events": _events,
    "live": _live,
    "live-state": _live_state,
    "history": _history,
}


def host_tag(config: Config) -> str:
    """The ``host`` tag of points: as `edgewatch ingest` gives the same frame's message."""
    return config.ingest.host_tag or socket.gethostname()


def create_sinks(config: Config) -> list[Sink]:
    """The outputs the config turns on, in `OUTPUTS` order."""
    built: dict[str, Sink] = {}
    for name, build in OUTPUTS.items():
        sink = build(config, built)
        if sink is not None:
            built[name] = sink
    return list(built.values())


def live_view(pipeline: Pipeline) -> LiveSink | None:
    """The pipeline's live view (the web dashboard's pictures and camera states), told how
    to read the camera readers' figures; None when the dashboard is off."""
    from edgewatch.outputs.live import LiveSink

    live = next((sink for sink in pipeline.sinks if isinstance(sink, LiveSink)), None)
    if live is not None:
        live.follow(lambda: camera_figures(pipeline))
    return live


def camera_figures(pipeline: Pipeline) -> dict[str, SourceFigures]:
    """Per camera: whether its reader has finished, its reconnects, and the frames lost
    before detection (its queue was full, or a paced file fell behind its clock)."""
    from edgewatch.outputs.live import SourceFigures

    counters = pipeline.stats.snapshot()["counters"]
    dropped = pipeline.inbox.dropped
    readers = {reader.camera.name: reader for reader in pipeline.readers}
    figures = {}
    for camera in pipeline.config.cameras:
        name = camera.name
        reader = readers.get(name)
        figures[name] = SourceFigures(
            live=reader.source.live if reader else None,  # the GPU engine has no readers
            ended=reader is not None and reader.ident is not None and not reader.is_alive(),
            reconnects=counters.get(f"reconnects.{name}", 0),
            reconnect_failures=counters.get(f"reconnect_failures.{name}", 0),
            drops=dropped.get(name, 0) + counters.get(f"late.{name}", 0),
        )
    return figures
