"""`edgewatch bench web`: what the dashboard costs the box.

- The API: `edgewatch web` (the real command, its own process) over an event store of
  10,000 episodes; N clients in threads here, each on one keep-alive connection, ask for
  the events list (newest 100, and filtered) as fast as it answers: requests/s, p50 and
  p95 latency, and the server's CPU.
- A watching browser: `edgewatch run` on the bundled footage (realtime, looped) with the
  dashboard; the server process's CPU is read with nobody watching, while a viewer here
  pulls the live picture at 10 frames/s by MJPEG, with nobody again, and while it polls
  latest.jpg, each phase one loop of the clip (the same footage, so the same detection
  work). The difference is what one viewer costs: drawing, JPEG encoding, sending.

Both serve on a free loopback port from a temporary state folder; the figures are ratios
and rates measured in the same run, printed beside the CPU that made them.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

from edgewatch.bench.localservers import die_with_parent, free_port, wait_for_port
from edgewatch.events.model import Crossing, Episode, Happening
from edgewatch.events.store import EventStore
from edgewatch.machine import describe_machine
from edgewatch.paths import sample_clip

PASSWORD = "bench-" + os.urandom(6).hex()  # a throwaway for the benchmark's own server
CAMERAS = ("driveway", "street", "garden")
LABELS = ("person",) * 7 + ("car",) * 2 + ("dog",)
API_SECONDS = 5.0  # per query, mode and number of clients
MONTH_S = 30 * 86400
QUERIES = {
    "newest 100": f"/api/events?limit=100&since_s={MONTH_S}",
    "camera + label": f"/api/events?camera=street&label=person&limit=100&since_s={MONTH_S}",
    "zone": f"/api/events?zone=porch&limit=100&since_s={MONTH_S}",
    "line crossings, 1 day": "/api/events?kind=line_crossed&limit=100&since_s=86400",
}


def fresh(path: str, n: int) -> str:
    """The same query, but not one the server answered before (it keeps answers until
    the store changes): ``since_s`` a few microseconds longer, the same events."""
    return f"{path}.{n:06d}"


def fill_store(store: EventStore, count: int, *, now: float, days: float = 7.0) -> None:
    """``count`` episodes over the last ``days``, written as the engine writes them (one
    `save` per episode): entered, often a zone entry or a line crossing, then left."""
    rng = random.Random(14)
    step = days * 86400 / count
    for i in range(count):
        start = now - days * 86400 + i * step + rng.uniform(0, step / 2)
        camera, label = CAMERAS[i % len(CAMERAS)], rng.choice(LABELS)
        end = start + rng.uniform(3, 60)
        episode = Episode(
            f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(start))}-{i:08x}",
            camera, label, i + 1, start, end, rng.uniform(0.5, 0.9), rng.uniform(0.6, 0.99),
            snapshot=f"{camera}/{i:08x}.jpg", thumbnail=f"{camera}/{i:08x}-thumb.jpg",
        )  # fmt: skip
        happen = [Happening(episode.id, camera, "entered", label, i + 1, start, confidence=0.8)]
        if rng.random() < 0.5:
            at = start + 1
            happen.append(Happening(episode.id, camera, "zone_entered", label, i + 1, at, "porch"))
            episode.entered_zones.append("porch")
        if rng.random() < 0.4:
            at, direction = start + 2, rng.choice(("left->right", "right->left"))
            happen.append(
                Happening(episode.id, camera, "line_crossed", label, i + 1, at, "gate", direction)
            )
            episode.crossings.append(Crossing("gate", direction, at))
        happen.append(Happening(episode.id, camera, "left", label, i + 1, end))
        store.save(episode, happen)


class Session:
    """One logged-in keep-alive connection (http.client), as a browser tab holds one."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = json.dumps({"username": "admin", "password": PASSWORD})
        self.connection.request("POST", "/api/login", body, {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"the benchmark's login failed: HTTP {response.status}")
        self.cookie = response.headers["Set-Cookie"].split(";", 1)[0]

    def get(self, path: str) -> bytes:
        self.connection.request("GET", path, headers={"Cookie": self.cookie})
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}")
        return body

    def close(self) -> None:
        self.connection.close()


