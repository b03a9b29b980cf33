"""The configuration: one pydantic model tree, loaded from YAML, overridden by flags.

Each stage's section is defined beside the stage (`CameraConfig` in sources, `DetectorConfig`
in detect ...); this module puts them together and holds the sections of the commands
that have no package below it (`ingest`, `forward`). Keys renamed in 0.2 still load, with
a deprecation line (`DEPRECATED_KEYS`).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from edgewatch.clients.influx.config import InfluxConfig
from edgewatch.clients.mqtt.config import MqttConfig
from edgewatch.configbase import ConfigModel
from edgewatch.detect.base import DetectorConfig
from edgewatch.durations import Duration
from edgewatch.errors import ConfigError
from edgewatch.events.config import EventsConfig
from edgewatch.outputs.influx import InfluxOutputConfig
from edgewatch.outputs.jsonl import JsonlConfig
from edgewatch.outputs.mqtt import MqttOutputConfig
from edgewatch.outputs.record import RecordConfig
from edgewatch.outputs.rtsp import RtspConfig
from edgewatch.outputs.web import WebConfig
from edgewatch.paths import default_state_dir
from edgewatch.sources.base import CameraConfig
from edgewatch.track.config import TrackerConfig

log = logging.getLogger(__name__)

#: Old place -> new place of settings that moved; the old place works for this release.
DEPRECATED_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {
    **{
        ("outputs", "mqtt", key): ("mqtt", key)
        for key in (
            "host", "port", "tls", "username", "password", "password_file", "client_id",
            "keepalive_s", "topic", "status_topic", "system_topic",
        )
    },
    ("outputs", "mqtt", "publish_on_change"): ("outputs", "mqtt", "report_on_change"),
    ("outputs", "mqtt", "system_interval_s"): ("pipeline", "system_interval_s"),
    ("outputs", "influx", "write_on_change"): ("outputs", "influx", "report_on_change"),
    # Events were one message per happening there; episodes have their own topic now.
    ("events", "mqtt_topic"): ("events", "happenings_topic"),
}  # fmt: skip


def move_deprecated_keys(data: dict) -> list[str]:
    """Moves settings written at their old place to the new one, in place; one note per
    moved key. A setting given at both places keeps the new one."""
    notes = []
    for old, new in DEPRECATED_KEYS.items():
        parent = data
        for part in old[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or old[-1] not in parent:
            continue
        target = data
        for part in new[:-1]:
            target = target.setdefault(part, {}) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            continue  # the new section is no mapping: validation names both problems
        target.setdefault(new[-1], parent.pop(old[-1]))
        notes.append(
            f"config: {'.'.join(old)} is deprecated, write {'.'.join(new)} instead "
            "(the old place still works in this release)"
        )
    return notes


class OutputsConfig(ConfigModel):
    """Where processed frames go."""

    rtsp: RtspConfig = Field(default_factory=RtspConfig, description="Annotated video over RTSP.")
    jsonl: JsonlConfig = Field(default_factory=JsonlConfig, description="JSON Lines file.")
    record: RecordConfig = Field(default_factory=RecordConfig, description="Video recording.")
    mqtt: MqttOutputConfig = Field(
        default_factory=MqttOutputConfig, description="Detections over MQTT."
    )
    influx: InfluxOutputConfig = Field(
        default_factory=InfluxOutputConfig,
        description="Detections straight into the edge InfluxDB (no broker).",
    )


class PipelineConfig(ConfigModel):
    """Queues between stages and reporting."""

    camera_queue: int = Field(
        4,
        ge=1,
        le=1000,
        description="Frames each camera may have waiting for detection. "
        "Live cameras drop their oldest frame beyond it; files wait.",
    )
    sink_queue: int = Field(
        16,
        ge=1,
        le=10000,
        description="Frames each output may have waiting. Live outputs "
        "(RTSP) drop their oldest beyond it; files (recording, JSON lines) wait.",
    )
    stats_interval_s: float = Field(
        30.0, ge=0, description="Seconds between log lines with frame rates and drops; 0: never."
    )
    system_interval_s: float = Field(
        5.0,
        ge=0,
        description="Seconds between system statistics (CPU, memory, GPU, the pipeline's "
        "figures) sent to the outputs that take them (MQTT, InfluxDB); 0 turns them off.",
    )


class IngestConfig(ConfigModel):
    """`edgewatch ingest`: MQTT detection messages into InfluxDB, as Telegraf would."""

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
    max_message_bytes: int = Field(
        1_048_576,
        ge=1024,
        description="Larger messages are not parsed: they go to the dead-letter store.",
    )
    deadletter_path: Path = Field(
        default_factory=lambda: default_state_dir() / "ingest-deadletters.sqlite3",
        description="Messages that cannot become points (with the reason), kept instead of "
        "being delivered again and again; `edgewatch ingest --dead-letters` lists them.",
    )
    deadletter_max_messages: int = Field(
        10_000, ge=1, description="Dead letters kept; beyond it the oldest are dropped."
    )


class ForwardConfig(ConfigModel):
    """`edgewatch forward`: the edge's points, downsampled, into the cloud InfluxDB."""

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


