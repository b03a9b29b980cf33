"""The InfluxDB output: detection points written by the pipeline itself, no broker between.

    frame -> ReportPolicy -> build_message -> detection_points -> SpooledInfluxWriter

The points and tags are exactly those `edgewatch ingest` writes from the MQTT message of
the same frame, so both paths may feed one database. The spool plays the broker's role
for ingest (`edgewatch.clients.influx.spooled`): nothing is lost while InfluxDB is away.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from edgewatch.clients.influx.config import InfluxConfig
from edgewatch.clients.influx.line_protocol import detection_points, system_point
from edgewatch.clients.influx.spooled import SpooledInfluxWriter
from edgewatch.clients.mqtt.config import MqttConfig
from edgewatch.outputs.base import StreamInfo
from edgewatch.outputs.message import build_message
from edgewatch.outputs.report import ReportedOutputConfig
from edgewatch.paths import default_state_dir
from edgewatch.types import Detections, Frame


class InfluxOutputConfig(ReportedOutputConfig):
    """The pipeline writes detection points to the edge InfluxDB (the `influx` section)
    itself, without a broker: the same points and tags `edgewatch ingest` writes."""

    enabled: bool = Field(False, description="Write detections straight to InfluxDB.")
    spool_path: Path = Field(
        default_factory=lambda: default_state_dir() / "influx-spool.sqlite3",
        description="On-disk queue of points InfluxDB has not confirmed yet; it survives "
        "restarts and is replayed in order.",
    )
    spool_max_points: int = Field(
        2_000_000,
        ge=100,
        description="Spool bound; beyond it the oldest points are dropped and counted.",
    )


class InfluxSink:
    """Detection points straight into ``influx``: every Nth frame per camera, and at once
    when the objects in view change (``outputs.influx``)."""

    name = "influx"
    wants_annotated = False
    lossless = True

    def __init__(
        self, config: InfluxOutputConfig, influx: InfluxConfig, *, mqtt: MqttConfig, host: str
    ) -> None:
        """``mqtt`` and ``host``: the topic and host tags `edgewatch ingest` would give the
        same frame's message, so that both write the same points."""
        self.config, self.influx, self.mqtt, self.host = config, influx, mqtt, host
        self.policy = config.report_policy()
        self.points: SpooledInfluxWriter | None = None

    def open(self, streams: Sequence[StreamInfo]) -> None:
        self.points = SpooledInfluxWriter(
            self.influx,
            self.config.spool_path,
            self.config.spool_max_points,
            setting="outputs.influx.spool_path",
        )

    def write(self, frame: Frame, detections: Detections) -> None:
        if not self.policy.due(frame.camera, detections):
            return
        lines = detection_points(
            build_message(frame, detections),
            topic=self.mqtt.detection_topic(frame.camera),
            host=self.host,
            measurement=self.influx.measurement,
        )
        self.points.write(lines)  # no objects, no points: as ingest does

    def publish_system(self, sample: dict) -> None:
        """The box's statistics as one point of ``influx.system_measurement``, with the
        tags ingest gives them, so `forward` has them without a broker too. Called from
        the pipeline's supervising thread."""
        if self.points is None:
            return
        topic = self.mqtt.host_system_topic(socket.gethostname())
        point = system_point(sample, topic=topic, host=self.host,
                             measurement=self.influx.system_measurement)  # fmt: skip
        self.points.write([point])

    def stats(self) -> dict:
        return self.points.stats() if self.points else {}

    def close(self) -> None:
        if self.points is not None:
            self.points.close()
