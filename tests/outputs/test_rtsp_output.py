"""RtspSink against real viewers: PyAV and ffprobe reading a real server on a loopback port."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
from conftest import read_frames

from edgewatch.bench.localservers import free_port
from edgewatch.errors import ConfigError, EdgewatchError, MissingDependencyError
from edgewatch.outputs.base import StreamInfo
from edgewatch.outputs.rtsp import PASSWORD_ENV, RtspConfig, RtspSink
from edgewatch.types import Detections, Frame

pytestmark = pytest.mark.timeout(60)

BOX = (100, 100, 300, 250)  # x0, y0, x1, y1 of the filled green rectangle drawn on each frame
# A live viewer: ffmpeg's default probe of 20 frames would add 2 s at 10 fps on the client side.
VIEWER = {"rtsp_transport": "tcp", "probesize": "32", "analyzeduration": "0"}


@pytest.fixture(scope="module")
def gstreamer() -> None:
    """Loaded when a test needs it, not at collection, so other modules run without it."""
    from edgewatch.outputs.rtsp_server import import_gstreamer

    try:
        import_gstreamer()
    except MissingDependencyError as error:
        pytest.skip(str(error))


needs_gstreamer = pytest.mark.usefixtures("gstreamer")
av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def footage(vtest_path: Path) -> list[np.ndarray]:
    """40 real frames, each with a filled green rectangle at BOX, as an annotator would draw."""
    frames = read_frames(vtest_path, list(range(40)))
    for image in frames:
        cv2.rectangle(image, BOX[:2], BOX[2:], (0, 255, 0), thickness=-1)
    return frames


@contextlib.contextmanager
def serving(
    footage: list[np.ndarray], streams: list[StreamInfo], fps: float = 20.0, **config: object
) -> Iterator[RtspSink]:
    """A running RtspSink fed from a thread, as the pipeline would, at ``fps``."""
    sink = RtspSink(RtspConfig(port=free_port(), **config))
    sink.open(streams)
    stop, running = threading.Event(), threading.Event()

    def feed() -> None:
        index = 0
        while not stop.is_set():
            for info in streams:
                image = footage[index % len(footage)].copy()
                sink.write(Frame(info.camera, index, time.time(), image), Detections.empty())
            running.set()
            index += 1
            stop.wait(1 / fps)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    running.wait(timeout=5)
    try:
        yield sink
    finally:
        stop.set()
        feeder.join()
        sink.close()


def open_viewer(url: str) -> av.container.InputContainer:
    return av.open(url, options=VIEWER, timeout=(5.0, 5.0))


def pictures(container: av.container.InputContainer) -> Iterator[np.ndarray]:
    for frame in container.decode(video=0):
        yield frame.to_ndarray(format="bgr24")


def assert_green_box(image: np.ndarray, scale: float = 1.0) -> None:
    x0, y0, x1, y1 = (round(v * scale) for v in BOX)
    margin = round(8 * scale)  # compression blurs the edges
    inside = image[y0 + margin : y1 - margin, x0 + margin : x1 - margin].reshape(-1, 3).mean(0)
    assert inside[1] > 200 and inside[0] < 60 and inside[2] < 60, f"box BGR mean {inside}"
    outside = image[y1 + margin :, x1 + margin :].reshape(-1, 3).mean(0)
    assert not (outside[1] > 200 and outside[0] < 60), f"green outside the box: {outside}"


def listening_addresses(port: int) -> set[str]:
    return {
        c.laddr.ip
        for c in psutil.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }


def ffprobe(url: str) -> dict:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_streams", "-of", "json", url],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return json.loads(result.stdout)["streams"][0]


@needs_gstreamer
def test_viewer_decodes_the_annotated_frames(footage, caplog):
    caplog.set_level(logging.INFO, logger="edgewatch")
    with serving(footage, [StreamInfo("front", 768, 576, 10.0)]) as sink:
        url = sink.urls["front"]
        assert f"serving {url}" in caplog.text
        with open_viewer(url) as viewer:
            images = list(itertools.islice(pictures(viewer), 5))
            stats = sink.stats()["front"]
        assert [image.shape for image in images] == [(576, 768, 3)] * 5
        assert_green_box(images[-1])
        assert stats["viewers"] == 1 and stats["frames_pushed"] >= 5
        assert 0 < stats["encode_ms"] < 100
    assert "RTSP viewer 127.0.0.1 connected" in caplog.text
    assert "RTSP viewer 127.0.0.1 disconnected" in caplog.text


@needs_gstreamer
def test_each_camera_has_an_h264_mount_of_its_own_size(footage):
    streams = [StreamInfo("front", 768, 576, 10.0), StreamInfo("back yard", 384, 288, 10.0)]
    with serving(footage, streams) as sink:
        assert sink.urls["back yard"].endswith("/back%20yard")
        front, yard = ffprobe(sink.urls["front"]), ffprobe(sink.urls["back yard"])
        with open_viewer(sink.urls["back yard"]) as viewer:
            image = next(pictures(viewer))
    assert (front["codec_name"], front["width"], front["height"]) == ("h264", 768, 576)
    assert (yard["codec_name"], yard["width"], yard["height"]) == ("h264", 384, 288)
    assert image.shape == (288, 384, 3)  # 768x576 frames resized to the mount
    assert_green_box(image, scale=0.5)


@needs_gstreamer
def test_two_viewers_at_once_share_one_encoder(footage, caplog):
    caplog.set_level(logging.DEBUG, logger="edgewatch")
    with (
        serving(footage, [StreamInfo("front", 768, 576, 10.0)]) as sink,
        open_viewer(sink.urls["front"]) as first,
        open_viewer(sink.urls["front"]) as second,
    ):
        a, b = pictures(first), pictures(second)
        for _ in range(10):  # alternate so that both stay connected and read
            image_a, image_b = next(a), next(b)
        assert sink.stats()["front"]["viewers"] == 2
    assert_green_box(image_a)
    assert_green_box(image_b)
    assert caplog.text.count("encoder started") == 1


@needs_gstreamer
@pytest.mark.parametrize("keyframe_interval_s", [0.5, 10.0])
def test_late_viewer_sees_a_picture_within_a_second(footage, keyframe_interval_s):
    """With keyframes 10 s apart only the key unit forced on joining can make it in time."""
    streams = [StreamInfo("front", 768, 576, 10.0)]
    with serving(footage, streams, keyframe_interval_s=keyframe_interval_s) as sink:
        url = sink.urls["front"]
        with open_viewer(url) as early:
            stop = threading.Event()

            def keep_reading() -> None:  # the early viewer watches all along
                for _ in pictures(early):
                    if stop.is_set():
                        return

            reader = threading.Thread(target=keep_reading, daemon=True)
            reader.start()
            time.sleep(2.5)  # the shared stream has run past its first keyframe
            started = time.monotonic()
            with open_viewer(url) as late:
                image = next(pictures(late))
                waited = time.monotonic() - started
            stop.set()
            reader.join(timeout=10)  # before `early` closes under it
    assert waited < 1.0, f"late viewer waited {waited:.2f} s for a picture"
    assert_green_box(image)


@needs_gstreamer
def test_login_needed_when_username_set_and_password_never_logged(footage, caplog):
    caplog.set_level(logging.DEBUG)
    password = "Zq8-not-in-logs"
    streams = [StreamInfo("front", 768, 576, 10.0)]
    with serving(footage, streams, username="guard", password=password) as sink:
        url = sink.urls["front"]
        with pytest.raises(av.FFmpegError):
            open_viewer(url)
        with pytest.raises(av.FFmpegError):
            open_viewer(url.replace("rtsp://", "rtsp://guard:wrong@"))
        with open_viewer(url.replace("rtsp://", f"rtsp://guard:{password}@")) as viewer:
            assert_green_box(next(pictures(viewer)))
    assert f"serving {url}" in caplog.text
    assert password not in caplog.text


@needs_gstreamer
def test_password_can_come_from_the_environment(footage, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    with serving(footage, [StreamInfo("front", 768, 576, 10.0)], username="guard") as sink:
        url = sink.urls["front"].replace("rtsp://", "rtsp://guard:from-env@")
        with open_viewer(url) as viewer:
            assert next(pictures(viewer)).shape == (576, 768, 3)


def test_username_without_password_is_a_config_error(monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(ConfigError, match=PASSWORD_ENV):
        RtspSink(RtspConfig(username="guard"))


@needs_gstreamer
def test_port_in_use_is_a_one_line_error_with_the_fix():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sink = RtspSink(RtspConfig(port=port))
        with pytest.raises(EdgewatchError) as caught:
            sink.open([StreamInfo("front", 768, 576, 10.0)])
        sink.close()
    message = str(caught.value)
    assert f"RTSP port {port} on 127.0.0.1 is already in use" in message
    assert "--rtsp-port" in message and "\n" not in message


@needs_gstreamer
def test_listens_on_loopback_only():
    sink = RtspSink(RtspConfig(port=free_port()))
    sink.open([StreamInfo("front", 768, 576, 10.0)])
    try:
        assert listening_addresses(sink.config.port) == {"127.0.0.1"}
    finally:
        sink.close()


@needs_gstreamer
def udp_sockets_of_this_process() -> set[str]:
    return {c.laddr.ip for c in psutil.Process().net_connections("udp")}


def test_no_udp_socket_beyond_the_host_a_udp_viewer_is_refused(footage):
    """Regression: a viewer asking for RTP over UDP made GStreamer open UDP sockets on
    0.0.0.0 and :: although the server was bound to 127.0.0.1 (with ``udp: true`` it still
    does: that is why it is off)."""
    with serving(footage, [StreamInfo("cam", 320, 240, 20.0)]) as sink:
        url = sink.urls["cam"]
        viewer = subprocess.Popen(
            ["ffmpeg", "-v", "error", "-rtsp_transport", "udp", "-i", url, "-t", "3", "-f",
             "null", "-"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(1.5)  # while it plays, were it let in
        sockets = udp_sockets_of_this_process()
        _, stderr = viewer.communicate(timeout=20)
        assert viewer.returncode != 0 and "461 Unsupported transport" in stderr
        assert sockets == set()
        assert ffprobe(url)["codec_name"] == "h264"  # over TCP it plays


def test_close_with_a_viewer_connected_is_idempotent_and_frees_the_port(footage):
    with serving(footage, [StreamInfo("front", 768, 576, 10.0)]) as sink:
        viewer = open_viewer(sink.urls["front"])
        next(pictures(viewer))
        sink.close()
        sink.close()
        assert not any(t.name == "edgewatch-rtsp" for t in threading.enumerate())
        assert not listening_addresses(sink.config.port)
        again = RtspSink(sink.config)  # a restart can take the same port at once
        again.open([StreamInfo("front", 768, 576, 10.0)])
        again.close()
        started = time.monotonic()
        for _ in pictures(viewer):  # the server hung up: the stream ends
            pass
        assert time.monotonic() - started < 2.0
        viewer.close()


@needs_gstreamer
def test_viewer_is_answered_before_any_frame_and_close_is_prompt():
    """DESCRIBE used to wait, on the server's only thread, for a first frame: with no frames
    flowing a viewer got 503 after 20 s, and close() stalled 5 s and left the thread behind."""
    sink = RtspSink(RtspConfig(port=free_port()))
    sink.open([StreamInfo("front", 768, 576, 10.0)])
    probe = subprocess.Popen(
        ["ffprobe", "-v", "quiet", "-rtsp_transport", "tcp", sink.urls["front"]]
    )
    try:
        deadline = time.monotonic() + 3.0
        while sink.stats()["front"]["viewers"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sink.stats()["front"]["viewers"] == 1  # DESCRIBE, SETUP and PLAY all answered
        started = time.monotonic()
        sink.close()
        assert time.monotonic() - started < 2.0
        assert not any(t.name == "edgewatch-rtsp" for t in threading.enumerate())
    finally:
        probe.kill()
        probe.wait()


@needs_gstreamer
def test_no_encoding_without_viewers(footage):
    with serving(footage, [StreamInfo("front", 768, 576, 10.0)]) as sink:
        time.sleep(1.0)
        stats = sink.stats()["front"]
    assert stats == {"frames_pushed": 0, "frames_dropped": 0, "viewers": 0, "encode_ms": None}


@needs_gstreamer
def test_slow_encoder_drops_frames_instead_of_blocking_write(footage):
    big = cv2.resize(footage[0], (1920, 1080))
    sink = RtspSink(RtspConfig(port=free_port()))
    sink.open([StreamInfo("front", 1920, 1080, 30.0)])
    try:
        writes: list[float] = []
        done = threading.Event()

        def flood() -> None:  # far faster than x264 can encode 1080p on this machine
            while not done.is_set():
                started = time.perf_counter()
                sink.write(Frame("front", 0, time.time(), big), Detections.empty())
                writes.append(time.perf_counter() - started)

        flooder = threading.Thread(target=flood, daemon=True)
        flooder.start()
        with open_viewer(sink.urls["front"]) as viewer:
            writes.clear()
            next(pictures(viewer))
            time.sleep(1.0)
            written = len(writes)  # writes that returned before the figures are read
            stats = sink.stats()["front"]
        done.set()
        flooder.join()
    finally:
        sink.close()
    assert stats["frames_dropped"] > 0
    assert stats["frames_pushed"] + stats["frames_dropped"] >= written
    assert max(writes) < 0.2, f"a write took {max(writes):.3f} s"


def test_missing_pygobject_names_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "gi", None)  # makes `import gi` fail
    sink = RtspSink(RtspConfig(port=free_port()))
    with pytest.raises(MissingDependencyError) as caught:
        sink.open([StreamInfo("front", 768, 576, 10.0)])
    assert "gir1.2-gst-rtsp-server-1.0" in str(caught.value)
    assert 'pip install "PyGObject<3.51"' in str(caught.value)


def test_module_imports_without_pygobject():
    code = (
        "import sys; sys.modules['gi'] = None; "
        "import edgewatch.outputs.rtsp, edgewatch.outputs.rtsp_server"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


@needs_gstreamer
def test_gstreamer_loaded_first_leaves_onnxruntime_exceptions_working(tmp_path):
    """libunwind, which libgstreamer loads, took over C++ exception unwinding: a corrupt
    model made onnxruntime segfault instead of raising, once the RTSP server had started."""
    pytest.importorskip("onnxruntime")
    model = tmp_path / "corrupt.onnx"
    model.write_text("not a model")
    code = (
        "import numpy\n"
        "from edgewatch.outputs.rtsp_server import import_gstreamer\n"
        "import_gstreamer()\n"
        "import onnxruntime  # after GStreamer, as when the RTSP sink opens first\n"
        "try:\n"
        f"    onnxruntime.InferenceSession({str(model)!r}, providers=['CPUExecutionProvider'])\n"
        "except Exception:\n"
        "    print('raised')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "raised"
