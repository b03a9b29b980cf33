"""`edgewatch run` on the GPU engine's layout: shard processes decode, detect and track,
and the outputs get every frame as on the CPU pipeline. Run here with the engine's CPU
stand-ins (OpenCV decoding, the PyTorch SSD on the CPU): CI has no GPU."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("torch")

from edgewatch.config import config_from_dict  # noqa: E402
from edgewatch.pipeline.build import build_gpu_pipeline  # noqa: E402
from edgewatch.pipeline.queues import FrameInbox  # noqa: E402
from edgewatch.stats import PipelineStats  # noqa: E402

FRAMES = 8


class Collect:
    name, wants_annotated, lossless = "collect", False, True

    def __init__(self) -> None:
        self.seen: list = []
        self.pictures: dict[str, set[bool]] = {}

    def open(self, streams):
        self.streams = streams

    def write(self, frame, detections):
        self.seen.append((frame.camera, frame.index, frame.width, frame.height, detections))
        self.pictures.setdefault(frame.camera, set()).add(frame.has_picture)

    def close(self):
        pass


def gpu_pipeline(sinks: list, config=None):
    """Two cameras on the bundled clip, FRAMES frames each, into ``sinks`` on the GPU
    engine's layout (on the CPU)."""
    config = config or two_cameras()
    inbox = FrameInbox(["yard", "gate"], 4)
    return build_gpu_pipeline(config, "cpu", sinks, threading.Event(), PipelineStats(), inbox)


def two_cameras(**sections):
    return config_from_dict(
        {
            "cameras": [
                {"name": name, "source": "sample", "realtime": False, "max_frames": FRAMES}
                for name in ("yard", "gate")
            ],
            "outputs": {"rtsp": {"enabled": False}},
            "pipeline": {"stats_interval_s": 0},
            **sections,
        }
    )


@pytest.mark.timeout(300)
def test_every_frame_of_every_camera_reaches_the_outputs_tracked():
    sink = Collect()
    summary = gpu_pipeline([sink]).run()
    assert summary.frames == {"yard": FRAMES, "gate": FRAMES}
    for camera in ("yard", "gate"):
        mine = [s for s in sink.seen if s[0] == camera]
        assert [s[1] for s in mine] == list(range(FRAMES))  # in order, none lost
        assert all(s[2:4] == (768, 576) for s in mine)  # the size, without the picture
        last = mine[-1][4]
        assert len(last) >= 3 and (last.tracker_id > 0).all()
        assert "seen_s" in last.data


class Viewer:
    """A video output (RTSP's role) watched on one camera only."""

    name, wants_annotated, lossless = "viewer", True, False

    def __init__(self, watching: set[str]) -> None:
        self.watching, self.seen = watching, []

    def open(self, streams):
        pass

    def watched(self, camera: str) -> bool:
        return camera in self.watching

    def write(self, frame, detections):
        self.seen.append((frame.camera, frame.index, frame.has_picture, frame.image.shape))

    def close(self):
        pass


@pytest.mark.timeout(300)
def test_only_a_watched_camera_s_pictures_come_to_the_host_and_get_drawn():
    collect, viewer = Collect(), Viewer({"yard"})
    pipeline = gpu_pipeline([collect, viewer])
    assert [job.watch_slots for job in pipeline.detection.jobs] != [{}]  # flags were made
    summary = pipeline.run()
    assert summary.frames == {"yard": FRAMES, "gate": FRAMES}
    assert [s[:3] for s in viewer.seen] == [("yard", i, True) for i in range(FRAMES)]
    assert all(s[3] == (576, 768, 3) for s in viewer.seen)
    assert collect.pictures == {"yard": {True}, "gate": {False}}  # gate's stayed on the GPU


@pytest.mark.timeout(300)
def test_events_on_the_gpu_layout_snapshot_the_real_picture(tmp_path):
    # Events get the pictures of frames that show objects (and only those): their
    # snapshots are of the footage, not of a picture left on the device.
    import cv2

    from edgewatch.events.store import EventStore
    from edgewatch.outputs.events import EventSink

    store = tmp_path / "events.sqlite3"
    config = two_cameras(
        events={"enabled": True, "store_path": str(store),
                "snapshots": {"dir": str(tmp_path / "snapshots")}}
    )  # fmt: skip
    collect = Collect()
    summary = gpu_pipeline([collect, EventSink(config.events)], config).run()
    assert summary.frames == {"yard": FRAMES, "gate": FRAMES}
    episodes = [stored.episode for stored in EventStore(store).episodes()]
    assert episodes and all(e.snapshot for e in episodes)
    for episode in episodes:
        picture = cv2.imread(str(tmp_path / "snapshots" / episode.snapshot))
        assert picture.shape == (576, 768, 3)
        assert picture.std() > 20  # the footage, not one flat colour
    # Frames without objects (before the tracker confirms any) kept their pictures back.
    assert collect.pictures == {"yard": {True, False}, "gate": {True, False}}
