"""Recording of the annotated video to a playable H.264 file, one per camera."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from pydantic import Field, field_validator

from edgewatch.configbase import ConfigModel
from edgewatch.errors import EdgewatchError
from edgewatch.outputs.base import StreamInfo
from edgewatch.types import Detections, Frame

log = logging.getLogger(__name__)

TIME_BASE = Fraction(1, 90000)
CONTAINERS = (".mp4", ".mkv", ".mov")  # what FFmpeg writes H.264 into, by file name


class RecordConfig(ConfigModel):
    """The annotated video recorded to an H.264 file per camera."""

    path: Path | None = Field(
        None,
        description="File to record to (.mp4/.mkv/.mov); '{camera}' in it is replaced by the "
        "camera name. Nothing is recorded when unset.",
    )

    @field_validator("path")
    @classmethod
    def _a_video_file(cls, path: Path | None) -> Path | None:
        if path is not None and path.suffix.lower() not in CONTAINERS:
            raise ValueError(
                f"{path}: the file name must end in {', '.join(CONTAINERS)} (it picks the format)"
            )
        return path

    crf: int = Field(23, ge=0, le=51, description="x264 quality: lower is better and larger.")


def recording_path(template: Path, camera: str, cameras: int) -> Path:
    """``{camera}`` in the path is replaced; with several cameras and no placeholder the
    camera name is added before the suffix, so recordings never overwrite each other."""
    text = str(template)
    if "{camera}" in text:
        return Path(text.replace("{camera}", camera))
    if cameras > 1:
        return template.with_name(f"{template.stem}-{camera}{template.suffix or '.mp4'}")
    return template


class RecordSink:
    name = "record"
    wants_annotated = True
    lossless = True

    def __init__(self, path: Path, *, crf: int = 23) -> None:
        self.template = Path(path)
        self.crf = crf
        self._writers: dict[str, tuple] = {}  # camera -> (container, stream, first timestamp)
        self.paths: dict[str, Path] = {}

    def open(self, streams: Sequence[StreamInfo]) -> None:
        import av

        for info in streams:
            path = recording_path(self.template, info.camera, len(streams))
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                # Created here, not at the first frame: a path that cannot be written
                # (/proc/x.mp4, a read-only folder) fails the start, not the recording.
                path.open("wb").close()
                container = av.open(str(path), mode="w")
            except (OSError, ValueError, av.FFmpegError) as error:
                self.close()
                raise EdgewatchError(
                    f"cannot record to {path} ({getattr(error, 'strerror', None) or error})",
                    "choose a writable path ending in .mp4, .mkv or .mov with --record",
                ) from None
            stream = container.add_stream("libx264", rate=max(1, round(info.fps)))
            stream.width, stream.height = info.width - info.width % 2, info.height - info.height % 2
            stream.pix_fmt = "yuv420p"
            stream.time_base = TIME_BASE
            stream.options = {"preset": "veryfast", "crf": str(self.crf)}
            self._writers[info.camera] = [container, stream, None, -1]
            self.paths[info.camera] = path

    def write(self, frame: Frame, detections: Detections) -> None:
        import av

        writer = self._writers[frame.camera]
        container, stream, first, last_pts = writer
        if first is None:
            writer[2] = first = frame.timestamp
        image = frame.image
        if image.shape[1] != stream.width or image.shape[0] != stream.height:
            import cv2

            image = cv2.resize(image, (stream.width, stream.height))
        video_frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        # Capture times as presentation times keep live gaps real; never go backwards.
        pts = max(round((frame.timestamp - first) / TIME_BASE), last_pts + 1)
        video_frame.pts, video_frame.time_base = pts, TIME_BASE
        writer[3] = pts
        try:
            for packet in stream.encode(video_frame):
                container.mux(packet)
        except (OSError, av.FFmpegError) as error:
            raise EdgewatchError(
                f"cannot record to {self.paths[frame.camera]} "
                f"({getattr(error, 'strerror', None) or error})",
                "free some space, or record elsewhere with --record",
            ) from None

    def close(self) -> None:
        for camera, (container, stream, _, _) in self._writers.items():
            try:
                for packet in stream.encode(None):
                    container.mux(packet)
                container.close()
                log.info("camera %s: recording written to %s", camera, self.paths[camera])
            except Exception as error:  # finish the other recordings all the same
                log.error("camera %s: finishing %s failed: %s", camera, self.paths[camera], error)
        self._writers.clear()
