"""Water: rain captured against rain fallen (catchment efficiency), consumption, tanks at risk.

Catchment efficiency keeps the one Grafana transformation of the dashboards (untested, see
docs/dashboards.md): captured litres and rain are in `tank`, the roof area in `station_info`, and
InfluxQL 1.x cannot join rows of two measurements. Its three inputs are queried and tested.
"""

from __future__ import annotations

from grafanalib.core import Dashboard

from dashboards import influxql as iq
from dashboards import kind_panels as kp
from dashboards import panels as p
from dashboards.render import make_dashboard
from devices import schema
from devices.catalogue import KINDS
from devices.fieldinfo import Lang, Text

UID = "solarwater-water"
TANK = KINDS["tank"]
INFLOW = schema.reading_field(TANK.name, "inflow_lpm")
OUTFLOW = schema.reading_field(TANK.name, "outflow_lpm")
RAIN = schema.reading_field(TANK.name, "rain_mm")
LITRE = TANK.info[schema.reading_field(TANK.name, "volume_l")].grafana_unit
RAIN_UNIT = TANK.info[RAIN].grafana_unit
STATION = [schema.STATION]

# integral(L/min, 1m) is litres: the area under the flow curve with minutes as the time unit
# (over the range: on hourly or daily points, the trapezoids of their means). It gets a query
# of its own: InfluxDB 1.x misaligns integral() rows mixed with other calls.
CAPTURED_BY_STATION = iq.select(
    [f'integral({iq.q(INFLOW)}, 1m) AS "captured_l"'], TANK.measurement, tags=STATION
)
RAIN_BY_STATION = iq.select([iq.agg("sum", RAIN)], TANK.measurement, tags=STATION)
ROOFS = iq.select([iq.agg("last", "roof_area_m2", "roof_m2")], schema.STATION_INFO, tags=STATION)
# Litres per bucket = mean L/min x the bucket's minutes: the same on raw, hourly and daily
# points (integral() inside a bucket needs two points in it, and a daily point is alone in
# its day). A station silent for part of a bucket counts at its mean flow over the rest.
FLEET_CAPTURED = (
    'SELECT sum("captured_l") AS "captured_l" FROM ('
    + iq.select(
        [f'mean({iq.q(INFLOW)}) * {iq.INTERVAL_MS} / 60000 AS "captured_l"'],
        TANK.measurement,
        tags=STATION,
        interval=iq.INTERVAL,
        fill="none",
    )
    + ")"
    + iq.where()
    + iq.group_by(interval=iq.INTERVAL, fill="0")
)
# fill(none) inside: InfluxDB 1.6 answers an inner fill(0) under an outer GROUP BY time with a
# row per inner bucket and station (8.5 million rows, 15 s, for 26 stations over a year).
FLEET_RAIN = (
    f"SELECT {iq.agg('mean', RAIN)} FROM ("
    + iq.select(
        [iq.agg("sum", RAIN)], TANK.measurement, tags=STATION, interval=iq.INTERVAL, fill="none"
    )
    + ")"
    + iq.where()
    + iq.group_by(interval=iq.INTERVAL, fill="0")
)
# Litres per day = mean L/min x 1440, per local day; over long ranges per local week (the
# day's mean use in it), as FLEET_CAPTURED: few buckets per station, whatever the fleet.
DAILY_USE = iq.select(
    [f'mean({iq.q(OUTFLOW)}) * 1440 AS "litres"'],
    TANK.measurement,
    tags=STATION,
    interval=f"{iq.INTERVAL}, {schema.DAY_OFFSET}",
    fill="null",  # a station silent all day used nothing we know of: a gap, not 0 L
)
# Lowest first, sorted by InfluxDB: bottom() of rows that share one timestamp (the range's
# start) returns them in ascending order, so the bar gauge needs no sortBy transformation.
MAX_STATIONS = 10_000
TANKS_AT_RISK = (
    f'SELECT bottom("days_left", {iq.q(schema.STATION)}, {MAX_STATIONS}) AS "days_left" '
    f"FROM ({iq.days_of_water()})"
)
USE_IN_RANGE = iq.select(
    [f'integral({iq.q(OUTFLOW)}, 1m) AS "litres"'], TANK.measurement, tags=STATION
)


def _binary(left: str, op: str, right: str, alias: str) -> p.Json:
    return {
        "id": "calculateField",
        "options": {
            "mode": "binary",
            "binary": {"left": left, "operator": op, "right": right},
            "alias": alias,
            "replaceFields": False,
        },
    }


