"""Video files: anything FFmpeg reads, plus the bundled sample clip."""

from __future__ import annotations

import os
from pathlib import Path

from edgewatch.errors import SourceError
from edgewatch.paths import sample_clip
from edgewatch.sources.base import CameraConfig
from edgewatch.sources.pyav import AvSource, describe_av_error


class FileSource(AvSource):
    """A video file, read to its end; never drops a frame."""

    live = False

    def __init__(self, camera: CameraConfig, path: Path | None = None) -> None:
        super().__init__(camera)
        self.path = path or Path(camera.source).expanduser()

    @property
    def display_name(self) -> str:
        return str(self.path)

    def _open_args(self) -> tuple[str, dict]:
        if not self.path.exists():
            raise SourceError(
                f"camera {self.camera.name}: video file {self.path} does not exist",
                "check the path in the config or on the command line",
            )
        if self.path.is_dir():
            raise SourceError(
                f"camera {self.camera.name}: {self.path} is a directory, not a video file",
                "give the path of a video file",
            )
        if not os.access(self.path, os.R_OK):
            raise SourceError(
                f"camera {self.camera.name}: video file {self.path} is not readable",
                f"check its permissions (chmod o+r {self.path})",
            )
        return str(self.path), {}

    def _explain(self, error: BaseException) -> SourceError:
        return SourceError(
            f"camera {self.camera.name}: cannot read video file {self.path} "
            f"({describe_av_error(error)})",
            "is it a complete video file? `ffprobe FILE` shows what FFmpeg sees in it",
        )


class SampleSource(FileSource):
    """The bundled real CCTV clip (`edgewatch.paths.SAMPLE_CLIP`)."""

    def __init__(self, camera: CameraConfig) -> None:
        super().__init__(camera, sample_clip())

    def _open_args(self) -> tuple[str, dict]:
        if not self.path.exists():
            raise SourceError(
                f"the bundled sample clip {self.path} is missing",
                "install it with: sudo apt-get install opencv-doc (or run `make run`)",
            )
        return super()._open_args()
