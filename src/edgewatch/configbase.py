"""The one base of every config model: unknown keys are errors, so typos do not pass."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    """A config section. Every field carries a description (config.example.yaml and
    `edgewatch config check` speak the same words). Numbers are finite: YAML's ``.inf``
    and ``.nan`` are errors here, not a thread that dies on them later."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
