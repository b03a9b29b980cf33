"""Appearance in the tracker: colour descriptors, re-finding a lost object by its looks,
and boxes half under another box that must not teach a track the wrong colours."""

from __future__ import annotations

import cv2
import numpy as np

from edgewatch.track import ByteTracker, TrackerConfig, appearance
from edgewatch.types import Detections

NAMES = {0: "person"}
FPS = 10.0
RED, GREEN, BLUE, YELLOW = (30, 30, 200), (40, 180, 40), (200, 60, 20), (20, 210, 230)


def picture(*people: tuple[list[float], tuple, tuple]) -> np.ndarray:
    """A grey 640x480 picture with each (box, upper colour, lower colour) painted in
    order: a later one covers an earlier one."""
    image = np.full((480, 640, 3), 120, np.uint8)
    for (x1, y1, x2, y2), upper, lower in people:
        middle = int((y1 + y2) / 2)
        cv2.rectangle(image, (int(x1), int(y1)), (int(x2), middle), upper, cv2.FILLED)
        cv2.rectangle(image, (int(x1), middle), (int(x2), int(y2)), lower, cv2.FILLED)
    return image


def dets(*boxes: list[float], confidence: float = 0.9) -> Detections:
    n = len(boxes)
    return Detections(
        xyxy=np.asarray(boxes, np.float32).reshape(n, 4),
        confidence=np.full(n, confidence, np.float32),
        class_id=np.zeros(n, np.int32),
        class_names=NAMES,
    )


def box_at(x: float, y: float = 150.0, w: float = 60.0, h: float = 150.0) -> list[float]:
    return [x, y, x + w, y + h]


def test_descriptors_tell_colours_apart_and_an_empty_box_is_unknown():
    image = picture((box_at(50), RED, BLUE), (box_at(300), RED, BLUE), (box_at(500), GREEN, YELLOW))
    looks = appearance.describe(
        image, np.array([box_at(50), box_at(300), box_at(500), [700, 0, 800, 10]])
    )
    assert looks.shape == (4, appearance.SIZE)
    assert looks[0] @ looks[1] > 0.95  # the same clothes elsewhere
    assert looks[0] @ looks[2] < 0.5  # other clothes
    assert not looks[3].any()  # outside the picture: similar to nothing


def test_a_person_lost_for_five_seconds_is_found_again_by_looks_near_where_they_were():
    def run(image_given: bool) -> tuple[list[int], list[int]]:
        t = ByteTracker(TrackerConfig(), NAMES)
        before, after = [], []
        for i in range(10):  # standing at x=200, seen
            box = box_at(200 + i)
            out = t.update(
                dets(box), i / FPS, image=picture((box, RED, BLUE)) if image_given else None
            )
            before += out.tracker_id.tolist()
        for i in range(10, 60):  # behind a van for 5 s: nothing detected
            t.update(dets(), i / FPS, image=picture() if image_given else None)
        for i in range(60, 70):  # comes out a little further along
            box = box_at(260 + i)
            out = t.update(
                dets(box), i / FPS, image=picture((box, RED, BLUE)) if image_given else None
            )
            after += out.tracker_id.tolist()
        return before, after

    before, after = run(image_given=True)
    assert set(before) == set(after) == {1}
    before, after = run(image_given=False)  # position alone: gone after lost_timeout_s
    assert set(after) and set(after) != set(before)


def test_someone_else_in_the_same_place_is_not_taken_for_the_lost_person():
    t = ByteTracker(TrackerConfig(), NAMES)
    for i in range(10):
        box = box_at(200)
        first = t.update(dets(box), i / FPS, image=picture((box, RED, BLUE)))
    for i in range(10, 50):
        t.update(dets(), i / FPS, image=picture())
    ids = set()
    for i in range(50, 60):  # other clothes, same spot
        box = box_at(205)
        ids |= set(
            t.update(dets(box), i / FPS, image=picture((box, GREEN, YELLOW))).tracker_id.tolist()
        )
    assert first.tracker_id.tolist() == [1]
    assert ids and 1 not in ids


def test_a_box_half_under_another_does_not_teach_its_track_the_other_colours():
    t = ByteTracker(TrackerConfig(), NAMES)
    red = box_at(100)
    for i in range(6):
        t.update(dets(red), i / FPS, image=picture((red, RED, BLUE)))
    red_looks = t._looks[0].copy()
    # A green person stands in front of most of the red one for three seconds.
    green = box_at(120, w=70)
    for i in range(6, 36):
        t.update(dets(red, green), i / FPS, image=picture((red, RED, BLUE), (green, GREEN, YELLOW)))
    assert t._looks[0] @ red_looks > 0.99


def test_two_people_walking_past_each_other_keep_their_ids():
    """A small red person walks right behind a tall green one walking left: for a few
    frames the red box shows mostly green."""
    t = ByteTracker(TrackerConfig(), NAMES)
    seen: dict[int, set[str]] = {}
    for i in range(40):
        red = box_at(100 + 12 * i, y=170, w=50, h=130)
        green = box_at(560 - 12 * i, y=140, w=70, h=170)
        image = picture((red, RED, BLUE), (green, GREEN, YELLOW))
        out = t.update(dets(red, green), i / FPS, image=image)
        for k, tid in enumerate(out.tracker_id.tolist()):
            who = "red" if np.allclose(out.xyxy[k], red) else "green"
            seen.setdefault(tid, set()).add(who)
    assert sorted(seen) == [1, 2]
    assert all(len(who) == 1 for who in seen.values())
