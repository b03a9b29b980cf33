"""The `mqtt:` section: how to reach the broker, and the topics edgewatch speaks on.

Shared by the MQTT output (`edgewatch run`) and `edgewatch ingest`, as `influx:` is shared
by the InfluxDB output and ingest: the publisher and the subscriber read the same names.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from edgewatch.configbase import ConfigModel


class TlsConfig(ConfigModel):
    """TLS to the broker (port 8883 by convention)."""

    ca_file: Path | None = Field(
        None, description="CA certificate that signed the broker's; the system's CAs if unset."
    )
    cert_file: Path | None = Field(None, description="Client certificate, for mutual TLS.")
    key_file: Path | None = Field(None, description="Client certificate's private key.")
    insecure: bool = Field(
        False, description="Skip the broker hostname check (testing only; never in production)."
    )


class MqttConfig(ConfigModel):
    """An MQTT broker, its login, and the topics of detections, status and statistics."""

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
    topic: str = Field(
        "edgewatch/{camera}/inference", description="Detection topic; {camera} is replaced."
    )
    status_topic: str = Field(
        "edgewatch/{camera}/status",
        description="Retained online/offline availability per camera; offline is the will.",
    )
    system_topic: str = Field(
        "edgewatch/{host}/system", description="System statistics topic; {host} is replaced."
    )

    # Plain replace, so other braces in a topic stay as they are.

    def detection_topic(self, camera: str) -> str:
        return self.topic.replace("{camera}", camera)

    def camera_status_topic(self, camera: str) -> str:
        return self.status_topic.replace("{camera}", camera)

    def host_system_topic(self, host: str) -> str:
        return self.system_topic.replace("{host}", host)
