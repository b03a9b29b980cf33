"""One tracker per camera, for a pipeline that sees frames of several cameras."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from edgewatch.track.bytetrack import ByteTracker
from edgewatch.track.config import TrackerConfig
from edgewatch.types import Detections


class CameraTrackers:
    """Routes each camera's detections to its own `ByteTracker`: IDs are per camera."""

    def __init__(
        self,
        cameras: Iterable[str],
        config: TrackerConfig,
        class_names: Mapping[int, str],
        *,
        high_confidence: np.ndarray | None = None,
    ) -> None:
        self.trackers: dict[str, ByteTracker] = {
            camera: ByteTracker(config, class_names, high_confidence=high_confidence)
            for camera in cameras
        }

    def update(
        self,
        camera: str,
        detections: Detections | None,
        timestamp: float,
        *,
        observed: np.ndarray | None = None,
        image: np.ndarray | None = None,
    ) -> Detections:
        return self.trackers[camera].update(detections, timestamp, observed=observed, image=image)

    def moving_boxes(self, camera: str, min_speed: float) -> np.ndarray:
        return self.trackers[camera].moving_boxes(min_speed)
