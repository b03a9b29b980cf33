"""Event snapshots and their thumbnails, on a real vtest.avi frame."""

import draw_scenes
import numpy as np
import pytest

from edgewatch.draw.labels import STAMP_COLOR
from edgewatch.draw.overlay import class_color
from edgewatch.draw.snapshot import annotate_snapshot, crop
from edgewatch.draw.style import dimmed
from edgewatch.draw.zones import LINE_COLOR, ZONE_COLOR

T = 1_796_130_187.0
BOX = (588, 226, 630, 318)  # the man walking right in frame 150


@pytest.fixture(scope="module")
def frame(vtest_path):
    return draw_scenes.read_frame(vtest_path, 150)


def snapshot(image, highlight):
    zones, lines = draw_scenes.shapes()
    return annotate_snapshot(
        image, box=BOX, text="person 87%", class_id=0, camera="yard", timestamp=T,
        zones=zones, lines=lines, highlight=highlight,
    )  # fmt: skip


def exact(pixels, color) -> int:
    return int((pixels == np.array(color, np.uint8)).all(axis=-1).sum())


def test_the_snapshot_is_a_copy_and_the_input_stays_as_it_was(frame):
    before = frame.copy()
    out = snapshot(frame, "walkway")
    assert np.array_equal(frame, before)
    assert out.shape == frame.shape and not np.shares_memory(out, frame)
    assert not np.array_equal(out, frame)


def test_the_snapshot_shows_the_box_and_the_stamp(frame):
    out = snapshot(frame, None)
    assert exact(out[270, 580:596], class_color(0)) >= 2  # the box's left edge
    assert exact(out[2:4, 2:100], STAMP_COLOR) > 0  # the stamp's background, top-left


def test_the_rule_that_fired_is_drawn_emphasised_the_others_dimmed(frame):
    walkway, post = snapshot(frame, "walkway"), snapshot(frame, "post")
    top_edge = np.s_[140:162, 600]  # the walkway's top edge at y=150, down a column
    # Highlighted: the zone's own colour, twice as thick; dimmed when the line fired.
    assert exact(walkway[top_edge], ZONE_COLOR) >= 4
    assert exact(post[top_edge], ZONE_COLOR) == 0
    assert exact(post[top_edge], dimmed(ZONE_COLOR)) >= 2

    # The post line at y=330: wider and in its own colour when it fired.
    def near_line(image):
        return int((np.abs(image[330, 415:445].astype(int) - LINE_COLOR).max(axis=1) <= 40).sum())

    assert near_line(post) >= 4 and near_line(walkway) < near_line(post)


def test_crop_of_a_small_object_is_a_square_thumbnail_of_at_least_min_size(frame):
    thumb = crop(frame, BOX)
    assert thumb.shape == (160, 160, 3)
    assert not np.shares_memory(thumb, frame)


def test_crop_keeps_context_around_a_large_object_without_scaling(frame):
    box = (200, 150, 400, 400)  # 250 px tall: 250 * 1.6 = 400 px square
    out = crop(frame, box, pad=0.3, min_size=160)
    assert out.shape == (400, 400, 3)
    assert np.array_equal(out, frame[75:475, 100:500])  # centred on the box


def test_crop_at_the_frame_edge_shifts_inside_and_a_huge_box_is_cut_to_the_frame(frame):
    corner = crop(frame, (740, 0, 768, 60), min_size=10)
    assert corner.shape == (96, 96, 3)
    assert np.array_equal(corner, frame[0:96, 672:768])
    whole = crop(frame, (-100, -100, 900, 700))
    assert whole.shape == frame.shape
