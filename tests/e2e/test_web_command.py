"""The dashboard as users start it: `edgewatch run` serves it beside the pipeline on the
real footage and stops it at the end; `edgewatch web` serves it alone until Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import VENV_BIN, edgewatch, wait_for

from edgewatch.bench.localservers import free_port

pytestmark = pytest.mark.timeout(180)
ADDRESS = re.compile(r"web: (http://127\.0\.0\.1:\d+) \(user admin, password in (\S+)\)")


def write_config(tmp_path: Path, **top) -> Path:
    data = {
        "events": {"store_path": str(tmp_path / "events.sqlite3")},
        "web": {"history_path": str(tmp_path / "history.sqlite3")},
        "pipeline": {"stats_interval_s": 0, "system_interval_s": 1},
        **top,
    }
    path = tmp_path / "edgewatch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def start(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("EDGEWATCH_WEB_PASSWORD", None)
    return subprocess.Popen(
        [str(VENV_BIN / "edgewatch"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def address_line(process: subprocess.Popen, seen: list[str], timeout: float = 60) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if match := ADDRESS.search(line):
            return match
    pytest.fail("no address line; the command said:\n" + "".join(seen))


class Browser:
    """Logs in as a browser does and keeps the session cookie."""

    def __init__(self, url: str, password: str) -> None:
        self.url = url
        login = urllib.request.Request(
            f"{url}/api/login",
            json.dumps({"username": "admin", "password": password}).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(login, timeout=10) as answer:
            self.cookie = answer.headers["Set-Cookie"].split(";")[0]

    def get(self, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(f"{self.url}{path}", headers={"Cookie": self.cookie})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def json(self, path: str):
        status, body = self.get(path)
        assert status == 200, (status, body)
        return json.loads(body)


def refused(url: str) -> bool:
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_run_serves_the_live_view_of_its_cameras_and_stops_it_at_the_end(tmp_path):
    port = free_port()
    config = write_config(tmp_path)
    process = start(tmp_path, "run", "--config", str(config), "--no-rtsp",
                    "--max-frames", "120", "--web-port", str(port))  # fmt: skip
    seen: list[str] = []
    try:
        match = address_line(process, seen)
        url, password_file = match[1], Path(match[2])
        assert url == f"http://127.0.0.1:{port}"
        assert password_file == tmp_path / "state" / "edgewatch" / "web-password"
        password = password_file.read_text().strip()
        with pytest.raises(urllib.error.HTTPError) as refused_api:
            urllib.request.urlopen(f"{url}/api/cameras", timeout=10)
        assert refused_api.value.code == 401  # no API without the login
        browser = Browser(url, password)
        assert wait_for(lambda: browser.json("/api/cameras")[0]["state"] == "live", 30)
        (camera,) = browser.json("/api/cameras")
        assert camera["name"] == "sample" and (camera["width"], camera["height"]) == (768, 576)
        # The first look asks for pictures; one arrives within a frame or two.
        assert wait_for(lambda: browser.get("/api/cameras/sample/latest.jpg")[0] == 200, 10)
        status, jpeg = browser.get("/api/cameras/sample/latest.jpg")
        assert jpeg[:2] == b"\xff\xd8"
        # The pipeline's system sample (every second here) reaches the System page.
        assert wait_for(lambda: "cpu_percent" in browser.json("/api/system")["host"], 10)
        assert browser.json("/api/system")["cameras"][0]["state"] == "live"
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    stderr = "".join(seen) + err
    assert process.returncode == 0, stderr
    assert password not in stderr + out
    assert refused(url)  # the server went with the pipeline
    assert stderr.count("web: http://") == 1


def test_web_serves_the_stores_alone_until_interrupted(tmp_path):
    port = free_port()
    config = write_config(tmp_path, cameras=[{"name": "gate", "source": "rtsp://10.0.0.9/x"}])
    process = start(tmp_path, "web", "--config", str(config), "--port", str(port))
    seen: list[str] = []
    try:
        match = address_line(process, seen)
        browser = Browser(match[1], Path(match[2]).read_text().strip())
        (camera,) = browser.json("/api/cameras")
        assert camera["name"] == "gate" and camera["state"] == "not running"
        assert browser.json("/api/system")["host"]["cpu_percent"] >= 0
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, "".join(seen) + err
    assert refused(match[1])


def test_run_with_its_web_port_taken_is_one_error_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = edgewatch("run", "--config", str(write_config(tmp_path)), "--no-rtsp",
                           "--max-frames", "5", "--web-port", str(port),
                           env={"XDG_STATE_HOME": str(tmp_path / "state")})  # fmt: skip
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("edgewatch: error")]
    assert len(errors) == 1 and f"web port {port}" in errors[0]
    assert "Traceback" not in result.stderr


def test_run_without_the_web_dashboard_serves_nothing(tmp_path):
    config = write_config(tmp_path)
    state = {"XDG_STATE_HOME": str(tmp_path / "state")}
    result = edgewatch("run", "--config", str(config), "--no-rtsp", "--no-web",
                       "--max-frames", "5", env=state)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "web:" not in result.stderr
    assert not (tmp_path / "history.sqlite3").exists()
    assert not (tmp_path / "state" / "edgewatch" / "web-password").exists()
