"""A network camera that disappears and comes back is picked up again by its GPU shard.

The camera is the real GStreamer RTSP server of tests/sources/test_reconnect.py, fed with
the real footage; the shard reads it with the engine's CPU stand-in decoder (CI has no
NVDEC), so what is tested is the shard's reconnect loop, not NVDEC's demuxer."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("torch")

from conftest import read_frames, wait_for  # noqa: E402
from sources.test_reconnect import FakeCamera  # noqa: E402

from edgewatch.config import config_from_dict  # noqa: E402
from edgewatch.gpu.engine import GpuEngine  # noqa: E402
from edgewatch.pipeline.build import detector_config  # noqa: E402
from edgewatch.pipeline.gpu_stage import shard_jobs  # noqa: E402


@pytest.mark.timeout(240)
def test_a_camera_that_drops_out_comes_back(port, vtest_path):
    frames = read_frames(vtest_path, list(range(0, 40, 2)))
    camera = FakeCamera(port, frames)
    config = config_from_dict(
        {"cameras": [{"name": "door", "source": f"rtsp://127.0.0.1:{port}/cam"}]}
    )
    (job,) = shard_jobs(config, detector_config(config).model_dump(mode="json"), "cpu")
    seen: list[int] = []
    with GpuEngine([job]) as engine:
        reading = threading.Thread(
            target=lambda: seen.extend(r.index for r in engine.results()), daemon=True
        )
        reading.start()
        try:
            assert wait_for(lambda: len(seen) >= 5, 120), "no frames from the camera"
            camera.close()  # the camera goes away ...
            time.sleep(8)  # (the shard notices within 5 s: no data)
            before = len(seen)
            camera = FakeCamera(port, frames)  # ... and comes back on the same address

            def new_connection() -> int:
                """Frames of a new connection so far: its frames count from 0 again (frames
                of the old one detected late, on a busy machine, come first)."""
                restart = next((i for i in range(1, len(seen)) if seen[i] < seen[i - 1]), None)
                return 0 if restart is None else len(seen) - restart

            picked_up = wait_for(lambda: new_connection() >= 5, 90)
            assert picked_up, f"camera not picked up again: {before} frames before, then {seen}"
            assert reading.is_alive(), "the shard ended with the camera"
        finally:
            engine.stop()
            camera.close()
        reading.join(30)
    assert not engine.errors
