"""Durations as people write them in configs and flags: '30s', '10m', '1h', '7d', '2w'."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_FORMAT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*")


def parse_duration(text: str | float | int) -> float:
    """'30s', '15m', '1h', '2d', '1w' or plain seconds -> seconds; ValueError otherwise."""
    if isinstance(text, bool):
        raise ValueError("a duration is a number of seconds or text like 30s, 10m, 1h, 7d")
    if isinstance(text, int | float):
        if not math.isfinite(text) or text < 0:
            raise ValueError("a duration is a finite, non-negative number of seconds")
        return float(text)
    match = _FORMAT.fullmatch(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration (e.g. 30s, 10m, 1h, 7d)")
    return float(match[1]) * _UNITS[match[2] or "s"]


def format_duration(seconds: float) -> str:
    """The shortest whole-unit spelling, as Flux and InfluxQL write durations: 600 -> '10m'."""
    whole = round(seconds)
    if whole <= 0 or abs(whole - seconds) > 1e-9:
        raise ValueError(f"{seconds} s is not a whole, positive number of seconds")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


#: A config field holding seconds, written as a number or as '10m', '1h', '7d'.
Duration = Annotated[float, BeforeValidator(parse_duration)]
