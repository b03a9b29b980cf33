"""The one IoU, polygon test and segment test every stage shares."""

import numpy as np

from edgewatch.geometry import (
    box_iou,
    iou_matrix,
    points_in_polygon,
    segments_intersect,
    self_intersection,
)


def test_iou_of_one_box_and_of_all_pairs_agree():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [20, 20, 30, 30], [0, 0, 10, 10]], float)
    np.testing.assert_allclose(box_iou(boxes[0], boxes), [1, 0.5, 0, 1])
    matrix = iou_matrix(boxes, boxes)
    assert matrix.shape == (4, 4)
    np.testing.assert_allclose(matrix[0], box_iou(boxes[0], boxes))
    np.testing.assert_allclose(matrix, matrix.T)


def test_empty_boxes_have_no_overlap_instead_of_a_division_by_zero():
    empty = np.array([[5, 5, 5, 5]], float)
    assert iou_matrix(empty, empty).tolist() == [[0.0]]
    assert iou_matrix(np.zeros((0, 4)), empty).shape == (0, 1)


def test_points_in_polygon_matches_opencv():
    import cv2

    poly = np.array([[10, 10], [200, 30], [150, 180], [90, 60], [20, 150]], np.float64)
    pts = np.random.default_rng(1).uniform(0, 220, size=(500, 2))
    ours = points_in_polygon(pts, poly)
    theirs = [
        cv2.pointPolygonTest(poly.astype(np.float32), (float(x), float(y)), False) > 0
        for x, y in pts
    ]
    assert (ours == np.array(theirs)).mean() > 0.99  # points exactly on an edge may differ


def test_segments_crossing_touching_and_apart():
    assert segments_intersect((0, 0), (10, 10), (0, 10), (10, 0))
    assert segments_intersect((0, 0), (10, 0), (10, 0), (10, 10))  # touching counts
    assert not segments_intersect((0, 0), (10, 0), (0, 1), (10, 1))


def test_self_intersection_names_the_crossing_edges():
    bow_tie = [(0, 0), (10, 10), (10, 0), (0, 10)]
    assert self_intersection(bow_tie) == (0, 2)
    assert self_intersection([(0, 0), (10, 0), (10, 10), (0, 10)]) is None
