"""Event snapshots: the frame an event is about, annotated, and a thumbnail of its object.

Off the hot path (the events output calls it when it writes an event), so it draws on a
copy and may take its time; it uses the video overlay's labels, stamp and shapes."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edgewatch.draw.labels import Label, draw_label, label_size, stamp_label
from edgewatch.draw.layout import place_labels
from edgewatch.draw.overlay import draw_box
from edgewatch.draw.style import class_color, style_for
from edgewatch.draw.zones import draw_zones, shape_labels


def annotate_snapshot(
    image: np.ndarray,
    *,
    box,
    text: str,
    class_id: int,
    camera: str,
    timestamp: float,
    zones: Sequence = (),
    lines: Sequence = (),
    highlight: str | None = None,
) -> np.ndarray:
    """A copy of ``image`` (never drawn on) with the camera's ``zones`` and ``lines`` (the
    one named ``highlight``, the rule that fired, emphasised and the others dimmed), the
    object's ``box`` labelled ``text`` (e.g. "person 87%") and the camera name and local
    time of ``timestamp``."""
    out = image.copy()
    size = out.shape[:2]
    style = style_for(*size)
    stamp = stamp_label(camera, timestamp, style)
    shapes = shape_labels(zones, lines, size, style, highlight=highlight, reserved=[stamp.rect])
    if zones or lines:
        draw_zones(out, zones, lines, highlight=highlight, labels=())
    color = class_color(class_id)
    draw_box(out, box, color, style)
    (rect,) = place_labels(
        [box], [label_size(text, style)], size, stroke=style.stroke,
        reserved=[stamp.rect, *(label.rect for label in shapes)],
    ).tolist()  # fmt: skip
    for label in (*shapes, Label(tuple(rect), text, color), stamp):  # over the outlines
        draw_label(out, label, style)
    return out


def crop(image: np.ndarray, box, *, pad: float = 0.3, min_size: int = 160) -> np.ndarray:
    """The object in ``box`` with ``pad`` (a share of its long side) of context on every
    side, as a square shifted into the frame (cut only where the frame is smaller), scaled
    up so its short side is at least ``min_size`` (phone notification thumbnails). A new
    array, not a view of ``image``."""
    frame_h, frame_w = image.shape[:2]
    x1, y1, x2, y2 = np.clip(np.asarray(box, np.float64), 0, [frame_w, frame_h] * 2)
    side = max(x2 - x1, y2 - y1, 1.0) * (1 + 2 * pad)
    width, height = min(int(round(side)), frame_w), min(int(round(side)), frame_h)
    left = min(max(int(round((x1 + x2 - width) / 2)), 0), frame_w - width)
    top = min(max(int(round((y1 + y2 - height) / 2)), 0), frame_h - height)
    out = image[top : top + height, left : left + width]
    short = min(width, height)
    if short >= min_size:
        return out.copy()
    scale = min_size / short
    size = (max(min_size, round(width * scale)), max(min_size, round(height * scale)))
    return cv2.resize(out, size, interpolation=cv2.INTER_CUBIC)
