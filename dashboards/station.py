"""Station detail: power, battery, charge state, load, water and alert history of `$station`."""

from __future__ import annotations

from collections.abc import Sequence

from grafanalib.core import Dashboard

from dashboards import influxql as iq
from dashboards import panels as p
from dashboards.render import make_dashboard
from dashboards.templating import influx_annotation, station_variable

UID = "solarwater-station"
ST = iq.station_filter()
ALIAS = "$tag_station $col"
CHARGE_COLORS = {
    "off": "text",
    "bulk": "orange",
    "absorption": "yellow",
    "float": "green",
    "equalize": "blue",
    "fault": "red",
}

ALERT_HISTORY = 'SELECT "message", "rule", "severity", "state", "value" FROM "alert"' + iq.where(ST)


def _series(measurement: str, fields: Sequence[str], func: str = "mean", fill: str = "null") -> str:
    return iq.select(
        [iq.agg(func, f) for f in fields],
        measurement,
        ST,
        tags=["station"],
        interval=iq.INTERVAL,
        fill=fill,
    )


def _right_axis(field_regex: str, unit: str) -> p.Json:
    return {
        "matcher": {"id": "byRegexp", "options": field_regex},
        "properties": [
            {"id": "unit", "value": unit},
            {"id": "custom.axisPlacement", "value": "right"},
        ],
    }


def build() -> Dashboard:
    lay = p.Layout()
    last = iq.select([iq.agg("last", "battery_soc_pct", "soc")], "solar", ST, tags=["station"])
    lay.add(
        p.gauge(
            "Battery SoC",
            iq.targets(last, alias="$tag_station"),
            unit="percent",
            steps=p.SOC,
            description="Latest state of charge (red below 30 %, yellow below 50 %).",
        ),
        6,
        6,
    )
    lay.add(
        p.gauge(
            "Tank level",
            iq.targets(
                iq.select([iq.agg("last", "level_pct", "level")], "tank", ST, tags=["station"]),
                alias="$tag_station",
            ),
            unit="percent",
            steps=p.TANK_LEVEL,
        ),
        6,
        6,
    )
    lay.add(
        p.stat(
            "Days of water left",
            iq.targets(iq.days_of_water(ST), alias="$tag_station"),
            unit="d",
            steps=p.DAYS_LEFT,
            decimals=1,
            description="Latest volume divided by the mean daily outflow over the time range.",
            no_value="no outflow",
        ),
        6,
        6,
    )
    lay.add(
        p.stat(
            "Battery temperature",
            iq.targets(
                iq.select(
                    [iq.agg("last", "battery_temp_c", "temp")], "solar", ST, tags=["station"]
                ),
                alias="$tag_station",
            ),
            unit="celsius",
            steps=p.thresholds(("green", None), ("yellow", 40), ("red", 45)),
        ),
        6,
        6,
    )
    lay.add(
        p.timeseries(
            "PV power",
            iq.targets(_series("solar", ["pv_power_w"]), alias="$tag_station"),
            unit="watt",
            min_value=0,
            interval="5m",
        ),
        12,
        8,
    )
    lay.add(
        p.timeseries(
            "Daily yield",
            iq.targets(
                # yield_today_wh counts up through the local day: its maximum is the day's yield;
                # the -2h offset starts each bucket at midnight in Maputo (UTC+2).
                iq.select(
                    [iq.agg("max", "yield_today_wh", "yield")],
                    "solar",
                    ST,
                    tags=["station"],
                    interval="1d, -2h",
                ),
                alias="$tag_station",
            ),
            unit="watth",
            bars=True,
            min_value=0,
            max_points=60,
        ),
        12,
        8,
    )
    lay.add(
        p.timeseries(
            "Battery voltage and current",
            iq.targets(_series("solar", ["battery_voltage_v", "battery_current_a"]), alias=ALIAS),
            unit="volt",
            interval="5m",
            overrides=[_right_axis(".*battery_current_a.*", "amp")],
            description="Current is positive while charging.",
        ),
        12,
        8,
    )
    lay.add(
        p.timeseries(
            "Battery SoC and temperature",
            iq.targets(_series("solar", ["battery_soc_pct", "battery_temp_c"]), alias=ALIAS),
            unit="percent",
            steps=p.SOC,
            interval="5m",
            show_thresholds=True,
            overrides=[_right_axis(".*battery_temp_c.*", "celsius")],
        ),
        12,
        8,
    )
    lay.add(
        p.state_timeline(
            "Charge state",
            iq.targets(
                _series("solar", ["charge_state"], func="last", fill="null"), alias="$tag_station"
            ),
            mappings=p.value_mappings(CHARGE_COLORS),
            interval="5m",
        ),
        24,
        5,
    )
    lay.add(
        p.timeseries(
            "Load",
            iq.targets(_series("solar", ["load_power_w"]), alias="$tag_station"),
            unit="watt",
            min_value=0,
            interval="5m",
        ),
        12,
        8,
    )
    lay.add(
        p.timeseries(
            "Tank level and volume",
            iq.targets(_series("tank", ["level_pct", "volume_l"]), alias=ALIAS),
            unit="percent",
            steps=p.TANK_LEVEL,
            interval="5m",
            overrides=[_right_axis(".*volume_l.*", "litre")],
        ),
        12,
        8,
    )
    lay.add(
        p.timeseries(
            "Inflow and outflow",
            iq.targets(_series("tank", ["inflow_lpm", "outflow_lpm"]), alias=ALIAS),
            unit="flowlpm",
            min_value=0,
            interval="5m",
        ),
        12,
        8,
    )
    lay.add(
        p.timeseries(
            "Rain",
            iq.targets(_series("tank", ["rain_mm"], func="sum", fill="0"), alias="$tag_station"),
            unit="lengthmm",
            bars=True,
            min_value=0,
            interval="1h",
            max_points=200,
            description="Rain gauge total per interval (at least one hour).",
        ),
        12,
        8,
    )
    return make_dashboard(
        uid=UID,
        title="SolarWater · Station detail",
        description="One station (or several) in detail; alert transitions are annotations.",
        panels=lay.panels,
        variables=[station_variable()],
        annotations=[
            influx_annotation("Alerts", ALERT_HISTORY, text="message", tags="rule,severity,state")
        ],
    )
