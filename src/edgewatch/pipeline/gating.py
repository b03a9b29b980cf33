"""Motion gating: per camera, what the detector looks at in each frame.

    reader thread:     observe(frame)   motion boxes of the frame (the running average
                                        must see every frame, detected or not)
    detection stage:   plan(frame, ...) skip it, look at the whole frame, or at crops
                                        around what moved and the objects followed

No motion and nothing moving: no detection (the tracker predicts), except a full-frame
pass every ``motion.refresh_s`` so that objects standing still stay known and their
leaving is seen. A change of light, or crops that would cost more than the whole picture,
give a full-frame pass too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewatch.motion.detector import MotionDetector
from edgewatch.motion.regions import plan_regions
from edgewatch.sources.base import CameraConfig
from edgewatch.types import Frame

MOVING_PX_S = 10.0  # a followed object moving faster than this is looked for every frame


@dataclass(frozen=True, slots=True)
class Plan:
    """``regions`` None: the whole frame; an empty array: nothing (skipped)."""

    regions: np.ndarray | None

    @property
    def skipped(self) -> bool:
        return self.regions is not None and not len(self.regions)


WHOLE = Plan(None)
SKIP = Plan(np.zeros((0, 4), np.int64))


class CameraGate:
    def __init__(
        self, camera: CameraConfig, width: int, height: int, *, input_size: int, offset: float = 0
    ) -> None:
        """``offset``: seconds to shift this camera's whole-frame refreshes by, so that the
        cameras of a box started together do not all refresh in the same instant."""
        self.config = camera.motion
        self.width, self.height, self.input_size = width, height, input_size
        self.motion = (
            MotionDetector(camera.motion, width, height) if camera.motion.enabled else None
        )
        self.interval = 1.0 / camera.detect_fps if camera.detect_fps else 0.0
        self._last_detected = float("-inf")
        self._last_whole: float | None = float("-inf") if not offset else None
        self._offset = offset

    def observe(self, frame: Frame) -> None:
        """In the camera's reader thread, for every frame."""
        if self.motion is not None:
            frame.motion = self.motion.update(frame.grey)

    def plan(self, frame: Frame, moving: np.ndarray) -> Plan:
        """In frame order, at detection time. ``moving``: predicted boxes of the objects
        being followed that move. Call `detecting` when the plan is carried out."""
        now = frame.timestamp
        if self._last_whole is None:  # the first frame: refreshes start `offset` later
            self._last_whole = now - self.config.refresh_s + self._offset
        if now - self._last_detected < self.interval:
            return SKIP
        return WHOLE if self.motion is None else self._motion_plan(frame, moving, now)

    def overdue(self, frame: Frame) -> bool:
        """A detection this camera wants is a whole interval late (one frame put off for
        a busy detector is not: the next frame gets it)."""
        late = max(self.interval, 0.1)
        return frame.timestamp - self._last_detected >= self.interval + late

    def detecting(self, frame: Frame, plan: Plan) -> None:
        """The plan goes to the detector (one not carried out, for a busy detector, is
        asked for again at the next frame)."""
        if not plan.skipped:
            self._last_detected = frame.timestamp
            if plan.regions is None:
                self._last_whole = frame.timestamp

    def _motion_plan(self, frame: Frame, moving: np.ndarray, now: float) -> Plan:
        if now - self._last_whole >= self.config.refresh_s or self.motion.lighting:
            return WHOLE
        motion = frame.motion if frame.motion is not None else np.zeros((0, 4), np.float32)
        boxes = np.concatenate([motion.reshape(-1, 4), np.asarray(moving).reshape(-1, 4)])
        if not len(boxes):
            return SKIP
        regions = plan_regions(boxes, self.width, self.height, size=self.input_size)
        return WHOLE if regions is None else Plan(regions)
