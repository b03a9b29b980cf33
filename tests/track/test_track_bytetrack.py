"""ByteTracker on synthetic boxes: occlusions, skipped frames, crossings, blips, ID reuse."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from edgewatch.bench.tracking import bench_tracker
from edgewatch.track import ByteTracker, TrackerConfig
from edgewatch.types import NO_TRACK, Detections

NAMES = {0: "person", 2: "car", 7: "truck"}
FPS = 10.0


def dets(*boxes, confidence=0.9, class_id=0) -> Detections:
    n = len(boxes)
    return Detections(
        xyxy=np.asarray(boxes, np.float32).reshape(n, 4),
        confidence=np.broadcast_to(np.asarray(confidence, np.float32), (n,)),
        class_id=np.broadcast_to(np.asarray(class_id, np.int32), (n,)),
        class_names=NAMES,
    )


def walker(frame: int, x0=100.0, y0=200.0, vx=40.0, vy=0.0, w=40.0, h=100.0):
    """Box of a person walking at (vx, vy) pixels per second."""
    t = frame / FPS
    x, y = x0 + vx * t, y0 + vy * t
    return [x, y, x + w, y + h]


def tracker(**overrides) -> ByteTracker:
    return ByteTracker(TrackerConfig(**overrides), NAMES)


def test_config_rejects_unknown_fields():
    with pytest.raises(ValidationError):
        TrackerConfig(max_age=3)


def test_new_track_is_reported_from_its_third_detection_with_id_1():
    t = tracker()
    assert len(t.update(dets(walker(0)), 0.0)) == 0
    assert len(t.update(dets(walker(1)), 0.1)) == 0
    out = t.update(dets(walker(2)), 0.2)
    assert out.tracker_id.tolist() == [1]
    assert NO_TRACK not in out.tracker_id


def test_reported_box_is_the_detection_box_not_the_kalman_box():
    t = tracker()
    for i in range(5):
        out = t.update(dets(walker(i)), i / FPS)
    np.testing.assert_allclose(out.xyxy[0], walker(4), atol=1e-3)


def test_one_frame_blip_is_never_reported():
    t = tracker()
    reported = set()
    for i in range(20):
        boxes = [walker(i)] + ([[500, 50, 540, 150]] if i == 5 else [])
        reported |= set(t.update(dets(*boxes), i / FPS).tracker_id.tolist())
    assert reported == {1}


def test_occluded_for_one_second_keeps_its_id_when_it_reappears_further_along():
    t = tracker()
    ids = set()
    for i in range(40):
        hidden = 15 <= i < 25  # 1 s behind a post, still walking
        out = t.update(dets(*([] if hidden else [walker(i)])), i / FPS)
        assert len(out) == (0 if hidden else 1) or i < 2
        ids |= set(out.tracker_id.tolist())
    assert ids == {1}


def test_detector_every_third_frame_keeps_ids_and_predicted_boxes_move():
    t = tracker()
    a = dict(x0=100, vx=50)
    b = dict(x0=600, vx=-30, y0=300)
    ids, predicted_x = set(), []
    for i in range(60):
        if i % 3 == 0:
            out = t.update(dets(walker(i, **a), walker(i, **b)), i / FPS)
        else:
            out = t.update(None, i / FPS)
            if i > 6:
                assert len(out) == 2
                first = out[out.tracker_id == 1]
                predicted_x.append(float(first.xyxy[0, 0]))
                # prediction lands near where the walker really is
                assert abs(predicted_x[-1] - walker(i, **a)[0]) < 8
        ids |= set(out.tracker_id.tolist())
    assert ids == {1, 2}
    assert np.all(np.diff(predicted_x) > 0)


def test_two_walkers_crossing_paths_keep_their_ids():
    t = tracker()
    a = dict(x0=100, y0=200, vx=60)
    b = dict(x0=500, y0=220, vx=-60)
    for i in range(70):
        out = t.update(dets(walker(i, **a), walker(i, **b)), i / FPS)
        if i >= 2:
            assert sorted(out.tracker_id.tolist()) == [1, 2]
            left_to_right = out.tracker_id[np.argsort(out.xyxy[:, 0])].tolist()
            # before crossing id 1 is left, after crossing it is right
            if walker(i, **a)[0] < walker(i, **b)[0] - 20:
                assert left_to_right == [1, 2]
            elif walker(i, **a)[0] > walker(i, **b)[0] + 20:
                assert left_to_right == [2, 1]


def test_ids_are_not_reused_after_a_track_is_dropped():
    t = tracker(lost_timeout_s=0.5)
    for i in range(5):
        first = t.update(dets(walker(i)), i / FPS).tracker_id.tolist()
    for i in range(5, 20):  # gone for 1.5 s: dropped
        t.update(dets(), i / FPS)
    assert len(t) == 0
    for i in range(20, 25):
        second = t.update(dets(walker(0)), i / FPS).tracker_id.tolist()
    assert first == [1] and second == [2]
    t.reset()
    for i in range(3):
        third = t.update(dets(walker(0)), i / FPS).tracker_id.tolist()
    assert third == [3]


def test_low_confidence_detections_continue_a_track_but_never_start_one():
    t = tracker()
    for i in range(10):  # low scores alone: nothing
        assert len(t.update(dets(walker(i, y0=400), confidence=0.3), i / FPS)) == 0
    for i in range(10, 15):
        out = t.update(dets(walker(i), confidence=0.8), i / FPS)
    for i in range(15, 30):  # half hidden: scores drop, same track
        out = t.update(dets(walker(i), confidence=0.3), i / FPS)
        assert out.tracker_id.tolist() == [1]
    # below low_confidence: ignored, track not continued
    assert len(t.update(dets(walker(30), confidence=0.1), 3.0)) == 0


def test_per_class_high_thresholds_decide_which_detections_start_tracks():
    """Regression: the thresholds used to travel in a hidden ``data["high"]`` column set by
    the pipeline; they are the tracker's own argument now."""
    high = np.full(8, 0.5, np.float32)
    high[0] = 0.25  # people start tracks from 0.35 (0.25 + start_margin), cars from 0.6
    t = ByteTracker(TrackerConfig(), NAMES, high_confidence=high)
    for i in range(3):
        person = dets(walker(i), confidence=0.4, class_id=0)
        car = dets(walker(i, y0=400, w=120, h=60), confidence=0.4, class_id=2)
        out = t.update(Detections(
            xyxy=np.vstack([person.xyxy, car.xyxy]),
            confidence=np.r_[person.confidence, car.confidence],
            class_id=np.r_[person.class_id, car.class_id],
            class_names=NAMES,
        ), i / FPS)  # fmt: skip
    assert out.labels == ["person"] and "high" not in out.data


