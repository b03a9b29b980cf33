"""MQTT settings: the broker, security, topics, and what is published when."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


def default_state_dir() -> Path:
    import os

    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "edgewatch"


class TlsConfig(BaseModel):
    """TLS to the broker (port 8883 by convention)."""

    model_config = ConfigDict(extra="forbid")

    ca_file: Path | None = Field(
        None, description="CA certificate that signed the broker's; the system's CAs if unset."
    )
    cert_file: Path | None = Field(None, description="Client certificate, for mutual TLS.")
    key_file: Path | None = Field(None, description="Client certificate's private key.")
    insecure: bool = Field(
        False, description="Skip the broker hostname check (testing only; never in production)."
    )


class BrokerConfig(BaseModel):
    """How to reach and log in to an MQTT broker."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (1883 plain, 8883 TLS).")
    tls: TlsConfig | None = Field(None, description="Connect with TLS when set.")
    username: str | None = Field(None, description="Broker user name.")
    password: SecretStr | None = Field(
        None, description="Broker password; or password_file, or EDGEWATCH_MQTT_PASSWORD."
    )
    password_file: Path | None = Field(None, description="File holding the broker password.")
    client_id: str | None = Field(
        None, description="MQTT client ID; default edgewatch-<hostname>[-<role>]."
    )
    keepalive_s: int = Field(60, ge=5, le=3600, description="MQTT keepalive in seconds.")


class MqttConfig(BrokerConfig):
    """Detection messages to an MQTT broker, one topic per camera."""

    enabled: bool = Field(False, description="Publish detections over MQTT.")
    qos: Literal[0, 1, 2] = Field(1, description="QoS of detection and status messages.")
    topic: str = Field(
        "edgewatch/{camera}/inference", description="Detection topic; {camera} is replaced."
    )
    status_topic: str = Field(
        "edgewatch/{camera}/status",
        description="Retained online/offline availability per camera; offline is the will.",
    )
    every_n_frames: int = Field(
        30,
        ge=1,
        description="Publish every Nth processed frame (1: every frame), and always at once "
        "when the objects in view change.",
    )
    publish_on_change: bool = Field(
        True, description="Publish at once when an object appears or leaves."
    )
    outbox_path: Path = Field(
        default_factory=lambda: default_state_dir() / "mqtt-outbox.sqlite3",
        description="On-disk queue of messages not yet acknowledged by the broker; it "
        "survives restarts.",
    )
    outbox_max_messages: int = Field(
        100_000, ge=10, description="Outbox bound; beyond it the oldest are dropped and counted."
    )
    home_assistant: bool = Field(
        False, description="Announce per-camera object counts to Home Assistant (MQTT discovery)."
    )
    discovery_prefix: str = Field("homeassistant", description="Home Assistant discovery prefix.")
    system_topic: str = Field(
        "edgewatch/{host}/system", description="System statistics topic; {host} is replaced."
    )
    system_interval_s: float = Field(
        5.0,
        ge=0,
        description="Seconds between system statistics messages (MQTT and the InfluxDB "
        "output); 0 turns them off.",
    )


def hostname() -> str:
    return socket.gethostname()
