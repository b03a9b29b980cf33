"""LiveSink, the web dashboard's live view: pictures only while watched and at most
live_fps, the cameras' states, many threads at once; and in a real pipeline on the real
footage."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from conftest import read_frames, wait_for

from edgewatch.bench.localservers import free_port
from edgewatch.config import config_from_dict
from edgewatch.outputs import live as live_module
from edgewatch.outputs.base import StreamInfo
from edgewatch.outputs.live import LiveSink, SourceFigures
from edgewatch.outputs.web import WebConfig
from edgewatch.pipeline import build_pipeline
from edgewatch.pipeline.outputs import live_view
from edgewatch.sources.base import CameraConfig
from edgewatch.types import Detections, Frame

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def picture(vtest_path) -> np.ndarray:
    return read_frames(vtest_path, [100])[0]


def people(n: int) -> Detections:
    """n people and a car, as a detector would give them."""
    boxes = [[10 + 40 * i, 10, 40 + 40 * i, 90] for i in range(n)] + [[300, 300, 400, 360]]
    return Detections(
        xyxy=np.array(boxes, np.float32),
        confidence=np.full(n + 1, 0.8, np.float32),
        class_id=np.array([1] * n + [3], np.int32),
        class_names={1: "person", 3: "car"},
    )


def opened(picture, **web) -> LiveSink:
    sink = LiveSink(WebConfig(**web), [CameraConfig(name="yard", source="sample")])
    height, width = picture.shape[:2]
    sink.open([StreamInfo("yard", width, height, 10.0)])
    return sink


def feed(sink: LiveSink, picture, index: int, detections=None) -> None:
    """One frame to both halves, as the pipeline hands it: undrawn to the state sink,
    drawn to the live sink (when the drawing stage draws for it)."""
    frame = Frame("yard", index, time.time(), picture.copy())
    detections = people(2) if detections is None else detections
    sink.state_sink.write(frame, detections)
    if sink.watched("yard"):
        sink.write(frame, detections)


def test_nothing_is_encoded_for_a_camera_nobody_watches(picture):
    sink = opened(picture)
    for i in range(20):
        sink.write(Frame("yard", i, time.time(), picture.copy()), people(1))
        time.sleep(0.01)
    assert not sink.watched("yard")
    assert sink.stats()["yard"] == {"pictures": 0, "encode_ms": None, "watched": False}


def test_fetching_the_picture_makes_the_camera_watched_and_the_next_frame_encoded(picture):
    sink = opened(picture, jpeg_quality=90)
    assert sink.latest_jpeg("yard") is None  # nothing yet: the API answers 404
    assert sink.watched("yard")
    sink.write(Frame("yard", 0, time.time(), picture.copy()), people(1))
    jpeg = sink.latest_jpeg("yard")
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == picture.shape
    assert np.abs(decoded.astype(int) - picture).mean() < 4  # the frame itself, as JPEG
    assert sink.stats()["yard"]["pictures"] == 1
    assert sink.latest_jpeg("nope") is None and not sink.watched("nope")


def test_a_camera_stops_being_encoded_once_its_viewer_went(picture, monkeypatch):
    monkeypatch.setattr(live_module, "WATCH_S", 0.3)
    sink = opened(picture)
    sink.latest_jpeg("yard")
    sink.write(Frame("yard", 0, time.time(), picture), people(1))
    time.sleep(0.4)
    assert not sink.watched("yard")
    sink.write(Frame("yard", 1, time.time(), picture), people(1))
    assert sink.stats()["yard"]["pictures"] == 1


def test_pictures_are_encoded_at_most_live_fps_however_fast_frames_come(picture):
    sink = opened(picture, live_fps=10)
    sink.latest_jpeg("yard")
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < 2.0:  # ~100 frames/s for 2 s
        sink.latest_jpeg("yard")
        sink.write(Frame("yard", i, time.time(), picture), people(1))
        i += 1
        time.sleep(0.01)
    assert i > 100
    assert 18 <= sink.stats()["yard"]["pictures"] <= 22


def test_a_camera_at_exactly_live_fps_keeps_every_frame_despite_jitter(picture):
    sink = opened(picture, live_fps=10)
    rng = np.random.default_rng(1)
    for i in range(20):  # 10 frames/s with +-10 ms of jitter
        sink.latest_jpeg("yard")
        sink.write(Frame("yard", i, time.time(), picture), people(1))
        time.sleep(0.1 + rng.uniform(-0.01, 0.01))
    assert sink.stats()["yard"]["pictures"] >= 19


def test_mjpeg_waiter_gets_each_new_picture_once_and_ends_when_the_run_ends(picture):
    sink = opened(picture, live_fps=20)
    assert sink.wait_for_jpeg("yard", 0, 0.1) is None  # none within the timeout
    got: list[int] = []

    def viewer():
        seq = 0
        while (found := sink.wait_for_jpeg("yard", seq, 5.0)) is not None:
            seq = found[0]
            got.append(seq)

    watching = threading.Thread(target=viewer)
    watching.start()
    for i in range(20):
        feed(sink, picture, i)
        time.sleep(0.06)
    sink.state_sink.close()  # the pipeline ended: waiters return None
    watching.join(timeout=5)
    assert not watching.is_alive()
    assert got == sorted(set(got)) and len(got) >= 10


def test_camera_reports_size_fps_last_frame_and_the_objects_in_view(picture):
    sink = opened(picture)
    (camera,) = sink.cameras()
    assert camera["state"] == "starting" and camera["last_frame"] is None
    assert (camera["width"], camera["height"]) == (768, 576)
    for i in range(10):
        feed(sink, picture, i, people(3))
        time.sleep(0.05)
    (camera,) = sink.cameras()
    assert camera["state"] == "live" and camera["last_frame"] == 9
    assert camera["objects"] == {"car": 1, "person": 3} and camera["detections"] == 4
    assert 14 < camera["fps"] < 22  # a frame each ~50 ms
    assert camera["last_time"] == pytest.approx(time.time(), abs=1)


def test_camera_stalls_without_frames_and_ends_when_the_pipeline_closes(picture, monkeypatch):
    monkeypatch.setattr(live_module, "STALL_S", 0.3)
    sink = opened(picture)
    feed(sink, picture, 0)
    assert sink.cameras()[0]["state"] == "live"
    time.sleep(0.4)
    assert sink.cameras()[0]["state"] == "stalled"
    assert sink.cameras()[0]["fps"] == 0.0
    sink.state_sink.close()
    assert sink.cameras()[0]["state"] == "ended"


def test_an_ended_or_silent_camera_has_no_objects_in_view(picture, monkeypatch):
    """Regression: a camera that had ended still said {"person": 4, "car": 1, "truck": 1}
    in view: its last frame's detections were told as what is there now."""
    monkeypatch.setattr(live_module, "STALL_S", 0.3)
    figures = {"yard": SourceFigures(live=False)}
    sink = opened(picture)
    sink.follow(lambda: figures)

    def in_view():
        (camera,) = sink.cameras()
        return camera["state"], camera["objects"], camera["detections"]

    feed(sink, picture, 0, people(3))
    assert in_view() == ("live", {"car": 1, "person": 3}, 4)
    time.sleep(0.4)
    assert in_view() == ("stalled", {}, 0)
    feed(sink, picture, 1, people(2))
    assert in_view() == ("live", {"car": 1, "person": 2}, 3)
    figures["yard"] = SourceFigures(live=False, ended=True)  # its reader finished
    assert in_view() == ("ended", {}, 0)
    figures["yard"] = SourceFigures(live=False)
    sink.state_sink.close()  # the pipeline closed
    assert in_view() == ("ended", {}, 0)


