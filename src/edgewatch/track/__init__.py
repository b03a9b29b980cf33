"""Per-camera multi-object tracking: stable track IDs and how long each object was seen."""

from edgewatch.track.bytetrack import ByteTracker
from edgewatch.track.config import TrackerConfig

__all__ = ["ByteTracker", "TrackerConfig"]
