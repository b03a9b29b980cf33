"""Where points go in InfluxDB: the 1.x API (/write?db=) or the 2.x API (/api/v2/write)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from edgewatch.configbase import ConfigModel
from edgewatch.durations import Duration
from edgewatch.redact import redact


class InfluxConfig(ConfigModel):
    """An InfluxDB instance and its credentials."""

    url: str = Field("http://127.0.0.1:8086", description="Base URL of the InfluxDB HTTP API.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        shown = redact(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{shown} is not an http(s) URL (e.g. http://127.0.0.1:8086)")
        try:
            parts.port  # noqa: B018 - urllib checks the range when asked
        except ValueError:
            raise ValueError(f"{shown}: the port is not a number from 1 to 65535") from None
        return url

    api: Literal["v1", "v2"] = Field(
        "v1", description="v1: /write?db= (InfluxDB 1.x, VictoriaMetrics); v2: /api/v2/write."
    )
    database: str = Field("edgewatch", description="v1: database to write to.")
    retention_policy: str | None = Field(None, description="v1: retention policy (default RP).")
    username: str | None = Field(None, description="v1: user name, when auth is on.")
    password: SecretStr | None = Field(
        None, description="v1: password; or password_file, or EDGEWATCH_INFLUX_PASSWORD."
    )
    password_file: Path | None = Field(None, description="v1: file holding the password.")
    retention: Duration | None = Field(
        None,
        description="`edgewatch influx setup`: how long points are kept, e.g. 30d (1.x: the "
        "retention policy's duration; 2.x: the bucket's retention). Unset: forever.",
    )
    org: str | None = Field(None, description="v2: organisation name or ID.")
    bucket: str | None = Field(None, description="v2: bucket to write to.")
    org_id: str | None = Field(
        None, description="v2: organisation ID (the Flux task's experimental.to needs IDs)."
    )
    bucket_id: str | None = Field(None, description="v2: bucket ID (for the Flux task).")
    token: SecretStr | None = Field(
        None, description="v2: API token; or token_file, or EDGEWATCH_INFLUX_TOKEN."
    )
    token_file: Path | None = Field(None, description="v2: file holding the API token.")
    measurement: str = Field(
        "BW_Inference_results", description="Measurement of detection points (one per object)."
    )
    system_measurement: str = Field(
        "edge_system", description="Measurement of the edge box's system statistics."
    )
    batch_size: int = Field(500, ge=1, le=100_000, description="Most points in one write.")
    flush_interval_s: float = Field(
        1.0, gt=0, description="Longest a point waits before it is written."
    )
    timeout_s: float = Field(10.0, gt=0, description="HTTP timeout of one write.")
    retry_max_s: float = Field(
        30.0,
        gt=0,
        description="Longest wait between retries of a failed write (the wait doubles from "
        "0.5 s up to this); points are kept meanwhile.",
    )
    max_pending_points: int = Field(
        100_000,
        ge=1,
        description="Most points held in memory while InfluxDB is unreachable; beyond it new "
        "points are refused (ingest then leaves their messages on the broker).",
    )
