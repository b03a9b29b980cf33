"""Several cameras' trackers: a batch holding many frames of several cameras, in any
interleaving, tracked together gives each frame what a tracker per camera gives it."""

from __future__ import annotations

import numpy as np
import pytest

from edgewatch.bench.tracking import synthetic_scene
from edgewatch.track import CameraTrackers, TrackerConfig

NAMES = {0: "person"}


def test_a_batch_of_many_frames_a_camera_is_tracked_in_each_cameras_order():
    scenes = {f"cam{k}": synthetic_scene(12, 60, seed=k) for k in range(3)}
    config = TrackerConfig(appearance=False)
    alone = CameraTrackers(scenes, config, NAMES)
    together = CameraTrackers(scenes, config, NAMES, together=True)
    rng = np.random.default_rng(3)
    shown = dict.fromkeys(scenes, 0)
    compared = 0
    while min(shown.values()) < 60:
        # A batch: up to 5 frames of a camera, the cameras interleaved at random.
        batch = []
        for camera in rng.permutation(list(scenes)).tolist() * 5:
            if shown[camera] < 60 and rng.random() < 0.5:
                frame = shown[camera]
                batch.append((camera, scenes[camera][frame], frame / 10.0))
                shown[camera] += 1
        expected = [alone.update(camera, found, t) for camera, found, t in batch]
        got = together.update_batch(batch)
        assert len(got) == len(batch)
        for want, have in zip(expected, got, strict=True):
            assert np.array_equal(have.tracker_id, want.tracker_id)
            assert np.array_equal(have.xyxy, want.xyxy)
            compared += len(want)
    assert compared > 1000
    # One at a time through the shared tracker keeps each camera apart too.
    for camera in scenes:
        want = alone.update(camera, scenes[camera][0], 7.0)
        have = together.update(camera, scenes[camera][0], 7.0)
        assert np.array_equal(have.tracker_id, want.tracker_id)
    assert np.array_equal(together.moving_boxes("cam1", 5.0), alone.moving_boxes("cam1", 5.0))


def test_one_round_takes_one_frame_a_camera():
    tracker = CameraTrackers(["a"], TrackerConfig(), NAMES, together=True)._shared
    frame = synthetic_scene(2, 1)[0]
    with pytest.raises(ValueError, match="one frame a lane"):
        tracker.update_lanes([(0, frame, 0.0), (0, frame, 0.1)])
