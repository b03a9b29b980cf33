"""The configuration: one pydantic model tree, loaded from YAML, overridden by flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgewatch.detect.base import DetectorConfig
from edgewatch.errors import ConfigError
from edgewatch.events.config import EventsConfig
from edgewatch.influx.config import (
    ForwardConfig,
    InfluxConfig,
    InfluxOutputConfig,
    IngestConfig,
)
from edgewatch.mqtt.config import MqttConfig
from edgewatch.outputs.rtsp import RtspConfig
from edgewatch.sources.base import CameraConfig
from edgewatch.track.config import TrackerConfig


class JsonlConfig(BaseModel):
    """Detection messages as JSON Lines, one per processed frame."""

    model_config = ConfigDict(extra="forbid")

    path: Path | None = Field(None, description="File to write; nothing is written when unset.")


class RecordConfig(BaseModel):
    """The annotated video recorded to an H.264 file per camera."""

    model_config = ConfigDict(extra="forbid")

    path: Path | None = Field(
        None,
        description="File to record to (.mp4/.mkv); '{camera}' in it is replaced by the "
        "camera name. Nothing is recorded when unset.",
    )
    crf: int = Field(23, ge=0, le=51, description="x264 quality: lower is better and larger.")


class OutputsConfig(BaseModel):
    """Where processed frames go."""

    model_config = ConfigDict(extra="forbid")

    rtsp: RtspConfig = Field(default_factory=RtspConfig, description="Annotated video over RTSP.")
    jsonl: JsonlConfig = Field(default_factory=JsonlConfig, description="JSON Lines file.")
    record: RecordConfig = Field(default_factory=RecordConfig, description="Video recording.")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="Detections over MQTT.")
    influx: InfluxOutputConfig = Field(
        default_factory=InfluxOutputConfig,
        description="Detections straight into the edge InfluxDB (no broker).",
    )


class PipelineConfig(BaseModel):
    """Queues between stages and reporting."""

    model_config = ConfigDict(extra="forbid")

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


class Config(BaseModel):
    """Everything edgewatch run needs. Unknown keys are errors, so typos do not pass."""

    model_config = ConfigDict(extra="forbid")

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
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least important log messages shown."
    )

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
