"""HistorySink, the panels' embedded history: the frames the MQTT and InfluxDB outputs
report, from a real run on the real footage, in batches, pruned after the retention."""

from __future__ import annotations

import json
import sqlite3
import stat
import time

import numpy as np
import pytest

from edgewatch.config import config_from_dict
from edgewatch.outputs.history import FLUSH_S, HistorySink
from edgewatch.outputs.report import ReportedOutputConfig, ReportPolicy
from edgewatch.outputs.web import WebConfig
from edgewatch.pipeline import build_pipeline
from edgewatch.types import NO_TRACK, UNTRACKED_OBJECT_ID, Detections, Frame

pytestmark = pytest.mark.timeout(180)


def rows(path, query: str, *args) -> list[tuple]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(query, args).fetchall()


def run_on_footage(tmp_path, frames: int, **outputs) -> tuple[list[dict], object]:
    """A real run: the JSON lines (every frame's message) and the history file."""
    history = tmp_path / "history.sqlite3"
    config = config_from_dict(
        {
            "cameras": [{"name": "yard", "source": "sample", "realtime": False,
                         "max_frames": frames}],
            "outputs": {"rtsp": {"enabled": False},
                        "jsonl": {"path": str(tmp_path / "all.jsonl")}, **outputs},
            "web": {"history_path": str(history)},
            "pipeline": {"stats_interval_s": 0, "system_interval_s": 0},
        }
    )  # fmt: skip
    summary = build_pipeline(config).run()
    assert summary.frames == {"yard": frames} and not summary.output_errors
    messages = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    return messages, history


def detections_of(message: dict) -> Detections:
    """The frame's detections back from its message (for the report policy)."""
    objects = message["inference_results"]
    names = {o["classID"]: o["label"] for o in objects}
    return Detections(
        xyxy=np.array(
            [[o["coor_left"], o["coor_top"], o["coor_left"] + o["box_width"],
              o["coor_top"] + o["box_height"]] for o in objects], np.float32
        ).reshape(-1, 4),
        confidence=np.array([o["confidence"] for o in objects], np.float32),
        class_id=np.array([o["classID"] for o in objects], np.int32),
        tracker_id=np.array(
            [NO_TRACK if o["objectID"] == UNTRACKED_OBJECT_ID else o["objectID"]
             for o in objects], np.int64
        ),
        class_names=names,
    )  # fmt: skip


def test_every_reported_frame_of_a_real_run_and_its_objects_are_kept(tmp_path):
    messages, history = run_on_footage(tmp_path, 60, mqtt={"every_n_frames": 1})
    frames = rows(history, "SELECT * FROM frames WHERE camera = 'yard' ORDER BY frame_number")
    assert [f[2] for f in frames] == [m["detection_frame_number"] for m in messages]
    for (_, when, _, total, average), message in zip(frames, messages, strict=True):
        results = message["inference_results"]
        assert when == pytest.approx(message["timestamp"]) and total == len(results)
        if results:
            mean = sum(o["confidence"] for o in results) / len(results)
            assert average == pytest.approx(mean, abs=1e-4)
        else:
            assert average is None
    stored = rows(
        history,
        "SELECT frame_number, object_id, label, confidence, box_width, box_height, "
        "unique_com_id FROM objects ORDER BY frame_number, unique_com_id",
    )
    expected = sorted(
        (
            m["detection_frame_number"],
            None if o["objectID"] == UNTRACKED_OBJECT_ID else o["objectID"],
            o["label"],
            o["confidence"],
            o["box_width"],
            o["box_height"],
            o["unique_com_id"],
        )  # fmt: skip
        for m in messages
        for o in m["inference_results"]
    )
    assert stored == expected
    assert len(stored) > 60  # people walk through the footage
    assert {label for _, _, label, *_ in stored} >= {"person"}


def test_history_keeps_the_frames_the_outputs_report_and_no_others(tmp_path):
    """Every 30th frame and each change of the objects: as MQTT and InfluxDB report."""
    messages, history = run_on_footage(tmp_path, 120)
    policy = ReportPolicy(30, on_change=True)
    expected = [
        m["detection_frame_number"] for m in messages if policy.due(m["camera"], detections_of(m))
    ]
    stored = [n for (n,) in rows(history, "SELECT frame_number FROM frames ORDER BY time")]
    assert stored == expected
    assert 0 in stored and 4 < len(stored) < 120  # the first frame, some, not all


