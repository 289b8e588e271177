"""Simulated time: the station timezone, RFC 3339 text and duration strings."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

MAPUTO = timezone(timedelta(hours=2), "CAT")
_DURATION_RE = re.compile(r"(\d+)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds in a duration like `90s`, `5m`, `6h`, `2d` or `1h30m`; ValueError otherwise."""
    s = text.strip().lower()
    if not s or _DURATION_RE.sub("", s) != "":
        raise ValueError(f"bad duration {text!r} (use e.g. 90s, 5m, 6h, 2d)")
    total = sum(int(n) * _UNIT_S[u] for n, u in _DURATION_RE.findall(s))
    if total <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return total


def parse_rfc3339(text: str) -> datetime:
    """An aware datetime from RFC 3339 text with an offset (or Z); ValueError otherwise."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ValueError(
            f"bad time {text!r} (use RFC 3339, e.g. 2025-01-15T06:00:00+02:00)"
        ) from None
    if dt.tzinfo is None:
        raise ValueError(f"time {text!r} needs an offset, e.g. +02:00 or Z")
    return dt


def to_local(epoch_s: float) -> datetime:
    """Station local time (Africa/Maputo, UTC+2, no daylight saving)."""
    return datetime.fromtimestamp(epoch_s, MAPUTO)


def format_rfc3339(epoch_s: float) -> str:
    """RFC 3339 with the +02:00 offset, to the second (milliseconds when not whole)."""
    dt = to_local(epoch_s)
    if epoch_s == int(epoch_s):
        return dt.isoformat(timespec="seconds")
    return dt.isoformat(timespec="milliseconds")


def epoch_of(dt: datetime) -> float:
    """Epoch seconds of an aware datetime."""
    return dt.astimezone(UTC).timestamp()
