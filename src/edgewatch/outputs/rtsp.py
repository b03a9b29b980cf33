"""Annotated video served over RTSP by GStreamer's RTSP server, one mount per camera."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class RtspConfig(BaseModel):
    """The RTSP server that serves each camera's annotated video at rtsp://HOST:PORT/<camera>."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Serve the annotated video over RTSP.")
    host: str = Field(
        "127.0.0.1",
        description="Address to listen on. 127.0.0.1 keeps it on this machine; 0.0.0.0 "
        "serves every network interface (set a username and password then).",
    )
    port: int = Field(8554, ge=1, le=65535, description="TCP port of the RTSP server.")
    username: str | None = Field(
        None, description="Viewers must log in with this user (Basic auth) when set."
    )
    password: SecretStr | None = Field(
        None,
        description="Password for username; may also come from EDGEWATCH_RTSP_PASSWORD.",
    )
    bitrate_kbps: int = Field(
        2000, ge=100, le=50000, description="H.264 target bitrate of each stream."
    )
    keyframe_interval_s: float = Field(
        0.5,
        gt=0.0,
        le=10.0,
        description="Seconds between H.264 keyframes: a viewer joining sees a picture "
        "within this time.",
    )
