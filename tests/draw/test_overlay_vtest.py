"""The video overlay on real vtest.avi frames, with boxes where the people are."""

import time

import draw_scenes
import numpy as np
import pytest

from edgewatch.draw.annotate import Annotator
from edgewatch.draw.labels import stamp_label
from edgewatch.draw.layout import overlapping_pairs
from edgewatch.draw.overlay import class_color, detection_labels, draw_detections
from edgewatch.draw.style import style_for
from edgewatch.draw.zones import LINE_COLOR, ZONE_COLOR, draw_zones, shape_labels
from edgewatch.types import Frame

T = 1_796_130_187.0


def all_labels(index: int, height: int):
    """Every label the drawing stage places on frame ``index`` scaled to ``height``: the
    stamp, the zone and line labels, the detections' (as `Annotator` places them)."""
    scale = height / 576
    size = (height, round(768 * scale))
    style = style_for(*size)
    stamp = stamp_label("yard", T, style)
    zones, lines = draw_scenes.shapes(scale)
    shapes = shape_labels(zones, lines, size, style, reserved=[stamp.rect])
    reserved = [stamp.rect, *(label.rect for label in shapes)]
    boxes = detection_labels(draw_scenes.detections(index, scale), size, style, reserved=reserved)
    return size, [stamp, *shapes, *boxes]


@pytest.mark.parametrize("height", [360, 576, 720, 1080])
@pytest.mark.parametrize("index", sorted(draw_scenes.BOXES))
def test_labels_of_crowded_frames_neither_overlap_nor_leave_the_frame(index, height):
    (frame_h, frame_w), labels = all_labels(index, height)
    rects = [label.rect for label in labels]
    overlaps = [(labels[i].text, labels[j].text) for i, j in overlapping_pairs(rects)]
    assert overlaps == []
    for x1, y1, x2, y2 in rects:
        assert 0 <= x1 < x2 <= frame_w and 0 <= y1 < y2 <= frame_h


@pytest.mark.parametrize("index", sorted(draw_scenes.BOXES))
def test_the_drawing_stage_draws_each_label_where_it_was_placed(vtest_path, index):
    image = draw_scenes.read_frame(vtest_path, index)
    annotator = Annotator({"yard": draw_scenes.shapes()})
    frame = annotator(Frame("yard", index, T, image.copy()), draw_scenes.detections(index))
    _, labels = all_labels(index, 576)
    for label in labels:
        x1, y1, x2, y2 = label.rect
        # The label's background fills its rectangle's corners (text stays off them),
        # over every box outline: nothing drawn later covers it.
        for x, y in ((x1, y1), (x2 - 1, y1), (x1, y2 - 1), (x2 - 1, y2 - 1)):
            assert frame.image[y, x].tolist() == list(label.color), (label.text, x, y)
    assert labels[0].text == "yard  " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(T))


def solid_run(pixels: np.ndarray, color) -> int:
    """The longest run of pixels exactly ``color`` (no anti-aliasing) along a 1-D strip."""
    hits = (pixels == np.array(color, np.uint8)).all(axis=-1)
    best = run = 0
    for hit in hits:
        run = run + 1 if hit else 0
        best = max(best, run)
    return best


def test_outlines_are_at_least_2_px_at_576p(vtest_path):
    image = draw_scenes.read_frame(vtest_path, 150)
    zones, lines = draw_scenes.shapes()
    draw_zones(image, zones, lines)
    draw_detections(Frame("yard", 150, T, image), draw_scenes.detections(150))
    # The walkway's top edge at y=150, looked at down the column x=600 (no label there).
    assert solid_run(image[140:160, 600], ZONE_COLOR) >= 2
    # The zone's left edge at x=300, along the row y=300.
    assert solid_run(image[300, 290:310], ZONE_COLOR) >= 2
    # The box of the person at (588, 226)-(630, 318): its left edge, mid-height.
    assert solid_run(image[270, 580:596], class_color(0)) >= 2
    # The post line (anti-aliased) at x=430, y=330: at least 2 px near its colour.
    strip = image[330, 420:440].astype(int)
    assert (np.abs(strip - LINE_COLOR).max(axis=1) <= 40).sum() >= 2


def test_text_grows_with_the_frame_and_stays_readable_small():
    sizes = {h: style_for(h, h * 16 // 9) for h in (360, 576, 720, 1080, 2160)}
    assert sizes[2160].font_scale == pytest.approx(2 * sizes[1080].font_scale)
    assert sizes[1080].font_scale == pytest.approx(1.5 * sizes[720].font_scale)
    assert sizes[360].font_scale >= 0.4  # about 9 px capitals: the least that reads
    assert all(s.stroke >= 2 for s in sizes.values())
    assert sizes[2160].stroke > sizes[1080].stroke > sizes[576].stroke


def test_the_zone_outline_is_drawn_along_y_150_of_the_recording(vtest_path):
    # What the events e2e test looks for on the recorded video.
    raw = draw_scenes.read_frame(vtest_path, 10)
    drawn = raw.copy()
    Annotator({"yard": draw_scenes.shapes()})(
        Frame("yard", 10, T, drawn), draw_scenes.detections(0)
    )
    changed = np.abs(drawn[150, 320:740].astype(int) - raw[150, 320:740].astype(int)).sum(axis=1)
    assert (changed > 60).mean() > 0.5
