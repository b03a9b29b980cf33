"""Per-camera multi-object tracking: stable track IDs and how long each object was seen."""

from edgewatch.track.base import Tracker
from edgewatch.track.bytetrack import ByteTracker
from edgewatch.track.cameras import CameraTrackers
from edgewatch.track.config import TrackerConfig

__all__ = ["ByteTracker", "CameraTrackers", "Tracker", "TrackerConfig"]
