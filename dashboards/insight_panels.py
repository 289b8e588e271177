"""Panels of the collector's own figures: forecasts and data completeness (docs/insight.md)."""

from __future__ import annotations

from grafanalib.core import Table, TimeSeries

from dashboards import influxql as iq
from dashboards import panels as p
from devices import schema
from devices.fieldinfo import Lang, Text

# Completeness points are stamped at the local midnight that starts their day (UTC+2).
DAY_BUCKET = "1d, -2h"
COMPLETE = p.thresholds(("red", None), ("yellow", 90), ("green", 99))
TEXT = {
    "forecast": Text(
        "Dias de bateria e água (previsão)", "Days of battery and water left (forecast)"
    ),
    "forecast_d": Text(
        "Calculado a cada hora pelo coletor a partir dos últimos 3-7 dias: dias até o mínimo "
        "diário da bateria chegar à sua marca baixa, e até os tanques esvaziarem. Sem linha: "
        "não está a descer (ou menos de 3 dias de histórico).",
        "Computed each hour by the collector from the last 3-7 days: days until the battery's "
        "daily low reaches its low mark, and until the tanks are empty. No line: not falling "
        "(or under 3 days of history).",
    ),
    "per_day": Text("Dados completos por dia", "Data completeness per day"),
    "per_day_d": Text(
        "Leituras recebidas / esperadas pelo intervalo de reporte do registo, por dia local "
        "(hoje: até agora).",
        "Readings received / expected from the registry's reporting interval, per local day "
        "(today: so far).",
    ),
    "by_station": Text("Dados completos por estação", "Data completeness by station"),
    "by_station_d": Text(
        "Parte média e pior dia das leituras esperadas que chegaram, no intervalo.",
        "Mean and worst daily share of the expected readings received over the range.",
    ),
}


def forecast_days(lang: Lang, *conditions: str) -> TimeSeries:
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
        fill="null",
    )
    return p.timeseries(
        TEXT["forecast"](lang),
        iq.targets(query, alias="$tag_station $col"),
        unit="d",
        steps=p.DAYS_LEFT,
        min_value=0,
        description=TEXT["forecast_d"](lang),
    )


def completeness_bars(lang: Lang, *conditions: str) -> TimeSeries:
    """Share of the expected readings received, per station and local day."""
    query = iq.select(
        [iq.agg("last", "pct", "completeness")],
        schema.COMPLETENESS,
        *conditions,
        tags=[schema.STATION],
        interval=DAY_BUCKET,
        fill="null",
    )
    return p.timeseries(
        TEXT["per_day"](lang),
        iq.targets(query, alias="$tag_station"),
        unit="percent",
        steps=COMPLETE,
        bars=True,
        min_value=0,
        max_value=100,
        description=TEXT["per_day_d"](lang),
    )


def completeness_table(lang: Lang) -> Table:
    """The fleet's stations by their mean completeness over the range, worst first."""
    query = iq.select(
        [iq.agg("mean", "pct", "completeness"), iq.agg("min", "pct", "worst day")],
        schema.COMPLETENESS,
        tags=[schema.STATION],
    )
    return p.table(
        TEXT["by_station"](lang),
        iq.targets(query, table=True),
        description=TEXT["by_station_d"](lang),
        overrides=[
            {
                "matcher": {"id": "byName", "options": "Time"},
                "properties": [{"id": "custom.hidden", "value": True}],
            },
            *(
                {
                    "matcher": {"id": "byName", "options": name},
                    "properties": [
                        {"id": "unit", "value": "percent"},
                        {"id": "thresholds", "value": COMPLETE},
                        {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                    ],
                }
                for name in ("completeness", "worst day")
            ),
        ],
        sort_by="completeness",
    )
