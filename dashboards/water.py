"""Water: rain captured against rain fallen (catchment efficiency), consumption, tanks at risk."""

from __future__ import annotations

from grafanalib.core import Dashboard

from dashboards import influxql as iq
from dashboards import panels as p
from dashboards.render import make_dashboard
from devices import schema
from devices.catalogue import KINDS

UID = "solarwater-water"
TANK = KINDS["tank"]
INFLOW = schema.reading_field(TANK.name, "inflow_lpm")
OUTFLOW = schema.reading_field(TANK.name, "outflow_lpm")
RAIN = schema.reading_field(TANK.name, "rain_mm")
LITRE = TANK.info[schema.reading_field(TANK.name, "volume_l")].grafana_unit
RAIN_UNIT = TANK.info[RAIN].grafana_unit
STATION = [schema.STATION]

# integral(L/min, 1m) is litres: the area under the flow curve with minutes as the time unit.
# It gets a query of its own: InfluxDB 1.x misaligns integral() rows mixed with other calls.
CAPTURED_BY_STATION = iq.select(
    [f'integral({iq.q(INFLOW)}, 1m) AS "captured_l"'], TANK.measurement, tags=STATION
)
RAIN_BY_STATION = iq.select([iq.agg("sum", RAIN)], TANK.measurement, tags=STATION)
ROOFS = iq.select([iq.agg("last", "roof_area_m2", "roof_m2")], schema.STATION_INFO, tags=STATION)
FLEET_CAPTURED = (
    'SELECT sum("captured_l") AS "captured_l" FROM ('
    + iq.select(
        [f'integral({iq.q(INFLOW)}, 1m) AS "captured_l"'],
        TANK.measurement,
        tags=STATION,
        interval=iq.INTERVAL,
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
DAILY_USE = iq.select(
    [f'integral({iq.q(OUTFLOW)}, 1m) AS "litres"'],
    TANK.measurement,
    tags=STATION,
    interval="1d, -2h",
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


def build() -> Dashboard:
    lay = p.Layout()
    lay.add(
        p.timeseries(
            "Rain captured and rain fallen (fleet)",
            [
                iq.target(FLEET_CAPTURED, "A", alias="captured (L)"),
                iq.target(FLEET_RAIN, "B", alias="rain fallen (mm, station mean)"),
            ],
            unit=LITRE,
            bars=True,
            min_value=0,
            interval="1h",
            max_points=200,
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
            description="Litres that flowed into the tanks per interval, summed over the fleet, "
            "against the mean rain gauge reading.",
        ),
        24,
        8,
    )
    lay.add(
        p.table(
            "Catchment efficiency by station",
            iq.targets(CAPTURED_BY_STATION, RAIN_BY_STATION, ROOFS, table=True),
            description="Captured litres against rain × roof area over the range. Runoff "
            "coefficient (0.8–0.9) and the first-flush diverter keep a healthy roof below 90 %; "
            "far lower means a blocked gutter or a leaking pipe.",
            transformations=[
                {"id": "joinByField", "options": {"byField": schema.STATION, "mode": "inner"}},
                _binary(RAIN, "*", "roof_m2", "rain_on_roof_l"),
                _binary("captured_l", "/", "rain_on_roof_l", "efficiency"),
                {
                    "id": "organize",
                    "options": {"excludeByName": {"Time 1": True, "Time 2": True, "Time 3": True}},
                },
            ],
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "efficiency"},
                    "properties": [
                        {"id": "unit", "value": "percentunit"},
                        {
                            "id": "thresholds",
                            "value": p.thresholds(("red", None), ("yellow", 0.5), ("green", 0.7)),
                        },
                        {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                    ],
                },
                {
                    "matcher": {"id": "byRegexp", "options": ".*_l$"},
                    "properties": [{"id": "unit", "value": LITRE}],
                },
            ],
            sort_by="efficiency",
        ),
        12,
        12,
    )
    lay.add(
        p.bargauge(
            "Tanks at risk: days of water left",
            iq.targets(iq.days_of_water(), table=True),
            unit="d",
            steps=p.DAYS_LEFT,
            max_value=30,
            rows=True,
            description="Latest volume over the mean daily outflow in the range, lowest first.",
            transformations=[
                {"id": "sortBy", "options": {"sort": [{"field": "days_left", "desc": False}]}},
            ],
        ),
        12,
        12,
    )
    lay.add(
        p.timeseries(
            "Consumption per station (litres per day)",
            iq.targets(DAILY_USE, alias="$tag_station"),
            unit=LITRE,
            bars=True,
            min_value=0,
            max_points=60,
            description="Outflow integrated over each local day (Africa/Maputo).",
        ),
        12,
        9,
    )
    lay.add(
        p.bargauge(
            "Consumption over the range",
            iq.targets(USE_IN_RANGE, alias="$tag_station"),
            unit=LITRE,
            steps=p.NEUTRAL,
        ),
        12,
        9,
    )
    return make_dashboard(
        uid=UID,
        title="SolarWater · Water",
        description="Rain-water harvesting across the fleet.",
        panels=lay.panels,
        time_from="now-7d",
    )
