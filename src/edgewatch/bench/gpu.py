"""`edgewatch bench gpu`: how many 1080p30 cameras one GPU box detects and tracks.

In one run, on copies of one clip (``--source``, a 1080p30 H.264 or H.265 file):

* the naive baseline: OpenCV (FFmpeg) decoding on the CPU, each frame detected alone
  (batch 1) by the same PyTorch SSD on the GPU;
* the NVDEC ceiling: the engine's process layout decoding only, as fast as it can;
* the engine as fast as it can: decode -> detect -> track -> the detection message;
* the engine with every copy paced at 30 frames/s like a live camera, for each stream
  count of ``--streams``: a count is sustained when every stream delivered at least 97%
  of its frames, none was dropped, and the p95 capture-to-message latency stayed under
  100 ms.

Beside them: per-stage times, GPU and NVDEC utilisation (NVML), CPU cores used. Each
engine run counts its steady state, after a warm-up in which every camera and shard
starts at once; the latency with the warm-up counted is printed too.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, replace

import numpy as np
import psutil

from edgewatch.bench.tracking import cpu_reference, print_cpu_reference
from edgewatch.machine import describe_machine

PACE_FPS = 30.0
LATENCY_TARGET_S = 0.1


def _jobs(source: str, streams: int, *, processes: int, devices: list[int], model_path=None,
          spread_phases: bool = False, **options):  # fmt: skip
    """Shard jobs for ``streams`` copies of ``source``, laid out as `edgewatch run` lays
    out that many cameras with the default config; ``options`` for every shard. With
    ``spread_phases``, camera i captures i/streams of a frame period after camera 0."""
    from edgewatch.config import config_from_dict
    from edgewatch.pipeline.build import detector_config
    from edgewatch.pipeline.gpu_stage import shard_jobs

    config = config_from_dict(
        {
            "cameras": [{"name": f"cam{i:03d}", "source": source} for i in range(streams)],
            "detector": {"model_path": model_path} if model_path else {},
        }
    )
    detector = detector_config(config).model_dump(mode="json")
    jobs = shard_jobs(config, detector, f"cuda:{devices[0]}", processes=processes)
    phases = {}
    if spread_phases:
        phases = {camera.name: i / streams for i, camera in enumerate(config.cameras)}
    return [
        replace(job, phases={c: phases[c] for c in job.sources if c in phases}, **options)
        for job in jobs
    ]


class _Sampler:
    """GPU, NVDEC and CPU use over a run, sampled every half second."""

    def __init__(self) -> None:
        self.gpu: list[float] = []
        self.nvdec: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _Sampler:
        self.restart()
        self._thread.start()
        return self

    def restart(self) -> None:
        """Counts from now: the start-up (CUDA, the model) is not the steady state."""
        self.gpu.clear()
        self.nvdec.clear()
        self.cores: float | None = None
        self._cpu = psutil.cpu_times()
        self._started = time.perf_counter()

    def finish(self) -> None:
        """Counts up to now: the window ends here, not after the shards have stopped."""
        if self.cores is None:
            now = psutil.cpu_times()
            busy = sum(now) - sum(self._cpu) - (now.idle - self._cpu.idle)
            self.cores = busy / max(time.perf_counter() - self._started, 1e-9)
            self._stop.set()

    def __exit__(self, *exc) -> None:
        self.finish()
        self._thread.join()

    def _sample(self) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception:  # no NVML: the figures stay empty
            return
        while not self._stop.wait(0.5):
            self.gpu.append(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            self.nvdec.append(pynvml.nvmlDeviceGetDecoderUtilization(handle)[0])

    def figures(self) -> dict:
        return {
            "gpu_util_pct": round(float(np.mean(self.gpu)), 1) if self.gpu else None,
            "nvdec_util_pct": round(float(np.mean(self.nvdec)), 1) if self.nvdec else None,
            "cpu_cores_used": round(self.cores, 2),
        }


WARM_UP_S = 2.0  # of every engine run, not counted (see run_engine)


class _Window:
    """A run's results split at the end of its warm-up: the figures count the steady
    state after it (``seconds`` long); the latency with the start-up kept beside them."""

    def __init__(self, cameras: list[str], warm_up_s: float, seconds: float) -> None:
        self.warm_up_s, self.seconds = warm_up_s, seconds
        self.per_stream = dict.fromkeys(cameras, 0)
        self.latency: list[float] = []
        self.with_start: list[float] = []  # from the first result on
        # Where the latency goes: capture -> its batch leaves the collector -> boxes on
        # the host -> the main process has the result (tracking, the message, the queue).
        self.parts: dict[str, list[float]] = {"to_batch": [], "detect": [], "to_main": []}
        self.messages = 0

    def add(self, elapsed: float, result, now: float) -> None:
        """``result`` reached this process at epoch ``now``, ``elapsed`` s after the first."""
        if elapsed > self.warm_up_s + self.seconds:
            return  # the shards are stopping: frames past the window do not count
        latency = now - result.timestamp
        self.with_start.append(latency)
        if elapsed < self.warm_up_s:
            return
        self.per_stream[result.camera] += 1
        self.latency.append(latency)
        self.parts["to_batch"].append(result.taken_at - result.timestamp)
        self.parts["detect"].append(result.detected_at - result.taken_at)
        self.parts["to_main"].append(now - result.detected_at)
        self.messages += result.message is not None

    def figures(self) -> dict:
        def ms(values: list[float], q: float) -> float | None:
            return round(1e3 * float(np.percentile(values, q)), 1) if values else None

        frames = sum(self.per_stream.values())
        return {
            "frames": frames,
            "frames_per_s": frames / self.seconds,
            "slowest_stream_fps": min(self.per_stream.values(), default=0) / self.seconds,
            "messages": self.messages,
            "latency_p50_ms": ms(self.latency, 50),
            "latency_p95_ms": ms(self.latency, 95),
            "latency_p95_ms_with_start": ms(self.with_start, 95),
            "latency_p95_ms_by_part": {part: ms(v, 95) for part, v in self.parts.items()},
        }


def run_engine(
    source: str, streams: int, seconds: float, *, spread_phases: bool = False,
    warm_up_s: float = WARM_UP_S, **options,
) -> dict:  # fmt: skip
    """The engine on ``streams`` copies for ``seconds`` of steady state, after
    ``warm_up_s`` from its first result (loading the model and CUDA in every shard
    takes a few seconds before that); frames/s, latency, stage times. In the warm-up
    every camera starts at once and every shard meets its first batches: its latency
    is reported apart. ``spread_phases``: paced copies capture at moments spread evenly
    over the frame period, as cameras on their own clocks do, not all at one instant."""
    from edgewatch.gpu.engine import GpuEngine

    if options.get("decode_only"):  # no results come: the shards time themselves
        options["run_s"] = seconds
    jobs = _jobs(source, streams, loop=True, spread_phases=spread_phases, **options)
    window = _Window([camera for job in jobs for camera in job.sources], warm_up_s, seconds)
    with _Sampler() as sampler, GpuEngine(jobs, start_together=True) as engine:

        def window_ends() -> None:
            sampler.finish()
            engine.stop()

        timers = [
            threading.Timer(warm_up_s, sampler.restart),
            threading.Timer(warm_up_s + seconds, window_ends),
        ]
        start = None
        for result in engine.results():
            now = time.time()
            if start is None:
                start = now
                for timer in timers:
                    timer.start()
            window.add(now - start, result, now)
        for timer in timers:
            timer.cancel()
    shards = list(engine.stats.values())
    total = {key: sum(s.get(key, 0) for s in shards) for key in ("decoded", "dropped", "items",
             "batches", "decode_s", "prepare_s", "infer_s", "track_s", "send_s",
             "decode_threads_cpu_s", "main_thread_cpu_s", "tracking_thread_cpu_s")}  # fmt: skip
    figures = window.figures()
    if options.get("decode_only"):
        span = max(s["last_frame"] for s in shards) - min(s["first_frame"] for s in shards)
        figures["frames"] = total["decoded"]
        figures["frames_per_s"] = total["decoded"] / max(span, 1e-9)
    # From here on, the shards' own counts: their whole run, the warm-up included.
    return {
        "streams": streams,
        **figures,
        "dropped": total["dropped"],
        "mean_batch": total["items"] / max(total["batches"], 1),
        "stage_ms_per_frame": {
            stage: round(1e3 * total[f"{stage}_s"] / max(total["items"], 1), 3)
            for stage in ("prepare", "infer", "track", "send")
        },
        "decode_ms_per_frame": 1e3 * total["decode_s"] / max(total["decoded"], 1),
        # CPU time a frame costs in the shards: their decoding threads (demuxing, the
        # decoder's calls, the hand-off), their main thread (batches, boxes) and their
        # tracking thread (tracking, messages), each over the frames it handled.
        "cpu_ms_per_frame": {
            "decode_threads": round(
                1e3 * total["decode_threads_cpu_s"] / max(total["decoded"], 1), 3
            ),
            **{
                role: round(1e3 * total[f"{role}_cpu_s"] / max(total["items"], 1), 3)
                for role in ("main_thread", "tracking_thread")
            },
        },
        # Paced: how long after capture the slowest shard's frames left the decoder (p95).
        "decode_lag_p95_ms": 1e3 * max((s["lag_p95_s"] for s in shards), default=0.0),
        "errors": engine.errors,
        # How the shards' SSDs run, as each reports it after its fallbacks (if any).
        "detectors": sorted({s["detector"] for s in shards if s.get("detector")}),
        **sampler.figures(),
        # The whole machine's CPU (every process: shards, this one, the drivers) per
        # frame delivered in the window: cores needed = this x frames/s. Decoding only,
        # the sampler's window holds the start-up too: the threads' own figure counts.
        "machine_cpu_ms_per_frame": None
        if options.get("decode_only")
        else round(1e3 * sampler.cores * seconds / max(figures["frames"], 1), 3),  # fmt: skip
    }


def run_naive(source: str, seconds: float, model_path: str | None) -> dict:
    """One stream, decoded by OpenCV on the CPU, each frame detected alone on the GPU."""
    import cv2

    from edgewatch.detect.base import DetectorConfig
    from edgewatch.gpu.ssd_torch import TorchSsd

    detector = TorchSsd(DetectorConfig(), device="cuda:0", model_path=model_path)
    detector.detect([np.zeros((1080, 1920, 3), np.uint8)])  # warm-up
    capture = cv2.VideoCapture(source)
    frames, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        ok, image = capture.read()
        if not ok:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        detector.detect([image])
        frames += 1
    return {"frames_per_s": frames / (time.perf_counter() - started)}


def gpu_bench(source: str, streams: list[int], seconds: float, processes: int | None,
              model_path: str | None = None, compare_settings: bool = False,
              in_phase: bool = False) -> dict:  # fmt: skip
    import torch

    from edgewatch.gpu.frames import triton_kernel_available
    from edgewatch.gpu.shards import default_processes

    devices = list(range(torch.cuda.device_count()))
    most = max(streams)
    layout = {
        "processes": processes or default_processes(most, os.cpu_count() or 1),
        "devices": devices,
        "model_path": model_path,
    }
    figures: dict = {"layout": {k: v for k, v in layout.items() if k != "model_path"}}
    figures["cpu_reference"] = cpu_reference()
    figures["naive"] = run_naive(source, seconds, model_path)
    figures["ceiling"] = run_engine(source, most, seconds, decode_only=True, **layout)
    if compare_settings:
        # The engine with Python's and CUDA's defaults (waits spin, the GIL switches every
        # 5 ms), with sleeping waits only, then as it ships: what each setting is worth.
        figures["defaults"] = run_engine(
            source, most, seconds, messages=True, cuda_waiting="spin", gil_switch_s=0.005,
            **layout,
        )  # fmt: skip
        figures["blocking_only"] = run_engine(
            source, most, seconds, messages=True, gil_switch_s=0.005, **layout
        )
    engine = dict(messages=True, **layout)
    figures["detector_input"] = (
        "one Triton kernel" if triton_kernel_available() else "torch ops (no Triton)"
    )
    figures["unpaced"] = run_engine(source, most, seconds, **engine)
    figures["phases"] = "in phase" if in_phase else "spread"
    paced = dict(pace_fps=PACE_FPS, spread_phases=not in_phase, **engine)
    figures["paced"] = [run_engine(source, n, seconds, **paced) for n in sorted(streams)]
    # Again at the end: a machine's cores can give less a few minutes later (neighbours
    # on the host), and then every figure between the two was measured on less.
    figures["cpu_reference_after"] = cpu_reference()
    return figures


def sustained(run: dict, seconds: float) -> bool:
    return (
        run["slowest_stream_fps"] >= 0.97 * PACE_FPS
        and run["dropped"] == 0
        and run["latency_p95_ms"] is not None
        and run["latency_p95_ms"] < LATENCY_TARGET_S * 1e3
        and not run["errors"]
    )


def print_gpu_bench(figures: dict, seconds: float) -> None:
    naive = figures["naive"]["frames_per_s"]
    ceiling = figures["ceiling"]["frames_per_s"]
    engine = figures["unpaced"]["frames_per_s"]
    ssd = " | ".join(figures["unpaced"].get("detectors") or ["not reported"])
    print(f"layout: {figures['layout']}; the shards' SSD: {ssd}; its input from NV12: "
          f"{figures.get('detector_input')}; engine runs: {seconds:g} s "
          f"counted after a {WARM_UP_S:g} s warm-up (every camera and shard starting at "
          "once)")  # fmt: skip
    print_cpu_reference(figures["cpu_reference"])
    print(f"naive (OpenCV CPU decode, batch-1 GPU detection): {naive:.1f} frames/s")
    print(f"NVDEC ceiling, {figures['ceiling']['streams']} streams, decode only: "
          f"{ceiling:.0f} frames/s ({ceiling / PACE_FPS:.0f} streams at 30 fps)")  # fmt: skip
    variants = {
        "defaults": "CUDA's spinning waits, the GIL switched every 5 ms",
        "blocking_only": "sleeping waits, the GIL switched every 5 ms",
    }
    for name, what in variants.items():
        if name not in figures:
            continue
        rate = figures[name]["frames_per_s"]
        print(f"engine with {what}: {rate:.0f} frames/s = {rate / ceiling:.1%} of the "
              f"ceiling; {figures[name]}")  # fmt: skip
    print(f"engine, as fast as it can: {engine:.0f} frames/s = {engine / ceiling:.1%} of the "
          f"ceiling (target 95%), {engine / naive:.1f}x naive (target 10x); "
          f"{figures['unpaced']}")  # fmt: skip
    best = 0
    phases = {
        "spread": "capture moments spread over the frame period",
        "in phase": "every copy captures at the same instant",
    }[figures["phases"]]
    for run in figures["paced"]:
        ok = sustained(run, seconds)
        best = max(best, run["streams"] if ok else 0)
        verdict = "SUSTAINED" if ok else "not sustained"
        print(
            f"paced {run['streams']} streams at 30 fps ({phases}): {verdict}; slowest stream "
            f"{run['slowest_stream_fps']:.1f} fps, dropped {run['dropped']}, latency p50 "
            f"{run['latency_p50_ms']} ms p95 {run['latency_p95_ms']} ms (p95 by part "
            f"{run['latency_p95_ms_by_part']}; with the start-up, p95 "
            f"{run['latency_p95_ms_with_start']} ms), decode lag p95 "
            f"{run['decode_lag_p95_ms']:.0f} "
            f"ms, mean batch {run['mean_batch']:.1f}, GPU "
            f"{run['gpu_util_pct']}%, NVDEC {run['nvdec_util_pct']}%, CPU "
            f"{run['cpu_cores_used']} cores; stages {run['stage_ms_per_frame']}"
        )
    print(f"streams sustained at 30 fps: {best}")
    if "cpu_reference_after" in figures:
        print("after the runs: ", end="")
        print_cpu_reference(figures["cpu_reference_after"])


def print_gpu(args) -> int:
    import json

    print(describe_machine())
    try:
        import torch
    except ImportError:
        print("bench gpu needs PyTorch and PyNvVideoCodec: pip install 'edgewatch[gpu]'")
        return 2
    if not torch.cuda.is_available():
        print("bench gpu needs an NVIDIA GPU: torch sees none here")
        return 2
    print(f"GPU: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}")
    streams = [int(n) for n in str(args.streams or "8").split(",")]
    seconds = float(args.seconds or 20)
    figures = gpu_bench(
        str(args.source), streams, seconds, args.processes, args.model_path,
        compare_settings=args.compare_settings, in_phase=args.in_phase,
    )  # fmt: skip
    print_gpu_bench(figures, seconds)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=1, default=lambda o: asdict(o))
    return 0
