"""The GPU engine's process layout, run on the CPU: two shard processes, each decoding its
cameras (OpenCV standing in for NVDEC, which CI has not), detecting in batches with the
PyTorch SSD, tracking, and sending messages to the main process. On a machine with
NVDEC the same test runs on the GPU too."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from edgewatch.config import config_from_dict  # noqa: E402
from edgewatch.detect.coco import COCO_CLASS_NAMES  # noqa: E402
from edgewatch.detect.filters import DetectionFilter  # noqa: E402
from edgewatch.gpu.engine import GpuEngine  # noqa: E402
from edgewatch.gpu.shard import ShardJob  # noqa: E402
from edgewatch.gpu.shards import plan_shards  # noqa: E402
from edgewatch.pipeline.build import detector_config  # noqa: E402

FRAMES = 12
# A machine without the weights package (the GPU machine here) can point at a built model.
MODEL = os.environ.get("EDGEWATCH_SSD_ONNX")


def jobs(source: str, cameras: list[str], device: int | None, decoder: str, processes: int = 2,
         **options):  # fmt: skip
    config = config_from_dict({})
    high = tuple(DetectionFilter(config.detector, COCO_CLASS_NAMES).thresholds.tolist())
    shards = plan_shards(cameras, processes=processes, devices=[device or 0])
    return [
        ShardJob(
            shard if device is not None else shard.__class__(shard.index, "cpu", shard.cameras),
            {camera: source for camera in shard.cameras},
            detector_config(config).model_dump(mode="json"),
            config.tracking.model_dump(mode="json"),
            high,
            max_batch=4,
            decoder=decoder,
            max_frames=FRAMES,
            messages=True,
            **options,
        )
        for shard in shards
    ]


def run(job_list) -> tuple[list, GpuEngine]:
    with GpuEngine(job_list) as engine:
        results = list(engine.results())
    return results, engine


@pytest.mark.timeout(300)
def test_shards_decode_detect_track_and_send_every_frame_on_the_cpu(vtest_path):
    cameras = ["a", "b", "c"]
    results, engine = run(
        jobs(str(vtest_path), cameras, None, "cpu", pictures=frozenset({"a"}), model_path=MODEL)
    )
    assert not engine.errors, engine.errors
    by_camera = {c: [r for r in results if r.camera == c] for c in cameras}
    # Every frame of every camera, in each camera's order.
    for camera, frames in by_camera.items():
        assert [r.index for r in frames] == list(range(FRAMES)), camera
    # The same clip gives the same detections and the same track IDs on every camera.
    last = {c: frames[-1] for c, frames in by_camera.items()}
    assert len(last["a"].xyxy) >= 3  # vtest's walkers
    assert last["a"].tracker_id.tolist() == last["b"].tracker_id.tolist()
    assert (last["a"].tracker_id > 0).all()
    # The detection message, as MQTT carries it.
    message = json.loads(last["b"].message)
    assert message["detection_frame_number"] == FRAMES - 1
    assert message["total_num_obj"] == len(last["b"].xyxy)
    assert message["frame_width"] == 768 and message["frame_height"] == 576
    assert {"objectID", "unique_com_id", "coor_left"} <= set(message["inference_results"][0])
    # Pictures only for the camera someone watches.
    assert all(r.picture is not None and r.picture.shape == (576, 768, 3) for r in by_camera["a"])
    assert all(r.picture is None for r in by_camera["b"])
    shards = list(engine.stats.values())
    assert sum(s["decoded"] for s in shards) == FRAMES * len(cameras)
    assert sum(s["items"] for s in shards) == FRAMES * len(cameras)
    # each shard says how its SSD runs
    assert {s["detector"] for s in shards} == {"fp32, op by op, NMS in torch steps"}


def test_a_camera_that_cannot_be_opened_ends_alone(vtest_path, tmp_path):
    missing = str(tmp_path / "gone.mp4")
    job_list = jobs(str(vtest_path), ["good"], None, "cpu", model_path=MODEL)
    job_list[0].sources["bad"] = missing
    results, engine = run(job_list)
    assert {r.camera for r in results} == {"good"}
    assert len(results) == FRAMES


def test_shards_on_the_gpu_with_nvdec(nvdec_clip):
    results, engine = run(jobs(nvdec_clip, ["a", "b"], 0, "nvdec", model_path=MODEL))
    assert not engine.errors, engine.errors
    assert len(results) == 2 * FRAMES
    assert max(len(r.xyxy) for r in results) >= 3


def test_shards_started_together_begin_decoding_at_one_moment(vtest_path):
    # The benchmark's layout: no shard decodes before every shard has loaded its model.
    with GpuEngine(jobs(str(vtest_path), ["a", "b"], None, "cpu", model_path=MODEL),
                   start_together=True) as engine:  # fmt: skip
        assert engine._ready.value == 2 and engine._go.is_set()
        results = list(engine.results())
    assert not engine.errors and len(results) == 2 * FRAMES
    starts = [shard["first_frame"] for shard in engine.stats.values()]
    assert max(starts) - min(starts) < 1.0, starts


def test_a_shard_that_dies_before_it_is_ready_does_not_hold_the_others(vtest_path, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    job_list = jobs(str(vtest_path), ["a", "b"], None, "cpu", model_path=MODEL)
    job_list[1] = job_list[1].__class__(**{**job_list[1].__dict__, "model_path": str(broken)})
    with GpuEngine(job_list, start_together=True) as engine:
        results = list(engine.results())
    assert {r.camera for r in results} == {job_list[0].sources.popitem()[0]}
    assert list(engine.errors) == [1]


def test_started_together_a_camera_that_cannot_open_holds_no_one(vtest_path, tmp_path):
    # Shards prime every decoder before they count themselves ready; a missing file is
    # primed as failed, not waited for.
    job_list = jobs(str(vtest_path), ["a", "b"], None, "cpu", model_path=MODEL)
    missing = str(tmp_path / "missing.mp4")
    job_list[0] = job_list[0].__class__(
        **{**job_list[0].__dict__, "sources": dict.fromkeys(job_list[0].sources, missing)}
    )
    with GpuEngine(job_list, start_together=True) as engine:
        results = list(engine.results())
    assert {r.camera for r in results} == set(job_list[1].sources)
    assert len(results) == FRAMES and not engine.errors


def test_paced_cameras_are_stamped_at_their_capture_moments(vtest_path):
    # A file paced at 30 fps stands in for a live camera: frame i is captured 1/30 s
    # after frame i-1, and its latency counts from then, decoding included.
    results, engine = run(jobs(str(vtest_path), ["a", "b"], None, "cpu", model_path=MODEL,
                               pace_fps=30.0))  # fmt: skip
    assert not engine.errors and len(results) == 2 * FRAMES
    for camera in ("a", "b"):
        mine = sorted((r for r in results if r.camera == camera), key=lambda r: r.index)
        steps = [b.timestamp - a.timestamp for a, b in zip(mine, mine[1:], strict=False)]
        assert steps == pytest.approx([1 / 30] * (FRAMES - 1), abs=1e-6)
        assert all(r.timestamp <= r.taken_at <= r.detected_at for r in mine)
    assert all(shard["lag_p95_s"] >= 0 for shard in engine.stats.values())


def test_paced_cameras_capture_at_their_phase_of_the_frame_period(vtest_path):
    # Cameras on their own clocks: "b" captures half a frame period after "a", every frame.
    job_list = jobs(str(vtest_path), ["a", "b"], None, "cpu", processes=1, model_path=MODEL,
                    pace_fps=10.0, phases={"b": 0.5})  # fmt: skip
    results, engine = run(job_list)
    assert not engine.errors and len(results) == 2 * FRAMES
    captured = {(r.camera, r.index): r.timestamp for r in results}
    for index in range(FRAMES):
        # the two threads read the clock at their start a few ms apart at most
        offset = captured["b", index] - captured["a", index]
        assert offset == pytest.approx(0.05, abs=0.03)


def test_the_benchmark_spreads_its_copies_over_the_frame_period():
    from edgewatch.bench.gpu import _jobs

    spread = _jobs("clip.mp4", 4, processes=2, devices=[0], spread_phases=True)
    assert {c: p for job in spread for c, p in job.phases.items()} == {
        "cam000": 0.0, "cam001": 0.25, "cam002": 0.5, "cam003": 0.75,
    }  # fmt: skip
    assert all(set(job.phases) == set(job.sources) for job in spread)
    assert all(not job.phases for job in _jobs("clip.mp4", 4, processes=2, devices=[0]))


def test_a_failure_while_tracking_ends_the_shard_with_that_error(vtest_path, monkeypatch):
    # Tracking runs in its own thread of the shard; its failure must not leave the
    # detecting thread blocked on a hand-off no one reads.
    import queue
    import threading

    from edgewatch.gpu.shard import _Shard

    job = jobs(str(vtest_path), ["a", "b"], None, "cpu", model_path=MODEL)[0]
    shard = _Shard(job, queue.Queue(), threading.Event())

    def broken(*args):
        raise RuntimeError("the tracker broke")

    monkeypatch.setattr(shard, "_track", broken)
    with pytest.raises(RuntimeError, match="the tracker broke"):
        shard.run()


def test_pictures_follow_the_watch_flags_and_the_objects_in_view(vtest_path):
    # "a" has a video output someone watches, "b" one nobody watches, "c" events only:
    # its pictures come with the frames that show objects (events' snapshots).
    job_list = [
        replace(job, watch_slots={c: i for i, c in enumerate("ab") if c in job.sources},
                events=frozenset(job.sources) & {"c"})
        for job in jobs(str(vtest_path), ["a", "b", "c"], None, "cpu", model_path=MODEL)
    ]  # fmt: skip
    engine = GpuEngine(job_list)
    engine.watch("a", True)
    engine.watch("b", False)
    engine.watch("c", True)  # no slot: not asked about, changes nothing
    with engine:
        results = list(engine.results())
    assert not engine.errors and len(results) == 3 * FRAMES
    by_camera = {c: [r for r in results if r.camera == c] for c in "abc"}
    assert all(r.picture is not None and r.picture.shape == (576, 768, 3) for r in by_camera["a"])
    assert all(r.picture is None for r in by_camera["b"])
    shown = [(r.picture is not None, len(r.xyxy) > 0) for r in by_camera["c"]]
    assert all(picture == objects for picture, objects in shown)
    assert {objects for _, objects in shown} == {True, False}  # confirmation takes frames
