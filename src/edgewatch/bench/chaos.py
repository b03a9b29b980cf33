"""`edgewatch bench chaos`: the whole stack under a seeded schedule of kills, and an audit
of every message and point at the end.

    edgewatch run (the real footage, MQTT and direct InfluxDB outputs)
        -> mosquitto -> edgewatch ingest -> influxd, database edge_mqtt
        -> influxd, database edge_direct (through the on-disk spool)

While it runs, a schedule drawn from ``--seed`` kills one of the four and starts it again
a few seconds later: influxd, ingest and the pipeline with SIGKILL (as a crash or a power
cut of that process would), mosquitto with SIGTERM (a broker restart: mosquitto writes its
persistent sessions on the way out; killed with SIGKILL it forgets the messages it took in
its last autosave interval, a broker's loss the pipeline cannot see). A second schedule
publishes poison messages (deep JSON, lone surrogates, numbers and times out of range)
on the detection topic.

At the end everything drains, and the audit counts per path what was produced (the items
ever appended to the pipeline's outbox and spool: SQLite ids are never reused), what was
delivered (rows in InfluxDB, compared point by point with the messages an auditing
subscriber received), lost, duplicated (rows no message accounts for), still waiting, and
the poison kept as dead letters. Memory (RSS) and threads of the pipeline and ingest are
sampled throughout.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
import yaml

from edgewatch.bench.localservers import Influxd, Mosquitto, die_with_parent
from edgewatch.clients.influx.line_protocol import epoch_ns
from edgewatch.machine import describe_machine
from edgewatch.paths import sample_clip

TOPIC = "edgewatch/yard/inference"
MEASUREMENT = "BW_Inference_results"
WARM_UP_S = 30.0  # memory is compared from here to the end of each process's life
DRAIN_TIMEOUT_S = 120.0
POISON = {
    "deep": b"[" * 50_000 + b"]" * 50_000,
    "surrogate": b'{"camera": "\\ud800", "detection_frame_number": 1, "total_num_obj": 0, '
    b'"inference_results": []}',
    "huge": b'{"detection_frame_number": 1' + b"0" * 400 + b', "total_num_obj": 0, '
    b'"inference_results": []}',
    "year 33658": b'{"timestamp": 1e12, "detection_frame_number": 1, "total_num_obj": 1, '
    b'"inference_results": [{"classID": 0, "label": "person", "confidence": 0.9, '
    b'"coor_left": 1, "coor_top": 1, "box_width": 1, "box_height": 1, "objectID": 1, '
    b'"unique_com_id": "OBJ1"}]}',
    "not json": b"\x00\xff garbage",
}


@dataclass
class Service:
    """One edgewatch process, started again after each kill."""

    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen | None = None
    samples: list[list[tuple[float, int, int]]] = field(default_factory=list)  # per life

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.argv, stdout=out, stderr=out, preexec_fn=die_with_parent
            )
        self.samples.append([])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def sample(self, started: float) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            info = psutil.Process(self.process.pid)
            self.samples[-1].append(
                (time.monotonic() - started, info.memory_info().rss, info.num_threads())
            )
        except psutil.Error:
            pass


class Auditor:
    """A persistent QoS 1 subscriber on the detection topic: every message the broker got."""

    def __init__(self, port: int) -> None:
        self.messages: dict[tuple, dict] = {}  # (camera, frame number, timestamp) -> message
        self.deliveries = self.poison = 0
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="chaos-auditor", clean_session=False
        )
        self.client.on_connect = lambda c, *_: c.subscribe(TOPIC, qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 2)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        try:
            data = json.loads(message.payload)
            key = (data["camera"], data["detection_frame_number"], data["timestamp"])
        except (ValueError, KeyError, TypeError, RecursionError):
            with self._lock:
                self.poison += 1
            return
        with self._lock:
            self.deliveries += 1
            self.messages[key] = data

    def points(self) -> set[tuple]:
        """(time in µs, camera, obj) of every object of every message received."""
        with self._lock:
            return {
                (epoch_ns(m["timestamp"]) // 1000, m["camera"], o["unique_com_id"])
                for m in self.messages.values()
                for o in m["inference_results"]
            }

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def queue_figures(path: Path) -> dict:
    """Appended (ids are never reused), waiting and dropped items of a durable queue file."""
    if not path.exists():
        return {"appended": 0, "waiting": 0, "dropped": 0}
    with sqlite3.connect(path, timeout=10) as db:
        seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'queue'").fetchone()
        waiting = db.execute("SELECT COUNT(*) FROM queue").fetchone()[0]
        dropped = db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()
    return {
        "appended": seq[0] if seq else 0,
        "waiting": waiting,
        "dropped": dropped[0] if dropped else 0,
    }


def stored_points(influx: Influxd, database: str) -> list[tuple]:
    """(time in µs, camera, obj, total_num_obj) of every row."""
    rows = influx.rows(f"SELECT camera, obj, total_num_obj FROM {MEASUREMENT}", database)
    return [(r["time"] // 1000, r["camera"], r["obj"], r["total_num_obj"]) for r in rows]


def _register_session(port: int, client_id: str) -> None:
    """A persistent session for ingest's client id before anything is published, so that no
    message of the first seconds misses it (ingest then resumes that session)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=False)  # fmt: skip
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe([("edgewatch/+/inference", 1), ("edgewatch/+/system", 1)])
    subscribed.wait(10)
    client.loop_stop()
    client.disconnect()


