"""ByteTracker on real footage: vtest.avi frames 0..299 (30 s at 10 fps) through the detector."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import read_frames

from edgewatch.geometry import box_iou
from edgewatch.track import ByteTracker, TrackerConfig

FRAMES = 300
FPS = 10.0
#: People who appear in frames 0..299, counted by eye from frames 0, 30, ..., 270 saved as
#: PNG: 3 to 8 walkers in view at a time, each staying 10-20 s, new ones entering at the
#: top right and the left; about 18 different people (an estimate, to +-4).
PEOPLE = 18
PARKED_CAR = np.array([730, 48, 767, 98], np.float32)  # the small car at the top right
WALKER_AT_FRAME_1 = np.array([251, 220, 282, 304], np.float32)  # walks right, left of the post


@pytest.fixture(scope="module")
def frames(vtest_path) -> list[np.ndarray]:
    return read_frames(vtest_path, list(range(FRAMES)))


@pytest.fixture(scope="module")
def detections(frames) -> list:
    """The detector's (confidence 0.1) detections of each frame."""
    from edgewatch.detect import create_detector
    from edgewatch.detect.base import DetectorConfig

    detector = create_detector(DetectorConfig(confidence=0.1))
    found = []
    for i in range(0, FRAMES, 8):
        found += detector.detect(frames[i : i + 8])
    return found


@pytest.fixture(scope="module")
def tracked(frames, detections):
    """Per frame: the tracker's output over the detector's (confidence 0.1) detections."""
    tracker = ByteTracker(TrackerConfig(), detections[0].class_names)
    return [tracker.update(d, i / FPS, image=frames[i]) for i, d in enumerate(detections)]


def test_cameras_tracked_together_get_what_a_tracker_each_gives(detections):
    # The GPU engine's shards track one frame of many cameras at once (by position).
    # Each camera here sees the footage from its own start, at its own uneven pace, and
    # each round holds some of the cameras, in any order: the results must be the same
    # to the bit as a tracker per camera, IDs included (each camera numbers its own).
    cameras, rng = 6, np.random.default_rng(7)
    names = detections[0].class_names
    footage = [detections[40 * k :] + detections[: 40 * k] for k in range(cameras)]
    alone = [ByteTracker(TrackerConfig(), names) for _ in range(cameras)]
    together = ByteTracker(TrackerConfig(), names, lanes=cameras)
    shown = [0] * cameras
    clock = np.zeros(cameras)
    compared = highest_id = 0
    for _ in range(2 * FRAMES):
        lanes = [int(k) for k in rng.permutation(cameras) if rng.random() < 0.7]
        lanes = [k for k in lanes if shown[k] < FRAMES]
        round_ = []
        for k in lanes:
            clock[k] += rng.choice([0.1, 0.1, 0.2, 0.5])  # skipped frames, pauses
            round_.append((k, footage[k][shown[k]], float(clock[k])))
            shown[k] += 1
        expected = [alone[k].update(found, t) for k, found, t in round_]
        for want, got in zip(expected, together.update_lanes(round_), strict=True):
            assert np.array_equal(got.tracker_id, want.tracker_id)
            assert np.array_equal(got.xyxy, want.xyxy)
            assert np.array_equal(got.class_id, want.class_id)
            assert got.data.keys() == want.data.keys()
            assert all(np.array_equal(got.data[key], want.data[key]) for key in want.data)
            compared += len(want)
            highest_id = max(highest_id, int(got.tracker_id.max(initial=0)))
    assert compared > 5000  # not vacuous: thousands of tracked objects compared
    assert min(shown) == FRAMES
    assert 10 < highest_id < 60  # each camera numbers its own (together: over 100)


def frames_of(tracked, track_id: int) -> list[int]:
    return [i for i, out in enumerate(tracked) if track_id in out.tracker_id]


def test_walker_keeps_one_id_while_crossing_the_view(tracked):
    out = tracked[2]  # reported from its third detection (min_hits)
    start = out[box_iou(WALKER_AT_FRAME_1, out.xyxy) > 0.4]
    assert len(start) == 1 and start.labels == ["person"]
    seen = frames_of(tracked, int(start.tracker_id[0]))
    # He walks right for 10 s in the open, reported every frame, no gap over 3, until he
    # joins the group at the post.
    open_walk = [i for i in seen if i <= 100]
    assert seen[0] == 2 and open_walk[-1] >= 95
    assert max(np.diff(open_walk)) <= 3


def test_distinct_person_ids_stay_within_a_small_factor_of_the_people_in_view(tracked):
    person_ids = {
        int(tid)
        for out in tracked
        for tid, label in zip(out.tracker_id, out.labels, strict=True)
        if label == "person"
    }
    print(f"\n{len(person_ids)} person track IDs for about {PEOPLE} people")
    # Walkers in groups occlude each other by the post; ByteTrack splits some of those tracks.
    assert PEOPLE / 2 <= len(person_ids) <= 4 * PEOPLE


def test_parked_car_keeps_one_id_throughout(tracked):
    ids = set()
    reported = 0
    for out in tracked:
        here = out[box_iou(PARKED_CAR, out.xyxy) > 0.5]
        ids |= set(here.tracker_id.tolist())
        reported += len(here) > 0
    assert len(ids) == 1
    assert reported >= FRAMES - 5


def test_ids_are_unique_in_every_frame_and_seen_s_never_negative(tracked):
    for out in tracked:
        assert len(set(out.tracker_id.tolist())) == len(out)
        assert np.all(out.data["seen_s"] >= 0)
