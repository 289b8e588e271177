"""Station detail: every kind's panels from the catalogue, and alert history of `$station`."""

from __future__ import annotations

from grafanalib.core import Dashboard

from dashboards import influxql as iq
from dashboards import kind_panels as kp
from dashboards import panels as p
from dashboards.render import make_dashboard
from dashboards.templating import influx_annotation, station_variable
from devices import schema
from devices.catalogue import KINDS
from devices.fieldinfo import Lang, Text

UID = "solarwater-station"
ST = iq.station_filter()

TEXT = {
    "days": Text("Dias de água restantes", "Days of water left"),
    "days_d": Text(
        "Volume mais recente a dividir pelo consumo diário médio do intervalo.",
        "Latest volume divided by the mean daily outflow over the time range.",
    ),
    "no_outflow": Text("sem consumo", "no outflow"),
    "alerts": Text("Alertas", "Alerts"),
    "title": Text("SolarWater · Detalhe da estação", "SolarWater · Station detail"),
    "title_d": Text(
        "Uma estação (ou várias) em detalhe; as transições de alertas são anotações.",
        "One station (or several) in detail; alert transitions are annotations.",
    ),
}

ALERT_HISTORY = (
    'SELECT "message", "rule", "severity", "state", "value" FROM ' + iq.q(schema.ALERT)
) + iq.where(ST)


def days_of_water(lang: Lang) -> kp.Placed:
    """Derived from two tank fields: how long the water lasts at the range's mean use."""
    stat = p.stat(
        TEXT["days"](lang),
        iq.targets(iq.days_of_water(ST), alias="$tag_station"),
        unit="d",
        steps=p.DAYS_LEFT,
        decimals=1,
        description=TEXT["days_d"](lang),
        no_value=TEXT["no_outflow"](lang),
    )
    return kp.Placed(stat, 6, 6)


def build(lang: Lang = "en") -> Dashboard:
    lay = p.Layout()
    for placed in (*kp.headlines(lang, ST), days_of_water(lang)):
        lay.add(placed.panel, placed.w, placed.h)
    for kind in KINDS.values():
        lay.newline()
        for placed in kp.kind_series(kind, lang, ST):
            lay.add(placed.panel, placed.w, placed.h)
    return make_dashboard(
        uid=UID,
        lang=lang,
        title=TEXT["title"](lang),
        description=TEXT["title_d"](lang),
        panels=lay.panels,
        variables=[station_variable(lang)],
        annotations=[
            influx_annotation(
                TEXT["alerts"](lang), ALERT_HISTORY, text="message", tags="rule,severity,state"
            )
        ],
    )
