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
    'SELECT "message", "rule", "severity", "state", "value" FROM ' + iq.source(schema.ALERT)
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


CLOCK_TITLE: dict[Lang, str] = {"en": "Device clock offset", "pt": "Desvio do relógio"}
CLOCK_HELP: dict[Lang, str] = {
    "en": "Receive time minus device time, from live messages (positive: the clock is slow). "
    "Readings are stored on corrected time once it is known; beyond 5 min for 30 min a "
    "device_clock_skew alert fires.",
    "pt": "Hora de receção menos hora do aparelho, das mensagens ao vivo (positivo: o relógio "
    "atrasa). As leituras guardam-se na hora corrigida quando é conhecida; além de 5 min "
    "durante 30 min dispara o alerta device_clock_skew.",
}
SKEW_STEPS = p.thresholds(("orange", None), ("green", -300.0), ("orange", 300.0))  # ±5 min


def clock_offset(lang: Lang) -> kp.Placed:
    """Each device's estimated clock offset over time (the device_clock points)."""
    query = iq.select(
        [iq.agg("last", "offset_s")],
        schema.DEVICE_CLOCK,
        ST,
        tags=[schema.STATION, schema.DEVICE],
        interval=iq.INTERVAL,
        fill="null",
    )
    panel = p.timeseries(
        CLOCK_TITLE[lang],
        iq.targets(query, alias="$tag_station $tag_device"),
        unit="s",
        description=CLOCK_HELP[lang],
        steps=SKEW_STEPS,
    )
    return kp.Placed(panel, 12, 8)


def build(lang: Lang = "en") -> Dashboard:
    lay = p.Layout()
    for placed in (*kp.headlines(lang, ST), days_of_water(lang)):
        lay.add(placed.panel, placed.w, placed.h)
    for kind in KINDS.values():
        lay.newline()
        for placed in kp.kind_series(kind, lang, ST):
            lay.add(placed.panel, placed.w, placed.h)
    lay.newline()
    clock = clock_offset(lang)
    lay.add(clock.panel, clock.w, clock.h)
    lay.add(ip.forecast_days(lang, ST), 12, 8)
    lay.add(ip.completeness_bars(lang, ST), 12, 8)
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
