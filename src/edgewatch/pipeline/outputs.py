"""Every output by name, and what each takes from the config.

A builder returns the output the config turns on, or None. Builders import their output
lazily, so an unused one (and its dependencies: GStreamer, paho ...) costs nothing, and
they run in the order of `OUTPUTS`: one may take an output built before it (events
publish through the MQTT output).
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from edgewatch.config import Config
from edgewatch.outputs.base import Sink

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


OUTPUTS: dict[str, Builder] = {
    "rtsp": _rtsp,
    "record": _record,
    "jsonl": _jsonl,
    "mqtt": _mqtt,
    "influx": _influx,
    "events": _events,
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
