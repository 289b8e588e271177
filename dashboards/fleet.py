"""Fleet overview: map by worst state, one table row per station, online/silent/alerting counts."""

from __future__ import annotations

from grafanalib.core import Dashboard, Table

from dashboards import influxql as iq
from dashboards import kind_panels as kp
from dashboards import panels as p
from dashboards.render import make_dashboard
from devices import schema
from devices.fieldinfo import Lang, Text

UID = "solarwater-fleet"

STATE_FIELDS = ("name", "state", "rank", "alerts", "last_seen_ms", "latitude", "longitude")
# Each station's state now, whatever the range (design §4 `station_state`, written each minute).
STATES = iq.station_states(*STATE_FIELDS)


def _count(alias: str, condition: str) -> str:
    return f'SELECT count("rank") AS {iq.q(alias)} FROM ({STATES}) WHERE {condition}'


ONLINE = _count("online", '"rank" <= 1')  # ok or warning: readings are arriving
SILENT = _count("silent", "\"state\" = 'silent' OR \"state\" = 'stale'")
ALERTING = _count("alerting", '"alerts" > 0')
# The table's rows: every source grouped by station and district, one row each after the
# outer last() (InfluxQL merges the sources; each column comes from the one that has it).
BY_ROW = (schema.STATION, schema.DISTRICT)
RANK_STEPS = p.thresholds(("green", None), ("yellow", 1), ("orange", 2), ("red", 3))

TEXT = {
    "online": Text("Estações a comunicar", "Stations online"),
    "online_d": Text(
        "Estações com leituras recentes (estado ok ou aviso).",
        "Stations whose readings are arriving (state ok or warning).",
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
        "Estado agora, última leitura de qualquer dispositivo, alertas ativos; os valores são os "
        "últimos do intervalo; dias de água ao consumo médio do intervalo.",
        "State now, last reading from any device, alerts firing; values are the range's latest; "
        "days of water at the range's mean outflow.",
    ),
    "name": Text("Nome", "Name"),
    "district": Text("Distrito", "District"),
    "state": Text("Estado", "State"),
    "rank": Text("Urgência", "Urgency"),
    "last_seen": Text("Última leitura", "Last seen"),
    "days": Text("Dias de água", "Days of water"),
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
    """One query, one row per station: its state now, each fleet field, days of water."""
    state = iq.station_states("name", "state", "rank", "last_seen_ms", "alerts", tags=BY_ROW)
    fields = kp.fleet_fields()
    sources = [
        state,
        *(kp.latest(kind, name, tags=BY_ROW) for kind, name, _ in fields),
        iq.days_of_water(tags=BY_ROW),
    ]
    columns = ["name", "state", "rank", "last_seen_ms", "alerts"]
    columns += [name for _, name, _ in fields] + ["days_left"]
    return (
        f"SELECT {', '.join(iq.agg('last', c) for c in columns)} FROM "
        + ", ".join(f"({q})" for q in sources)
        + iq.group_by(*BY_ROW)
    )


def _column(name: str, unit: str, steps: p.Json | None = None, cell: str = "auto") -> p.Json:
    props: list[p.Json] = [{"id": "unit", "value": unit}]
    if steps:
        props.append({"id": "thresholds", "value": steps})
        props.append({"id": "custom.cellOptions", "value": {"type": cell}})
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


def _hidden(name: str) -> p.Json:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": "custom.hidden", "value": True}],
    }


def _renamed(name: str, label: str, *props: p.Json) -> p.Json:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": "displayName", "value": label}, *props],
    }


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
            _hidden("Time"),
            _renamed("rank", t["rank"], {"id": "thresholds", "value": RANK_STEPS}),
            _renamed("name", t["name"]),
            _renamed(schema.DISTRICT, t["district"]),
            _renamed("state", t["state"], state_map, cells),
            _renamed("last_seen_ms", t["last_seen"], {"id": "unit", "value": "dateTimeFromNow"}),
            *(
                _renamed(
                    name,
                    info.label(lang),
                    {"id": "unit", "value": info.grafana_unit},
                    {"id": "thresholds", "value": kp.steps(info)},
                    cells,
                )
                for _, name, info in fields
            ),
            _renamed(
                "days_left",
                t["days"],
                {"id": "unit", "value": "d"},
                {"id": "thresholds", "value": p.DAYS_LEFT},
                {"id": "custom.cellOptions", "value": {"type": "color-text"}},
            ),
            _renamed(
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
    return make_dashboard(
        uid=UID,
        title=t["title"],
        description=t["title_d"],
        panels=lay.panels,
    )
