"""Station detail: every kind's panels from the catalogue, and alert history of `$station`."""

from __future__ import annotations

from grafanalib.core import Dashboard

from dashboards import influxql as iq
from dashboards import insight_panels as ip
from dashboards import kind_panels as kp
from dashboards import panels as p
from dashboards.render import make_dashboard
from dashboards.templating import influx_annotation, station_variable
from devices import schema
from devices.catalogue import KINDS
from devices.fieldinfo import Lang

UID = "solarwater-station"
ST = iq.station_filter()

ALERT_HISTORY = (
    'SELECT "message", "rule", "severity", "state", "value" FROM ' + iq.q(schema.ALERT)
) + iq.where(ST)


def days_of_water() -> kp.Placed:
    """Derived from two tank fields: how long the water lasts at the range's mean use."""
    stat = p.stat(
        "Days of water left",
        iq.targets(iq.days_of_water(ST), alias="$tag_station"),
        unit="d",
        steps=p.DAYS_LEFT,
        decimals=1,
        description="Latest volume divided by the mean daily outflow over the time range.",
        no_value="no outflow",
    )
    return kp.Placed(stat, 6, 6)


def build(lang: Lang = "en") -> Dashboard:
    lay = p.Layout()
    for placed in (*kp.headlines(lang, ST), days_of_water()):
        lay.add(placed.panel, placed.w, placed.h)
    for kind in KINDS.values():
        lay.newline()
        for placed in kp.kind_series(kind, lang, ST):
            lay.add(placed.panel, placed.w, placed.h)
    lay.newline()
    lay.add(ip.forecast_days(ST), 12, 8)
    lay.add(ip.completeness_bars(ST), 12, 8)
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
