"""CameraReader on a real file: a looped clip's time runs on evenly from pass to pass."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest import read_frames

from edgewatch.sources.base import CameraConfig
from edgewatch.sources.file import FileSource
from edgewatch.sources.reader import CameraReader
from edgewatch.stats import PipelineStats

FPS = 10
CLIP_FRAMES = 8  # 0.8 s of the real footage


@pytest.fixture(scope="module")
def short_clip(vtest_path, tmp_path_factory):
    """The footage's first frames as a short H.264 file."""
    import av

    frames = read_frames(vtest_path, list(range(CLIP_FRAMES)))
    path = tmp_path_factory.mktemp("clip") / "short.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 768, 576, "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def read_looped(path, *, realtime: bool, passes: int = 2):
    """(frame timestamp, wall time when handed on) of each frame of ``passes`` passes."""
    camera = CameraConfig(name="clip", source=str(path), max_frames=passes * CLIP_FRAMES)
    got: list[tuple[float, float]] = []

    def handle(frame) -> bool:
        got.append((frame.timestamp, time.time()))
        return True

    reader = CameraReader(
        FileSource(camera), handle, PipelineStats(), threading.Event(),
        realtime=realtime, loop=True,
    )  # fmt: skip
    reader.start()
    reader.join(30)
    assert not reader.is_alive() and reader.error is None
    assert len(got) == passes * CLIP_FRAMES
    return np.array(got)


def test_a_looped_realtime_clip_keeps_time_evenly_and_never_runs_ahead(short_clip):
    """Regression: each pass started its clock anew *and* added the clip's length, so
    every loop jumped a clip length ahead (~80 s a loop of the sample): events in the
    future, gaps in the history panels."""
    got = read_looped(short_clip, realtime=True)
    stamps, delivered = got[:, 0], got[:, 1]
    steps = np.diff(stamps)
    assert (steps > 0).all()
    assert steps.max() <= 2 / FPS, steps  # no gap at the loop
    assert (stamps - delivered).max() <= 1 / FPS  # never ahead of the wall clock
    # The second pass starts one frame after the first ended.
    assert steps[CLIP_FRAMES - 1] == pytest.approx(1 / FPS, abs=1e-6)


def test_a_looped_file_read_as_fast_as_it_goes_keeps_the_files_own_time(short_clip):
    stamps = read_looped(short_clip, realtime=False, passes=3)[:, 0]
    assert np.diff(stamps) == pytest.approx(np.full(3 * CLIP_FRAMES - 1, 1 / FPS), abs=1e-6)
