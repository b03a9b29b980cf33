"""Every user mistake is one line naming the problem and the fix, with no traceback."""

from __future__ import annotations

import signal
import socket
import subprocess
import time

from conftest import VENV_BIN, edgewatch
from secrets_guard import record_output

from edgewatch.bench.localservers import free_port


def one_error_line(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("edgewatch: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_missing_video_file(tmp_path):
    line = one_error_line(
        edgewatch("run", "--no-web", "--source", str(tmp_path / "none.mp4"), "--no-rtsp")
    )
    assert "none.mp4 does not exist" in line and "check the path" in line


def test_corrupt_video_file(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    line = one_error_line(edgewatch("run", "--no-web", "--source", str(path), "--no-rtsp"))
    assert "cannot read video file" in line and "ffprobe" in line


def test_unreadable_video_file(tmp_path, vtest_path):
    import os

    if os.geteuid() == 0:
        # root reads everything; check the directory case instead, which no one can read
        line = one_error_line(edgewatch("run", "--no-web", "--source", str(tmp_path), "--no-rtsp"))
        assert "is a directory" in line
        return
    path = tmp_path / "locked.avi"
    path.write_bytes(vtest_path.read_bytes())
    path.chmod(0)
    assert "not readable" in one_error_line(
        edgewatch("run", "--no-web", "--source", str(path), "--no-rtsp")
    )


def test_missing_sample_clip_names_the_package():
    result = edgewatch(
        "run", "--no-web", "--no-rtsp", env={"EDGEWATCH_SAMPLE_CLIP": "/nonexistent/vtest.avi"}
    )
    assert "apt-get install opencv-doc" in one_error_line(result)


def run_briefly(*args: str, seconds: float = 4) -> tuple[int, str]:
    """Runs edgewatch, stops it with SIGTERM; returns (exit code, stderr)."""
    process = subprocess.Popen(
        [str(VENV_BIN / "edgewatch"), *args], stderr=subprocess.PIPE, text=True
    )
    time.sleep(seconds)
    assert process.poll() is None, "the pipeline must keep running and retrying"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    record_output(stderr)
    return process.returncode, stderr


def test_missing_webcam_is_named_and_retried():
    # A webcam is live: it may be plugged in later, so it is retried, not fatal.
    code, stderr = run_briefly(
        "run", "--no-web", "--no-rtsp", "--source", "/dev/video99", seconds=3
    )
    assert code == 0 and "Traceback" not in stderr
    assert "webcam /dev/video99 does not exist" in stderr and "v4l2-ctl --list-devices" in stderr


def test_rtsp_port_in_use(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        line = one_error_line(
            edgewatch("run", "--no-web", "--max-frames", "5", "--rtsp-port", str(port))
        )
    assert f"port {port}" in line and "already in use" in line


def test_missing_gstreamer_bindings_name_the_install_line(tmp_path):
    fake = tmp_path / "gi"  # stands in for a machine without PyGObject: it cannot import
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('No module named gi')\n")
    result = edgewatch("run", "--no-web", "--max-frames", "5", env={"PYTHONPATH": str(tmp_path)})
    line = one_error_line(result)
    assert "apt-get install" in line and "gir1.2-gst-rtsp-server-1.0" in line


def test_unwritable_json_output(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    line = one_error_line(
        edgewatch("run", "--no-web", "--no-rtsp", "--max-frames", "2",
                  "--json-out", str(blocked / "d.jsonl"))
    )  # fmt: skip
    assert "cannot write JSON lines" in line and "--json-out" in line


def test_missing_image_for_detect(tmp_path):
    assert "does not exist" in one_error_line(edgewatch("detect", str(tmp_path / "x.jpg")))


def test_unreachable_camera_at_start_is_retried_without_stopping():
    port = free_port()  # nothing listens there
    code, stderr = run_briefly(
        "run", "--no-web", "--no-rtsp", "--source", f"rtsp://admin:s3cret@127.0.0.1:{port}/stream",
        seconds=5,
    )  # fmt: skip
    assert code == 0 and "Traceback" not in stderr
    assert f"cannot read rtsp://admin:***@127.0.0.1:{port}/stream" in stderr
    assert "retrying in 1 s" in stderr and "retrying in 2 s" in stderr
    assert "s3cret" not in stderr  # credentials never reach the logs
