"""Zones and lines on the video: translucent polygons with names, lines with a name, an
arrow a->b and "L"/"R" marks on their two sides."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edgewatch.draw.labels import Label, draw_label, label_size
from edgewatch.draw.layout import place_labels
from edgewatch.draw.style import Style, dimmed, style_for

ZONE_COLOR = (0, 215, 255)  # BGR amber
LINE_COLOR = (255, 64, 255)  # BGR magenta
FILL_ALPHA = 0.2

# Zone names hang from the zone's top corner into the zone (right of the corner when the
# zone lies to its right, else left); centred and above are for zones cut by the frame.
# (See `edgewatch.draw.layout.BOX_CANDIDATES`; the anchors here are points.)
_INTO_RIGHT = ((0, 0, 0, 0), (0, -1, 0, 0), (0, -0.5, 0, 0), (0, 0, 0, -1), (0, -1, 0, -1))
_INTO_LEFT = ((0, -1, 0, 0), (0, 0, 0, 0), (0, -0.5, 0, 0), (0, -1, 0, -1), (0, 0, 0, -1))
_CENTRED = ((0, -0.5, 0, -0.5), (0, 0, 0, 0), (0, -1, 0, 0), (0, 0, 0, -1), (0, -1, 0, -1))


def _emphasis(name: str, highlight: str | None) -> int:
    """1: the highlighted rule, 0: drawn as usual (nothing highlighted), -1: dimmed."""
    if highlight is None:
        return 0
    return 1 if name == highlight else -1


def _color(color, emphasis: int) -> tuple[int, int, int]:
    return dimmed(color) if emphasis < 0 else color


def _line_geometry(line) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """a, b, the unit direction a->b and the unit normal toward the line's right side
    (where cross(b - a, p - a) > 0 in image pixels, y down)."""
    a, b = np.asarray(line.a, np.float64), np.asarray(line.b, np.float64)
    length = max(float(np.hypot(*(b - a))), 1e-9)
    u = (b - a) / length
    return a, b, u, np.array([-u[1], u[0]])


def _arrow_size(style: Style) -> float:
    return 10 * style.font_scale + 2 * style.stroke


def _beside(point: np.ndarray, away: np.ndarray, size, margin: float) -> list[float]:
    """A zero-size box at ``point`` moved along unit ``away`` until a label of ``size``
    centred there clears ``point`` by ``margin``."""
    reach = abs(away[0]) * size[0] / 2 + abs(away[1]) * size[1] / 2 + margin
    x, y = point + away * reach
    return [x, y, x, y]


def shape_labels(
    zones: Sequence,
    lines: Sequence,
    frame_size: tuple[int, int],
    style: Style,
    *,
    highlight: str | None = None,
    reserved=(),
) -> list[Label]:
    """The zones' and lines' name labels and the lines' "L"/"R" side marks, placed
    inside the frame and clear of each other and of ``reserved`` (the stamp). Pure: the
    drawing stage works them out once per camera and keeps detections' labels off them."""
    labels: list[Label] = []
    taken = [tuple(r) for r in reserved]

    def place(anchor, text: str, color, candidates) -> None:
        (rect,) = place_labels(
            [anchor], [label_size(text, style)], frame_size, candidates=candidates,
            stroke=style.stroke, reserved=taken,
        ).tolist()  # fmt: skip
        labels.append(Label(tuple(rect), text, color))
        taken.append(tuple(rect))

    for zone in zones:
        color = _color(ZONE_COLOR, _emphasis(zone.name, highlight))
        points = np.asarray(zone.points, np.float64)
        top = points[np.lexsort((points[:, 0], points[:, 1]))[0]]  # the top-most, then left
        into_right = points[:, 0].mean() >= top[0]
        place([*top, *top], zone.name, color, _INTO_RIGHT if into_right else _INTO_LEFT)
    for line in lines:
        color = _color(LINE_COLOR, _emphasis(line.name, highlight))
        a, b, u, right = _line_geometry(line)
        size = label_size(line.name, style)
        place(_beside(a, -u, size, style.stroke + 2), line.name, color, _CENTRED)
        # The sides, beside the arrow at the middle: crossing from L to R is "left->right".
        mid = (a + b) / 2
        margin = _arrow_size(style) + style.stroke
        for side, text in ((-right, "L"), (right, "R")):
            place(_beside(mid, side, label_size(text, style), margin), text, color, _CENTRED)
    return labels


def draw_zones(
    image: np.ndarray,
    zones: Sequence,
    lines: Sequence,
    *,
    fill_alpha: float = FILL_ALPHA,
    highlight: str | None = None,
    labels: Sequence[Label] | None = None,
) -> np.ndarray:
    """Draws in place and returns ``image``. ``zones`` have ``name`` and ``points``;
    ``lines`` have ``name``, ``a`` and ``b`` (`ZoneConfig`, `LineConfig`). The fill is
    blended only inside each zone's bounding box, so its cost follows the zones' size (about
    0.9 ms at 1280x720 for zones covering half the picture); ``fill_alpha=0`` draws outlines
    only (about 0.1 ms). ``highlight``: the name of the zone or line drawn emphasised (the
    rule an event is about), the others dimmed. ``labels``: the names and marks to draw
    (`shape_labels`; by default worked out here), ``()`` to draw them later, over boxes."""
    h, w = image.shape[:2]
    style = style_for(h, w)
    if labels is None:
        labels = shape_labels(zones, lines, (h, w), style, highlight=highlight)
    for zone in zones:
        emphasis = _emphasis(zone.name, highlight)
        color = _color(ZONE_COLOR, emphasis)
        alpha = fill_alpha * (1.75 if emphasis > 0 else 0.5 if emphasis < 0 else 1)
        pts = np.round(np.asarray(zone.points, np.float64)).astype(np.int32)
        x1, y1 = np.clip(pts.min(axis=0), 0, [w - 1, h - 1])
        x2, y2 = np.clip(pts.max(axis=0) + 1, 1, [w, h])
        if alpha > 0 and x2 > x1 and y2 > y1:
            roi = image[y1:y2, x1:x2]
            filled = roi.copy()
            cv2.fillPoly(filled, [pts - [x1, y1]], color)
            cv2.addWeighted(filled, alpha, roi, 1 - alpha, 0, dst=roi)
        # LINE_8: anti-aliased edges leave only a 1 px solid core, which H.264 smears.
        thickness = style.stroke * 2 if emphasis > 0 else style.stroke
        cv2.polylines(image, [pts], True, color, thickness, cv2.LINE_8)
    for line in lines:
        emphasis = _emphasis(line.name, highlight)
        color = _color(LINE_COLOR, emphasis)
        thickness = style.stroke * 2 if emphasis > 0 else style.stroke
        a, b, u, right = _line_geometry(line)
        cv2.line(image, _point(a), _point(b), color, thickness, cv2.LINE_AA)
        # A solid arrowhead at the middle, pointing a -> b: the direction "left"/"right"
        # (the "L"/"R" marks beside it) are taken from.
        mid, size = (a + b) / 2, _arrow_size(style) * (1.5 if emphasis > 0 else 1)
        back = mid - u * size
        head = np.array([mid + u * size, back + right * size, back - right * size])
        cv2.fillPoly(image, [np.round(head).astype(np.int32)], color, cv2.LINE_AA)
    for label in labels:
        draw_label(image, label, style)
    return image


def _point(p: np.ndarray) -> tuple[int, int]:
    return int(round(p[0])), int(round(p[1]))
