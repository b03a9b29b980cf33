"""Zones and lines drawn on the video."""

import numpy as np
from event_scenes import config

from edgewatch.draw.zones import LINE_COLOR, ZONE_COLOR, draw_zones


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
