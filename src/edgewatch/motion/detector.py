"""Finding motion in one camera's frames: a running average of the blurred, scaled-down grey
picture; pixels far from it are motion; their outlines give the moving areas.

The picture is shrunk by a whole factor (720p by 6, to 213x120): OpenCV's area averaging
takes a fast path for whole factors (0.8 ms at 720p here, against 2.5 ms for 1280 -> 213
as asked), and the few pixels beyond a multiple of the factor are left out.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgewatch.motion.config import MotionConfig


class MotionDetector:
    """Call `update` with every frame of one camera, in order."""

    def __init__(self, config: MotionConfig, width: int, height: int) -> None:
        self.config = config
        self.factor = max(1, round(height / config.frame_height))
        self.scale = 1.0 / self.factor
        self.size = (max(1, width // self.factor), max(1, height // self.factor))
        self.crop = (self.size[1] * self.factor, self.size[0] * self.factor)
        self.min_pixels = config.min_area * self.size[0] * self.size[1]
        self.average: np.ndarray | None = None
        self.mask = np.ones(self.size[::-1], np.uint8)
        for polygon in config.mask:
            points = np.round(np.asarray(polygon, np.float64) * self.scale).astype(np.int32)
            cv2.fillPoly(self.mask, [points], 0)
        self.lighting = False  # the last update saw a change of light, not motion

    def update(self, grey: np.ndarray) -> np.ndarray:
        """(N, 4) float32 xyxy boxes, in the frame's pixels, of the areas that moved in
        ``grey`` (the frame in grey, `Frame.grey`; a BGR image works too)."""
        small = cv2.resize(
            grey[: self.crop[0], : self.crop[1]], self.size, interpolation=cv2.INTER_AREA
        )
        if small.ndim == 3:
            small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        grey = cv2.GaussianBlur(small, (3, 3), 0)
        if self.average is None or self.average.shape != grey.shape:
            self.average = grey.astype(np.float32)
            return np.zeros((0, 4), np.float32)
        difference = cv2.absdiff(grey, cv2.convertScaleAbs(self.average))
        _, moving = cv2.threshold(difference, self.config.threshold, 255, cv2.THRESH_BINARY)
        moving &= self.mask * 255
        changed = cv2.countNonZero(moving) / moving.size
        self.lighting = changed > self.config.lighting_fraction
        if self.lighting:  # the whole picture changed: start the background again
            self.average = grey.astype(np.float32)
            return np.array([[0, 0, *np.divide(self.size, self.scale)]], np.float32)
        cv2.accumulateWeighted(grey, self.average, self.config.average_alpha)
        if not changed:
            return np.zeros((0, 4), np.float32)
        moving = cv2.dilate(moving, None, iterations=2)
        contours, _ = cv2.findContours(moving, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes = []
        for contour in contours:
            if cv2.contourArea(contour) >= self.min_pixels:
                x, y, w, h = cv2.boundingRect(contour)
                boxes.append((x, y, x + w, y + h))
        if not boxes:
            return np.zeros((0, 4), np.float32)
        return np.asarray(boxes, np.float32) / self.scale
