"""Snapshots: the best frame, box drawn, not the annotator's drawing; retention by age
and by total size, oldest first."""

import os
import time

import cv2
import numpy as np
from event_scenes import config, feet_box, frame, tracked

from edgewatch.events.engine import EventEngine
from edgewatch.events.snapshots import SnapshotKeeper, prune


def engine_with_snapshots(tmp_path, **snap):
    events = config(
        left_after_s=1,
        snapshots={"dir": tmp_path / "snaps", "min_interval_s": 0, "jpeg_quality": 95, **snap},
    )
    keeper = SnapshotKeeper(events.snapshots)
    return EventEngine("yard", events, snapshots=keeper), keeper


def test_snapshot_is_the_best_frame_with_the_box_drawn(tmp_path):
    engine, keeper = engine_with_snapshots(tmp_path)
    box = (200, 150, 320, 400)
    for i, (conf, grey) in enumerate([(0.5, 60), (0.93, 120), (0.6, 180)]):
        f = frame(i / 10, value=grey)
        engine.update(f, tracked((1, box, conf)))
        f.image[:] = (0, 0, 255)  # the annotator draws on the frame afterwards
    events = engine.update(frame(2.0), tracked())
    left = events[-1]
    assert left.kind == "left" and left.snapshot.endswith(f"yard/{left.id}.jpg")
    image = cv2.imread(left.snapshot)
    assert image.shape == (480, 640, 3)
    assert abs(int(image[50, 50].mean()) - 120) <= 3  # the 0.93 frame, not red, not the others
    edge = image[200:350, 199:202].reshape(-1, 3).mean(axis=0)  # the box's left side
    b, g, r = edge
    assert g > 170 and b < 80 and r < 80, edge  # person: green (0, 200, 0)
    assert keeper.copies == 2 and keeper.written == 1


def test_copies_are_rate_limited_per_object(tmp_path):
    engine, keeper = engine_with_snapshots(tmp_path, min_interval_s=0.5)
    for i in range(10):  # confidence improves every frame, 10 fps
        engine.update(frame(i / 10), tracked((1, feet_box(300, 300), 0.5 + i * 0.04)))
    assert keeper.copies == 2  # at 0.0 s and 0.5 s


def test_snapshot_written_after_write_after_s_while_still_in_view(tmp_path):
    engine, keeper = engine_with_snapshots(tmp_path, write_after_s=1)
    events = []
    for i in range(15):
        events += engine.update(frame(i / 10), tracked((1, feet_box(300, 300), 0.8)))
    assert os.path.exists(events[0].snapshot) and keeper.written == 1


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
    assert abs(int(image[200:350, 199:202, 1].mean()) - 120) <= 3
