"""Bad zone and line definitions are clear config errors."""

import pytest
from event_scenes import config
from pydantic import ValidationError

from edgewatch.config import describe_validation_error
from edgewatch.errors import ConfigError

SQUARE = [[0, 0], [100, 0], [100, 100], [0, 100]]


def problems(**fields) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        config(**fields)
    return describe_validation_error(caught.value)


def test_self_intersecting_polygon_names_the_crossing_edges():
    bowtie = [[0, 0], [100, 100], [100, 0], [0, 100]]
    (problem,) = problems(zones=[{"name": "drive", "camera": "yard", "points": bowtie}])
    assert problem.startswith("zones.0.points: the polygon crosses itself: edge 0")
    assert "[0, 0] -> [100, 100]" in problem and "edge 2" in problem


def test_polygon_of_two_points_is_refused():
    (problem,) = problems(zones=[{"name": "z", "camera": "yard", "points": [[0, 0], [5, 5]]}])
    assert problem == "zones.0.points: a zone needs at least 3 points, got 2"


def test_duplicate_names_per_camera_are_refused_but_other_cameras_may_reuse_them():
    zone = {"name": "gate", "camera": "yard", "points": SQUARE}
    line = {"name": "gate", "camera": "yard", "a": [0, 0], "b": [10, 10]}
    (problem,) = problems(zones=[zone], lines=[line])
    assert "camera 'yard' has two zones or lines named 'gate'" in problem
    config(zones=[zone], lines=[{**line, "camera": "street"}])


def test_line_of_one_point_and_unknown_keys_are_refused():
    (problem,) = problems(lines=[{"name": "l", "camera": "c", "a": [5, 5], "b": [5, 5]}])
    assert "a and b are the same point" in problem
    (problem,) = problems(zones=[{"name": "z", "camera": "c", "points": SQUARE, "loiter": 3}])
    assert problem == "zones.0.loiter: unknown key (a typo?)"


def test_a_point_outside_the_frame_names_zone_point_and_frame_size():
    events = config(
        zones=[{"name": "porch", "camera": "yard", "points": [[0, 0], [700, 0], [700, 100]]}]
    )
    events.check_inside("yard", 1280, 720)
    with pytest.raises(ConfigError) as caught:
        events.check_inside("yard", 640, 480)
    assert str(caught.value).startswith(
        "zone 'porch' of camera 'yard': point [700, 0] lies outside the 640x480 frame"
    )
    events.check_inside("other", 10, 10)  # other cameras' zones are not checked


def test_line_end_outside_the_frame():
    events = config(lines=[{"name": "gate", "camera": "yard", "a": [0, 0], "b": [10, 900]}])
    with pytest.raises(ConfigError, match=r"line 'gate' .* \[10, 900\] lies outside the 640x480"):
        events.check_inside("yard", 640, 480)


def test_unknown_camera_lists_the_known_ones():
    events = config(zones=[{"name": "porch", "camera": "yrd", "points": SQUARE}])
    with pytest.raises(ConfigError) as caught:
        events.validate_against(["yard", "street"])
    assert str(caught.value) == (
        "events zone 'porch' names unknown camera 'yrd' — "
        "use one of the configured cameras: yard, street"
    )
    config(zones=[{"name": "porch", "camera": "yard", "points": SQUARE}]).validate_against(["yard"])


def test_concave_polygon_is_accepted():
    config(
        zones=[
            {
                "name": "l",
                "camera": "c",
                "points": [[0, 0], [100, 0], [100, 40], [40, 40], [40, 100], [0, 100]],
            }
        ]
    )
