"""`edgewatch bench gpu`'s report, from figures as a run on the GPU machine returns them
(CI has no GPU to run it): the ratios, the verdict per stream count, the CPU references."""

from __future__ import annotations

from edgewatch.bench.gpu import print_gpu_bench

REFERENCE = {"cores": 16, "one_core_ms": 0.5, "all_cores_ms": 0.55, "slowdown": 1.1}


def run(streams: int, fps: float, slowest: float, p95: float, dropped: int = 0) -> dict:
    return {
        "streams": streams, "frames_per_s": fps, "slowest_stream_fps": slowest,
        "dropped": dropped, "latency_p50_ms": p95 / 2, "latency_p95_ms": p95,
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
        "unpaced": run(128, 4000.0, 31.0, 300.0),
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
    verdicts = [line.split(":")[1].strip().split(";")[0] for line in out.splitlines()
                if line.startswith("paced")]  # fmt: skip
    assert verdicts == ["SUSTAINED", "not sustained", "not sustained"]
    assert "(capture moments spread over the frame period)" in out
    assert "streams sustained at 30 fps: 96" in out
    assert out.rstrip().splitlines()[-1].startswith("after the runs: CPU reference")
    assert "0.800 with all 16 cores busy at once (1.60x)" in out
