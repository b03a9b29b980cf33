"""Real vtest.avi frames with boxes drawn by hand where the people are (no detector), a
few at the frame's edges, and the walkway zone and the post line of the e2e tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from event_scenes import config

from edgewatch.types import Detections

NAMES = {0: "person", 2: "car"}
PERSON, CAR = 0, 2
WALKWAY = [[300, 150], [760, 150], [760, 330], [300, 330]]
POST = {"a": [430, 100], "b": [430, 400]}

# Per frame: (class, x1, y1, x2, y2) around what is there, and at the frame's top and
# right edges: the van and the car the right edge cuts, people side by side.
BOXES = {
    0: [
        (PERSON, 498, 155, 532, 233), (PERSON, 251, 218, 286, 308), (PERSON, 638, 238, 688, 322),
        (CAR, 650, 42, 726, 99), (CAR, 732, 46, 768, 94), (PERSON, 415, 0, 445, 40),
        (PERSON, 740, 250, 768, 330), (PERSON, 455, 118, 475, 178),
    ],
    150: [
        (PERSON, 68, 86, 92, 130), (PERSON, 386, 193, 420, 281), (PERSON, 431, 190, 472, 279),
        (PERSON, 588, 226, 630, 318), (PERSON, 634, 104, 659, 167), (PERSON, 655, 108, 683, 170),
        (PERSON, 709, 108, 732, 177), (CAR, 650, 42, 726, 99), (CAR, 732, 46, 768, 94),
    ],
    300: [
        (PERSON, 184, 156, 221, 236), (PERSON, 240, 156, 274, 223), (PERSON, 296, 156, 328, 231),
        (PERSON, 312, 208, 346, 298), (PERSON, 579, 156, 613, 238), (PERSON, 616, 158, 646, 235),
        (CAR, 650, 42, 726, 99), (CAR, 732, 46, 768, 94), (PERSON, 290, 0, 318, 34),
    ],
    600: [
        (PERSON, 186, 141, 217, 217), (PERSON, 565, 198, 600, 289), (PERSON, 667, 206, 707, 299),
        (PERSON, 452, 298, 507, 420), (PERSON, 638, 303, 674, 413), (PERSON, 282, 428, 334, 576),
        (CAR, 650, 42, 726, 99), (CAR, 732, 46, 768, 94), (PERSON, 748, 160, 768, 230),
    ],
}  # fmt: skip


def read_frame(path: Path, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = capture.read()
    finally:
        capture.release()
    assert ok, f"frame {index} of {path}"
    return image


def detections(index: int, scale: float = 1.0) -> Detections:
    """The boxes of frame ``index``, tracked (ids 101...), for a frame scaled by ``scale``."""
    rows = BOXES[index]
    return Detections(
        xyxy=np.array([row[1:] for row in rows], np.float32) * scale,
        confidence=np.linspace(0.97, 0.41, len(rows), dtype=np.float32),
        class_id=np.array([row[0] for row in rows], np.int32),
        tracker_id=np.arange(101, 101 + len(rows), dtype=np.int64),
        class_names=NAMES,
    )


def shapes(scale: float = 1.0):
    """The walkway zone and the post line (`ZoneConfig`, `LineConfig`), scaled."""
    events = config(
        zones=[{"name": "walkway", "camera": "yard", "points": _scaled(WALKWAY, scale)}],
        lines=[
            {
                "name": "post",
                "camera": "yard",
                "a": _scaled([POST["a"]], scale)[0],
                "b": _scaled([POST["b"]], scale)[0],
            }
        ],
    )
    return events.zones, events.lines


def _scaled(points, scale: float) -> list[list[float]]:
    return [[x * scale, y * scale] for x, y in points]