TEXT = {
    "fleet": Text("Chuva captada e chuva caída (frota)", "Rain captured and rain fallen (fleet)"),
    "fleet_d": Text(
        "Litros que entraram nos tanques por intervalo, somados na frota, contra a média do "
        "pluviómetro.",
        "Litres that flowed into the tanks per interval, summed over the fleet, against the "
        "mean rain gauge reading.",
    ),
    "captured": Text("captado (L)", "captured (L)"),
    "fallen": Text("chuva caída (mm, média das estações)", "rain fallen (mm, station mean)"),
    "eff": Text("Eficiência de captação por estação", "Catchment efficiency by station"),
    "eff_d": Text(
        "Litros captados contra chuva × área do telhado no intervalo. O coeficiente de "
        "escoamento (0,8–0,9) e o desviador das primeiras águas deixam um telhado são abaixo "
        "de 90 %; muito menos indica uma caleira entupida ou um cano roto.",
        "Captured litres against rain × roof area over the range. Runoff coefficient "
        "(0.8–0.9) and the first-flush diverter keep a healthy roof below 90 %; far lower "
        "means a blocked gutter or a leaking pipe.",
    ),
    "efficiency": Text("Eficiência", "Efficiency"),
    "station": Text("Estação", "Station"),
    "captured_l": Text("Captado (L)", "Captured (L)"),
    "rain": Text("Chuva (mm)", "Rain (mm)"),
    "roof": Text("Telhado (m²)", "Roof (m²)"),
    "on_roof": Text("Chuva no telhado (L)", "Rain on the roof (L)"),
    "risk": Text("Tanques em risco: dias de água restantes", "Tanks at risk: days of water left"),
    "risk_d": Text(
        "Volume mais recente a dividir pelo consumo diário médio do intervalo, o mais baixo "
        "primeiro.",
        "Latest volume over the mean daily outflow in the range, lowest first.",
    ),
    "daily": Text(
        "Consumo por estação (litros por dia)", "Consumption per station (litres per day)"
    ),
    "daily_d": Text(
        "Consumo médio por dia em cada dia local (Africa/Maputo), ou em cada semana nos "
        "intervalos longos.",
        "Mean use per day in each local day (Africa/Maputo), or in each week over long ranges.",
    ),
    "range": Text("Consumo no intervalo", "Consumption over the range"),
    "title": Text("SolarWater · Água", "SolarWater · Water"),
    "title_d": Text(
        "Captação de água da chuva em toda a frota.", "Rain-water harvesting across the fleet."
    ),
}


def build(lang: Lang = "en") -> Dashboard:
    t = {k: v(lang) for k, v in TEXT.items()}
    lay = p.Layout()
    lay.add(
        p.timeseries(
            t["fleet"],
            [
                iq.target(FLEET_CAPTURED, "A", alias=t["captured"]),
                iq.target(FLEET_RAIN, "B", alias=t["fallen"]),
            ],
            unit=LITRE,
            bars=True,
            min_value=0,
            interval="1h",
            max_points=kp.FLEET_POINTS,  # summed over every station inside: see FLEET_POINTS
            overrides=[
                {
                    "matcher": {"id": "byFrameRefID", "options": "B"},
                    "properties": [
                        {"id": "unit", "value": RAIN_UNIT},
                        {"id": "custom.axisPlacement", "value": "right"},
                        {"id": "custom.drawStyle", "value": "line"},
                    ],
                }
            ],
            description=t["fleet_d"],
        ),
        24,
        8,
    )
    lay.add(
        p.table(
            t["eff"],
            iq.targets(CAPTURED_BY_STATION, RAIN_BY_STATION, ROOFS, table=True),
            description=t["eff_d"],
            transformations=[
                {"id": "joinByField", "options": {"byField": schema.STATION, "mode": "inner"}},
                _binary(RAIN, "*", "roof_m2", "rain_on_roof_l"),
                _binary("captured_l", "/", "rain_on_roof_l", "efficiency"),
            ],
            overrides=[
                *(p.hidden(f"Time {i}") for i in (1, 2, 3)),
                p.renamed(schema.STATION, t["station"]),
                p.renamed("captured_l", t["captured_l"]),
                p.renamed(RAIN, t["rain"]),
                p.renamed("roof_m2", t["roof"]),
                p.renamed("rain_on_roof_l", t["on_roof"]),
                p.renamed(
                    "efficiency",
                    t["efficiency"],
                    {"id": "unit", "value": "percentunit"},
                    {
                        "id": "thresholds",
                        "value": p.thresholds(("red", None), ("yellow", 0.5), ("green", 0.7)),
                    },
                    {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                ),
                {
                    "matcher": {"id": "byRegexp", "options": ".*_l$"},
                    "properties": [{"id": "unit", "value": LITRE}],
                },
            ],
            sort_by=t["efficiency"],
        ),
        12,
        12,
    )
    lay.add(
        p.bargauge(
            t["risk"],
            iq.targets(TANKS_AT_RISK, table=True),
            unit="d",
            steps=p.DAYS_LEFT,
            max_value=30,
            rows=True,
            description=t["risk_d"],
        ),
        12,
        12,
    )
    lay.add(
        p.timeseries(
            t["daily"],
            iq.targets(DAILY_USE, alias="$tag_station"),
            unit=LITRE,
            bars=True,
            min_value=0,
            interval=schema.DAILY_INTERVAL,
            max_points=kp.FLEET_POINTS,
            description=t["daily_d"],
        ),
        12,
        9,
    )
    lay.add(
        p.bargauge(
            t["range"],
            iq.targets(USE_IN_RANGE, alias="$tag_station"),
            unit=LITRE,
            steps=p.NEUTRAL,
        ),
        12,
        9,
    )
    return make_dashboard(
        uid=UID,
        lang=lang,
        title=t["title"],
        description=t["title_d"],
        panels=lay.panels,
        time_from="now-7d",
    )
