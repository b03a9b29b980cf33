"""`edgewatch bench`: the default pipeline against the naive loop, in the same run.

The naive loop is what most home-grown camera scripts do: one thread reads a frame,
runs OpenCV DNN on it, draws, and encodes it, then the next frame. The pipeline runs the
default configuration (ONNX Runtime, every frame detected) with the RTSP server on and
a viewer connected, so the H.264 encoding really happens. The viewer only demuxes (it
does not decode), as a viewer on another machine would cost this box nothing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from fractions import Fraction
from pathlib import Path

from edgewatch.bench.localservers import free_port
from edgewatch.bench.tracking import print_tracking, tracking_bench
from edgewatch.config import config_from_dict
from edgewatch.detect import create_detector
from edgewatch.detect.base import DetectorConfig
from edgewatch.draw.overlay import draw_detections
from edgewatch.errors import EdgewatchError
from edgewatch.machine import describe_machine, usable_cores
from edgewatch.paths import sample_clip
from edgewatch.pipeline import build_pipeline
from edgewatch.types import Frame

log = logging.getLogger(__name__)


def _clip(source: str) -> Path:
    path = sample_clip() if source == "sample" else Path(source)
    if not path.is_file():
        raise EdgewatchError(
            f"benchmark clip {path} does not exist", "give a video file with --source"
        )
    return path


def naive_loop(clip: Path, frames: int) -> dict:
    """Read, detect (OpenCV DNN), draw, encode: one frame at a time, one thread."""
    import av
    import cv2

    detector = create_detector(DetectorConfig(runtime="opencv", batch_size=1))
    capture = cv2.VideoCapture(str(clip))
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = Fraction(1, 30)
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    stage = {"decode": 0.0, "detect": 0.0, "draw": 0.0, "encode": 0.0}
    done = 0
    started = time.perf_counter()
    while not frames or done < frames:
        t0 = time.perf_counter()
        ok, image = capture.read()
        if not ok:
            break
        t1 = time.perf_counter()
        detections = detector.detect([image])[0]
        t2 = time.perf_counter()
        draw_detections(Frame("naive", done, time.time(), image), detections)
        t3 = time.perf_counter()
        video_frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        video_frame.pts = done
        encoder.encode(video_frame)
        t4 = time.perf_counter()
        for name, seconds in zip(stage, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            stage[name] += seconds
        done += 1
    elapsed = time.perf_counter() - started
    capture.release()
    return {
        "frames": done,
        "seconds": round(elapsed, 2),
        "fps": round(done / elapsed, 2),
        "stages_ms": {k: round(1000 * v / max(done, 1), 2) for k, v in stage.items()},
    }


def _rtsp_viewer(url: str, stop: threading.Event, counts: dict) -> None:
    """Reads the stream's packets for as long as the benchmark runs."""
    import av

    deadline = time.monotonic() + 20
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5, 5)) as container:
                counts["connected"] = True
                for packet in container.demux(video=0):
                    if packet.size:
                        counts["packets"] += 1
                    if stop.is_set():
                        return
        except (av.FFmpegError, OSError):
            time.sleep(0.2)


def detector_alone(clip: Path, frames: int) -> dict:
    """The ceiling: the pipeline's detector (same config, same workers, every core) on
    frames decoded beforehand, nothing else running."""
    import cv2

    capture = cv2.VideoCapture(str(clip))
    images = []
    while len(images) < (frames or 200):
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)
    capture.release()
    config = DetectorConfig()
    detector = create_detector(config)
    workers = usable_cores()
    chunks = iter(
        [images[i : i + config.batch_size] for i in range(0, len(images), config.batch_size)]
    )
    lock = threading.Lock()
    detector.detect(images[: config.batch_size])  # warm-up

    def work() -> None:
        while True:
            with lock:
                chunk = next(chunks, None)
            if chunk is None:
                return
            detector.detect(chunk)

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"frames": len(images), "workers": workers, "fps": round(len(images) / elapsed, 2)}


