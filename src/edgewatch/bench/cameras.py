"""`edgewatch bench --cameras N`: how many live cameras one box watches, with motion gating
and, in the same run, without it.

The cameras are RTSP streams this benchmark serves itself (GStreamer's RTSP server, one
mount per camera, H.264 720p at 10 frames/s and 1 Mbit/s, as a camera sends it, passed
through: no encoding here). Like most
home cameras, each is quiet most of the time (one still frame of the real footage, with
sensor noise) and busy 20% of the time (the footage's walkers), the busy 8 s placed
differently on each camera. edgewatch reads them as it reads any IP camera, detects on at
most ``detect_fps`` frames a second, tracks every frame, and serves each on its own RTSP
mount (nobody watching, so nothing is encoded).

A camera keeps up when edgewatch handles all its frames (95%, allowing for the start),
drops none, and makes 95% of the detections it wants in time (when every detection worker
is busy, a live camera's frame is tracked without a detection rather than held up, and
the next frame asks again; a detection a whole interval late counts as missed). The largest
such N up to ``--cameras`` is found by doubling, then halving the gap, once with motion
gating and once detecting every frame (at ``detect_fps``).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import time
from pathlib import Path

import psutil

from edgewatch.bench.localservers import free_port
from edgewatch.config import config_from_dict
from edgewatch.errors import EdgewatchError, MissingDependencyError
from edgewatch.machine import describe_machine
from edgewatch.paths import default_cache_dir, sample_clip
from edgewatch.pipeline import build_pipeline

FPS = 10
CLIP_S, BUSY_S = 40, 8  # busy 20% of the time
VARIANTS = CLIP_S // BUSY_S  # the busy part starts 0, 6, 12 ... s in
WARM_UP_S, TRIAL_S = 6.0, 25.0  # measured from WARM_UP_S, well before the clip ends
KEEPS_UP = 0.95


def make_clips(source: Path, folder: Path) -> list[Path]:
    """The camera clips, made once with ffmpeg from ``source`` and kept in ``folder``."""
    digest = hashlib.sha256(f"{source.stat().st_size}:{source.name}:v2".encode()).hexdigest()[:8]
    clips = [folder / f"camera-{digest}-{k}.mkv" for k in range(VARIANTS)]
    if all(clip.exists() for clip in clips):
        return clips
    folder.mkdir(parents=True, exist_ok=True)
    scale = "scale=1280:-2,crop=1280:720,fps=10,format=yuv420p"
    still = f"[0:v]trim=start_frame=0:end_frame=1,{scale},loop=loop=-1:size=1,setpts=N/10/TB"
    for k, clip in enumerate(clips):
        before, after = k * BUSY_S, CLIP_S - BUSY_S - k * BUSY_S
        parts, labels = [], []
        for name, seconds in (("a", before), ("c", after)):
            if seconds:
                parts.append(f"{still},trim=duration={seconds},noise=alls=4:allf=t[{name}]")
        parts.append(f"[0:v]trim=start_frame=0:end_frame={BUSY_S * FPS},{scale},"
                     f"setpts=N/10/TB[b]")  # fmt: skip
        labels = [f"[{n}]" for n, s in (("a", before), ("b", 1), ("c", after)) if s]
        graph = ";".join(parts) + f";{''.join(labels)}concat=n={len(labels)}:v=1:a=0[out]"
        command = ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-filter_complex", graph,
                   "-map", "[out]", "-c:v", "libx264", "-preset", "veryfast", "-g", "20",
                   # A camera's bit rate: 1 Mbit/s at 720p (the noise costs no more).
                   "-b:v", "1M", "-maxrate", "1M", "-bufsize", "2M",
                   "-r", str(FPS), str(clip)]  # fmt: skip
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=300)
        except FileNotFoundError:
            raise MissingDependencyError("ffmpeg", "apt-get install ffmpeg") from None
        except subprocess.CalledProcessError as error:
            raise EdgewatchError(
                f"ffmpeg could not make the camera clips from {source}: "
                f"{error.stderr.decode(errors='replace')[-300:]}",
                "give a video file ffmpeg reads with --source",
            ) from None
    return clips


class CameraServer:
    """GStreamer's RTSP server passing each clip through as one camera's stream."""

    def __init__(self, clips: list[Path], count: int) -> None:
        from edgewatch.outputs.rtsp_server import import_gstreamer

        self.gi = gi = import_gstreamer()
        self.port = free_port()
        self.server = gi.RtspServer.RTSPServer()
        self.server.set_address("127.0.0.1")
        self.server.set_service(str(self.port))
        mounts = self.server.get_mount_points()
        for i in range(count):
            factory = gi.RtspServer.RTSPMediaFactory()
            factory.set_launch(
                f"( filesrc location={clips[i % len(clips)]} ! matroskademux ! h264parse "
                "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
            )
            factory.set_protocols(gi.Rtsp.RTSPLowerTrans.TCP)
            mounts.add_factory(f"/cam{i}", factory)
        context = gi.GLib.MainContext.new()
        self.source = self.server.create_source(None)
        self.source.attach(context)
        self.loop = gi.GLib.MainLoop.new(context, False)
        self.thread = threading.Thread(target=self.loop.run, daemon=True)
        self.thread.start()

    def url(self, i: int) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam{i}"

    def stop(self) -> None:
        self.source.destroy()
        self.loop.quit()
        self.thread.join(5)


def trial(clips: list[Path], count: int, *, motion: bool, detect_fps: float) -> dict:
    """``count`` cameras for TRIAL_S seconds: did every one keep up?"""
    server = CameraServer(clips, count)
    cameras = [{"name": f"cam{i}", "source": server.url(i), "detect_fps": detect_fps,
                "motion": {"enabled": motion}} for i in range(count)]  # fmt: skip
    config = config_from_dict({
        "cameras": cameras,
        "outputs": {"rtsp": {"port": free_port()}},
        "pipeline": {"stats_interval_s": 0},
    })  # fmt: skip
    stop = threading.Event()
    pipeline = build_pipeline(config, stop=stop)
    runner = threading.Thread(target=pipeline.run, daemon=True)
    runner.start()
    time.sleep(WARM_UP_S)
    frames0 = dict(pipeline.frames_done)
    drops0 = dict(pipeline.inbox.dropped)
    cpu0, started = _thread_cpu(), time.monotonic()
    time.sleep(TRIAL_S)
    elapsed = time.monotonic() - started
    cpu1 = _thread_cpu()
    frames = {c: pipeline.frames_done.get(c, 0) - frames0.get(c, 0) for c in frames0}
    drops = {c: n - drops0.get(c, 0) for c, n in pipeline.inbox.dropped.items()}
    counters = dict(pipeline.stats.counters)
    stop.set()
    runner.join(60)
    server.stop()
    expected = FPS * elapsed
    slowest = min(frames.values(), default=0) / expected if frames else 0.0
    made = sum(v for k, v in counters.items() if k.startswith("detected."))
    skipped = sum(v for k, v in counters.items() if k.startswith("skipped."))
    undetected = sum(v for k, v in counters.items() if k.startswith("undetected."))
    detected_share = made / (made + undetected) if made else 1.0
    return {
        "cameras": count,
        "motion_gating": motion,
        "kept_up": len(frames) == count
        and slowest >= KEEPS_UP
        and not any(drops.values())
        and detected_share >= KEEPS_UP,
        "slowest_camera_share": round(slowest, 3),
        "frames_dropped": sum(drops.values()),
        # Detections the gating (or detect_fps) asked for that a busy detector could not
        # make: the tracker predicted those frames instead.
        "detections_made_share": round(detected_share, 3),
        "frames_detected_share": round(made / max(made + skipped, 1), 3),
        "cores_used": {
            name: round(seconds / elapsed, 2) for name, seconds in _by_stage(cpu0, cpu1).items()
        },  # fmt: skip
        "stages_ms": pipeline.stats.snapshot()["stages_ms"],
    }


def _thread_cpu() -> dict[str, float]:
    names = {t.native_id: t.name for t in threading.enumerate()}
    return {
        names.get(t.id, f"native-{t.id}"): t.user_time + t.system_time
        for t in psutil.Process().threads()
    }


def _by_stage(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds per stage: readers (decode, motion), detection, outputs, the rest."""
    prefixes = {"reader": "decode+motion", "detector": "detect+track", "sink-": "outputs",
                "edgewatch-rtsp": "outputs"}  # fmt: skip
    stages: dict[str, float] = {}
    for name, seconds in after.items():
        stage = next((s for p, s in prefixes.items() if name.startswith(p)), "other")
        stages[stage] = stages.get(stage, 0.0) + max(seconds - before.get(name, 0.0), 0.0)
    return stages