def _serve(args: list[str], config: dict, folder: Path, port: int) -> subprocess.Popen:
    """The edgewatch command with ``config``, its state in ``folder``, until its web
    port answers."""
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "XDG_STATE_HOME": str(folder / "state"), "PYTHONUNBUFFERED": "1"}
    env.pop("EDGEWATCH_WEB_PASSWORD", None)
    command = [sys.executable, "-m", "edgewatch", *args, "--config", str(path)]
    log = open(folder / f"{args[0]}.log", "wb")  # noqa: SIM115 - the process holds it
    process = subprocess.Popen(command, stdout=log, stderr=log, env=env,
                               preexec_fn=die_with_parent)  # fmt: skip
    try:
        wait_for_port(port, timeout=120)
    except TimeoutError:
        process.kill()
        raise RuntimeError(
            f"edgewatch {args[0]} did not serve: {(folder / f'{args[0]}.log').read_text()[-2000:]}"
        ) from None
    return process


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _web_config(folder: Path, port: int) -> dict:
    return {
        "cameras": [{"name": name, "source": "sample"} for name in CAMERAS],
        "web": {
            "port": port,
            "password": PASSWORD,
            "history_path": str(folder / "history.sqlite3"),
        },  # fmt: skip
        "events": {
            "store_path": str(folder / "events.sqlite3"),
            "snapshots": {"dir": str(folder / "snapshots")},
        },  # fmt: skip
    }


def bench_api(*, events: int, clients: list[int], seconds: float) -> dict:
    """Requests/s and latency of the events list, per query, from each number of client
    threads in ``clients``."""
    with tempfile.TemporaryDirectory(prefix="edgewatch-bench-web-") as tmp:
        folder = Path(tmp)
        store = EventStore(folder / "events.sqlite3")
        started = time.perf_counter()
        fill_store(store, events, now=time.time())
        fill_s = time.perf_counter() - started
        store.close()
        port = free_port()
        server = _serve(["web"], _web_config(folder, port), folder, port)
        try:
            results: dict = {"events": events, "fill_s": round(fill_s, 1), "runs": {}}
            process = psutil.Process(server.pid)
            # Each query once on the just-started server: every event of the page built
            # from the store (later pages reuse the JSON of ended events).
            first = Session(port)
            first.get("/api/session")
            results["first_ms"] = {}
            for name, path in QUERIES.items():
                started = time.perf_counter()
                first.get(path)
                results["first_ms"][name] = round(1e3 * (time.perf_counter() - started), 1)
            first.close()
            for n in clients:
                results["runs"][n] = {
                    name: {
                        mode: _hammer(port, path, clients=n, seconds=seconds, process=process,
                                      new_each_time=mode == "fresh")
                        for mode in ("fresh", "repeat")
                    }
                    for name, path in QUERIES.items()
                }  # fmt: skip
            return results
        finally:
            _stop(server)


def _hammer(
    port: int, path: str, *, clients: int, seconds: float, process, new_each_time: bool
) -> dict:
    """``new_each_time``: every request a query the server has not answered yet (its
    answer cache misses); else the same query again and again, as polling pages ask."""
    sessions = [Session(port) for _ in range(clients)]
    for session in sessions:  # warm: connections, the first query plan
        for _ in range(5):
            session.get(path)
    latencies: list[list[float]] = [[] for _ in sessions]
    size = len(sessions[0].get(path))
    stop = threading.Event()

    def client(i: int) -> None:
        session, mine = sessions[i], latencies[i]
        n = i * 100_000
        while not stop.is_set():
            n += 1
            asked = fresh(path, n % 1_000_000) if new_each_time else path
            t = time.perf_counter()
            session.get(asked)
            mine.append(time.perf_counter() - t)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    cpu = process.cpu_times()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    used = process.cpu_times()
    for session in sessions:
        session.close()
    every = sorted(x for mine in latencies for x in mine)
    return {
        "requests": len(every),
        "requests_per_s": round(len(every) / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(every), 2),
        "p95_ms": round(1000 * every[int(0.95 * (len(every) - 1))], 2),
        "bytes": size,
        "server_cpu_percent": round(
            100 * (used.user + used.system - cpu.user - cpu.system) / elapsed, 1
        ),
    }