def test_the_influx_outputs_choice_of_frames_wins_when_it_is_on(tmp_path):
    config = config_from_dict(
        {"outputs": {"influx": {"enabled": True, "every_n_frames": 7},
                     "mqtt": {"every_n_frames": 3}}}
    )  # fmt: skip
    from edgewatch.pipeline.outputs import OUTPUTS

    sink = OUTPUTS["history"](config, {})
    assert sink.policy.every_n_frames == 7
    config = config_from_dict({"outputs": {"mqtt": {"every_n_frames": 3}}})
    assert OUTPUTS["history"](config, {}).policy.every_n_frames == 3
    assert OUTPUTS["history"](config_from_dict({"web": {"enabled": False}}), {}) is None


def one_person(confidence: float = 0.9) -> Detections:
    return Detections(
        xyxy=np.array([[10, 20, 50, 120]], np.float32),
        confidence=np.array([confidence], np.float32),
        class_id=np.array([1], np.int32),
        tracker_id=np.array([7], np.int64),
        class_names={1: "person"},
    )


def sink_at(tmp_path, **web) -> HistorySink:
    config = WebConfig(history_path=tmp_path / "state" / "history.sqlite3", **web)
    sink = HistorySink(config, ReportedOutputConfig(every_n_frames=1))
    sink.open([])
    return sink


def picture() -> np.ndarray:
    return np.zeros((240, 320, 3), np.uint8)


def test_rows_are_written_in_batches_and_all_of_them_at_close(tmp_path):
    sink = sink_at(tmp_path)
    path = sink.path
    for i in range(5):
        sink.write(Frame("yard", i, time.time(), picture()), one_person())
    assert rows(path, "SELECT COUNT(*) FROM frames") == [(0,)]  # waiting for the batch
    time.sleep(FLUSH_S + 0.1)
    sink.write(Frame("yard", 5, time.time(), picture()), one_person())
    assert rows(path, "SELECT COUNT(*) FROM frames") == [(6,)]  # one transaction
    sink.write(Frame("yard", 6, time.time(), picture()), one_person())
    sink.close()
    assert rows(path, "SELECT COUNT(*), MAX(frame_number) FROM frames") == [(7, 6)]
    assert rows(path, "SELECT object_id, label, box_width, box_height FROM objects LIMIT 1") == [
        (7, "person", 40.0, 100.0)
    ]
    assert sink.stats() == {"frames": 7, "objects": 7, "pruned": 0}


def test_rows_older_than_the_retention_are_pruned_at_start_and_while_running(tmp_path):
    sink = sink_at(tmp_path, history_retention="1h")
    now = time.time()
    for camera in ("yard", "gate"):
        for i, age in enumerate((7200, 3700, 60, 0)):
            sink.write(Frame(camera, i, now - age, picture()), one_person())
    sink.flush()
    assert sink.prune(now) == 8  # 2 old frames and their objects, of 2 cameras
    assert rows(sink.path, "SELECT camera, frame_number FROM frames ORDER BY camera, time") == [
        ("gate", 2), ("gate", 3), ("yard", 2), ("yard", 3)
    ]  # fmt: skip
    assert rows(sink.path, "SELECT COUNT(*) FROM objects") == [(4,)]
    sink.close()
    # A day later the next start prunes the rest before anything else.
    reopened = sink_at(tmp_path, history_retention="1h")
    assert rows(reopened.path, "SELECT COUNT(*) FROM frames") == [(4,)]
    assert reopened.prune(now + 86400) == 8
    reopened.close()


def test_the_history_file_is_private(tmp_path):
    sink = sink_at(tmp_path)
    sink.close()
    assert stat.S_IMODE(sink.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(sink.path.parent.stat().st_mode) == 0o700


def test_an_unwritable_history_path_names_the_setting(tmp_path):
    from edgewatch.errors import ConfigError

    blocked = tmp_path / "file"
    blocked.write_text("")
    sink = HistorySink(WebConfig(history_path=blocked / "history.sqlite3"), ReportedOutputConfig())
    with pytest.raises(ConfigError, match="web.history_path"):
        sink.open([])
