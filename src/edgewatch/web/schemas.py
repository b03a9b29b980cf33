"""The JSON API's answers as pydantic models: they document the API (OpenAPI at
/api/openapi.json, for Home Assistant and scripts). The routes build plain dicts and send
them as they are, so the models cost nothing per request; the tests check that the
answers fit them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Open(BaseModel):
    """Answers may carry more keys than documented; clients ignore those."""

    model_config = ConfigDict(extra="allow")


class Detail(BaseModel):
    detail: str


class LoginAnswer(BaseModel):
    ok: bool
    csrf: str = Field(description="Send it as the X-CSRF-Token header with every POST.")


class SessionInfo(BaseModel):
    user: str
    csrf: str | None = Field(description="None for the API token (no CSRF needed).")


class Camera(Open):
    name: str
    width: int | None = None
    height: int | None = None
    fps: float | None = Field(None, description="Frames/s measured.")
    state: str = Field(description="live, stalled, reconnecting, ended or not running.")
    last_frame: int | None = Field(None, description="Index of the last frame processed.")
    objects: dict[str, int] = Field(default_factory=dict, description="In view now, by label.")
    detections: int = Field(0, description="Objects in view now.")


class Happening(Open):
    episode: str
    camera: str
    kind: str
    label: str
    time: str | None = Field(description="ISO 8601, UTC.")
    time_s: float = Field(description="Epoch seconds.")
    zone: str | None = None
    direction: str | None = None


class Event(Open):
    """An episode (`Episode.to_dict`), its happenings and links to its pictures."""

    id: str
    camera: str
    label: str
    start_time: str
    end_time: str | None
    start_s: float = Field(description="Epoch seconds.")
    end_s: float | None = Field(description="Epoch seconds; None while in view.")
    happenings: list[Happening]
    snapshot_url: str | None
    thumbnail_url: str | None


class EventsPage(BaseModel):
    events: list[Event] = Field(description="Newest first.")


class Facets(BaseModel):
    cameras: list[str]
    labels: list[str]
    zones: list[str] = Field(description="Zones and lines.")
    kinds: list[str]


class Series(BaseModel):
    time: list[float] = Field(description="Bucket starts, epoch seconds.")
    detections: list[float | None] = Field(description="Mean objects per frame.")
    avg_box_width: list[float | None]
    avg_box_height: list[float | None]
    avg_confidence_pct: list[float | None]
    objects_per_label: dict[str, list[float | None]] = Field(
        description="Mean objects of each label per frame."
    )


class LabelRun(BaseModel):
    object: int
    label: str
    start: float
    end: float


class StateChange(BaseModel):
    object: int
    from_: str = Field(alias="from")
    to: str
    time: float
    kept_s: float = Field(description="How long the object had kept the old label.")


class Panels(BaseModel):
    camera: str
    since: float
    until: float
    bucket_s: int
    last_frame_number: int | None
    current_total: int
    avg_confidence_pct: float | None
    series: Series
    label_timeline: list[LabelRun]
    state_changes: list[StateChange]


class LineCount(BaseModel):
    camera: str
    line: str | None
    direction: str | None
    start: float | None = None
    count: int


class ZoneCount(BaseModel):
    camera: str
    zone: str | None
    start: float | None = None
    count: int


class CountTotals(BaseModel):
    lines: list[LineCount]
    zones: list[ZoneCount]


class Counts(BaseModel):
    bucket: str = Field(description="hour or day (the box's local time).")
    since: float
    lines: list[LineCount]
    zones: list[ZoneCount]
    totals: CountTotals


class CameraHealth(BaseModel):
    name: str
    fps: float | None
    drops: int
    reconnects: int
    state: str | None


class System(BaseModel):
    time: float
    host: dict[str, float]
    cameras: list[CameraHealth]
    queues: dict[str, int | None] = Field(description="Items waiting; None: no such queue.")
    raw: dict[str, float]
