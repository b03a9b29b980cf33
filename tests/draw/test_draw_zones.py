"""Zones and lines drawn on the video."""

import numpy as np
from event_scenes import config

from edgewatch.draw.style import style_for
from edgewatch.draw.zones import LINE_COLOR, ZONE_COLOR, draw_zones, shape_labels


def test_draw_zones_outlines_the_polygon_tints_inside_and_leaves_the_rest():
    events = config(
        zones=[
            {
                "name": "porch",
                "camera": "c",
                "points": [[100, 100], [300, 100], [300, 300], [100, 300]],
            }
        ],
        lines=[{"name": "gate", "camera": "c", "a": [500, 50], "b": [500, 400]}],
    )
    image = np.zeros((480, 640, 3), np.uint8)
    draw_zones(image, events.zones, events.lines)

    def near(pixel, color):
        return np.abs(pixel.astype(int) - color).max() <= 60  # anti-aliased edges

    assert near(image[200, 100], ZONE_COLOR)  # left edge of the polygon
    assert near(image[100, 200], ZONE_COLOR)  # top edge
    inside = image[250, 250].astype(int)  # tinted, not solid
    assert 0 < inside[1] < ZONE_COLOR[1] and inside[0] == 0
    assert near(image[300, 500], LINE_COLOR)
    assert not image[440:, :].any() and not image[:, 560:].any()  # nothing far away


def test_draw_zones_clips_zones_at_the_frame_edge():
    events = config(zones=[{"name": "z", "camera": "c", "points": [[0, 0], [640, 0], [640, 480]]}])
    image = np.zeros((480, 640, 3), np.uint8)
    draw_zones(image, events.zones, [])
    assert image.any()


def test_fill_alpha_zero_draws_outlines_only():
    events = config(
        zones=[
            {"name": "z", "camera": "c", "points": [[100, 100], [300, 100], [300, 300], [100, 300]]}
        ]
    )
    image = np.zeros((480, 640, 3), np.uint8)
    draw_zones(image, events.zones, [], fill_alpha=0)
    assert image[100, 200].any() and not image[250, 250].any()


def side_marks(a, b):
    events = config(lines=[{"name": "gate", "camera": "c", "a": a, "b": b}])
    style = style_for(480, 640)
    labels = {label.text: label.rect for label in shape_labels([], events.lines, (480, 640), style)}
    centre = {text: ((x1 + x2) / 2, (y1 + y2) / 2) for text, (x1, y1, x2, y2) in labels.items()}
    return labels, centre


def cross(a, b, p):
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def test_r_marks_the_side_the_event_engine_calls_right_of_a_to_b():
    # The engine: crossing from left to right of a->b is "left->right", and the right side
    # is where cross(b - a, p - a) > 0 in image pixels (y down).
    for a, b in (([320, 50], [320, 400]), ([100, 240], [500, 240]), ([500, 400], [100, 60])):
        labels, centre = side_marks(a, b)
        assert {"gate", "L", "R"} <= labels.keys()
        assert cross(a, b, centre["R"]) > 0 and cross(a, b, centre["L"]) < 0


def test_the_line_name_sits_beyond_its_a_end():
    labels, centre = side_marks([320, 100], [320, 400])
    assert labels["gate"][3] <= 100 and abs(centre["gate"][0] - 320) <= 1


def test_zone_and_line_outlines_are_at_least_2_px_where_frames_are_small():
    events = config(
        zones=[{"name": "z", "camera": "c", "points": [[100, 100], [300, 100], [300, 300]]}],
        lines=[{"name": "gate", "camera": "c", "a": [500, 50], "b": [500, 400]}],
    )
    image = np.zeros((360, 640, 3), np.uint8)
    draw_zones(image, events.zones, events.lines)
    column = (image[90:110, 200] == ZONE_COLOR).all(axis=1)
    assert column.sum() >= 2