def test_a_file_camera_that_read_its_max_frames_has_ended(picture, monkeypatch):
    monkeypatch.setattr(live_module, "STALL_S", 0.2)
    sink = LiveSink(WebConfig(), [CameraConfig(name="yard", source="x.mp4", max_frames=3)])
    for i in range(3):
        feed(sink, picture, i)
    time.sleep(0.3)
    assert sink.cameras()[0]["state"] == "ended"


def test_a_live_camera_whose_reader_fails_to_connect_is_reconnecting(picture, monkeypatch):
    monkeypatch.setattr(live_module, "STALL_S", 0.2)
    figures = {"yard": SourceFigures(live=True)}
    sink = LiveSink(WebConfig(), [CameraConfig(name="yard", source="rtsp://10.0.0.9/x")])
    sink.follow(lambda: figures)
    feed(sink, picture, 0)
    assert sink.cameras()[0]["state"] == "live"
    time.sleep(0.3)
    assert sink.cameras()[0]["state"] == "stalled"  # silent, but not yet given up on
    figures["yard"] = SourceFigures(live=True, reconnect_failures=1, reconnects=2, drops=5)
    assert sink.cameras()[0]["state"] == "reconnecting"
    system = sink.system()
    assert system["reconnects_yard"] == 2 and system["dropped_camera_yard"] == 5
    figures["yard"] = SourceFigures(live=True, ended=True)
    assert sink.cameras()[0]["state"] == "ended"


def test_system_is_the_latest_sample(picture):
    sink = opened(picture)
    assert sink.system() == {}
    sink.publish_system({"timestamp": 1.0, "cpu_percent": 12.5, "fps_yard": 9.9})
    sink.publish_system({"timestamp": 2.0, "cpu_percent": 20.0, "fps_yard": 10.0})
    assert sink.system() == {"timestamp": 2.0, "cpu_percent": 20.0, "fps_yard": 10.0}


def test_a_failing_probe_costs_the_figures_not_the_answer(picture):
    sink = opened(picture)

    def broken():
        raise RuntimeError("pipeline gone")

    sink.follow(broken)
    feed(sink, picture, 0)
    assert sink.cameras()[0]["state"] == "live" and sink.system() == {}


