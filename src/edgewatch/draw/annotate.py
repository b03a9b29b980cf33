"""The drawing stage: zones, lines and the detections drawn once per frame, for every
video output (RTSP, recording) behind it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set

import cv2
import numpy as np

from edgewatch.draw.overlay import draw_detections
from edgewatch.draw.zones import draw_zones
from edgewatch.types import Detections, Frame


class Annotator:
    """Draws on the frame. ``shapes`` maps a camera to its ``(zones, lines)``: objects
    with ``name`` and ``points``, and with ``name``, ``a`` and ``b`` (`edgewatch.events`'
    zone and line configs).

    ``copy``: draw on a copy of the image. The events output keeps frames for snapshots
    while this stage draws; on a copy, snapshots never show the overlay twice.
    """

    def __init__(
        self,
        shapes: Mapping[str, tuple[Sequence, Sequence]] | None = None,
        *,
        copy: bool = False,
        motion: Set[str] = frozenset(),
    ) -> None:
        """``motion``: cameras whose moving areas are drawn too (``draw_motion``)."""
        self.shapes = dict(shapes or {})
        self.copy = copy
        self.motion = motion

    def __call__(self, frame: Frame, detections: Detections) -> Frame:
        if self.copy:
            frame = frame.with_image(frame.image.copy())
        zones, lines = self.shapes.get(frame.camera, ((), ()))
        if zones or lines:
            draw_zones(frame.image, zones, lines)
        if frame.camera in self.motion and frame.motion is not None:
            draw_motion(frame.image, frame.motion)
        draw_detections(frame, detections)
        return frame


MOTION_COLOR = (200, 200, 200)  # BGR light grey: beside the boxes, not one of them


def draw_motion(image: np.ndarray, boxes: np.ndarray) -> None:
    """The moving areas, as thin outlines."""
    for x1, y1, x2, y2 in np.round(boxes).astype(int).tolist():
        cv2.rectangle(image, (x1, y1), (x2, y2), MOTION_COLOR, 1)
