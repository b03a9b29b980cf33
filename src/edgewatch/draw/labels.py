"""Text on a filled label, and the camera/time stamp: one look for the video and snapshots."""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from edgewatch.draw.style import FONT, Style, ink_for

STAMP_COLOR = (32, 32, 32)  # BGR near-black: white text on it reads on any footage


@dataclass(frozen=True, slots=True)
class Label:
    rect: tuple[int, int, int, int]  # x1, y1, x2, y2 (x2, y2 exclusive)
    text: str
    color: tuple[int, int, int]  # BGR background; the text is black or white to suit it


def label_size(text: str, style: Style) -> tuple[int, int]:
    """Width and height of the filled label ``draw_label`` draws for ``text``."""
    (width, height), baseline = cv2.getTextSize(text, FONT, style.font_scale, style.text_thickness)
    return width + 2 * style.pad, height + baseline + 2 * style.pad


def draw_label(image: np.ndarray, label: Label, style: Style) -> None:
    x1, y1, x2, y2 = label.rect
    cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), label.color, cv2.FILLED)
    cv2.putText(
        image,
        label.text,
        (x1 + style.pad, y1 + style.pad + style.text_height),
        FONT,
        style.font_scale,
        ink_for(label.color),
        style.text_thickness,
        cv2.LINE_AA,
    )


def local_time(timestamp: float) -> str:
    """``timestamp`` (seconds since the epoch) as this machine's local time."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def stamp_label(camera: str, timestamp: float, style: Style) -> Label:
    """The camera name and time, in the top-left corner. Digits are all one width in this
    font, so the rectangle stays put from frame to frame."""
    text = f"{camera}  {local_time(timestamp)}"
    width, height = label_size(text, style)
    return Label((0, 0, width, height), text, STAMP_COLOR)
