"""Shared fixtures: the real footage, free loopback ports, the edgewatch command.

The tests mirror src/edgewatch/ folder by folder; e2e/ holds whole runs of the command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgewatch import supervise
from edgewatch.bench.localservers import free_port
from edgewatch.paths import SAMPLE_CLIP

VENV_BIN = Path(sys.executable).parent
pytest_plugins = ["secrets_guard"]  # no test password in anything the runs print


@pytest.fixture(autouse=True)
def no_worker_crashes():
    """A worker thread that failed beyond restarting fails the test that caused it (and
    does not end the next test's pipeline). Tests of crashes reset it themselves."""
    supervise.reset()
    yield
    crash = supervise.crashed()
    supervise.reset()
    if crash:
        pytest.fail(f"a worker thread crashed during the test: {crash}")


@pytest.fixture(scope="session")
def vtest_path() -> Path:
    """Real CCTV footage: people walking past a parked van and car (768x576, 10 fps)."""
    if not SAMPLE_CLIP.exists():
        pytest.fail(f"{SAMPLE_CLIP} missing: `make test` installs it (apt-get install opencv-doc)")
    return SAMPLE_CLIP


@pytest.fixture
def nvdec_clip() -> str:
    """An H.264/H.265 clip (``EDGEWATCH_GPU_CLIP``) on a machine with NVDEC; skips
    elsewhere (CI has no GPU). NVDEC takes no MPEG-4 Part 2: not vtest.avi itself."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU (CI has none)")
    from edgewatch.gpu.decode import nvdec_available

    if not nvdec_available():
        pytest.skip("PyNvVideoCodec is not installed")
    clip = os.environ.get("EDGEWATCH_GPU_CLIP")
    if not clip:
        pytest.skip("EDGEWATCH_GPU_CLIP names no H.264/H.265 clip")
    return clip


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def busy_core():
    """One CPU core kept busy by another process while the test runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)  # it runs
    yield
    spinner.kill()
    spinner.wait()


def read_frames(path: Path, indices: list[int]):
    """The decoded BGR frames of a video at the given 0-based positions: with PyAV, or
    with OpenCV where PyAV is not installed (the GPU machine)."""
    wanted = set(indices)
    frames = {}
    for i, frame in enumerate(_decoded_bgr(path)):
        if i in wanted:
            frames[i] = frame
        if len(frames) == len(wanted):
            break
    return [frames[i] for i in indices]


def _decoded_bgr(path: Path):
    try:
        import av
    except ImportError:
        import cv2

        capture = cv2.VideoCapture(str(path))
        while (read := capture.read())[0]:
            yield read[1]
        capture.release()
        return
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="bgr24")


def wait_for(predicate, timeout: float, interval: float = 0.1) -> bool:
    """Polls ``predicate`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def edgewatch(*args: str, timeout: float = 240, **kwargs) -> subprocess.CompletedProcess:
    """Runs the installed `edgewatch` command as a user would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **kwargs.pop("env", {})}
    result = subprocess.run(
        [str(VENV_BIN / "edgewatch"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,
    )
    from secrets_guard import record_output  # the plugin pytest_plugins loads

    record_output(result.stdout, result.stderr)
    return result
