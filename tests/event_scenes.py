"""Tracked detections and frames built by hand for the event tests."""

from __future__ import annotations

import numpy as np

from edgewatch.events.config import EventsConfig
from edgewatch.types import Detections, Frame

T0 = 1_700_000_000.0
NAMES = {0: "person", 2: "car"}


def frame(t: float, camera: str = "yard", *, value: int = 128, size=(480, 640)) -> Frame:
    image = np.full((*size, 3), value, np.uint8)
    return Frame(camera, int(round(t * 10)), T0 + t, image)


def tracked(*objects) -> Detections:
    """objects: (track_id, (x1, y1, x2, y2)[, confidence[, class_id]])."""
    if not objects:
        return Detections.empty(NAMES)
    rows = [(o[0], o[1], o[2] if len(o) > 2 else 0.9, o[3] if len(o) > 3 else 0) for o in objects]
    return Detections(
        xyxy=np.array([r[1] for r in rows], np.float32),
        confidence=np.array([r[2] for r in rows], np.float32),
        class_id=np.array([r[3] for r in rows], np.int32),
        tracker_id=np.array([r[0] for r in rows], np.int64),
        class_names=NAMES,
    )


def feet_box(x: float, y: float, w: float = 40, h: float = 100) -> tuple:
    """A box whose bottom centre (the object's feet) is at (x, y)."""
    return (x - w / 2, y - h, x + w / 2, y)


def config(**fields) -> EventsConfig:
    fields.setdefault("enabled", True)
    return EventsConfig.model_validate(fields)
