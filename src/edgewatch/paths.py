"""Where edgewatch finds and keeps things on the box: the sample clip, state, caches."""

from __future__ import annotations

import os
from pathlib import Path

#: Real CCTV footage from Debian's opencv-doc: a fixed outdoor camera, people walking,
#: a parked van and car; 768x576, 10 fps, 795 frames.
SAMPLE_CLIP = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def sample_clip() -> Path:
    """The bundled clip, or the file ``EDGEWATCH_SAMPLE_CLIP`` names."""
    override = os.environ.get("EDGEWATCH_SAMPLE_CLIP")
    return Path(override) if override else SAMPLE_CLIP


def default_state_dir() -> Path:
    """Queues, stores and snapshots that outlive a run: $XDG_STATE_HOME/edgewatch."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "edgewatch"


def default_cache_dir() -> Path:
    """What can be rebuilt (the ONNX model): $XDG_CACHE_HOME/edgewatch."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgewatch"