def pipeline_run(clip: Path, frames: int, port: int) -> dict:
    # Detection on every frame: motion gating off (its gains are `bench --cameras`'s).
    camera = {"name": "bench", "source": str(clip), "realtime": False, "loop": False,
              "motion": {"enabled": False}}  # fmt: skip
    if frames:
        camera["max_frames"] = frames
    config = config_from_dict(
        {
            "cameras": [camera],
            "outputs": {"rtsp": {"port": port}},
            "pipeline": {"stats_interval_s": 0},
        }
    )
    pipeline = build_pipeline(config)
    rtsp = next(s for s in pipeline.sinks if s.name == "rtsp")
    stop = threading.Event()
    counts = {"packets": 0, "connected": False}
    viewer = threading.Thread(
        target=_rtsp_viewer, args=(f"rtsp://127.0.0.1:{port}/bench", stop, counts), daemon=True
    )
    viewer.start()
    deadline = time.monotonic() + 10
    while not rtsp.stats().get("bench", {}).get("viewers") and time.monotonic() < deadline:
        time.sleep(0.05)
    summary = pipeline.run()
    stop.set()
    viewer.join(5)
    stages = summary.stats["stages_ms"]
    rtsp_stats = summary.stats.get("rtsp", {}).get("bench", {})
    # End to end means through every stage: a frame the RTSP output dropped before its
    # encoder did not make it, so it does not count.
    done = min(sum(summary.frames.values()), rtsp_stats.get("frames_pushed", 0))
    return {
        "frames": done,
        "frames_detected": sum(summary.frames.values()),
        "seconds": round(summary.elapsed_s, 2),
        "fps": round(done / summary.elapsed_s, 2),
        "stages_ms": {
            "decode": stages.get("decode", 0.0),
            "detect": stages.get("detect", 0.0),
            "draw": stages.get("draw", 0.0),
            "encode": round(rtsp_stats.get("encode_ms") or 0.0, 2),  # None: nothing encoded
        },
        "rtsp": {"viewer_packets": counts["packets"], **rtsp_stats},
        "dropped": {k: v for k, v in summary.stats["counters"].items() if k.startswith("dropped")},
    }


def _table(naive: dict, pipeline: dict) -> str:
    rows = [f"{'':22}{'naive loop':>14}{'edgewatch':>14}"]
    for stage in ("decode", "detect", "draw", "encode"):
        rows.append(
            f"{stage + ' ms/frame':22}{naive['stages_ms'][stage]:>14.2f}"
            f"{pipeline['stages_ms'][stage]:>14.2f}"
        )
    rows.append(f"{'frames':22}{naive['frames']:>14}{pipeline['frames']:>14}")
    rows.append(f"{'end-to-end frames/s':22}{naive['fps']:>14.2f}{pipeline['fps']:>14.2f}")
    return "\n".join(rows)


def run_bench(args) -> int:
    clip = _clip(args.source)
    print(f"edgewatch bench: {clip.name}")
    print(describe_machine())
    print("naive loop (1 thread: read, OpenCV DNN, draw, x264 encode) ...", flush=True)
    naive = naive_loop(clip, args.frames)
    print("the detector alone (ONNX Runtime, every core, frames decoded beforehand) ...",
          flush=True)  # fmt: skip
    alone = detector_alone(clip, args.frames)
    print("edgewatch pipeline (ONNX Runtime, tracking, RTSP on with a viewer) ...", flush=True)
    pipeline = pipeline_run(clip, args.frames, free_port())
    speedup = pipeline["fps"] / naive["fps"] if naive["fps"] else 0.0
    share = pipeline["fps"] / alone["fps"] if alone["fps"] else 0.0
    print()
    print(_table(naive, pipeline))
    print(f"detector alone, {alone['workers']} workers: {alone['fps']:.2f} frames/s")
    print(f"edgewatch end to end: {share:.0%} of the detector alone, {speedup:.2f}x the naive loop")
    print(
        f"targets: >= 85% of the detector alone {'MET' if share >= 0.85 else 'MISSED'}, "
        f">= 1.5x naive {'MET' if speedup >= 1.5 else 'MISSED'}"
    )
    rtsp = pipeline["rtsp"]
    print(
        f"RTSP: {rtsp.get('frames_pushed', 0)} frames encoded and sent, "
        f"{rtsp.get('frames_dropped', 0)} dropped, viewer received "
        f"{rtsp['viewer_packets']} packets"
    )
    if pipeline["dropped"]:
        print(f"queue drops: {pipeline['dropped']}")
    tracking = tracking_bench()
    print_tracking(tracking)
    if args.json:
        report = {
            "tracking": tracking,
            "clip": str(clip),
            "naive": naive,
            "pipeline": pipeline,
            "detector_alone": alone,
            "share_of_detector_alone": round(share, 3),
            "speedup": round(speedup, 3),
            "machine": describe_machine(),
        }
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0
