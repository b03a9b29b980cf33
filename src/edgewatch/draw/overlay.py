"""On-screen display: boxes, labels and confidences, camera name and time."""

from __future__ import annotations

import cv2
import numpy as np

from edgewatch.draw.labels import Label, draw_label, label_size, stamp_label
from edgewatch.draw.layout import place_labels
from edgewatch.draw.style import FONT, Style, class_color, style_for
from edgewatch.types import NO_TRACK, Detections, Frame

__all__ = [
    "FONT",
    "class_color",
    "detection_labels",
    "detection_text",
    "draw_box",
    "draw_detections",
]


def detection_text(detections: Detections, i: int) -> str:
    text = f"{detections.label(i)} {detections.confidence[i] * 100:.0f}%"
    if detections.tracker_id[i] != NO_TRACK:
        text = f"#{detections.tracker_id[i]} {text}"
    return text


def detection_labels(
    detections: Detections, frame_size: tuple[int, int], style: Style, *, reserved=()
) -> list[Label]:
    """Each detection's label, placed clear of the others and of ``reserved`` rectangles
    (the stamp, zone names) by `place_labels`. ``frame_size``: (height, width)."""
    texts = [detection_text(detections, i) for i in range(len(detections))]
    rects = place_labels(
        detections.xyxy,
        [label_size(text, style) for text in texts],
        frame_size,
        stroke=style.stroke,
        reserved=reserved,
    )
    colors = [class_color(int(c)) for c in detections.class_id]
    return [
        Label(tuple(rect), text, color)
        for rect, text, color in zip(rects.tolist(), texts, colors, strict=True)
    ]


def draw_box(image: np.ndarray, box, color, style: Style) -> None:
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    cv2.rectangle(image, (x1, y1), (x2, y2), color, style.stroke)


def draw_detections(frame: Frame, detections: Detections, *, reserved=()) -> np.ndarray:
    """Draws on ``frame.image`` in place (the pipeline owns it by now) and returns it.
    ``reserved``: rectangles the labels keep clear of besides the stamp (zone names)."""
    image = frame.image
    frame_size = image.shape[:2]
    style = style_for(*frame_size)
    stamp = stamp_label(frame.camera, frame.timestamp, style)
    labels = detection_labels(detections, frame_size, style, reserved=[stamp.rect, *reserved])
    for box, label in zip(detections.xyxy, labels, strict=True):
        draw_box(image, box, label.color, style)
    for label in labels:  # over every box: a label is never cut by a neighbour's outline
        draw_label(image, label, style)
    draw_label(image, stamp, style)
    return image
