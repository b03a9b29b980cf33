"""How fast `edgewatch ingest` is: publish-to-query latency and sustained messages/s.

`run_ingest_bench()` starts its own mosquitto and influxd (Debian's packages) on free
loopback ports in a temporary folder, runs ingest in this process against them with real
paho publishers, and stops everything again. Nothing outside the folder is touched.
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt

from edgewatch.bench.localservers import Influxd, Mosquitto
from edgewatch.config import Config
from edgewatch.machine import describe_machine
from edgewatch.services.ingest import Ingest

log = logging.getLogger(__name__)
DATABASE = "ingest_bench"
MEASUREMENT = Config().influx.measurement


def run_ingest_bench(
    *, messages: int = 3000, objects: int = 5, latency_samples: int = 30, qos: int = 1
) -> dict:
    """Latency of one message from publish until InfluxQL returns its point, then the rate
    of ``messages`` messages of ``objects`` objects each, published as fast as paho can."""
    with (
        tempfile.TemporaryDirectory(prefix="edgewatch-ingest-bench-") as folder,
        ExitStack() as stack,
    ):
        broker = stack.enter_context(Mosquitto(Path(folder) / "mosquitto"))
        influx = stack.enter_context(Influxd(Path(folder) / "influxd"))
        mqtt_port, influx_url = broker.port, influx.url
        influx.query(f"CREATE DATABASE {DATABASE}", post=True)
        config = Config.model_validate(
            {
                "mqtt": {"port": mqtt_port},
                "influx": {"url": influx_url, "database": DATABASE},
                "ingest": {"client_id": "edgewatch-ingest-bench"},
                "pipeline": {"stats_interval_s": 0},
            }
        )
        ingest, stop = Ingest(config), threading.Event()
        thread = threading.Thread(target=ingest.run, args=(stop,), daemon=True)
        thread.start()
        stack.callback(thread.join, 30)
        stack.callback(stop.set)
        if not ingest.subscribed.wait(15):
            raise RuntimeError("ingest did not subscribe within 15 s")
        publisher = stack.enter_context(_publisher(mqtt_port))

        latencies = []
        for i in range(latency_samples):
            started = time.perf_counter()
            publisher.publish("edgewatch/lat/inference", _message(i, 1, "lat"), qos=qos)
            _wait_count(influx_url, "lat", i + 1, timeout=10)
            latencies.append(1000 * (time.perf_counter() - started))

        started = time.perf_counter()
        infos = [
            publisher.publish("edgewatch/rate/inference", _message(i, objects, "rate"), qos=qos)
            for i in range(messages)
        ]
        for info in infos:
            info.wait_for_publish(60)
        published_s = time.perf_counter() - started
        _wait_count(influx_url, "rate", messages * objects, timeout=300)
        elapsed = time.perf_counter() - started

    # Read once ingest has stopped: InfluxDB may answer a query with the last batch
    # before the writer thread has counted that batch's response.
    counters = ingest.stats.snapshot()["counters"]
    latencies.sort()
    return {
        "latency_ms": {
            "median": round(statistics.median(latencies), 1),
            "p90": round(latencies[int(0.9 * (len(latencies) - 1))], 1),
            "max": round(latencies[-1], 1),
            "samples": len(latencies),
        },
        "throughput": {
            "messages": messages,
            "objects_per_message": objects,
            "messages_per_s": round(messages / elapsed, 1),
            "points_per_s": round(messages * objects / elapsed, 1),
            "publish_only_messages_per_s": round(messages / published_s, 1),
            "qos": qos,
        },
        "counters": counters,
    }


def _message(i: int, objects: int, camera: str) -> str:
    results = [
        {
            "classID": 1,
            "label": "person",
            "confidence": 0.9,
            "coor_left": 10.0 * k,
            "coor_top": 20.0,
            "box_width": 30.0,
            "box_height": 60.0,
            "objectID": k,
            "unique_com_id": f"OBJ{k + 1}",
        }  # fmt: skip
        for k in range(objects)
    ]
    return json.dumps(
        {
            "camera": camera,
            "timestamp": time.time(),
            "detection_frame_number": i,
            "total_num_obj": objects,
            "inference_results": results,
        }  # fmt: skip
    )


def _wait_count(url: str, camera: str, expected: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    q = f"SELECT count(confidence) FROM {MEASUREMENT} WHERE camera = '{camera}'"
    while time.monotonic() < deadline:
        series = _query(url, q)["results"][0].get("series")
        if series and series[0]["values"][0][1] >= expected:
            return
        time.sleep(0.005)
    raise TimeoutError(f"InfluxDB did not show {expected} points of camera {camera} in time")


def _query(url: str, q: str) -> dict:
    params = urllib.parse.urlencode({"q": q, "db": DATABASE})
    with urllib.request.urlopen(f"{url}/query?{params}", timeout=10) as response:
        return json.loads(response.read())


@contextmanager
def _publisher(port: int):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edgewatch-bench-publisher")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def print_ingest_bench(args) -> int:
    """`edgewatch bench ingest`: the figures as a table (and JSON with --json)."""
    print(describe_machine())
    print(
        f"edgewatch bench ingest: {args.messages} messages x {args.objects} objects, "
        "mosquitto and influxd started on loopback ...",
        flush=True,
    )
    result = run_ingest_bench(messages=args.messages, objects=args.objects)
    latency, rate = result["latency_ms"], result["throughput"]
    print(
        f"publish-to-query latency: median {latency['median']} ms, p90 {latency['p90']} ms, "
        f"max {latency['max']} ms ({latency['samples']} samples)"
    )
    print(
        f"sustained through ingest: {rate['messages_per_s']} messages/s = "
        f"{rate['points_per_s']} points/s (publisher alone: "
        f"{rate['publish_only_messages_per_s']} messages/s)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0
