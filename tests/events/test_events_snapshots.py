"""Snapshots: written before the change that names them; the best frame with its box,
the zones and lines, camera and time; the frame a line was crossed in, that line
emphasised; a crop; retention by age and by total size, oldest first."""

import os
import time

import cv2
import numpy as np
from event_scenes import config, feet_box, frame, tracked

from edgewatch.events.engine import EventEngine
from edgewatch.events.model import Happening
from edgewatch.events.snapshots import SnapshotWriter, prune

GATE = {"name": "gate", "camera": "yard", "a": [320, 0], "b": [320, 480]}


def engine_with_snapshots(tmp_path, **snap):
    events = config(
        left_after_s=1,
        lines=[GATE],
        snapshots={"dir": tmp_path / "snaps", "min_interval_s": 0, "jpeg_quality": 95, **snap},
    )
    writer = SnapshotWriter(events.snapshots)
    return EventEngine("yard", events, snapshots=writer), writer


def test_every_snapshot_a_change_names_is_on_disk_when_it_is_returned(tmp_path):
    engine, _ = engine_with_snapshots(tmp_path, write_after_s=0.5)
    for i, x in enumerate(range(100, 540, 10)):
        conf = 0.5 + 0.01 * i
        for change in engine.update(frame(i / 10), tracked((1, feet_box(x, 300), conf))):
            named = [change.after.snapshot, change.after.thumbnail]
            named += [h.snapshot for h in change.happenings if h.snapshot]
            for name in filter(None, named):
                assert (tmp_path / "snaps" / name).is_file(), name


def test_best_snapshot_is_the_best_frame_with_the_box_drawn_not_the_overlay(tmp_path):
    engine, writer = engine_with_snapshots(tmp_path)
    box = (200, 150, 300, 400)  # left of the line: never crosses it
    for i, (conf, grey) in enumerate([(0.5, 60), (0.93, 120), (0.6, 180)]):
        f = frame(i / 10, value=grey)
        engine.update(f, tracked((1, box, conf)))
    (end,) = engine.update(frame(2.0), tracked())
    assert end.type == "end" and end.after.snapshot == f"yard/{end.after.id}.jpg"
    image = cv2.imread(str(tmp_path / "snaps" / end.after.snapshot))
    assert image.shape == (480, 640, 3)
    assert abs(int(image[300, 500].mean()) - 120) <= 4  # the 0.93 frame, not the others
    edge = image[250:350, 199:202].reshape(-1, 3).mean(axis=0)  # the box's left side
    b, g, r = edge
    assert g > 150 and b < 100 and r < 100, edge  # person: green
    assert writer.jpeg[end.after.id][:2] == b"\xff\xd8"  # what MQTT gets: a JPEG
    thumb = cv2.imread(str(tmp_path / "snaps" / end.after.thumbnail))
    assert thumb.shape[0] >= 160 and thumb.shape[1] >= 160


def test_the_crossing_frame_is_kept_with_its_line_drawn(tmp_path):
    engine, _ = engine_with_snapshots(tmp_path)
    crossing = None
    for i, x in enumerate(range(200, 460, 20)):
        for change in engine.update(frame(i / 10, value=90 + i), tracked((1, feet_box(x, 300)))):
            crossing = next((h for h in change.happenings if h.kind == "line_crossed"), crossing)
    assert crossing is not None and crossing.snapshot.startswith("yard/")
    image = cv2.imread(str(tmp_path / "snaps" / crossing.snapshot)).astype(int)
    raw = frame(0).image.astype(int)
    # The line (x = 320) is drawn where the raw picture is flat grey.
    assert np.abs(image[50:150, 318:323] - 90).max() > 60
    assert image.shape == raw.shape


def _file(folder, name, size, age_s, now):
    path = folder / "cam" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff" * size)
    os.utime(path, (now - age_s, now - age_s))
    return path


def test_prune_by_age(tmp_path):
    now = time.time()
    old = _file(tmp_path, "old.jpg", 10, 3 * 86400, now)
    new = _file(tmp_path, "new.jpg", 10, 3600, now)
    assert prune(tmp_path, max_age_s=2 * 86400, max_total_bytes=10**9, now=now) == 1
    assert not old.exists() and new.exists()


def test_prune_by_size_deletes_oldest_first(tmp_path):
    now = time.time()
    files = [_file(tmp_path, f"{i}.jpg", 1000, 100 - i, now) for i in range(5)]  # 0 oldest
    assert prune(tmp_path, max_age_s=86400, max_total_bytes=2500, now=now) == 3
    assert [f.exists() for f in files] == [False, False, False, True, True]


def test_prune_ignores_files_that_are_not_snapshots(tmp_path):
    now = time.time()
    other = tmp_path / "cam" / "notes.txt"
    _file(tmp_path, "a.jpg", 10, 10 * 86400, now)
    other.write_text("keep me")
    os.utime(other, (now - 10 * 86400,) * 2)
    prune(tmp_path, max_age_s=86400, max_total_bytes=1, now=now)
    assert other.exists()


def test_box_drawing_survives_jpeg(tmp_path):
    # A sanity check of the check above: without the box the edge is grey.
    image = cv2.imdecode(cv2.imencode(".jpg", np.full((480, 640, 3), 120, np.uint8))[1], 1)
    assert abs(int(image[250:350, 199:202, 1].mean()) - 120) <= 3


def test_happenings_in_words_name_the_rule_that_fired():
    crossed = Happening("e1", "yard", "line_crossed", "person", 3, 0.0, zone="gate",
                        direction="left->right")  # fmt: skip
    entered = Happening("e1", "yard", "zone_entered", "car", 3, 0.0, zone="driveway")
    assert crossed.words() == "crossed gate left->right"
    assert entered.words() == "entered driveway"
    assert Happening("e1", "yard", "entered", "car", 3, 0.0).words() == "entered"
