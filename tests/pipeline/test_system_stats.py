import json
import os
import threading
import time

import pytest

from edgewatch.pipeline.system import GpuStats, SystemSampler, pipeline_figures
from edgewatch.stats import PipelineStats


def test_sample_reads_this_machine_as_flat_numbers():
    sampler = SystemSampler()
    time.sleep(0.2)
    sample = sampler.sample()
    assert 0.0 <= sample["cpu_percent"] <= 100.0
    assert sample["cpu_count"] >= 1 and sample["mem_used_mb"] > 0
    assert 0 < sample["mem_percent"] < 100
    assert sample["load1"] >= 0
    assert all(isinstance(v, float | int) for v in sample.values())
    json.dumps(sample)  # publishable as is


def test_cpu_figure_is_real_on_every_thread_that_asks(busy_core):
    """Regression: psutil.cpu_percent(interval=None) keeps its last reading per thread, so
    the first sample on each new thread (the web server's request threads) said 0.0 while
    the box was busy."""
    sampler = SystemSampler()
    figures: list[float] = []
    for _ in range(2):
        time.sleep(1.2)  # each thread reads a window of its own, long enough to be real
        asking = threading.Thread(target=lambda: figures.append(sampler.sample()["cpu_percent"]))
        asking.start()
        asking.join()
    busy = 100 / os.cpu_count()  # one core of them all
    assert all(busy / 4 <= figure <= 100 for figure in figures), figures


def test_pipeline_figures_give_fps_per_camera_latency_and_drops():
    stats = PipelineStats()
    stats.count("frames_in.front", 100)
    stats.count("dropped.rtsp", 3)
    stats.count("reconnects.front", 1)
    stats.time("detect", 0.02)
    snapshot = stats.snapshot()
    snapshot["elapsed_s"] = 10.0
    figures = pipeline_figures(snapshot)
    assert figures["fps_front"] == 10.0
    assert figures["dropped_rtsp"] == 3 and figures["reconnects_front"] == 1
    assert figures["detect_ms"] == pytest.approx(20.0)


def test_gpu_figures_come_from_nvml_when_there_is_a_gpu():
    gpu = GpuStats()
    if not gpu.available:
        pytest.skip("no NVIDIA GPU/driver on this machine (CI has none)")
    figures = gpu.read()
    assert "gpu0_util_percent" in figures and figures["gpu0_mem_total_mb"] > 0
