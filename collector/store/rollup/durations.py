"""InfluxQL duration literals (`90d`, `24h`, `INF`) as settings: checked, and in milliseconds."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_DURATION = re.compile(r"(\d+)(w|d|h|m)")
_UNIT_MS = {"w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000}
INFINITE = "INF"


def duration_ms(text: str) -> int | None:
    """Milliseconds of `text`; None for INF (kept for ever)."""
    if text == INFINITE:
        return None
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 90d, 24h, 52w or INF")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def _check(text: str) -> str:
    duration_ms(text)
    return text


def _check_finite(text: str) -> str:
    if duration_ms(text) is None:
        raise ValueError("must be a finite duration such as 24h")
    return text


Duration = Annotated[str, AfterValidator(_check)]
FiniteDuration = Annotated[str, AfterValidator(_check_finite)]
