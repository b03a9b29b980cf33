"""Camera configuration and the Source role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol
from urllib.parse import urlsplit

import numpy as np
from pydantic import Field, field_validator

from edgewatch.configbase import ConfigModel
from edgewatch.motion.config import MotionConfig
from edgewatch.redact import redact

CAMERA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://")


class CameraConfig(ConfigModel):
    """One camera: where its video comes from and how it is read."""

    name: str = Field(
        description="Short name, used in the RTSP mount (rtsp://HOST:PORT/<name>), MQTT "
        "topics and messages. Letters, digits, '_', '-', '.'."
    )
    source: str = Field(
        description="'sample' (the bundled real CCTV clip), a video file path, an "
        "rtsp:// or http(s):// camera URL, or a V4L2 webcam such as /dev/video0."
    )
    realtime: bool | None = Field(
        None,
        description="Pace a file at its own frame rate, as a camera would deliver it. "
        "Default: on for 'sample', off for other files (read as fast as processed). "
        "Live sources are always real time.",
    )
    loop: bool | None = Field(
        None,
        description="Start a file again at its end. Default: on for 'sample' when run "
        "without --max-frames, off for other files.",
    )
    max_frames: int | None = Field(
        None, ge=1, description="Stop this camera after this many frames."
    )
    width: int | None = Field(None, ge=16, description="V4L2 only: capture width to ask for.")
    height: int | None = Field(None, ge=16, description="V4L2 only: capture height to ask for.")
    fps: float | None = Field(
        None, gt=0, description="V4L2 only: frame rate to ask for. Files use their own."
    )
    input_format: str | None = Field(
        None, description="V4L2 only: pixel format to ask for, e.g. mjpeg or yuyv422."
    )
    reconnect_max_s: float = Field(
        30.0,
        gt=0,
        description="Live sources reconnect after a loss with exponential backoff from 1 s "
        "up to this many seconds between tries.",
    )
    timeout_s: float = Field(
        10.0,
        gt=0,
        description="Live sources: seconds without data before the stream is considered lost.",
    )
    detect_fps: float | None = Field(
        None,
        gt=0,
        description="Detect on at most this many frames a second (the tracker predicts the "
        "frames between); default: every frame.",
    )
    motion: MotionConfig = Field(
        default_factory=MotionConfig,
        description="Motion gating: detect only where something moved (on by default).",
    )
    draw_motion: bool = Field(False, description="Draw the moving areas on the video.")

    @property
    def live(self) -> bool:
        """A camera (RTSP/HTTP stream or a V4L2 webcam), not a file: the forms
        `edgewatch.sources.create_source` tells apart."""
        return self.source.startswith((*STREAM_SCHEMES, "v4l2://", "/dev/video"))

    @property
    def paced(self) -> bool:
        """``realtime``, or its default: on for the sample clip."""
        return self.realtime if self.realtime is not None else self.source == "sample"

    @property
    def looped(self) -> bool:
        """``loop``, or its default: on for the sample clip run without a frame limit."""
        if self.loop is not None:
            return self.loop
        return self.source == "sample" and not self.max_frames

    @field_validator("source")
    @classmethod
    def _url_is_usable(cls, source: str) -> str:
        """A camera URL that could never be opened is a config error, said without its
        password (the error text is printed)."""
        if "://" not in source or source.startswith("v4l2://"):
            return source
        shown = redact(source)
        if not source.lower().startswith(STREAM_SCHEMES):
            schemes = ", ".join(s.removesuffix("://") for s in STREAM_SCHEMES)
            raise ValueError(f"{shown}: edgewatch reads {schemes} and v4l2 URLs")
        parts = urlsplit(source)
        if not parts.hostname:
            raise ValueError(f"{shown} names no host")
        try:
            parts.port  # noqa: B018 - urllib checks the range when asked
        except ValueError:
            raise ValueError(f"{shown}: the port is not a number from 1 to 65535") from None
        return source

    @field_validator("name")
    @classmethod
    def _name_is_url_safe(cls, name: str) -> str:
        if not CAMERA_NAME.match(name):
            raise ValueError(
                f"camera name {name!r} must be 1-63 letters, digits, '_', '-' or '.', "
                "starting with a letter or digit (it becomes a URL path and MQTT topic)"
            )
        return name


class Source(Protocol):
    """Decoded pictures of one camera, in order."""

    camera: CameraConfig
    live: bool

    def open(self) -> tuple[int, int, float]:
        """Open the source; return (width, height, fps). Raises SourceError."""
        ...

    def frames(self) -> Iterator[tuple[np.ndarray, float | None]]:
        """Pictures with their presentation time in seconds (None when unknown): BGR
        (H, W, 3), or YUV 4:2:0 planes (H*3/2, W) that `Frame` converts when asked.

        Ends at the end of a file; raises SourceError when a live stream is lost.
        """
        ...

    def close(self) -> None: ...
