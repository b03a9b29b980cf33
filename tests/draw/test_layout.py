"""The label layout on its own: rectangles in, rectangles out."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edgewatch.draw.layout import overlapping_pairs, place_labels

FRAME = (576, 768)  # height, width
LABEL = (120, 20)  # width, height: wider than a person's box, as on the real video


def inside(rects, frame=FRAME) -> bool:
    r = np.asarray(rects)
    return bool(
        (r[:, :2] >= 0).all() and (r[:, 2] <= frame[1]).all() and (r[:, 3] <= frame[0]).all()
    )


def test_no_boxes_no_labels():
    assert place_labels(np.zeros((0, 4)), np.zeros((0, 2)), FRAME).shape == (0, 4)


def test_a_label_sits_above_the_boxs_top_left_corner_when_there_is_room():
    (rect,) = place_labels([(300, 200, 340, 300)], [LABEL], FRAME, stroke=2)
    # Left-aligned with the outline's outer edge (1 px out), bottom on the outline.
    assert rect.tolist() == [299, 179, 419, 199]


def test_labels_at_the_right_edge_slide_left_instead_of_being_cut():
    (rect,) = place_labels([(740, 200, 768, 300)], [LABEL], FRAME, stroke=2)
    assert rect[2] == 768 and rect[3] <= 200  # still above the box, ending at the edge


def test_labels_of_boxes_at_the_top_go_inside_the_box():
    (rect,) = place_labels([(300, 0, 340, 100)], [LABEL], FRAME, stroke=2)
    assert rect[1] == 0 and rect[0] == 299


def test_side_by_side_boxes_get_labels_clear_of_each_other():
    boxes = [(300 + 45 * i, 200, 340 + 45 * i, 300) for i in range(5)]
    rects = place_labels(boxes, [LABEL] * 5, FRAME, stroke=2)
    assert overlapping_pairs(rects) == [] and inside(rects)
    # Kept 2 px apart (``gap``), so neighbouring labels never read as one.
    grown = rects + [-1, -1, 1, 1]
    assert overlapping_pairs(grown) == []


def test_reserved_rectangles_are_kept_clear():
    stamp = (0, 0, 250, 22)
    (rect,) = place_labels([(10, 30, 50, 130)], [LABEL], FRAME, stroke=2, reserved=[stamp])
    assert overlapping_pairs([rect, stamp]) == []


def test_a_label_avoids_another_boxs_top_edge_when_it_can():
    # Above the left box, left-aligned, would cover the top edge of the right box just
    # above it: the label goes right-aligned instead.
    boxes = [(300, 200, 340, 300), (350, 190, 390, 290)]
    rects = place_labels(boxes, [LABEL, LABEL], FRAME, stroke=2)
    right_top_edge = (349, 189, 392, 192)
    assert overlapping_pairs([rects[0], right_top_edge]) == []


def test_the_same_boxes_give_the_same_places():
    rng = np.random.default_rng(5)
    boxes = np.sort(rng.uniform(0, 500, (20, 4)).reshape(20, 2, 2), axis=1).reshape(20, 4)
    first = place_labels(boxes, [LABEL] * 20, FRAME)
    assert np.array_equal(first, place_labels(boxes.copy(), [LABEL] * 20, FRAME))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-50, 800), st.floats(-50, 600), st.floats(1, 300), st.floats(1, 300),
            st.integers(10, 200), st.integers(8, 40),
        ),
        max_size=25,
    )
)  # fmt: skip
def test_every_label_lies_wholly_inside_the_frame_at_its_size(rows):
    boxes = [(x, y, x + w, y + h) for x, y, w, h, _, _ in rows]
    sizes = [(lw, lh) for *_, lw, lh in rows]
    rects = place_labels(boxes, sizes, FRAME, stroke=3)
    assert rects.shape == (len(rows), 4)
    if rows:
        assert inside(rects)
        assert (rects[:, 2:] - rects[:, :2]).tolist() == [list(s) for s in sizes]
