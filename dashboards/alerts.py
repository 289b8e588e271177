"""Alerts: what is firing now, the history of transitions, and mean time to resolve."""

from __future__ import annotations

from grafanalib.core import Dashboard

from dashboards import influxql as iq
from dashboards import panels as p
from dashboards.render import make_dashboard
from devices import schema

UID = "solarwater-alerts"

FIRING = iq.firing_alerts()
ACTIVE = f'SELECT count("state") AS "active" FROM ({FIRING})'
HISTORY = (
    f'SELECT "station", "rule", "severity", "state", "value", "message" FROM {iq.q(schema.ALERT)}'
    + iq.where()
    + " ORDER BY time DESC LIMIT 1000"
)
TIMELINE = iq.select(
    [iq.agg("last", "state")],
    schema.ALERT,
    tags=[schema.STATION, schema.RULE],
    interval=iq.INTERVAL,
    fill="previous",
)


def _severity_count(severity: str) -> str:
    return f'SELECT count("state") AS "active" FROM ({FIRING}) WHERE "severity" = \'{severity}\''


def resolve_seconds() -> str:
    """Seconds from `firing` to `resolved`, one row per resolution, tagged station and rule.

    Transitions of one alert alternate firing/resolved, so elapsed() at a `resolved` point is
    that episode's duration. The `resolved` rows are picked by multiplying with a 1 that only
    resolved points carry, joined on the exact millisecond (GROUP BY time(1ms), fill(none)).
    A resolution whose firing lies before the range has no elapsed() and is left out.
    """
    elapsed = iq.select(
        ['elapsed("value", 1s) AS "e"'], schema.ALERT, tags=[schema.STATION, schema.RULE]
    )
    resolved = iq.select(
        ['"value" * 0 + 1 AS "r"'],
        schema.ALERT,
        "\"state\" = 'resolved'",
        tags=[schema.STATION, schema.RULE],
    )
    return (
        f'SELECT max("e") * max("r") AS "d" FROM ({elapsed}), ({resolved})'
        + iq.where()
        + iq.group_by(schema.STATION, schema.RULE, interval="1ms", fill="none")
    )


MTTR = f'SELECT mean("d") AS "mttr" FROM ({resolve_seconds()})' + iq.where()
MTTR_BY_RULE = (
    f'SELECT mean("d") AS "mttr" FROM ({resolve_seconds()})' + iq.where() + iq.group_by(schema.RULE)
)


def build() -> Dashboard:
    lay = p.Layout()
    lay.add(p.stat("Alerts firing", iq.targets(ACTIVE), steps=p.COUNT_BAD, no_value="0"), 6, 4)
    lay.add(
        p.stat(
            "Critical firing",
            iq.targets(_severity_count("critical")),
            steps=p.COUNT_BAD,
            no_value="0",
        ),
        6,
        4,
    )
    lay.add(
        p.stat(
            "Warnings firing",
            iq.targets(_severity_count("warning")),
            steps=p.COUNT_WARN,
            no_value="0",
        ),
        6,
        4,
    )
    lay.add(
        p.stat(
            "Mean time to resolve",
            iq.targets(MTTR),
            unit="s",
            steps=p.thresholds(("green", None), ("yellow", 6 * 3600), ("red", 24 * 3600)),
            description="Mean firing-to-resolved time of the alerts resolved in the range.",
            no_value="nothing resolved",
        ),
        6,
        4,
    )
    lay.add(
        p.table(
            "Firing now",
            iq.targets(FIRING, table=True),
            description="Alerts whose latest transition in the range is `firing`.",
            transformations=[
                {"id": "organize", "options": {"excludeByName": {"Time": True}}},
            ],
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "severity"},
                    "properties": [
                        {
                            "id": "mappings",
                            "value": p.value_mappings({"critical": "red", "warning": "yellow"}),
                        },
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                    ],
                }
            ],
        ),
        24,
        8,
    )
    lay.add(
        p.state_timeline(
            "Alert states",
            iq.targets(TIMELINE, alias="$tag_station $tag_rule"),
            mappings=p.value_mappings({"firing": "red", "resolved": "green"}),
            interval="5m",
        ),
        24,
        10,
    )
    lay.add(
        p.table(
            "History",
            iq.targets(HISTORY, table=True),
            description="Every transition in the range, newest first (at most 1000).",
            max_points=1000,
        ),
        16,
        10,
    )
    lay.add(
        p.bargauge(
            "Mean time to resolve by rule",
            iq.targets(MTTR_BY_RULE, alias="$tag_rule"),
            unit="s",
            steps=p.thresholds(("green", None), ("yellow", 6 * 3600), ("red", 24 * 3600)),
        ),
        8,
        10,
    )
    return make_dashboard(
        uid=UID,
        title="SolarWater · Alerts",
        description="Alert transitions written by the collector's alert engine.",
        panels=lay.panels,
        time_from="now-7d",
    )
