"""Where to look: square crops of at least the detector's input size around what moved.

A crop of 300x300 pixels is seen by a 300x300 detector at full resolution, where the whole
1080p picture would shrink a distant person to a few pixels. Each crop costs one inference,
as the whole picture does, so crops that overlap are merged, and when they would be many
or cover much of the picture, the whole picture is cheaper: `plan_regions` says so (None).
"""

from __future__ import annotations

import numpy as np

MARGIN = 1.3  # a crop's side: the object's larger side times this, at least the input size


def plan_regions(
    boxes: np.ndarray, width: int, height: int, *, size: int, full_fraction: float = 0.5
) -> np.ndarray | None:
    """(R, 4) int xyxy square crops covering ``boxes``, or None for the whole picture.

    Every crop costs what the whole picture costs, so there are two at most, and two only
    where the picture is at least three input sizes high (1080p for a 300 px detector):
    there a crop sees an object three times larger than the whole picture would.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not len(boxes):
        return np.zeros((0, 4), np.int64)
    if min(width, height) <= size:
        return None  # the picture is no larger than the input: nothing to gain
    regions = [_square(box, size) for box in boxes]
    merged = True
    while merged and len(regions) > 1:
        merged = False
        for i in range(len(regions)):
            for j in range(i + 1, len(regions)):
                if _overlap(regions[i], regions[j]):
                    union = np.r_[np.minimum(regions[i][:2], regions[j][:2]),
                                  np.maximum(regions[i][2:], regions[j][2:])]  # fmt: skip
                    regions[i] = _square(union, size, margin=1.0)
                    del regions[j]
                    merged = True
                    break
            if merged:
                break
    side_limit = min(width, height)
    max_regions = 2 if side_limit >= 3 * size else 1
    if len(regions) > max_regions or any(r[2] - r[0] > side_limit for r in regions):
        return None
    placed = np.array([_inside(r, width, height) for r in regions], np.int64)
    area = ((placed[:, 2] - placed[:, 0]) * (placed[:, 3] - placed[:, 1])).sum()
    return None if area > full_fraction * width * height else placed


def _square(box: np.ndarray, size: int, *, margin: float = MARGIN) -> np.ndarray:
    side = max(size, margin * max(box[2] - box[0], box[3] - box[1]))
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(region: np.ndarray, width: int, height: int) -> list[int]:
    """The square moved (not shrunk) to lie within the picture."""
    side = round(region[2] - region[0])
    x = int(min(max(round(region[0]), 0), width - side))
    y = int(min(max(round(region[1]), 0), height - side))
    return [x, y, x + side, y + side]
