"""Video sources, chosen by the form of a camera's ``source``."""

from __future__ import annotations

from edgewatch.sources.base import CameraConfig, Source


def create_source(camera: CameraConfig) -> Source:
    """The source that reads ``camera.source``: the sample, a URL, a webcam or a file."""
    from edgewatch.sources.file import FileSource, SampleSource
    from edgewatch.sources.stream import STREAM_SCHEMES, StreamSource
    from edgewatch.sources.v4l2 import V4l2Source

    source = camera.source
    if source == "sample":
        return SampleSource(camera)
    if source.startswith(STREAM_SCHEMES):
        return StreamSource(camera)
    if source.startswith("v4l2://") or source.startswith("/dev/video"):
        return V4l2Source(camera)
    return FileSource(camera)