def largest(clips: list[Path], most: int, *, motion: bool, detect_fps: float) -> tuple[int, list]:
    """The largest count up to ``most`` that keeps up: doubling, then bisecting."""
    trials, good, bad = [], 0, most + 1
    count = 2
    while count < bad:
        result = trial(clips, count, motion=motion, detect_fps=detect_fps)
        trials.append(result)
        state = "keeps up" if result["kept_up"] else "falls behind"
        print(f"  {'gating' if motion else 'every frame'}: {count} cameras {state} "
              f"(slowest {result['slowest_camera_share']:.0%}, dropped "
              f"{result['frames_dropped']}, detections made "
              f"{result['detections_made_share']:.0%}, cores {result['cores_used']})",
              flush=True)  # fmt: skip
        if result["kept_up"]:
            good = count
            count = min(count * 2, most) if bad > most else (count + bad) // 2
            if count == good:
                break
        else:
            bad = count
            count = (good + bad) // 2
            if count <= good:
                break
    return good, trials


def print_cameras_bench(args) -> int:
    source = Path(args.source) if args.source != "sample" else sample_clip()
    print(describe_machine())
    print(f"edgewatch bench --cameras {args.cameras}: 720p cameras at {FPS} frames/s, busy 20% "
          f"of the time, detection at up to {args.detect_fps:g} frames/s", flush=True)  # fmt: skip
    clips = make_clips(source, default_cache_dir() / "bench-clips")
    on, on_trials = largest(clips, args.cameras, motion=True, detect_fps=args.detect_fps)
    off, off_trials = largest(clips, args.cameras, motion=False, detect_fps=args.detect_fps)
    ratio = on / off if off else float("inf")
    print(f"cameras kept up: {on} with motion gating, {off} detecting every frame "
          f"({ratio:.1f}x; target 3x: {'MET' if ratio >= 3 else 'MISSED'})")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": describe_machine(), "gating": on, "every_frame": off, "ratio": ratio,
            "trials": on_trials + off_trials}, indent=2))  # fmt: skip
    return 0
