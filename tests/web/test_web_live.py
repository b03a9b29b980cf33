"""The live view through the API with the real LiveSink fed real footage: the latest
picture, MJPEG at the configured rate that ends when the viewer goes, the cameras' state
and the system sample."""

from __future__ import annotations

import http.client
import threading
import time

import numpy as np
import pytest
from conftest import read_frames

from edgewatch.outputs.base import StreamInfo
from edgewatch.outputs.live import LiveSink
from edgewatch.types import Detections, Frame
from edgewatch.web.server import WebServer

from .tools import Client

NAMES = {0: "person", 2: "car"}


@pytest.fixture(scope="module")
def pictures(vtest_path):
    return read_frames(vtest_path, [0, 40, 80])


def detections() -> Detections:
    return Detections(
        xyxy=np.array([[10, 10, 60, 150], [100, 20, 150, 170], [300, 300, 500, 400]]),
        confidence=np.array([0.9, 0.8, 0.7]),
        class_id=np.array([0, 0, 2]),
        tracker_id=np.array([1, 2, 3]),
        class_names=NAMES,
    )


@pytest.fixture
def live(config):
    sink = LiveSink(config.web, config.cameras)
    sink.open([StreamInfo("yard", 768, 576, 10.0), StreamInfo("street", 768, 576, 10.0)])
    yield sink
    sink.close()


@pytest.fixture
def viewer(config, live, store):
    with WebServer(config, live) as server:
        client = Client(server.url)
        assert client.login().status == 200
        yield client, server
        client.close()


def feed(live: LiveSink, image, index: int) -> None:
    frame = Frame("yard", index, time.time(), image.copy())
    live.state_sink.write(frame, detections())
    live.write(frame, detections())


def test_the_latest_picture_is_encoded_only_once_someone_looks(viewer, live, pictures):
    client, _ = viewer
    feed(live, pictures[0], 0)
    assert not live.watched("yard")
    assert client.get("/api/cameras/yard/latest.jpg").status == 404  # nobody watched yet
    assert live.watched("yard") and not live.watched("street")
    feed(live, pictures[1], 40)
    answer = client.get("/api/cameras/yard/latest.jpg")
    assert answer.status == 200 and answer.headers["Content-Type"] == "image/jpeg"
    assert answer.body[:2] == b"\xff\xd8" and answer.headers["Cache-Control"] == "no-store"
    cameras = {c["name"]: c for c in client.get("/api/cameras").json()}
    assert cameras["yard"]["state"] == "live" and cameras["yard"]["last_frame"] == 40
    assert cameras["yard"]["objects"] == {"car": 1, "person": 2}
    assert cameras["yard"]["width"] == 768 and cameras["street"]["state"] == "starting"


def test_mjpeg_streams_new_pictures_at_live_fps_and_ends_when_the_viewer_goes(
    viewer, live, pictures
):
    client, server = viewer
    stop = threading.Event()

    def camera():  # 25 frames/s, faster than web.live_fps (10)
        i = 0
        while not stop.is_set():
            feed(live, pictures[i % 3], i)
            i += 1
            time.sleep(0.04)

    feeder = threading.Thread(target=camera)
    feeder.start()
    try:
        connection = http.client.HTTPConnection(client.host, client.port, timeout=10)
        connection.request("GET", "/api/cameras/yard/mjpeg", headers={"Cookie": client.cookie})
        response = connection.getresponse()
        assert response.status == 200
        assert response.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=frame"
        arrivals = []
        for _ in range(12):
            assert response.readline() == b"--frame\r\n"
            assert response.readline() == b"Content-Type: image/jpeg\r\n"
            length = int(response.readline().split(b":")[1])
            assert response.readline() == b"\r\n"
            assert response.read(length)[:2] == b"\xff\xd8"
            assert response.readline() == b"\r\n"
            arrivals.append(time.monotonic())
        rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
        assert 6 <= rate <= 11, rate
        connection.close()  # the viewer goes
        # Its stream ends: the camera is no longer watched a few seconds later.
        deadline = time.monotonic() + 8
        while live.watched("yard") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not live.watched("yard")
    finally:
        stop.set()
        feeder.join()


def test_a_stream_open_at_shutdown_does_not_hold_the_server(viewer, live, pictures):
    client, server = viewer
    feed(live, pictures[0], 0)
    connection = http.client.HTTPConnection(client.host, client.port, timeout=10)
    connection.request("GET", "/api/cameras/yard/mjpeg", headers={"Cookie": client.cookie})
    assert connection.getresponse().status == 200
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 4
    connection.close()


def test_system_takes_the_pipelines_sample(viewer, live):
    client, _ = viewer
    live.publish_system({"timestamp": 1.0, "cpu_percent": 12.5, "mem_percent": 40.0,
                         "temp_cpu_c": 55.0, "fps_yard": 9.5})  # fmt: skip
    answer = client.get("/api/system").json()
    assert answer["host"]["cpu_percent"] == 12.5 and answer["host"]["temp_cpu_c"] == 55.0
    yard = answer["cameras"][0]
    assert yard["name"] == "yard" and yard["fps"] is not None
    assert answer["raw"]["fps_yard"] == 9.5
