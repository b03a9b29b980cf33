"""The drawing stage: zones, lines and the detections drawn once per frame, for every
video output (RTSP, recording) behind it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

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
        self, shapes: Mapping[str, tuple[Sequence, Sequence]] | None = None, *, copy: bool = False
    ) -> None:
        self.shapes = dict(shapes or {})
        self.copy = copy

    def __call__(self, frame: Frame, detections: Detections) -> Frame:
        if self.copy:
            frame = replace(frame, image=frame.image.copy())
        zones, lines = self.shapes.get(frame.camera, ((), ()))
        if zones or lines:
            draw_zones(frame.image, zones, lines)
        draw_detections(frame, detections)
        return frame
