"""Panels of the collector's own figures: forecasts and data completeness (docs/insight.md)."""

from __future__ import annotations

from grafanalib.core import Table, TimeSeries

from dashboards import influxql as iq
from dashboards import panels as p
from devices import schema

# Completeness points are stamped at the local midnight that starts their day (UTC+2).
DAY_BUCKET = "1d, -2h"
COMPLETE = p.thresholds(("red", None), ("yellow", 90), ("green", 99))


def forecast_days(*conditions: str) -> TimeSeries:
    """Battery and water days per hour of fleet time; a gap: not falling."""
    query = iq.select(
        [
            iq.agg("last", "battery_days", "battery days"),
            iq.agg("last", "water_days", "water days"),
        ],
        schema.FORECAST,
        *conditions,
        tags=[schema.STATION],
        interval="1h",
        fill="none",
    )
    return p.timeseries(
        "Days of battery and water left (forecast)",
        iq.targets(query, alias="$tag_station $col"),
        unit="d",
        steps=p.DAYS_LEFT,
        min_value=0,
        description="Computed each hour by the collector from the last 3-7 days: days until "
        "the battery's daily low reaches its low mark, and until the tanks are empty. No line: "
        "not falling (or under 3 days of history).",
    )


def completeness_bars(*conditions: str) -> TimeSeries:
    """Share of the expected readings received, per station and local day."""
    query = iq.select(
        [iq.agg("last", "pct", "completeness")],
        schema.COMPLETENESS,
        *conditions,
        tags=[schema.STATION],
        interval=DAY_BUCKET,
        fill="none",
    )
    return p.timeseries(
        "Data completeness per day",
        iq.targets(query, alias="$tag_station"),
        unit="percent",
        steps=COMPLETE,
        bars=True,
        min_value=0,
        max_value=100,
        description="Readings received / expected from the registry's reporting interval, "
        "per local day (today: so far).",
    )


def completeness_table() -> Table:
    """The fleet's stations by their mean completeness over the range, worst first."""
    query = iq.select(
        [iq.agg("mean", "pct", "completeness"), iq.agg("min", "pct", "worst day")],
        schema.COMPLETENESS,
        tags=[schema.STATION],
    )
    return p.table(
        "Data completeness by station",
        iq.targets(query, table=True),
        description="Mean and worst daily share of the expected readings received over the range.",
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
        overrides=[
            {
                "matcher": {"id": "byName", "options": name},
                "properties": [
                    {"id": "unit", "value": "percent"},
                    {"id": "thresholds", "value": COMPLETE},
                    {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                ],
            }
            for name in ("completeness", "worst day")
        ],
        sort_by="completeness",
    )