def test_seen_s_grows_with_time():
    t = tracker()
    seen = []
    for i in range(20):
        out = t.update(dets(walker(i)), 1000.0 + i / FPS)
        seen += out.data["seen_s"].tolist()
    np.testing.assert_allclose(seen, np.arange(2, 20) / FPS, atol=1e-6)


def test_track_keeps_its_class_through_one_different_detection():
    t = tracker()
    labels = []
    for i in range(10):
        class_id = 7 if i == 5 else 2  # a car flickers to truck once
        out = t.update(dets(walker(i), confidence=0.7, class_id=class_id), i / FPS)
        labels += out.labels
        assert out.tracker_id.tolist() in ([], [1])
    assert set(labels) == {"car"}


def test_cost_with_50_objects(capsys):
    result = bench_tracker(objects=50, frames=500)
    by_position = bench_tracker(objects=50, frames=500, appearance=False)
    with capsys.disabled():
        print(f"\ntracker cost, 50 objects: {result}; position only: {by_position}")
    # Bouncing boxes, all always in view: the motion model alone keeps 50 IDs or nearly.
    assert by_position["track_ids"] <= 55
    # With colours, a painted box mostly behind another shows the other's colours and
    # sometimes takes its ID (opaque crossings, harsher than people on the footage, where
    # appearance lowers the IDs: tests/bench/test_quality.py). Bounded, not ideal.
    assert result["track_ids"] <= 100
