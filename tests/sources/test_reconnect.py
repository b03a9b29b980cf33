"""A network camera that disappears and comes back is picked up again.

The camera is a real GStreamer RTSP server (edgewatch's own RtspSink) fed with the real
footage; edgewatch reads it over RTSP/TCP with FFmpeg like any IP camera.
"""

from __future__ import annotations

import threading
import time

from conftest import read_frames, wait_for

from edgewatch.config import config_from_dict
from edgewatch.outputs.base import StreamInfo
from edgewatch.outputs.rtsp import RtspConfig, RtspSink
from edgewatch.pipeline import build_pipeline
from edgewatch.types import Detections, Frame


class FakeCamera:
    """Serves real footage at rtsp://127.0.0.1:PORT/cam until stopped."""

    def __init__(self, port: int, frames) -> None:
        self.port, self.frames = port, frames
        self.stop = threading.Event()
        self.sink = RtspSink(RtspConfig(port=port, keyframe_interval_s=0.5))
        self.sink.open([StreamInfo("cam", 768, 576, 10.0)])
        self.thread = threading.Thread(target=self._push, daemon=True)
        self.thread.start()

    def _push(self) -> None:
        i = 0
        while not self.stop.is_set():
            image = self.frames[i % len(self.frames)].copy()
            self.sink.write(Frame("cam", i, time.time(), image), Detections.empty())
            i += 1
            time.sleep(0.1)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sink.close()


def test_camera_that_disappears_and_comes_back_is_picked_up_again(port, vtest_path, caplog):
    caplog.set_level("INFO")
    frames = read_frames(vtest_path, list(range(0, 40, 2)))
    camera = FakeCamera(port, frames)
    config = config_from_dict(
        {
            "cameras": [{"name": "door", "source": f"rtsp://127.0.0.1:{port}/cam",
                         "timeout_s": 2, "reconnect_max_s": 2}],
            "outputs": {"rtsp": {"enabled": False}},
            "pipeline": {"stats_interval_s": 0},
        }
    )  # fmt: skip
    pipeline = build_pipeline(config)
    running = threading.Thread(target=pipeline.run, daemon=True)
    running.start()
    try:
        seen = lambda: pipeline.frames_done.get("door", 0)  # noqa: E731
        assert wait_for(lambda: seen() >= 10, 20), "no frames from the camera"
        camera.close()  # the camera goes away
        time.sleep(4)
        before = seen()
        time.sleep(1)
        assert seen() == before, "frames kept coming from a camera that is gone"
        assert running.is_alive(), "the pipeline died with the camera"
        camera = FakeCamera(port, frames)  # ... and comes back on the same address
        assert wait_for(lambda: seen() >= before + 10, 30), "camera not picked up again"
        assert pipeline.stats.counters.get("reconnects.door", 0) >= 1
        assert any("camera door: reconnected" in r.getMessage() for r in caplog.records)
    finally:
        pipeline.stop.set()
        running.join(30)
        camera.close()
    assert not running.is_alive()
