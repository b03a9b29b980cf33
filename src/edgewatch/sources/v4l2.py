"""USB webcams through Video4Linux2 (/dev/videoN)."""

from __future__ import annotations

import os
from pathlib import Path

from edgewatch.errors import SourceError
from edgewatch.sources.pyav import AvSource, describe_av_error


def device_path(source: str) -> str:
    return source.removeprefix("v4l2://")


class V4l2Source(AvSource):
    """A webcam. Live: the reader reopens it when it is unplugged and plugged back."""

    live = True

    def _open_args(self) -> tuple[str, dict]:
        device = device_path(self.camera.source)
        if not Path(device).exists():
            raise SourceError(
                f"camera {self.camera.name}: webcam {device} does not exist",
                "is it plugged in? `v4l2-ctl --list-devices` lists the cameras present",
            )
        if not os.access(device, os.R_OK | os.W_OK):
            raise SourceError(
                f"camera {self.camera.name}: no permission to open {device}",
                "add your user to the 'video' group: sudo usermod -aG video $USER",
            )
        options = {}
        camera = self.camera
        if camera.width and camera.height:
            options["video_size"] = f"{camera.width}x{camera.height}"
        if camera.fps:
            options["framerate"] = f"{camera.fps:g}"
        if camera.input_format:
            options["input_format"] = camera.input_format
        return device, {"format": "v4l2", "options": options}

    def _explain(self, error: BaseException) -> SourceError:
        return SourceError(
            f"camera {self.camera.name}: cannot capture from {device_path(self.camera.source)} "
            f"({describe_av_error(error)})",
            "check that no other program uses it and that it supports the size, rate and "
            "format asked for (`v4l2-ctl --list-formats-ext -d DEVICE`)",
        )
