"""Annotated video served over RTSP by GStreamer's RTSP server, one mount per camera."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr

from edgewatch.configbase import ConfigModel
from edgewatch.errors import ConfigError
from edgewatch.outputs.base import StreamInfo
from edgewatch.types import Detections, Frame

if TYPE_CHECKING:
    from edgewatch.outputs.rtsp_server import RtspServer


class RtspConfig(ConfigModel):
    """The RTSP server that serves each camera's annotated video at rtsp://HOST:PORT/<camera>."""

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
    udp: bool = Field(
        False,
        description="Also offer RTP over UDP. Its sockets listen on every network interface "
        "whatever host says, so it is off: viewers get the video over the RTSP connection "
        "(ffplay -rtsp_transport tcp; VLC falls back by itself).",
    )
    keyframe_interval_s: float = Field(
        0.5,
        gt=0.0,
        le=10.0,
        description="Seconds between H.264 keyframes: a viewer joining sees a picture "
        "within this time.",
    )


PASSWORD_ENV = "EDGEWATCH_RTSP_PASSWORD"


class RtspSink:
    """Serves each camera's annotated frames at rtsp://HOST:PORT/<camera>.

    Frames are encoded only while somebody watches; a slow encoder loses frames (counted
    in `stats`) rather than block `write`.
    """

    name = "rtsp"
    wants_annotated = True
    lossless = False

    def __init__(self, config: RtspConfig) -> None:
        self.config = config
        self._credentials = _credentials(config)
        self._server: RtspServer | None = None

    def open(self, streams: Sequence[StreamInfo]) -> None:
        from edgewatch.outputs.rtsp_server import RtspServer

        server = RtspServer(
            host=self.config.host,
            port=self.config.port,
            bitrate_kbps=self.config.bitrate_kbps,
            keyframe_interval_s=self.config.keyframe_interval_s,
            credentials=self._credentials,
            udp=self.config.udp,
        )
        server.start(streams)
        self._server = server

    def write(self, frame: Frame, detections: Detections) -> None:
        if self._server is not None:
            self._server.push(frame.camera, frame.image)

    def watched(self, camera: str) -> bool:
        """Somebody plays this camera's stream now (only then is it encoded)."""
        return self._server is not None and self._server.watched(camera)

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()  # idempotent; urls and stats stay readable

    @property
    def urls(self) -> dict[str, str]:
        """rtsp:// address of each camera, without credentials."""
        server = self._server
        return {camera: server.url(camera) for camera in server.mounts} if server else {}

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per camera: frames_pushed, frames_dropped (the encoder was behind), viewers now,
        and encode_ms, the mean x264 time of recent frames (None before any)."""
        return self._server.stats() if self._server else {}


def _credentials(config: RtspConfig) -> tuple[str, str] | None:
    if not config.username:
        return None
    password = (
        config.password.get_secret_value() if config.password else os.environ.get(PASSWORD_ENV)
    )
    if not password:
        raise ConfigError(
            f"RTSP username {config.username!r} is set but no password",
            f"set outputs.rtsp.password or the {PASSWORD_ENV} environment variable",
        )
    return config.username, password
