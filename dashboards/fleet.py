"""Fleet overview: map by worst state, one table row per station, online/silent/alerting counts."""

from __future__ import annotations

from grafanalib.core import Dashboard, Table

from dashboards import influxql as iq
from dashboards import insight_panels as ip
from dashboards import kind_panels as kp
from dashboards import panels as p
from dashboards.render import make_dashboard
from devices import schema
from devices.fieldinfo import Lang, Text

UID = "solarwater-fleet"

STATE_FIELDS = (
    "name", "state", "rank", "alerts", "online", "last_seen_ms", "latitude", "longitude",
)  # fmt: skip
# Each station's state now, whatever the range (`station_state` in docs/contract.md).
STATES = iq.station_states(*STATE_FIELDS)


def _count(alias: str, condition: str) -> str:
    return f'SELECT count("rank") AS {iq.q(alias)} FROM ({STATES}) WHERE {condition}'


ONLINE = _count("online", '"online" = 1')  # readings arriving, whatever the alerts
SILENT = _count("silent", '"online" = 0')  # silent, stale or never seen
ALERTING = _count("alerting", '"alerts" > 0')
# The table's rows: one per station, with its district as a column.
BY_ROW = (schema.STATION, schema.DISTRICT)
RANK_STEPS = p.thresholds(("green", None), ("yellow", 1), ("orange", 2), ("red", 3))

TEXT = {
    "online": Text("Estações a comunicar", "Stations online"),
    "online_d": Text(
        "Estações cujas leituras estão a chegar, sejam quais forem os alertas.",
        "Stations whose readings are arriving, whatever their alerts.",
    ),
    "silent": Text("Estações caladas ou paradas", "Stations silent or stale"),
    "silent_d": Text(
        "Estações sem leituras: o alerta station_silent ativo, ou nenhuma leitura recente.",
        "Stations without readings: station_silent firing, or no recent reading.",
    ),
    "alerting": Text("Estações em alerta", "Stations alerting"),
    "alerting_d": Text(
        "Estações com pelo menos um alerta ativo agora, seja qual for o intervalo.",
        "Stations with at least one alert firing now, whatever the range.",
    ),
    "map": Text("Estações pelo pior estado", "Stations by worst state"),
    "map_d": Text(
        "Verde: ok; amarelo: aviso; laranja: sem leituras recentes; vermelho: alerta crítico ou "
        "estação calada. É o estado agora, seja qual for o intervalo.",
        "Green: ok; yellow: a warning; orange: no recent reading; red: a critical alert or a "
        "silent station. The state now, whatever the range.",
    ),
    "table": Text("Estações", "Stations"),
    "table_d": Text(
        "Estado agora, última leitura de qualquer dispositivo, alertas ativos e os valores mais "
        "recentes, seja qual for o intervalo; dias de água: painel Água.",
        "State now, last reading from any device, alerts firing and the newest values, whatever "
        "the range; days of water: the Water board.",
    ),
    "station": Text("Estação", "Station"),
    "name": Text("Nome", "Name"),
    "district": Text("Distrito", "District"),
    "state": Text("Estado", "State"),
    "rank": Text("Urgência", "Urgency"),
    "last_seen": Text("Última leitura", "Last seen"),
    "alerts": Text("Alertas ativos", "Alerts firing"),
    "title": Text("SolarWater · Visão da frota", "SolarWater · Fleet overview"),
    "title_d": Text(
        "Todas as estações num relance: onde estão, a bateria, a água, os alertas.",
        "Every station at a glance: where it is, its battery, its water, its alerts.",
    ),
}
STATE_TEXT = {
    "ok": Text("ok", "ok"),
    "warning": Text("aviso", "warning"),
    "stale": Text("sem leituras", "stale"),
    "critical": Text("crítico", "critical"),
    "silent": Text("calada", "silent"),
}
STATE_COLOURS = {
    "ok": "green",
    "warning": "yellow",
    "stale": "orange",
    "critical": "red",
    "silent": "red",
}


def table_query() -> str:
    """One row per station from its newest `station_state`: state, last seen, fleet fields."""
    columns = ["name", "state", "rank", "last_seen_ms", "alerts"]
    columns += [name for _, name, _ in kp.fleet_fields()]
    return iq.station_states(*columns, tags=BY_ROW)


def _stations_table(lang: Lang) -> Table:
    """One row per station, most urgent first, from one query: no Grafana join."""
    fields = kp.fleet_fields()
    t = {k: v(lang) for k, v in TEXT.items()}
    state_map = {
        "id": "mappings",
        "value": [
            {
                "type": "value",
                "options": {
                    s: {"text": STATE_TEXT[s](lang), "color": c, "index": i}
                    for i, (s, c) in enumerate(STATE_COLOURS.items())
                },
            }
        ],
    }
    cells = {"id": "custom.cellOptions", "value": {"type": "color-background"}}
    return p.table(
        t["table"],
        iq.targets(table_query(), table=True),
        description=t["table_d"],
        overrides=[
            p.hidden("Time"),
            p.renamed("rank", t["rank"], {"id": "thresholds", "value": RANK_STEPS}),
            p.renamed(schema.STATION, t["station"]),
            p.renamed("name", t["name"]),
            p.renamed(schema.DISTRICT, t["district"]),
            p.renamed("state", t["state"], state_map, cells),
            p.renamed("last_seen_ms", t["last_seen"], {"id": "unit", "value": "dateTimeFromNow"}),
            *(
                p.renamed(
                    name,
                    info.label(lang),
                    {"id": "unit", "value": info.grafana_unit},
                    {"id": "thresholds", "value": kp.steps(info)},
                    cells,
                )
                for _, name, info in fields
            ),
            p.renamed(
                "alerts",
                t["alerts"],
                {"id": "thresholds", "value": p.COUNT_BAD},
                {"id": "custom.cellOptions", "value": {"type": "color-text"}},
            ),
        ],
        sort_by=t["rank"],
        sort_desc=True,
    )


def build(lang: Lang = "en") -> Dashboard:
    t = {k: v(lang) for k, v in TEXT.items()}
    lay = p.Layout()
    fields = kp.fleet_fields()
    counts = [
        p.stat(
            t["online"],
            iq.targets(ONLINE),
            steps=p.NEUTRAL,
            description=t["online_d"],
            no_value="0",
        ),
        p.stat(
            t["silent"],
            iq.targets(SILENT),
            steps=p.COUNT_BAD,
            description=t["silent_d"],
            no_value="0",
        ),
        p.stat(
            t["alerting"],
            iq.targets(ALERTING),
            steps=p.COUNT_WARN,
            description=t["alerting_d"],
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
            t["map"],
            iq.targets(STATES, table=True),
            color_field="rank",
            steps=RANK_STEPS,
            description=t["map_d"],
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
    lay.add(ip.completeness_table(lang), 8, 10)
    lay.add(ip.completeness_bars(lang), 16, 10)
    return make_dashboard(
        uid=UID,
        lang=lang,
        title=t["title"],
        description=t["title_d"],
        panels=lay.panels,
    )
