"""No thread dies silently: a worker that fails is restarted, or the process is marked as
crashed so that the command exits non-zero (and systemd starts it again)."""

import threading
import time

import pytest

from edgewatch import supervise
from edgewatch.supervise import SupervisedThread


@pytest.fixture(autouse=True)
def fresh():
    supervise.reset()
    yield
    supervise.reset()


def test_a_restartable_worker_runs_again_after_a_failure(monkeypatch, caplog):
    monkeypatch.setattr(supervise, "RESTART_MIN_S", 0.01)
    runs, finished = [], threading.Event()

    def work():
        runs.append(time.monotonic())
        if len(runs) < 3:
            raise RuntimeError("a bug")

    thread = SupervisedThread(work, name="flaky", restart=True)
    thread.finish = finished.set
    thread.start()
    assert finished.wait(5)
    assert len(runs) == 3 and thread.crashes == 2
    assert supervise.crashed() is None  # recovered: the process goes on
    assert supervise.health()["thread_crashes"] == 2
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1  # the traceback once, not once per failure
    assert "thread flaky failed unexpectedly (a bug); restarting it" in tracebacks[0].getMessage()


def test_a_worker_that_cannot_restart_marks_the_process_as_crashed():
    thread = SupervisedThread(lambda: 1 / 0, name="detector")
    thread.start()
    thread.join(5)
    assert supervise.crashed() == "thread detector failed: ZeroDivisionError: division by zero"


def test_health_counts_live_threads_and_the_most_stuck_one():
    stop = threading.Event()
    quiet = SupervisedThread(lambda: stop.wait(5), name="quiet")
    quiet.start()
    time.sleep(0.3)
    figures = supervise.health()
    assert figures["threads_alive"] >= 1 and figures["stalest_thread_s"] >= 0.3
    stop.set()
    quiet.join(5)


def test_a_detector_breaking_its_contract_ends_the_run_as_a_crash(vtest_path):
    """A plug-in detector that returns something else than Detections: a detection
    worker fails, and the run ends (it does not sit there alive, detecting nothing)."""
    from edgewatch.config import config_from_dict
    from edgewatch.detect.coco import COCO_CLASS_NAMES
    from edgewatch.pipeline import build_pipeline

    class Broken:
        class_names = COCO_CLASS_NAMES

        def detect(self, images):
            return ["not detections"] * len(images)

    config = config_from_dict({
        "cameras": [{"name": "c", "source": "sample", "realtime": True}],
        "outputs": {"rtsp": {"enabled": False}},
        "pipeline": {"stats_interval_s": 0},
    })  # fmt: skip
    started = time.monotonic()
    summary = build_pipeline(config, detector=Broken(), sinks=[]).run()
    assert time.monotonic() - started < 10  # the looping sample would run forever
    assert summary.crashed.startswith("thread detector-1 failed: AttributeError")
