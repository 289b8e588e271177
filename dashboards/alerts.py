"""Alerts: what is firing now, the history of transitions, and mean time to resolve."""

# "Firing now" and the counts read every alert's latest transition whatever its age, so an
# alert that fired before the range and still holds is counted; history and MTTR are the range's.

from __future__ import annotations

from grafanalib.core import Dashboard

from dashboards import influxql as iq
from dashboards import panels as p
from dashboards.render import make_dashboard
from devices import schema
from devices.fieldinfo import Lang, Text

UID = "solarwater-alerts"

FIRING = iq.firing_alerts()
ACTIVE = f'SELECT count("state") AS "active" FROM ({FIRING})'
HISTORY = (
    'SELECT "station", "rule", "severity", "state", "value", "message" FROM '
    + iq.source(schema.ALERT)
    + iq.where()
    + " ORDER BY time DESC LIMIT 1000"
)
# fill(previous): an alert's state holds from one transition to the next; these are not
# samples, so a bucket without a transition is not missing data.
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


TEXT = {
    "firing": Text("Alertas ativos", "Alerts firing"),
    "firing_d": Text(
        "Alertas ativos agora, seja qual for o intervalo.",
        "Alerts firing now, whatever the range.",
    ),
    "critical": Text("Críticos ativos", "Critical firing"),
    "warnings": Text("Avisos ativos", "Warnings firing"),
    "mttr": Text("Tempo médio de resolução", "Mean time to resolve"),
    "mttr_d": Text(
        "Tempo médio entre disparo e resolução dos alertas resolvidos no intervalo.",
        "Mean firing-to-resolved time of the alerts resolved in the range.",
    ),
    "nothing": Text("nada resolvido", "nothing resolved"),
    "now": Text("Ativos agora", "Firing now"),
    "now_d": Text(
        "Alertas cuja última transição é `firing`, mesmo que tenha sido antes do intervalo.",
        "Alerts whose latest transition is `firing`, even when it came before the range.",
    ),
    "states": Text("Estados dos alertas", "Alert states"),
    "history": Text("Histórico", "History"),
    "history_d": Text(
        "Todas as transições do intervalo, as mais recentes primeiro (no máximo 1000).",
        "Every transition in the range, newest first (at most 1000).",
    ),
    "by_rule": Text("Tempo médio de resolução por regra", "Mean time to resolve by rule"),
    "title": Text("SolarWater · Alertas", "SolarWater · Alerts"),
    "title_d": Text(
        "Transições de alertas escritas pelo motor de alertas do coletor.",
        "Alert transitions written by the collector's alert engine.",
    ),
}
# column names of the alert tables (tags and fields of `alert`)
COLUMNS = {
    schema.STATION: Text("Estação", "Station"),
    schema.RULE: Text("Regra", "Rule"),
    schema.SEVERITY: Text("Gravidade", "Severity"),
    "state": Text("Estado", "State"),
    "value": Text("Valor", "Value"),
    "message": Text("Mensagem", "Message"),
}
MTTR_STEPS = p.thresholds(("green", None), ("yellow", 6 * 3600), ("red", 24 * 3600))


def _columns(lang: Lang) -> list[p.Json]:
    return [p.renamed(name, text(lang)) for name, text in COLUMNS.items()]


def build(lang: Lang = "en") -> Dashboard:
    t = {k: v(lang) for k, v in TEXT.items()}
    lay = p.Layout()
    lay.add(
        p.stat(
            t["firing"],
            iq.targets(ACTIVE),
            steps=p.COUNT_BAD,
            description=t["firing_d"],
            no_value="0",
        ),
        6,
        4,
    )
    lay.add(
        p.stat(
            t["critical"],
            iq.targets(_severity_count("critical")),
            steps=p.COUNT_BAD,
            description=t["firing_d"],
            no_value="0",
        ),
        6,
        4,
    )
    lay.add(
        p.stat(
            t["warnings"],
            iq.targets(_severity_count("warning")),
            steps=p.COUNT_WARN,
            description=t["firing_d"],
            no_value="0",
        ),
        6,
        4,
    )
    lay.add(
        p.stat(
            t["mttr"],
            iq.targets(MTTR),
            unit="s",
            steps=MTTR_STEPS,
            description=t["mttr_d"],
            no_value=t["nothing"],
        ),
        6,
        4,
    )
    lay.add(
        p.table(
            t["now"],
            iq.targets(FIRING, table=True),
            description=t["now_d"],
            overrides=[
                p.hidden("Time"),
                *_columns(lang),
                {
                    "matcher": {"id": "byName", "options": "severity"},
                    "properties": [
                        {
                            "id": "mappings",
                            "value": p.value_mappings({"critical": "red", "warning": "yellow"}),
                        },
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                    ],
                },
            ],
        ),
        24,
        8,
    )
    lay.add(
        p.state_timeline(
            t["states"],
            iq.targets(TIMELINE, alias="$tag_station $tag_rule"),
            mappings=p.value_mappings({"firing": "red", "resolved": "green"}),
            interval="5m",
        ),
        24,
        10,
    )
    lay.add(
        p.table(
            t["history"],
            iq.targets(HISTORY, table=True),
            description=t["history_d"],
            overrides=_columns(lang),
            max_points=1000,
        ),
        16,
        10,
    )
    lay.add(
        p.bargauge(
            t["by_rule"],
            iq.targets(MTTR_BY_RULE, alias="$tag_rule"),
            unit="s",
            steps=MTTR_STEPS,
        ),
        8,
        10,
    )
    return make_dashboard(
        uid=UID,
        lang=lang,
        title=t["title"],
        description=t["title_d"],
        panels=lay.panels,
        time_from="now-7d",
    )
