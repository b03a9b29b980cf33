"""`edgewatch bench gpu`'s report, from figures as a run on the GPU machine returns them
(CI has no GPU to run it): the ratios, the verdict per stream count, the CPU references;
and how a run's results are counted: after its warm-up, within its window."""

from __future__ import annotations

from types import SimpleNamespace

from edgewatch.bench.gpu import _Window, print_gpu_bench

REFERENCE = {"cores": 16, "one_core_ms": 0.5, "all_cores_ms": 0.55, "slowdown": 1.1}


def run(streams: int, fps: float, slowest: float, p95: float, dropped: int = 0) -> dict:
    return {
        "streams": streams, "frames_per_s": fps, "slowest_stream_fps": slowest,
        "dropped": dropped, "latency_p50_ms": p95 / 2, "latency_p95_ms": p95,
        "latency_p95_ms_with_start": 2 * p95,
        "latency_p95_ms_by_part": {"to_batch": 1.0, "detect": 1.0, "to_main": 1.0},
        "decode_lag_p95_ms": 5.0, "mean_batch": 8.0, "gpu_util_pct": 90.0,
        "nvdec_util_pct": 80.0, "cpu_cores_used": 12.0, "stage_ms_per_frame": {},
        "errors": {},
    }  # fmt: skip


def test_the_report_gives_ratios_verdicts_and_both_cpu_references(capsys):
    after = {**REFERENCE, "all_cores_ms": 0.8, "slowdown": 1.6}
    figures = {
        "layout": {"processes": 16, "devices": [0]},
        "cpu_reference": REFERENCE,
        "naive": {"frames_per_s": 80.0},
        "ceiling": run(128, 5000.0, 39.0, 0.0),
        "unpaced": {**run(128, 4000.0, 31.0, 300.0), "detectors": ["fp16, CUDA graphs"]},
        "phases": "spread",
        "paced": [
            run(96, 2880.0, 30.0, 80.0),  # every stream kept up, p95 under 100 ms
            run(112, 3300.0, 30.0, 120.0),  # kept up, but too late
            run(128, 3700.0, 28.9, 90.0),  # one stream fell behind
        ],
        "cpu_reference_after": after,
    }
    print_gpu_bench(figures, seconds=8)
    out = capsys.readouterr().out
    assert "engine, as fast as it can: 4000 frames/s = 80.0% of the ceiling" in out
    assert "50.0x naive" in out
    assert "the shards' SSD: fp16, CUDA graphs;" in out  # as the shards report it
    verdicts = [line.split(":")[1].strip().split(";")[0] for line in out.splitlines()
                if line.startswith("paced")]  # fmt: skip
    assert verdicts == ["SUSTAINED", "not sustained", "not sustained"]
    assert "(capture moments spread over the frame period)" in out
    assert "streams sustained at 30 fps: 96" in out
    assert out.rstrip().splitlines()[-1].startswith("after the runs: CPU reference")
    assert "0.800 with all 16 cores busy at once (1.60x)" in out
    assert "p95 80.0 ms (p95 by part" in out and "with the start-up, p95 160.0 ms" in out


def arrival(camera: str, latency_s: float, now: float = 1000.0) -> SimpleNamespace:
    """A result that reached the bench at ``now``, ``latency_s`` after its capture."""
    captured = now - latency_s
    return SimpleNamespace(camera=camera, timestamp=captured, taken_at=captured + 0.01,
                           detected_at=captured + 0.02, message=b"{}")  # fmt: skip


def test_a_run_counts_its_steady_state_and_keeps_the_start_up_apart():
    window = _Window(["a", "b", "c"], warm_up_s=2.0, seconds=4.0)
    for elapsed in (0.0, 0.5, 1.0, 1.2, 1.5, 1.9):  # the start-up: late frames, counted apart only
        window.add(elapsed, arrival("a", 0.9), 1000.0)
    for step in range(40):  # 4 s of steady state: a at 10 frames/s, b at 5, c none
        elapsed = 2.0 + step * 0.1
        window.add(elapsed, arrival("a", 0.05), 1000.0)
        if step % 2 == 0:
            window.add(elapsed, arrival("b", 0.05), 1000.0)
    window.add(6.5, arrival("b", 0.05), 1000.0)  # after the window: the shards stopping
    figures = window.figures()
    assert figures["frames"] == 60 and figures["frames_per_s"] == 15.0
    assert figures["slowest_stream_fps"] == 0.0  # c sent nothing: it counts, as 0
    assert figures["latency_p95_ms"] == 50.0 and figures["latency_p50_ms"] == 50.0
    assert figures["latency_p95_ms_with_start"] == 900.0  # 6 late of 66
    assert figures["latency_p95_ms_by_part"] == {"to_batch": 10.0, "detect": 10.0, "to_main": 30.0}
    assert figures["messages"] == 60
