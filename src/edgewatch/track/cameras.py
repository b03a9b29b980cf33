"""One tracker per camera, for a pipeline that sees frames of several cameras."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from edgewatch.track.bytetrack import ByteTracker
from edgewatch.track.config import TrackerConfig
from edgewatch.types import Detections


class CameraTrackers:
    """Routes each camera's detections to its own tracker: IDs are per camera.

    ``together``: the cameras share one `ByteTracker`, a lane each, and `update_batch`
    tracks one frame of each at once (the same results, for about the numpy work of one
    camera's update: the GPU engine's shards, whose batches hold many cameras' frames);
    a single `update` there costs a little more than with a tracker each.
    """

    def __init__(
        self,
        cameras: Iterable[str],
        config: TrackerConfig,
        class_names: Mapping[int, str],
        *,
        high_confidence: np.ndarray | None = None,
        together: bool = False,
    ) -> None:
        cameras = list(cameras)
        self._lanes = {camera: lane for lane, camera in enumerate(cameras)}
        self._shared: ByteTracker | None = None
        self.trackers: dict[str, ByteTracker] = {}
        if together:
            self._shared = ByteTracker(
                config, class_names, high_confidence=high_confidence, lanes=len(cameras)
            )
        else:
            self.trackers = {
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
        if self._shared is not None:
            return self._shared.update(
                detections, timestamp, observed=observed, image=image, lane=self._lanes[camera]
            )
        return self.trackers[camera].update(detections, timestamp, observed=observed, image=image)

    def update_batch(self, frames: Sequence[tuple[str, Detections, float]]) -> list[Detections]:
        """(camera, detections, timestamp) of a batch, by position only: each frame's
        tracked detections, in the batch's order. A camera's frames are taken in order;
        with ``together``, in rounds of one frame a camera."""
        if self._shared is None:
            return [self.update(camera, found, timestamp) for camera, found, timestamp in frames]
        rounds: list[list[int]] = []
        taken: dict[str, int] = {}
        for position, (camera, _, _) in enumerate(frames):
            turn = taken.get(camera, 0)
            taken[camera] = turn + 1
            if turn == len(rounds):
                rounds.append([])
            rounds[turn].append(position)
        out: list[Detections] = [None] * len(frames)  # type: ignore[list-item]
        for members in rounds:
            lanes = [(self._lanes[frames[i][0]], frames[i][1], frames[i][2]) for i in members]
            for position, tracked in zip(members, self._shared.update_lanes(lanes), strict=True):
                out[position] = tracked
        return out

    def moving_boxes(self, camera: str, min_speed: float) -> np.ndarray:
        if self._shared is not None:
            return self._shared.moving_boxes(min_speed, lane=self._lanes[camera])
        return self.trackers[camera].moving_boxes(min_speed)
