"""Pipeline guarantees: files lose no frame, failing outputs do not stop the rest,
slow live outputs do not stall detection."""

from __future__ import annotations

import time

from edgewatch.config import config_from_dict
from edgewatch.pipeline import build_pipeline


class SlowFileSink:
    """A lossless output slower than the detector (like a recorder on a slow disk)."""

    name, wants_annotated, lossless = "slow-file", False, True

    def __init__(self, delay: float) -> None:
        self.delay, self.seen, self.closed = delay, [], False

    def open(self, streams):
        pass

    def write(self, frame, detections):
        time.sleep(self.delay)
        self.seen.append(frame.index)

    def close(self):
        self.closed = True


class SlowLiveSink(SlowFileSink):
    name, lossless = "slow-live", False


class BrokenSink(SlowFileSink):
    name = "broken"

    def write(self, frame, detections):
        if frame.index % 3 == 0:
            raise OSError("disk full")
        self.seen.append(frame.index)


def file_config(frames: int, **pipeline) -> dict:
    return config_from_dict(
        {
            "cameras": [{"name": "cam", "source": "sample", "realtime": False,
                         "max_frames": frames}],
            "outputs": {"rtsp": {"enabled": False}},
            "pipeline": {"stats_interval_s": 0, "sink_queue": 4, **pipeline},
        }
    )  # fmt: skip


def run_with(config, *sinks):
    # Outputs passed in are wired exactly as the built-in ones are.
    pipeline = build_pipeline(config, sinks=sinks)
    return pipeline, pipeline.run()


def test_file_source_loses_no_frame_behind_a_slow_output():
    slow = SlowFileSink(delay=0.05)  # ~20 frames/s, slower than detection
    _, summary = run_with(file_config(60), slow)
    assert slow.seen == list(range(60))
    assert summary.frames == {"cam": 60} and slow.closed


def test_slow_live_output_drops_its_oldest_frames_instead_of_stalling_detection():
    slow = SlowLiveSink(delay=0.2)
    started = time.monotonic()
    pipeline, summary = run_with(file_config(60), slow)
    assert summary.frames == {"cam": 60}
    # 60 frames through a 0.2 s/frame output would take 12 s if it stalled detection.
    assert time.monotonic() - started < 8
    assert summary.stats["counters"]["dropped.slow-live"] > 0
    assert len(slow.seen) < 60 and slow.seen == sorted(slow.seen)


def test_failing_output_is_counted_and_the_others_keep_running():
    broken, healthy = BrokenSink(0), SlowFileSink(0)
    _, summary = run_with(file_config(30), broken, healthy)
    assert healthy.seen == list(range(30))
    assert broken.seen == [i for i in range(30) if i % 3]
    assert summary.stats["counters"]["errors.broken"] == 10


def test_detection_every_frame_reports_per_stage_timings():
    _, summary = run_with(file_config(20))
    stages = summary.stats["stages_ms"]
    assert stages["decode"] > 0 and stages["detect"] > 0