def publish_poison(port: int, payload: bytes) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(TOPIC, payload, qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def run_chaos(*, minutes: float, seed: int, folder: Path) -> dict:
    rng = random.Random(seed)
    edgewatch = [sys.executable, "-m", "edgewatch"]
    schedule: list[dict] = []
    with ExitStack() as stack:
        broker = stack.enter_context(Mosquitto(folder / "mosquitto"))
        influx = stack.enter_context(Influxd(folder / "influxd"))
        for database in ("edge_mqtt", "edge_direct"):
            influx.query(f"CREATE DATABASE {database}", post=True)
        state = folder / "state"
        base = {
            "mqtt": {"port": broker.port},
            "influx": {"url": influx.url, "retry_max_s": 2, "timeout_s": 5},
            "pipeline": {"stats_interval_s": 0, "system_interval_s": 0},
        }
        run_config = {
            **base,
            "cameras": [{"name": "yard", "source": str(sample_clip()), "realtime": True,
                         "loop": True}],
            "influx": {**base["influx"], "database": "edge_direct"},
            "web": {"enabled": False},  # no dashboard on the box's port: edgewatch may run
            "outputs": {
                "rtsp": {"enabled": False},
                "mqtt": {"enabled": True, "every_n_frames": 1,
                         "outbox_path": str(state / "outbox.sqlite3"),
                         "outbox_max_messages": 10_000_000},
                "influx": {"enabled": True, "every_n_frames": 1,
                           "spool_path": str(state / "spool.sqlite3"),
                           "spool_max_points": 100_000_000},
            },
        }  # fmt: skip
        ingest_config = {
            **base,
            "influx": {**base["influx"], "database": "edge_mqtt"},
            "ingest": {"client_id": "chaos-ingest",
                       "deadletter_path": str(state / "deadletters.sqlite3")},
        }  # fmt: skip
        (folder / "run.yaml").write_text(yaml.safe_dump(run_config))
        (folder / "ingest.yaml").write_text(yaml.safe_dump(ingest_config))
        auditor = Auditor(broker.port)
        stack.callback(auditor.close)
        _register_session(broker.port, "chaos-ingest")  # the broker queues for ingest from now
        services = {
            name: Service(name, [*edgewatch, command, "--config", str(folder / config)],
                          folder / f"{name}.log")
            for name, command, config in (("ingest", "ingest", "ingest.yaml"),
                                          ("pipeline", "run", "run.yaml"))
        }  # fmt: skip
        for service in services.values():
            service.start()
            stack.callback(service.kill, signal.SIGTERM)
        victims = {
            "mosquitto": (broker.stop, broker.start),
            "influxd": (lambda: _sigkill(influx), influx.start),
            "ingest": (services["ingest"].kill, services["ingest"].start),
            "pipeline": (services["pipeline"].kill, services["pipeline"].start),
        }
        started = time.monotonic()
        end = started + minutes * 60
        next_kill = started + rng.uniform(8, 20)
        next_poison = started + rng.uniform(3, 10)
        poison_sent = 0
        while time.monotonic() < end:
            now = time.monotonic()
            for service in services.values():
                service.sample(started)
            if now >= next_poison:
                kind = rng.choice(sorted(POISON))
                try:
                    publish_poison(broker.port, POISON[kind])
                    poison_sent += 1
                except OSError:
                    pass  # the broker is the one down just now
                next_poison = now + rng.uniform(5, 15)
            if now >= next_kill:
                victim, down = rng.choice(sorted(victims)), rng.uniform(1, 5)
                stop, start = victims[victim]
                schedule.append({"at_s": round(now - started, 1), "what": victim,
                                 "down_s": round(down, 1)})  # fmt: skip
                print(f"  {now - started:6.1f} s: {victim} down for {down:.1f} s", flush=True)
                stop()
                time.sleep(down)
                start()
                next_kill = time.monotonic() + rng.uniform(8, 20)
            time.sleep(0.5)
        print("  schedule done; draining ...", flush=True)
        drained = _drain(state, influx, services, auditor)
        figures = _audit(state, influx, auditor, poison_sent)
    return {
        "minutes": minutes,
        "seed": seed,
        "schedule": schedule,
        "drained_in_s": drained,
        **figures,
        "memory": {name: _memory(service) for name, service in services.items()},
    }


def _sigkill(influx: Influxd) -> None:
    if influx.process and influx.process.poll() is None:
        influx.process.kill()
        influx.process.wait()
    influx.process = None


def _drain(state: Path, influx: Influxd, services: dict[str, Service], auditor: Auditor) -> float:
    """Waits for the outbox and spool to empty, stops the pipeline (it flushes), then waits
    for ingest to write what the broker still holds for it."""
    started = time.monotonic()
    deadline = started + DRAIN_TIMEOUT_S

    def settled(read) -> None:
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            value = read()
            if value != last:
                last, since = value, time.monotonic()
            elif time.monotonic() - since >= 5:
                return
            time.sleep(0.5)

    while time.monotonic() < deadline:
        waiting = [queue_figures(state / f)["waiting"] for f in ("outbox.sqlite3", "spool.sqlite3")]
        if not any(waiting):
            break
        time.sleep(0.5)
    services["pipeline"].kill(signal.SIGTERM)  # it sends what it made meanwhile, and leaves
    settled(lambda: (len(auditor.messages), _count(influx, "edge_mqtt")))
    services["ingest"].kill(signal.SIGTERM)
    return round(time.monotonic() - started, 1)


def _count(influx: Influxd, database: str) -> int:
    rows = influx.rows(f"SELECT count(confidence) FROM {MEASUREMENT}", database)
    return rows[0]["count"] if rows else 0


def _audit(state: Path, influx: Influxd, auditor: Auditor, poison_sent: int) -> dict:
    outbox = queue_figures(state / "outbox.sqlite3")
    spool = queue_figures(state / "spool.sqlite3")
    expected = auditor.points()
    mqtt_rows = stored_points(influx, "edge_mqtt")
    got = {row[:3] for row in mqtt_rows}
    direct_rows = stored_points(influx, "edge_direct")
    groups: dict[tuple, list] = {}
    for time_us, camera, obj, total in direct_rows:
        groups.setdefault((time_us, camera), []).append((obj, total))
    incomplete = sum(1 for rows in groups.values() if len(rows) != int(rows[0][1]))
    with sqlite3.connect(state / "deadletters.sqlite3") as db:
        dead = db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
    return {
        "mqtt_path": {
            "messages_produced": outbox["appended"],
            "messages_at_broker": len(auditor.messages),
            "messages_waiting": outbox["waiting"],
            "messages_dropped_at_bound": outbox["dropped"],
            "messages_lost_before_broker": outbox["appended"]
            - outbox["waiting"]
            - len(auditor.messages),
            "redeliveries_to_auditor": auditor.deliveries - len(auditor.messages),
            "points_expected": len(expected),
            "points_delivered": len(expected & got),
            "points_lost": len(expected - got),
            "points_duplicated": len(mqtt_rows) - len(got) + len(got - expected),
        },
        "direct_path": {
            "groups_produced": spool["appended"],
            "groups_waiting": spool["waiting"],
            "groups_dropped_at_bound": spool["dropped"],
            "groups_delivered": len(groups),
            "groups_lost": spool["appended"] - spool["waiting"] - len(groups),
            "groups_incomplete": incomplete,
            "points_delivered": len(direct_rows),
        },
        "poison": {"sent": poison_sent, "seen_by_auditor": auditor.poison, "dead_letters": dead},
    }


def _memory(service: Service) -> dict:
    """Per life of the process: RSS after the warm-up and at its end, and threads."""
    lives = []
    for samples in service.samples:
        warm = [s for s in samples if s[0] >= samples[0][0] + WARM_UP_S] if samples else []
        if len(warm) < 2:
            continue
        first, last = warm[0], warm[-1]
        lives.append({
            "seconds": round(last[0] - first[0], 1),
            "rss_mb_after_warm_up": round(first[1] / 2**20, 1),
            "rss_mb_at_end": round(last[1] / 2**20, 1),
            "growth_percent": round(100 * (last[1] - first[1]) / first[1], 2),
            "threads": sorted({s[2] for s in warm}),
        })  # fmt: skip
    return {"lives": len(service.samples), "measured": lives}


def print_chaos_bench(args) -> int:
    print(describe_machine())
    print(f"edgewatch bench chaos: {args.minutes:g} min, seed {args.seed}: pipeline -> "
          "mosquitto -> ingest -> influxd, and the direct InfluxDB output", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="edgewatch-chaos-") as folder:
        figures = run_chaos(minutes=args.minutes, seed=args.seed, folder=Path(folder))
    m, d, p = figures["mqtt_path"], figures["direct_path"], figures["poison"]
    print(f"MQTT path: {m['messages_produced']} messages produced, {m['messages_at_broker']} "
          f"reached the broker ({m['messages_lost_before_broker']} lost before it, "
          f"{m['messages_waiting']} still waiting); {m['points_expected']} points expected, "
          f"{m['points_delivered']} in InfluxDB, {m['points_lost']} lost, "
          f"{m['points_duplicated']} duplicated")  # fmt: skip
    print(f"direct path: {d['groups_produced']} frames' point groups produced, "
          f"{d['groups_delivered']} in InfluxDB ({d['points_delivered']} points), "
          f"{d['groups_lost']} lost, {d['groups_incomplete']} incomplete, "
          f"{d['groups_waiting']} still waiting")  # fmt: skip
    print(f"poison: {p['sent']} published, {p['dead_letters']} kept as dead letters")
    for name, memory in figures["memory"].items():
        for life in memory["measured"]:
            print(f"{name}: {life['rss_mb_after_warm_up']} MB after warm-up -> "
                  f"{life['rss_mb_at_end']} MB {life['seconds']} s later "
                  f"({life['growth_percent']:+.1f}%), threads {life['threads']}")  # fmt: skip
    lost = m["points_lost"] + m["messages_lost_before_broker"] + d["groups_lost"]
    duplicated = m["points_duplicated"] + d["groups_incomplete"]
    growth = max((life["growth_percent"] for mem in figures["memory"].values()
                  for life in mem["measured"]), default=None)  # fmt: skip
    print(f"target: 0 lost ({'MET' if lost == 0 else f'MISSED: {lost}'}), 0 duplicated "
          f"({'MET' if duplicated == 0 else f'MISSED: {duplicated}'}), memory flat "
          + ("(not measured: no process lived past the warm-up)" if growth is None else
             f"({'MET' if growth < 5 else 'MISSED'}: largest growth {growth:+.1f}%)"))  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0 if lost == 0 and duplicated == 0 else 1
