"""Fleet overview: map by worst state, one table row per station, online/silent/alerting counts."""

from __future__ import annotations

from grafanalib.core import Dashboard

from dashboards import influxql as iq
from dashboards import panels as p
from dashboards.render import make_dashboard

UID = "solarwater-fleet"

# Latest status per station; written on change only, so it is read without a time bound.
LAST_STATUS = 'SELECT last("online") AS "online" FROM "station_status" GROUP BY "station"'
ONLINE = f'SELECT sum("online") AS "online" FROM ({LAST_STATUS})'
SILENT = (
    'SELECT count("state") AS "silent" FROM ('
    + iq.select([iq.agg("last", "state")], "alert", "\"rule\" = 'station_silent'", tags=["station"])
    + ") WHERE \"state\" = 'firing'"
)
ALERTING = (
    'SELECT count("firing") AS "alerting" FROM (SELECT count("state") AS "firing" FROM ('
    + iq.firing_alerts(tags=("station", "rule"))
    + ') GROUP BY "station")'
)


def _firing_count(severity: str, weight: int) -> str:
    return (
        f'SELECT count("state") * {weight} AS "w" FROM ({iq.last_alert_state()}) '
        f'WHERE "state" = \'firing\' AND "severity" = \'{severity}\' GROUP BY "station"'
    )


# Worst state as a number: 10 per critical alert firing, 1 per warning (no row = all clear).
SCORE = (
    f'SELECT sum("w") AS "score" FROM ({_firing_count("critical", 10)}), '
    f'({_firing_count("warning", 1)}) GROUP BY "station"'
)
LOCATIONS = iq.select(
    [iq.agg("last", "latitude"), iq.agg("last", "longitude"), iq.agg("last", "name")],
    "station_info",
    tags=["station"],
)
SOC_LAST = iq.select([iq.agg("last", "battery_soc_pct", "soc")], "solar", tags=["station"])
TANK_LAST = iq.select([iq.agg("last", "level_pct", "tank_level")], "tank", tags=["station"])
ACTIVE_BY_STATION = (
    'SELECT count("state") AS "active_alerts" FROM ('
    + iq.firing_alerts(tags=("station", "rule"))
    + ') GROUP BY "station"'
)
NAMES = iq.select([iq.agg("last", "name")], "station_info", tags=["station", "district"])

JOIN_BY_STATION = {"id": "joinByField", "options": {"byField": "station", "mode": "outer"}}


def _column(name: str, unit: str, steps: p.Json | None = None, cell: str = "auto") -> p.Json:
    props: list[p.Json] = [{"id": "unit", "value": unit}]
    if steps:
        props.append({"id": "thresholds", "value": steps})
        props.append({"id": "custom.cellOptions", "value": {"type": cell}})
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


def build() -> Dashboard:
    lay = p.Layout()
    lay.add(
        p.stat(
            "Stations online",
            iq.targets(ONLINE),
            steps=p.NEUTRAL,
            description="Stations whose latest retained status is online.",
            no_value="0",
        ),
        6,
        4,
    )
    lay.add(
        p.stat(
            "Stations silent",
            iq.targets(SILENT),
            steps=p.COUNT_BAD,
            description="Stations with the station_silent alert firing (no readings lately).",
            no_value="0",
        ),
        6,
        4,
    )
    lay.add(
        p.stat(
            "Stations alerting",
            iq.targets(ALERTING),
            steps=p.COUNT_WARN,
            description="Stations with at least one alert firing.",
            no_value="0",
        ),
        6,
        4,
    )
    lay.add(
        p.stat(
            "Lowest battery SoC",
            iq.targets(f'SELECT min("soc") AS "soc" FROM ({SOC_LAST})'),
            unit="percent",
            steps=p.SOC,
            description="The lowest latest state of charge across the fleet.",
        ),
        6,
        4,
    )
    lay.add(
        p.geomap(
            "Stations by worst state",
            iq.targets(LOCATIONS, SCORE, table=True),
            color_field="score",
            steps=p.thresholds(("green", None), ("yellow", 1), ("red", 10)),
            description="Green: no alert firing; yellow: warnings; red: a critical alert "
            "(battery critical, tank empty, controller fault, station silent).",
            transformations=[JOIN_BY_STATION],
        ),
        10,
        16,
    )
    lay.add(
        p.table(
            "Stations",
            iq.targets(
                NAMES, SOC_LAST, TANK_LAST, iq.days_of_water(), ACTIVE_BY_STATION, table=True
            ),
            description="Latest battery SoC and tank level, days of water left at the mean "
            "outflow of the range, time of the latest solar reading, alerts firing.",
            transformations=[
                JOIN_BY_STATION,
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {
                            "Time 1": True,
                            "Time 3": True,
                            "Time 4": True,
                            "Time 5": True,
                        },
                        "renameByName": {
                            "Time 2": "Last seen",
                            "name": "Name",
                            "district": "District",
                            "soc": "Battery SoC",
                            "tank_level": "Tank level",
                            "days_left": "Days of water",
                            "active_alerts": "Alerts firing",
                        },
                    },
                },
            ],
            overrides=[
                _column("Battery SoC", "percent", p.SOC, "color-background"),
                _column("Tank level", "percent", p.TANK_LEVEL, "color-background"),
                _column("Days of water", "d", p.DAYS_LEFT, "color-text"),
                _column("Last seen", "dateTimeFromNow"),
                _column("Alerts firing", "none", p.COUNT_BAD, "color-text"),
            ],
            sort_by="Battery SoC",
        ),
        14,
        16,
    )
    lay.newline()
    lay.add(
        p.timeseries(
            "Battery SoC by station",
            iq.targets(
                iq.select(
                    [iq.agg("mean", "battery_soc_pct", "soc")],
                    "solar",
                    tags=["station"],
                    interval=iq.INTERVAL,
                    fill="null",
                ),
                alias="$tag_station",
            ),
            unit="percent",
            steps=p.SOC,
            min_value=0,
            max_value=100,
            interval="5m",
            show_thresholds=True,
        ),
        12,
        9,
    )
    lay.add(
        p.timeseries(
            "Tank level by station",
            iq.targets(
                iq.select(
                    [iq.agg("mean", "level_pct", "level")],
                    "tank",
                    tags=["station"],
                    interval=iq.INTERVAL,
                    fill="null",
                ),
                alias="$tag_station",
            ),
            unit="percent",
            steps=p.TANK_LEVEL,
            min_value=0,
            max_value=100,
            interval="5m",
            show_thresholds=True,
        ),
        12,
        9,
    )
    return make_dashboard(
        uid=UID,
        title="SolarWater · Fleet overview",
        description="Every station at a glance: where it is, its battery, its water, its alerts.",
        panels=lay.panels,
    )
