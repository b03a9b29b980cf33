"""Plane geometry shared by the stages: box overlap (IoU), points in polygons, segments.

Boxes are pixel ``xyxy`` rows; points are ``(x, y)`` in pixels, y pointing down.
"""

from __future__ import annotations

import numpy as np

Point = tuple[float, float]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xyxy boxes; 0 where both boxes are empty."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N,) IoU of one xyxy box with each of (N, 4) boxes."""
    return iou_matrix(np.asarray(box).reshape(1, 4), np.asarray(boxes).reshape(-1, 4))[0]


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N,) bool: even-odd rule, all points against all edges at once."""
    x, y = points[:, 0][None, :], points[:, 1][None, :]
    x1, y1 = polygon[:, 0][:, None], polygon[:, 1][:, None]
    x2, y2 = np.roll(polygon[:, 0], -1)[:, None], np.roll(polygon[:, 1], -1)[:, None]
    spans = (y1 > y) != (y2 > y)
    dy = np.where(y2 == y1, 1.0, y2 - y1)
    crosses = spans & (x < (x2 - x1) * (y - y1) / dy + x1)
    return (np.count_nonzero(crosses, axis=0) % 2).astype(bool)


def _orientation(p: Point, q: Point, r: Point) -> float:
    return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])


def _on_segment(p: Point, q: Point, r: Point) -> bool:
    """r, known collinear with p-q, lies within the segment p-q."""
    return min(p[0], q[0]) <= r[0] <= max(p[0], q[0]) and min(p[1], q[1]) <= r[1] <= max(p[1], q[1])


def segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Closed segments p1-p2 and q1-q2 share a point (touching counts)."""
    d1, d2 = _orientation(q1, q2, p1), _orientation(q1, q2, p2)
    d3, d4 = _orientation(p1, p2, q1), _orientation(p1, p2, q2)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return (
        (d1 == 0 and _on_segment(q1, q2, p1))
        or (d2 == 0 and _on_segment(q1, q2, p2))
        or (d3 == 0 and _on_segment(p1, p2, q1))
        or (d4 == 0 and _on_segment(p1, p2, q2))
    )


def self_intersection(points: list[Point]) -> tuple[int, int] | None:
    """The first pair of edges (i, j) of the closed polygon that cross, or None. Edge i
    runs from point i to point i+1; neighbouring edges share a point and are skipped."""
    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue
            if segments_intersect(*edges[i], *edges[j]):
                return i, j
    return None
