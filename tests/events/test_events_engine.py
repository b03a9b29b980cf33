"""EventEngine on synthetic tracked objects: lines both ways, zones, loitering, a parked
car through a detector blink."""

import pytest
from event_scenes import config, feet_box, frame, tracked

from edgewatch.events.engine import EventEngine
from edgewatch.types import NO_TRACK, Detections

FPS = 10
ZONE = {
    "name": "porch",
    "camera": "yard",
    "points": [[200, 200], [400, 200], [400, 400], [200, 400]],
}
GATE = {"name": "gate", "camera": "yard", "a": [320, 0], "b": [320, 480]}


def run(engine, positions, track_id=1, start=0.0, **kw):
    """Feed one object at each (x, y) feet position, one frame per 1/FPS s; all events."""
    events = []
    for i, (x, y) in enumerate(positions):
        t = start + i / FPS
        events += engine.update(frame(t), tracked((track_id, feet_box(x, y), *kw.get("obj", ()))))
    return events


def idle(engine, start, seconds):
    events = []
    for i in range(int(seconds * FPS)):
        events += engine.update(frame(start + i / FPS), tracked())
    return events


def test_line_crossed_both_ways_gives_opposite_directions():
    engine = EventEngine("yard", config(lines=[GATE]))
    xs = list(range(100, 540, 20)) + list(range(540, 100, -20))
    events = run(engine, [(x, 300) for x in xs])
    crossings = [e for e in events if e.kind == "line_crossed"]
    # a->b points down the picture; its right side is the picture's left (x < 320).
    assert [e.direction for e in crossings] == ["right->left", "left->right"]
    assert all(e.zone == "gate" and e.track_id == 1 and e.end == e.start for e in crossings)


def test_walking_past_the_end_of_a_line_is_no_crossing():
    short = {**GATE, "a": [320, 0], "b": [320, 100]}
    engine = EventEngine("yard", config(lines=[short]))
    events = run(engine, [(x, 300) for x in range(100, 540, 20)])
    assert not [e for e in events if e.kind == "line_crossed"]


def test_zone_entered_then_left_is_one_event_that_gets_its_end():
    engine = EventEngine("yard", config(zones=[ZONE]))
    path = [(100, 300)] * 5 + [(300, 300)] * 20 + [(500, 300)] * 20
    events = run(engine, path)
    zone = [e for e in events if e.zone == "porch"]
    assert [e.kind for e in zone] == ["zone_entered", "zone_left"]
    assert zone[0].id == zone[1].id and zone[0].end is None
    assert zone[1].end - zone[1].start == pytest.approx(2.0, abs=1e-6)  # from 0.5 s to 2.5 s
    scene = [e for e in events if e.zone is None]
    assert [e.kind for e in scene] == ["entered"]  # still in view


def test_object_leaving_the_scene_closes_its_zone_and_scene_events():
    engine = EventEngine("yard", config(zones=[ZONE], left_after_s=2))
    events = run(engine, [(300, 300)] * 10)
    events += idle(engine, 1.0, 3)
    kinds = [(e.kind, e.end is not None) for e in events]
    assert kinds == [
        ("entered", False),
        ("zone_entered", False),
        ("zone_left", True),
        ("left", True),
    ]
    assert events[-1].end == pytest.approx(events[0].start + 0.9)


@pytest.mark.parametrize(("stay_s", "expected"), [(4.5, 0), (5.5, 1)])
def test_loitering_just_under_and_just_over_the_limit(stay_s, expected):
    engine = EventEngine("yard", config(zones=[{**ZONE, "loiter_s": 5}]))
    inside = [(300, 300)] * int(round(stay_s * FPS))
    events = run(engine, inside + [(500, 300)] * 20)
    loiter = [e for e in events if e.kind == "loitering"]
    assert len({e.id for e in loiter}) == expected
    if expected:
        assert loiter[0].end is None and loiter[-1].end is not None
        assert loiter[0].zone == "porch"


def test_parked_car_with_a_new_track_id_after_a_blink_is_one_entered_event():
    engine = EventEngine("yard", config(zones=[ZONE], left_after_s=2))
    car = (210, 250, 390, 350)
    events = []
    for i in range(100):
        t = i / FPS
        if 30 <= i < 33:
            d = tracked()  # the detector missed it
        else:
            tid = 7 if i < 30 else 8  # and the tracker started over
            jitter = (i % 3) - 1
            d = tracked((tid, [v + jitter for v in car], 0.8, 2))
        events += engine.update(frame(t), d)
    assert [e.kind for e in events] == ["entered", "zone_entered"]
    assert engine.tracks.keys() == {8}


def test_blink_longer_than_left_after_s_reopens_the_same_event():
    engine = EventEngine("yard", config(left_after_s=1, stationary_window_s=30))
    car = (210, 250, 390, 350)
    events = [*engine.update(frame(0), tracked((7, car, 0.8, 2)))]
    events += idle(engine, 0.1, 5)
    events += engine.update(frame(6), tracked((9, car, 0.8, 2)))
    assert [e.kind for e in events] == ["entered", "left", "entered"]
    assert len({e.id for e in events}) == 1


def test_a_different_label_at_the_same_place_is_a_new_object():
    engine = EventEngine("yard", config(left_after_s=1))
    box = (210, 250, 390, 350)
    events = [*engine.update(frame(0), tracked((7, box, 0.8, 2)))]
    events += engine.update(frame(0.1), tracked((8, box, 0.8, 0)))
    assert [(e.kind, e.label) for e in events] == [("entered", "car"), ("entered", "person")]


def test_zone_labels_filter_and_untracked_objects_are_ignored():
    engine = EventEngine("yard", config(zones=[{**ZONE, "labels": ["person"]}]))
    events = run(engine, [(300, 300)] * 5, obj=(0.9, 2))  # a car
    assert [e.kind for e in events] == ["entered"]
    untracked = Detections(
        xyxy=[feet_box(300, 300)], confidence=[0.9], class_id=[0], tracker_id=[NO_TRACK]
    )
    assert engine.update(frame(1), untracked) == []


def test_best_confidence_is_carried_to_the_closing_event():
    engine = EventEngine("yard", config(left_after_s=1))
    for i, conf in enumerate([0.5, 0.93, 0.6]):
        engine.update(frame(i / FPS), tracked((1, feet_box(300, 300), conf)))
    events = idle(engine, 0.3, 2)
    assert events[-1].kind == "left" and events[-1].best_confidence == pytest.approx(0.93)