class Config(ConfigModel):
    """Everything edgewatch run needs. Unknown keys are errors, so typos do not pass."""

    cameras: list[CameraConfig] = Field(
        default_factory=lambda: [CameraConfig(name="sample", source="sample")],
        min_length=1,
        description="The cameras to watch. Default: the bundled sample clip.",
    )
    detector: DetectorConfig = Field(default_factory=DetectorConfig, description="The detector.")
    tracking: TrackerConfig = Field(
        default_factory=TrackerConfig, description="Stable object IDs per camera (ByteTrack)."
    )
    events: EventsConfig = Field(
        default_factory=EventsConfig,
        description="Security events: entered/left, zones, lines, loitering, snapshots.",
    )
    outputs: OutputsConfig = Field(default_factory=OutputsConfig, description="The outputs.")
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig, description="Queues.")
    mqtt: MqttConfig = Field(
        default_factory=MqttConfig,
        description="The MQTT broker and topics (the MQTT output publishes, ingest subscribes).",
    )
    influx: InfluxConfig = Field(
        default_factory=InfluxConfig, description="The InfluxDB on the edge (ingest writes here)."
    )
    cloud: InfluxConfig | None = Field(
        None,
        description="The cloud InfluxDB: downsampled detections and system statistics go "
        "there (`edgewatch forward`, the generated Telegraf config).",
    )
    ingest: IngestConfig = Field(
        default_factory=IngestConfig, description="`edgewatch ingest`: MQTT into InfluxDB."
    )
    forward: ForwardConfig = Field(
        default_factory=ForwardConfig,
        description="`edgewatch forward`: downsampled edge data into the cloud InfluxDB.",
    )
    web: WebConfig = Field(
        default_factory=WebConfig,
        description="The web dashboard (`edgewatch run` serves it too; `edgewatch web` alone).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least important log messages shown."
    )

    @model_validator(mode="before")
    @classmethod
    def _deprecated_keys(cls, data: object) -> object:
        if isinstance(data, dict):
            data = copy.deepcopy(data)  # the caller's dict stays as it was
            for note in move_deprecated_keys(data):
                log.warning("%s", note)
        return data

    @model_validator(mode="after")
    def _camera_names_unique(self) -> Config:
        names = [camera.name for camera in self.cameras]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"camera names must be unique; repeated: {', '.join(repeated)}")
        try:
            self.events.validate_against(names)
        except ConfigError as error:
            raise ValueError(str(error)) from None
        return self


def describe_validation_error(error: ValidationError) -> list[str]:
    """One line per problem: where in the config, and what is wrong there."""
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key (a typo?)"
        lines.append(f"{where}: {message}")
    return lines


class ConfigValidationError(ConfigError):
    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(
            f"{source} is not a valid edgewatch config: " + "; ".join(problems),
            "fix the fields named; `edgewatch config check FILE` lists each problem, and "
            "config.example.yaml documents every key",
        )
        self.problems = problems


def config_from_dict(data: dict, source: str = "the configuration") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as error:
        raise ConfigValidationError(source, describe_validation_error(error)) from None


def load_config(path: Path) -> Config:
    """Read and validate a YAML config; every problem becomes a `ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist",
            "check the path, or start from config.example.yaml",
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path} ({error})", "check the file") from None
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise ConfigError(
            f"config file {path} is nested too deeply to read",
            "a config is a few levels of mappings and lists; look for runaway [ or {",
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ConfigError(
            f"config file {path} is not valid YAML{where}: {problem}",
            "fix the YAML syntax (indentation, colons, quotes)",
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of settings, not a {type(data).__name__}",
            "start from config.example.yaml",
        )
    return config_from_dict(data, str(path))
