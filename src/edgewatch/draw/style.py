"""Sizes and colours of everything drawn, scaled to the frame: the same look at 360p and 4K."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

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


def ink_for(color) -> tuple[int, int, int]:
    """Black or white text, whichever reads on a ``color`` background."""
    luma = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
    return (0, 0, 0) if luma > 140 else (255, 255, 255)


def dimmed(color, amount: float = 0.5) -> tuple[int, int, int]:
    """``color`` faded toward grey: a shape that is there but not the point."""
    return tuple(int(round(c * (1 - amount) + 128 * amount)) for c in color)


@dataclass(frozen=True, slots=True)
class Style:
    font_scale: float
    text_thickness: int
    text_height: int  # above the baseline: the same for any text in this font and size
    stroke: int  # outlines of boxes, zones and lines, in cv2 thickness units
    pad: int  # between a label's text and its edge


@lru_cache(maxsize=16)
def style_for(height: int, width: int) -> Style:
    """The style for a frame of this size. Text grows with the short side (the height of
    landscape video) so labels take the same share of the picture at any resolution, with
    a floor that keeps 360p readable. Outlines are never thinner than 2 (3 px drawn): 1 px
    lines fade under H.264's chroma subsampling."""
    short = min(height, width)
    scale = max(0.4, short / 1200)
    text_thickness = max(1, round(scale / 0.6))
    stroke = max(2, round(short / 270))
    (_, text_height), _ = cv2.getTextSize("Ag", FONT, scale, text_thickness)
    pad = max(2, round(text_height * 0.3))
    return Style(scale, text_thickness, text_height, stroke, pad)
