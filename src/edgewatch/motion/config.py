"""Per camera: how motion is found, and how often the whole picture is checked anyway."""

from __future__ import annotations

from pydantic import Field, field_validator

from edgewatch.configbase import ConfigModel
from edgewatch.geometry import Point, self_intersection


class MotionConfig(ConfigModel):
    """Motion gating, as Frigate does it: detection runs only where something moved (and
    around the objects being followed), plus a full-picture pass every ``refresh_s``."""

    enabled: bool = Field(
        True, description="Detect only where something moved; false: every frame, everywhere."
    )
    threshold: int = Field(
        25,
        ge=1,
        le=255,
        description="Brightness difference (0-255) from the running average, after blurring, "
        "that counts as motion. Higher ignores more sensor noise and rain.",
    )
    frame_height: int = Field(
        120, ge=32, le=1080, description="Motion is found on the picture scaled to this height."
    )
    min_area: float = Field(
        0.0003,
        ge=0,
        le=1,
        description="Smallest moving area that counts, as a fraction of the picture (a "
        "distant person at 1080p covers about 0.001).",
    )
    average_alpha: float = Field(
        0.05,
        gt=0,
        le=1,
        description="How fast the background average follows the picture (per frame).",
    )
    refresh_s: float = Field(
        5.0,
        gt=0,
        description="Detect on the whole picture at least this often, so objects standing "
        "still (a parked car) stay known and their leaving is seen.",
    )
    lighting_fraction: float = Field(
        0.6,
        gt=0,
        le=1,
        description="When more than this fraction of the picture changes at once, it is "
        "light (a cloud, headlights, night vision), not motion: one full-picture pass.",
    )
    mask: list[list[Point]] = Field(
        default_factory=list,
        description="Polygons [[x, y], ...] in pixels where motion is ignored (a clock, a "
        "tree, a road beyond the fence). Objects there are still found by the refreshes.",
    )

    @field_validator("mask")
    @classmethod
    def _polygons(cls, mask: list[list[Point]]) -> list[list[Point]]:
        for i, polygon in enumerate(mask):
            if len(polygon) < 3:
                raise ValueError(f"mask polygon {i} needs at least 3 points, got {len(polygon)}")
            if self_intersection(polygon) is not None:
                raise ValueError(f"mask polygon {i} crosses itself; list its corners in order")
        return mask
