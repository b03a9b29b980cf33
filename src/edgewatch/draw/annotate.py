"""The drawing stage: zones, lines and the detections drawn once per frame, for every
video output (RTSP, recording) behind it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set

import cv2
import numpy as np

from edgewatch.draw.labels import Label, draw_label, stamp_label
from edgewatch.draw.overlay import draw_detections
from edgewatch.draw.style import style_for
from edgewatch.draw.zones import draw_zones, shape_labels
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
        # Zone and line labels per (camera, height, width): the shapes and the stamp's
        # place do not change, so they are laid out once.
        self._shape_labels: dict[tuple[str, int, int], list[Label]] = {}

    def __call__(self, frame: Frame, detections: Detections) -> Frame:
        if self.copy:
            frame = frame.with_image(frame.image.copy())
        zones, lines = self.shapes.get(frame.camera, ((), ()))
        labels = []
        if zones or lines:
            labels = self.shape_labels(frame, zones, lines)
            draw_zones(frame.image, zones, lines, labels=())  # their labels after the boxes
        if frame.camera in self.motion and frame.motion is not None:
            draw_motion(frame.image, frame.motion)
        draw_detections(frame, detections, reserved=[label.rect for label in labels])
        style = style_for(frame.height, frame.width)
        for label in labels:  # on top: no box outline cuts a zone's name or a line's marks
            draw_label(frame.image, label, style)
        return frame

    def shape_labels(self, frame: Frame, zones: Sequence, lines: Sequence) -> list[Label]:
        key = (frame.camera, frame.height, frame.width)
        labels = self._shape_labels.get(key)
        if labels is None:
            style = style_for(frame.height, frame.width)
            stamp = stamp_label(frame.camera, frame.timestamp, style)
            size = (frame.height, frame.width)
            labels = shape_labels(zones, lines, size, style, reserved=[stamp.rect])
            self._shape_labels[key] = labels
        return labels


MOTION_COLOR = (200, 200, 200)  # BGR light grey: beside the boxes, not one of them


def draw_motion(image: np.ndarray, boxes: np.ndarray) -> None:
    """The moving areas, as thin outlines."""
    for x1, y1, x2, y2 in np.round(boxes).astype(int).tolist():
        cv2.rectangle(image, (x1, y1), (x2, y2), MOTION_COLOR, 1)
