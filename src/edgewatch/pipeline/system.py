"""The edge box's own health, as one flat JSON object of numbers per sample.

CPU, memory, load and temperatures from psutil; NVIDIA GPUs through NVML when the driver
and `nvidia-ml-py` are there; Jetson boards through jtop when it is installed; and the
pipeline's own figures (frames/s per camera, detector latency, drops, reconnects), and
its health (`edgewatch.supervise.health`: worker threads alive and crashed).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence

import psutil

from edgewatch.outputs.base import TakesSystemStats
from edgewatch.stats import sample_key
from edgewatch.supervise import health

log = logging.getLogger(__name__)


CPU_WINDOW_S = 1.0  # the CPU figure is the use over the last this many seconds
CPU_FIRST_WINDOW_S = 0.25  # the first figure's window: a quick first answer


class CpuMeter:
    """The box's CPU use in percent over the last second, the same figure whichever
    thread asks.

    ``psutil.cpu_percent(interval=None)`` keeps its last reading per thread: the first
    call on each new thread (the web server answers on a pool of them) says 0.0 however
    busy the box is, and callers on one thread measure over each other's windows. So one
    thread of its own reads the CPU times every `CPU_WINDOW_S` and keeps the figure of
    the last window; `percent` only reads it (the very first waits for the first window).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._measured = threading.Event()
        self._percent = 0.0
        threading.Thread(target=self._measure, name="cpu-meter", daemon=True).start()

    def percent(self) -> float:
        self._measured.wait(CPU_FIRST_WINDOW_S + 1.0)
        with self._lock:
            return self._percent

    def _measure(self) -> None:
        before = psutil.cpu_times()
        window = CPU_FIRST_WINDOW_S
        while True:
            time.sleep(window)
            window = CPU_WINDOW_S
            try:
                now = psutil.cpu_times()
                busy, total = _busy(now) - _busy(before), _total(now) - _total(before)
            except Exception:  # a figure is never worth a dead meter: try again
                log.debug("reading the CPU times failed", exc_info=True)
                continue
            if total <= 0:  # no clock tick yet: the window goes on
                continue
            with self._lock:
                self._percent = round(min(max(100.0 * busy / total, 0.0), 100.0), 1)
            self._measured.set()
            before = now


def _total(times) -> float:
    """All CPU time; guest time is already counted in user time on Linux (as psutil)."""
    return sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)


def _busy(times) -> float:
    return _total(times) - times.idle - getattr(times, "iowait", 0.0)


_meter: CpuMeter | None = None
_meter_lock = threading.Lock()


def cpu_meter() -> CpuMeter:
    """The process's one CPU meter (started on first use): every sampler reads it."""
    global _meter
    with _meter_lock:
        if _meter is None:
            _meter = CpuMeter()
        return _meter


def host_stats() -> dict[str, float]:
    memory = psutil.virtual_memory()
    stats: dict[str, float] = {
        "cpu_percent": cpu_meter().percent(),
        "cpu_count": float(os.cpu_count() or 0),
        "mem_percent": memory.percent,
        "mem_used_mb": round(memory.used / 2**20, 1),
        "mem_available_mb": round(memory.available / 2**20, 1),
    }
    load1, load5, load15 = os.getloadavg()
    stats.update(load1=load1, load5=load5, load15=load15)
    temperatures = getattr(psutil, "sensors_temperatures", lambda: {})() or {}
    for chip, readings in temperatures.items():
        current = [r.current for r in readings if r.current is not None]
        if current:  # the hottest reading of each chip is what overheating is about
            stats[f"temp_{sample_key(chip)}_c"] = max(current)
    return stats


class GpuStats:
    """NVML readings per GPU; `available` is False where there is no NVIDIA driver."""

    def __init__(self) -> None:
        self.available = False
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handles = [
                pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())
            ]
            self.available = bool(self._handles)
        except Exception:  # no package, no driver, no GPU: all mean "no GPU figures"
            self._handles = []

    def read(self) -> dict[str, float]:
        stats: dict[str, float] = {}
        nvml = getattr(self, "_nvml", None)
        for i, handle in enumerate(self._handles):
            try:
                util = nvml.nvmlDeviceGetUtilizationRates(handle)
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                stats[f"gpu{i}_util_percent"] = float(util.gpu)
                stats[f"gpu{i}_mem_used_mb"] = round(memory.used / 2**20, 1)
                stats[f"gpu{i}_mem_total_mb"] = round(memory.total / 2**20, 1)
                stats[f"gpu{i}_temp_c"] = float(
                    nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
                )
            except Exception as error:  # one failing query must not hide the others
                log.debug("NVML read of GPU %d failed: %s", i, error)
        return stats


def jetson_stats() -> dict[str, float]:
    """Jetson boards: GPU load and temperatures from jtop (jetson-stats) when installed."""
    try:
        from jtop import jtop  # type: ignore[import-not-found]
    except ImportError:
        return {}
    try:
        with jtop() as jetson:
            stats = {}
            for key, value in jetson.stats.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    stats[f"jetson_{sample_key(str(key))}"] = float(value)
            return stats
    except Exception as error:
        log.debug("jtop read failed: %s", error)
        return {}


def pipeline_figures(snapshot: dict) -> dict[str, float]:
    """Frames/s per camera, stage latencies, drops and reconnects from PipelineStats."""
    elapsed = snapshot.get("elapsed_s") or 0.0
    stats: dict[str, float] = {}
    for name, value in snapshot.get("counters", {}).items():
        if name.startswith("frames_in.") and elapsed:
            stats[f"fps_{sample_key(name.removeprefix('frames_in.'))}"] = round(value / elapsed, 2)
        elif name.startswith(("dropped", "reconnect", "errors")):
            stats[sample_key(name)] = float(value)
    for stage, ms in snapshot.get("stages_ms", {}).items():
        stats[f"{sample_key(stage)}_ms"] = float(ms)
    return stats


class SystemSampler:
    """Collects one sample on demand; GPUs are probed once."""

    def __init__(self) -> None:
        self.gpu = GpuStats()
        cpu_meter()  # starts measuring: the first sample's CPU figure is a real one

    def sample(self, pipeline_snapshot: dict | None = None) -> dict[str, float]:
        stats = {"timestamp": round(time.time(), 3), **host_stats()}
        if self.gpu.available:
            stats.update(self.gpu.read())
        stats.update(jetson_stats())
        stats.update(health())  # threads alive, crashed, the most stuck one's silence
        if pipeline_snapshot:
            stats.update(pipeline_figures(pipeline_snapshot))
        return stats


class SystemPublisher:
    """Sends a sample to the outputs that take them (MQTT, the InfluxDB output) every
    ``interval`` seconds; sampling costs a millisecond, so the pipeline's supervising
    loop calls `tick` between its other chores."""

    def __init__(
        self,
        outputs: Sequence[TakesSystemStats],
        interval: float,
        pipeline_snapshot: Callable[[], dict],
    ) -> None:
        self.outputs, self.interval = list(outputs), interval
        self.pipeline_snapshot = pipeline_snapshot
        self.sampler = SystemSampler()
        self.next = time.monotonic() + min(interval, 1.0)

    def tick(self) -> None:
        if time.monotonic() < self.next:
            return
        self.next += self.interval
        try:
            sample = self.sampler.sample(self.pipeline_snapshot())
            for output in self.outputs:
                output.publish_system(sample)
        except Exception:  # statistics are never worth stopping the pipeline for
            log.exception("publishing system statistics failed")
