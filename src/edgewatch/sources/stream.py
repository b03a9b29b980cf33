"""Network cameras: RTSP (over TCP) and HTTP(S) streams such as MJPEG or HLS."""

from __future__ import annotations

from edgewatch.errors import SourceError
from edgewatch.sources.base import STREAM_SCHEMES
from edgewatch.sources.pyav import AvSource, describe_av_error

__all__ = ["STREAM_SCHEMES", "StreamSource"]


class StreamSource(AvSource):
    """A live network stream. The reader reconnects it when it is lost."""

    live = True

    def _open_args(self) -> tuple[str, dict]:
        options = {}
        if self.camera.source.startswith(("rtsp://", "rtsps://")):
            # TCP survives NAT and lossy Wi-Fi where UDP loses whole frames.
            options = {"rtsp_transport": "tcp", "rtsp_flags": "prefer_tcp"}
        timeout = self.camera.timeout_s
        return self.camera.source, {"options": options, "timeout": (timeout, timeout)}

    def _explain(self, error: BaseException) -> SourceError:
        return SourceError(
            f"camera {self.camera.name}: cannot read {self.display_name} "
            f"({describe_av_error(error)})",
            "check the URL, the credentials and that the camera is on and reachable",
        )
