"""Where points go in InfluxDB: the 1.x API (/write?db=) or the 2.x API (/api/v2/write)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from edgewatch.durations import Duration
from edgewatch.mqtt.config import default_state_dir


class InfluxConfig(BaseModel):
    """An InfluxDB instance and its credentials."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field("http://127.0.0.1:8086", description="Base URL of the InfluxDB HTTP API.")
    api: Literal["v1", "v2"] = Field(
        "v1", description="v1: /write?db= (InfluxDB 1.x, VictoriaMetrics); v2: /api/v2/write."
    )
    database: str = Field("edgewatch", description="v1: database to write to.")
    retention_policy: str | None = Field(None, description="v1: retention policy (default RP).")
    username: str | None = Field(None, description="v1: user name, when auth is on.")
    password: SecretStr | None = Field(
        None, description="v1: password; or password_file, or EDGEWATCH_INFLUX_PASSWORD."
    )
    password_file: Path | None = Field(None, description="v1: file holding the password.")
    retention: Duration | None = Field(
        None,
        description="`edgewatch influx setup`: how long points are kept, e.g. 30d (1.x: the "
        "retention policy's duration; 2.x: the bucket's retention). Unset: forever.",
    )
    org: str | None = Field(None, description="v2: organisation name or ID.")
    bucket: str | None = Field(None, description="v2: bucket to write to.")
    org_id: str | None = Field(
        None, description="v2: organisation ID (the Flux task's experimental.to needs IDs)."
    )
    bucket_id: str | None = Field(None, description="v2: bucket ID (for the Flux task).")
    token: SecretStr | None = Field(
        None, description="v2: API token; or token_file, or EDGEWATCH_INFLUX_TOKEN."
    )
    token_file: Path | None = Field(None, description="v2: file holding the API token.")
    measurement: str = Field(
        "BW_Inference_results", description="Measurement of detection points (one per object)."
    )
    system_measurement: str = Field(
        "edge_system", description="Measurement of the edge box's system statistics."
    )
    batch_size: int = Field(500, ge=1, le=100_000, description="Most points in one write.")
    flush_interval_s: float = Field(
        1.0, gt=0, description="Longest a point waits before it is written."
    )
    timeout_s: float = Field(10.0, gt=0, description="HTTP timeout of one write.")
    retry_max_s: float = Field(
        30.0,
        gt=0,
        description="Longest wait between retries of a failed write (the wait doubles from "
        "0.5 s up to this); points are kept meanwhile.",
    )
    max_pending_points: int = Field(
        100_000,
        ge=1,
        description="Most points held in memory while InfluxDB is unreachable; beyond it new "
        "points are refused (ingest then leaves their messages on the broker).",
    )


class IngestConfig(BaseModel):
    """`edgewatch ingest`: MQTT detection messages into InfluxDB, as Telegraf would."""

    model_config = ConfigDict(extra="forbid")

    topics: list[str] | None = Field(
        None,
        description="Topics to subscribe to; default: the detection and system topics of "
        "the mqtt section with {camera}/{host} as '+'.",
    )
    client_id: str | None = Field(
        None, description="MQTT client ID (a persistent session); default edgewatch-ingest-<host>."
    )
    host_tag: str | None = Field(None, description="The 'host' tag; default this machine's name.")
    qos: Literal[1, 2] = Field(
        1,
        description="Subscription QoS. 1 (default) loses nothing even if ingest is killed: a "
        "message is acknowledged only once its points are in InfluxDB, and a redelivered one "
        "rewrites the same points. With 2, paho confirms receipt (PUBREC) before the points "
        "are written, so the messages in flight when ingest dies are lost.",
    )


class InfluxOutputConfig(BaseModel):
    """The pipeline writes detection points to the edge InfluxDB (the `influx` section)
    itself, without a broker: the same points and tags `edgewatch ingest` writes."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Write detections straight to InfluxDB.")
    every_n_frames: int = Field(
        30,
        ge=1,
        description="Write every Nth processed frame (1: every frame), and at once when the "
        "objects in view change (as the MQTT output publishes).",
    )
    write_on_change: bool = Field(
        True, description="Write at once when an object appears or leaves."
    )
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


class ForwardConfig(BaseModel):
    """`edgewatch forward`: the edge's points, downsampled, into the cloud InfluxDB."""

    model_config = ConfigDict(extra="forbid")

    every: Duration = Field(
        3600.0, gt=0, description="How often the service forwards (e.g. 1h); a multiple of window."
    )
    window: Duration = Field(
        600.0,
        gt=0,
        description="Downsampling window (e.g. 10m): the last value of each field per window "
        "and series (object tag) goes to the cloud, stamped with the window's end.",
    )
    delay: Duration = Field(
        60.0,
        ge=0,
        description="A window is forwarded once it ended this long ago, so points still on "
        "their way to the edge database are in it.",
    )
    max_catch_up: Duration = Field(
        7 * 86400.0,
        gt=0,
        description="How far back forwarding reaches on a first run or after an outage "
        "(capped by influx.retention when that is set).",
    )
    measurements: list[str] | None = Field(
        None,
        description="Measurements forwarded; default the detection and system measurements "
        "of the influx section. Raw points never go to the cloud, only window summaries.",
    )
    checkpoint_path: Path = Field(
        default_factory=lambda: default_state_dir() / "forward-checkpoint.json",
        description="Records up to when the cloud has everything; a restart resumes there.",
    )
    task_name: str = Field(
        "edge_to_cloud", description="`edgewatch influx task`: name of the InfluxDB 2 task."
    )
    token_secret_key: str = Field(
        "cloud_token",
        description="`edgewatch influx task`: the InfluxDB secret holding the cloud token.",
    )
    cq_retention_policy: str = Field(
        "downsampled",
        description="`edgewatch influx setup --continuous-queries` (1.x): the retention "
        "policy the continuous queries write the window summaries into.",
    )
    cq_retention: Duration | None = Field(
        None, description="How long the 1.x continuous queries' summaries are kept; unset: forever."
    )

    @model_validator(mode="after")
    def _every_is_whole_windows(self) -> ForwardConfig:
        ratio = self.every / self.window
        if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
            raise ValueError(
                f"forward.every ({self.every:g} s) must be a whole number of windows "
                f"({self.window:g} s)"
            )
        if self.window != round(self.window):
            raise ValueError("forward.window must be a whole number of seconds")
        return self