def clip_seconds() -> float:
    """One loop of the bundled clip: 795 frames at 10 fps."""
    import cv2

    capture = cv2.VideoCapture(str(sample_clip()))
    try:
        frames, fps = capture.get(cv2.CAP_PROP_FRAME_COUNT), capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()
    return frames / fps if frames > 0 and fps > 0 else 79.5


def jpeg_ms(quality: int = 80, pictures: int = 50) -> float:
    """Median time to encode one frame of the clip as the live view does (cv2, ``quality``):
    the viewer's cost measured apart from the pipeline's noise."""
    import cv2

    capture = cv2.VideoCapture(str(sample_clip()))
    try:
        ok, image = capture.read()
    finally:
        capture.release()
    if not ok:
        raise RuntimeError(f"cannot read {sample_clip()}")
    times = []
    for _ in range(pictures):
        started = time.perf_counter()
        cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def bench_viewer(*, seconds: float | None = None, fps: float = 10.0) -> dict:
    """The `edgewatch run` process's CPU without a viewer, with one (MJPEG, then
    latest.jpg polled at ``fps``), and without again, on the bundled footage. Each phase
    lasts ``seconds``, by default one loop of the clip: the detector's work follows the
    people in the picture, so only phases that see the same footage compare."""
    seconds = seconds or clip_seconds()
    with tempfile.TemporaryDirectory(prefix="edgewatch-bench-viewer-") as tmp:
        folder = Path(tmp)
        port = free_port()
        config = _web_config(folder, port)
        config["cameras"] = [{"name": "vtest", "source": "sample"}]
        config["web"]["live_fps"] = fps
        server = _serve(["run", "--no-rtsp"], config, folder, port)
        try:
            process = psutil.Process(server.pid)
            time.sleep(min(10.0, seconds))  # the detector warms up, the clip plays
            phases = {}
            phases["nobody watching"] = _cpu(process, seconds)
            phases["MJPEG viewer"] = _cpu(process, seconds, MjpegViewer(port))
            phases["nobody watching again"] = _cpu(process, seconds)
            phases["latest.jpg viewer"] = _cpu(process, seconds, PollingViewer(port, fps))
            idle = (phases["nobody watching"]["cpu_percent"]
                    + phases["nobody watching again"]["cpu_percent"]) / 2  # fmt: skip
            return {
                "seconds": seconds,
                "fps": fps,
                "jpeg_ms": round(jpeg_ms(), 2),
                "phases": phases,
                "idle_cpu_percent": round(idle, 1),
                "mjpeg_viewer_cost_percent": round(
                    phases["MJPEG viewer"]["cpu_percent"] - idle, 1
                ),  # fmt: skip
                "polling_viewer_cost_percent": round(
                    phases["latest.jpg viewer"]["cpu_percent"] - idle, 1
                ),
            }
        finally:
            _stop(server)


