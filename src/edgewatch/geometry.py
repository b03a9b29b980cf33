"""Plane geometry shared by the stages: box overlap (IoU), points in polygons, segments.

Boxes are pixel ``xyxy`` rows; points are ``(x, y)`` in pixels, y pointing down.
"""

from __future__ import annotations

import numpy as np

Point = tuple[float, float]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xyxy boxes; 0 where both boxes are empty. Written out
    column by column: with dozens of boxes a frame, numpy's per-call cost is the cost."""
    a, b = np.asarray(a).reshape(-1, 4), np.asarray(b).reshape(-1, 4)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    ax1, ay1, ax2, ay2 = a[:, 0:1], a[:, 1:2], a[:, 2:3], a[:, 3:4]
    bx1, by1, bx2, by2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    w = np.minimum(ax2, bx2) - np.maximum(ax1, bx1)
    h = np.minimum(ay2, by2) - np.maximum(ay1, by1)
    inter = np.maximum(w, 0) * np.maximum(h, 0)
    area_a = np.maximum(ax2 - ax1, 0) * np.maximum(ay2 - ay1, 0)
    area_b = np.maximum(bx2 - bx1, 0) * np.maximum(by2 - by1, 0)
    union = area_a + area_b - inter
    return np.divide(inter, union, out=np.zeros(inter.shape, np.float64), where=union > 0)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N,) IoU of one xyxy box with each of (N, 4) boxes."""
    return iou_matrix(np.asarray(box).reshape(1, 4), np.asarray(boxes).reshape(-1, 4))[0]


def paired_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) IoU of each xyxy box of ``a`` with the box in the same row of ``b`` (NaN
    where either is NaN)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    w = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    h = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.maximum(w, 0) * np.maximum(h, 0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    with np.errstate(invalid="ignore"):
        return inter / np.maximum(area_a + area_b - inter, 1e-9)


def covered_share(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(N, M) the share of each xyxy box's area that each of ``others`` covers."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    others = np.asarray(others, np.float64).reshape(-1, 4)
    a, b = boxes[:, None, :], others[None, :, :]
    w = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    h = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.maximum(w, 0) * np.maximum(h, 0)
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-6)
    return inter / area[:, None]


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N,) bool: even-odd rule, all points against all edges at once."""
    return Polygon(polygon).contains(points)


class Polygon:
    """A polygon's edges, prepared once, for testing many points each frame."""

    def __init__(self, points: np.ndarray) -> None:
        polygon = np.asarray(points, np.float64)
        self.x1, self.y1 = polygon[:, 0][:, None], polygon[:, 1][:, None]
        x2, y2 = np.roll(polygon[:, 0], -1)[:, None], np.roll(polygon[:, 1], -1)[:, None]
        self.dx = x2 - self.x1
        self.y2 = y2
        self.dy = np.where(y2 == self.y1, 1.0, y2 - self.y1)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(N,) bool: even-odd rule, all points against all edges at once."""
        x, y = points[:, 0][None, :], points[:, 1][None, :]
        spans = (self.y1 > y) != (self.y2 > y)
        crosses = spans & (x < self.dx * (y - self.y1) / self.dy + self.x1)
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


def centres_inside(boxes: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """(N,) bool: the centre of each xyxy box lies in one of the xyxy regions."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    regions = np.asarray(regions, np.float64).reshape(-1, 4)
    if not len(regions) or not len(boxes):
        return np.zeros(len(boxes), bool)
    cx = (boxes[:, 0] + boxes[:, 2])[:, None] / 2
    cy = (boxes[:, 1] + boxes[:, 3])[:, None] / 2
    inside = (
        (cx >= regions[None, :, 0]) & (cx < regions[None, :, 2])
        & (cy >= regions[None, :, 1]) & (cy < regions[None, :, 3])
    )  # fmt: skip
    return inside.any(axis=1)
