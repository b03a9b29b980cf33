"""Motion found on real and synthetic pictures: still scenes give none, a mover gives its
box, a mask hides what it covers, a change of light is not motion."""

import numpy as np
import pytest

from edgewatch.motion.config import MotionConfig
from edgewatch.motion.detector import MotionDetector
from edgewatch.motion.regions import plan_regions


def noisy(base: np.ndarray, rng, sigma=4.0) -> np.ndarray:
    return np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8)


def test_a_still_scene_with_sensor_noise_shows_no_motion(vtest_path):
    from conftest import read_frames

    (still,) = read_frames(vtest_path, [0])
    rng = np.random.default_rng(0)
    detector = MotionDetector(MotionConfig(), 768, 576)
    boxes = [detector.update(noisy(still, rng)) for _ in range(30)]
    assert all(len(b) == 0 for b in boxes[1:])


def test_a_moving_square_gives_its_box_in_frame_pixels():
    detector = MotionDetector(MotionConfig(), 1280, 720)
    background = np.full((720, 1280), 90, np.uint8)
    detector.update(background)
    moved = background.copy()
    moved[300:420, 600:660] = 200  # a 60x120 object appears
    (box,) = detector.update(moved)
    assert box[0] == pytest.approx(600, abs=20) and box[2] == pytest.approx(660, abs=20)
    assert box[1] == pytest.approx(300, abs=20) and box[3] == pytest.approx(420, abs=20)


def test_the_mask_hides_motion_where_asked():
    mask = [[[500, 250], [800, 250], [800, 500], [500, 500]]]
    detector = MotionDetector(MotionConfig(mask=mask), 1280, 720)
    background = np.full((720, 1280), 90, np.uint8)
    detector.update(background)
    moved = background.copy()
    moved[300:420, 600:660] = 200  # inside the mask
    assert len(detector.update(moved)) == 0
    moved[100:160, 100:140] = 200  # outside it
    assert len(detector.update(moved)) == 1


def test_a_change_of_light_is_not_motion_but_asks_for_a_look():
    detector = MotionDetector(MotionConfig(), 1280, 720)
    detector.update(np.full((720, 1280), 60, np.uint8))
    (box,) = detector.update(np.full((720, 1280), 160, np.uint8))  # the lights came on
    assert detector.lighting and box.tolist() == [0, 0, 1278, 720]
    assert len(detector.update(np.full((720, 1280), 160, np.uint8))) == 0  # a new background


def test_crops_are_squares_of_the_input_size_around_what_moved_inside_the_picture():
    regions = plan_regions(np.array([[1800, 1000, 1850, 1070]]), 1920, 1080, size=300)
    ((x1, y1, x2, y2),) = regions
    assert x2 - x1 == y2 - y1 == 300 and x2 <= 1920 and y2 <= 1080  # moved in, not cut
    assert x1 <= 1800 and y1 <= 1000
    # Two far apart: two crops (1080p is three input sizes high); close ones: one.
    two = plan_regions(np.array([[100, 100, 150, 200], [1500, 700, 1550, 800]]), 1920, 1080,
                       size=300)  # fmt: skip
    assert len(two) == 2
    one = plan_regions(np.array([[100, 100, 150, 200], [200, 120, 250, 220]]), 1920, 1080,
                       size=300)  # fmt: skip
    assert len(one) == 1
    # Many, or most of the picture: the whole picture is cheaper.
    assert plan_regions(np.array([[0, 0, 1900, 1000]]), 1920, 1080, size=300) is None
    # A picture barely larger than the input gains nothing from crops.
    assert plan_regions(np.array([[10, 10, 50, 50]]), 320, 240, size=300) is None