def test_many_readers_and_writers_at_once(picture):
    """The runner threads write while request threads read; nothing breaks or tears."""
    sink = LiveSink(
        WebConfig(live_fps=50),
        [CameraConfig(name=f"cam{i}", source="sample") for i in range(3)],
    )
    stop, errors = threading.Event(), []
    small = picture[::4, ::4].copy()

    def guarded(work):
        def run():
            try:
                work()
            except Exception as error:  # pragma: no cover - the failure is the assertion
                errors.append(error)

        return run

    def writer(camera: str):
        i = 0
        while not stop.is_set():
            frame = Frame(camera, i, time.time(), small.copy())
            sink.state_sink.write(frame, people(i % 4))
            if sink.watched(camera):
                sink.write(frame, people(i % 4))
            i += 1

    def reader(camera: str):
        seq = 0
        while not stop.is_set():
            found = sink.wait_for_jpeg(camera, seq, 0.5)
            if found is not None:
                assert found[0] > seq
                seq = found[0]
                assert found[1][:2] == b"\xff\xd8"  # a whole JPEG
            for described in sink.cameras():
                assert sum(described["objects"].values()) == described["detections"]
            sink.system()
            sink.stats()

    threads = [threading.Thread(target=guarded(lambda c=f"cam{i}": writer(c))) for i in range(3)]
    threads += [
        threading.Thread(target=guarded(lambda c=f"cam{i % 3}": reader(c))) for i in range(6)
    ]
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    stop.set()
    for thread in threads:
        thread.join(timeout=5)
    assert not errors
    assert all(s["pictures"] > 10 for s in sink.stats().values())
    assert {c["state"] for c in sink.cameras()} == {"live"}


def web_run(tmp_path, frames: int, **camera) -> dict:
    return config_from_dict(
        {
            "cameras": [{"name": "yard", "source": "sample", "realtime": False,
                         "max_frames": frames, **camera}],
            "outputs": {"rtsp": {"enabled": False}},
            "web": {"history_path": str(tmp_path / "history.sqlite3")},
            "pipeline": {"stats_interval_s": 0, "system_interval_s": 0.5},
        }
    )  # fmt: skip


def test_in_a_run_nobody_watching_means_nothing_drawn_or_encoded(tmp_path):
    pipeline = build_pipeline(web_run(tmp_path, 40))
    live = live_view(pipeline)
    assert [s.name for s in pipeline.sinks] == ["live", "live-state", "history"]
    summary = pipeline.run()
    assert summary.frames == {"yard": 40}
    assert "draw" not in summary.stats["stages_ms"]  # the drawing stage drew nothing
    assert summary.stats["live"] == {"yard": {"pictures": 0, "encode_ms": None, "watched": False}}
    (camera,) = live.cameras()
    assert camera["state"] == "ended" and camera["last_frame"] == 39
    assert camera["objects"] == {} and camera["detections"] == 0  # people were there


def test_in_a_run_a_viewer_gets_annotated_pictures_of_the_real_footage(tmp_path):
    pipeline = build_pipeline(web_run(tmp_path, 80))
    live = live_view(pipeline)
    live.latest_jpeg("yard")  # a browser opened the page before the run
    pictures: list[bytes] = []
    states: list[str] = []

    def viewer():
        seq = 0
        while (found := live.wait_for_jpeg("yard", seq, 10.0)) is not None:
            seq, jpeg = found
            pictures.append(jpeg)
            states.append(live.cameras()[0]["state"])

    watching = threading.Thread(target=viewer)
    watching.start()
    summary = pipeline.run()
    watching.join(timeout=15)
    assert summary.frames == {"yard": 80}
    assert summary.stats["stages_ms"]["draw"] > 0
    assert len(pictures) >= 3 and states[0] == "live"
    assert set(states) <= {"live", "ended"}  # the last pictures may come after the reader ended
    first = cv2.imdecode(np.frombuffer(pictures[0], np.uint8), cv2.IMREAD_COLOR)
    last = cv2.imdecode(np.frombuffer(pictures[-1], np.uint8), cv2.IMREAD_COLOR)
    assert first.shape == (576, 768, 3)
    assert np.abs(first.astype(int) - last).mean() > 1  # people walked: the picture moved
    system = live.system()
    assert system["cpu_percent"] >= 0 and system["dropped_camera_yard"] == 0
    assert live.cameras()[0]["state"] == "ended"


def test_in_a_run_a_camera_that_cannot_connect_is_reconnecting(tmp_path):
    url = f"rtsp://127.0.0.1:{free_port()}/nothing-here"
    config = web_run(tmp_path, 10, source=url, realtime=None, reconnect_max_s=1)
    pipeline = build_pipeline(config)
    live = live_view(pipeline)
    running = threading.Thread(target=pipeline.run)
    running.start()
    try:
        assert wait_for(lambda: live.cameras()[0]["state"] == "reconnecting", timeout=20)
    finally:
        pipeline.stop.set()
        running.join(timeout=30)
    assert live.cameras()[0]["state"] == "ended"
