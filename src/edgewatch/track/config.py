"""Configuration of the per-camera multi-object tracker."""

from __future__ import annotations

from pydantic import Field

from edgewatch.configbase import ConfigModel


class TrackerConfig(ConfigModel):
    """How detections are linked into tracks with stable IDs (`ByteTracker`)."""

    enabled: bool = Field(
        True, description="Track objects so that objectID is a stable track ID per camera."
    )
    high_confidence: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Detections scored at least this start tracks and are matched first. "
        "In `edgewatch run` the detector's thresholds (detector.confidence and "
        "class_confidence) decide this per class instead.",
    )
    low_confidence: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Detections scored from this up to high_confidence only continue tracks "
        "already followed (second stage: a partly hidden person scores low); lower ones are "
        "ignored. `edgewatch run` asks the detector for detections down to this.",
    )
    match_iou: float = Field(
        0.3,
        gt=0.0,
        le=1.0,
        description="Least IoU between a track's predicted box and a high-confidence "
        "detection for them to match.",
    )
    low_match_iou: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Least IoU for a low-confidence detection to continue a track: stricter "
        "than match_iou, as low scores include clutter.",
    )
    lost_timeout_s: float = Field(
        2.0,
        ge=0.0,
        description="Seconds an unseen track is kept, its box predicted, before it is "
        "dropped: covers occlusions and missed detections.",
    )
    min_hits: int = Field(
        2,
        ge=1,
        description="Detections a new track needs before it is reported (no one-frame blips).",
    )