class _Viewer:
    """A browser tab showing one camera, in a thread; counts the pictures it got."""

    def __init__(self, port: int) -> None:
        self.session = Session(port)
        self.pictures = 0
        self.bytes = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def watch(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.stop.set()
        self.session.connection.close()
        self.thread.join(10)


class MjpegViewer(_Viewer):
    """An <img> showing /mjpeg: one long answer, a part per picture."""

    def watch(self) -> None:
        connection = self.session.connection
        connection.request("GET", "/api/cameras/vtest/mjpeg",
                           headers={"Cookie": self.session.cookie})  # fmt: skip
        response = connection.getresponse()
        try:
            while not self.stop.is_set():
                line = response.readline()
                if line.lower().startswith(b"content-length:"):
                    response.readline()
                    self.bytes += len(response.read(int(line.split(b":")[1])))
                    self.pictures += 1
        except Exception:  # closed under it by __exit__: the viewer is done
            pass


class PollingViewer(_Viewer):
    """A page fetching latest.jpg ``fps`` times a second (where MJPEG is not used)."""

    def __init__(self, port: int, fps: float) -> None:
        super().__init__(port)
        self.interval = 1.0 / fps

    def watch(self) -> None:
        due = time.monotonic()
        while not self.stop.is_set():
            try:
                self.bytes += len(self.session.get("/api/cameras/vtest/latest.jpg"))
                self.pictures += 1
            except RuntimeError:
                pass  # 404 before the first picture
            except (OSError, http.client.HTTPException):
                return
            due += self.interval
            self.stop.wait(max(0.0, due - time.monotonic()))


def _cpu(process: psutil.Process, seconds: float, viewer: _Viewer | None = None) -> dict:
    if viewer is not None:
        viewer.__enter__()
        time.sleep(2.0)  # the first pictures: the camera becomes watched
    before, started = process.cpu_times(), time.perf_counter()
    pictures = viewer.pictures if viewer else 0
    time.sleep(seconds)
    after, elapsed = process.cpu_times(), time.perf_counter() - started
    got = (viewer.pictures - pictures) if viewer else 0
    size = viewer.bytes / max(1, viewer.pictures) if viewer else 0
    if viewer is not None:
        viewer.__exit__()
    used = after.user + after.system - before.user - before.system
    return {
        "cpu_percent": round(100 * used / elapsed, 1),
        "pictures_per_s": round(got / elapsed, 1),
        "picture_kb": round(size / 1024, 1),
    }


def print_web_bench(args) -> int:
    print(describe_machine())
    events, clients = args.events, sorted({1, args.clients})
    api = bench_api(events=events, clients=clients, seconds=API_SECONDS)
    print(f"web API: /api/events over {events:,} stored events (filled in {api['fill_s']} s), "
          "`edgewatch web` alone; clients in threads here, each on a keep-alive "
          f"connection; {API_SECONDS:g} s a row")  # fmt: skip
    print(
        "  first listing after start (every event built from the store): "
        + ", ".join(f"{name} {ms} ms" for name, ms in api["first_ms"].items())
    )
    print("  fresh: every request a query not answered before (the page read from the store, "
          "ended events' JSON reused); repeat: the same query again (from the answer cache "
          "until the store changes)")  # fmt: skip
    print(f"  {'clients':>7}  {'query':<24}{'mode':<8}{'requests/s':>11}{'p50 ms':>9}"
          f"{'p95 ms':>9}{'KB':>6}{'server CPU':>12}")  # fmt: skip
    for n, run in api["runs"].items():
        for name, modes in run.items():
            for mode, r in modes.items():
                print(f"  {n:>7}  {name:<24}{mode:<8}{r['requests_per_s']:>11,.0f}"
                      f"{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['bytes'] / 1024:>6.0f}"
                      f"{r['server_cpu_percent']:>11.0f}%")  # fmt: skip
    viewer = None
    if not args.no_viewer:
        viewer = bench_viewer()
        print(f"a watching browser: `edgewatch run` on the bundled footage (vtest, realtime), "
              f"{viewer['fps']:g} pictures/s asked, {viewer['seconds']:g} s per phase; "
              "process CPU (100% = one core)")  # fmt: skip
        for name, phase in viewer["phases"].items():
            got = (f", {phase['pictures_per_s']:.1f} pictures/s of {phase['picture_kb']:.0f} KB"
                   if phase["pictures_per_s"] else "")  # fmt: skip
            print(f"  {name:<24}{phase['cpu_percent']:>6.1f}%{got}")
        print(f"  one viewer costs: MJPEG {viewer['mjpeg_viewer_cost_percent']:+.1f}% of a core, "
              f"latest.jpg polling {viewer['polling_viewer_cost_percent']:+.1f}% (the two idle "
              "phases show the noise)")  # fmt: skip
        jpeg, share = viewer["jpeg_ms"], viewer["jpeg_ms"] * viewer["fps"] / 10
        print(f"  for scale, JPEG encoding alone (a 768x576 frame, quality 80): {jpeg:.1f} ms "
              f"a picture, {share:.1f}% of a core at {viewer['fps']:g}/s")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"api": api, "viewer": viewer}, indent=2))
    return 0
