"""The `forecast` and `completeness` points (design §4), as line protocol."""

from __future__ import annotations

from collections.abc import Mapping

from collector.insight.completeness import DayCompleteness
from devices import schema
from devices.lineprotocol import fields_text, series


def forecast_line(station: str, ts_ms: int, fields: Mapping[str, float]) -> str | None:
    """One forecast point; None when no field is falling (a point needs a field)."""
    if not fields:
        return None
    key = series(schema.FORECAST, {schema.STATION: station})
    return f"{key} {fields_text(fields)} {ts_ms}"


def completeness_line(c: DayCompleteness, day_start_ms: int) -> str:
    """One day's completeness, stamped at the local midnight it starts (rewritten in place)."""
    key = series(schema.COMPLETENESS, {schema.STATION: c.station, schema.DAY: c.day.isoformat()})
    fields = {"expected": c.expected, "received": c.received, "pct": c.pct}
    return f"{key} {fields_text(fields)} {day_start_ms}"
