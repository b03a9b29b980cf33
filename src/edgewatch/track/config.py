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
        0.2,
        gt=0.0,
        le=1.0,
        description="Least IoU (buffered, see match_buffer) between a track's predicted "
        "box and a high-confidence detection for them to match.",
    )
    start_margin: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="A detection starts a new track only when it scores this much above "
        "its class's threshold (as ByteTrack does): a doubtful box continues an object, "
        "never starts one.",
    )
    start_max_covered: float = Field(
        0.7,
        gt=0.0,
        le=1.0,
        description="A box this much inside the box of an object matched in the same "
        "frame starts no track (a part of that object, or a duplicate).",
    )
    match_buffer: float = Field(
        0.5,
        ge=0.0,
        le=2.0,
        description="Boxes are grown by this share of their width and height on each "
        "side before the IoU of the first match (a buffered IoU: at a few detections a "
        "second a walker's boxes barely overlap from one to the next).",
    )
    appearance: bool = Field(
        True,
        description="Also match by colours (a histogram of each box's upper and lower half): "
        "keeps IDs apart when people walk side by side and finds a lost track again.",
    )
    min_similarity: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="Colour similarity (0-1) below which a track and a box never match.",
    )
    look_max_covered: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="A box more than this share under another box shows mostly that other "
        "object: its colours are not used (position alone decides for it).",
    )
    refind_similarity: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="Colour similarity from which a lost track takes up a new box near it "
        "again, keeping its ID.",
    )
    refind_s: float = Field(
        10.0,
        ge=0.0,
        description="How long a lost object can be found again by its looks and keep its "
        "ID (people in a group, behind a van). One last seen at the picture's edge walked "
        "out: only lost_timeout_s for it.",
    )
    refind_speed: float = Field(
        1.0,
        ge=0.0,
        description="How far a lost object may have gone, in its box heights per second.",
    )
    low_match_iou: float = Field(
        0.7,
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
        3,
        ge=1,
        description="Detections a new track needs before it is reported (no one-frame "
        "blips); it also needs a score (median of its last 10 confidences) at its class's "
        "threshold.",
    )
