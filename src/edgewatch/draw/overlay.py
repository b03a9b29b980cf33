"""On-screen display: boxes, labels and confidences, camera name and time."""

from __future__ import annotations

import time

import cv2
import numpy as np

from edgewatch.types import NO_TRACK, Detections, Frame

FONT = cv2.FONT_HERSHEY_SIMPLEX

# BGR colours per class id, bright enough to read on night-time footage.
_PALETTE = np.array(
    [
        (0, 200, 0), (255, 128, 0), (0, 128, 255), (255, 0, 255), (0, 255, 255),
        (255, 255, 0), (128, 0, 255), (0, 0, 255), (255, 0, 128), (0, 255, 128),
    ],
    dtype=np.uint8,
)  # fmt: skip


def class_color(class_id: int) -> tuple[int, int, int]:
    b, g, r = _PALETTE[class_id % len(_PALETTE)]
    return int(b), int(g), int(r)


def _text_box(image: np.ndarray, text: str, x: int, y: int, color, scale: float) -> None:
    """Text on a filled background, kept inside the image; (x, y) is the top-left."""
    (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
    h, w = image.shape[:2]
    x = min(max(x, 0), max(w - tw - 4, 0))
    y = min(max(y, 0), max(h - th - base - 4, 0))
    cv2.rectangle(image, (x, y), (x + tw + 4, y + th + base + 4), color, cv2.FILLED)
    luma = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
    ink = (0, 0, 0) if luma > 140 else (255, 255, 255)
    cv2.putText(image, text, (x + 2, y + th + 2), FONT, scale, ink, 1, cv2.LINE_AA)


def draw_detections(frame: Frame, detections: Detections) -> np.ndarray:
    """Draws on ``frame.image`` in place (the pipeline owns it by now) and returns it."""
    image = frame.image
    scale = max(0.4, min(image.shape[0], image.shape[1]) / 1200)
    thickness = max(2, round(scale * 2.5))  # 1 px lines fade under H.264 chroma subsampling
    for i in range(len(detections)):
        x1, y1, x2, y2 = (int(round(v)) for v in detections.xyxy[i])
        color = class_color(int(detections.class_id[i]))
        cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness)
        label = f"{detections.label(i)} {detections.confidence[i] * 100:.0f}%"
        if detections.tracker_id[i] != NO_TRACK:
            label = f"#{detections.tracker_id[i]} {label}"
        (_, th), base = cv2.getTextSize(label, FONT, scale, 1)
        _text_box(image, label, x1, y1 - th - base - 4, color, scale)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(frame.timestamp))
    _text_box(image, f"{frame.camera}  {stamp}", 4, 4, (32, 32, 32), scale)
    return image
