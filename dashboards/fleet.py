"""Fleet overview: map by worst state, one table row per station, online/silent/alerting counts."""

from __future__ import annotations

from grafanalib.core import Dashboard, Table

from dashboards import influxql as iq
from dashboards import insight_panels as ip
from dashboards import kind_panels as kp
from dashboards import panels as p
from dashboards.render import make_dashboard
from devices import schema
from devices.fieldinfo import Lang

UID = "solarwater-fleet"

# Latest status per station; written on change only, so it is read without a time bound.
LAST_STATUS = (
    f'SELECT last("online") AS "online" FROM {iq.q(schema.STATION_STATUS)}'
    f" GROUP BY {iq.q(schema.STATION)}"
)
ONLINE = f'SELECT sum("online") AS "online" FROM ({LAST_STATUS})'
SILENT = (
    'SELECT count("state") AS "silent" FROM ('
    + iq.select(
        [iq.agg("last", "state")],
        schema.ALERT,
        f"{iq.q(schema.RULE)} = 'station_silent'",
        tags=[schema.STATION],
    )
    + ") WHERE \"state\" = 'firing'"
)
ALERTING = (
    'SELECT count("firing") AS "alerting" FROM (SELECT count("state") AS "firing" FROM ('
    + iq.firing_alerts(tags=(schema.STATION, schema.RULE))
    + f") GROUP BY {iq.q(schema.STATION)})"
)


def _firing_count(severity: str, weight: int) -> str:
    return (
        f'SELECT count("state") * {weight} AS "w" FROM ({iq.last_alert_state()}) '
        f"WHERE \"state\" = 'firing' AND {iq.q(schema.SEVERITY)} = '{severity}'"
        f" GROUP BY {iq.q(schema.STATION)}"
    )


# Worst state as a number: 10 per critical alert firing, 1 per warning (no row = all clear).
SCORE = (
    f'SELECT sum("w") AS "score" FROM ({_firing_count("critical", 10)}), '
    f"({_firing_count('warning', 1)}) GROUP BY {iq.q(schema.STATION)}"
)
LOCATIONS = iq.select(
    [iq.agg("last", "latitude"), iq.agg("last", "longitude"), iq.agg("last", "name")],
    schema.STATION_INFO,
    tags=[schema.STATION],
)
ACTIVE_BY_STATION = (
    'SELECT count("state") AS "active_alerts" FROM ('
    + iq.firing_alerts(tags=(schema.STATION, schema.RULE))
    + f") GROUP BY {iq.q(schema.STATION)}"
)
NAMES = iq.select(
    [iq.agg("last", "name")], schema.STATION_INFO, tags=[schema.STATION, schema.DISTRICT]
)

JOIN_BY_STATION = {"id": "joinByField", "options": {"byField": schema.STATION, "mode": "outer"}}


def _column(name: str, unit: str, steps: p.Json | None = None, cell: str = "auto") -> p.Json:
    props: list[p.Json] = [{"id": "unit", "value": unit}]
    if steps:
        props.append({"id": "thresholds", "value": steps})
        props.append({"id": "custom.cellOptions", "value": {"type": cell}})
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


def _stations_table(lang: Lang) -> Table:
    """One row per station: name, district, each fleet field, days of water, alerts firing."""
    fields = kp.fleet_fields()
    queries = [
        NAMES,
        *(kp.latest(kind, name) for kind, name, _ in fields),
        iq.days_of_water(),
        ACTIVE_BY_STATION,
    ]
    # Each query brings a Time column; the first fleet field's says when the station last sent.
    hidden = {f"Time {i}": True for i in range(1, len(queries) + 1) if i != 2}
    labels = {name: info.label(lang) for _, name, info in fields}
    first = fields[0][0].name if fields else "?"
    return p.table(
        "Stations",
        iq.targets(*queries, table=True),
        description="Latest "
        + ", ".join(map(kp.lower_first, labels.values()))
        + ", days of water left at the mean outflow of the range, "
        f"time of the latest {first} reading, alerts firing.",
        transformations=[
            JOIN_BY_STATION,
            {
                "id": "organize",
                "options": {
                    "excludeByName": hidden,
                    "renameByName": {
                        "Time 2": "Last seen",
                        "name": "Name",
                        "district": "District",
                        **labels,
                        "days_left": "Days of water",
                        "active_alerts": "Alerts firing",
                    },
                },
            },
        ],
        overrides=[
            *(
                _column(info.label(lang), info.grafana_unit, kp.steps(info), "color-background")
                for _, _, info in fields
            ),
            _column("Days of water", "d", p.DAYS_LEFT, "color-text"),
            _column("Last seen", "dateTimeFromNow"),
            _column("Alerts firing", "none", p.COUNT_BAD, "color-text"),
        ],
        sort_by=next(iter(labels.values()), None),
    )


def build(lang: Lang = "en") -> Dashboard:
    lay = p.Layout()
    fields = kp.fleet_fields()
    counts = [
        p.stat(
            "Stations online",
            iq.targets(ONLINE),
            steps=p.NEUTRAL,
            description="Stations whose latest retained status is online.",
            no_value="0",
        ),
        p.stat(
            "Stations silent",
            iq.targets(SILENT),
            steps=p.COUNT_BAD,
            description="Stations with the station_silent alert firing (no readings lately).",
            no_value="0",
        ),
        p.stat(
            "Stations alerting",
            iq.targets(ALERTING),
            steps=p.COUNT_WARN,
            description="Stations with at least one alert firing.",
            no_value="0",
        ),
        *(kp.worst(kind, name, lang).panel for kind, name, _ in fields),
    ]
    # one row, shared out: with five stats, 5+5+5+5+4 columns
    width, wider = divmod(24, len(counts))
    for i, panel in enumerate(counts):
        lay.add(panel, max(4, width + (i < wider)), 4)
    lay.newline()
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
    lay.add(_stations_table(lang), 14, 16)
    lay.newline()
    for kind, name, _ in fields:
        placed = kp.by_station(kind, name, lang)
        lay.add(placed.panel, placed.w, placed.h)
    lay.newline()
    lay.add(ip.completeness_table(), 8, 10)
    lay.add(ip.completeness_bars(), 16, 10)
    return make_dashboard(
        uid=UID,
        title="SolarWater · Fleet overview",
        description="Every station at a glance: where it is, its battery, its water, its alerts.",
        panels=lay.panels,
    )
