"""Decoding with FFmpeg through PyAV: the shared core of file, stream and V4L2 sources."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np

from edgewatch.errors import SourceError
from edgewatch.redact import redact
from edgewatch.sources.base import CameraConfig

log = logging.getLogger(__name__)


def describe_av_error(error: BaseException) -> str:
    """FFmpeg's own words for what went wrong, without PyAV's repr noise."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return str(text).rstrip(".")


def to_array(frame) -> np.ndarray:
    """A decoded frame as the pipeline takes it: the common 4:2:0 frames as their YUV
    planes (H*3/2, W), converted to BGR only when a stage needs colour, by OpenCV (0.4 ms
    at 768x576 against FFmpeg's 1.5 ms); anything else as BGR by FFmpeg."""
    if frame.format.name in ("yuv420p", "yuvj420p") and not (frame.width | frame.height) & 1:
        return frame.to_ndarray()
    return frame.to_ndarray(format="bgr24")


class AvSource:
    """Opens one FFmpeg input and yields its video frames as BGR numpy arrays.

    Subclasses say how to open (`_open_args`) and how to explain a failure (`_explain`).
    """

    live = False

    def __init__(self, camera: CameraConfig) -> None:
        self.camera = camera
        self._container = None
        self._stream = None

    # What to pass to av.open, and the text naming this source in messages.
    def _open_args(self) -> tuple[str, dict]:
        raise NotImplementedError

    def _explain(self, error: BaseException) -> SourceError:
        raise NotImplementedError

    @property
    def display_name(self) -> str:
        return redact(self.camera.source)

    def open(self) -> tuple[int, int, float]:
        import av

        target, kwargs = self._open_args()
        try:
            self._container = av.open(target, mode="r", **kwargs)
            streams = self._container.streams.video
            if not streams:
                raise SourceError(
                    f"camera {self.camera.name}: {self.display_name} has no video stream",
                    "point the camera at a video file or stream",
                )
            self._stream = streams[0]
            # Frame threading decodes files several frames at a time; live streams keep
            # slice threading so no frame waits for the ones after it.
            self._stream.thread_type = "SLICE" if self.live else "AUTO"
            context = self._stream.codec_context
            width, height = context.width, context.height
        except SourceError:
            self.close()
            raise
        except (av.FFmpegError, OSError, ValueError) as error:
            self.close()
            raise self._explain(error) from None
        if not width or not height:
            # Some streams only know their size after the first frame.
            width = height = 0
        rate = self._stream.average_rate or self._stream.guessed_rate
        fps = float(rate) if rate else 0.0
        if not 0 < fps <= 240:
            fps = self.camera.fps or 25.0
        return width, height, fps

    def frames(self) -> Iterator[tuple[np.ndarray, float | None]]:
        import av

        if self._container is None:
            raise RuntimeError("frames() called before open()")
        try:
            for frame in self._container.decode(self._stream):
                seconds = float(frame.pts * frame.time_base) if frame.pts is not None else None
                yield to_array(frame), seconds
        except (av.FFmpegError, OSError) as error:
            raise self._explain(error) from None

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # closing a broken stream may fail again; nothing to save
                log.debug("closing %s failed", self.display_name, exc_info=True)
            self._container = None
            self._stream = None
